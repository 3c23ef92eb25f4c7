//! `vault`: personal data held as tokens. Other services store tokens, not
//! SSNs, birth dates, names, addresses or licence numbers; the vault holds
//! the values, each encrypted under a data key of its own, wrapped by a
//! key-encryption key that lives outside the database and rotates online.

pub mod error;
pub mod grpc;
pub mod keys;
pub mod vault;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use error::Error;
pub use keys::{FileKeyring, KeyManager};
pub use vault::{Access, Kind, MAX_BATCH, Rewrap, Vault};

pub const SERVICE: &str = "vault";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "vault",
    sql: include_str!("../migrations/0001_vault.sql"),
}];

/// Opens the vault database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
