//! Validation against the reference set.
//!
//! The in-memory [`Index`] holds every street by ZIP code and by city, with
//! its delivery points packed as stored (about 12 bytes an address). An address is checked by blocking: the candidates
//! are the streets of its ZIP code and of its city (a misspelt city is
//! found among the state's cities by edit distance and Soundex); each
//! candidate is scored by how far its name is from the input's
//! (Damerau–Levenshtein, or a shared Soundex key) and how its suffix,
//! directionals, ZIP and city differ. Only the best few candidates' points
//! are unpacked, to find the house number and unit.

use std::collections::{HashMap, HashSet};

use crate::parse::Address;
use crate::reference::Point;
use crate::store::StreetRow;

/// What validation concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The address is in the reference set as given.
    Exact,
    /// The address is in the reference set once the listed changes are made.
    Corrected,
    /// No delivery point matches; see the suggestions.
    NoMatch,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Exact => "exact",
            Outcome::Corrected => "corrected",
            Outcome::NoMatch => "no_match",
        }
    }
}

/// The part of an address a correction changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    StreetName,
    PreDirectional,
    Suffix,
    PostDirectional,
    UnitType,
    City,
    State,
    Zip5,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::StreetName => "street_name",
            Field::PreDirectional => "pre_directional",
            Field::Suffix => "suffix",
            Field::PostDirectional => "post_directional",
            Field::UnitType => "unit_type",
            Field::City => "city",
            Field::State => "state",
            Field::Zip5 => "zip5",
        }
    }
}

/// How a part changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It was missing.
    Added,
    /// It was wrong or misspelt.
    Corrected,
    /// It should not be there.
    Removed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Corrected => "corrected",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One correction made to the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: Field,
    pub kind: ChangeKind,
    pub from: String,
    pub to: String,
}

/// The answer to a validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub outcome: Outcome,
    /// Whether mail reaches the address: an exact or corrected match.
    pub deliverable: bool,
    /// The input, standardised.
    pub input: Address,
    /// The matched address, standardised, with its ZIP+4.
    pub matched: Option<Address>,
    pub county: Option<String>,
    pub changes: Vec<Change>,
    /// For no match: the closest addresses in the reference set.
    pub suggestions: Vec<Address>,
}

struct IndexedStreet {
    row: StreetRow,
    soundex: [u8; 4],
}

/// Every street of the reference set, by ZIP code and by city.
pub struct Index {
    streets: Vec<IndexedStreet>,
    by_zip: HashMap<String, Vec<u32>>,
    by_city: HashMap<(String, String), Vec<u32>>,
    /// City names by state.
    cities: HashMap<String, Vec<String>>,
    city_names: HashSet<String>,
    by_id: HashMap<i64, u32>,
    pub addresses: u64,
}

impl Index {
    pub fn build(rows: Vec<StreetRow>) -> Index {
        let mut index = Index {
            streets: Vec::with_capacity(rows.len()),
            by_zip: HashMap::new(),
            by_city: HashMap::new(),
            cities: HashMap::new(),
            city_names: HashSet::new(),
            by_id: HashMap::new(),
            addresses: 0,
        };
        for row in rows {
            let i = index.streets.len() as u32;
            index.addresses += row.point_count as u64;
            index.by_id.insert(row.id, i);
            index.by_zip.entry(row.zip5.clone()).or_default().push(i);
            let key = (row.state.clone(), row.city.clone());
            if !index.by_city.contains_key(&key) {
                index
                    .cities
                    .entry(row.state.clone())
                    .or_default()
                    .push(row.city.clone());
                index.city_names.insert(row.city.clone());
            }
            index.by_city.entry(key).or_default().push(i);
            index.streets.push(IndexedStreet {
                soundex: soundex(&row.name),
                row,
            });
        }
        index
    }

    pub fn streets(&self) -> usize {
        self.streets.len()
    }

    /// The packed points of the street with this id.
    pub fn packed_points(&self, id: i64) -> Option<&str> {
        let i = *self.by_id.get(&id)?;
        Some(&self.streets[i as usize].row.points)
    }

    pub fn is_city(&self, name: &str) -> bool {
        self.city_names.contains(name)
    }

    /// Cities of `state` (every state when empty) whose name is `city` or
    /// close to it.
    fn cities_like(&self, state: &str, city: &str) -> Vec<(String, String)> {
        let states = self
            .cities
            .keys()
            .filter(|st| state.is_empty() || st.as_str() == state);
        let exact: Vec<(String, String)> = states
            .clone()
            .map(|st| (st.clone(), city.to_owned()))
            .filter(|key| self.by_city.contains_key(key))
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        let mut close = Vec::new();
        let key = soundex(city);
        for st in states {
            for name in &self.cities[st] {
                if name.len().abs_diff(city.len()) <= 2 {
                    let d = strsim::damerau_levenshtein(name, city);
                    if d <= typos_allowed(city.len())
                        || (d <= typos_allowed(city.len()) + 1 && soundex(name) == key)
                    {
                        close.push((st.clone(), name.clone()));
                    }
                }
            }
        }
        close
    }
}

