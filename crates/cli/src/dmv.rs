//! `plaza address …` and `plaza dmv …`: the reference address set and the
//! synthetic driver population.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::config::Config;

/// The person at the console: an administrator of this installation.
fn operator() -> Caller {
    Caller {
        subject: "operator".into(),
        issuer: "plaza:cli".into(),
        roles: vec![Role::Admin],
        jurisdiction: None,
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// `plaza address generate`: a synthetic reference set as CSV on stdout.
pub fn generate_addresses(count: u64, seed: u64) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout().lock();
    plaza_address::generate::write_csv(count, seed, stdout, &|_| {})
        .context("writing the reference set")?;
    Ok(ExitCode::SUCCESS)
}

/// `plaza address import FILE`: replaces the reference set, all or nothing.
pub async fn import_addresses(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let db = plaza_address::open_db(&config.storage())
        .await
        .context("opening the address database")?;
    let app = plaza_address::Addresses::new(db.clone());
    let bar = bar(0, "importing reference addresses");
    bar.set_style(
        ProgressStyle::with_template("{msg}: {pos} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = app
        .import_file(&operator(), file, &|n| bar.set_position(n))
        .await;
    bar.finish_and_clear();
    db.close().await;
    match result {
        Ok(report) => {
            println!(
                "imported {}: {} addresses on {} streets in {:.1} s",
                file.display(),
                report.addresses,
                report.streets,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(plaza_address::Error::Import(rows)) => {
            for e in rows.iter().take(100) {
                eprintln!("{}:{}: {}", file.display(), e.line, e.reason);
            }
            eprintln!(
                "plaza: {} bad row(s) in {}; nothing was imported",
                rows.len(),
                file.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).with_context(|| format!("importing {}", file.display())),
    }
}

/// `plaza dmv seed`: synthetic drivers living at addresses of the
/// reference set that `plaza address generate --count <addresses> --seed
/// <address_seed>` makes.
pub async fn seed_drivers(
    config: &Config,
    drivers: u64,
    seed: u64,
    addresses: u64,
    address_seed: u64,
) -> anyhow::Result<ExitCode> {
    if addresses == 0 {
        anyhow::bail!("--addresses must be at least 1");
    }
    let db = plaza_renewal::open_db(&config.storage())
        .await
        .context("opening the renewal database")?;
    let key = crate::renewal::data_key(config, "renewal")?;
    let today = plaza_renewal::drivers::domain::Date::from_days(
        plaza_kernel::clock::now_ms().div_euclid(86_400_000),
    )
    .context("today's date")?;
    let opts = plaza_renewal::drivers::seed::SeedOptions::new(drivers, seed, today);
    // Reference addresses stream from a generator thread; every k-th one
    // becomes a driver's home.
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<Option<plaza_renewal::drivers::domain::AddressLines>>(4096);
    let step = (addresses / drivers.max(1)).max(1);
    std::thread::spawn(move || {
        let mut i = 0u64;
        loop {
            plaza_address::generate::for_each(addresses, address_seed, |a, _county| {
                if i.is_multiple_of(step) {
                    let line2 = if a.unit_type.is_empty() {
                        String::new()
                    } else {
                        format!("{} {}", a.unit_type, a.unit_id)
                    };
                    let _ = tx.send(Some(plaza_renewal::drivers::domain::AddressLines {
                        line1: format!("{} {}", a.number, a.street()),
                        line2,
                        city: a.city.clone(),
                        state: a.state.clone(),
                        zip: format!("{}-{}", a.zip5, a.zip4),
                    }));
                }
                i += 1;
            });
            // More drivers than addresses: go round again.
            if tx.send(None).is_err() {
                return;
            }
        }
    });
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let next = move |i: u64| loop {
        match rx.lock().expect("address feed").recv() {
            Ok(Some(a)) => return a,
            Ok(None) => continue,
            // The generator cannot stop before the seed has what it needs.
            Err(_) => return plaza_renewal::drivers::seed::sample_address(address_seed, i),
        }
    };
    let bar = bar(drivers, "seeding drivers");
    let report =
        plaza_renewal::drivers::seed::seed(&db, &key, &opts, next, &|n| bar.set_position(n))
            .await
            .context("seeding drivers")?;
    bar.finish_and_clear();
    db.close().await;
    println!(
        "seeded {} drivers ({} new) in {:.1} s",
        report.generated,
        report.inserted,
        report.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
