//! PDF417, Plaza's own encoder: byte compaction, Reed–Solomon error
//! correction over GF(929), the row/column layout with row indicators,
//! start and stop patterns, quiet zone, and rendering to PNG and SVG.
//!
//! **Error correction.** AAMVA asks for level 3 or higher on DL/ID cards.
//! Plaza uses the level ISO/IEC 15438 recommends for the amount of data,
//! but never below 3: up to 160 data codewords level 3 (16 EC codewords),
//! up to 320 level 4 (32), up to 863 level 5 (64). A full 2020 card
//! payload (~300 bytes, ~260 codewords) gets level 4.
//!
//! **Bar/space patterns.** Each codeword value 0–928 is drawn as one of 929
//! patterns of 4 bars and 4 spaces over 17 modules, from one of three
//! clusters (0, 3, 6) chosen by the row. The standard publishes the three
//! cluster tables as lists; their structural rules (8 elements of 1–6
//! modules summing to 17, cluster number `(b1 − b2 + b3 − b4) mod 9`) admit
//! 1484, 1002 and 1002 patterns, not 929, and the order in which values are
//! assigned follows no rule the standard states. So the tables are data:
//! `data/pdf417-codewords.txt` ships with the crate (its provenance and
//! licence beside it), and [`Patterns::from_text`] checks every entry against
//! those rules (width, element sizes, cluster, no repeats) when it loads.

use std::fmt::Write as _;

/// Why a symbol could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pdf417Error {
    #[error("payload of {0} bytes is too long for one PDF417 symbol")]
    TooLong(usize),
    #[error("pattern table: {0}")]
    BadPatterns(String),
    #[error("rendering: {0}")]
    Render(String),
}

impl Pdf417Error {
    pub fn code(&self) -> &'static str {
        match self {
            Pdf417Error::TooLong(_) => "pdf417.too_long",
            Pdf417Error::BadPatterns(_) => "pdf417.bad_patterns",
            Pdf417Error::Render(_) => "pdf417.render",
        }
    }
}

/// The field's prime: codeword values are 0–928.
pub const P: u32 = 929;
/// Latch to byte compaction, for a byte count that is a multiple of 6.
pub const LATCH_BYTE_6: u32 = 924;
/// Latch to byte compaction, any byte count.
pub const LATCH_BYTE: u32 = 901;
/// The pad codeword.
pub const PAD: u32 = 900;
/// At most this many codewords in a symbol.
pub const MAX_CODEWORDS: usize = 928;
/// The start pattern, bar first: 8 1 1 1 1 1 1 3.
pub const START: [u8; 8] = [8, 1, 1, 1, 1, 1, 1, 3];
/// The stop pattern, bar first: 7 1 1 3 1 1 1 2 1 (18 modules).
pub const STOP: [u8; 9] = [7, 1, 1, 3, 1, 1, 1, 2, 1];

/// Byte compaction: a latch, then every 6 bytes as 5 base-900 codewords,
/// and a short tail one byte per codeword.
pub fn byte_compaction(data: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(2 + data.len() * 5 / 6 + 6);
    out.push(if data.len().is_multiple_of(6) {
        LATCH_BYTE_6
    } else {
        LATCH_BYTE
    });
    let mut chunks = data.chunks_exact(6);
    for group in &mut chunks {
        let mut v: u64 = 0;
        for &b in group {
            v = (v << 8) | u64::from(b);
        }
        let mut cw = [0u32; 5];
        for slot in cw.iter_mut().rev() {
            *slot = (v % 900) as u32;
            v /= 900;
        }
        out.extend_from_slice(&cw);
    }
    out.extend(chunks.remainder().iter().map(|&b| u32::from(b)));
    out
}

