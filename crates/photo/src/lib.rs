//! `photo`: licence photos. A photo is checked against the card's rules with
//! measurable checks (one face, head size, eye line, eye distance, centring,
//! uprightness, plain light background, exposure, contrast, sharpness,
//! colour), each giving its value, threshold, reason code and advice. An
//! accepted photo is normalised to the card's 600×750 (metadata dropped by
//! re-encoding from pixels) and stored once, encrypted, under a keyed hash
//! of its content. Decoding, detection and measuring run on a bounded pool
//! of worker threads that answers `photo.busy` when full.
//!
//! Bad input never panics: files are refused by size, by type (magic bytes),
//! and by the dimensions in their header before any pixel is decoded.

pub mod app;
pub mod checks;
pub mod decode;
pub mod error;
pub mod face;
pub mod grpc;
pub mod normalise;
pub mod pool;
pub mod resample;
pub mod store;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use app::{Config, Photos, StoredPhoto, Submitted};
pub use checks::{Check, Report, Thresholds};
pub use decode::Limits;
pub use error::Error;
pub use grpc::GrpcPhotos;

/// The service's name: its database, its config key.
pub const SERVICE: &str = "photo";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "photos",
    sql: include_str!("../migrations/0001_photos.sql"),
}];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
