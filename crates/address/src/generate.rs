//! Synthetic reference address sets, deterministic from a seed: a
//! Pennsylvania-like state of cities (each with a few ZIP codes and a
//! county), streets with Publication 28 suffixes and sometimes directionals,
//! house numbers in blocks with one ZIP+4 per block face, and apartment or
//! suite units in some buildings. Also renders addresses the messy ways
//! people type them, with each word's true label, to measure the parser.

use std::collections::HashSet;
use std::io::Write;

use crate::parse::{Address, Label};
use crate::pub28;

/// A small, fast, seedable generator (SplitMix64), so that a seed gives the
/// same set on every platform and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const COUNTIES: [&str; 67] = [
    "ADAMS",
    "ALLEGHENY",
    "ARMSTRONG",
    "BEAVER",
    "BEDFORD",
    "BERKS",
    "BLAIR",
    "BRADFORD",
    "BUCKS",
    "BUTLER",
    "CAMBRIA",
    "CAMERON",
    "CARBON",
    "CENTRE",
    "CHESTER",
    "CLARION",
    "CLEARFIELD",
    "CLINTON",
    "COLUMBIA",
    "CRAWFORD",
    "CUMBERLAND",
    "DAUPHIN",
    "DELAWARE",
    "ELK",
    "ERIE",
    "FAYETTE",
    "FOREST",
    "FRANKLIN",
    "FULTON",
    "GREENE",
    "HUNTINGDON",
    "INDIANA",
    "JEFFERSON",
    "JUNIATA",
    "LACKAWANNA",
    "LANCASTER",
    "LAWRENCE",
    "LEBANON",
    "LEHIGH",
    "LUZERNE",
    "LYCOMING",
    "MCKEAN",
    "MERCER",
    "MIFFLIN",
    "MONROE",
    "MONTGOMERY",
    "MONTOUR",
    "NORTHAMPTON",
    "NORTHUMBERLAND",
    "PERRY",
    "PHILADELPHIA",
    "PIKE",
    "POTTER",
    "SCHUYLKILL",
    "SNYDER",
    "SOMERSET",
    "SULLIVAN",
    "SUSQUEHANNA",
    "TIOGA",
    "UNION",
    "VENANGO",
    "WARREN",
    "WASHINGTON",
    "WAYNE",
    "WESTMORELAND",
    "WYOMING",
    "YORK",
];

const CITY_ROOTS: [&str; 54] = [
    "ASH", "BEAVER", "BELL", "BIRCH", "BLACK", "BLUE", "BRIDGE", "BROOK", "CEDAR", "CENTER",
    "CHESTER", "CLEAR", "COLD", "CROSS", "DEER", "EAGLE", "ELK", "ELM", "FAIR", "FOX", "GLEN",
    "GOLD", "GREEN", "HAZEL", "HILL", "HOLLY", "IRON", "LAKE", "LAUREL", "LIME", "MAPLE", "MARSH",
    "MILL", "OAK", "PINE", "PLUM", "RED", "RICH", "ROCK", "ROSE", "SALT", "SAND", "SHAW", "SILVER",
    "SPRING", "STONE", "SUGAR", "SUMMER", "SUN", "SWAN", "WHITE", "WIL", "WOLF", "WOOD",
];
const CITY_ENDINGS: [&str; 14] = [
    "BURG", "VILLE", "TON", "DALE", "FIELD", "WOOD", "PORT", "MONT", "VIEW", "FORD", "LAND", "HAM",
    "BORO", "HAVEN",
];
const CITY_PREFIXES: [&str; 9] = [
    "NEW", "MOUNT", "EAST", "WEST", "NORTH", "SOUTH", "PORT", "UPPER", "LOWER",
];

