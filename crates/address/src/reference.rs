//! The reference address file: what `plaza address import FILE.csv` reads.
//!
//! A CSV file with a header line and one delivery point (an address a
//! carrier delivers to) per row, in columns named after the National
//! Address Database's:
//!
//! | column | content | example |
//! | --- | --- | --- |
//! | `Add_Number` | house number, digits only | `1200` |
//! | `AddNum_Suf` | house number suffix, optional | `A`, `1/2` |
//! | `St_PreDir` | pre-directional, optional, any spelling | `N`, `North` |
//! | `St_Name` | street name | `Market` |
//! | `St_PosTyp` | street suffix, optional, any Publication 28 spelling | `St`, `Street` |
//! | `St_PosDir` | post-directional, optional | `SW` |
//! | `Unit` | secondary unit, optional: designator and id | `Apt 4B`, `Suite 200`, `# 7` |
//! | `Post_City` | postal city name | `Harrisburg` |
//! | `County` | county name | `Dauphin` |
//! | `State` | two-letter code or name | `PA` |
//! | `Zip_Code` | ZIP code, 5 digits | `17101` |
//! | `Plus_4` | ZIP+4 add-on, 4 digits | `2345` |
//!
//! Values are standardised on the way in (upper case, Publication 28
//! abbreviations). Every row is checked before anything is written; one bad
//! row refuses the whole file, and every bad row is reported with its line
//! (the header is line 1) and the reason. The same delivery point twice is
//! a bad row, and so is a street whose rows disagree on its city, county or
//! state. An import replaces the whole reference set in one transaction.

use std::collections::HashMap;
use std::io::Read;

use crate::error::{Error, RowError};
use crate::pub28;

/// The columns of a reference file, in order.
pub const COLUMNS: [&str; 12] = [
    "Add_Number",
    "AddNum_Suf",
    "St_PreDir",
    "St_Name",
    "St_PosTyp",
    "St_PosDir",
    "Unit",
    "Post_City",
    "County",
    "State",
    "Zip_Code",
    "Plus_4",
];

/// Bad rows reported at most; a file with more is refused all the same.
pub const MAX_REPORTED: usize = 1_000;

/// One delivery point on a street.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    pub number: u32,
    pub number_suffix: String,
    pub unit_type: String,
    pub unit_id: String,
    pub zip4: String,
}

impl Point {
    /// The house number as written on a delivery line.
    pub fn house(&self) -> String {
        match self.number_suffix.as_str() {
            "" => self.number.to_string(),
            s if s.contains('/') => format!("{} {s}", self.number),
            s => format!("{}{s}", self.number),
        }
    }
}

/// A street within one ZIP code, with every delivery point on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Street {
    pub zip5: String,
    pub state: String,
    pub city: String,
    pub county: String,
    pub predir: String,
    pub name: String,
    pub suffix: String,
    pub postdir: String,
    pub points: Vec<Point>,
}

/// A checked reference file, grouped by street.
#[derive(Debug, Default)]
pub struct ReferenceSet {
    pub streets: Vec<Street>,
    pub addresses: u64,
}

/// Packs points as `number,suffix,unit type,unit id,zip4` joined by `;`
/// (no field can hold `,` or `;`).
pub fn encode_points(points: &[Point]) -> String {
    let mut out = String::with_capacity(points.len() * 12);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(&p.number.to_string());
        for f in [&p.number_suffix, &p.unit_type, &p.unit_id, &p.zip4] {
            out.push(',');
            out.push_str(f);
        }
    }
    out
}

/// The points packed by [`encode_points`].
pub fn decode_points(text: &str) -> Option<Vec<Point>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(';')
        .map(|p| {
            let mut f = p.split(',');
            Some(Point {
                number: f.next()?.parse().ok()?,
                number_suffix: f.next()?.to_owned(),
                unit_type: f.next()?.to_owned(),
                unit_id: f.next()?.to_owned(),
                zip4: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// Upper-cased words of `s` with single spaces, if every character is one
/// of `allowed` or alphanumeric.
pub(crate) fn words(s: &str, allowed: &[u8], max: usize) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for w in s.split_ascii_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for b in w.bytes() {
            if b.is_ascii_alphanumeric() || allowed.contains(&b) {
                if b != b'.' {
                    out.push(b.to_ascii_uppercase() as char);
                }
            } else {
                return Err(format!("{s:?} holds a character that is not allowed"));
            }
        }
    }
    if out.is_empty() {
        return Err("is empty".into());
    }
    if out.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    Ok(out)
}

fn optional<'a>(
    s: &str,
    column: &str,
    what: &str,
    lookup: fn(&str) -> Option<&'a str>,
) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let upper = s.to_ascii_uppercase().replace('.', "");
    lookup(&upper)
        .map(str::to_owned)
        .ok_or_else(|| format!("{column}: {s:?} is not {what}"))
}

