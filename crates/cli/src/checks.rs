//! The checks service as `plaza serve` hosts it: its database, the record
//! sources it learns from `checks.sources_url`, its consumer of the permits
//! service's requests and the workers that run them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use plaza_checks::service::grpc::GrpcChecks;
use plaza_checks::service::{Checks, Peers};
use plaza_checks::sources::Registry;
use plaza_checks::{Checker, CheckerConfig};
use plaza_contracts::checks::v1::checks_service_server::ChecksServiceServer;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::db::Db;
use plaza_kernel::shutdown::Shutdown;
use plaza_permits::Catalogue;
use tokio::task::JoinSet;

use crate::renewal::Around;

pub type Server = ChecksServiceServer<GrpcChecks>;

/// How often the workers look for leases that ran out and answers still to
/// be told, besides being woken by each request.
const TICK: Duration = Duration::from_secs(1);

/// Builds the checks service on `db` (migrated), subscribes it to check
/// requests and starts its workers and the loading of the record sources.
pub async fn host(
    around: &Around<'_>,
    db: Db,
    tasks: &mut JoinSet<()>,
    shutdown: Shutdown,
) -> anyhow::Result<Server> {
    let config = around.config;
    let key = crate::renewal::data_key(config, plaza_checks::service::SERVICE)?;
    let catalogue = Catalogue::load(config.permits_catalogue_dir.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("permits.catalogue_dir (the checks service cites its disqualifiers)")?;
    let mut policy = config.client.clone();
    policy.tls = around.tls.clone();
    let peers = Peers::connect(
        &(around.endpoint)("vault")?,
        &(around.endpoint)("permits")?,
        &policy,
        around.seal.clone(),
    )
    .context("checks' clients")?;
    let app = Checks::new(
        db,
        key,
        peers,
        Arc::new(catalogue),
        Arc::new(SystemClock),
        config.checks_concurrency as usize,
    )
    .with_notice_secret(&config.checks_notice_secret)
    .with_calendar(
        plaza_permits::BusinessCalendar::federal()
            .in_local_time(crate::permits::local_time(config)?),
    );
    app.subscribe(around.bus, shutdown.clone())
        .await
        .context("subscribing to check requests")?;

    let (loader, url) = (app.clone(), config.checks_sources_url.clone());
    let timeout = Duration::from_millis(config.checks_source_timeout_ms);
    let mut s = shutdown.clone();
    tasks.spawn(async move {
        let mut wait = Duration::from_secs(1);
        loop {
            match Registry::fetch(&url).await {
                Ok(registry) => {
                    tracing::info!(sources = registry.len(), url, "checks: record sources loaded");
                    let checker = Checker::new(
                        registry,
                        CheckerConfig {
                            timeout,
                            ..CheckerConfig::default()
                        },
                    );
                    loader.set_checker(Arc::new(checker));
                    return;
                }
                Err(e) => {
                    tracing::warn!(url, error = %e, retry_in = ?wait, "checks: record sources not reachable; checks wait");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = s.wait() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    });
    let worker = app.clone();
    tasks.spawn(async move { worker.run(TICK, shutdown).await });
    Ok(ChecksServiceServer::new(GrpcChecks::new(
        app,
        around.seal.clone(),
    )))
}
