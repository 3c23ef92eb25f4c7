//! Outbox → bus throughput and commit-to-delivery latency.
//!
//! Writers commit events (in transactions of `--batch` events) at a paced
//! rate (`--rate` events/s, 0 = as fast as they can); the relay publishes
//! them; a subscriber on the bus records, for every event, the time from the
//! outbox insert to its delivery. Prints throughput and latency percentiles.
//!
//! ```text
//! cargo bench -p plaza-kernel --bench outbox -- --backend sqlite --bus in-process --events 200000 --rate 20000
//! cargo bench -p plaza-kernel --bench outbox -- --backend postgres --bus nats --events 200000 --rate 20000
//! ```
//! PostgreSQL and NATS come from PLAZA_TEST_DATABASE_URL and PLAZA_TEST_NATS_URL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use plaza_kernel::bus::{
    Bus, Durability, Envelope, EventFilter, Handler, HandlerError, InProcessBus, NatsBus,
};
use plaza_kernel::db::Db;
use plaza_kernel::migrate;
use plaza_kernel::outbox::{self, NewEvent, Relay, RelayConfig};
use plaza_kernel::shutdown;
use plaza_kernel::testing::{NATS_ENV, postgres_target, require, sqlite_target, unique};

struct Args {
    backend: String,
    bus: String,
    events: usize,
    batch: usize,
    writers: usize,
    rate: f64,
    relay_batch: i64,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        bus: "in-process".into(),
        events: 100_000,
        batch: 50,
        writers: 4,
        rate: 0.0,
        relay_batch: 1000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backend" => a.backend = v,
            "--bus" => a.bus = v,
            "--events" => a.events = v.parse().expect("--events N"),
            "--batch" => a.batch = v.parse().expect("--batch N"),
            "--writers" => a.writers = v.parse().expect("--writers N"),
            "--rate" => a.rate = v.parse().expect("--rate events/s"),
            "--relay-batch" => a.relay_batch = v.parse().expect("--relay-batch N"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

#[derive(Default)]
struct Latencies {
    delivered: AtomicUsize,
    micros: Mutex<Vec<u64>>,
}

struct Measure(Arc<Latencies>, Instant, i64);

#[async_trait]
impl Handler for Measure {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        // occurred_at is wall-clock ms; compare against the same clock.
        let now_us = self.2 * 1000 + self.1.elapsed().as_micros() as i64;
        let lat = (now_us - ev.occurred_at_ms * 1000).max(0) as u64;
        self.0.micros.lock().unwrap().push(lat);
        self.0.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(a));
}

async fn run(a: Args) {
    let target = match a.backend.as_str() {
        "sqlite" => sqlite_target(),
        "postgres" => postgres_target(),
        other => panic!("--backend sqlite|postgres, not {other}"),
    };
    let db = Db::open(&target, "bench").await.unwrap();
    migrate::apply(&db, &[("kernel", migrate::KERNEL)])
        .await
        .unwrap();
    let bus: Arc<dyn Bus> = match a.bus.as_str() {
        "in-process" => Arc::new(InProcessBus::new()),
        "nats" => {
            let name = unique("BENCH");
            Arc::new(
                NatsBus::connect(&require(NATS_ENV), &name, &format!("b.{name}"))
                    .await
                    .unwrap(),
            )
        }
        other => panic!("--bus in-process|nats, not {other}"),
    };
    let (trigger, shutdown) = shutdown::channel();
    let lat = Arc::new(Latencies::default());
    // Wall clock in ms at a fixed instant, extended with a monotonic clock.
    let base = Instant::now();
    let base_ms = plaza_kernel::clock::now_ms();
    bus.subscribe(
        "bench",
        EventFilter::service("bench"),
        Durability::PerProcess,
        Arc::new(Measure(lat.clone(), base, base_ms)),
        shutdown.clone(),
    )
    .await
    .unwrap();
    // The consumer must exist before the first event on NATS (it only sees new ones).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let relay = Relay::new(
        db.clone(),
        bus.clone(),
        RelayConfig {
            batch_size: a.relay_batch,
            poll: Duration::from_millis(50),
            ..RelayConfig::default()
        },
    );
    let relay_task = tokio::spawn(relay.run(shutdown.clone(), Duration::from_secs(30)));

    let started = Instant::now();
    let per_writer = a.events / a.writers;
    let tx_interval = if a.rate > 0.0 {
        Some(Duration::from_secs_f64(
            (a.batch * a.writers) as f64 / a.rate,
        ))
    } else {
        None
    };
    let mut writers = Vec::new();
    for w in 0..a.writers {
        let db = db.clone();
        let batch = a.batch;
        writers.push(tokio::spawn(async move {
            let mut next = tokio::time::Instant::now();
            let mut written = 0;
            while written < per_writer {
                if let Some(iv) = tx_interval {
                    tokio::time::sleep_until(next).await;
                    next += iv;
                }
                let mut tx = db.begin().await.unwrap();
                let events = (0..batch.min(per_writer - written))
                    .map(|k| NewEvent {
                        event_type: "bench.Happened".into(),
                        aggregate_type: "thing".into(),
                        aggregate_id: format!("w{w}-{}", k % 16),
                        payload: vec![0u8; 64],
                    })
                    .collect();
                outbox::enqueue_all(&mut tx, events).await.unwrap();
                written += batch.min(per_writer - written);
                db.commit(tx).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let written_in = started.elapsed();
    let total = per_writer * a.writers;
    while lat.delivered.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if started.elapsed() > Duration::from_secs(600) {
            panic!(
                "only {} of {total} delivered",
                lat.delivered.load(Ordering::Relaxed)
            );
        }
    }
    let elapsed = started.elapsed();
    trigger.trigger();
    let _ = relay_task.await;
    let mut v = lat.micros.lock().unwrap().clone();
    v.sort_unstable();
    println!(
        "backend={} bus={} events={total} writers={} batch={} rate={} relay_batch={}",
        a.backend,
        a.bus,
        a.writers,
        a.batch,
        if a.rate > 0.0 {
            format!("{}/s", a.rate)
        } else {
            "max".into()
        },
        a.relay_batch
    );
    println!(
        "written in {:.2}s ({:.0} events/s committed); all delivered in {:.2}s: {:.0} events/s end to end",
        written_in.as_secs_f64(),
        total as f64 / written_in.as_secs_f64(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "commit-to-delivery latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        pct(&v, 0.50),
        pct(&v, 0.90),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
    db.drop_schema().await.unwrap();
}
