//! Parsing and standardising one-line US addresses the USPS Publication 28
//! way: upper case, no punctuation, standard abbreviations for suffixes,
//! directionals, unit designators and states.
//!
//! The parser labels every word of the input ([`Label`]), so its accuracy
//! can be measured against addresses whose labels are known. It reads the
//! tail first (ZIP, ZIP+4, state), then the house number, then splits the
//! rest into the street part and the city: at the last comma when there is
//! one, otherwise at the split that reads best (a street ending in a suffix,
//! directional or unit; a city that is a known city name when the caller
//! gives a gazetteer, and that holds no unit, number or abbreviation).

use crate::error::Error;
use crate::pub28;

/// The longest address accepted, in bytes.
pub const MAX_LEN: usize = 200;

/// What a word of an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    AddressNumber,
    PreDirectional,
    StreetName,
    Suffix,
    PostDirectional,
    UnitType,
    UnitId,
    City,
    State,
    Zip5,
    Zip4,
}

impl Label {
    pub const ALL: [Label; 11] = [
        Label::AddressNumber,
        Label::PreDirectional,
        Label::StreetName,
        Label::Suffix,
        Label::PostDirectional,
        Label::UnitType,
        Label::UnitId,
        Label::City,
        Label::State,
        Label::Zip5,
        Label::Zip4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::AddressNumber => "address_number",
            Label::PreDirectional => "pre_directional",
            Label::StreetName => "street_name",
            Label::Suffix => "suffix",
            Label::PostDirectional => "post_directional",
            Label::UnitType => "unit_type",
            Label::UnitId => "unit_id",
            Label::City => "city",
            Label::State => "state",
            Label::Zip5 => "zip5",
            Label::Zip4 => "zip4",
        }
    }
}

/// An address in standard form. Every part is upper case; an empty string
/// means the part is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Address {
    /// House number as written, e.g. `123`, `123A`, `123 1/2`.
    pub number: String,
    pub predir: String,
    pub name: String,
    pub suffix: String,
    pub postdir: String,
    /// A Publication 28 designator (`APT`, `STE`, …) or `#`.
    pub unit_type: String,
    pub unit_id: String,
    pub city: String,
    pub state: String,
    pub zip5: String,
    pub zip4: String,
}

impl Address {
    /// The street with its directionals and suffix, e.g. `N MAIN ST`.
    pub fn street(&self) -> String {
        join(&[&self.predir, &self.name, &self.suffix, &self.postdir])
    }

    /// The delivery address line, e.g. `123 N MAIN ST APT 4B`.
    pub fn delivery_line(&self) -> String {
        join(&[
            &self.number,
            &self.predir,
            &self.name,
            &self.suffix,
            &self.postdir,
            &self.unit_type,
            &self.unit_id,
        ])
    }

    /// The last line, e.g. `YORK PA 17401-1234`.
    pub fn last_line(&self) -> String {
        let zip = if self.zip4.is_empty() {
            self.zip5.clone()
        } else {
            format!("{}-{}", self.zip5, self.zip4)
        };
        join(&[&self.city, &self.state, &zip])
    }

    /// Both lines on one line, separated by a comma.
    pub fn single_line(&self) -> String {
        let last = self.last_line();
        if last.is_empty() {
            self.delivery_line()
        } else {
            format!("{}, {last}", self.delivery_line())
        }
    }
}

fn join(parts: &[&str]) -> String {
    let mut out = String::with_capacity(48);
    for p in parts.iter().filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

/// One word of the input with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word as written.
    pub raw: String,
    /// The word upper-cased, without periods or apostrophes.
    pub text: String,
    pub label: Label,
}

/// A parsed address: the standard form and the labelled words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub address: Address,
    pub tokens: Vec<Token>,
}

/// Tells whether words (upper case, one space between) name a known city.
pub type Gazetteer<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Parses `text` with no knowledge of city names.
pub fn parse(text: &str) -> Result<Parsed, Error> {
    parse_with(text, None)
}

/// Standardises `text` (see [`Address::single_line`] for its one-line form).
pub fn standardise(text: &str) -> Result<Address, Error> {
    Ok(parse(text)?.address)
}

