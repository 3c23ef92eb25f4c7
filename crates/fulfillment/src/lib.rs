//! `fulfillment`: card orders for renewed driver's licences.
//!
//! An order carries the card's AAMVA DL/ID data ([`aamva`]), sealed at rest,
//! and where the card goes (mail or pickup at an office). The [`Batcher`]
//! groups orders into batches for the card vendor ([`vendor::CardVendor`]),
//! sends them, and follows production to the mailbox; every status change
//! writes `fulfillment.OrderStatusChanged` in the same transaction, which
//! the renewal service follows for the citizen's timeline and refunds. The
//! citizen can print a temporary licence ([`pdf`]) with the card's PDF417
//! barcode ([`pdf417`]) at once.

pub mod aamva;
pub mod app;
pub mod batcher;
pub mod error;
pub mod grpc;
pub mod orders;
pub mod pdf;
pub mod pdf417;
pub mod store;
pub mod vendor;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use app::{Action, Config, Fulfillment, ImageFormat, OfficeDirectory};
pub use batcher::Batcher;
pub use error::Error;
pub use orders::{Delivery, NewOrder, Order, Status};

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "fulfillment";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "orders",
    sql: include_str!("../migrations/0001_orders.sql"),
}];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