fn digits(s: &str, n: usize, column: &str) -> Result<String, String> {
    let s = s.trim();
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("{column}: {s:?} must be {n} digits"))
    }
}

struct Row {
    street: Street,
    point: Point,
}

fn parse_row(f: &[&str]) -> Result<Row, String> {
    let number = f[0].trim();
    if number.is_empty() || number.len() > 8 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Add_Number: {number:?} must be 1 to 8 digits"));
    }
    let number: u32 = number
        .parse()
        .map_err(|_| "Add_Number: too large".to_string())?;
    let number_suffix = f[1].trim().to_ascii_uppercase();
    if number_suffix.len() > 4
        || !number_suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/')
    {
        return Err(format!(
            "AddNum_Suf: {:?} must be letters or a fraction",
            f[1]
        ));
    }
    let predir = optional(f[2], "St_PreDir", "a directional", pub28::directional)?;
    let name = words(f[3], b"-&'/.", 60).map_err(|e| format!("St_Name: {e}"))?;
    let suffix = optional(
        f[4],
        "St_PosTyp",
        "a Publication 28 street suffix",
        pub28::suffix,
    )?;
    let postdir = optional(f[5], "St_PosDir", "a directional", pub28::directional)?;
    let (unit_type, unit_id) = match f[6].trim() {
        "" => (String::new(), String::new()),
        unit => {
            let upper = unit.to_ascii_uppercase().replace('.', "");
            let (designator, id) = if let Some(rest) = upper.strip_prefix('#') {
                ("#".to_string(), rest.trim().to_owned())
            } else {
                let (d, id) = upper
                    .split_once(' ')
                    .ok_or_else(|| format!("Unit: {unit:?} must be a designator and an id"))?;
                let d = pub28::unit(d).ok_or_else(|| {
                    format!("Unit: {d:?} is not a Publication 28 unit designator")
                })?;
                (
                    d.to_owned(),
                    id.trim().trim_start_matches('#').trim().to_owned(),
                )
            };
            if id.is_empty()
                || id.len() > 8
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(format!(
                    "Unit: {unit:?} needs an id of up to 8 letters or digits"
                ));
            }
            (designator, id)
        }
    };
    let city = words(f[7], b"-'.", 40).map_err(|e| format!("Post_City: {e}"))?;
    let county = words(f[8], b"-'.", 40).map_err(|e| format!("County: {e}"))?;
    let state = {
        let s = f[9].trim().to_ascii_uppercase();
        pub28::state_code(&s)
            .or_else(|| pub28::state_by_name(&s))
            .ok_or_else(|| format!("State: {:?} is not a state", f[9]))?
            .to_owned()
    };
    let zip5 = digits(f[10], 5, "Zip_Code")?;
    let zip4 = digits(f[11], 4, "Plus_4")?;
    Ok(Row {
        street: Street {
            zip5,
            state,
            city,
            county,
            predir,
            name,
            suffix,
            postdir,
            points: Vec::new(),
        },
        point: Point {
            number,
            number_suffix,
            unit_type,
            unit_id,
            zip4,
        },
    })
}

