//! Driver's licence renewals through the REST API of a running `plaza
//! serve` (embedded shape, SQLite, release build), the processor and card
//! vendor played by the simulator in this process.
//!
//! Two figures:
//! - full renewals: claim the record, start, photo (checked), address,
//!   delivery, pay (which runs the saga and orders the card), `--full`
//!   renewals at `--concurrency` at once;
//! - payment and saga alone: `--sagas` renewals prepared first, then all
//!   paid at `--concurrency` at once.
//!
//! It also reports the server's resident memory before and after the
//! prepared (in-flight) renewals.
//!
//! ```text
//! cargo bench -p plaza-cli --bench renewals -- --full 300 --sagas 1000 --concurrency 16
//! cargo bench -p plaza-cli --bench renewals -- --postgres postgres://postgres@127.0.0.1:5432/test
//! ```

mod common;

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use common::{Api, arg, percentile, rss_kib, run};
use serde_json::json;

const ADDRESSES: u64 = 100_000;

struct Citizen {
    token: String,
}

struct Prepared {
    token: String,
    id: String,
}

/// Claim, start, photo, address, delivery: a renewal ready to pay.
async fn prepare(
    api: &Api,
    citizen: &Citizen,
    driver: &plaza_renewal::drivers::domain::Driver,
    photo: &str,
    address: &str,
) -> Prepared {
    let t = &citizen.token;
    api.post(
        t,
        "/v1/drivers/claim",
        &json!({"licence_number": driver.licence_number.as_str(),
                "birth_date": driver.person.birth_date.to_string()}),
    )
    .await;
    let r = api
        .post(t, "/v1/renewals", &json!({"driver_id": driver.id}))
        .await;
    let id = r["id"].as_str().unwrap().to_owned();
    let p = api
        .post(
            t,
            &format!("/v1/renewals/{id}/photo"),
            &json!({"content_type": "image/jpeg", "image_base64": photo}),
        )
        .await;
    assert_eq!(p["accepted"], true);
    let a = api
        .post(
            t,
            &format!("/v1/renewals/{id}/address"),
            &json!({"text": address}),
        )
        .await;
    assert_eq!(a["renewal"]["address_confirmed"], true, "{a}");
    api.post(
        t,
        &format!("/v1/renewals/{id}/delivery"),
        &json!({"kind": "mail"}),
    )
    .await;
    Prepared {
        token: t.clone(),
        id,
    }
}

async fn pay(api: &Api, p: &Prepared) {
    let r = api
        .post(
            &p.token,
            &format!("/v1/renewals/{}/payment", p.id),
            &json!({"card_number": "4242424242424242"}),
        )
        .await;
    assert_eq!(r["status"], "ordered", "{r}");
}

