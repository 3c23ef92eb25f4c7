//! Complete checks against the 27 simulated record sources, end to end:
//! sources answering in 20–500 ms (log-normal) with 1 % of calls held past
//! the deadline, checks run at a fixed concurrency for a while; reports
//! checks per second, p50/p99/max latency and the outcomes.
//!
//! ```text
//! cargo bench -p plaza-checks --bench check -- --seconds 30 --concurrency 256 --scale 0.01
//! ```
//!
//! `--fixed-pool 0` opens a connection per fixed-width request instead of
//! reusing pooled ones, to compare the two.
//!
//! The simulator runs in the same process, on the same two worker threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plaza_checks::matching::{Date, Sex};
use plaza_checks::sources::{Registry, Subject};
use plaza_checks::{Checker, CheckerConfig, Outcome, Purpose};
use plaza_sim::people::{self, NoiseConfig, Rng, noisy_record};
use plaza_sim::records::{self, Faults, KNOWN_SUBJECTS, LatencyShape, Shape, known_subject};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn subject(seed: u64, i: u64) -> Subject {
    let k = known_subject(seed, i % KNOWN_SUBJECTS);
    let mut rng = Rng::for_item(seed, 8_000, i);
    let r = noisy_record(&k.person, &mut rng, &NoiseConfig::applicant());
    Subject {
        first: r.first,
        middle: r.middle,
        last: r.last,
        sex: r.sex.map(|s| match s {
            people::Sex::Female => Sex::Female,
            people::Sex::Male => Sex::Male,
        }),
        dob: r.dob.and_then(|d| Date::new(d.year, d.month, d.day)),
        ssn: r.ssn,
        state_id: r.state_id,
        fbi: r.fbi,
        aliases: r.aliases,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = arg(&args, "--seconds", 20);
    let concurrency: usize = arg(&args, "--concurrency", 256);
    let scale: f64 = arg(&args, "--scale", 0.01);
    let seed: u64 = arg(&args, "--seed", 2026);
    let timeout_ms: u64 = arg(&args, "--timeout-ms", 1500);
    let threads: usize = arg(&args, "--threads", 2);
    let fixed_pool: usize = arg(&args, "--fixed-pool", 256);

    let dir = std::env::temp_dir().join(format!("plaza-checks-bench-{seed}-{scale}"));
    if records::Manifest::read(&dir).is_err() {
        eprintln!("seeding {} (scale {scale})", dir.display());
        let started = Instant::now();
        records::seed(&dir, &Shape::new(seed, scale), |_| {}).expect("seeding");
        eprintln!("seeded in {:.1?}", started.elapsed());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let local = records::start_local(&dir).await.expect("serving the sources");
        local.records.set_faults(
            None,
            Faults {
                latency_ms: [20, 500],
                latency_shape: LatencyShape::LogNormal,
                timeout_rate: 0.01,
                ..Faults::default()
            },
        );
        let configs = plaza_checks::sources::fetch_catalogue(&local.base)
            .await
            .expect("the catalogue");
        let registry = Registry::with_fixed_pool(configs, fixed_pool);
        let d = records::DEFAULT_AS_OF;
        let checker = Arc::new(Checker::new(
            registry,
            CheckerConfig {
                timeout: Duration::from_millis(timeout_ms),
                // Held answers are the sources' ordinary 1 %: keep breakers
                // from reacting to them.
                breaker_failures: 50,
                today: Date::new(d.year, d.month, d.day),
                ..CheckerConfig::default()
            },
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let (checker, stop) = (checker.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut outcomes = [0u64; 3];
                let mut i = w as u64;
                while !stop.load(Ordering::Relaxed) {
                    let s = subject(seed, i);
                    let t = Instant::now();
                    let r = checker.check(&s, Purpose::Transfer).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    outcomes[match r.outcome {
                        Outcome::Proceed => 0,
                        Outcome::Delayed => 1,
                        Outcome::Denied => 2,
                    }] += 1;
                    i += concurrency as u64;
                }
                (latencies, outcomes)
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut outcomes = [0u64; 3];
        for w in workers {
            let (l, o) = w.await.expect("a worker");
            all.extend(l);
            for k in 0..3 {
                outcomes[k] += o[k];
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        println!(
            "checks: {} in {elapsed:.1} s = {:.1}/s at concurrency {concurrency} on {threads} threads, fixed-width pool {fixed_pool}",
            all.len(),
            all.len() as f64 / elapsed
        );
        println!(
            "latency ms: p50 {:.0}, p99 {:.0}, max {:.0} (source timeout {timeout_ms} ms)",
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or(0.0)
        );
        println!(
            "outcomes: proceed {}, delayed {}, denied {}",
            outcomes[0], outcomes[1], outcomes[2]
        );
    });
}
