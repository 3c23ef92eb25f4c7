//! The REST API end to end: a real offices gRPC server and the gateway on
//! loopback ports, driven over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plaza_audit::grpc::GrpcAudit;
use plaza_audit::{AuditLog, HeadSigner};
use plaza_contracts::address::v1::address_service_server::AddressServiceServer;
use plaza_contracts::audit::v1::audit_service_server::AuditServiceServer;
use plaza_contracts::checks::v1::checks_service_server::ChecksServiceServer;
use plaza_contracts::fulfillment::v1::fulfillment_service_server::FulfillmentServiceServer;
use plaza_contracts::identity::v1::identity_service_server::IdentityServiceServer;
use plaza_contracts::offices::v1::offices_service_server::OfficesServiceServer;
use plaza_contracts::payments::v1::payments_service_server::PaymentsServiceServer;
use plaza_contracts::permits::v1 as permits_pb;
use plaza_contracts::permits::v1::permit_applications_client::PermitApplicationsClient;
use plaza_contracts::permits::v1::permit_applications_server::PermitApplicationsServer;
use plaza_contracts::permits::v1::permit_types_server::PermitTypesServer;
use plaza_contracts::photo::v1::photo_service_server::PhotoServiceServer;
use plaza_contracts::renewal::v1::renewal_applications_server::RenewalApplicationsServer;
use plaza_contracts::renewal::v1::renewal_service_server::RenewalServiceServer;
use plaza_gateway::{Downstreams, EdgeLimits};
use plaza_identity::grpc::GrpcIdentity;
use plaza_identity::testing::{SignIn, sign_in};
use plaza_identity::{Identity, Settings, SigningKeys};
use plaza_kernel::auth::{Caller, CallerSeal, Role};
use plaza_kernel::cache::Cache;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::resilience::ClientPolicy;
use plaza_kernel::shutdown::Shutdown;
use plaza_kernel::testing::{TcpProxy, sqlite_target, wait_until};
use plaza_offices::Offices;
use plaza_offices::grpc::GrpcOffices;
use plaza_policy::Policies;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct OfficesServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// The renewal service's driver records (to seed and claim).
    drivers: plaza_renewal::Drivers,
    renewals: plaza_renewal::application::Renewals,
    /// The permits service (its timers are fired by the tests).
    permits: plaza_permits::application::Applications,
    /// The checks service (its requests are made by the tests).
    checks: plaza_checks::service::Checks,
    /// Sends card orders to the simulated vendor (driven by the tests).
    batcher: plaza_fulfillment::Batcher,
    /// The simulated processor and vendor.
    sim: String,
}

/// The size of the reference address set the harness imports (seed 1).
const REFERENCE_ROWS: u64 = 2_000;

/// The outside world for the renewal services: processor and card vendor.
async fn start_sim() -> String {
    plaza_sim::start_local().await.unwrap().0
}

async fn start_offices(
    app: Offices,
    audit: AuditLog,
    identity: Identity,
    addr: SocketAddr,
) -> OfficesServer {
    let listener = TcpListener::bind(addr).await.expect("bind gRPC");
    let addr = listener.local_addr().unwrap();
    // The renewal services, on the same server; renewal reaches its peers
    // there.
    let sim = start_sim().await;
    let clock: plaza_kernel::clock::SharedClock = Arc::new(SystemClock);
    let address =
        plaza_address::Addresses::new(plaza_address::open_db(&sqlite_target()).await.unwrap());
    let mut csv = Vec::new();
    plaza_address::generate::write_csv(REFERENCE_ROWS, 1, &mut csv, &|_| {}).unwrap();
    let reference = plaza_address::reference::read(csv.as_slice(), &|_| {}).unwrap();
    let operator = plaza_kernel::auth::Caller {
        subject: "operator".into(),
        issuer: "plaza:cli".into(),
        roles: vec![Role::Admin],
        jurisdiction: None,
    };
    address
        .import(&operator, &reference, &|_| {})
        .await
        .unwrap();
    let photos = plaza_photo::Photos::new(
        plaza_photo::open_db(&sqlite_target()).await.unwrap(),
        plaza_kernel::crypt::DataKey::random(),
        clock.clone(),
        plaza_photo::Config::default(),
    );
    let payments = plaza_payments::Payments::new(
        plaza_payments::open_db(&sqlite_target()).await.unwrap(),
        Arc::new(plaza_payments::processor::HttpProcessor::new(
            &sim,
            Duration::from_secs(5),
        )),
        plaza_payments::fees::FeeSchedule::shipped(),
        Arc::new(Policies::shipped()),
        clock.clone(),
        plaza_payments::PaymentsConfig::default(),
    );
    let fulfillment_db = plaza_fulfillment::open_db(&sqlite_target()).await.unwrap();
    let fulfillment = plaza_fulfillment::Fulfillment::new(
        fulfillment_db.clone(),
        Arc::new(plaza_kernel::crypt::DataKey::random()),
        clock.clone(),
        plaza_fulfillment::Config::default(),
    );
    let batcher = plaza_fulfillment::Batcher::new(
        fulfillment.clone(),
        Arc::new(plaza_fulfillment::vendor::HttpVendor::new(&sim)),
    );
    let renewal_db = plaza_renewal::open_db(&sqlite_target()).await.unwrap();
    let renewal_key = plaza_kernel::crypt::DataKey::random();
    let drivers = plaza_renewal::Drivers::new(
        renewal_db.clone(),
        renewal_key.clone(),
        clock.clone(),
        Arc::new(plaza_renewal::eligibility::RuleBook::shipped()),
    );
    let own = format!("http://{addr}");
    let peers = plaza_renewal::application::Peers::connect(
        &plaza_renewal::application::PeerUrls {
            photo: own.clone(),
            address: own.clone(),
            payments: own.clone(),
            fulfillment: own.clone(),
            offices: own,
        },
        &ClientPolicy::default(),
        seal(),
    )
    .unwrap();
    let renewals = plaza_renewal::application::Renewals::new(
        renewal_db.clone(),
        renewal_key,
        drivers.clone(),
        peers,
        clock.clone(),
    );
    let permits = plaza_permits::application::Applications::new(
        plaza_permits::open_db(&sqlite_target()).await.unwrap(),
        plaza_kernel::crypt::DataKey::random(),
        Arc::new(plaza_permits::Catalogue::shipped()),
        clock.clone(),
    );
    let checks = plaza_checks::service::Checks::new(
        plaza_checks::service::open_db(&sqlite_target())
            .await
            .unwrap(),
        plaza_kernel::crypt::DataKey::random(),
        plaza_checks::service::Peers::connect(
            &format!("http://{addr}"),
            &format!("http://{addr}"),
            &ClientPolicy::default(),
            seal(),
        )
        .unwrap(),
        Arc::new(plaza_permits::Catalogue::shipped()),
        clock.clone(),
        4,
    );
    let checks_service = ChecksServiceServer::new(plaza_checks::service::grpc::GrpcChecks::new(
        checks.clone(),
        seal(),
    ));
    let permit_types =
        PermitTypesServer::new(plaza_permits::grpc::GrpcPermitTypes::new(permits.clone()));
    let permit_applications = PermitApplicationsServer::new(
        plaza_permits::grpc::GrpcApplications::new(permits.clone(), seal()),
    );
    // Card progress travels as in `serve`: fulfillment's outbox, the relay,
    // the bus, renewal's inbox.
    let bus = plaza_kernel::bus::connect(None, "plaza").await.unwrap();
    plaza_renewal::application::events::subscribe(&renewal_db, clock, &bus, Shutdown::never())
        .await
        .unwrap();
    let relay = plaza_kernel::outbox::Relay::new(
        fulfillment_db,
        bus,
        plaza_kernel::outbox::RelayConfig::default(),
    );
    tokio::spawn(relay.run(Shutdown::never(), Duration::from_secs(1)));
    let address = AddressServiceServer::new(plaza_address::grpc::GrpcAddress::new(address, seal()));
    let photos = PhotoServiceServer::new(plaza_photo::GrpcPhotos::new(photos, seal()));
    let payments =
        PaymentsServiceServer::new(plaza_payments::grpc::GrpcPayments::new(payments, seal()));
    let fulfillment = FulfillmentServiceServer::new(plaza_fulfillment::grpc::GrpcFulfillment::new(
        fulfillment,
        seal(),
    ));
    let renewal = RenewalServiceServer::new(plaza_renewal::grpc::GrpcRenewal::new(
        drivers.clone(),
        seal(),
    ));
    let applications = RenewalApplicationsServer::new(
        plaza_renewal::application::grpc::GrpcApplications::new(renewals.clone(), seal()),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(plaza_kernel::grpc::ServerLayer)
            .add_service(health_service)
            .add_service(OfficesServiceServer::new(GrpcOffices::new(app, seal())))
            .add_service(AuditServiceServer::new(GrpcAudit::new(audit, seal())))
            .add_service(IdentityServiceServer::new(GrpcIdentity::new(
                identity,
                seal(),
                Policies::shipped(),
            )))
            .add_service(address)
            .add_service(photos)
            .add_service(payments)
            .add_service(fulfillment)
            .add_service(renewal)
            .add_service(applications)
            .add_service(permit_types)
            .add_service(permit_applications)
            .add_service(checks_service)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = rx.await;
                },
            )
            .await
            .unwrap();
    });
    OfficesServer {
        addr,
        stop: Some(tx),
        task,
        drivers,
        renewals,
        permits,
        checks,
        batcher,
        sim,
    }
}

impl OfficesServer {
    async fn kill(mut self) -> SocketAddr {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }
}

/// The key gateway and services share in these tests.
fn seal() -> CallerSeal {
    CallerSeal::from_key([9; 32])
}

const REDIRECT: &str = "http://127.0.0.1/callback";
const PASSWORD: &str = "a long test password";

struct Api {
    base: String,
    identity: Identity,
    client_id: String,
    /// An administrator's access token, sent with every `send`.
    admin: String,
    keys_file: std::path::PathBuf,
    http: reqwest::Client,
    app: Offices,
    audit: AuditLog,
    offices: Option<OfficesServer>,
    /// Between the gateway and the offices service: cutting it is the
    /// network's view of the service dying.
    link: TcpProxy,
}

