//! `renewal`: driver's licence renewal. This part holds the state's driver
//! records (personal fields encrypted at rest, found by blind index),
//! online-renewal eligibility as rules an agency edits in a TOML file, and
//! the synthetic driver generator behind `plaza dmv seed`.

pub mod application;
pub mod drivers;
pub mod eligibility;
pub mod error;
pub mod grpc;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use drivers::Drivers;
pub use error::Error;

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "renewal";

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "drivers",
        sql: include_str!("../migrations/0001_drivers.sql"),
    },
    Migration {
        version: 2,
        name: "applications",
        sql: include_str!("../migrations/0002_applications.sql"),
    },
    Migration {
        version: 3,
        name: "timeline_len",
        sql: include_str!("../migrations/0003_timeline_len.sql"),
    },
];

/// Opens the service's database, applies pending migrations, and rebuilds
/// any secondary index a bulk load left unbuilt (an interrupted seed).
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    let mut tx = db.begin().await?;
    for (_, sql) in drivers::store::INDEXES {
        sqlx::query(*sql).execute(&mut *tx).await?;
    }
    db.commit(tx).await?;
    Ok(db)
}
