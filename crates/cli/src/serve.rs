//! `plaza serve`: hosts the configured services in one process.
//!
//! Each hosted service gets its database (migrated), its outbox relay and
//! its gRPC service on the process's gRPC endpoint, with health and
//! reflection. The gateway reaches every service through its gRPC client,
//! at the address configuration gives, or this process's own gRPC endpoint
//! when the service is hosted here (served in process, without a socket,
//! unless mutual TLS is on): splitting services apart is only
//! configuration.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use plaza_contracts::audit::v1::audit_service_server::AuditServiceServer;
use plaza_contracts::identity::v1::identity_service_server::IdentityServiceServer;
use plaza_contracts::offices::v1::offices_service_server::OfficesServiceServer;
use plaza_contracts::vault::v1::vault_service_server::VaultServiceServer;
use plaza_kernel::bus;
use plaza_kernel::cache::Cache;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::config::Config;
use plaza_kernel::db::Db;
use plaza_kernel::outbox::{Relay, RelayConfig};
use plaza_kernel::shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Every HTTPS client of the process (identity providers, processor,
    // card vendor, NATS) uses ring.
    plaza_kernel::install_crypto_provider();
    plaza_kernel::telemetry::metrics();
    // Two phases: servers stop taking requests and finish those in flight,
    // then the relays publish whatever those requests committed.
    let (stop_servers, servers_shutdown) = shutdown::channel();
    let (trigger, shutdown) = shutdown::channel();
    let instance = uuid_like();
    let hosts_grpc = crate::SERVICES
        .iter()
        .any(|s| *s != "gateway" && config.hosts(s));
    let tls = match &config.tls {
        Some((ca, cert, key)) => Some(
            plaza_kernel::mtls::TlsFiles::load(ca, cert, key)
                .context("reading the TLS files (tls.ca_file, tls.cert_file, tls.key_file)")?,
        ),
        None => None,
    };
    let seal = plaza_kernel::auth::CallerSeal::load_or_create(&config.internal_key_file)
        .with_context(|| {
            format!(
                "internal caller key ({})",
                config.internal_key_file.display()
            )
        })?;

    let grpc_listener = if hosts_grpc {
        Some(
            TcpListener::bind(config.grpc_listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for gRPC on {} (grpc.listen)",
                        config.grpc_listen
                    )
                })?,
        )
    } else {
        None
    };
    let grpc_addr = grpc_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let http_listener = if config.hosts("gateway") || config.hosts("identity") {
        Some(
            TcpListener::bind(config.http_listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for HTTP on {} (http.listen)",
                        config.http_listen
                    )
                })?,
        )
    } else {
        None
    };
    let http_addr = http_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let mut config = config;
    // Calls between the services hosted here stay in the process (without
    // TLS; with it, every call shows its caller's certificate over the wire).
    let in_process = match (grpc_addr, &tls) {
        (Some(addr), None) => {
            let local = plaza_kernel::resilience::InProcess::pending(&format!("http://{addr}"));
            config.client.in_process = Some(local.clone());
            Some(local)
        }
        _ => None,
    };
    if config.identity_issuer_derived
        && let Some(addr) = http_addr
    {
        // Listening on port 0: the issuer is where the pages really are.
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        config.identity_issuer = format!("http://{host}/oidc");
    }

    let bus = bus::connect(config.nats_url.as_deref(), &config.events_namespace)
        .await
        .context("connecting the event bus")?;
    let storage = config.storage();
    let mut tasks = JoinSet::new();
    let mut servers = JoinSet::new();
    let mut hints: Vec<String> = Vec::new();
    let mut dbs: Vec<Db> = Vec::new();
    let mut relays: Vec<Relay> = Vec::new();

    let mut grpc_router = None;
    let mut offices_service = None;
    if config.hosts("offices") {
        let db = plaza_offices::open_db(&storage).await.with_context(|| {
            format!(
                "opening the offices database ({})",
                storage.describe("offices")
            )
        })?;
        let cache = Cache::open(
            config.redis_url.as_deref(),
            "offices",
            Duration::from_secs(300),
        )
        .await
        .context("connecting the cache")?;
        let app = plaza_offices::Offices::new(db.clone(), cache, Arc::new(SystemClock));
        if app.count().await.unwrap_or(1) == 0 {
            hints.push(
                "no offices yet: load the sample register with \
                 `plaza offices generate --count 3000 | plaza offices import -`"
                    .to_owned(),
            );
        }
        plaza_offices::subscribe_invalidation(&app, &bus, &instance, shutdown.clone())
            .await
            .context("subscribing to office events")?;
        relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
        dbs.push(db);

        offices_service = Some(OfficesServiceServer::new(
            plaza_offices::grpc::GrpcOffices::new(app, seal.clone()),
        ));
    }

    let mut vault_service = None;
    if config.hosts("vault") {
        let db = plaza_vault::open_db(&storage).await.with_context(|| {
            format!("opening the vault database ({})", storage.describe("vault"))
        })?;
        let ring = Arc::new(
            plaza_vault::FileKeyring::load_or_create(&config.vault_keyring_file).with_context(
                || format!("vault keyring ({})", config.vault_keyring_file.display()),
            )?,
        );
        let vault = plaza_vault::Vault::new(db.clone(), ring, Arc::new(SystemClock));
        relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
        dbs.push(db);
        vault_service = Some(VaultServiceServer::new(plaza_vault::grpc::GrpcVault::new(
            vault,
            seal.clone(),
        )));
    }

    let mut identity_service = None;
    let mut mail = None;
    let mut identity_pages = None;
    if config.hosts("identity") {
        let identity = crate::identity::open(&config).await?;
        mail = Some(identity.mail_description());
        let db = identity.db().clone();
        relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
        dbs.push(db);
        identity_pages = Some(plaza_identity::http::router(identity.clone()));
        plaza_identity::notify::subscribe(&identity, &bus, shutdown.clone())
            .await
            .context("subscribing to status events to mail")?;
        identity_service = Some(IdentityServiceServer::new(
            plaza_identity::grpc::GrpcIdentity::new(
                identity,
                seal.clone(),
                plaza_policy::Policies::shipped(),
            ),
        ));
    }

    let endpoint = |svc: &str| -> anyhow::Result<String> {
        match (config.endpoints.get(svc), grpc_addr) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(addr)) if config.hosts(svc) => Ok(format!("http://{addr}")),
            _ => bail!(
                "this process needs the {svc} service: host it here (services = \"all\") or give its address \
                 in endpoints.{svc} / PLAZA_ENDPOINT_{}",
                svc.to_uppercase()
            ),
        }
    };
    // A service this deployment does not run: its routes answer 503.
    let optional_endpoint = |svc: &str, hints: &mut Vec<String>| -> String {
        endpoint(svc).unwrap_or_else(|_| {
            hints.push(format!(
                "{svc} is not reachable from here (not hosted, no endpoints.{svc}): its routes answer 503"
            ));
            crate::renewal::ABSENT.to_owned()
        })
    };
    let mut renewal_services = crate::renewal::Hosted::default();
    {
        let around = crate::renewal::Around {
            config: &config,
            seal: &seal,
            bus: &bus,
            endpoint: &endpoint,
            tls: tls.clone(),
        };
        for svc in ["address", "photo", "payments", "fulfillment", "renewal"] {
            if !config.hosts(svc) {
                continue;
            }
            let db = crate::renewal::open_db(svc, &storage)
                .await
                .with_context(|| {
                    format!("opening the {svc} database ({})", storage.describe(svc))
                })?;
            relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
            dbs.push(db.clone());
            renewal_services
                .host(svc, db, &around, &mut tasks, shutdown.clone())
                .await?;
        }
    }

    let mut permits_service = None;
    if config.hosts("permits") {
        let db = plaza_permits::open_db(&storage).await.with_context(|| {
            format!(
                "opening the permits database ({})",
                storage.describe("permits")
            )
        })?;
        relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
        dbs.push(db.clone());
        // Applicants' identifiers go to the vault as tokens for checks.
        let vault = match endpoint("vault") {
            Ok(url) => {
                let mut policy = config.client.clone();
                policy.tls = tls.clone();
                Some(
                    plaza_permits::application::tokens::VaultTokens::connect(
                        &url,
                        &policy,
                        seal.clone(),
                    )
                    .context("permits' vault client")?,
                )
            }
            Err(_) => {
                hints.push(
                    "permits cannot reach the vault: background checks are asked for without the applicant's identifiers and answer Delayed"
                        .to_owned(),
                );
                None
            }
        };
        permits_service = Some(crate::permits::host(
            &config,
            &seal,
            db,
            vault,
            &mut tasks,
            shutdown.clone(),
        )?);
    }

    let mut checks_service = None;
    if config.hosts("checks") {
        let db = plaza_checks::service::open_db(&storage)
            .await
            .with_context(|| {
                format!(
                    "opening the checks database ({})",
                    storage.describe("checks")
                )
            })?;
        relays.push(Relay::new(db.clone(), bus.clone(), RelayConfig::default()));
        dbs.push(db.clone());
        let around = crate::renewal::Around {
            config: &config,
            seal: &seal,
            bus: &bus,
            endpoint: &endpoint,
            tls: tls.clone(),
        };
        checks_service =
            Some(crate::checks::host(&around, db, &mut tasks, shutdown.clone()).await?);
    }

    let mut audit_service = None;
    let mut final_head = None;
    if config.hosts("audit") {
        let db = plaza_audit::open_db(&storage).await.with_context(|| {
            format!("opening the audit database ({})", storage.describe("audit"))
        })?;
        let signer = plaza_audit::HeadSigner::load_or_create(&config.audit_signing_key_file)
            .with_context(|| {
                format!(
                    "audit signing key ({})",
                    config.audit_signing_key_file.display()
                )
            })?;
        let log = plaza_audit::AuditLog::open(db.clone(), signer, Arc::new(SystemClock))
            .await
            .context("opening the audit log")?;
        // Every service that records audit events sends them here.
        let sources: Vec<&str> = crate::SERVICES
            .iter()
            .copied()
            .filter(|s| !["audit", "gateway"].contains(s))
            .collect();
        let detector = Arc::new(plaza_audit::detect::Detector::new(
            plaza_audit::detect::Rules {
                detokenise_per_minute: config.detokenise_per_minute as usize,
                ..Default::default()
            },
        ));
        let webhook = config
            .alert_webhook
            .as_deref()
            .map(|u| Arc::new(plaza_audit::detect::Webhook::new(u)));
        plaza_audit::trail::consume_watched(
            &log,
            &bus,
            &sources,
            Some(detector),
            webhook,
            shutdown.clone(),
        )
        .await
        .context("subscribing to audit events")?;
        final_head = Some(log.clone());
        let (signing, s) = (log.clone(), shutdown.clone());
        tasks.spawn(async move { signing.sign_periodically(Duration::from_secs(1), s).await });
        let (indexing, s) = (log.clone(), shutdown.clone());
        tasks.spawn(async move {
            indexing
                .index_subjects_periodically(Duration::from_secs(1), s)
                .await
        });
        dbs.push(db);
        audit_service = Some(AuditServiceServer::new(plaza_audit::grpc::GrpcAudit::new(
            log,
            seal.clone(),
        )));
    }

    // Relays start only once every consumer of this process has subscribed:
    // the in-process bus delivers to the subscribers it has, so an event
    // published earlier would miss a consumer that came later.
    for relay in relays {
        let (s, drain) = (shutdown.clone(), config.drain);
        tasks.spawn(async move {
            relay.run(s, drain).await;
        });
    }

    let (permit_types, permit_applications) = match permits_service.take() {
        Some(p) => (Some(p.types), Some(p.applications)),
        None => (None, None),
    };
    if hosts_grpc {
        let (health, health_service) = tonic_health::server::health_reporter();
        if offices_service.is_some() {
            health
                .set_serving::<OfficesServiceServer<plaza_offices::grpc::GrpcOffices>>()
                .await;
        }
        if audit_service.is_some() {
            health
                .set_serving::<AuditServiceServer<plaza_audit::grpc::GrpcAudit>>()
                .await;
        }
        if vault_service.is_some() {
            health
                .set_serving::<VaultServiceServer<plaza_vault::grpc::GrpcVault>>()
                .await;
        }
        if identity_service.is_some() {
            health
                .set_serving::<IdentityServiceServer<plaza_identity::grpc::GrpcIdentity>>()
                .await;
        }
        renewal_services.report_health(&health).await;
        if permit_types.is_some() {
            crate::permits::report_health(&health).await;
        }
        if checks_service.is_some() {
            health.set_serving::<crate::checks::Server>().await;
        }
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(plaza_contracts::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building gRPC reflection")?;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &tls {
            builder = builder
                .tls_config(tls.server())
                .context("configuring TLS for gRPC")?;
        }
        let mut routes = tonic::service::Routes::builder();
        routes.add_service(health_service).add_service(reflection);
        macro_rules! hosted {
            ($($svc:expr),* $(,)?) => {$(
                if let Some(svc) = $svc {
                    routes.add_service(svc);
                }
            )*};
        }
        hosted!(
            offices_service,
            audit_service,
            identity_service,
            vault_service,
            renewal_services.address.take(),
            renewal_services.photo.take(),
            renewal_services.payments.take(),
            renewal_services.fulfillment.take(),
            renewal_services.renewal.take(),
            renewal_services.applications.take(),
            permit_types,
            permit_applications,
            checks_service,
        );
        let routes = routes.routes().prepare();
        if let Some(local) = &in_process {
            local.serve(tower::Layer::layer(
                &plaza_kernel::grpc::ServerLayer,
                routes.clone(),
            ));
        }
        grpc_router = Some(
            builder
                // With TLS, only the services ALLOW names may call a method.
                .layer(tower::util::option_layer(
                    tls.as_ref().map(|_| plaza_kernel::mtls::AllowLayer),
                ))
                .layer(plaza_kernel::grpc::ServerLayer)
                .concurrency_limit_per_connection(1024)
                .add_routes(routes),
        );
    }

    if let (Some(router), Some(listener)) = (grpc_router, grpc_listener) {
        let mut s = servers_shutdown.clone();
        servers.spawn(async move {
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, async move { s.wait().await })
                .await
            {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });
    }

    let (pages_listener, http_listener) = if config.hosts("gateway") {
        (None, http_listener)
    } else {
        (http_listener, None)
    };
    let edge_limits = plaza_gateway::EdgeLimits {
        body_limit_bytes: config.body_limit_bytes,
        max_in_flight: config.http_max_in_flight,
        rate_limit_per_ip: config.http_rate_limit_per_ip,
    };
    if let Some(listener) = pages_listener {
        // Sign-in only: the identity service's pages without the API.
        let app = plaza_gateway::pages_app(identity_pages.take().unwrap_or_default(), edge_limits);
        let mut s = servers_shutdown.clone();
        servers.spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { s.wait().await })
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }
    if let Some(listener) = http_listener {
        let urls = plaza_gateway::Endpoints {
            offices: endpoint("offices")?,
            audit: endpoint("audit")?,
            identity: endpoint("identity")?,
            renewal: optional_endpoint("renewal", &mut hints),
            payments: optional_endpoint("payments", &mut hints),
            address: optional_endpoint("address", &mut hints),
            permits: optional_endpoint("permits", &mut hints),
            checks: optional_endpoint("checks", &mut hints),
        };
        let mut issuers = vec![plaza_gateway::auth::TrustedIssuer::plaza(
            &config.identity_issuer,
            &config.identity_audience,
        )];
        if let Some(path) = &config.issuers_file {
            issuers.extend(
                plaza_gateway::auth::read_issuers_file(path)
                    .map_err(anyhow::Error::msg)
                    .context("auth.issuers_file")?,
            );
        }
        let auth = plaza_gateway::auth::AuthLayer {
            authenticator: Arc::new(plaza_gateway::auth::Authenticator::new(
                issuers,
                config.clock_skew_s as i64,
            )),
            seal: seal.clone(),
            per_principal: plaza_gateway::middleware::principal_limiter(
                config.http_rate_limit_per_principal,
            ),
        };
        let mut policy = config.client.clone();
        policy.tls = tls.clone();
        let downstreams =
            plaza_gateway::Downstreams::connect(&urls, &policy).context("gateway clients")?;
        let app = plaza_gateway::app(downstreams.state, edge_limits, auth, identity_pages.take());
        let mut s = servers_shutdown.clone();
        servers.spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { s.wait().await })
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }

    let ready_ms = started.elapsed().as_millis();
    println!("Plaza is running ({} ms to ready)", ready_ms);
    println!("  services:  {}", config.services.join(", "));
    if let Some(addr) = http_addr {
        if config.hosts("gateway") {
            println!("  HTTP API:  http://{addr}/v1");
            println!("  OpenAPI:   http://{addr}/openapi.json (docs: http://{addr}/docs)");
            println!("  metrics:   http://{addr}/metrics");
        }
        if config.hosts("identity") {
            println!("  sign-in:   {} (OpenID Connect)", config.identity_issuer);
        }
        if let Some(mail) = &mail {
            println!("  mail:      {mail}");
        }
    }
    if let Some(addr) = grpc_addr {
        println!("  gRPC:      http://{addr} (health and reflection enabled)");
    }
    println!(
        "  storage:   {}",
        match &config.database_url {
            Some(url) => plaza_kernel::config::redact_url(url),
            None => config.data_dir.display().to_string(),
        }
    );
    println!("  events:    {}", bus.kind());
    println!(
        "  cache:     {}",
        if config.redis_url.is_some() {
            "redis"
        } else {
            "in-process"
        }
    );
    for hint in &hints {
        println!("  hint:      {hint}");
    }
    println!("Press Ctrl-C to stop.");
    tracing::info!(ready_ms = ready_ms as u64, services = %config.services.join(","), "plaza started");

    wait_for_signal().await;
    println!("Stopping: finishing requests in flight and publishing pending events…");
    stop_servers.trigger();
    if tokio::time::timeout(config.drain, async {
        while servers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        // Only idle connections can be left: every request has had the whole
        // drain period to finish.
        tracing::warn!(
            left = servers.len(),
            "closing connections still open after the drain period"
        );
        servers.abort_all();
    }
    trigger.trigger();
    let deadline = config.drain + Duration::from_secs(5);
    let drained = tokio::time::timeout(deadline, async {
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a task failed during shutdown");
            }
        }
    })
    .await;
    // The relays have published everything: sign a head over all of it.
    if let Some(log) = &final_head
        && let Err(e) = log.sign_head().await
    {
        tracing::error!(error = %plaza_kernel::error::chain(&e), "signing the final audit tree head failed");
    }
    for db in &dbs {
        db.close().await;
    }
    if drained.is_err() {
        eprintln!(
            "plaza: some work did not finish within {deadline:?}; it will resume at the next start"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A process instance id for per-process consumers.
fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        plaza_kernel::clock::now_ms()
    )
}
