//! The kernel's integration tests: storage, outbox and bus, sagas, cache,
//! idempotency, on SQLite always and on PostgreSQL / NATS / Redis when
//! `.ci/run` provides them (those tests are ignored otherwise, with the
//! reason).

mod cache;
mod lite;
mod outbox;
mod saga;
mod storage;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

/// A small world for tests to change: a component with its own tables.
pub const WORLD: &[Migration] = &[Migration {
    version: 1,
    name: "world",
    sql: "CREATE TABLE applied (id {{id}}, event_id TEXT NOT NULL, aggregate TEXT NOT NULL, seq BIGINT NOT NULL);
          CREATE TABLE holds (idem_key TEXT PRIMARY KEY, saga TEXT NOT NULL, kind TEXT NOT NULL);",
}];

/// Opens a fresh database with the kernel's tables and the test world.
pub async fn world(target: &StorageTarget) -> Db {
    let db = Db::open(target, "world").await.expect("open db");
    migrate::apply(&db, &[("kernel", migrate::KERNEL), ("world", WORLD)])
        .await
        .expect("migrate");
    db
}