/// The inverse of [`byte_compaction`] (for Plaza's own checks).
pub fn byte_decompaction(cws: &[u32]) -> Option<Vec<u8>> {
    let (&latch, rest) = cws.split_first()?;
    let mut out = Vec::new();
    let whole = if latch == LATCH_BYTE_6 {
        rest.len()
    } else if latch == LATCH_BYTE {
        // The last group of fewer than 6 bytes is sent one per codeword; a
        // run of 5 codewords is a 6-byte group unless it is the tail.
        let groups = rest.len() / 5;
        let tail = rest.len() - groups * 5;
        if tail == 0 && groups > 0 {
            // Ambiguous only when the tail is 5 bytes: a 901 latch with a
            // byte count that is a multiple of 6 never occurs, so the last 5
            // codewords are the tail.
            (groups - 1) * 5
        } else {
            groups * 5
        }
    } else {
        return None;
    };
    if latch == LATCH_BYTE_6 && whole % 5 != 0 {
        return None;
    }
    for group in rest[..whole].chunks_exact(5) {
        let mut v: u64 = 0;
        for &c in group {
            if c >= 900 {
                return None;
            }
            v = v * 900 + u64::from(c);
        }
        if v >= 1 << 48 {
            return None;
        }
        out.extend_from_slice(&v.to_be_bytes()[2..]);
    }
    for &c in &rest[whole..] {
        out.push(u8::try_from(c).ok()?);
    }
    Some(out)
}

/// The error-correction level for `data_codewords` (length descriptor
/// included): the standard's recommendation, at least 3 (AAMVA).
pub fn ec_level_for(data_codewords: usize) -> u8 {
    match data_codewords {
        0..=160 => 3,
        161..=320 => 4,
        _ => 5,
    }
}

/// EC codewords at `level`: 2^(level+1).
pub fn ec_count(level: u8) -> usize {
    2usize << level
}

fn mul(a: u32, b: u32) -> u32 {
    (a * b) % P
}

/// The generator polynomial (x − 3)(x − 3²)…(x − 3^k), coefficients from
/// the highest degree down (leading 1).
fn generator(k: usize) -> Vec<u32> {
    let mut g = vec![1u32];
    let mut root = 1u32;
    for _ in 0..k {
        root = mul(root, 3);
        let neg = P - root;
        let mut next = vec![0u32; g.len() + 1];
        for (i, &c) in g.iter().enumerate() {
            next[i] = (next[i] + c) % P;
            next[i + 1] = (next[i + 1] + mul(c, neg)) % P;
        }
        g = next;
    }
    g
}

/// The `ec_count(level)` error-correction codewords for `data` (length
/// descriptor, data, padding), highest degree first: the negated remainder
/// of data·x^k divided by the generator, so the whole codeword polynomial
/// vanishes at 3, 3², …, 3^k.
pub fn error_correction(data: &[u32], level: u8) -> Vec<u32> {
    let k = ec_count(level);
    let g = generator(k);
    let mut rem = vec![0u32; k];
    for &d in data {
        let t = (d + rem[0]) % P;
        for j in 0..k {
            let next = if j + 1 < k { rem[j + 1] } else { 0 };
            rem[j] = (next + P - mul(t, g[j + 1])) % P;
        }
    }
    rem.iter().map(|&r| (P - r) % P).collect()
}

/// Evaluates the codeword polynomial (highest degree first) at `x`.
pub fn evaluate(codewords: &[u32], x: u32) -> u32 {
    codewords.iter().fold(0, |acc, &c| (mul(acc, x) + c) % P)
}

/// A laid-out symbol: every codeword in row order, before drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub rows: usize,
    pub columns: usize,
    pub ec_level: u8,
    /// `rows × columns` codewords: length descriptor, data, padding, EC.
    pub codewords: Vec<u32>,
}

/// Layout options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Wanted width/height of the drawn symbol (modules, with rows
    /// [`ROW_HEIGHT`] modules tall). Cards carry wide, flat symbols.
    pub aspect: f64,
    /// A fixed number of data columns (1–30), overriding `aspect`.
    pub columns: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            aspect: 3.0,
            columns: None,
        }
    }
}

/// Each row is this many modules tall (the standard's minimum is 3).
pub const ROW_HEIGHT: usize = 3;
/// Quiet zone, modules on every side (the standard asks for 2).
pub const QUIET: usize = 2;

/// Encodes `payload` into a symbol: byte compaction, length descriptor,
/// layout, padding, error correction.
pub fn encode(payload: &[u8], opts: Options) -> Result<Symbol, Pdf417Error> {
    let compacted = byte_compaction(payload);
    let n = compacted.len() + 1;
    let level = ec_level_for(n);
    let k = ec_count(level);
    if n + k > MAX_CODEWORDS {
        return Err(Pdf417Error::TooLong(payload.len()));
    }
    let (rows, columns) = layout(n + k, opts).ok_or(Pdf417Error::TooLong(payload.len()))?;
    let data_slots = rows * columns - k;
    let mut cws = Vec::with_capacity(rows * columns);
    cws.push(data_slots as u32);
    cws.extend_from_slice(&compacted);
    cws.resize(data_slots, PAD);
    let ec = error_correction(&cws, level);
    cws.extend(ec);
    Ok(Symbol {
        rows,
        columns,
        ec_level: level,
        codewords: cws,
    })
}

