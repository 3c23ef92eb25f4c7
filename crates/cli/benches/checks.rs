//! Background checks through a running `plaza serve` (embedded shape,
//! SQLite, release build): applications submitted over REST, then the
//! clerk records every applicant's documents at `--concurrency` at once;
//! each asks the checks service for a check, which reads the identifiers
//! from the vault, asks the 27 record sources (played by the simulator in
//! this process: 20–500 ms, 1 % of calls held past the deadline) and tells
//! permits. Reports checks answered per second, from the first documents
//! to the last answer, and each check's time from request to answer.
//!
//! `--with-records` is the percentage of applicants who have records in
//! the sources (the rest are people the sources do not know, though some
//! share a name and birth date with someone who is): 10 by default, 100
//! for the worst case, where every check matches records and audits each.
//!
//! ```text
//! cargo bench -p plaza-cli --bench checks -- --applications 2000 --concurrency 64 --scale 0.01 --with-records 10
//! ```

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Api, arg, percentile};
use plaza_sim::people::generate_person;
use plaza_sim::records::{self, Faults, LatencyShape, Shape};
use serde_json::json;

#[tokio::main]
async fn main() {
    let applications = arg("--applications", 2000);
    let concurrency = arg("--concurrency", 64);
    let citizens_n = arg("--citizens", 16);
    let with_records = arg("--with-records", 10).min(100);
    let scale: f64 = common::text_arg("--scale")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.01);
    plaza_kernel::install_crypto_provider();

    // The record sources, as in the check bench.
    let data = std::env::temp_dir().join(format!("plaza-checks-bench-2026-{scale}"));
    if records::Manifest::read(&data).is_err() {
        records::seed(&data, &Shape::new(2026, scale), |_| {}).expect("seeding");
    }
    let local = records::start_local(&data).await.unwrap();
    local.records.set_faults(
        None,
        Faults {
            latency_ms: [20, 500],
            latency_shape: LatencyShape::LogNormal,
            timeout_rate: 0.01,
            hold_ms: 30_000,
            ..Faults::default()
        },
    );

    let dir = std::env::temp_dir().join(format!("plaza-bench-checks-{}", std::process::id()));
    let env = [
        ("PLAZA_DATA_DIR", dir.display().to_string()),
        ("PLAZA_CHECKS_SOURCES_URL", local.base.clone()),
        ("PLAZA_CHECKS_CONCURRENCY", "1024".to_owned()),
        ("PLAZA_HTTP_RATE_LIMIT_PER_IP", "1000000".to_owned()),
        ("PLAZA_HTTP_RATE_LIMIT_PER_PRINCIPAL", "1000000".to_owned()),
        ("PLAZA_HTTP_MAX_IN_FLIGHT", "100000".to_owned()),
    ];
    let env = env.as_slice();
    let client_id = common::public_client(env);
    let clerk = common::account(env, "clerk@bench.plaza", "clerk", Some("IL"));
    let accounts: Vec<_> = (0..citizens_n)
        .map(|i| common::account(env, &format!("citizen-{i}@bench.plaza"), "citizen", None))
        .collect();
    let (server, base) = common::serve(env);
    let api = Api::new(&base);
    let clerk = Arc::new(common::sign_in(&base, &client_id, &clerk).await);
    let mut citizens = Vec::new();
    for a in &accounts {
        citizens.push(common::sign_in(&base, &client_id, a).await);
    }
    let citizens = Arc::new(citizens);

    // Applications by people of the population (most have records).
    let shape = Shape::new(2026, scale);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..applications {
        let (api, sem, citizens) = (api.clone(), sem.clone(), citizens.clone());
        // People of the population have records; those past it do not.
        let id = if i % 100 < with_records {
            records::KNOWN_SUBJECTS + i as u64
        } else {
            shape.population() + i as u64
        };
        let p = generate_person(shape.seed, id);
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let a = api
                .post(
                    &citizens[i % citizens.len()],
                    "/v1/permit-applications",
                    &json!({"permit_type": "il-foid", "resident": true, "applicant": {
                        "given_name": p.first, "family_name": p.last,
                        "birth_date": format!("{:04}-{:02}-{:02}", p.dob.year, p.dob.month, p.dob.day),
                        "address": "1 Main St, Springfield IL 62701"}}),
                )
                .await;
            a["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    println!(
        "submitted {applications} applications in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The documents, each asking for a check.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for id in ids {
        let (api, sem, clerk) = (api.clone(), sem.clone(), clerk.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            api.post(
                &clerk,
                &format!("/v1/permit-applications/{id}/events"),
                &json!({"event": "documents_received"}),
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let requested = started.elapsed();

    // Every check answered and told: read from the checks database.
    let db = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::DataDir(dir.clone()),
        "checks",
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM checks WHERE status = 'pending' OR notify IS NOT NULL",
        )
        .fetch_one(db.reader())
        .await
        .unwrap();
        let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM checks")
            .fetch_one(db.reader())
            .await
            .unwrap();
        if all == applications as i64 && left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} checks unanswered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT created_ms, decided_ms, outcome FROM checks")
            .fetch_all(db.reader())
            .await
            .unwrap();
    let mut lat: Vec<Duration> = rows
        .iter()
        .map(|(c, d, _)| Duration::from_millis((d - c).max(0) as u64))
        .collect();
    lat.sort();
    let count = |o: &str| rows.iter().filter(|r| r.2 == o).count();
    println!(
        "checks ({with_records} % of applicants with records): {applications} requested in {:.1} s, \
         all answered and told in {:.1} s = {:.1}/s; request to answer p50 {:.0} ms, p99 {:.0} ms; \
         {} proceed, {} delayed, {} denied",
        requested.as_secs_f64(),
        elapsed.as_secs_f64(),
        applications as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        count("proceed"),
        count("delayed"),
        count("denied"),
    );
    db.close().await;
    api.save_metrics().await;
    common::stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