#[tokio::main]
async fn main() {
    let full = arg("--full", 300);
    let sagas = arg("--sagas", 1000);
    let concurrency = arg("--concurrency", 16);
    let citizens_n = arg("--citizens", 16);
    plaza_kernel::install_crypto_provider();

    // The outside world.
    let (sim, _) = plaza_sim::start_local().await.unwrap();

    let dir = std::env::temp_dir().join(format!("plaza-bench-renewals-{}", std::process::id()));
    let env = [
        ("PLAZA_DATA_DIR", dir.display().to_string()),
        ("PLAZA_PAYMENTS_PROCESSOR_URL", sim.clone()),
        ("PLAZA_FULFILLMENT_VENDOR_URL", sim.clone()),
        ("PLAZA_HTTP_RATE_LIMIT_PER_IP", "1000000".to_owned()),
        ("PLAZA_HTTP_RATE_LIMIT_PER_PRINCIPAL", "1000000".to_owned()),
        ("PLAZA_HTTP_MAX_IN_FLIGHT", "100000".to_owned()),
    ];
    let mut env: Vec<(&str, String)> = env.to_vec();
    let postgres = std::env::args().skip_while(|a| a != "--postgres").nth(1);
    if let Some(url) = &postgres {
        env.push(("PLAZA_DATABASE_URL", url.clone()));
        env.push((
            "PLAZA_DATABASE_SCHEMA_PREFIX",
            format!("bench{}_", std::process::id()),
        ));
    }
    let env = env.as_slice();
    let drivers_needed = (full + sagas) as u64;
    // About a quarter of seeded drivers may renew online today.
    let seeded = drivers_needed * 5 + 200;
    let csv = run(
        env,
        &["address", "generate", "--count", &ADDRESSES.to_string()],
        None,
    );
    let file = dir.join("addresses.csv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, csv).unwrap();
    run(env, &["address", "import", file.to_str().unwrap()], None);
    run(
        env,
        &[
            "dmv",
            "seed",
            "--drivers",
            &seeded.to_string(),
            "--addresses",
            &ADDRESSES.to_string(),
        ],
        None,
    );
    let client_id = common::public_client(env);
    let accounts: Vec<_> = (0..citizens_n)
        .map(|i| common::account(env, &format!("citizen-{i}@bench.plaza"), "citizen", None))
        .collect();

    let (server, base) = common::serve(env);
    let api = Api::new(&base);
    let mut citizens = Vec::new();
    for a in &accounts {
        citizens.push(Citizen {
            token: common::sign_in(&base, &client_id, a).await,
        });
    }
    let citizens = Arc::new(citizens);

    // Eligible records, as `plaza dmv seed` made them (seed 1).
    let today = plaza_renewal::drivers::domain::Date::from_days(
        plaza_kernel::clock::now_ms().div_euclid(86_400_000),
    )
    .unwrap();
    let opts = plaza_renewal::drivers::seed::SeedOptions::new(seeded, 1, today);
    let rules = plaza_renewal::eligibility::RuleSet::shipped();
    let request = plaza_renewal::eligibility::RenewalRequest {
        wants_real_id: false,
    };
    let drivers: Vec<_> = (0..seeded)
        .map(|i| {
            plaza_renewal::drivers::seed::driver(
                &opts,
                i,
                plaza_renewal::drivers::seed::sample_address(1, i),
            )
        })
        .filter(|d| rules.evaluate(d, &request, today).eligible())
        .take(full + sagas)
        .collect();
    assert_eq!(
        drivers.len(),
        full + sagas,
        "enough eligible drivers seeded"
    );
    let drivers = Arc::new(drivers);
    let mut addresses = Vec::new();
    plaza_address::generate::for_each(2_000, 1, |a, _| {
        let unit = if a.unit_type.is_empty() {
            String::new()
        } else {
            format!(" {} {}", a.unit_type, a.unit_id)
        };
        addresses.push(format!(
            "{} {}{unit}, {} {} {}",
            a.number,
            a.street(),
            a.city,
            a.state,
            a.zip5
        ))
    });
    let addresses = Arc::new(addresses);
    let photo: Arc<str> = base64::engine::general_purpose::STANDARD
        .encode(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../photo/tests/fixtures/good.jpg"
            ))
            .unwrap(),
        )
        .into();
    let pid = server.id();
    println!(
        "server ready: {} eligible drivers, {citizens_n} citizens, RSS {} MiB",
        drivers.len(),
        rss_kib(pid) / 1024
    );

    // Full renewals.
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..full {
        let (api, sem, citizens, drivers, addresses, photo) = (
            api.clone(),
            sem.clone(),
            citizens.clone(),
            drivers.clone(),
            addresses.clone(),
            photo.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let t = Instant::now();
            let c = &citizens[i % citizens.len()];
            let p = prepare(
                &api,
                c,
                &drivers[i],
                &photo,
                &addresses[i % addresses.len()],
            )
            .await;
            pay(&api, &p).await;
            t.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "full renewals: {full} in {:.2} s = {:.1}/s at {concurrency} at once; per renewal p50 {:.0} ms, p99 {:.0} ms",
        elapsed.as_secs_f64(),
        full as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0
    );

    // Payment and saga alone, on renewals prepared first.
    let before = rss_kib(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in full..full + sagas {
        let (api, sem, citizens, drivers, addresses, photo) = (
            api.clone(),
            sem.clone(),
            citizens.clone(),
            drivers.clone(),
            addresses.clone(),
            photo.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let c = &citizens[i % citizens.len()];
            prepare(
                &api,
                c,
                &drivers[i],
                &photo,
                &addresses[i % addresses.len()],
            )
            .await
        }));
    }
    let mut prepared = Vec::new();
    for t in tasks {
        prepared.push(t.await.unwrap());
    }
    println!(
        "prepared {sagas} renewals in {:.1} s; RSS {} MiB before, {} MiB with them open",
        started.elapsed().as_secs_f64(),
        before / 1024,
        rss_kib(pid) / 1024
    );
    let prepared = Arc::new(prepared);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..sagas {
        let (api, sem, prepared) = (api.clone(), sem.clone(), prepared.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let t = Instant::now();
            pay(&api, &prepared[i]).await;
            t.elapsed()
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "payment + saga: {sagas} in {:.2} s = {:.1}/s at {concurrency} at once; p50 {:.0} ms, p99 {:.0} ms; RSS after {} MiB",
        elapsed.as_secs_f64(),
        sagas as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        rss_kib(pid) / 1024
    );
    api.save_metrics().await;
    common::stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