fn layout(total: usize, opts: Options) -> Option<(usize, usize)> {
    let fits = |c: usize| {
        let rows = total.div_ceil(c).max(3);
        (rows <= 90 && rows * c <= MAX_CODEWORDS).then_some((rows, c))
    };
    if let Some(c) = opts.columns {
        return (1..=30).contains(&c).then(|| fits(c)).flatten();
    }
    (1..=30).filter_map(fits).min_by(|a, b| {
        let score = |(r, c): (usize, usize)| {
            let w = (17 * c + 69) as f64;
            let h = (r * ROW_HEIGHT) as f64;
            ((w / h) - opts.aspect).abs() + (r * c - total) as f64 * 0.01
        };
        score(*a).total_cmp(&score(*b))
    })
}

impl Symbol {
    /// The left and right row indicator values of `row`.
    pub fn row_indicators(&self, row: usize) -> (u32, u32) {
        let base = (30 * (row / 3)) as u32;
        let r = (self.rows - 1) as u32;
        let c = (self.columns - 1) as u32;
        let l = u32::from(self.ec_level);
        let rows_part = r / 3;
        let level_part = l * 3 + r % 3;
        match row % 3 {
            0 => (base + rows_part, base + c),
            1 => (base + level_part, base + rows_part),
            _ => (base + c, base + level_part),
        }
    }

    /// Every row's modules (true = dark), quiet zone excluded.
    pub fn modules(&self, patterns: &Patterns) -> Vec<Vec<bool>> {
        (0..self.rows)
            .map(|row| {
                let cluster = row % 3;
                let mut line = Vec::with_capacity(17 * self.columns + 69);
                push_widths(&mut line, &START);
                let (left, right) = self.row_indicators(row);
                push_pattern(&mut line, patterns.pattern(cluster, left));
                for col in 0..self.columns {
                    let cw = self.codewords[row * self.columns + col];
                    push_pattern(&mut line, patterns.pattern(cluster, cw));
                }
                push_pattern(&mut line, patterns.pattern(cluster, right));
                push_widths(&mut line, &STOP);
                line
            })
            .collect()
    }
}

fn push_widths(line: &mut Vec<bool>, widths: &[u8]) {
    for (i, &w) in widths.iter().enumerate() {
        line.extend(std::iter::repeat_n(i % 2 == 0, w as usize));
    }
}

fn push_pattern(line: &mut Vec<bool>, widths: [u8; 8]) {
    push_widths(line, &widths);
}

/// The three cluster tables: for each cluster (0, 3, 6 — indexed 0, 1, 2)
/// the bar/space widths of codeword values 0–928.
#[derive(Clone)]
pub struct Patterns {
    clusters: Vec<[[u8; 8]; 929]>,
}

impl std::fmt::Debug for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Patterns(3 clusters × 929)")
    }
}

