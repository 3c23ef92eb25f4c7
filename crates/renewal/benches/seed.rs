//! `plaza dmv seed` as a library call: generating, sealing and storing
//! synthetic drivers on SQLite (the embedded shape), timed with a plain
//! clock. Reports the load time, the index build included, and the rate.
//!
//! ```text
//! cargo bench -p plaza-renewal --bench seed -- --drivers 1000000
//! ```

use std::sync::Arc;
use std::time::Instant;

use plaza_kernel::clock::ManualClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::StorageTarget;
use plaza_renewal::drivers::domain::Date;
use plaza_renewal::drivers::seed::{self, SeedOptions};
use plaza_renewal::eligibility::{RenewalRequest, RuleBook};
use plaza_renewal::{Drivers, open_db};

#[tokio::main]
async fn main() {
    let mut drivers: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--drivers" {
            drivers = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--drivers N");
        }
    }
    let dir = std::env::temp_dir().join(format!("plaza-bench-seed-{}", std::process::id()));
    let target = StorageTarget::DataDir(dir.clone());
    let db = open_db(&target).await.expect("renewal db");
    let key = DataKey::random();
    let today = Date::parse("2026-11-30").expect("date");
    let opts = SeedOptions::new(drivers, 2026, today);

    let started = Instant::now();
    let report = seed::seed(&db, &key, &opts, |i| seed::sample_address(2026, i), &|_| {})
        .await
        .expect("seed");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.inserted, drivers);
    let size: u64 = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "seed: {drivers} drivers in {secs:.1} s = {:.0} drivers/s ({} rows per transaction, {} rows per statement), files {:.0} MB",
        drivers as f64 / secs,
        opts.rows_per_transaction,
        plaza_renewal::drivers::store::ROWS_PER_STATEMENT,
        size as f64 / 1e6
    );

    // Reading back: records decrypted and checked per second.
    let clock = Arc::new(ManualClock::new(today.days() * 86_400_000));
    let app = Drivers::new(db.clone(), key, clock, Arc::new(RuleBook::shipped()));
    let n = drivers.min(20_000);
    let started = Instant::now();
    let mut eligible = 0u64;
    for i in (0..n).map(|k| k * (drivers / n)) {
        let d = seed::driver(&opts, i, seed::sample_address(2026, i));
        let stored = app.store().get(&d.id).await.expect("read").expect("stored");
        if app.evaluate(&stored, &RenewalRequest::default()).eligible() {
            eligible += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "read+eligibility: {n} records in {secs:.2} s = {:.0}/s; {:.1} % eligible online today",
        n as f64 / secs,
        eligible as f64 * 100.0 / n as f64
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
