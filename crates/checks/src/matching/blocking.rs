//! Blocking: the keys a record is filed under and a query looks up, and the
//! index from key to records.
//!
//! | key | finds a record despite |
//! | --- | --- |
//! | phonetic surname + birth year | a first-name typo or nickname, a day/month swap, a typo in month or day |
//! | phonetic surname + birth month and day | a typo or transposition in the year |
//! | phonetic first name (and formal name) + birth date | a surname typo or alias |
//! | phonetic first name (and formal name) + birth month and day | a surname typo or alias with a year typo |
//! | birth date + first initial (and formal initial) | a surname typo or alias that changes both phonetic keys |
//! | each identifier | anything in the names and date |
//! | each other surname listed + birth year, + birth month and day | a maiden or married name |
//! | phonetic surname + phonetic first name, for records with no birth date | a missing date |
//!
//! A query also looks up the name keys with its first and last names
//! swapped, so that a record filed as `SMITH JOHN` is found for
//! `JOHN SMITH`. A query without a birth date looks up its names alone.
//! A filler SSN (`123-45-6789`, area 000, ...) is no key: it is read as
//! missing ([`super::normalise_ssn`]), so the records that share one do not
//! form a block.
//!
//! Keys are 64-bit hashes of their parts; two keys that collide only put an
//! extra record up for comparison, which scoring then rejects.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{Date, Name, Prepared, nicknames};

/// A blocking key (a hash of the key's kind and parts).
pub type BlockKey = u64;

#[derive(Clone, Copy)]
enum Kind {
    SurnameYear = 1,
    SurnameMonthDay = 2,
    FirstDob = 3,
    FirstMonthDay = 10,
    DobInitial = 4,
    Ssn = 5,
    StateId = 6,
    Fbi = 7,
    /// Names of a record with no birth date.
    NamesUndated = 8,
    /// Names of every record: looked up only by queries without a date.
    Names = 9,
}

/// FNV-1a over the kind and the parts, with a separator between parts.
fn key(kind: Kind, parts: &[&[u8]]) -> BlockKey {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ kind as u64;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn dob_bytes(d: Date) -> [u8; 4] {
    let y = d.year.to_le_bytes();
    [y[0], y[1], d.month, d.day]
}

/// The phonetic codes a first name stands for: its own and, for a
/// nickname, its formal names'.
fn first_codes(name: &Name) -> Vec<Box<str>> {
    let mut codes = vec![name.nysiis.clone()];
    for &g in name.groups {
        let code: Box<str> = super::phonetic::nysiis(nicknames::formal(g)).into();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

fn initials(name: &Name) -> Vec<u8> {
    let mut out = vec![name.text.as_bytes()[0]];
    for &g in name.groups {
        let i = nicknames::formal(g).as_bytes()[0];
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The name and date keys for one reading of the names.
fn name_keys(
    first: Option<&Name>,
    last: Option<&Name>,
    dob: Option<Date>,
    out: &mut Vec<BlockKey>,
) {
    if let (Some(last), Some(d)) = (last, dob) {
        let code = last.nysiis.as_bytes();
        out.push(key(Kind::SurnameYear, &[code, &d.year.to_le_bytes()]));
        out.push(key(Kind::SurnameMonthDay, &[code, &[d.month, d.day]]));
    }
    if let (Some(first), Some(d)) = (first, dob) {
        let date = dob_bytes(d);
        for code in first_codes(first) {
            out.push(key(Kind::FirstDob, &[code.as_bytes(), &date]));
            out.push(key(
                Kind::FirstMonthDay,
                &[code.as_bytes(), &[d.month, d.day]],
            ));
        }
        for initial in initials(first) {
            out.push(key(Kind::DobInitial, &[&date, &[initial]]));
        }
    }
}

fn names_only(kind: Kind, first: Option<&Name>, last: Option<&Name>, out: &mut Vec<BlockKey>) {
    if let (Some(first), Some(last)) = (first, last) {
        for code in first_codes(first) {
            out.push(key(kind, &[last.nysiis.as_bytes(), code.as_bytes()]));
        }
    }
}

fn identifier_keys(p: &Prepared, out: &mut Vec<BlockKey>) {
    for (kind, id) in [
        (Kind::Ssn, &p.ssn),
        (Kind::StateId, &p.state_id),
        (Kind::Fbi, &p.fbi),
    ] {
        if let Some(id) = id {
            out.push(key(kind, &[id.as_bytes()]));
        }
    }
}

/// Surname keys under each other surname listed.
fn alias_keys(p: &Prepared, out: &mut Vec<BlockKey>) {
    for alias in &p.aliases {
        name_keys(None, Some(alias), p.dob, out);
    }
}

/// The keys a record is filed under.
pub(crate) fn record_keys(p: &Prepared) -> Vec<BlockKey> {
    let mut out = Vec::with_capacity(10);
    name_keys(p.first.as_ref(), p.last.as_ref(), p.dob, &mut out);
    alias_keys(p, &mut out);
    identifier_keys(p, &mut out);
    names_only(Kind::Names, p.first.as_ref(), p.last.as_ref(), &mut out);
    if p.dob.is_none() {
        names_only(
            Kind::NamesUndated,
            p.first.as_ref(),
            p.last.as_ref(),
            &mut out,
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The keys a query looks up: its names both ways round.
pub(crate) fn query_keys(p: &Prepared) -> Vec<BlockKey> {
    let mut out = Vec::with_capacity(24);
    let (first, last) = (p.first.as_ref(), p.last.as_ref());
    name_keys(first, last, p.dob, &mut out);
    name_keys(last, first, p.dob, &mut out);
    alias_keys(p, &mut out);
    identifier_keys(p, &mut out);
    names_only(Kind::NamesUndated, first, last, &mut out);
    names_only(Kind::NamesUndated, last, first, &mut out);
    if p.dob.is_none() {
        names_only(Kind::Names, first, last, &mut out);
        names_only(Kind::Names, last, first, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Keys are already hashes: the map only needs to spread them.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
}

/// From blocking key to the positions of the records filed under it. A
/// hash map: a lookup costs the same at a thousand records or ten million.
#[derive(Debug, Default)]
pub struct BlockIndex {
    map: HashMap<BlockKey, Vec<u32>, BuildHasherDefault<KeyHasher>>,
    entries: usize,
}

impl BlockIndex {
    pub fn insert(&mut self, key: BlockKey, position: u32) {
        self.map.entry(key).or_default().push(position);
        self.entries += 1;
    }

    /// The positions filed under `key` (none when it is unknown).
    pub fn get(&self, key: BlockKey) -> &[u32] {
        self.map.get(&key).map_or(&[], Vec::as_slice)
    }

    /// How many distinct keys the index holds.
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// How many (key, record) entries the index holds.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// The size of the largest block.
    pub fn largest_block(&self) -> usize {
        self.map.values().map(Vec::len).max().unwrap_or(0)
    }
}