impl Patterns {
    /// Reads 3 × 929 entries separated by whitespace or commas, cluster 0
    /// first, each either 8 width digits bar first (`31111136`) or a
    /// 17-bit module pattern in hex (`0x1d5c0`), and checks each against
    /// the standard's rules.
    pub fn from_text(text: &str) -> Result<Patterns, Pdf417Error> {
        let bad = |m: String| Pdf417Error::BadPatterns(m);
        let entries: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty() && !s.starts_with('#'))
            .collect();
        if entries.len() != 3 * 929 {
            return Err(bad(format!("{} entries, not {}", entries.len(), 3 * 929)));
        }
        let mut clusters = vec![[[0u8; 8]; 929]; 3];
        for (i, e) in entries.iter().enumerate() {
            let (cluster, value) = (i / 929, i % 929);
            let widths =
                parse_entry(e).ok_or_else(|| bad(format!("entry {i} ({e}) is not a pattern")))?;
            if widths.iter().map(|&w| usize::from(w)).sum::<usize>() != 17
                || widths.iter().any(|&w| !(1..=6).contains(&w))
            {
                return Err(bad(format!(
                    "entry {i}: not 8 elements of 1-6 over 17 modules"
                )));
            }
            let k = (9 + i32::from(widths[0]) - i32::from(widths[2]) + i32::from(widths[4])
                - i32::from(widths[6]))
                % 9;
            if k != 3 * cluster as i32 {
                return Err(bad(format!(
                    "entry {i}: belongs to cluster {k}, not {}",
                    3 * cluster
                )));
            }
            clusters[cluster][value] = widths;
        }
        for (c, table) in clusters.iter().enumerate() {
            let mut seen = std::collections::HashSet::new();
            if !table.iter().all(|p| seen.insert(*p)) {
                return Err(bad(format!("cluster {} repeats a pattern", 3 * c)));
            }
        }
        Ok(Patterns { clusters })
    }

    /// The standard's tables, as shipped in `data/pdf417-codewords.txt`.
    pub fn shipped() -> Patterns {
        Patterns::from_text(include_str!("../data/pdf417-codewords.txt"))
            .expect("the shipped PDF417 tables pass their own checks (tested)")
    }

    /// Reads the table from the file named by `PLAZA_PDF417_PATTERNS`.
    pub fn from_env() -> Result<Option<Patterns>, Pdf417Error> {
        match std::env::var_os("PLAZA_PDF417_PATTERNS") {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Pdf417Error::BadPatterns(format!("reading {}: {e}", path.display()))
                })?;
                Patterns::from_text(&text).map(Some)
            }
        }
    }

    /// The widths of `value` in `cluster` (0, 1, 2 for clusters 0, 3, 6).
    pub fn pattern(&self, cluster: usize, value: u32) -> [u8; 8] {
        self.clusters[cluster % 3][(value % P) as usize]
    }

    /// The value drawn by `widths` in `cluster`, if any.
    pub fn value_of(&self, cluster: usize, widths: [u8; 8]) -> Option<u32> {
        self.clusters[cluster % 3]
            .iter()
            .position(|p| *p == widths)
            .map(|v| v as u32)
    }
}

fn parse_entry(e: &str) -> Option<[u8; 8]> {
    if let Some(hex) = e.strip_prefix("0x").or_else(|| e.strip_prefix("0X")) {
        let bits = u32::from_str_radix(hex, 16).ok()?;
        if bits >> 16 != 1 {
            return None;
        }
        let mut widths = [0u8; 8];
        let mut idx = 0;
        let mut prev = true;
        for i in (0..17).rev() {
            let dark = (bits >> i) & 1 == 1;
            if dark != prev {
                idx += 1;
                prev = dark;
            }
            *widths.get_mut(idx)? += 1;
        }
        return (idx == 7).then_some(widths);
    }
    if e.len() != 8 {
        return None;
    }
    let mut widths = [0u8; 8];
    for (w, b) in widths.iter_mut().zip(e.bytes()) {
        *w = b.checked_sub(b'0').filter(|d| (1..=9).contains(d))?;
    }
    Some(widths)
}

/// How a symbol is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Render {
    /// Pixels per module, horizontally.
    pub module_px: u32,
}

impl Default for Render {
    fn default() -> Self {
        Render { module_px: 2 }
    }
}