/// Parses bytes, refusing anything that is not UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> Result<Parsed, Error> {
    if bytes.len() > MAX_LEN {
        return Err(Error::TooLong {
            len: bytes.len(),
            max: MAX_LEN,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidCharacters)?;
    parse(text)
}

struct Word {
    start: usize,
    end: usize,
    text: String,
    /// A comma (or line break) follows the word.
    comma_after: bool,
}

/// Checks the input and splits it into words.
fn tokenise(text: &str) -> Result<Vec<Word>, Error> {
    if text.len() > MAX_LEN {
        return Err(Error::TooLong {
            len: text.len(),
            max: MAX_LEN,
        });
    }
    let bytes = text.as_bytes();
    let mut words: Vec<Word> = Vec::with_capacity(12);
    let mut i = 0;
    let push = |words: &mut Vec<Word>, start: usize, end: usize| {
        let mut t = String::with_capacity(end - start);
        for &b in &bytes[start..end] {
            if b != b'.' && b != b'\'' {
                t.push(b.to_ascii_uppercase() as char);
            }
        }
        if t.bytes().any(|b| b.is_ascii_alphanumeric() || b == b'#') {
            words.push(Word {
                start,
                end,
                text: t,
                comma_after: false,
            });
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' => i += 1,
            b',' | b';' | b'\n' | b'\r' => {
                if let Some(w) = words.last_mut() {
                    w.comma_after = true;
                }
                i += 1;
            }
            b'#' => {
                push(&mut words, i, i + 1);
                i += 1;
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'/' | b'\'' | b'&') => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'.' | b'-' | b'/' | b'\'' | b'&'))
                {
                    i += 1;
                }
                let word = &bytes[start..i];
                // ZIP+4 written as 12345-6789 or 123456789: two words. The
                // test is on the word as it is kept (periods and apostrophes
                // dropped), so that the standard form, which prints it so,
                // reads back the same.
                let kept = |b: &u8| *b != b'.' && *b != b'\'';
                let clean: Vec<u8> = word.iter().copied().filter(kept).collect();
                // Where in the input the first `k` kept bytes end.
                let after = |k: usize| {
                    let mut seen = 0;
                    for (j, b) in word.iter().enumerate() {
                        if kept(b) {
                            seen += 1;
                            if seen == k {
                                return start + j + 1;
                            }
                        }
                    }
                    i
                };
                if clean.len() == 10
                    && clean[5] == b'-'
                    && all_digits(&clean[..5])
                    && all_digits(&clean[6..])
                {
                    push(&mut words, start, after(5));
                    push(&mut words, after(6), i);
                } else if clean.len() == 9 && all_digits(&clean) {
                    push(&mut words, start, after(5));
                    push(&mut words, after(5), i);
                } else {
                    push(&mut words, start, i);
                }
            }
            _ => return Err(Error::InvalidCharacters),
        }
    }
    // A `#` with nothing after it says nothing.
    let mut i = 0;
    while i < words.len() {
        if words[i].text == "#" && words.get(i + 1).is_none_or(|n| n.text == "#") {
            let gone = words.remove(i);
            if gone.comma_after && i > 0 {
                words[i - 1].comma_after = true;
            }
        } else {
            i += 1;
        }
    }
    if words.is_empty() {
        return Err(Error::Empty);
    }
    Ok(words)
}

fn all_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && all_digits(s.as_bytes())
}

/// How the street part of the words reads.
#[derive(Debug, Clone, Copy, Default)]
struct StreetSplit {
    /// Index ranges into the words (absolute).
    predir: Option<usize>,
    name: (usize, usize),
    suffix: Option<usize>,
    postdir: Option<usize>,
    /// Designator words, then id words.
    unit_type: (usize, usize),
    unit_id: (usize, usize),
    score: i32,
}

fn is_unit_word(w: &str) -> bool {
    w == "#" || pub28::unit(w).is_some()
}

