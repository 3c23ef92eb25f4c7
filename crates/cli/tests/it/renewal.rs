//! Driver's licence renewal through the `plaza` binary: reference
//! addresses imported and drivers seeded with the CLI, the outside world
//! played by the simulator over HTTP, and the renewal process killed while
//! a payment and its saga are under way. However it dies, the renewal ends
//! ordered once, with one charge.

use std::time::Duration;

use plaza_kernel::testing::{temp_dir, unique};
use serde_json::{Value, json};

use super::{Server, run};

const REFERENCE_ROWS: &str = "2000";
const DRIVERS: u64 = 300;

/// The simulator (processor and card vendor), reached over HTTP.
async fn start_sim() -> (String, plaza_sim::processor::Processor) {
    plaza_sim::start_local().await.unwrap()
}

/// A citizen account made with the CLI, signed in through the server's
/// pages.
async fn citizen_token(http: &str, env: &[(&str, String)], client_id: &str) -> String {
    super::user_token(http, env, client_id, "citizen", None).await
}

/// The seeded drivers that may renew online today (as `plaza dmv seed`
/// made them: seed 1).
fn eligible_drivers() -> Vec<plaza_renewal::drivers::domain::Driver> {
    use plaza_renewal::drivers::seed;
    let today = plaza_renewal::drivers::domain::Date::from_days(
        plaza_kernel::clock::now_ms().div_euclid(86_400_000),
    )
    .unwrap();
    let opts = seed::SeedOptions::new(DRIVERS, 1, today);
    let rules = plaza_renewal::eligibility::RuleSet::shipped();
    let request = plaza_renewal::eligibility::RenewalRequest {
        wants_real_id: false,
    };
    (0..DRIVERS)
        .map(|i| seed::driver(&opts, i, seed::sample_address(1, i)))
        .filter(|d| rules.evaluate(d, &request, today).eligible())
        .collect()
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), reqwest::Error> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", unique("k"))
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The first reference address written as a person types it.
fn typed_address() -> String {
    let mut first = None;
    plaza_address::generate::for_each(2000, 1, |a, _| {
        if first.is_none() {
            first = Some(format!(
                "{} {}, {} {} {}",
                a.number,
                a.street().to_lowercase(),
                a.city,
                a.state,
                a.zip5
            ));
        }
    });
    first.unwrap()
}

