//! The catalogue: every permit type, checked whole, and the holder that
//! keeps one in force while a new one is tried.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::Error;
use crate::lint::{self, Source};
use crate::types::{Jurisdiction, PermitType};

/// The catalogue Plaza ships (SAMPLE DATA, not legal advice; see
/// `catalogue/README.md`), compiled in so it is there wherever Plaza runs.
pub const SHIPPED: &[(&str, &str)] = &[
    ("catalogue/az.toml", include_str!("../catalogue/az.toml")),
    ("catalogue/ca.toml", include_str!("../catalogue/ca.toml")),
    ("catalogue/co.toml", include_str!("../catalogue/co.toml")),
    ("catalogue/ct.toml", include_str!("../catalogue/ct.toml")),
    ("catalogue/fl.toml", include_str!("../catalogue/fl.toml")),
    ("catalogue/ga.toml", include_str!("../catalogue/ga.toml")),
    ("catalogue/hi.toml", include_str!("../catalogue/hi.toml")),
    ("catalogue/il.toml", include_str!("../catalogue/il.toml")),
    ("catalogue/ma.toml", include_str!("../catalogue/ma.toml")),
    ("catalogue/md.toml", include_str!("../catalogue/md.toml")),
    ("catalogue/mi.toml", include_str!("../catalogue/mi.toml")),
    ("catalogue/mn.toml", include_str!("../catalogue/mn.toml")),
    ("catalogue/nc.toml", include_str!("../catalogue/nc.toml")),
    ("catalogue/nj.toml", include_str!("../catalogue/nj.toml")),
    ("catalogue/ny.toml", include_str!("../catalogue/ny.toml")),
    ("catalogue/or.toml", include_str!("../catalogue/or.toml")),
    ("catalogue/pa.toml", include_str!("../catalogue/pa.toml")),
    ("catalogue/tx.toml", include_str!("../catalogue/tx.toml")),
    ("catalogue/us.toml", include_str!("../catalogue/us.toml")),
    ("catalogue/va.toml", include_str!("../catalogue/va.toml")),
    ("catalogue/wa.toml", include_str!("../catalogue/wa.toml")),
];

/// The shipped catalogue's files.
pub fn shipped_sources() -> Vec<Source> {
    SHIPPED
        .iter()
        .map(|(name, text)| Source::new(*name, *text))
        .collect()
}

/// A checked set of permit types.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSet {
    types: Vec<PermitType>,
    by_id: HashMap<String, usize>,
    sources: Vec<String>,
}

impl TypeSet {
    /// Checks the files together; refuses them all on any mistake.
    pub fn from_sources(sources: &[Source]) -> Result<TypeSet, Error> {
        let types = lint::lint(sources).map_err(Error::Catalogue)?;
        let by_id = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        Ok(TypeSet {
            types,
            by_id,
            sources: sources.iter().map(|s| s.name.clone()).collect(),
        })
    }

    /// The catalogue file at `path`, or the `*.toml` files of the folder.
    pub fn read(path: &Path) -> Result<TypeSet, Error> {
        let sources = lint::read_sources(path).map_err(Error::Catalogue)?;
        TypeSet::from_sources(&sources)
    }

    /// The shipped catalogue.
    pub fn shipped() -> TypeSet {
        TypeSet::from_sources(&shipped_sources())
            .expect("the shipped catalogue lints clean (tested)")
    }

    /// Every type, in catalogue order: files by name, then as written.
    pub fn types(&self) -> &[PermitType] {
        &self.types
    }

    pub fn get(&self, id: &str) -> Option<&PermitType> {
        self.by_id.get(id).map(|&i| &self.types[i])
    }

    /// The type with this id, or [`Error::UnknownType`].
    pub fn require(&self, id: &str) -> Result<&PermitType, Error> {
        self.get(id)
            .ok_or_else(|| Error::UnknownType(id.chars().take(64).collect()))
    }

    pub fn of_jurisdiction(&self, j: Jurisdiction) -> impl Iterator<Item = &PermitType> {
        self.types.iter().filter(move |t| t.jurisdiction == j)
    }

    /// The jurisdictions with at least one type, in code order.
    pub fn jurisdictions(&self) -> Vec<Jurisdiction> {
        let mut js: Vec<_> = self.types.iter().map(|t| t.jurisdiction).collect();
        js.sort_unstable();
        js.dedup();
        js
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The files it came from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

/// The catalogue in force. A new one replaces it only when it is valid
/// whole; otherwise the one in force stays.
#[derive(Debug)]
pub struct Catalogue {
    current: RwLock<Arc<TypeSet>>,
}

impl Catalogue {
    pub fn new(set: TypeSet) -> Catalogue {
        Catalogue {
            current: RwLock::new(Arc::new(set)),
        }
    }

    pub fn shipped() -> Catalogue {
        Catalogue::new(TypeSet::shipped())
    }

    /// The catalogue at `path` when given, the shipped one otherwise.
    pub fn load(path: Option<&Path>) -> Result<Catalogue, Error> {
        match path {
            Some(p) => Ok(Catalogue::new(TypeSet::read(p)?)),
            None => Ok(Catalogue::shipped()),
        }
    }

    /// Replaces the catalogue with the one at `path`, if it is valid; the
    /// new set on success.
    pub fn reload(&self, path: &Path) -> Result<Arc<TypeSet>, Error> {
        let set = TypeSet::read(path)?;
        Ok(self.install(set))
    }

    /// Replaces the catalogue with these files, if they are valid.
    pub fn replace(&self, sources: &[Source]) -> Result<Arc<TypeSet>, Error> {
        let set = TypeSet::from_sources(sources)?;
        Ok(self.install(set))
    }

    fn install(&self, set: TypeSet) -> Arc<TypeSet> {
        let set = Arc::new(set);
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        *guard = set.clone();
        set
    }

    /// The catalogue in force now.
    pub fn current(&self) -> Arc<TypeSet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