/// Reads words `from..to` as a street: `[predir] name.. [suffix] [postdir] [unit]`.
fn street(words: &[Word], from: usize, to: usize) -> Option<StreetSplit> {
    if from >= to {
        return None;
    }
    let w = |i: usize| words[i].text.as_str();
    let mut s = StreetSplit::default();
    let mut core_end = to;
    // The unit: a designator after at least one street word.
    for u in from + 1..to {
        let word = w(u);
        if !is_unit_word(word) {
            continue;
        }
        let mut id_start = u + 1;
        while id_start < to && w(id_start) == "#" {
            id_start += 1;
        }
        if id_start == to {
            // A designator without an id: a suffix (`TRLR`), or not a street.
            if word != "#" && pub28::suffix(word).is_some() {
                continue;
            }
            return None;
        }
        // One word of id; anything after it is not part of the street.
        if id_start + 1 < to {
            return None;
        }
        s.unit_type = (u, id_start);
        s.unit_id = (id_start, to);
        s.score += 2;
        core_end = u;
        break;
    }
    let mut lo = from;
    let mut hi = core_end;
    if hi - lo >= 2 && pub28::directional(w(hi - 1)).is_some() {
        s.postdir = Some(hi - 1);
        hi -= 1;
        s.score += 1;
    }
    if hi - lo >= 2 && pub28::suffix(w(hi - 1)).is_some() {
        s.suffix = Some(hi - 1);
        hi -= 1;
        s.score += 2;
    }
    if hi - lo >= 2 && pub28::directional(w(lo)).is_some() {
        s.predir = Some(lo);
        lo += 1;
    }
    if lo >= hi || words[lo..hi].iter().any(|w| w.text == "#") {
        return None;
    }
    s.name = (lo, hi);
    let name_len = (hi - lo) as i32;
    if name_len > 4 {
        s.score -= name_len - 4;
    }
    Some(s)
}

/// How likely words `from..to` are a city name.
fn city_score(
    words: &[Word],
    from: usize,
    to: usize,
    gazetteer: Option<Gazetteer<'_>>,
) -> Option<i32> {
    let mut score = 0;
    for (i, w) in words[from..to].iter().enumerate() {
        let t = w.text.as_str();
        if t == "#" {
            return None;
        }
        if is_unit_word(t) {
            score -= 6;
        } else if t.bytes().any(|b| b.is_ascii_digit()) {
            score -= 4;
        } else if pub28::is_abbreviated_suffix(t)
            || (t.len() <= 2 && pub28::directional(t).is_some())
        {
            score -= 3;
        }
        if i >= 3 {
            score -= 1;
        }
    }
    if let Some(known) = gazetteer {
        let name = words[from..to]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if known(&name) {
            score += 6;
        }
    }
    Some(score)
}