fn typos_allowed(len: usize) -> usize {
    match len {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    }
}

/// The American Soundex code of the letters of `s`.
pub fn soundex(s: &str) -> [u8; 4] {
    let code = |c: u8| match c {
        b'B' | b'F' | b'P' | b'V' => b'1',
        b'C' | b'G' | b'J' | b'K' | b'Q' | b'S' | b'X' | b'Z' => b'2',
        b'D' | b'T' => b'3',
        b'L' => b'4',
        b'M' | b'N' => b'5',
        b'R' => b'6',
        b'H' | b'W' => b'-',
        _ => b'0',
    };
    let mut out = [b'0'; 4];
    let mut letters = s
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase());
    let Some(first) = letters.next() else {
        return out;
    };
    out[0] = first;
    let mut last = code(first);
    let mut n = 1;
    for c in letters {
        let d = code(c);
        if d == b'-' {
            continue;
        }
        if d != b'0' && d != last {
            out[n] = d;
            n += 1;
            if n == 4 {
                break;
            }
        }
        last = d;
    }
    out
}

/// A candidate street and what differs.
struct Candidate {
    street: u32,
    name_distance: usize,
    cost: usize,
    /// Scored against the [`alternative`] reading of the input.
    alternative: bool,
}

/// The input read with its suffix as the last word of the name (`MILL
/// CREEK` written without its suffix parses as `MILL CRK`), and a leading
/// directional word as the pre-directional (`W PARK` → `W` + `PARK`).
fn alternative(a: &Address) -> Option<Address> {
    if a.suffix.is_empty() {
        return None;
    }
    let mut alt = a.clone();
    alt.name = format!("{} {}", a.name, crate::pub28::suffix_name(&a.suffix)?);
    alt.suffix.clear();
    if alt.predir.is_empty()
        && let Some((first, rest)) = alt.name.split_once(' ')
        && let Some(dir) = crate::pub28::directional(first)
    {
        alt.predir = dir.to_owned();
        alt.name = rest.to_owned();
    }
    Some(alt)
}

/// House number `123`, `123A`, `123 1/2` as number and suffix.
fn split_house(number: &str) -> Option<(u32, String)> {
    let digits_end = number
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(number.len());
    let n = number[..digits_end].parse().ok()?;
    Some((n, number[digits_end..].trim().to_owned()))
}

fn part_cost(input: &str, reference: &str) -> usize {
    match (input.is_empty(), reference.is_empty()) {
        _ if input == reference => 0,
        (true, false) => 1,
        _ => 2,
    }
}

fn change(changes: &mut Vec<Change>, field: Field, input: &str, reference: &str) {
    if input == reference {
        return;
    }
    let kind = if input.is_empty() {
        ChangeKind::Added
    } else if reference.is_empty() {
        ChangeKind::Removed
    } else {
        ChangeKind::Corrected
    };
    changes.push(Change {
        field,
        kind,
        from: input.to_owned(),
        to: reference.to_owned(),
    });
}

/// How many candidates' points are read before giving up.
const CANDIDATES_READ: usize = 6;
const SUGGESTIONS: usize = 5;

