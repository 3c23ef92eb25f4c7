//! `audit`: the tamper-evident audit log. Every access to a person's record
//! and every change becomes an entry; entries are the leaves of an RFC 6962
//! Merkle tree whose heads are signed (Ed25519), so anyone holding a signed
//! head can check with standard tools that an entry is in the log
//! (inclusion proof) and that the log only ever grew (consistency proof).

pub mod detect;
pub mod error;
pub mod grpc;
pub mod log;
pub mod merkle;
pub mod trail;
pub mod verify;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use error::Error;
pub use log::{AuditEvent, AuditLog, HeadSigner, TreeHead};

pub const SERVICE: &str = "audit";

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit",
        sql: include_str!("../migrations/0001_audit.sql"),
    },
    Migration {
        version: 2,
        name: "subjects",
        sql: include_str!("../migrations/0002_subjects.sql"),
    },
];

/// Opens the audit database (every commit synced to disk) and applies
/// pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open_durable(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