async fn spawn() -> Api {
    spawn_with(64).await
}

async fn spawn_with(max_in_flight: usize) -> Api {
    spawn_limited(max_in_flight, 0).await
}

async fn spawn_limited(max_in_flight: usize, rate_limit_per_ip: u32) -> Api {
    spawn_trusting(max_in_flight, rate_limit_per_ip, 0, Vec::new()).await
}

/// A gateway that also trusts `issuers` (an agency's own providers).
async fn spawn_trusting(
    max_in_flight: usize,
    rate_limit_per_ip: u32,
    principal_rate: u32,
    issuers: Vec<plaza_gateway::auth::TrustedIssuer>,
) -> Api {
    plaza_kernel::telemetry::metrics();
    let db = plaza_offices::open_db(&sqlite_target()).await.unwrap();
    let app = Offices::new(
        db,
        Cache::local("offices", 1000, Duration::from_secs(60)),
        Arc::new(SystemClock),
    );
    let mut csv = Vec::new();
    plaza_offices::generate::generate(120, 2, &mut csv).unwrap();
    app.import(
        "test",
        plaza_offices::app::parse_csv(csv.as_slice()).unwrap(),
        &|_| {},
    )
    .await
    .unwrap();
    let audit_db = plaza_audit::open_db(&sqlite_target()).await.unwrap();
    let audit = AuditLog::open(
        audit_db,
        HeadSigner::from_seed([5; 32]),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}/oidc");
    let keys_dir = plaza_kernel::testing::temp_dir("gateway-keys");
    let identity = Identity::new(
        plaza_identity::open_db(&sqlite_target()).await.unwrap(),
        Arc::new(SigningKeys::open(&keys_dir.join("signing.json"), 600).unwrap()),
        Settings::new(&issuer, "plaza"),
        Arc::new(SystemClock),
        Arc::new(plaza_identity::mail::FileMailer {
            dir: keys_dir.join("mail"),
            from: "test@plaza.invalid".into(),
        }),
    );
    let (client, _) = identity
        .add_client("tests", &[REDIRECT.to_owned()], &[], true)
        .await
        .unwrap();

    let offices = start_offices(
        app.clone(),
        audit.clone(),
        identity.clone(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    let policy = ClientPolicy {
        connect_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_millis(800),
        ..ClientPolicy::default()
    };
    let link = TcpProxy::start(offices.addr).await;
    let url = format!("http://{}", link.addr);
    let downstreams = Downstreams::connect(
        &plaza_gateway::Endpoints {
            offices: url.clone(),
            audit: url.clone(),
            identity: url.clone(),
            renewal: url.clone(),
            payments: url.clone(),
            address: url.clone(),
            permits: url.clone(),
            checks: url,
        },
        &policy,
    )
    .unwrap();
    let router = plaza_gateway::app(
        downstreams.state,
        EdgeLimits {
            body_limit_bytes: 4096,
            max_in_flight,
            rate_limit_per_ip,
        },
        plaza_gateway::auth::AuthLayer {
            authenticator: Arc::new(plaza_gateway::auth::Authenticator::new(
                std::iter::once(plaza_gateway::auth::TrustedIssuer::plaza(&issuer, "plaza"))
                    .chain(issuers)
                    .collect(),
                60,
            )),
            seal: seal(),
            per_principal: plaza_gateway::middleware::principal_limiter(principal_rate),
        },
        Some(plaza_identity::http::router(identity.clone())),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let mut api = Api {
        base: format!("http://{addr}"),
        identity,
        client_id: client.id,
        admin: String::new(),
        keys_file: keys_dir.join("signing.json"),
        http: {
            plaza_kernel::install_crypto_provider();
            reqwest::Client::new()
        },
        app,
        audit,
        offices: Some(offices),
        link,
    };
    // Signing in takes requests of its own; the rate-limit test counts
    // from zero.
    if rate_limit_per_ip == 0 {
        api.admin = api.token(Role::Admin, None).await;
    }
    api
}

impl Api {
    /// Seeds driver records, has `citizen` claim an eligible one through
    /// the API and start its renewal: `(driver id, renewal id, payment
    /// intent id)`.
    async fn citizen_renewal(&self, citizen: &str) -> (String, String, String) {
        self.citizen_renewal_nth(citizen, 0).await
    }

    /// Like `citizen_renewal`, with the `nth` eligible record (each citizen
    /// needs one of their own).
    async fn citizen_renewal_nth(&self, citizen: &str, nth: usize) -> (String, String, String) {
        use plaza_renewal::drivers::seed;
        let drivers = &self.offices.as_ref().unwrap().drivers;
        let opts = seed::SeedOptions::new(200, 11, drivers.today());
        seed::seed(
            drivers.db(),
            drivers.key(),
            &opts,
            |i| seed::sample_address(11, i),
            &|_| {},
        )
        .await
        .unwrap();
        let request = plaza_renewal::eligibility::RenewalRequest {
            wants_real_id: false,
        };
        let driver = (0..200)
            .map(|i| seed::driver(&opts, i, seed::sample_address(11, i)))
            .filter(|d| drivers.evaluate(d, &request).eligible())
            .nth(nth)
            .expect("enough eligible drivers among 200");
        let claim = self
            .http
            .post(self.url("/v1/drivers/claim"))
            .bearer_auth(citizen)
            .header("Idempotency-Key", format!("claim-{nth}"))
            .json(&json!({
                "licence_number": driver.licence_number.as_str(),
                "birth_date": driver.person.birth_date.to_string(),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            claim.status(),
            StatusCode::OK,
            "{}",
            claim.text().await.unwrap()
        );
        let start = self
            .http
            .post(self.url("/v1/renewals"))
            .bearer_auth(citizen)
            .header("Idempotency-Key", format!("start-{nth}"))
            .json(&json!({"driver_id": driver.id}))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::CREATED);
        let renewal: Value = start.json().await.unwrap();
        assert_eq!(renewal["status"], "started");
        assert_eq!(renewal["missing"], json!(["photo", "delivery"]));
        (
            driver.id,
            renewal["id"].as_str().unwrap().to_owned(),
            renewal["payment_intent_id"].as_str().unwrap().to_owned(),
        )
    }

    /// From now on the identity service's audit events travel to the log as
    /// in `serve` (outbox, relay, bus, the audit consumer), those already
    /// recorded first.
    async fn feed_identity_events_to_audit(&self) {
        let bus = plaza_kernel::bus::connect(None, "plaza").await.unwrap();
        plaza_audit::trail::consume(&self.audit, &bus, &["identity"], Shutdown::never())
            .await
            .unwrap();
        let relay = plaza_kernel::outbox::Relay::new(
            self.identity.db().clone(),
            bus,
            plaza_kernel::outbox::RelayConfig::default(),
        );
        tokio::spawn(relay.run(Shutdown::never(), Duration::from_millis(100)));
    }

    /// Signs a new account with `role` in through the real flow and
    /// returns its access token.
    async fn token(&self, role: Role, jurisdiction: Option<&str>) -> String {
        let email = format!(
            "{}-{}@plaza.test",
            role.as_str(),
            plaza_kernel::testing::unique("u")
        );
        let (_, totp) = self
            .identity
            .add_user(&email, PASSWORD, &[role], jurisdiction, true)
            .await
            .unwrap();
        let issuer = format!("{}/oidc", self.base);
        sign_in(&SignIn {
            issuer: &issuer,
            client_id: &self.client_id,
            redirect_uri: REDIRECT,
            email: &email,
            password: PASSWORD,
            totp_secret: totp.as_deref(),
        })
        .await
        .access_token
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    /// GET with a bearer token: the status and the JSON body.
    async fn get_as(&self, path: &str, token: impl std::fmt::Display) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }
}

fn office_body(code: &str) -> Value {
    json!({
        "code": code, "name": "Test Office", "kind": "dmv_office",
        "address": {"street": "1 Main St", "city": "York", "county": "York", "state": "PA", "zip": "17401"},
        "location": {"latitude": 39.96, "longitude": -76.73},
        "phone": "(717) 555-0100", "hours": "Mo-Fr 08:00-16:00"
    })
}

/// `n` synthetic audit entries about offices.
fn sample_events(n: i64) -> Vec<plaza_audit::AuditEvent> {
    (0..n)
        .map(|i| plaza_audit::AuditEvent {
            at_ms: 1_000 + i,
            service: "offices".into(),
            actor: "staff-1".into(),
            action: "offices.read".into(),
            resource: format!("office/{i}"),
            subject: None,
            purpose: "test".into(),
            correlation_id: format!("c{i}"),
            outcome: "ok".into(),
        })
        .collect()
}

async fn assert_problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status for {code}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().ends_with(code));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

#[tokio::test]
async fn openapi_document_matches_the_committed_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/plaza.json");
    let generated = plaza_gateway::openapi_json();
    if std::env::var("PLAZA_UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/plaza.json is out of date: run `cargo run -p plaza-cli -- openapi > openapi/plaza.json` and commit it"
    );
    let spec: Value = serde_json::from_str(&generated).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every POST and PUT documents its Idempotency-Key, but the processor's
    // webhook and the sources' notices, whose own ids do that job.
    for (path, item) in spec["paths"].as_object().unwrap() {
        if [
            plaza_gateway::routes::renewals::WEBHOOK_PATH,
            plaza_gateway::routes::checks::NOTICE_PATH,
        ]
        .contains(&path.as_str())
        {
            assert!(item["post"]["parameters"].is_null());
            continue;
        }
        for method in ["post", "put"] {
            if let Some(op) = item.get(method) {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params.iter().any(|p| p["name"] == "Idempotency-Key"),
                    "{method} {path} lacks Idempotency-Key"
                );
            }
        }
    }
}

#[tokio::test]
async fn reads_work_and_errors_are_problem_json() {
    let api = spawn().await;
    let (s, page) = api.get("/v1/offices?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, one) = api.get(&format!("/v1/offices/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["id"], id.as_str());
    assert!(one["updated_at"].as_str().unwrap().ends_with('Z'));

    let (s, near) = api
        .get("/v1/offices/nearest?lat=40.27&lon=-76.88&limit=3&kind=dmv_office")
        .await;
    assert_eq!(s, 200);
    let items = near["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["office"]["kind"] == "dmv_office"));
    assert!(items[0]["distance_km"].as_f64().unwrap() <= items[2]["distance_km"].as_f64().unwrap());

    let r = api
        .http
        .get(api.url("/v1/offices/does-not-exist"))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 404, "offices.not_found").await;
    assert!(body["request_id"].is_string());
    assert_problem(
        api.http
            .get(api.url("/v1/nothing-here"))
            .send()
            .await
            .unwrap(),
        404,
        "route_not_found",
    )
    .await;
    assert_problem(
        api.http
            .get(api.url("/v1/offices/nearest?lat=abc&lon=1"))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        api.http
            .get(api.url("/v1/offices/nearest?lat=95&lon=1"))
            .send()
            .await
            .unwrap(),
        400,
        "offices.invalid",
    )
    .await;
    assert_problem(
        api.http
            .get(api.url("/v1/offices?cursor=bogus"))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_cursor",
    )
    .await;
    assert_problem(
        api.http
            .get(api.url("/v1/offices?kind=castle"))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn cursor_pagination_walks_every_office_once() {
    let api = spawn().await;
    let mut seen = std::collections::HashSet::new();
    let mut path = "/v1/offices?limit=25".to_owned();
    loop {
        let (s, page) = api.get(&path).await;
        assert_eq!(s, 200);
        for o in page["items"].as_array().unwrap() {
            assert!(seen.insert(o["id"].as_str().unwrap().to_owned()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/offices?limit=25&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, api.app.count().await.unwrap());
}

#[tokio::test]
async fn writes_need_an_idempotency_key_and_replays_change_nothing() {
    let api = spawn().await;
    let body = office_body("DMV-7777");
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", None, &body)
            .await,
        400,
        "idempotency_key_required",
    )
    .await;
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", Some("bad key"), &body)
            .await,
        400,
        "idempotency_key_invalid",
    )
    .await;
    let before = api.app.count().await.unwrap();

    let first = api
        .send(reqwest::Method::POST, "/v1/offices", Some("key-1"), &body)
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = api
        .send(reqwest::Method::POST, "/v1/offices", Some("key-1"), &body)
        .await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again, "the replay returns the first answer");
    assert_eq!(
        api.app.count().await.unwrap(),
        before + 1,
        "and creates nothing more"
    );

    let other = office_body("DMV-7778");
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", Some("key-1"), &other)
            .await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", Some("key-2"), &body)
            .await,
        409,
        "offices.duplicate_code",
    )
    .await;
    let mut invalid = office_body("DMV-7779");
    invalid["address"]["zip"] = json!("1");
    let p = assert_problem(
        api.send(
            reqwest::Method::POST,
            "/v1/offices",
            Some("key-3"),
            &invalid,
        )
        .await,
        400,
        "offices.invalid",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().starts_with("zip"));
    assert_eq!(
        api.app.count().await.unwrap(),
        before + 1,
        "refused requests change nothing"
    );

    // Optimistic concurrency on replace.
    let id = first["id"].as_str().unwrap();
    let put = |key: &'static str| {
        api.http
            .put(api.url(&format!("/v1/offices/{id}")))
            .bearer_auth(&api.admin)
            .header("Idempotency-Key", key)
            .header("If-Match", "\"1\"")
            .json(&office_body("DMV-7777"))
            .send()
    };
    assert_eq!(put("key-4").await.unwrap().status(), 200);
    let r = put("key-5").await.unwrap();
    assert_problem(r, 409, "offices.version_conflict").await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused() {
    let api = spawn().await;
    let r = api
        .http
        .post(api.url("/v1/offices"))
        .header("Idempotency-Key", "k")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_json").await;
    let r = api
        .http
        .post(api.url("/v1/offices"))
        .header("Idempotency-Key", "k")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "unsupported_media_type").await;
    let mut big = office_body("DMV-1234");
    big["name"] = json!("x".repeat(10_000));
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", Some("k"), &big)
            .await,
        413,
        "request_too_large",
    )
    .await;
    let mut extra = office_body("DMV-1234");
    extra["colour"] = json!("blue");
    assert_problem(
        api.send(reqwest::Method::POST, "/v1/offices", Some("k"), &extra)
            .await,
        400,
        "invalid_json",
    )
    .await;
}

