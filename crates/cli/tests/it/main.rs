//! The `plaza` binary as a user runs it: configuration errors, import,
//! the embedded shape serving and stopping, and the distributed shape split
//! over two processes on PostgreSQL, NATS and Redis.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod checks;
mod payments;
mod permits;
mod renewal;

use plaza_kernel::testing::{NATS_ENV, PG_ENV, REDIS_ENV, require, temp_dir, unique, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_plaza");

/// A command with a clean environment: only what the test gives.
fn plaza(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PLAZA_LOG_LEVEL", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Registers a client and an administrator with the CLI (beside the
/// running server, on the same data), then signs the administrator in
/// through the server's pages, second factor included.
async fn admin_token(http: &str, env: &[(&str, String)]) -> String {
    let (code, out, err) = run(
        &[
            "clients",
            "add",
            "--name",
            "e2e",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        env,
    );
    assert_eq!(code, 0, "{err}");
    let client_id = out
        .lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .expect("client_id printed")
        .to_owned();
    let mut child = plaza(
        &[
            "users",
            "add",
            "--email",
            "admin@plaza.test",
            "--role",
            "admin",
            "--password-stdin",
        ],
        env,
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"an e2e admin password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("password:"),
        "a given password is not echoed"
    );
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .expect("the TOTP secret is printed")
        .trim()
        .to_owned();
    let issuer = format!("{http}/oidc");
    plaza_identity::testing::sign_in(&plaza_identity::testing::SignIn {
        issuer: &issuer,
        client_id: &client_id,
        redirect_uri: "http://127.0.0.1/cb",
        email: "admin@plaza.test",
        password: "an e2e admin password",
        totp_secret: Some(&secret),
    })
    .await
    .access_token
}

/// An account with `role` (and `jurisdiction`) made with the CLI, signed
/// in through the server's pages (with its TOTP for staff): its access
/// token.
async fn user_token(
    http: &str,
    env: &[(&str, String)],
    client_id: &str,
    role: &str,
    jurisdiction: Option<&str>,
) -> String {
    let email = format!("{}@plaza.test", unique(role));
    let mut args = vec![
        "users",
        "add",
        "--email",
        &email,
        "--role",
        role,
        "--password-stdin",
    ];
    if let Some(j) = jurisdiction {
        args.extend(["--jurisdiction", j]);
    }
    let mut child = plaza(&args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"a user's long password\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .map(|s| s.trim().to_owned());
    plaza_identity::testing::sign_in(&plaza_identity::testing::SignIn {
        issuer: &format!("{http}/oidc"),
        client_id,
        redirect_uri: "http://127.0.0.1/cb",
        email: &email,
        password: "a user's long password",
        totp_secret: secret.as_deref(),
    })
    .await
    .access_token
}

/// A public client registered with the CLI: its id.
fn public_client(env: &[(&str, String)]) -> String {
    let (code, out, err) = run(
        &[
            "clients",
            "add",
            "--name",
            &unique("portal"),
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        env,
    );
    assert_eq!(code, 0, "{err}");
    out.lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .expect("client_id printed")
        .to_owned()
}

fn run(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let out = plaza(args, env).output().expect("run plaza");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_value_stops_with_key_value_and_fix() {
    let (code, _, err) = run(
        &["config", "check"],
        &[("PLAZA_HTTP_LISTEN", "localhost".into())],
    );
    assert_eq!(code, 2);
    assert!(err.contains("`http.listen`"), "{err}");
    assert!(err.contains("PLAZA_HTTP_LISTEN"), "{err}");
    assert!(err.contains("\"localhost\""), "{err}");
    assert!(err.contains("fix: host:port"), "{err}");
    let (code, _, err) = run(&["serve", "--services", "offices,payroll"], &[]);
    assert_eq!(code, 2, "serve refuses to start: {err}");
    assert!(err.contains("payroll"));
}

#[test]
fn config_check_shows_the_effective_configuration_without_secrets() {
    let (code, out, _) = run(
        &["--data-dir", "/srv/plaza", "config", "check"],
        &[(
            "PLAZA_DATABASE_URL",
            "postgres://plaza:s3cret@db:5432/plaza".into(),
        )],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("data_dir = \"/srv/plaza\"  # flag --data-dir"),
        "{out}"
    );
    assert!(out.contains("postgres://plaza:***@db:5432/plaza"), "{out}");
    assert!(!out.contains("s3cret"));
}

#[test]
fn import_checks_every_row_and_imports_all_or_nothing() {
    let dir = temp_dir("cli");
    let data = dir.join("data");
    let env = [("PLAZA_DATA_DIR", data.display().to_string())];
    let (code, csv, _) = run(&["offices", "generate", "--count", "50"], &env);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), 51);
    let good = dir.join("good.csv");
    std::fs::write(&good, &csv).unwrap();
    let (code, out, err) = run(&["offices", "import", good.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("50 created, 0 updated, 0 unchanged"), "{out}");

    // A changed row and two bad rows: both bad rows reported, nothing imported.
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("555-01", "555-02");
    assert_ne!(
        lines[2],
        csv.lines().nth(2).unwrap(),
        "the changed row differs"
    );
    lines[4] = lines[4].replace(",PA,", ",XYZ,");
    lines[7] = lines[7]
        .replace(",true", ",maybe")
        .replace(",false", ",maybe");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let (code, _, err) = run(&["offices", "import", bad.to_str().unwrap()], &env);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}:5: state", bad.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:8: active", bad.display())),
        "{err}"
    );
    assert!(err.contains("nothing was imported"));
    let (code, out, _) = run(&["offices", "import", good.to_str().unwrap()], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 created, 0 updated, 50 unchanged"),
        "the refused file changed nothing: {out}"
    );
}

/// A running `plaza serve` and the addresses it printed.
struct Server {
    child: Child,
    http: Option<String>,
    grpc: Option<String>,
    /// The OpenID Connect issuer, when the process hosts `identity`.
    sign_in: Option<String>,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, String)]) -> Server {
        Server::start_logging(args, env, Stdio::inherit())
    }

    /// Starts `plaza`, its log (standard error) going to `log`.
    fn start_logging(args: &[&str], env: &[(&str, String)], log: Stdio) -> Server {
        let mut child = plaza(args, env)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut http, mut grpc, mut sign_in) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("plaza serve printed its addresses in time");
            if let Some(rest) = line.trim().strip_prefix("HTTP API:") {
                http = Some(rest.trim().trim_end_matches("/v1").to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("sign-in:") {
                sign_in = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.trim().strip_prefix("gRPC:") {
                grpc = Some(rest.split_whitespace().next().unwrap().to_owned());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        std::thread::spawn(move || for _ in rx {});
        Server {
            child,
            http,
            grpc,
            sign_in,
        }
    }

    fn interrupt(&mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "plaza did not stop after Ctrl-C");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn import_sample(env: &[(&str, String)], dir: &Path) {
    let (_, csv, _) = run(&["offices", "generate", "--count", "300"], env);
    let file = dir.join("offices.csv");
    std::fs::write(&file, csv).unwrap();
    let (code, out, err) = run(&["offices", "import", file.to_str().unwrap()], env);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn embedded_shape_serves_rest_and_grpc_and_stops_cleanly_on_ctrl_c() {
    let dir = temp_dir("serve");
    let env = [
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "1500".to_owned()),
    ];
    import_sample(&env, &dir);
    let mut server = Server::start(
        &["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        &env,
    );
    let http = server.http.clone().expect("HTTP address printed");
    let grpc = server.grpc.clone().expect("gRPC address printed");
    assert!(
        dir.join("data/offices.db").exists(),
        "an SQLite database per service in the data folder"
    );

    let client = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    };
    let near: Value = client
        .get(format!(
            "{http}/v1/offices/nearest?lat=40.44&lon=-79.99&limit=3"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(near["items"].as_array().unwrap().len(), 3);
    assert_eq!(near["items"][0]["office"]["address"]["county"], "Allegheny");
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs", "/metrics"] {
        assert_eq!(
            client
                .get(format!("{http}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }

    // gRPC: standard health and server reflection.
    let channel = tonic::transport::Endpoint::from_shared(grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plaza.offices.v1.OfficesService".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        status.get_ref().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let listed = format!("{answer:?}");
    assert!(
        listed.contains("plaza.offices.v1.OfficesService"),
        "{listed}"
    );
    // The gRPC clients stay connected: an idle connection must not hold
    // the shutdown beyond the drain period.

    // A write, then Ctrl-C: requests drain, the outbox is published, exit 0.
    let admin = admin_token(&http, &env).await;
    let me: Value = client
        .get(format!("{http}/v1/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
    assert_eq!(me["email"], "admin@plaza.test");
    let created = client
        .post(format!("{http}/v1/offices"))
        .bearer_auth(&admin)
        .header("Idempotency-Key", unique("k"))
        .header("x-request-id", "e2e-audit-1")
        .json(&serde_json::json!({
            "code": "DMV-5000", "name": "New Office", "kind": "dmv_office",
            "address": {"street": "1 Main St", "city": "York", "county": "York", "state": "PA", "zip": "17401"},
            "location": {"latitude": 39.96, "longitude": -76.73}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(server.interrupt(), 0, "Ctrl-C exits 0");
    drop((answers, reflection, health));
    let db = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::DataDir(dir.join("data")),
        "offices",
    )
    .await
    .unwrap();
    assert_eq!(
        plaza_kernel::outbox::pending(&db).await.unwrap(),
        0,
        "every event published before exit"
    );

    // Every change reached the audit log: the imported offices and the
    // office created over REST, with the request's id, and the log verifies.
    let audit = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::DataDir(dir.join("data")),
        "audit",
    )
    .await
    .unwrap();
    let entries: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT entry FROM audit_log ORDER BY seq")
        .fetch_all(audit.reader())
        .await
        .unwrap();
    let entries: Vec<Value> = entries
        .iter()
        .map(|(e,)| serde_json::from_slice(e).unwrap())
        .collect();
    let imported = entries
        .iter()
        .filter(|e| e["action"] == "offices.import")
        .count();
    assert_eq!(imported, 300, "one audit entry per imported office");
    assert!(entries.iter().all(|e| e["action"] != "offices.import" || e["actor"] == "system:plaza-offices-import"));
    let created: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "offices.create")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["correlation_id"], "e2e-audit-1");
    // The change names the signed-in administrator, whose account creation
    // and sign-in are in the log too.
    let actor = format!("{http}/oidc|{}", me["subject"].as_str().unwrap());
    assert_eq!(created[0]["actor"], actor.as_str());
    let sub = me["subject"].as_str().unwrap();
    let ids: Vec<&Value> = entries
        .iter()
        .filter(|e| e["service"] == "identity")
        .collect();
    assert!(
        ids.iter().any(|e| e["action"] == "identity.account_created"
            && e["actor"] == "system:plaza-users"
            && e["resource"] == format!("user/{sub}").as_str()),
        "{ids:?}"
    );
    assert!(entries.iter().any(|e| e["action"] == "identity.signed_in"
        && e["actor"] == actor.as_str()
        && e["outcome"] == "pwd+otp"));
    assert!(
        created[0]["resource"]
            .as_str()
            .unwrap()
            .starts_with("office/")
    );
    let (code, out, _) = run(&["audit", "verify"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("303 entries"), "{out}");
    assert!(out.contains("verified: nothing was altered"), "{out}");
    let head: (i64,) = sqlx::query_as("SELECT MAX(size) FROM audit_tree_heads")
        .fetch_one(audit.reader())
        .await
        .unwrap();
    assert_eq!(head.0, 303, "the last signed head covers every entry");
}

#[tokio::test]
#[ignore = "needs PostgreSQL, NATS and Redis: set PLAZA_TEST_DATABASE_URL, PLAZA_TEST_NATS_URL, PLAZA_TEST_REDIS_URL (.ci/run does)"]
async fn distributed_shape_splits_over_two_processes_and_heals() {
    let dir = temp_dir("split");
    let common = [
        // Keys (the shared internal caller key among them) live here; the
        // data itself is in PostgreSQL.
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_DATABASE_URL", require(PG_ENV)),
        (
            "PLAZA_DATABASE_SCHEMA_PREFIX",
            format!("{}_", unique("split")),
        ),
        ("PLAZA_NATS_URL", require(NATS_ENV)),
        ("PLAZA_EVENTS_NAMESPACE", unique("t")),
        ("PLAZA_REDIS_URL", require(REDIS_ENV)),
    ];
    import_sample(&common, &dir);
    let offices = Server::start(
        &[
            "serve",
            "--services",
            "offices,audit",
            "--grpc",
            "127.0.0.1:0",
        ],
        &common,
    );
    let grpc = offices
        .grpc
        .clone()
        .expect("offices prints its gRPC address");
    assert!(offices.http.is_none(), "the offices process serves no HTTP");
    let mut gateway_env = common.to_vec();
    gateway_env.push(("PLAZA_ENDPOINT_OFFICES", grpc.clone()));
    gateway_env.push(("PLAZA_ENDPOINT_AUDIT", grpc.clone()));
    gateway_env.push(("PLAZA_CLIENT_REQUEST_TIMEOUT_MS", "800".into()));
    let gateway = Server::start(
        &[
            "serve",
            "--services",
            "gateway,identity",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        &gateway_env,
    );
    let http = gateway.http.clone().unwrap();
    let client = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    };
    let url = format!("{http}/v1/offices/nearest?lat=39.95&lon=-75.16&limit=2");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "answered by the other process over gRPC");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["items"][0]["office"]["address"]["county"],
        "Philadelphia"
    );

    // The imported offices' audit events travelled over NATS into the audit
    // log, whose signed head the gateway serves.
    let head_url = format!("{http}/v1/audit/tree-head");
    wait_until(
        Duration::from_secs(20),
        "a signed head over the 300 imported offices",
        || {
            let (client, url) = (client.clone(), head_url.clone());
            async move {
                match client.get(url).send().await {
                    Ok(r) if r.status() == 200 => r
                        .json::<Value>()
                        .await
                        .map(|h| h["tree_size"] == 300)
                        .unwrap_or(false),
                    _ => false,
                }
            }
        },
    )
    .await;

    // Kill the offices process: the gateway answers 503 problem+json at once.
    drop(offices);
    for _ in 0..4 {
        let started = Instant::now();
        let r = client.get(&url).send().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered within a second"
        );
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "service_unavailable");
    }

    // Restart it on the same address: the gateway heals without a restart.
    let addr = grpc.trim_start_matches("http://").to_owned();
    let _offices = Server::start(
        &["serve", "--services", "offices,audit", "--grpc", &addr],
        &common,
    );
    wait_until(Duration::from_secs(15), "the gateway to heal", || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        }
    })
    .await;
}

/// A received span: its name and its string attributes.
type SpanSeen = (String, Vec<(String, String)>);

/// An OTLP/gRPC trace collector that keeps what it receives.
#[derive(Default, Clone)]
struct Collector {
    spans: std::sync::Arc<std::sync::Mutex<Vec<SpanSeen>>>,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let attrs = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                                Some(V::StringValue(s)) => s,
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), v)
                        })
                        .collect();
                    spans.push((span.name, attrs));
                }
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

// Multi-threaded: the collector must keep running while the test blocks
// waiting for plaza to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_with_the_correlation_id() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer::new(
        collector.clone(),
    );
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let dir = temp_dir("otlp");
    let env = [
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_OTLP_ENDPOINT", format!("http://{addr}")),
        ("PLAZA_LOG_LEVEL", "info".to_owned()),
    ];
    let mut server = Server::start(
        &["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        &env,
    );
    let http = server.http.clone().unwrap();
    let r = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    }
    .get(format!("{http}/v1/offices?limit=1"))
    .header("x-request-id", "otlp-trace-1")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.interrupt(), 0);
    let spans = collector.spans.lock().unwrap().clone();
    let has = |name: &str, key: &str| {
        spans.iter().any(|(n, attrs)| {
            n == name && attrs.iter().any(|(k, v)| k == key && v == "otlp-trace-1")
        })
    };
    assert!(
        has("http", "request_id"),
        "the gateway's span reached the collector: {spans:?}"
    );
    assert!(
        has("grpc", "correlation_id"),
        "the service's span carries the same id: {spans:?}"
    );
}