/// The test photo, base64.
fn good_photo() -> String {
    use base64::Engine;
    let bytes = std::fs::read(format!(
        "{}/../photo/tests/fixtures/good.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Claims `d` for the client's citizen and readies a renewal to pay
/// (photo, typed address, mail): `(renewal id, payment intent id)`.
async fn ready_to_pay(
    c: &Client,
    d: &plaza_renewal::drivers::domain::Driver,
    photo: &str,
) -> (String, String) {
    let (status, claimed) = c
        .post(
            "/v1/drivers/claim",
            json!({"licence_number": d.licence_number.as_str(),
                   "birth_date": d.person.birth_date.to_string()}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{claimed}");
    let (status, r) = c
        .post("/v1/renewals", json!({"driver_id": d.id}))
        .await
        .unwrap();
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    let intent = r["payment_intent_id"].as_str().unwrap().to_owned();
    let (_, p) = c
        .post(
            &format!("/v1/renewals/{id}/photo"),
            json!({"content_type": "image/jpeg", "image_base64": photo}),
        )
        .await
        .unwrap();
    assert_eq!(p["accepted"], true, "{p}");
    let (_, a) = c
        .post(
            &format!("/v1/renewals/{id}/address"),
            json!({"text": typed_address()}),
        )
        .await
        .unwrap();
    assert_eq!(a["renewal"]["address_confirmed"], true, "{a}");
    let (status, _) = c
        .post(
            &format!("/v1/renewals/{id}/delivery"),
            json!({"kind": "mail"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    (id, intent)
}

#[tokio::test]
async fn renewals_finish_once_however_the_process_dies_mid_payment() {
    let dir = temp_dir("renewal-e2e");
    let (sim, processor) = start_sim().await;
    let env = [
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "500".to_owned()),
        ("PLAZA_PAYMENTS_PROCESSOR_URL", sim.clone()),
        ("PLAZA_FULFILLMENT_VENDOR_URL", sim.clone()),
    ];
    let (_, csv, _) = run(&["address", "generate", "--count", REFERENCE_ROWS], &env);
    let file = dir.join("addresses.csv");
    std::fs::write(&file, csv).unwrap();
    let (code, out, err) = run(&["address", "import", file.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(
        &[
            "dmv",
            "seed",
            "--drivers",
            &DRIVERS.to_string(),
            "--addresses",
            REFERENCE_ROWS,
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("seeded {DRIVERS} drivers")), "{out}");
    let (code, out, err) = run(
        &[
            "clients",
            "add",
            "--name",
            "portal",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let client_id = out
        .lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .unwrap()
        .to_owned();
    let drivers = eligible_drivers();
    let photo = good_photo();
    // One address across restarts: it is the sign-in issuer of the tokens.
    let http = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let args = ["serve", "--http", &http, "--grpc", "127.0.0.1:0"];
    let mut server = Server::start(&args, &env);
    plaza_kernel::install_crypto_provider();

    // Kill the process this long after the payment request went out.
    let delays_ms = [0u64, 15, 40, 80, 150, 300];
    let mut renewals = Vec::new();
    for (n, delay) in delays_ms.iter().enumerate() {
        let base = server.http.clone().unwrap();
        let c = Client {
            http: reqwest::Client::new(),
            base: base.clone(),
            token: citizen_token(&base, &env, &client_id).await,
        };
        let (id, intent) = ready_to_pay(&c, &drivers[n], &photo).await;

        // Pay, and kill the process while it works.
        let paying = {
            let http = c.http.clone();
            let url = format!("{base}/v1/renewals/{id}/payment");
            let token = c.token.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .header("Idempotency-Key", unique("pay"))
                    .json(&json!({"card_number": "4242424242424242"}))
                    .send()
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let _ = paying.await;
        server = Server::start(&args, &env);
        // The citizen tries again, as anyone whose page broke would.
        // (A new connection: the old ones died with the process.)
        let c = Client {
            http: reqwest::Client::new(),
            base: server.http.clone().unwrap(),
            token: c.token,
        };
        let (status, again) = c
            .post(
                &format!("/v1/renewals/{id}/payment"),
                json!({"card_number": "4242424242424242"}),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "after a kill at {delay} ms: {again}");
        renewals.push((c, id, intent, delay));
    }

    for (c, id, intent, delay) in &renewals {
        let base = server.http.clone().unwrap();
        let c = Client {
            http: c.http.clone(),
            base,
            token: c.token.clone(),
        };
        // A dead process's saga lease runs out, then the next pass resumes it.
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        let r = loop {
            let r = c.get(&format!("/v1/renewals/{id}")).await;
            if r["status"] == "ordered" {
                break r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not ordered after a kill at {delay} ms: {r}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let charges = processor
            .records()
            .charges
            .iter()
            .filter(|ch| &ch.reference == intent && ch.status == "succeeded")
            .count();
        assert_eq!(charges, 1, "one charge after a kill at {delay} ms");
        assert!(r["order_id"].is_string(), "{r}");
        let ordered = r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "ordered")
            .count();
        assert_eq!(ordered, 1, "ordered once after a kill at {delay} ms: {r}");
    }
    // Each citizen was told by mail (the spool, with no relay configured).
    let mail_dir = dir.join("data/mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let told = std::fs::read_dir(&mail_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|f| {
                        std::fs::read_to_string(f.path())
                            .is_ok_and(|m| m.contains("card is ordered"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if told >= delays_ms.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{told} order mails for {} renewals",
            delays_ms.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.interrupt(), 0);
}

#[tokio::test]
#[ignore = "needs PostgreSQL, NATS and Redis: set PLAZA_TEST_DATABASE_URL, PLAZA_TEST_NATS_URL, PLAZA_TEST_REDIS_URL (.ci/run does)"]
async fn distributed_renewal_with_each_service_in_its_own_process() {
    use plaza_kernel::testing::{NATS_ENV, PG_ENV, REDIS_ENV, require};

    let dir = temp_dir("renewal-split");
    let (sim, processor) = start_sim().await;
    let common = vec![
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_DATABASE_URL", require(PG_ENV)),
        ("PLAZA_DATABASE_SCHEMA_PREFIX", format!("{}_", unique("rs"))),
        ("PLAZA_NATS_URL", require(NATS_ENV)),
        ("PLAZA_EVENTS_NAMESPACE", unique("t")),
        ("PLAZA_REDIS_URL", require(REDIS_ENV)),
        ("PLAZA_PAYMENTS_PROCESSOR_URL", sim.clone()),
        ("PLAZA_FULFILLMENT_VENDOR_URL", sim.clone()),
        // Card orders go to the vendor at once.
        ("PLAZA_FULFILLMENT_BATCH_WAIT_MS", "0".to_owned()),
    ];
    let (_, csv, _) = run(&["address", "generate", "--count", REFERENCE_ROWS], &common);
    let file = dir.join("addresses.csv");
    std::fs::write(&file, csv).unwrap();
    let (code, out, err) = run(&["address", "import", file.to_str().unwrap()], &common);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(
        &[
            "dmv",
            "seed",
            "--drivers",
            &DRIVERS.to_string(),
            "--addresses",
            REFERENCE_ROWS,
        ],
        &common,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(
        &[
            "clients",
            "add",
            "--name",
            "portal",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        &common,
    );
    let client_id = out
        .lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .unwrap()
        .to_owned();

    // Each of the renewal family in a process of its own.
    let start = |services: &str, extra: &[(&'static str, String)]| {
        let mut env = common.clone();
        env.extend_from_slice(extra);
        Server::start(
            &["serve", "--services", services, "--grpc", "127.0.0.1:0"],
            &env,
        )
    };
    let grpc = |s: &Server| s.grpc.clone().unwrap();
    let photo = start("photo", &[]);
    // Offices (for pickup) beside address.
    let address = start("address,offices", &[]);
    let payments = start("payments", &[]);
    let fulfillment = start("fulfillment", &[]);
    let peers = [
        ("PLAZA_ENDPOINT_PHOTO", grpc(&photo)),
        ("PLAZA_ENDPOINT_ADDRESS", grpc(&address)),
        ("PLAZA_ENDPOINT_PAYMENTS", grpc(&payments)),
        ("PLAZA_ENDPOINT_FULFILLMENT", grpc(&fulfillment)),
        ("PLAZA_ENDPOINT_OFFICES", grpc(&address)),
    ];
    let renewal = start("renewal", &peers);
    let mut edge_env = common.clone();
    edge_env.extend_from_slice(&[
        ("PLAZA_ENDPOINT_RENEWAL", grpc(&renewal)),
        ("PLAZA_ENDPOINT_PAYMENTS", grpc(&payments)),
        ("PLAZA_ENDPOINT_ADDRESS", grpc(&address)),
        ("PLAZA_ENDPOINT_OFFICES", grpc(&address)),
    ]);
    let edge = Server::start(
        &[
            "serve",
            "--services",
            "gateway,identity,audit,vault",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        &edge_env,
    );
    let base = edge.http.clone().unwrap();
    plaza_kernel::install_crypto_provider();
    let c = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: citizen_token(&base, &edge_env, &client_id).await,
    };
    let (id, intent) = ready_to_pay(&c, &eligible_drivers()[0], &good_photo()).await;
    let (status, paid) = c
        .post(
            &format!("/v1/renewals/{id}/payment"),
            json!({"card_number": "4242424242424242"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "ordered");
    let charges = processor
        .records()
        .charges
        .iter()
        .filter(|ch| ch.reference == intent && ch.status == "succeeded")
        .count();
    assert_eq!(charges, 1);

    // The vendor makes and mails the card; fulfillment's events cross NATS
    // into the renewal process and the citizen's timeline.
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        http.post(format!("{sim}/vendor/v1/admin/advance"))
            .send()
            .await
            .unwrap();
        let r = c.get(&format!("/v1/renewals/{id}")).await;
        if r["status"] == "mailed" {
            assert!(r["tracking"].is_string(), "{r}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not mailed: {r}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop((photo, address, payments, fulfillment, renewal, edge));
}
