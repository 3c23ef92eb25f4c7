//! Audit log: append throughput, inclusion-proof latency at size, and the
//! time to verify the whole log.
//!
//! ```text
//! cargo bench -p plaza-audit --bench audit -- --entries 1000000 [--backend postgres] [--batch 2000] [--writers 2]
//! ```
//! Appends `--entries` synthetic events in batches (durably: each batch is a
//! committed transaction), from `--writers` concurrent tasks; then times
//! 10,000 inclusion proofs of random entries against the latest size, each
//! checked; then runs the verifier over everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plaza_audit::merkle::verify_inclusion;
use plaza_audit::{AuditEvent, AuditLog, HeadSigner, open_db};
use plaza_kernel::clock::SystemClock;
use plaza_kernel::testing::{postgres_target, sqlite_target};

fn arg(name: &str, default: &str) -> String {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        at_ms: 1_800_000_000_000 + (i / 1000) as i64,
        service: "renewal".into(),
        actor: format!("staff-{:04}", i % 997),
        action: "renewal.read".into(),
        resource: format!("application/{:010}", i / 3),
        subject: Some(format!(
            "tok_{:016x}",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )),
        purpose: "case review".into(),
        correlation_id: format!("{:032x}", i),
        outcome: "ok".into(),
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let entries: u64 = arg("--entries", "1000000").parse().unwrap();
    let batch: u64 = arg("--batch", "2000").parse().unwrap();
    let writers: u64 = arg("--writers", "2").parse().unwrap();
    let backend = arg("--backend", "sqlite");
    let target = if backend == "postgres" {
        postgres_target()
    } else {
        sqlite_target()
    };
    let db = open_db(&target).await.unwrap();
    let log = AuditLog::open(
        db.clone(),
        HeadSigner::from_seed([3; 32]),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();

    // Appends: writers prepare batches concurrently; the log serialises them.
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (log, next) = (log.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(batch, std::sync::atomic::Ordering::SeqCst);
                if from >= entries {
                    break;
                }
                let events: Vec<AuditEvent> =
                    (from..(from + batch).min(entries)).map(event).collect();
                log.append(&events).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let append = started.elapsed();
    let head = log.sign_head().await.unwrap().unwrap();
    println!(
        "backend={backend} entries={entries} batch={batch} writers={writers}: appended in {:.1}s = {:.0} entries/s",
        append.as_secs_f64(),
        entries as f64 / append.as_secs_f64()
    );

    // Inclusion proofs of random entries against the signed head.
    let mut lat = Vec::with_capacity(10_000);
    let mut x: u64 = 0x1234_5678;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % head.size;
        let t = Instant::now();
        let proof = log.inclusion_proof(i, head.size).await.unwrap();
        lat.push(t.elapsed());
        // Two writers race for the log's lock, so entry i is whichever
        // batch got there first: check the proof against the stored entry.
        let leaf = plaza_audit::merkle::leaf_hash(&log.entry(i).await.unwrap().canonical());
        verify_inclusion(i, head.size, &leaf, &proof, &head.root).expect("proof verifies");
    }
    lat.sort();
    println!(
        "inclusion proof at size {}: p50 {:?}  p99 {:?}  max {:?}",
        head.size,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );

    // The whole-log verifier.
    let t = Instant::now();
    let report = plaza_audit::verify::verify(db.reader(), &[log.signer().public()], &|_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    println!(
        "verify: {} entries in {:.1}s",
        report.entries,
        t.elapsed().as_secs_f64()
    );
    db.drop_schema().await.unwrap();
}