#[tokio::test]
async fn audit_verify_passes_an_intact_log_and_pinpoints_an_edit() {
    let dir = temp_dir("audit");
    let env = [("PLAZA_DATA_DIR", dir.join("data").display().to_string())];
    let (code, out, err) = run(&["audit", "verify"], &env);
    assert_eq!(code, 1, "no key yet: {out}{err}");
    assert!(err.contains("no audit signing key"), "{err}");
    let (code, out, _) = run(&["audit", "seed", "--count", "700"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("signed tree head at size 700"), "{out}");
    assert!(dir.join("data/keys/audit-signing.key").exists());
    let (code, out, _) = run(&["audit", "verify"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("700 entries, 1 signed tree heads checked"),
        "{out}"
    );
    assert!(out.contains("nothing was altered"));

    let db = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::DataDir(dir.join("data")),
        "audit",
    )
    .await
    .unwrap();
    sqlx::query("UPDATE audit_log SET entry = X'7b7d' WHERE seq = 321")
        .execute(db.reader())
        .await
        .unwrap();
    db.close().await;
    let (code, out, _) = run(&["audit", "verify"], &env);
    assert_eq!(code, 1);
    assert!(out.contains("ALTERED: entry 321 was edited"), "{out}");
    assert!(
        out.contains("ALTERED: the signed tree head at size 700 does not match"),
        "{out}"
    );
    let (code, _, err) = run(&["audit", "verify", "--trust-key", "xyz"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("--trust-key xyz"), "{err}");
}

#[tokio::test]
async fn keys_rotate_rewraps_every_data_key_and_values_still_open() {
    let dir = temp_dir("keys");
    let data = dir.join("data");
    let env = [("PLAZA_DATA_DIR", data.display().to_string())];
    let keyring = data.join("keys/vault-keyring");
    let db = plaza_vault::open_db(&plaza_kernel::db::StorageTarget::DataDir(data.clone()))
        .await
        .unwrap();
    let ring = std::sync::Arc::new(plaza_vault::FileKeyring::load_or_create(&keyring).unwrap());
    let vault = plaza_vault::Vault::new(
        db,
        ring,
        std::sync::Arc::new(plaza_kernel::clock::SystemClock),
    );
    let mut tokens = Vec::new();
    for i in 0..120 {
        tokens.push(
            vault
                .tokenise(plaza_vault::Kind::Name, &format!("Holder {i}"))
                .await
                .unwrap(),
        );
    }
    let (code, out, err) = run(&["keys", "rotate"], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("120 data keys re-wrapped"), "{out}");
    assert!(out.contains("no longer wraps any data key"), "{out}");
    let in_use = vault.keys_in_use().await.unwrap();
    assert_eq!(in_use.len(), 1);
    assert_eq!(in_use[0].1, 120);
    let who = plaza_vault::Access {
        actor: "test",
        purpose: "rotation check",
    };
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(
            *vault.detokenise(t, &who).await.unwrap(),
            format!("HOLDER {i}")
        );
    }
}

#[tokio::test]
async fn services_talk_over_mutual_tls_and_refuse_callers_not_allowed() {
    use plaza_contracts::offices::v1 as pb;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let dir = temp_dir("mtls");
    let certs = dir.join("certs");
    let (code, out, err) = run(
        &[
            "certs",
            "init",
            "--dir",
            certs.to_str().unwrap(),
            "--process",
            "backend=offices,audit",
            "--process",
            "edge=gateway,identity",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(&["certs", "init", "--dir", certs.to_str().unwrap()], &[]);
    assert_ne!(code, 0, "an existing CA is never overwritten");
    assert!(err.contains("already holds a CA"), "{err}");
    let pem = |name: &str| certs.join(name).display().to_string();
    let env_for = |name: &str, data: &str| {
        vec![
            ("PLAZA_DATA_DIR", dir.join(data).display().to_string()),
            (
                "PLAZA_AUTH_INTERNAL_KEY_FILE",
                dir.join("internal.key").display().to_string(),
            ),
            ("PLAZA_TLS_CA_FILE", pem("ca.pem")),
            ("PLAZA_TLS_CERT_FILE", pem(&format!("{name}.pem"))),
            ("PLAZA_TLS_KEY_FILE", pem(&format!("{name}-key.pem"))),
        ]
    };
    let backend_env = env_for("backend", "backend");
    import_sample(&backend_env, &dir);
    let backend = Server::start(
        &[
            "serve",
            "--services",
            "offices,audit",
            "--grpc",
            "127.0.0.1:0",
        ],
        &backend_env,
    );
    let grpc = backend.grpc.clone().unwrap();
    let mut edge_env = env_for("edge", "edge");
    edge_env.push(("PLAZA_ENDPOINT_OFFICES", grpc.clone()));
    edge_env.push(("PLAZA_ENDPOINT_AUDIT", grpc.clone()));
    let edge = Server::start(
        &[
            "serve",
            "--services",
            "gateway,identity",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        &edge_env,
    );
    let http = edge.http.clone().unwrap();
    let client = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    };
    let r = client
        .get(format!(
            "{http}/v1/offices/nearest?lat=40.0&lon=-76.3&limit=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the gateway reaches offices over mutual TLS"
    );

    let https = grpc.replace("http://", "https://");
    let ca = Certificate::from_pem(std::fs::read(certs.join("ca.pem")).unwrap());
    let identity = |name: &str| {
        Identity::from_pem(
            std::fs::read(certs.join(format!("{name}.pem"))).unwrap(),
            std::fs::read(certs.join(format!("{name}-key.pem"))).unwrap(),
        )
    };
    let get_office = |tls: Option<ClientTlsConfig>, url: String| async move {
        let mut ep = Endpoint::from_shared(url).unwrap();
        if let Some(tls) = tls {
            ep = ep.tls_config(tls).unwrap();
        }
        let channel = ep.connect().await?;
        pb::offices_service_client::OfficesServiceClient::new(channel)
            .list_offices(pb::ListOfficesRequest {
                limit: 1,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error>)
    };
    // No TLS at all, or TLS without a client certificate: refused.
    assert!(get_office(None, grpc.clone()).await.is_err());
    let anonymous = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .domain_name("offices.plaza.internal");
    assert!(get_office(Some(anonymous), https.clone()).await.is_err());
    // A certificate of a service that may not call offices: refused by name.
    let audit_cert = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(identity("audit"))
        .domain_name("offices.plaza.internal");
    let err = get_office(Some(audit_cert), https.clone())
        .await
        .unwrap_err();
    let status = err.downcast_ref::<tonic::Status>().expect("a gRPC status");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        status.metadata().get("plaza-code").unwrap(),
        "caller_not_allowed"
    );
    // The gateway's own certificate: allowed.
    let gateway_cert = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(identity("gateway"))
        .domain_name("offices.plaza.internal");
    get_office(Some(gateway_cert), https.clone()).await.unwrap();
    // A server certificate must name the service the client meant.
    let wrong_server = ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(identity("gateway"))
        .domain_name("vault.plaza.internal");
    assert!(get_office(Some(wrong_server), https).await.is_err());

    // Sign-in alone in a process of its own: the pages behind the same edge
    // protections as the API (request ids, security headers).
    let signin = Server::start(
        &[
            "serve",
            "--services",
            "identity",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        &env_for("edge", "signin"),
    );
    assert!(signin.http.is_none(), "no REST API without the gateway");
    let issuer = signin.sign_in.clone().expect("the issuer is printed");
    let r = client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], issuer.as_str());
    drop((edge, backend, signin));
}

#[tokio::test]
async fn no_personal_data_is_stored_or_logged_in_clear() {
    use plaza_contracts::vault::v1 as pb;
    use plaza_kernel::auth::{CALLER_METADATA, Caller, CallerSeal, Role};
    let dir = temp_dir("pii");
    let data = dir.join("data");
    let log_path = dir.join("plaza.log");
    let env = [
        ("PLAZA_DATA_DIR", data.display().to_string()),
        ("PLAZA_LOG_FORMAT", "json".to_owned()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "1500".to_owned()),
    ];
    let mut server = Server::start_logging(
        &["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        &[env.as_slice(), &[("PLAZA_LOG_LEVEL", "debug".to_owned())]].concat(),
        Stdio::from(std::fs::File::create(&log_path).unwrap()),
    );
    let (http, grpc) = (server.http.clone().unwrap(), server.grpc.clone().unwrap());
    // The test people.
    let people = [
        ("123-45-6789", "1984-03-07", "Ana María Kowalski"),
        ("219-09-9999", "1990-12-31", "Tomasz Wiśniewski"),
    ];

    // The flows: sign-in, personal data through the vault (sealed as the
    // gateway seals callers), reads with a purpose, a change through REST,
    // and personal data where it does not belong (a path).
    let admin = admin_token(&http, &env).await;
    let client = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    };
    for (ssn, _, _) in &people {
        let r = client
            .get(format!("{http}/v1/offices/{ssn}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let key_text = std::fs::read_to_string(data.join("keys/internal-caller.key")).unwrap();
    let seal = CallerSeal::from_key(plaza_kernel::hex::decode32(key_text.trim()).unwrap());
    let as_role = |role: Role| Caller {
        subject: format!("{role}-1"),
        issuer: format!("{http}/oidc"),
        roles: vec![role],
        jurisdiction: Some("PA".into()),
    };
    let sealed = |caller: &Caller| -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
        seal.seal(caller, plaza_kernel::clock::now_ms())
            .parse()
            .unwrap()
    };
    let mut vault = pb::vault_service_client::VaultServiceClient::connect(grpc.clone())
        .await
        .unwrap();
    for (ssn, dob, name) in &people {
        for (kind, value) in [("ssn", ssn), ("birth_date", dob), ("name", name)] {
            let mut req = tonic::Request::new(pb::TokeniseRequest {
                kind: kind.into(),
                value: value.to_string(),
            });
            req.metadata_mut()
                .insert(CALLER_METADATA, sealed(&as_role(Role::Clerk)));
            let token = vault.tokenise(req).await.unwrap().into_inner().token;
            let mut req = tonic::Request::new(pb::DetokeniseRequest {
                token,
                purpose: "licence_decision".into(),
            });
            req.metadata_mut()
                .insert(CALLER_METADATA, sealed(&as_role(Role::LicensingOfficer)));
            let back = vault.detokenise(req).await.unwrap().into_inner();
            assert!(!back.value.is_empty());
        }
    }
    assert_eq!(server.interrupt(), 0);

    // Every byte of every service's storage (tables, indexes, journals) and
    // every log line: no test person's SSN, birth date or name in clear.
    let mut files = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let dbs = files
        .iter()
        .filter(|p| p.to_string_lossy().contains(".db"))
        .count();
    assert!(dbs >= 4, "every service's database was scanned: {files:?}");
    files.push(log_path.clone());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 10, "the log was written:\n{log}");
    let mut hits = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_uppercase();
        for (ssn, dob, name) in &people {
            let needles = [
                ssn.to_string(),
                ssn.replace('-', ""),
                dob.to_string(),
                dob.replace('-', ""),
                name.to_uppercase(),
            ]
            .into_iter()
            .chain(
                name.split(' ')
                    .filter(|w| w.chars().count() > 4)
                    .map(str::to_uppercase),
            );
            for needle in needles {
                if text.contains(&needle) {
                    hits.push(format!("{}: {needle}", f.display()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "personal data in clear:\n{}",
        hits.join("\n")
    );
    // The scan looked at stored personal data: the vault holds all six
    // values, sealed.
    let vault_db = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::DataDir(data.clone()),
        "vault",
    )
    .await
    .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM vault_records")
        .fetch_one(vault_db.reader())
        .await
        .unwrap();
    assert_eq!(n, 6);
}
