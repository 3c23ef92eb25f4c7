//! `offices`: the state's service locations — DMV offices, police licensing
//! units and card-pickup points — that fulfillment and appointments use.
//! Lists (filtered, paginated), single offices, nearest offices to a point
//! (cached, invalidated by the service's own `OfficeChanged` events), and a
//! validated, all-or-nothing CSV import.

pub mod app;
pub mod domain;
pub mod error;
pub mod generate;
pub mod grpc;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use plaza_kernel::bus::{Bus, Durability, Envelope, EventFilter, Handler, HandlerError};
use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};
use plaza_kernel::shutdown::Shutdown;

pub use app::Offices;
pub use error::Error;

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "offices";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "offices",
    sql: include_str!("../migrations/0001_offices.sql"),
}];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}

/// Drops cached answers whenever an office changes.
struct Invalidate(Offices);

#[async_trait]
impl Handler for Invalidate {
    async fn handle(&self, _ev: &Envelope) -> Result<(), HandlerError> {
        self.0.invalidate().await;
        Ok(())
    }
}

/// Subscribes the cache invalidation to the service's own events. Every
/// process hosting `offices` keeps its own in-memory snapshot, so each gets
/// its own consumer (`instance`).
pub async fn subscribe_invalidation(
    app: &Offices,
    bus: &Arc<dyn Bus>,
    instance: &str,
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    bus.subscribe(
        &format!("offices-cache-{instance}"),
        EventFilter::event(app::OFFICE_CHANGED),
        Durability::PerProcess,
        Arc::new(Invalidate(app.clone())),
        shutdown,
    )
    .await
}