const STREET_NAMES: [&str; 121] = [
    "MAIN",
    "MARKET",
    "CHURCH",
    "HIGH",
    "WALNUT",
    "CHESTNUT",
    "SPRUCE",
    "PINE",
    "LOCUST",
    "CHERRY",
    "MAPLE",
    "OAK",
    "ELM",
    "CEDAR",
    "HICKORY",
    "POPLAR",
    "SYCAMORE",
    "WILLOW",
    "BIRCH",
    "ASH",
    "BEECH",
    "DOGWOOD",
    "LAUREL",
    "HOLLY",
    "MULBERRY",
    "ORCHARD",
    "MEADOW",
    "HILLSIDE",
    "RIDGE",
    "VALLEY",
    "SPRING",
    "MILL",
    "WATER",
    "FRONT",
    "SECOND",
    "THIRD",
    "FOURTH",
    "FIFTH",
    "SIXTH",
    "WASHINGTON",
    "JEFFERSON",
    "LINCOLN",
    "FRANKLIN",
    "MADISON",
    "MONROE",
    "ADAMS",
    "JACKSON",
    "HAMILTON",
    "PENN",
    "LIBERTY",
    "UNION",
    "CENTER",
    "PARK",
    "LAKE",
    "RIVER",
    "BRIDGE",
    "RAILROAD",
    "CANAL",
    "SCHOOL",
    "COLLEGE",
    "KING",
    "QUEEN",
    "DUKE",
    "PRINCE",
    "FEDERAL",
    "BROAD",
    "GRANT",
    "HARRISON",
    "WAYNE",
    "KNOX",
    "GREENE",
    "HANOVER",
    "LANCASTER",
    "LEBANON",
    "CARLISLE",
    "OLD MILL",
    "SPRING GARDEN",
    "VALLEY VIEW",
    "MILL CREEK",
    "FOX CHASE",
    "DEER RUN",
    "PHEASANT",
    "QUAIL HOLLOW",
    "SCHUYLKILL",
    "SUSQUEHANNA",
    "CONESTOGA",
    "LEHIGH",
    "JUNIATA",
    "ALLEGHENY",
    "MONONGAHELA",
    "TIOGA",
    "BUTTONWOOD",
    "PERSIMMON",
    "MAGNOLIA",
    "ROSEMONT",
    "GLENWOOD",
    "FAIRVIEW",
    "HIGHLAND",
    "SUNSET",
    "WOODLAND",
    "BROOKSIDE",
    "STONEY BROOK",
    "COUNTRY CLUB",
    "SCHOOLHOUSE",
    "GRANGE",
    "TURKEY HILL",
    "BLUE BALL",
    "STRASBURG",
    "CHRISTIAN",
    "MORGAN",
    "REED",
    "LOGAN",
    "POWELL",
    "SPRINGHOUSE",
    "CLOVER",
    "HEMLOCK",
    "BUCKINGHAM",
    "YORKSHIRE",
    "DEVON",
    "BERWICK",
    "DOVER",
];

/// Suffixes with weights (how often each appears).
const SUFFIX_WEIGHTS: [(&str, u64); 16] = [
    ("ST", 30),
    ("AVE", 14),
    ("RD", 16),
    ("DR", 8),
    ("LN", 8),
    ("CT", 4),
    ("WAY", 3),
    ("PL", 3),
    ("BLVD", 2),
    ("CIR", 2),
    ("TER", 2),
    ("PIKE", 2),
    ("ALY", 2),
    ("HWY", 1),
    ("PKWY", 1),
    ("TRL", 2),
];

const DIRECTIONALS: [&str; 8] = ["N", "S", "E", "W", "NE", "NW", "SE", "SW"];

/// The name of the `i`th city. Names are distinct for distinct `i`.
pub fn city_name(i: usize) -> String {
    let singles = CITY_ROOTS.len() * CITY_ENDINGS.len();
    let k = (i % singles * 7919) % singles;
    let single = format!(
        "{}{}",
        CITY_ROOTS[k / CITY_ENDINGS.len()],
        CITY_ENDINGS[k % CITY_ENDINGS.len()]
    );
    if i < singles {
        single
    } else {
        format!(
            "{} {single}",
            CITY_PREFIXES[(i / singles - 1) % CITY_PREFIXES.len()]
        )
    }
}

/// ZIP codes per city.
const ZIPS_PER_CITY: usize = 3;

fn zip_of(z: usize) -> String {
    // Pennsylvania's range first, then synthetic codes beyond it.
    let code = if z < 4_699 { 15_001 + z } else { 20_000 + z };
    format!("{:05}", code % 100_000)
}

