//! `address`: US postal addresses. Parses and standardises one-line
//! addresses the USPS Publication 28 way, labelling every word; validates
//! them against a reference address set imported from a
//! National-Address-Database-like CSV file ([`reference`] documents the
//! columns), answering an exact match with ZIP+4, a corrected match with
//! the changes made, or no match with the closest suggestions.
//!
//! Reference addresses are public data: anyone may parse, standardise and
//! validate. Importing is an administrator's action. The addresses people
//! send to be checked are neither stored nor logged.

pub mod app;
pub mod error;
pub mod generate;
pub mod grpc;
pub mod parse;
pub mod pub28;
pub mod reference;
pub mod store;
pub mod validate;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use app::{Addresses, ImportReport};
pub use error::Error;
pub use parse::{Address, Label, Parsed, parse, standardise};
pub use validate::{Change, ChangeKind, Field, Outcome, Validation};

/// The service's name: its database, its config key.
pub const SERVICE: &str = "address";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "address",
    sql: include_str!("../migrations/0001_address.sql"),
}];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
