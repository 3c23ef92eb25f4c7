//! `payments`: what a citizen owes and pays, and the agency's books.
//!
//! Fee schedules are data ([`fees`]); a payment intent is paid at most once
//! through a card processor reached by an adapter ([`processor`]); every
//! money movement is booked in a double-entry ledger; refunds (full and
//! partial) go back through the processor; signed webhooks are verified
//! and applied once; receipts name the transaction, the time, the reason
//! and the payer; a daily reconciliation matches the ledger with the
//! processor's settlement file. Money is integer cents throughout.

pub mod app;
pub mod error;
pub mod fees;
pub mod grpc;
pub mod processor;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use app::{Payments, PaymentsConfig};
pub use error::Error;

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "payments";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "payments",
    sql: include_str!("../migrations/0001_payments.sql"),
}];

/// Opens the service's database (every commit synced: money) and applies
/// pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open_durable(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
