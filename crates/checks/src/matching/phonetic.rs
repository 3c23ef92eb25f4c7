//! Phonetic keys: names that sound alike get the same key, so that a
//! misspelt name still meets its record in a block.
//!
//! - [`soundex`]: American Soundex (the rules the US National Archives
//!   publish for the census indexes): a letter and three digits.
//! - [`nysiis`]: the New York State Identification and Intelligence System
//!   code (Taft, 1970), built for criminal-justice name matching and more
//!   discriminating than Soundex. Plaza keeps the whole code rather than the
//!   original six characters.
//!
//! Both read ASCII letters only and ignore everything else; callers pass
//! names already normalised by [`super::normalise_name`].

fn soundex_digit(c: u8) -> u8 {
    match c {
        b'B' | b'F' | b'P' | b'V' => b'1',
        b'C' | b'G' | b'J' | b'K' | b'Q' | b'S' | b'X' | b'Z' => b'2',
        b'D' | b'T' => b'3',
        b'L' => b'4',
        b'M' | b'N' => b'5',
        b'R' => b'6',
        // Vowels and Y separate equal codes; H and W do not (see below).
        _ => b'0',
    }
}

/// American Soundex as four bytes, or `None` for a name without letters.
pub fn soundex_code(name: &str) -> Option<[u8; 4]> {
    let mut letters = name
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase());
    let first = letters.next()?;
    let mut out = [first, b'0', b'0', b'0'];
    let mut len = 1;
    let mut last = soundex_digit(first);
    for c in letters {
        if len == 4 {
            break;
        }
        if c == b'H' || c == b'W' {
            // Letters coded alike on either side of H or W are coded once.
            continue;
        }
        let d = soundex_digit(c);
        if d != b'0' && d != last {
            out[len] = d;
            len += 1;
        }
        last = d;
    }
    Some(out)
}

/// American Soundex: `Robert` and `Rupert` are both `R163`.
pub fn soundex(name: &str) -> String {
    soundex_code(name)
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default()
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'A' | b'E' | b'I' | b'O' | b'U')
}

/// The NYSIIS code of a name (empty for a name without letters).
pub fn nysiis(name: &str) -> String {
    let mut s: Vec<u8> = name
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.is_empty() {
        return String::new();
    }
    // 1. The start of the name.
    if s.starts_with(b"MAC") {
        s[1] = b'C';
    } else if s.starts_with(b"KN") {
        s[0] = b'N';
    } else if s[0] == b'K' {
        s[0] = b'C';
    } else if s.starts_with(b"PH") || s.starts_with(b"PF") {
        s[..2].copy_from_slice(b"FF");
    } else if s.starts_with(b"SCH") {
        s[..3].copy_from_slice(b"SSS");
    }
    // 2. The end of the name.
    let n = s.len();
    if n >= 2 {
        match &s[n - 2..] {
            b"EE" | b"IE" => {
                s.truncate(n - 2);
                s.push(b'Y');
            }
            b"DT" | b"RT" | b"RD" | b"NT" | b"ND" => {
                s.truncate(n - 2);
                s.push(b'D');
            }
            _ => {}
        }
    }
    // 3. The first letter is kept as it is.
    let mut key = vec![s[0]];
    // 4-6. Each later letter is translated in place (later rules see the
    // translated letters before it), then added unless it repeats the last
    // letter of the key.
    for i in 1..s.len() {
        let c = s[i];
        let prev = s[i - 1];
        let next = s.get(i + 1).copied();
        if is_vowel(c) {
            if c == b'E' && next == Some(b'V') {
                s[i] = b'A';
                s[i + 1] = b'F';
            } else {
                s[i] = b'A';
            }
        } else if c == b'Q' {
            s[i] = b'G';
        } else if c == b'Z' {
            s[i] = b'S';
        } else if c == b'M' {
            s[i] = b'N';
        } else if c == b'K' {
            s[i] = if next == Some(b'N') { b'N' } else { b'C' };
        } else if s[i..].starts_with(b"SCH") {
            s[i + 1] = b'S';
            s[i + 2] = b'S';
        } else if s[i..].starts_with(b"PH") {
            s[i] = b'F';
            s[i + 1] = b'F';
        } else if (c == b'H' && (!is_vowel(prev) || !next.is_some_and(is_vowel)))
            || (c == b'W' && is_vowel(prev))
        {
            s[i] = prev;
        }
        if key.last() != Some(&s[i]) {
            key.push(s[i]);
        }
    }
    // 7-9. The end of the key.
    if key.len() > 1 && key.last() == Some(&b'S') {
        key.pop();
    }
    if key.len() > 2 && key.ends_with(b"AY") {
        key.truncate(key.len() - 2);
        key.push(b'Y');
    }
    if key.len() > 1 && key.last() == Some(&b'A') {
        key.pop();
    }
    String::from_utf8(key).expect("ASCII letters")
}