/// Parses `text`; `gazetteer`, when given, tells known city names apart,
/// which matters when the input has no commas.
pub fn parse_with(text: &str, gazetteer: Option<Gazetteer<'_>>) -> Result<Parsed, Error> {
    if text.trim().is_empty() {
        return Err(Error::Empty);
    }
    let words = tokenise(text)?;
    let n = words.len();
    let mut labels = vec![Label::StreetName; n];
    let mut a = Address::default();
    let w = |i: usize| words[i].text.as_str();

    // The tail: ZIP+4, ZIP, state.
    let mut end = n;
    if end >= 4 && digits(w(end - 1), 4) && digits(w(end - 2), 5) {
        a.zip5 = w(end - 2).to_owned();
        a.zip4 = w(end - 1).to_owned();
        labels[end - 2] = Label::Zip5;
        labels[end - 1] = Label::Zip4;
        end -= 2;
    } else if end >= 3 && digits(w(end - 1), 5) {
        a.zip5 = w(end - 1).to_owned();
        labels[end - 1] = Label::Zip5;
        end -= 1;
    }
    let has_zip = !a.zip5.is_empty();
    for len in [3usize, 2, 1] {
        if end < len + 2 {
            continue;
        }
        let start = end - len;
        // A comma anywhere before: the address has a separate last line.
        let comma_before = words[..start].iter().any(|w| w.comma_after);
        // `APT NC` or `# NE` is a unit, not a state.
        if !comma_before && is_unit_word(w(start - 1)) {
            continue;
        }
        let code = if len == 1 {
            let word = w(start);
            match pub28::state_code(word) {
                Some(code) => {
                    let ambiguous = pub28::suffix(word).is_some()
                        || pub28::directional(word).is_some()
                        || pub28::unit(word).is_some();
                    // `0 A KY, 00000`: a street word the delivery line's
                    // comma follows ends the street, it is no state.
                    let ends_street = words[start].comma_after && !comma_before;
                    (!ambiguous || comma_before || (has_zip && !ends_street)).then_some(code)
                }
                None => {
                    pub28::state_by_name(word).filter(|_| has_zip || comma_before || end - len >= 3)
                }
            }
        } else {
            let name = words[start..end]
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            pub28::state_by_name(&name)
        };
        if let Some(code) = code {
            a.state = code.to_owned();
            labels[start..end].fill(Label::State);
            end = start;
            break;
        }
    }
    let has_last_line = has_zip || !a.state.is_empty();

    // The house number.
    if !w(0).as_bytes()[0].is_ascii_digit() {
        return Err(Error::Unparseable("it does not start with a house number"));
    }
    labels[0] = Label::AddressNumber;
    a.number = w(0).to_owned();
    let mut first = 1;
    if end > 2 && is_fraction(w(1)) {
        labels[1] = Label::AddressNumber;
        a.number = format!("{} {}", w(0), w(1));
        first = 2;
    }
    if first >= end {
        return Err(Error::Unparseable("there is no street name"));
    }

    // Street part and city.
    // A comma before a unit (`123 MAIN ST, APT 4`) does not end the street;
    // one before a city that starts with a designator's word (`…, KEY
    // WEST`) does: a unit's id has a digit or is a letter or two.
    let unit_follows = |c: usize| {
        is_unit_word(w(c + 1))
            && (c + 2 >= end || {
                let id = w(c + 2);
                id == "#" || id.len() <= 2 || id.bytes().any(|b| b.is_ascii_digit())
            })
    };
    let comma_split = (first..end.saturating_sub(1))
        .rev()
        .find(|&c| words[c].comma_after && !unit_follows(c))
        .map(|c| c + 1);
    let (split, parts) = match comma_split.and_then(|k| street(&words, first, k).map(|s| (k, s))) {
        Some(found) => found,
        None => {
            let mut best: Option<(i32, usize, StreetSplit)> = None;
            for k in first + 1..=end {
                let Some(s) = street(&words, first, k) else {
                    continue;
                };
                let city = if k < end {
                    match city_score(&words, k, end, gazetteer) {
                        Some(c) => c,
                        None => continue,
                    }
                } else if has_last_line {
                    -2
                } else {
                    0
                };
                let score = s.score + city;
                if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                    best = Some((score, k, s));
                }
            }
            let (_, k, s) = best.ok_or(Error::Unparseable("there is no street name"))?;
            (k, s)
        }
    };

    let text_of = |(from, to): (usize, usize)| {
        words[from..to]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(i) = parts.predir {
        labels[i] = Label::PreDirectional;
        a.predir = pub28::directional(w(i)).unwrap_or_default().to_owned();
    }
    labels[parts.name.0..parts.name.1].fill(Label::StreetName);
    a.name = text_of(parts.name);
    if let Some(i) = parts.suffix {
        labels[i] = Label::Suffix;
        a.suffix = pub28::suffix(w(i)).unwrap_or_default().to_owned();
    }
    if let Some(i) = parts.postdir {
        labels[i] = Label::PostDirectional;
        a.postdir = pub28::directional(w(i)).unwrap_or_default().to_owned();
    }
    if parts.unit_type.1 > parts.unit_type.0 {
        labels[parts.unit_type.0..parts.unit_type.1].fill(Label::UnitType);
        labels[parts.unit_id.0..parts.unit_id.1].fill(Label::UnitId);
        let designator = w(parts.unit_type.0);
        a.unit_type = pub28::unit(designator).unwrap_or("#").to_owned();
        a.unit_id = words[parts.unit_id.0..parts.unit_id.1]
            .iter()
            .filter(|w| w.text != "#")
            .map(|w| w.text.as_str())
            .collect();
    }
    if split < end {
        // A state code that would end the city (`CT`, `KY`, … were left
        // alone above, as they can be street words) is the state.
        let mut city_end = end;
        if a.state.is_empty()
            && let Some(code) = pub28::state_code(w(end - 1))
        {
            labels[end - 1] = Label::State;
            a.state = code.to_owned();
            city_end -= 1;
        }
        if split < city_end {
            let city = text_of((split, city_end));
            // Digits alone are no city (`22222222.2` would read back as a
            // ZIP+4 once its period is gone).
            if !city.bytes().any(|b| b.is_ascii_alphabetic()) {
                return Err(Error::Unparseable("the city has no letters"));
            }
            match pub28::state_by_name(&city).filter(|_| a.state.is_empty()) {
                // A last line that is only a state's name is the state (as
                // the standard form, `…, VERMONT`, reads back).
                Some(code) => {
                    labels[split..city_end].fill(Label::State);
                    a.state = code.to_owned();
                }
                None => {
                    labels[split..city_end].fill(Label::City);
                    a.city = city;
                }
            }
        }
    }
    let tokens = words
        .iter()
        .zip(labels)
        .map(|(word, label)| Token {
            raw: text[word.start..word.end].to_owned(),
            text: word.text.clone(),
            label,
        })
        .collect();
    Ok(Parsed { address: a, tokens })
}