#[tokio::test]
async fn request_ids_are_echoed_and_metrics_exported() {
    let api = spawn().await;
    let r = api
        .http
        .get(api.url("/v1/offices?limit=1"))
        .header("x-request-id", "my-trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-trace-123");
    let r = api
        .http
        .get(api.url("/v1/offices?limit=1"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.headers()["x-request-id"],
        "bad id with spaces",
        "malformed ids are replaced"
    );
    let metrics = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("plaza_http_requests_total"),
        "HTTP request counter"
    );
    assert!(
        metrics.contains("plaza_http_request_duration_seconds_bucket"),
        "HTTP latency histogram"
    );
    assert!(
        metrics.contains("method=\"ListOffices\""),
        "gRPC metrics per method"
    );
    assert!(
        metrics.contains("plaza_client_breaker_state{downstream=\"offices\"}"),
        "breaker state"
    );
}

#[tokio::test]
async fn the_docs_page_works_offline() {
    let api = spawn().await;
    let r = api.http.get(api.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("fetch(\"/openapi.json\")"));
    assert!(
        html.contains("id=\"problem-offices.not_found\""),
        "problem codes are documented"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no resource from elsewhere"
    );
    let spec: Value = api
        .http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/v1/offices/nearest"]["get"].is_object());
}

#[tokio::test]
async fn a_dead_service_gives_503_at_once_and_heals_when_it_returns() {
    let mut api = spawn().await;
    let (s, page) = api.get("/v1/offices?limit=1").await;
    assert_eq!(s, 200);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/readyz").await.0, 200);

    let addr = api.offices.take().unwrap().kill().await;
    api.link.refuse(true);
    api.link.cut().await;
    for _ in 0..5 {
        let started = Instant::now();
        let r = api
            .http
            .get(api.url(&format!("/v1/offices/{id}")))
            .send()
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no hanging on a dead service"
        );
        let p = assert_problem(r, 503, "service_unavailable").await;
        assert!(
            !p["detail"].as_str().unwrap().contains("tcp"),
            "no transport detail leaks"
        );
    }
    assert_eq!(api.get("/readyz").await.0, 503);
    let metrics = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("plaza_client_breaker_state{downstream=\"offices\"} 2"),
        "breaker open:\n{metrics}"
    );

    // The service comes back on the same address: the gateway heals by itself.
    api.offices = Some(
        start_offices(
            api.app.clone(),
            api.audit.clone(),
            api.identity.clone(),
            addr,
        )
        .await,
    );
    api.link.refuse(false);
    let http = api.http.clone();
    let url = api.url(&format!("/v1/offices/{id}"));
    wait_until(
        Duration::from_secs(10),
        "gateway to reach the restarted service",
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(url)
                    .send()
                    .await
                    .map(|r| r.status() == 200)
                    .unwrap_or(false)
            }
        },
    )
    .await;
    assert_eq!(api.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn a_hanging_service_times_out_and_excess_requests_are_shed() {
    let api = spawn_with(1).await;
    api.link.blackhole(true);
    api.link.cut().await;
    let slow = {
        let (http, url) = (api.http.clone(), api.url("/v1/offices?limit=1"));
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    // While that request holds the only slot, the next one is shed at once.
    let http = api.http.clone();
    let url = api.url("/v1/offices?limit=2");
    let deadline = Instant::now() + Duration::from_secs(5);
    let shed = loop {
        let r = http.get(url.clone()).send().await.unwrap();
        if r.status() == 503 {
            break r;
        }
        assert!(Instant::now() < deadline, "no request was shed");
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_problem(shed, 503, "overloaded").await;
    let timed_out = slow.await.unwrap();
    assert_problem(timed_out, 504, "downstream_timeout").await;
}

#[tokio::test]
async fn the_correlation_id_travels_from_http_into_the_event() {
    let api = spawn().await;
    let r = api
        .http
        .post(api.url("/v1/offices"))
        .bearer_auth(&api.admin)
        .header("Idempotency-Key", "corr-key")
        .header("x-request-id", "trace-from-the-edge-42")
        .json(&office_body("DMV-4242"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id: Value = r.json().await.unwrap();
    let row: (String,) =
        sqlx::query_as("SELECT correlation_id FROM outbox WHERE aggregate_id = $1")
            .bind(id["id"].as_str().unwrap())
            .fetch_one(api.app.db().reader())
            .await
            .unwrap();
    assert_eq!(row.0, "trace-from-the-edge-42");
}

/// The documentation page, rendered by a real browser from the API's own
/// OpenAPI document, with the network limited to this machine.
#[tokio::test]
#[ignore = "needs Chromium at /usr/bin/chromium (Debian package chromium; .ci/run installs it)"]
async fn the_docs_page_renders_every_operation_in_a_real_browser() {
    let api = spawn().await;
    let profile = plaza_kernel::testing::temp_dir("chromium");
    let out = tokio::process::Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &api.url("/docs"),
        ])
        .output()
        .await
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-rendered=\"true\""),
        "the page rendered the OpenAPI document:\n{dom}"
    );
    let spec: Value = serde_json::from_str(&plaza_gateway::openapi_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                dom.contains(&format!("id=\"{id}\"")),
                "{} {path} is on the page",
                method.to_uppercase()
            );
        }
    }
    assert!(dom.contains("Plaza API"));
}