/// Calls `each` with `rows` reference addresses (and the county of each),
/// the same ones for the same `seed`.
pub fn for_each(rows: u64, seed: u64, mut each: impl FnMut(&Address, &str)) {
    let mut rng = Rng::new(seed);
    let suffix_total: u64 = SUFFIX_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut count = 0u64;
    let mut a = Address {
        state: "PA".into(),
        ..Address::default()
    };
    for z in 0.. {
        let city = z / ZIPS_PER_CITY;
        let county = COUNTIES[(city * 31) % COUNTIES.len()];
        a.city = city_name(city);
        a.zip5 = zip_of(z);
        let streets = 30 + rng.below(50);
        let mut seen = HashSet::new();
        for s in 0..streets {
            // A street unique within its ZIP code.
            let mut tries = 0;
            loop {
                a.name = rng.pick(&STREET_NAMES).to_string();
                let mut pick = rng.below(suffix_total);
                a.suffix = SUFFIX_WEIGHTS
                    .iter()
                    .find(|(_, w)| {
                        let hit = pick < *w;
                        pick = pick.saturating_sub(*w);
                        hit
                    })
                    .map(|(s, _)| s.to_string())
                    .unwrap_or_else(|| "ST".into());
                a.predir = if rng.chance(12) {
                    rng.pick(&DIRECTIONALS[..4]).to_string()
                } else {
                    String::new()
                };
                a.postdir = if a.predir.is_empty() && rng.chance(3) {
                    rng.pick(&DIRECTIONALS).to_string()
                } else {
                    String::new()
                };
                tries += 1;
                if seen.insert(a.street()) || tries > 20 {
                    break;
                }
            }
            let houses = 8 + rng.below(60);
            let start = (1 + rng.below(30)) * 100;
            for h in 0..houses {
                let number = start + h;
                let block = number / 100;
                let zip4 = (s * 37 + block * 2 + number % 2) % 9_998 + 1;
                a.number = number.to_string();
                a.zip4 = format!("{zip4:04}");
                let units = if rng.chance(7) { 2 + rng.below(11) } else { 0 };
                if units == 0 {
                    a.unit_type.clear();
                    a.unit_id.clear();
                    each(&a, county);
                    count += 1;
                    if count == rows {
                        return;
                    }
                    continue;
                }
                let suite = rng.chance(20);
                for u in 1..=units {
                    if suite {
                        a.unit_type = "STE".into();
                        a.unit_id = (100 + u).to_string();
                    } else {
                        a.unit_type = "APT".into();
                        a.unit_id = if u % 3 == 0 {
                            format!("{}{}", u / 3, ['A', 'B', 'C'][(u % 3) as usize])
                        } else {
                            u.to_string()
                        };
                    }
                    each(&a, county);
                    count += 1;
                    if count == rows {
                        return;
                    }
                }
            }
        }
    }
}

/// The header of a reference file (see [`crate::reference`]).
pub const HEADER: &str = "Add_Number,AddNum_Suf,St_PreDir,St_Name,St_PosTyp,St_PosDir,Unit,Post_City,County,State,Zip_Code,Plus_4";

/// Writes `rows` reference addresses as CSV; `progress` hears every 100,000.
pub fn write_csv(
    rows: u64,
    seed: u64,
    out: impl Write,
    progress: &dyn Fn(u64),
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    writeln!(out, "{HEADER}")?;
    let mut result = Ok(());
    let mut n = 0u64;
    for_each(rows, seed, |a, county| {
        if result.is_err() {
            return;
        }
        let unit = if a.unit_type.is_empty() {
            String::new()
        } else {
            format!("{} {}", a.unit_type, a.unit_id)
        };
        result = writeln!(
            out,
            "{},,{},{},{},{},{},{},{},{},{},{}",
            a.number,
            a.predir,
            a.name,
            a.suffix,
            a.postdir,
            unit,
            a.city,
            county,
            a.state,
            a.zip5,
            a.zip4
        );
        n += 1;
        if n.is_multiple_of(100_000) {
            progress(n);
        }
    });
    result?;
    out.flush()
}

/// Every city name the first `rows` addresses of `seed` use.
pub fn cities(rows: u64, seed: u64) -> HashSet<String> {
    let mut set = HashSet::new();
    for_each(rows, seed, |a, _| {
        if !set.contains(&a.city) {
            set.insert(a.city.clone());
        }
    });
    set
}

fn cased(word: &str, mode: u64) -> String {
    match mode {
        0 => word.to_owned(),
        1 => word.to_ascii_lowercase(),
        _ => {
            let lower = word.to_ascii_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => lower,
            }
        }
    }
}