/// Reads and checks a whole reference file. `progress` hears the number of
/// rows read every 100,000.
pub fn read<R: Read>(input: R, progress: &dyn Fn(u64)) -> Result<ReferenceSet, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let got: Vec<&str> = headers.iter().map(str::trim).collect();
    if got.len() != COLUMNS.len()
        || !got
            .iter()
            .zip(COLUMNS)
            .all(|(g, c)| g.eq_ignore_ascii_case(c))
    {
        return Err(Error::Import(vec![RowError {
            line: 1,
            reason: format!("header must be exactly: {}", COLUMNS.join(",")),
        }]));
    }
    let mut errors: Vec<RowError> = Vec::new();
    let mut bad = 0u64;
    let mut report = |errors: &mut Vec<RowError>, line: u64, reason: String| {
        bad += 1;
        if errors.len() < MAX_REPORTED {
            errors.push(RowError { line, reason });
        }
    };
    let mut streets: Vec<Street> = Vec::new();
    let mut first_line: Vec<u64> = Vec::new();
    let mut lines: Vec<Vec<u32>> = Vec::new();
    // Street identity: ZIP, directionals, name and suffix.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut key = String::with_capacity(64);
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                report(&mut errors, line, format!("unreadable row: {e}"));
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
                continue;
            }
        }
        rows += 1;
        if rows.is_multiple_of(100_000) {
            progress(rows);
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != COLUMNS.len() {
            report(
                &mut errors,
                line,
                format!("has {} fields, expected {}", record.len(), COLUMNS.len()),
            );
            continue;
        }
        let fields: [&str; 12] = std::array::from_fn(|i| &record[i]);
        let row = match parse_row(&fields) {
            Ok(r) => r,
            Err(reason) => {
                report(&mut errors, line, reason);
                continue;
            }
        };
        let s = row.street;
        key.clear();
        for part in [&s.zip5, &s.predir, &s.name, &s.suffix, &s.postdir] {
            key.push_str(part);
            key.push('|');
        }
        let i = match index.get(key.as_str()) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), streets.len());
                streets.push(s.clone());
                first_line.push(line);
                lines.push(Vec::new());
                streets.len() - 1
            }
        };
        let known = &streets[i];
        if known.city != s.city || known.county != s.county || known.state != s.state {
            report(
                &mut errors,
                line,
                format!(
                    "street in ZIP {} is in {}, {} county, {} on line {}",
                    s.zip5, known.city, known.county, known.state, first_line[i]
                ),
            );
            continue;
        }
        streets[i].points.push(row.point);
        lines[i].push(line as u32);
    }
    // The same delivery point twice.
    for (street, lines) in streets.iter_mut().zip(lines) {
        let mut order: Vec<usize> = (0..street.points.len()).collect();
        order.sort_by(|&a, &b| street.points[a].cmp(&street.points[b]));
        for pair in order.windows(2) {
            let (a, b) = (&street.points[pair[0]], &street.points[pair[1]]);
            if a.number == b.number
                && a.number_suffix == b.number_suffix
                && a.unit_type == b.unit_type
                && a.unit_id == b.unit_id
            {
                let (first, again) = (
                    lines[pair[0]].min(lines[pair[1]]),
                    lines[pair[0]].max(lines[pair[1]]),
                );
                report(
                    &mut errors,
                    again as u64,
                    format!("the same address as line {first}"),
                );
            }
        }
        let sorted: Vec<Point> = order.iter().map(|&i| street.points[i].clone()).collect();
        street.points = sorted;
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        if bad > errors.len() as u64 {
            errors.push(RowError {
                line: 0,
                reason: format!("{} more bad rows not listed", bad - errors.len() as u64),
            });
        }
        return Err(Error::Import(errors));
    }
    Ok(ReferenceSet {
        streets,
        addresses: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_survive_packing() {
        let points = vec![
            Point {
                number: 12,
                number_suffix: String::new(),
                unit_type: String::new(),
                unit_id: String::new(),
                zip4: "0001".into(),
            },
            Point {
                number: 14,
                number_suffix: "1/2".into(),
                unit_type: "APT".into(),
                unit_id: "4B".into(),
                zip4: "0002".into(),
            },
        ];
        assert_eq!(decode_points(&encode_points(&points)), Some(points));
        assert_eq!(decode_points("x,y"), None);
    }

    #[test]
    fn rows_are_standardised() {
        let text = format!(
            "{}\n12,,North,market  street,Street,,Apartment 4b,harrisburg,Dauphin,Pennsylvania,17101,0001\n",
            COLUMNS.join(",")
        );
        let set = read(text.as_bytes(), &|_| {}).unwrap();
        let s = &set.streets[0];
        assert_eq!(
            (
                s.predir.as_str(),
                s.name.as_str(),
                s.suffix.as_str(),
                s.state.as_str()
            ),
            ("N", "MARKET STREET", "ST", "PA")
        );
        assert_eq!(s.points[0].unit_type, "APT");
        assert_eq!(s.points[0].unit_id, "4B");
    }
}