#[tokio::test]
async fn audit_tree_head_and_proofs_check_out_through_rest() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use plaza_audit::merkle;
    let api = spawn().await;
    let (s, _) = api.get("/v1/audit/tree-head").await;
    assert_eq!(s, 404, "no head before anything is logged");
    let events = sample_events(37);
    api.audit.append(&events[..20]).await.unwrap();
    api.audit.sign_head().await.unwrap();
    let (_, first) = api.get("/v1/audit/tree-head").await;
    api.audit.append(&events[20..]).await.unwrap();
    api.audit.sign_head().await.unwrap();
    let (s, head) = api.get("/v1/audit/tree-head").await;
    assert_eq!(s, 200);
    assert_eq!(head["tree_size"], 37);
    let b64 = |v: &Value| B64.decode(v.as_str().unwrap()).unwrap();
    let hash = |v: &Value| -> merkle::Hash { b64(v).try_into().unwrap() };
    let root = hash(&head["sha256_root_hash"]);
    // The signature checks with the published key over the published message.
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&b64(&head["public_key"]).try_into().unwrap())
            .unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&b64(&head["tree_head_signature"])).unwrap();
    key.verify_strict(head["signed_message"].as_str().unwrap().as_bytes(), &sig)
        .unwrap();
    assert!(
        head["signed_message"]
            .as_str()
            .unwrap()
            .contains(&merkle::hex(&root))
    );
    // Inclusion of entry 29, from its canonical bytes.
    let (s, proof) = api
        .get("/v1/audit/proofs/inclusion?leaf_index=29&tree_size=37")
        .await;
    assert_eq!(s, 200);
    let path: Vec<merkle::Hash> = proof["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let leaf = merkle::leaf_hash(&events[29].canonical());
    assert_eq!(hash(&proof["leaf_hash"]), leaf);
    merkle::verify_inclusion(29, 37, &leaf, &path, &root).unwrap();
    // Consistency between the two heads.
    let (s, cons) = api
        .get("/v1/audit/proofs/consistency?first=20&second=37")
        .await;
    assert_eq!(s, 200);
    let proof: Vec<merkle::Hash> = cons["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    merkle::verify_consistency(20, 37, &hash(&first["sha256_root_hash"]), &root, &proof).unwrap();
    // Impossible proofs are refused clearly.
    let r = api
        .http
        .get(api.url("/v1/audit/proofs/inclusion?leaf_index=40&tree_size=37"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "audit.bad_range").await;
    let r = api
        .http
        .get(api.url("/v1/audit/proofs/consistency?first=30&second=20"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "audit.bad_range").await;
}

#[tokio::test]
async fn every_answer_carries_security_headers() {
    let api = spawn().await;
    for path in [
        "/docs",
        "/v1/offices?limit=1",
        "/v1/offices/nope",
        "/nowhere",
        "/openapi.json",
    ] {
        let r = api.http.get(api.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(
            csp.contains("script-src 'sha256-"),
            "{path}: the docs script is allowed by hash only"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age="),
            "{path}"
        );
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn an_address_over_its_rate_gets_429_with_retry_after() {
    let api = spawn_limited(64, 5).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..30 {
        let r = api.http.get(api.url("/healthz")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    assert!(
        statuses.iter().take(10).all(|s| *s == 200),
        "a burst of twice the rate passes: {statuses:?}"
    );
    let r = limited.expect("requests beyond the burst are limited");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_problem(r, 429, "rate_limited").await;
}

/// Who calls, in the matrix's column order.
const CALLERS: [&str; 7] = [
    "nobody",
    "citizen",
    "clerk",
    "licensing_officer",
    "examiner",
    "auditor",
    "admin",
];

/// Every REST operation × every caller → the expected status. A new
/// operation without a row here fails `every_endpoint_answers_every_role_as_the_policies_say`.
const MATRIX: &[(&str, &str, [u16; 7])] = &[
    ("GET", "/healthz", [200; 7]),
    ("GET", "/readyz", [200; 7]),
    ("GET", "/v1/audit/tree-head", [200; 7]),
    ("GET", "/v1/audit/proofs/inclusion", [200; 7]),
    ("GET", "/v1/audit/proofs/consistency", [200; 7]),
    ("GET", "/v1/me", [401, 200, 200, 200, 200, 200, 200]),
    (
        "GET",
        "/v1/me/access-log",
        [401, 200, 200, 200, 200, 200, 200],
    ),
    // Only auditors export entries.
    (
        "GET",
        "/v1/audit/entries",
        [401, 403, 403, 403, 403, 200, 403],
    ),
    ("GET", "/v1/offices", [200; 7]),
    ("GET", "/v1/offices/nearest", [200; 7]),
    ("GET", "/v1/offices/{id}", [200; 7]),
    // Only administrators create offices.
    ("POST", "/v1/offices", [401, 403, 403, 403, 403, 403, 201]),
    // Clerks change offices in their jurisdiction (this clerk's is PA).
    (
        "PUT",
        "/v1/offices/{id}",
        [401, 403, 200, 403, 403, 403, 200],
    ),
    // Fees and reference addresses are public.
    ("GET", "/v1/fees", [200; 7]),
    ("POST", "/v1/addresses/validate", [200; 7]),
    // Citizens claim records (this licence number is unknown); staff do not.
    (
        "POST",
        "/v1/drivers/claim",
        [401, 404, 403, 403, 403, 403, 403],
    ),
    // The owner and staff of the record's state (PA) read it; to others it
    // does not exist.
    (
        "GET",
        "/v1/drivers/{id}",
        [401, 200, 200, 200, 404, 404, 404],
    ),
    (
        "GET",
        "/v1/drivers/{id}/eligibility",
        [401, 200, 200, 200, 404, 404, 404],
    ),
    // Only the owner starts a renewal (theirs is open already: 409); staff
    // who may read the record are refused, the others do not see it.
    ("POST", "/v1/renewals", [401, 409, 403, 403, 404, 404, 404]),
    (
        "GET",
        "/v1/renewals/{id}",
        [401, 200, 200, 200, 404, 404, 404],
    ),
    // Only the applicant changes the application (this image is not one).
    (
        "POST",
        "/v1/renewals/{id}/photo",
        [401, 400, 404, 404, 404, 404, 404],
    ),
    (
        "POST",
        "/v1/renewals/{id}/address",
        [401, 200, 404, 404, 404, 404, 404],
    ),
    (
        "POST",
        "/v1/renewals/{id}/delivery",
        [401, 200, 404, 404, 404, 404, 404],
    ),
    // Paying before the photo is given is out of order.
    (
        "POST",
        "/v1/renewals/{id}/payment",
        [401, 422, 404, 404, 404, 404, 404],
    ),
    // Readers may ask; there is no licence before the card is ordered.
    (
        "GET",
        "/v1/renewals/{id}/temporary-licence",
        [401, 422, 422, 422, 404, 404, 404],
    ),
    // A webhook without the processor's signature, whoever sends it.
    ("POST", "/v1/payments/webhook", [401; 7]),
    // The payer and staff who handle payments read a receipt (none yet:
    // unpaid); examiners do not.
    (
        "GET",
        "/v1/payments/{id}/receipt",
        [401, 422, 422, 422, 403, 422, 422],
    ),
    (
        "GET",
        "/v1/payments/reconciliation",
        [401, 403, 403, 403, 403, 200, 200],
    ),
    // Permit types are public.
    ("GET", "/v1/permit-types", [200; 7]),
    ("GET", "/v1/permit-types/{id}", [200; 7]),
    // Any signed-in person applies for themselves.
    (
        "POST",
        "/v1/permit-applications",
        [401, 201, 201, 201, 201, 201, 201],
    ),
    // The applicant and PA's clerks and officers read a PA application; to
    // the others it does not exist.
    (
        "GET",
        "/v1/permit-applications/{id}",
        [401, 200, 200, 200, 404, 404, 404],
    ),
    // Counter staff record the documents (after the clerk did, the
    // officer's repeat is out of order). The service answers an action a
    // caller may not take as if the application did not exist, also to
    // those who may read it.
    (
        "POST",
        "/v1/permit-applications/{id}/events",
        [401, 404, 200, 422, 404, 404, 404],
    ),
    // Only officers decide (this application still waits for its check).
    (
        "POST",
        "/v1/permit-applications/{id}/decision",
        [401, 404, 404, 422, 404, 404, 404],
    ),
    (
        "GET",
        "/v1/permit-queue",
        [401, 403, 403, 200, 403, 403, 403],
    ),
    // Each files a renewal of this permit giving the holder's name and
    // birth date: only the account holding it gets as far as the window
    // (not open yet); to any other account the permit is not found.
    (
        "POST",
        "/v1/permits/{number}/renewal",
        [401, 422, 404, 404, 404, 404, 404],
    ),
    // Only officers of the permit's state suspend, reinstate and revoke.
    (
        "POST",
        "/v1/permits/{number}/suspension",
        [401, 404, 404, 200, 404, 404, 404],
    ),
    (
        "POST",
        "/v1/permits/{number}/reinstatement",
        [401, 404, 404, 200, 404, 404, 404],
    ),
    (
        "POST",
        "/v1/permits/{number}/revocation",
        [401, 404, 404, 200, 404, 404, 404],
    ),
    // Examiners work the queue of Delayed checks; PA's officers read a PA
    // check (without its evidence); to the others it does not exist.
    (
        "GET",
        "/v1/check-queue",
        [401, 403, 403, 403, 200, 403, 403],
    ),
    (
        "GET",
        "/v1/checks/{ntn}",
        [401, 404, 404, 200, 200, 404, 404],
    ),
    (
        "POST",
        "/v1/checks/{ntn}/resolution",
        [401, 404, 404, 404, 200, 404, 404],
    ),
    // A record notice without the source's signature, whoever sends it.
    ("POST", "/v1/records/notices", [401; 7]),
    // Last: the applicant cancels.
    (
        "POST",
        "/v1/renewals/{id}/cancel",
        [401, 200, 404, 404, 404, 404, 404],
    ),
];

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_policies_say() {
    let api = spawn().await;
    // The documented operations and the matrix's rows are the same set.
    let doc: Value = serde_json::from_str(&plaza_gateway::openapi_json()).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    let mut rows: Vec<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    rows.sort();
    assert_eq!(
        documented, rows,
        "every REST operation needs a row in MATRIX (and every row an operation)"
    );

    let events = sample_events(4);
    api.audit.append(&events).await.unwrap();
    api.audit.sign_head().await.unwrap();

    let mut tokens: Vec<Option<String>> = vec![None];
    for role in Role::ALL {
        let jurisdiction = (role != Role::Citizen).then_some("PA");
        tokens.push(Some(api.token(role, jurisdiction).await));
    }
    assert_eq!(tokens.len(), CALLERS.len());
    let (_, page) = api.get("/v1/offices?limit=1").await;
    let office = page["items"][0].clone();
    let id = office["id"].as_str().unwrap().to_owned();
    // The citizen's own driver record and renewal.
    let citizen = tokens[1].clone().unwrap();
    let (driver_id, renewal_id, intent_id) = api.citizen_renewal(&citizen).await;
    // The citizen's issued PA licence to carry, and an open application.
    let (clerk, officer) = (tokens[2].clone().unwrap(), tokens[3].clone().unwrap());
    let number = api.issued_pa_licence(&citizen, &clerk, &officer).await;
    let (status, open) = api
        .post_as(
            &citizen,
            "/v1/permit-applications",
            json!({"permit_type": "pa-dealer", "applicant": pa_applicant("Pat"), "resident": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{open}");
    let application_id = open["id"].as_str().unwrap().to_owned();
    let ntn = api.delayed_check("PA").await;
    let mut n = 0;
    let mut wrong = Vec::new();
    for (method, path, expected) in MATRIX {
        for (who, (token, want)) in CALLERS.iter().zip(tokens.iter().zip(expected)) {
            n += 1;
            let target = if path.starts_with("/v1/checks/") {
                &ntn
            } else if path.starts_with("/v1/drivers/") {
                &driver_id
            } else if path.starts_with("/v1/permit-applications/") {
                &application_id
            } else if path.starts_with("/v1/permit-types/") {
                "pa-ltcf"
            } else if path.starts_with("/v1/permits/") {
                &number
            } else if path.starts_with("/v1/renewals/") {
                &renewal_id
            } else if path.starts_with("/v1/payments/") {
                &intent_id
            } else {
                &id
            };
            let concrete = path
                .replace("{id}", target)
                .replace("{number}", target)
                .replace("{ntn}", target)
                + match *path {
                    "/v1/audit/proofs/inclusion" => "?leaf_index=1&tree_size=4",
                    "/v1/audit/proofs/consistency" => "?first=2&second=4",
                    "/v1/offices/nearest" => "?lat=40.2&lon=-76.9",
                    "/v1/audit/entries" => "?first=0&last=4",
                    "/v1/fees" => "?licence_class=C&age=40",
                    "/v1/payments/reconciliation" => "?date=2026-11-30",
                    _ => "",
                };
            let mut req = api
                .http
                .request(method.parse().unwrap(), api.url(&concrete))
                .header("Idempotency-Key", format!("matrix-{n}"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let address = json!({"text": "1 Main Street, Harrisburg PA 17101"});
            match (*method, *path) {
                ("POST", "/v1/offices") => req = req.json(&office_body(&format!("MX-{n}"))),
                ("POST", "/v1/addresses/validate") | ("POST", "/v1/renewals/{id}/address") => {
                    req = req.json(&address)
                }
                ("POST", "/v1/drivers/claim") => {
                    req =
                        req.json(&json!({"licence_number": "99999999", "birth_date": "1970-01-01"}))
                }
                ("POST", "/v1/renewals") => req = req.json(&json!({"driver_id": driver_id})),
                ("POST", "/v1/renewals/{id}/photo") => {
                    req =
                        req.json(&json!({"content_type": "image/jpeg", "image_base64": "aGVsbG8="}))
                }
                ("POST", "/v1/renewals/{id}/delivery") => {
                    req = req.json(&json!({"kind": "pickup", "office_id": id}))
                }
                ("POST", "/v1/renewals/{id}/payment") => {
                    req = req.json(&json!({"card_number": "4242424242424242"}))
                }
                ("POST", "/v1/renewals/{id}/cancel") => {
                    req = req.json(&json!({"reason": "matrix"}))
                }
                ("POST", "/v1/payments/webhook") | ("POST", "/v1/records/notices") => {
                    req = req.json(&json!({}))
                }
                ("POST", "/v1/permit-applications") => {
                    req = req.json(&json!({"permit_type": "pa-ltcf",
                        "applicant": pa_applicant(&format!("Matrix {n}")), "resident": true}))
                }
                ("POST", "/v1/permit-applications/{id}/events") => {
                    req = req.json(&json!({"event": "documents_received"}))
                }
                ("POST", "/v1/permit-applications/{id}/decision") => {
                    req = req.json(&json!({"decision": "approve"}))
                }
                ("POST", "/v1/permits/{number}/renewal") => {
                    req = req.json(&json!({"permit_type": "pa-ltcf-renewal",
                        "applicant": pa_applicant("Pat"), "resident": true}))
                }
                ("POST", "/v1/permits/{number}/suspension")
                | ("POST", "/v1/permits/{number}/revocation") => {
                    req = req.json(&json!({"reasons": ["false_statement"]}))
                }
                ("POST", "/v1/permits/{number}/reinstatement") => req = req.json(&json!({})),
                ("POST", "/v1/checks/{ntn}/resolution") => {
                    req = req.json(&json!({"decision": "proceed", "note": "matrix"}))
                }
                // The office as it is, so the change stays in Pennsylvania.
                ("PUT", _) => {
                    let mut body = office.clone();
                    for k in ["id", "version", "updated_at"] {
                        body.as_object_mut().unwrap().remove(k);
                    }
                    body["name"] = json!(format!("Renamed {n}"));
                    req = req.json(&body);
                }
                _ => {}
            }
            let r = req.send().await.unwrap();
            let got = r.status().as_u16();
            if got != *want {
                let body = r.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{method} {path} as {who}: {got}, expected {want}: {body}"
                ));
            } else if got >= 400 {
                let body: Value = r.json().await.unwrap();
                let code = body["code"].as_str().unwrap_or_default().to_owned();
                let fits = match got {
                    401 if *path == "/v1/payments/webhook" => {
                        code == "payments.webhook_signature_invalid"
                    }
                    401 if *path == "/v1/records/notices" => {
                        code == "checks.notice_signature_invalid"
                    }
                    401 => code == "sign_in_required",
                    403 => code == "forbidden",
                    // Hidden, or really absent: the resource's own code.
                    404 => code.ends_with("not_found"),
                    _ => !code.is_empty(),
                };
                if !fits {
                    wrong.push(format!("{method} {path} as {who}: code {code}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn me_names_the_caller_and_bad_tokens_get_401_with_a_stable_code() {
    let api = spawn().await;
    let clerk = api.token(Role::Clerk, Some("PA/Dauphin")).await;
    let me: Value = api.get_as("/v1/me", &clerk).await.1;
    assert_eq!(me["roles"], json!(["clerk"]));
    assert_eq!(me["jurisdiction"], "PA/Dauphin");
    assert_eq!(me["issuer"], format!("{}/oidc", api.base));
    assert_eq!(me["second_factor"], true);
    assert!(me["email"].as_str().unwrap().starts_with("clerk-"));

    let get_with = |auth: String| {
        api.http
            .get(api.url("/v1/me"))
            .header("authorization", auth)
            .send()
    };
    // Tampered: another payload under the clerk's signature.
    let parts: Vec<&str> = clerk.split('.').collect();
    let forged = {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims["roles"] = json!(["admin"]);
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims.to_string()),
            parts[2]
        )
    };
    for (auth, code) in [
        (format!("Bearer {forged}"), "token_signature_invalid"),
        ("Bearer not-a-token".to_owned(), "token_malformed"),
        ("Basic dXNlcjpwYXNz".to_owned(), "token_malformed"),
        (format!("Bearer {}", "a".repeat(9000)), "token_malformed"),
    ] {
        let r = get_with(auth).await.unwrap();
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_problem(r, 401, code).await;
    }
    // A token for another audience, signed by the same provider.
    let other = api
        .identity
        .keys()
        .sign("at+jwt", &json!({"iss": format!("{}/oidc", api.base), "sub": "x", "aud": "elsewhere",
                                "exp": plaza_kernel::clock::now_ms() / 1000 + 60, "roles": ["admin"]}));
    assert_problem(
        get_with(format!("Bearer {other}")).await.unwrap(),
        401,
        "token_audience_invalid",
    )
    .await;
    // Expired beyond the allowed skew.
    let old = api
        .identity
        .keys()
        .sign("at+jwt", &json!({"iss": format!("{}/oidc", api.base), "sub": "x", "aud": "plaza",
                                "exp": plaza_kernel::clock::now_ms() / 1000 - 120, "roles": ["admin"]}));
    assert_problem(
        get_with(format!("Bearer {old}")).await.unwrap(),
        401,
        "token_expired",
    )
    .await;
    // A key the issuer never published.
    let stranger = plaza_kernel::jwt::encode(
        &plaza_kernel::jwt::Header {
            alg: "EdDSA".into(),
            kid: Some("nope".into()),
            typ: None,
        },
        &json!({"iss": format!("{}/oidc", api.base), "sub": "x", "aud": "plaza", "exp": 9_999_999_999i64}),
        |m| {
            use ed25519_dalek::Signer;
            ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                .sign(m)
                .to_bytes()
                .to_vec()
        },
    );
    assert_problem(
        get_with(format!("Bearer {stranger}")).await.unwrap(),
        401,
        "token_key_unknown",
    )
    .await;
    // An issuer nobody configured.
    let foreign = api
        .identity
        .keys()
        .sign("at+jwt", &json!({"iss": "https://evil.example", "sub": "x", "aud": "plaza", "exp": 9_999_999_999i64}));
    assert_problem(
        get_with(format!("Bearer {foreign}")).await.unwrap(),
        401,
        "token_issuer_untrusted",
    )
    .await;
    // None of these changed anything: the clerk's token still works.
    let r = api.get_as("/v1/me", &clerk).await;
    assert_eq!(r.0, 200);
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_on_first_sight_and_old_tokens_keep_working() {
    let api = spawn().await;
    let before = api.token(Role::Auditor, None).await;
    // Rotate the provider's key file behind its back.
    let keys_file = api.keys_file.clone();
    let kid = SigningKeys::rotate(&keys_file).unwrap();
    let after = api.token(Role::Auditor, None).await;
    let header = |t: &str| -> Value {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        serde_json::from_slice(&B64.decode(t.split('.').next().unwrap()).unwrap()).unwrap()
    };
    assert_eq!(header(&after)["kid"], kid);
    assert_ne!(header(&before)["kid"], kid);
    for t in [&before, &after] {
        let r = api.get_as("/v1/me", t).await;
        assert_eq!(r.0, 200);
    }
}

/// Where the independent OpenID Connect software for the interop tests is
/// installed (`npm ci` there; .ci/run does it).
fn interop_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-interop");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "run `npm ci` in {} first (.ci/run does)",
        dir.display()
    );
    dir
}

#[tokio::test]
#[ignore = "needs Node.js and the npm packages of tests/oidc-interop (.ci/run installs them)"]
async fn an_agencys_own_provider_is_trusted_with_its_claims_mapped_to_plaza_roles() {
    use tokio::io::AsyncBufReadExt;
    let mut provider = tokio::process::Command::new("node")
        .arg("agency-provider.mjs")
        .current_dir(interop_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = tokio::io::BufReader::new(provider.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(p) = line.strip_prefix("READY ") {
                return p.trim().to_owned();
            }
        }
        panic!("the provider exited before it was ready")
    })
    .await
    .expect("the provider starts");
    let agency = format!("http://127.0.0.1:{port}");
    // What an agency writes in its issuers file.
    let file = plaza_kernel::testing::temp_dir("issuers").join("issuers.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[issuer]]
issuer = "{agency}"
audience = "plaza"
roles_claim = "groups"
jurisdiction_claim = "county"
[issuer.roles]
"DMV Clerks" = "clerk"
"#
        ),
    )
    .unwrap();
    let issuers = plaza_gateway::auth::read_issuers_file(&file).unwrap();
    let api = spawn_trusting(64, 0, 0, issuers).await;
    let token: Value = api
        .http
        .post(format!("{agency}/token"))
        .basic_auth("dmv-clerk-desk", Some("a-secret-of-the-agency-test-client"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "urn:plaza:api"),
            ("scope", "api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = token["access_token"].as_str().expect("an access token");
    let me: Value = api.get_as("/v1/me", at).await.1;
    assert_eq!(me["issuer"], agency.as_str(), "{me}");
    assert_eq!(me["subject"], "dmv-clerk-desk");
    assert_eq!(
        me["roles"],
        json!(["clerk"]),
        "unmapped groups give no role"
    );
    assert_eq!(me["jurisdiction"], "PA/Dauphin");
    // The agency's clerk may change a Dauphin office, not a York one.
    let (_, page) = api.get("/v1/offices?county=Dauphin&limit=1").await;
    let office = page["items"][0].clone();
    let mut body = office.clone();
    for k in ["id", "version", "updated_at"] {
        body.as_object_mut().unwrap().remove(k);
    }
    body["hours"] = json!("Mo-Fr 09:00-17:00");
    let r = api
        .http
        .put(api.url(&format!("/v1/offices/{}", office["id"].as_str().unwrap())))
        .bearer_auth(at)
        .header("Idempotency-Key", "agency-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, york) = api.get("/v1/offices?county=York&limit=1").await;
    let york = york["items"][0].clone();
    let mut body = york.clone();
    for k in ["id", "version", "updated_at"] {
        body.as_object_mut().unwrap().remove(k);
    }
    let r = api
        .http
        .put(api.url(&format!("/v1/offices/{}", york["id"].as_str().unwrap())))
        .bearer_auth(at)
        .header("Idempotency-Key", "agency-2")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    // The same token with its audience changed is not accepted.
    let parts: Vec<&str> = at.split('.').collect();
    let tampered = {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let mut c: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        c["groups"] = json!(["DMV Clerks", "Admins"]);
        format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2])
    };
    let r = api
        .http
        .get(api.url("/v1/me"))
        .bearer_auth(tampered)
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "token_signature_invalid").await;
}

#[tokio::test]
async fn a_signed_in_caller_over_its_rate_gets_429_whatever_its_address() {
    let api = spawn_trusting(64, 0, 3, Vec::new()).await;
    let clerk = api.token(Role::Clerk, Some("PA")).await;
    let auditor = api.token(Role::Auditor, None).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = api
            .http
            .get(api.url("/v1/me"))
            .bearer_auth(&clerk)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert_problem(r, 429, "rate_limited_principal").await;
            break;
        }
    }
    assert_eq!(
        statuses[..6],
        [200; 6],
        "a burst of twice the rate passes: {statuses:?}"
    );
    assert_eq!(statuses.get(6), Some(&429), "{statuses:?}");
    // Another account from the same address is not held back.
    let r = api.get_as("/v1/me", &auditor).await;
    assert_eq!(r.0, 200);
}

#[tokio::test]
async fn a_citizen_sees_who_accessed_their_records_and_an_auditor_exports_them_with_proofs() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let api = spawn().await;
    api.feed_identity_events_to_audit().await;
    let citizen = api.token(Role::Citizen, None).await;
    let other = api.token(Role::Citizen, None).await;
    let auditor = api.token(Role::Auditor, None).await;
    let log_of = |token: String| {
        let api = &api;
        async move {
            let (status, body) = api.get_as("/v1/me/access-log", token).await;
            assert_eq!(status, 200);
            body
        }
    };
    // The sign-in reaches the audit log through outbox, relay and bus.
    wait_until(Duration::from_secs(10), "the sign-in to be logged", || {
        let t = citizen.clone();
        let log_of = &log_of;
        async move {
            log_of(t).await["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "identity.signed_in")
        }
    })
    .await;
    let mine = log_of(citizen.clone()).await;
    let items = mine["items"].as_array().unwrap();
    let me: Value = api.get_as("/v1/me", &citizen).await.1;
    let my_actor = format!(
        "{}|{}",
        me["issuer"].as_str().unwrap(),
        me["subject"].as_str().unwrap()
    );
    assert!(
        items
            .iter()
            .any(|e| e["action"] == "identity.account_created")
    );
    assert!(
        items.iter().all(|e| e["resource"]
            == format!("user/{}", me["subject"].as_str().unwrap()).as_str()
            || e["actor"] == my_actor.as_str()),
        "only entries about this person: {items:?}"
    );
    // The other citizen's list does not hold this one's entries.
    let theirs = log_of(other).await;
    assert!(
        theirs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != my_actor.as_str())
    );

    // An auditor exports the range and checks every entry against the
    // signed head with nothing but RFC 6962 hashing.
    api.audit.sign_head().await.unwrap();
    let (_, head) = api.get("/v1/audit/tree-head").await;
    let size = head["tree_size"].as_u64().unwrap();
    assert!(size >= 2);
    let export: Value = api
        .get_as(&format!("/v1/audit/entries?first=0&last={size}"), &auditor)
        .await
        .1;
    let root: plaza_audit::merkle::Hash = B64
        .decode(export["head"]["sha256_root_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let entries = export["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, size);
    for e in entries {
        let entry = B64.decode(e["entry"].as_str().unwrap()).unwrap();
        let path: Vec<plaza_audit::merkle::Hash> = e["audit_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        let index = e["index"].as_u64().unwrap();
        plaza_audit::merkle::verify_inclusion(
            index,
            size,
            &plaza_audit::merkle::leaf_hash(&entry),
            &path,
            &root,
        )
        .unwrap_or_else(|e| panic!("entry {index}: {e:?}"));
    }
    // Beyond the signed head, or too much at once: a clear refusal.
    let r = api
        .http
        .get(api.url(&format!("/v1/audit/entries?first=0&last={}", size + 5)))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "audit.beyond_signed_head").await;
    let r = api
        .http
        .get(api.url("/v1/audit/entries?first=0&last=5000"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "audit.invalid").await;
}

// ------------------------------------------------------- renewal flows

impl Api {
    fn server(&self) -> &OfficesServer {
        self.offices.as_ref().unwrap()
    }

    async fn post_as(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", plaza_kernel::testing::unique("k"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn renewal(&self, token: &str, id: &str) -> Value {
        self.get_as(&format!("/v1/renewals/{id}"), token).await.1
    }

    async fn photo(&self, token: &str, id: &str, fixture: &str) -> (StatusCode, Value) {
        use base64::Engine;
        let path = format!(
            "{}/../photo/tests/fixtures/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(path).unwrap();
        self.post_as(
            token,
            &format!("/v1/renewals/{id}/photo"),
            json!({"content_type": "image/jpeg",
                   "image_base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        )
        .await
    }

    /// Sends waiting card orders to the vendor, lets it work `stages`
    /// stages, and reads its answers back.
    async fn run_vendor(&self, stages: usize) {
        let b = &self.server().batcher;
        b.flush().await.unwrap();
        b.tick().await.unwrap();
        for _ in 0..stages {
            self.http
                .post(format!("{}/vendor/v1/admin/advance", self.server().sim))
                .send()
                .await
                .unwrap();
        }
        b.tick().await.unwrap();
    }

    /// Succeeded charges at the processor for a payment intent.
    async fn charges(&self, intent: &str) -> usize {
        let v: Value = self
            .http
            .get(format!(
                "{}/processor/v1/charges?reference={intent}",
                self.server().sim
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["charges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "succeeded")
            .count()
    }
}

/// The first reference address, written the way a person types it.
fn typed_reference_address() -> String {
    let mut first = None;
    plaza_address::generate::for_each(REFERENCE_ROWS, 1, |a, _| {
        if first.is_none() {
            first = Some(format!(
                "{} {}, {} {} {}",
                a.number,
                a.street().to_lowercase(),
                a.city.to_lowercase(),
                a.state,
                a.zip5
            ));
        }
    });
    first.unwrap()
}

#[tokio::test]
async fn a_citizen_renews_online_and_the_card_is_mailed() {
    let api = spawn().await;
    let citizen = api.token(Role::Citizen, None).await;
    let (_, id, intent) = api.citizen_renewal(&citizen).await;
    let path = |tail: &str| format!("/v1/renewals/{id}{tail}");

    // The fee, as the schedule says (class C, under 65, not late).
    let (_, fees) = api.get("/v1/fees?licence_class=C&age=40").await;
    assert_eq!(fees["total"], 4300);

    // Paying first is out of order, and changes nothing.
    let (status, p) = api
        .post_as(
            &citizen,
            &path("/payment"),
            json!({"card_number": "4242424242424242"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["code"], "renewal.out_of_order");
    assert!(p["detail"].as_str().unwrap().contains("photo"));
    assert_eq!(api.charges(&intent).await, 0);

    // A dark photo is refused with the reason and what to change; a good
    // one is kept.
    let (status, dark) = api.photo(&citizen, &id, "dark.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dark["accepted"], false);
    let failed: Vec<&Value> = dark["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert!(!failed.is_empty() && failed.iter().all(|c| c["advice"] != ""));
    assert_eq!(dark["renewal"]["photo_accepted"], false);
    let (_, good) = api.photo(&citizen, &id, "good.jpg").await;
    assert_eq!(good["accepted"], true, "{good}");
    assert_eq!(good["renewal"]["photo_accepted"], true);

    // An unknown address is not kept; the typed reference address is,
    // standardised with its ZIP+4.
    let (_, nowhere) = api
        .post_as(
            &citizen,
            &path("/address"),
            json!({"text": "99999 Nowhere Rd, Atlantis PA 19999"}),
        )
        .await;
    assert_eq!(nowhere["validation"]["outcome"], "no_match");
    assert_eq!(nowhere["renewal"]["address_confirmed"], false);
    let (_, home) = api
        .post_as(
            &citizen,
            &path("/address"),
            json!({"text": typed_reference_address()}),
        )
        .await;
    assert_eq!(home["validation"]["deliverable"], true, "{home}");
    let last = home["validation"]["lines"][1].as_str().unwrap();
    assert!(
        last.ends_with(|c: char| c.is_ascii_digit()) && last.contains('-'),
        "ZIP+4: {last}"
    );
    assert_eq!(home["renewal"]["address_confirmed"], true);

    let (status, _) = api
        .post_as(&citizen, &path("/delivery"), json!({"kind": "mail"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A declined card, then a good one; paying again charges nothing more.
    let (status, declined) = api
        .post_as(
            &citizen,
            &path("/payment"),
            json!({"card_number": "4000000000000002"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(declined["code"], "payments.card_declined");
    assert_eq!(api.renewal(&citizen, &id).await["status"], "started");
    let (status, paid) = api
        .post_as(
            &citizen,
            &path("/payment"),
            json!({"card_number": "4242 4242 4242 4242"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "ordered");
    let order = paid["order_id"].as_str().unwrap().to_owned();
    let (_, again) = api
        .post_as(
            &citizen,
            &path("/payment"),
            json!({"card_number": "4242424242424242"}),
        )
        .await;
    assert_eq!(again["order_id"], order.as_str());
    assert_eq!(api.charges(&intent).await, 1, "charged exactly once");

    let (status, receipt) = api
        .get_as(&format!("/v1/payments/{intent}/receipt"), &citizen)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["amount"], 4300);
    assert!(
        receipt["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("ch_")
    );

    let pdf = api
        .http
        .get(api.url(&path("/temporary-licence")))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));

    // The vendor makes and mails the card; its progress reaches the
    // timeline.
    api.run_vendor(3).await;
    wait_until(Duration::from_secs(10), "the card mailed", || {
        let api = &api;
        let citizen = &citizen;
        let id = &id;
        async move { api.renewal(citizen, id).await["status"] == "mailed" }
    })
    .await;
    let done = api.renewal(&citizen, &id).await;
    assert!(done["tracking"].as_str().unwrap().starts_with("9400"));
    let statuses: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    for s in [
        "started",
        "paid",
        "ordered",
        "in_production",
        "produced",
        "mailed",
    ] {
        assert!(statuses.contains(&s), "{s} in {statuses:?}");
    }
    // Too late to cancel now.
    let (status, late) = api
        .post_as(
            &citizen,
            &path("/cancel"),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(late["code"], "renewal.too_late_to_cancel");
}

#[tokio::test]
async fn a_failed_card_and_a_cancelled_renewal_are_refunded() {
    let api = spawn().await;
    let (_, page) = api.get("/v1/offices?limit=1").await;
    let office = page["items"][0]["id"].as_str().unwrap().to_owned();
    let mut cases = Vec::new();
    for nth in 0..2 {
        let citizen = api.token(Role::Citizen, None).await;
        let (_, id, intent) = api.citizen_renewal_nth(&citizen, nth).await;
        let (_, good) = api.photo(&citizen, &id, "good.jpg").await;
        assert_eq!(good["accepted"], true);
        let (status, unknown) = api
            .post_as(
                &citizen,
                &format!("/v1/renewals/{id}/delivery"),
                json!({"kind": "pickup", "office_id": "no-such-office"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{unknown}");
        assert_eq!(unknown["code"], "renewal.invalid");
        let (_, chosen) = api
            .post_as(
                &citizen,
                &format!("/v1/renewals/{id}/delivery"),
                json!({"kind": "pickup", "office_id": office}),
            )
            .await;
        assert_eq!(chosen["missing"], json!([]), "pickup needs no address");
        let (status, paid) = api
            .post_as(
                &citizen,
                &format!("/v1/renewals/{id}/payment"),
                json!({"card_number": "4242424242424242"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{paid}");
        assert_eq!(paid["status"], "ordered");
        cases.push((citizen, id, intent));
    }

    // The second applicant cancels before the card is made: refunded.
    let (citizen, id, intent) = &cases[1];
    let (status, cancelled) = api
        .post_as(citizen, &format!("/v1/renewals/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let receipt = api
        .get_as(&format!("/v1/payments/{intent}/receipt"), citizen)
        .await
        .1;
    assert_eq!(receipt["refunded"], receipt["amount"]);

    // The vendor fails the first applicant's batch: the order fails, the
    // fee is refunded, and the timeline says so.
    api.http
        .post(format!("{}/vendor/v1/admin/faults", api.server().sim))
        .json(&json!({"fail_next_batches": 1}))
        .send()
        .await
        .unwrap();
    api.run_vendor(2).await;
    let (citizen, id, intent) = &cases[0];
    wait_until(Duration::from_secs(10), "the order failed", || async {
        api.renewal(citizen, id).await["status"] == "failed"
    })
    .await;
    assert_eq!(api.server().renewals.settle_refunds().await.unwrap(), 1);
    let receipt = api
        .get_as(&format!("/v1/payments/{intent}/receipt"), citizen)
        .await
        .1;
    assert_eq!(receipt["refunded"], receipt["amount"]);
    let notes: Vec<String> = api.renewal(citizen, id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["note"].as_str().unwrap().to_owned())
        .collect();
    assert!(notes.iter().any(|n| n.contains("refunded")), "{notes:?}");
    // A second pass refunds nothing more.
    assert_eq!(api.server().renewals.settle_refunds().await.unwrap(), 0);
}

// -------------------------------------------------------- permit flows

/// A Pennsylvanian applicant.
fn pa_applicant(given: &str) -> Value {
    json!({"given_name": given, "family_name": "Holder", "birth_date": "1980-05-17",
           "address": "1 Main St, Harrisburg PA 17101"})
}

impl Api {
    /// Delivers a background check's answer as `who` over gRPC (the checks
    /// service seals itself as `Plaza::Service::"checks"`).
    async fn check_answer_as(
        &self,
        who: &Caller,
        id: &str,
        outcome: &str,
    ) -> Result<permits_pb::Application, tonic::Status> {
        let (mut client, req) = self
            .sealed(
                who,
                permits_pb::CheckCompletedRequest {
                    id: id.to_owned(),
                    outcome: outcome.to_owned(),
                    ntn: "NTN-100".to_owned(),
                    prohibitors: Vec::new(),
                },
            )
            .await;
        client.check_completed(req).await.map(|r| r.into_inner())
    }

    /// A permits client on the services' server and `req` sealed as `who`
    /// (as a service inside Plaza calls).
    async fn sealed<T>(
        &self,
        who: &Caller,
        req: T,
    ) -> (
        PermitApplicationsClient<tonic::transport::Channel>,
        tonic::Request<T>,
    ) {
        let client = PermitApplicationsClient::connect(format!("http://{}", self.server().addr))
            .await
            .unwrap();
        let mut req = tonic::Request::new(req);
        let sealed = seal().seal(who, plaza_kernel::clock::now_ms());
        req.metadata_mut()
            .insert(plaza_kernel::auth::CALLER_METADATA, sealed.parse().unwrap());
        (client, req)
    }

    async fn check_proceeds(&self, id: &str) -> permits_pb::Application {
        self.check_answer_as(&Caller::service("checks"), id, "proceed")
            .await
            .unwrap()
    }

    /// Records a step through REST, expecting it to be accepted: the
    /// application's new state.
    async fn step(&self, token: &str, id: &str, body: Value) -> String {
        let (status, v) = self
            .post_as(token, &format!("/v1/permit-applications/{id}/events"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["state"].as_str().unwrap().to_owned()
    }

    /// A check of `state` that no source could answer (there are none):
    /// Delayed, in the examiners' queue. Its NTN.
    async fn delayed_check(&self, state: &str) -> String {
        let checks = &self.server().checks;
        checks.set_checker(Arc::new(plaza_checks::Checker::new(
            plaza_checks::sources::Registry::from_sources(Vec::new()),
            plaza_checks::CheckerConfig::default(),
        )));
        let ntn = checks
            .request("pa_matrix", state, "pa-ltcf", None)
            .await
            .unwrap();
        wait_until(Duration::from_secs(10), "the check delayed", || async {
            checks.pass().await.unwrap();
            plaza_checks::service::store::get(checks.db(), &ntn)
                .await
                .unwrap()
                .is_some_and(|c| c.status == "review")
        })
        .await;
        ntn
    }

    async fn permit_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM permit_applications")
            .fetch_one(self.server().permits.db().reader())
            .await
            .unwrap()
    }

    /// Takes a PA licence to carry for "Pat Holder" to issue: its number.
    async fn issued_pa_licence(&self, citizen: &str, clerk: &str, officer: &str) -> String {
        let (status, a) = self
            .post_as(
                citizen,
                "/v1/permit-applications",
                json!({"permit_type": "pa-ltcf", "applicant": pa_applicant("Pat"), "resident": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        let id = a["id"].as_str().unwrap().to_owned();
        let state = self
            .step(clerk, &id, json!({"event": "documents_received"}))
            .await;
        assert_eq!(state, "check_pending");
        self.check_proceeds(&id).await;
        for referee in ["R One", "R Two"] {
            self.step(
                clerk,
                &id,
                json!({"event": "reference_received", "referee": referee}),
            )
            .await;
        }
        let (status, a) = self
            .post_as(
                officer,
                &format!("/v1/permit-applications/{id}/decision"),
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert_eq!(a["state"], "issued");
        a["permit_number"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_citizen_gets_firearm_permits_through_rest_and_bad_input_changes_nothing() {
    let api = spawn().await;
    let ann = api.token(Role::Citizen, None).await;
    let il_clerk = api.token(Role::Clerk, Some("IL")).await;
    let il_officer = api.token(Role::LicensingOfficer, Some("IL")).await;
    let ny_clerk = api.token(Role::Clerk, Some("NY")).await;
    let ny_officer = api.token(Role::LicensingOfficer, Some("NY")).await;

    // The catalogue is public.
    let (status, all) = api.get("/v1/permit-types").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["types"].as_array().unwrap().len(), 81);
    let (_, il) = api.get("/v1/permit-types?jurisdiction=IL").await;
    assert!(
        il["types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["jurisdiction"] == "IL")
    );
    let (status, foid) = api.get("/v1/permit-types/il-foid").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(foid["kind"], "owner_id");
    assert_eq!(foid["decision_deadline"], "30 calendar days");
    let r = api
        .http
        .get(api.url("/v1/permit-types/xx-nothing"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "permits.unknown_type").await;

    // Bad input is refused with problem+json and stores nothing.
    let applicant = json!({"given_name": "Ann", "family_name": "Citizen",
        "birth_date": "1980-05-17", "address": "1 Main St, Springfield IL 62701"});
    let submit = |key: &str, body: Value| {
        api.http
            .post(api.url("/v1/permit-applications"))
            .bearer_auth(&ann)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let r = submit(
        "bad-1",
        json!({"permit_type": "il-nothing", "applicant": applicant, "resident": true}),
    )
    .await
    .unwrap();
    assert_problem(r, 404, "permits.unknown_type").await;
    let mut impossible = applicant.clone();
    impossible["birth_date"] = json!("1980-02-30");
    let r = submit(
        "bad-2",
        json!({"permit_type": "il-foid", "applicant": impossible, "resident": true}),
    )
    .await
    .unwrap();
    assert_problem(r, 400, "permits.invalid_date").await;
    assert_eq!(api.permit_rows().await, 0);

    // The FOID: submitted once, whatever the repeats.
    let foid_body = json!({"permit_type": "il-foid", "applicant": applicant, "resident": true});
    let r = submit("foid-1", foid_body.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let foid: Value = r.json().await.unwrap();
    let foid_id = foid["id"].as_str().unwrap().to_owned();
    assert_eq!(foid["state"], "submitted");
    assert_eq!(foid["expected"], json!(["documents_received"]));
    assert_eq!(foid["applicant"]["given_name"], "Ann");
    let r = submit("foid-1", foid_body.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], foid_id.as_str());
    let mut other = foid_body.clone();
    other["applicant"]["address"] = json!("2 Elm St, Springfield IL 62701");
    let r = submit("foid-1", other).await.unwrap();
    assert_problem(r, 409, "permits.idempotency_conflict").await;
    // Another key for the same person and type: one open application.
    let r = submit("foid-2", foid_body.clone()).await.unwrap();
    assert_problem(r, 409, "permits.duplicate").await;
    assert_eq!(api.permit_rows().await, 1);

    // Out of order: no decision before the documents and the check.
    let r = api
        .http
        .post(api.url(&format!("/v1/permit-applications/{foid_id}/decision")))
        .bearer_auth(&il_officer)
        .header("Idempotency-Key", "early")
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 422, "permits.out_of_order").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("documents_received")
    );
    // The applicant does not record their own documents; New York's
    // clerk does not see Illinois's application.
    let docs = json!({"event": "documents_received"});
    let path = format!("/v1/permit-applications/{foid_id}/events");
    assert_eq!(
        api.post_as(&ann, &path, docs.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post_as(&ny_clerk, &path, docs.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, now) = api
        .get_as(&format!("/v1/permit-applications/{foid_id}"), &ann)
        .await;
    assert_eq!(now["state"], "submitted");
    assert_eq!(now["timeline"].as_array().unwrap().len(), 1);

    assert_eq!(
        api.step(&il_clerk, &foid_id, docs.clone()).await,
        "check_pending"
    );
    // Only the checks service answers a check.
    let refused = api
        .check_answer_as(&Caller::service("renewal"), &foid_id, "proceed")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);
    let checked = api.check_proceeds(&foid_id).await;
    assert_eq!(checked.state, "officer_review");

    // The officer's queue holds it, with its statutory deadline; New York's
    // does not.
    let (status, queue) = api.get_as("/v1/permit-queue", &il_officer).await;
    assert_eq!(status, StatusCode::OK);
    let line = queue["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["application_id"] == foid_id.as_str())
        .expect("in the IL queue")
        .clone();
    assert_eq!(line["state"], "officer_review");
    assert_eq!(line["due_on"], now["decision_due"]);
    let (_, ny_queue) = api.get_as("/v1/permit-queue", &ny_officer).await;
    assert!(
        ny_queue["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["application_id"] != foid_id.as_str())
    );
    let (status, issued) = api
        .post_as(
            &il_officer,
            &format!("/v1/permit-applications/{foid_id}/decision"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["state"], "issued");
    let number = issued["permit_number"].as_str().unwrap();
    assert!(number.starts_with("IL-FOID-"), "{number}");
    let (_, mine) = api
        .get_as(&format!("/v1/permit-applications/{foid_id}"), &ann)
        .await;
    let states: Vec<&str> = mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["submitted", "check_pending", "officer_review", "issued"]
    );
    assert_eq!(mine["permit_number"], number);

    // The New York licence: training, prints, four references, interview.
    let (status, ny) = api
        .post_as(
            &ann,
            "/v1/permit-applications",
            json!({"permit_type": "ny-pistol-licence", "resident": true, "applicant":
                {"given_name": "Ann", "family_name": "Citizen", "birth_date": "1980-05-17",
                 "address": "5 State St, Albany NY 12207"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ny}");
    let ny_id = ny["id"].as_str().unwrap().to_owned();
    let short = json!({"event": "documents_received",
        "training": {"proof": "course_certificate", "hours": 8, "score_percent": 95}});
    let (status, refused) = api
        .post_as(
            &ny_clerk,
            &format!("/v1/permit-applications/{ny_id}/events"),
            short,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["code"], "permits.training_not_proven");
    let state = api
        .step(
            &ny_clerk,
            &ny_id,
            json!({"event": "documents_received",
                "training": {"proof": "course_certificate", "hours": 18, "score_percent": 85}}),
        )
        .await;
    assert_eq!(state, "documents_received");
    let (status, refused) = api
        .post_as(
            &ny_clerk,
            &format!("/v1/permit-applications/{ny_id}/events"),
            json!({"event": "fingerprints_scheduled", "office_id": "ny-albany", "on": "2099-02-30"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["code"], "permits.invalid_date");
    let state = api
        .step(
            &ny_clerk,
            &ny_id,
            json!({"event": "fingerprints_scheduled", "office_id": "ny-albany", "on": "2099-06-01"}),
        )
        .await;
    assert_eq!(state, "fingerprints_scheduled");
    let state = api
        .step(&ny_clerk, &ny_id, json!({"event": "fingerprinted"}))
        .await;
    assert_eq!(state, "check_pending");
    assert_eq!(api.check_proceeds(&ny_id).await.state, "references_pending");
    for referee in ["R One", "R Two", "R Three", "R Four"] {
        api.step(
            &ny_clerk,
            &ny_id,
            json!({"event": "reference_received", "referee": referee}),
        )
        .await;
    }
    let state = api
        .step(&ny_clerk, &ny_id, json!({"event": "interviewed"}))
        .await;
    assert_eq!(state, "officer_review");
    let (_, queue) = api.get_as("/v1/permit-queue", &ny_officer).await;
    assert_eq!(queue["entries"][0]["application_id"], ny_id.as_str());
    let (status, issued) = api
        .post_as(
            &ny_officer,
            &format!("/v1/permit-applications/{ny_id}/decision"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["state"], "issued");
    assert!(
        issued["permit_number"]
            .as_str()
            .unwrap()
            .starts_with("NY-PISTOL-LICENCE-")
    );
    assert_eq!(api.permit_rows().await, 2);

    // Continuous evaluation: a new record about Ann sends both her permits
    // to officer review, once per record.
    let record = permits_pb::RecordPushedRequest {
        given_name: "ann".into(),
        family_name: "CITIZEN".into(),
        birth_date: "1980-05-17".into(),
        record_id: "rap-1".into(),
        source: "rap_back".into(),
        summary: "Arrest reported".into(),
    };
    let checks = Caller::service("checks");
    let (mut client, req) = api.sealed(&checks, record.clone()).await;
    let mut moved = client.record_pushed(req).await.unwrap().into_inner().moved;
    moved.sort();
    let mut both = vec![foid_id.clone(), ny_id.clone()];
    both.sort();
    assert_eq!(moved, both);
    let (mut client, req) = api.sealed(&checks, record).await;
    let again = client.record_pushed(req).await.unwrap().into_inner();
    assert!(again.moved.is_empty());
    let (_, queue) = api.get_as("/v1/permit-queue", &il_officer).await;
    let line = queue["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["application_id"] == foid_id.as_str())
        .expect("under review in the IL queue")
        .clone();
    assert_eq!(line["state"], "under_review");
    assert_eq!(line["permit_number"], number);
}