/// `a` written the ways people write addresses (lower or mixed case, words
/// spelled out or abbreviated, with or without commas and periods, extra
/// spaces, `Apartment 4B` or `#4B`, the state's name spelled out), with the
/// true label of each word (upper case, as the parser reports words).
pub fn messy(a: &Address, rng: &mut Rng) -> (String, Vec<(String, Label)>) {
    let mode = rng.below(3);
    let mut text = String::new();
    let mut truth = Vec::new();
    let sep = |rng: &mut Rng| if rng.chance(10) { "   " } else { " " };
    let word = |text: &mut String,
                truth: &mut Vec<(String, Label)>,
                w: &str,
                label: Label,
                glue: bool,
                rng: &mut Rng| {
        if !text.is_empty() && !glue {
            text.push_str(sep(rng));
        }
        let period = !glue
            && w.len() <= 4
            && w.chars().all(|c| c.is_ascii_alphabetic())
            && matches!(
                label,
                Label::Suffix | Label::PreDirectional | Label::PostDirectional | Label::UnitType
            )
            && rng.chance(15);
        text.push_str(&cased(w, mode));
        if period {
            text.push('.');
        }
        truth.push((w.to_owned(), label));
    };
    word(
        &mut text,
        &mut truth,
        &a.number,
        Label::AddressNumber,
        false,
        rng,
    );
    let dir = |d: &str, rng: &mut Rng| -> String {
        if rng.chance(40) {
            pub28::directional_name(d).unwrap_or(d).to_owned()
        } else {
            d.to_owned()
        }
    };
    if !a.predir.is_empty() {
        let d = dir(&a.predir, rng);
        word(&mut text, &mut truth, &d, Label::PreDirectional, false, rng);
    }
    for w in a.name.split(' ') {
        word(&mut text, &mut truth, w, Label::StreetName, false, rng);
    }
    if !a.suffix.is_empty() {
        let spellings: Vec<&str> = pub28::suffix_spellings()
            .filter(|(_, std)| *std == a.suffix)
            .map(|(w, _)| w)
            .collect();
        let s = if rng.chance(50) {
            a.suffix.as_str()
        } else {
            rng.pick(&spellings)
        };
        word(&mut text, &mut truth, s, Label::Suffix, false, rng);
    }
    if !a.postdir.is_empty() {
        let d = dir(&a.postdir, rng);
        word(
            &mut text,
            &mut truth,
            &d,
            Label::PostDirectional,
            false,
            rng,
        );
    }
    if !a.unit_type.is_empty() {
        match rng.below(4) {
            0 => {
                word(&mut text, &mut truth, "#", Label::UnitType, false, rng);
                word(&mut text, &mut truth, &a.unit_id, Label::UnitId, true, rng);
            }
            1 => {
                let name = pub28::unit_name(&a.unit_type).unwrap_or(&a.unit_type);
                word(&mut text, &mut truth, name, Label::UnitType, false, rng);
                word(&mut text, &mut truth, &a.unit_id, Label::UnitId, false, rng);
            }
            _ => {
                word(
                    &mut text,
                    &mut truth,
                    &a.unit_type,
                    Label::UnitType,
                    false,
                    rng,
                );
                word(&mut text, &mut truth, &a.unit_id, Label::UnitId, false, rng);
            }
        }
    }
    if rng.chance(50) {
        text.push(',');
    }
    for w in a.city.split(' ') {
        word(&mut text, &mut truth, w, Label::City, false, rng);
    }
    if rng.chance(50) {
        text.push(',');
    }
    if rng.chance(30) {
        let name = pub28::state_name(&a.state).unwrap_or(&a.state);
        for w in name.split(' ') {
            word(&mut text, &mut truth, w, Label::State, false, rng);
        }
    } else {
        word(&mut text, &mut truth, &a.state, Label::State, false, rng);
    }
    word(&mut text, &mut truth, &a.zip5, Label::Zip5, false, rng);
    if !a.zip4.is_empty() && rng.chance(50) {
        if rng.chance(80) {
            text.push('-');
        }
        word(&mut text, &mut truth, &a.zip4, Label::Zip4, true, rng);
    }
    (text, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_set() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_csv(5_000, 7, &mut a, &|_| {}).unwrap();
        write_csv(5_000, 7, &mut b, &|_| {}).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        write_csv(5_000, 8, &mut c, &|_| {}).unwrap();
        assert_ne!(a, c);
        assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 5_001);
    }

    #[test]
    fn city_names_are_distinct() {
        let names: HashSet<String> = (0..5_000).map(city_name).collect();
        assert_eq!(names.len(), 5_000);
    }
}