/// Draws `rows` (from [`Symbol::modules`]) as an 8-bit greyscale PNG with
/// the quiet zone.
pub fn to_png(rows: &[Vec<bool>], render: Render) -> Result<Vec<u8>, Pdf417Error> {
    let (w, h, px) = dimensions(rows, render);
    let mut img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    for (r, line) in rows.iter().enumerate() {
        for (m, &dark) in line.iter().enumerate() {
            if !dark {
                continue;
            }
            for dy in 0..(ROW_HEIGHT as u32 * px) {
                for dx in 0..px {
                    let x = (QUIET as u32 + m as u32) * px + dx;
                    let y = (QUIET as u32 + (r * ROW_HEIGHT) as u32) * px + dy;
                    img.put_pixel(x, y, image::Luma([0]));
                }
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Pdf417Error::Render(e.to_string()))?;
    Ok(out.into_inner())
}

fn dimensions(rows: &[Vec<bool>], render: Render) -> (u32, u32, u32) {
    let px = render.module_px.max(1);
    let width_modules = rows.first().map_or(0, Vec::len) + 2 * QUIET;
    let height_modules = rows.len() * ROW_HEIGHT + 2 * QUIET;
    (width_modules as u32 * px, height_modules as u32 * px, px)
}

/// Every dark run of every row as (x, y, width, height) in modules, quiet
/// zone included: what SVG and PDF draw.
pub fn bars(rows: &[Vec<bool>]) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    for (r, line) in rows.iter().enumerate() {
        let mut m = 0;
        while m < line.len() {
            if line[m] {
                let start = m;
                while m < line.len() && line[m] {
                    m += 1;
                }
                out.push((QUIET + start, QUIET + r * ROW_HEIGHT, m - start, ROW_HEIGHT));
            } else {
                m += 1;
            }
        }
    }
    out
}

/// Draws `rows` as SVG, one rectangle per bar, in module units.
pub fn to_svg(rows: &[Vec<bool>]) -> String {
    let w = rows.first().map_or(0, Vec::len) + 2 * QUIET;
    let h = rows.len() * ROW_HEIGHT + 2 * QUIET;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/><path fill=\"#000\" d=\""
    );
    for (x, y, bw, bh) in bars(rows) {
        let _ = write!(s, "M{x} {y}h{bw}v{bh}h-{bw}z");
    }
    s.push_str("\"/></svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn byte_compaction_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let cws = byte_compaction(&data);
            prop_assert!(cws.iter().all(|&c| c < P));
            prop_assert_eq!(byte_decompaction(&cws), Some(data));
        }

        #[test]
        fn error_correction_makes_every_syndrome_zero(
            data in proptest::collection::vec(0u32..P, 1..200),
            level in 0u8..=8,
        ) {
            let mut all = data.clone();
            all.extend(error_correction(&data, level));
            let mut root = 1;
            for _ in 0..ec_count(level) {
                root = mul(root, 3);
                prop_assert_eq!(evaluate(&all, root), 0);
            }
        }
    }

    #[test]
    fn the_worked_example_of_the_pdf417_tutorial() {
        // "PDF417" in text compaction, 9 codewords in 3 rows of 3, level 1.
        assert_eq!(
            error_correction(&[5, 453, 178, 121, 239], 1),
            [452, 327, 657, 619]
        );
        let s = Symbol {
            rows: 3,
            columns: 3,
            ec_level: 1,
            codewords: vec![0; 9],
        };
        assert_eq!(s.row_indicators(0), (0, 2));
        assert_eq!(s.row_indicators(1), (5, 0));
        assert_eq!(s.row_indicators(2), (2, 5));
    }

    #[test]
    fn a_corrupted_codeword_breaks_a_syndrome() {
        let data: Vec<u32> = (0..50).map(|i| (i * 37) % P).collect();
        let mut all = data.clone();
        all.extend(error_correction(&data, 3));
        all[7] = (all[7] + 1) % P;
        assert!((1..=16).any(|i| evaluate(&all, (0..i).fold(1, |a, _| mul(a, 3))) != 0));
    }

    #[test]
    fn symbols_respect_the_limits() {
        let s = encode(&[b'A'; 300], Options::default()).unwrap();
        assert!(s.ec_level >= 3);
        assert_eq!(s.codewords.len(), s.rows * s.columns);
        assert!((3..=90).contains(&s.rows) && (1..=30).contains(&s.columns));
        assert_eq!(
            s.codewords[0] as usize,
            s.rows * s.columns - ec_count(s.ec_level)
        );
        assert!(matches!(
            encode(&[0u8; 1200], Options::default()),
            Err(Pdf417Error::TooLong(1200))
        ));
    }

    #[test]
    fn row_indicators_follow_the_standard() {
        let s = Symbol {
            rows: 10,
            columns: 5,
            ec_level: 4,
            codewords: vec![0; 50],
        };
        // Row 0: rows/3 left, columns-1 right; row 1: level*3 + rows%3, rows/3;
        // row 2: columns-1, level*3 + rows%3. (rows-1 = 9.)
        assert_eq!(s.row_indicators(0), (3, 4));
        assert_eq!(s.row_indicators(1), (12, 3));
        assert_eq!(s.row_indicators(2), (4, 12));
        assert_eq!(s.row_indicators(3), (33, 34));
    }

    #[test]
    fn pattern_entries_are_checked() {
        assert_eq!(parse_entry("0x1d5c0"), Some([3, 1, 1, 1, 1, 1, 3, 6]));
        assert_eq!(parse_entry("31111136"), Some([3, 1, 1, 1, 1, 1, 3, 6]));
        assert_eq!(parse_entry("0x1"), None);
        let err = Patterns::from_text("31111136").unwrap_err();
        assert_eq!(err.code(), "pdf417.bad_patterns");
    }
}
