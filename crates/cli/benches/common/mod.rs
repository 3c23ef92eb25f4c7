//! What the benches of a running `plaza serve` share: the command line,
//! the server, accounts signed in through its pages, and a REST client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_plaza");

pub fn arg(name: &str, default: usize) -> usize {
    text_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn text_arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

pub fn plaza(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    // PLAZA_BENCH_LOG_LEVEL (e.g. `warn,plaza::sql=debug` to see every
    // SQLite statement, `sqlx::query=debug` for PostgreSQL's) is passed on
    // as the server's log level.
    let level = std::env::var("PLAZA_BENCH_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
    c.args(args).env("PLAZA_LOG_LEVEL", level);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub fn run(env: &[(&str, String)], args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = plaza(env, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "plaza {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed) as u128;
    format!("{:032x}", (std::process::id() as u128) << 64 | n)
}

/// A public client for the bench's sign-ins: its id.
pub fn public_client(env: &[(&str, String)]) -> String {
    let out = run(
        env,
        &[
            "clients",
            "add",
            "--name",
            "bench",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        None,
    );
    out.lines()
        .find_map(|l| l.strip_prefix("client_id="))
        .unwrap()
        .to_owned()
}

/// An account made with the CLI before the server starts: its e-mail and
/// TOTP secret (staff).
pub fn account(
    env: &[(&str, String)],
    email: &str,
    role: &str,
    jurisdiction: Option<&str>,
) -> (String, Option<String>) {
    let mut args = vec![
        "users",
        "add",
        "--email",
        email,
        "--role",
        role,
        "--password-stdin",
    ];
    if let Some(j) = jurisdiction {
        args.extend(["--jurisdiction", j]);
    }
    let out = run(env, &args, Some(b"a bench password\n"));
    let secret = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .map(|s| s.trim().to_owned());
    (email.to_owned(), secret)
}

/// Signs an account in through the server's pages: its access token.
pub async fn sign_in(base: &str, client_id: &str, account: &(String, Option<String>)) -> String {
    plaza_identity::testing::sign_in(&plaza_identity::testing::SignIn {
        issuer: &format!("{base}/oidc"),
        client_id,
        redirect_uri: "http://127.0.0.1/cb",
        email: &account.0,
        password: "a bench password",
        totp_secret: account.1.as_deref(),
    })
    .await
    .access_token
}

/// `plaza serve` on a free HTTP port, ready: the child and its base URL.
pub fn serve(env: &[(&str, String)]) -> (Child, String) {
    let http_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut server = plaza(
        env,
        &["serve", "--http", &http_addr, "--grpc", "127.0.0.1:0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("Press Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (server, format!("http://{http_addr}"))
}

/// Stops the server as Ctrl-C does.
pub fn stop(mut server: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    /// Saves the server's metrics to the file `PLAZA_BENCH_METRICS` names,
    /// when it names one: per-method gRPC durations show where time went.
    pub async fn save_metrics(&self) {
        let Ok(path) = std::env::var("PLAZA_BENCH_METRICS") else {
            return;
        };
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        std::fs::write(&path, text).unwrap();
        println!("metrics saved to {path}");
    }

    /// POSTs, waiting and retrying while the server says busy.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Value {
        let mut wait = Duration::from_millis(50);
        loop {
            let r = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Idempotency-Key", uuid())
                .json(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            if status.as_u16() == 429 || status.as_u16() == 503 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
                continue;
            }
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {v}");
            return v;
        }
    }
}
