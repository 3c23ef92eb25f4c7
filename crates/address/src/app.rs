//! The address use cases. Handlers call these; nothing here knows gRPC.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use plaza_kernel::auth::Caller;
use plaza_kernel::db::Db;
use plaza_policy::{Policies, Resource};

use crate::error::Error;
use crate::parse::{self, Address, Parsed};
use crate::reference::{self, ReferenceSet, decode_points};
use crate::store;
use crate::validate::{Index, Validation};

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub streets: u64,
    pub addresses: u64,
}

/// The address application.
#[derive(Clone)]
pub struct Addresses {
    db: Db,
    policies: Policies,
    index: Arc<IndexCell>,
}

#[derive(Default)]
struct IndexCell {
    current: RwLock<Option<Arc<Index>>>,
    loading: tokio::sync::Mutex<()>,
}

impl Addresses {
    pub fn new(db: Db) -> Addresses {
        Addresses {
            db,
            policies: Policies::shipped(),
            index: Default::default(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn authorize(&self, caller: &Caller, action: &str) -> Result<(), Error> {
        self.policies
            .require(caller, action, &Resource::new("Address", "*"))
            .map_err(Error::Denied)
    }

    /// The in-memory index of streets, loaded on first use.
    pub async fn index(&self) -> Result<Arc<Index>, Error> {
        if let Some(i) = self.index.current.read().expect("index lock").clone() {
            return Ok(i);
        }
        let _guard = self.index.loading.lock().await;
        if let Some(i) = self.index.current.read().expect("index lock").clone() {
            return Ok(i);
        }
        let started = Instant::now();
        let index = Arc::new(Index::build(store::streets(&self.db).await?));
        tracing::info!(
            streets = index.streets(),
            addresses = index.addresses,
            ms = started.elapsed().as_millis() as u64,
            "address reference index loaded"
        );
        *self.index.current.write().expect("index lock") = Some(index.clone());
        Ok(index)
    }

    /// Forgets the in-memory index (the next validation reloads it), e.g.
    /// after another process imported a new reference set.
    pub fn reload(&self) {
        *self.index.current.write().expect("index lock") = None;
    }

    /// Labels every word of `text` (`address.parse`).
    pub async fn parse(&self, caller: &Caller, text: &str) -> Result<Parsed, Error> {
        self.authorize(caller, "address.parse")?;
        self.parse_known(text).await
    }

    /// Parses with the reference set's city names as the gazetteer.
    async fn parse_known(&self, text: &str) -> Result<Parsed, Error> {
        let index = self.index().await?;
        parse::parse_with(text, Some(&|c: &str| index.is_city(c)))
    }

    /// The standard form of `text` (`address.standardise`).
    pub async fn standardise(&self, caller: &Caller, text: &str) -> Result<Address, Error> {
        self.authorize(caller, "address.standardise")?;
        Ok(self.parse_known(text).await?.address)
    }

    /// Checks `text` against the reference set (`address.validate`).
    pub async fn validate(&self, caller: &Caller, text: &str) -> Result<Validation, Error> {
        self.authorize(caller, "address.validate")?;
        let index = self.index().await?;
        let parsed = parse::parse_with(text, Some(&|c: &str| index.is_city(c)))?.address;
        if parsed.zip5.is_empty() && parsed.city.is_empty() {
            return Err(Error::Incomplete("a ZIP code or a city"));
        }
        let points = |id: i64| {
            let found = index
                .packed_points(id)
                .and_then(decode_points)
                .ok_or_else(|| Error::Corrupt(format!("street {id}")));
            std::future::ready(found)
        };
        index.validate(parsed, points).await
    }

    /// Replaces the reference set with a checked file (`address.import`,
    /// administrators only), all or nothing. `progress` hears the number of
    /// streets written.
    pub async fn import(
        &self,
        caller: &Caller,
        set: &ReferenceSet,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, Error> {
        self.authorize(caller, "address.import")?;
        let mut tx = self.db.begin().await?;
        store::replace_all(&mut tx, &set.streets, progress).await?;
        self.db.commit(tx).await?;
        self.reload();
        Ok(ImportReport {
            streets: set.streets.len() as u64,
            addresses: set.addresses,
        })
    }

    /// Reads, checks and imports the reference file at `path`: what
    /// `plaza address import FILE.csv` calls. `progress` hears rows read,
    /// then streets written.
    pub async fn import_file(
        &self,
        caller: &Caller,
        path: &std::path::Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, Error> {
        self.authorize(caller, "address.import")?;
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            what: path.display().to_string(),
            source,
        })?;
        let set = reference::read(file, progress)?;
        self.import(caller, &set, progress).await
    }
}
