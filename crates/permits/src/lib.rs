//! `permits`: firearm permit types as data an agency edits, checked whole
//! before they are used; the federal prohibitors every state adds its own
//! disqualifiers to; the statutory calendar (federal holidays, business
//! days, decision deadlines, NICS timings); and the application workflow
//! with its statutory clocks, officers' queues and continuous evaluation.
//!
//! The shipped catalogue (`catalogue/*.toml`) is SAMPLE DATA shaped like
//! real permits. It is not legal advice: an agency replaces it with its own.

pub mod application;
pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod federal;
pub mod grpc;
pub mod lint;
pub mod types;

pub use calendar::{BusinessCalendar, Date, LocalTime};
pub use catalogue::{Catalogue, TypeSet};
pub use error::Error;
pub use federal::FederalProhibitor;
pub use lint::{Code, LintError, Source};
pub use types::{Jurisdiction, Kind, PermitType};

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "permits";

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "applications",
        sql: include_str!("../migrations/0001_applications.sql"),
    },
    Migration {
        version: 2,
        name: "subject_tokens",
        sql: include_str!("../migrations/0002_subject_tokens.sql"),
    },
];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