fn is_fraction(s: &str) -> bool {
    match s.split_once('/') {
        Some((a, b)) => digits(a, a.len()) && digits(b, b.len()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_of_digits_is_refused() {
        assert_eq!(
            parse("12 Main St, 4444").unwrap_err().public().code,
            "address.unparseable"
        );
        assert!(parse("12 Main St, 12345").is_ok(), "a ZIP alone is fine");
        // Found by the fuzzer: `22222222.2` once became a city of digits,
        // printed in the standard form as a ZIP+4. It is the ZIP+4.
        let p = parse("3qqq\tqq\t&a2aa\t.&a222222222;22222222.2").unwrap();
        assert_eq!(
            (p.address.zip5.as_str(), p.address.city.as_str()),
            ("22222", "")
        );
        let again = parse(&p.address.single_line()).unwrap();
        assert_eq!(again.address, p.address);
    }

    #[test]
    fn a_city_after_a_comma_may_start_with_a_designators_word() {
        let p = parse("123 Ocean Dr, Key West FL 33040").unwrap();
        assert_eq!(
            (p.address.street().as_str(), p.address.city.as_str()),
            ("OCEAN DR", "KEY WEST")
        );
        let p = parse("123 Ocean Dr, Apt 4, Key Largo FL").unwrap();
        assert_eq!(
            (p.address.unit_type.as_str(), p.address.unit_id.as_str()),
            ("APT", "4")
        );
        assert_eq!(p.address.city, "KEY LARGO");
        let p = parse("500 Main St, Lot 7").unwrap();
        assert_eq!(
            (p.address.unit_type.as_str(), p.address.unit_id.as_str()),
            ("LOT", "7")
        );
        assert_eq!(p.address.city, "");
        // Found by the fuzzer: a unit, then a city starting with KEY.
        let p = parse("3 am key nch, key keymma").unwrap();
        let again = parse(&p.address.single_line()).unwrap();
        assert_eq!(again.address, p.address);
    }

    #[test]
    fn a_last_line_of_only_a_state_name_is_the_state() {
        // Found by the fuzzer: `11 1 vermont` read VERMONT as the city, and
        // its standard form `11 1, VERMONT` as the state.
        let p = parse("11 1 vermont").unwrap();
        assert_eq!(
            (p.address.city.as_str(), p.address.state.as_str()),
            ("", "VT")
        );
        let again = parse(&p.address.single_line()).unwrap();
        assert_eq!(again.address, p.address);
    }

    #[test]
    fn a_street_word_before_the_comma_is_no_state() {
        // Found by the property test: `0 A KEY 00000` reads KEY as the
        // suffix KY, whose standard form `0 A KY, 00000` read KY as the
        // state. The comma after KY ends the delivery line.
        let p = parse("0 A KEY 00000").unwrap();
        assert_eq!(
            (p.address.suffix.as_str(), p.address.state.as_str()),
            ("KY", "")
        );
        let again = parse(&p.address.single_line()).unwrap();
        assert_eq!(again.address, p.address);
        // A state after the comma is still the state.
        let p = parse("0 A ST, KY 00000").unwrap();
        assert_eq!(
            (p.address.suffix.as_str(), p.address.state.as_str()),
            ("ST", "KY")
        );
    }

    #[test]
    fn nine_digits_split_the_same_with_or_without_periods() {
        // Found by the fuzzer: `1111.11111` was one word, printed as
        // `111111111`, which reads back as two.
        let p = parse("11g1 1111.11111 111111s").unwrap();
        let again = parse(&p.address.single_line()).unwrap();
        assert_eq!(again.address, p.address);
        let z = parse("12 Main St, Springfield IL 62701.1234").unwrap();
        assert_eq!(
            (z.address.zip5.as_str(), z.address.zip4.as_str()),
            ("62701", "1234")
        );
    }

    fn labels(text: &str) -> Vec<(String, Label)> {
        parse(text)
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| (t.text, t.label))
            .collect()
    }

    #[test]
    fn standard_forms() {
        let cases = [
            (
                "123 north main street apartment 4b, harrisburg, pennsylvania 17101-2345",
                "123 N MAIN ST APT 4B, HARRISBURG PA 17101-2345",
            ),
            (
                "1600 Pennsylvania Avenue NW, Washington, DC 20500",
                "1600 PENNSYLVANIA AVE NW, WASHINGTON DC 20500",
            ),
            ("42 E St", "42 E ST"),
            ("42 North St, York PA", "42 NORTH ST, YORK PA"),
            (
                "7 Forest Park Rd York PA 17401",
                "7 FOREST PARK RD, YORK PA 17401",
            ),
            (
                "9 Elm Ave #4B  Lancaster PA 17602",
                "9 ELM AVE # 4B, LANCASTER PA 17602",
            ),
            (
                "12 Oak Ln Ste. 200, Erie, PA 165011234",
                "12 OAK LN STE 200, ERIE PA 16501-1234",
            ),
            (
                "5 Main St, Apt 2, Reading, PA 19601",
                "5 MAIN ST APT 2, READING PA 19601",
            ),
            ("18 1/2 Market St S", "18 1/2 MARKET ST S"),
        ];
        for (input, want) in cases {
            assert_eq!(standardise(input).unwrap().single_line(), want, "{input}");
        }
    }

    #[test]
    fn labels_every_word() {
        use Label::*;
        let got = labels("123 N Main St Apt 4B York PA 17401-1234");
        let want = [
            ("123", AddressNumber),
            ("N", PreDirectional),
            ("MAIN", StreetName),
            ("ST", Suffix),
            ("APT", UnitType),
            ("4B", UnitId),
            ("YORK", City),
            ("PA", State),
            ("17401", Zip5),
            ("1234", Zip4),
        ];
        let want: Vec<(String, Label)> = want.iter().map(|(t, l)| (t.to_string(), *l)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_gazetteer_settles_cities_that_look_like_streets() {
        let text = "10 Main St North Wales PA 19454";
        assert_eq!(
            parse(text).unwrap().address.city,
            "WALES",
            "without knowing the city"
        );
        let known = |c: &str| c == "NORTH WALES";
        let p = parse_with(text, Some(&known)).unwrap();
        assert_eq!(p.address.city, "NORTH WALES");
        assert_eq!(p.address.postdir, "");
    }

    #[test]
    fn bad_input_has_stable_errors() {
        assert!(matches!(parse(""), Err(Error::Empty)));
        assert!(matches!(parse("  , ,"), Err(Error::Empty)));
        assert!(matches!(
            parse(&"1 A St ".repeat(40)),
            Err(Error::TooLong { .. })
        ));
        assert!(matches!(
            parse("1 Main\0 St"),
            Err(Error::InvalidCharacters)
        ));
        assert!(matches!(
            parse("1 Müller St"),
            Err(Error::InvalidCharacters)
        ));
        assert!(matches!(
            parse_bytes(&[0xff, 0xfe, 0x31]),
            Err(Error::InvalidCharacters)
        ));
        assert!(matches!(parse("Main St"), Err(Error::Unparseable(_))));
        assert!(matches!(parse("123"), Err(Error::Unparseable(_))));
        assert_eq!(
            Error::TooLong { len: 1, max: 1 }.public().code,
            "address.too_long"
        );
        assert_eq!(Error::Unparseable("x").public().code, "address.unparseable");
    }
}