impl Index {
    /// Candidate streets for `a`, best first.
    fn candidates(&self, a: &Address) -> Vec<Candidate> {
        let mut ids: Vec<u32> = Vec::new();
        if let Some(list) = self.by_zip.get(&a.zip5) {
            ids.extend(list);
        }
        if !a.city.is_empty() {
            for key in self.cities_like(&a.state, &a.city) {
                if let Some(list) = self.by_city.get(&key) {
                    ids.extend(list);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let input_key = soundex(&a.name);
        let allowed = typos_allowed(a.name.len());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let s = &self.streets[id as usize];
            let r = &s.row;
            let name_distance = if r.name == a.name {
                0
            } else if r.name.len().abs_diff(a.name.len()) > allowed + 1 {
                usize::MAX
            } else {
                let d = strsim::damerau_levenshtein(&r.name, &a.name);
                if d <= allowed || (d <= allowed + 1 && s.soundex == input_key) {
                    d
                } else {
                    usize::MAX - d
                }
            };
            let mut cost = part_cost(&a.suffix, &r.suffix)
                + part_cost(&a.predir, &r.predir)
                + part_cost(&a.postdir, &r.postdir);
            if !a.zip5.is_empty() && a.zip5 != r.zip5 {
                cost += 1;
            }
            if !a.city.is_empty() && a.city != r.city {
                cost += 1;
            }
            if !a.state.is_empty() && a.state != r.state {
                cost += 1;
            }
            out.push(Candidate {
                street: id,
                name_distance,
                cost: cost + name_distance.min(1_000) * 4,
                alternative: false,
            });
        }
        out.sort_by_key(|c| (c.cost, c.street));
        out
    }

    fn address(&self, street: u32, p: &Point) -> Address {
        let r = &self.streets[street as usize].row;
        Address {
            number: p.house(),
            predir: r.predir.clone(),
            name: r.name.clone(),
            suffix: r.suffix.clone(),
            postdir: r.postdir.clone(),
            unit_type: p.unit_type.clone(),
            unit_id: p.unit_id.clone(),
            city: r.city.clone(),
            state: r.state.clone(),
            zip5: r.zip5.clone(),
            zip4: p.zip4.clone(),
        }
    }

    /// Validates a parsed address; `points` reads a street's delivery
    /// points by its id.
    pub async fn validate<F, Fut, E>(&self, input: Address, mut points: F) -> Result<Validation, E>
    where
        F: FnMut(i64) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Point>, E>>,
    {
        let alt = alternative(&input);
        let mut candidates = self.candidates(&input);
        if let Some(alt) = &alt {
            let seen: HashSet<u32> = candidates
                .iter()
                .filter(|c| c.name_distance == 0)
                .map(|c| c.street)
                .collect();
            candidates.extend(self.candidates(alt).into_iter().filter_map(|mut c| {
                c.cost += 1;
                c.alternative = true;
                (!seen.contains(&c.street)).then_some(c)
            }));
            candidates.sort_by_key(|c| (c.cost, c.street));
        }
        let house = split_house(&input.number);
        let mut suggestions: Vec<Address> = Vec::new();
        let plausible = candidates
            .iter()
            .filter(|c| c.name_distance < 1_000)
            .take(CANDIDATES_READ);
        for c in plausible {
            let given = match (&alt, c.alternative) {
                (Some(alt), true) => alt,
                _ => &input,
            };
            let id = self.streets[c.street as usize].row.id;
            let pts = points(id).await?;
            let Some((number, number_suffix)) = &house else {
                break;
            };
            let at: Vec<&Point> = pts
                .iter()
                .filter(|p| p.number == *number && p.number_suffix == *number_suffix)
                .collect();
            let hit = if input.unit_id.is_empty() {
                at.iter().find(|p| p.unit_id.is_empty())
            } else {
                at.iter().find(|p| {
                    p.unit_id == input.unit_id
                        && (p.unit_type == input.unit_type || input.unit_type == "#")
                })
            };
            if let Some(p) = hit {
                let matched = self.address(c.street, p);
                let mut changes = Vec::new();
                change(
                    &mut changes,
                    Field::PreDirectional,
                    &given.predir,
                    &matched.predir,
                );
                change(&mut changes, Field::StreetName, &given.name, &matched.name);
                change(&mut changes, Field::Suffix, &given.suffix, &matched.suffix);
                change(
                    &mut changes,
                    Field::PostDirectional,
                    &given.postdir,
                    &matched.postdir,
                );
                if !input.unit_type.is_empty() {
                    change(
                        &mut changes,
                        Field::UnitType,
                        &given.unit_type,
                        &matched.unit_type,
                    );
                }
                change(&mut changes, Field::City, &given.city, &matched.city);
                change(&mut changes, Field::State, &given.state, &matched.state);
                change(&mut changes, Field::Zip5, &given.zip5, &matched.zip5);
                let outcome = if changes.is_empty() {
                    Outcome::Exact
                } else {
                    Outcome::Corrected
                };
                return Ok(Validation {
                    outcome,
                    deliverable: true,
                    county: Some(self.streets[c.street as usize].row.county.clone()),
                    input,
                    matched: Some(matched),
                    changes,
                    suggestions: Vec::new(),
                });
            }
            // Not here: the building's units, or the nearest numbers.
            if !at.is_empty() {
                suggestions.extend(at.iter().take(3).map(|p| self.address(c.street, p)));
            } else if let Some(p) = pts
                .iter()
                .filter(|p| p.unit_id.is_empty())
                .min_by_key(|p| p.number.abs_diff(*number))
            {
                suggestions.push(self.address(c.street, p));
            }
        }
        if suggestions.is_empty() {
            // Nothing plausible: the streets closest in name.
            let mut near: Vec<&Candidate> = candidates.iter().collect();
            // Each distance once (not once per comparison).
            near.sort_by_cached_key(|c| {
                let r = &self.streets[c.street as usize].row;
                (strsim::damerau_levenshtein(&r.name, &input.name), c.street)
            });
            for c in near.into_iter().take(3) {
                let id = self.streets[c.street as usize].row.id;
                let pts = points(id).await?;
                let target = house.as_ref().map(|h| h.0).unwrap_or(0);
                if let Some(p) = pts.iter().min_by_key(|p| p.number.abs_diff(target)) {
                    suggestions.push(self.address(c.street, p));
                }
            }
        }
        suggestions.dedup();
        suggestions.truncate(SUGGESTIONS);
        Ok(Validation {
            outcome: Outcome::NoMatch,
            deliverable: false,
            input,
            matched: None,
            county: None,
            changes: Vec::new(),
            suggestions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soundex_codes() {
        assert_eq!(&soundex("ROBERT"), b"R163");
        assert_eq!(&soundex("RUPERT"), b"R163");
        assert_eq!(&soundex("ASHCRAFT"), b"A261");
        assert_eq!(&soundex("TYMCZAK"), b"T522");
        assert_eq!(&soundex("PFISTER"), b"P236");
        assert_eq!(&soundex("LEE"), b"L000");
    }
}
