//! Test support shared by every crate's integration tests: fresh storage per
//! test on SQLite or PostgreSQL, the external servers' URLs, waiting on a
//! condition with a deadline, and a TCP proxy that can cut connections.
//!
//! Tests that need PostgreSQL, NATS or Redis carry an ignore attribute whose
//! reason names the variable to set, so a bare `cargo test` passes on a fresh
//! machine and says what it did not run; `.ci/run` sets the variables and
//! runs them with `--include-ignored`. Run that way without the variable,
//! such a test fails: it never passes without having run.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::db::StorageTarget;

/// The variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "PLAZA_TEST_DATABASE_URL";
pub const NATS_ENV: &str = "PLAZA_TEST_NATS_URL";
pub const REDIS_ENV: &str = "PLAZA_TEST_REDIS_URL";

/// The URL in `var`; panics with instructions when it is not set.
pub fn require(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("this test needs {var} (see .ci/run, which starts the servers and sets it)")
    })
}

/// A fresh, empty place for a test's data: a temporary folder for SQLite.
pub fn sqlite_target() -> StorageTarget {
    StorageTarget::DataDir(temp_dir("db"))
}

/// A fresh schema prefix on the test PostgreSQL server.
pub fn postgres_target() -> StorageTarget {
    StorageTarget::Postgres {
        url: require(PG_ENV),
        schema_prefix: format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..12]),
    }
}

/// A new temporary folder.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plaza-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A unique name for a test's NATS stream and subjects.
pub fn unique(tag: &str) -> String {
    format!("{tag}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Waits until `check` returns true, polling, for at most `deadline`.
/// Panics with `what` when time runs out.
pub async fn wait_until<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A TCP proxy on loopback in front of `target`, which a test can use to
/// cut every live connection (as a network failure would) and let new ones
/// through again.
pub struct TcpProxy {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    blackhole: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Default::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let blackhole = Arc::new(AtomicBool::new(false));
        let (c, r, b) = (conns.clone(), refusing.clone(), blackhole.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let swallow = b.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if swallow {
                        // Accept, then never answer: a peer that hangs.
                        let mut sink = tokio::io::sink();
                        let _ = tokio::io::copy(&mut inbound, &mut sink).await;
                        return;
                    }
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().await.push(task);
            }
        });
        TcpProxy {
            addr,
            conns,
            refusing,
            blackhole,
            accept,
        }
    }

    /// Drops every live connection.
    pub async fn cut(&self) {
        for t in self.conns.lock().await.drain(..) {
            t.abort();
        }
    }

    /// Accept new connections but never answer on them (true), or forward
    /// them again (false).
    pub fn blackhole(&self, yes: bool) {
        self.blackhole.store(yes, Ordering::SeqCst);
    }

    /// Refuse (true) or accept (false) new connections.
    pub fn refuse(&self, yes: bool) {
        self.refusing.store(yes, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
