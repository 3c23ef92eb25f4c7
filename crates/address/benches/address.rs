//! Address figures on one core each: standardisations per second; a
//! reference set generated, read, checked and imported (SQLite on the
//! embedded shape, or PostgreSQL with `--postgres URL`); validation latency
//! against it (the index loaded first), for a mix of exact addresses,
//! addresses needing corrections and addresses with no match.
//!
//! ```text
//! cargo bench -p plaza-address --bench address -- --rows 10000000 --queries 20000
//! ```

use std::sync::Arc;
use std::time::Instant;

use plaza_address::generate::{self, Rng, messy};
use plaza_address::{Address, Addresses, Outcome, open_db, parse, reference};
use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::db::StorageTarget;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = arg(&args, "--rows").map_or(1_000_000, |v| v.parse().expect("--rows N"));
    let queries: usize =
        arg(&args, "--queries").map_or(20_000, |v| v.parse().expect("--queries N"));
    let seed: u64 = 2026;
    let postgres = arg(&args, "--postgres");
    let show_misses = args.iter().any(|a| a == "--show-misses");

    // Standardisation: messy renderings of generated addresses.
    let sample_rows = 200_000u64;
    let mut addresses = Vec::with_capacity(sample_rows as usize);
    generate::for_each(sample_rows, seed, |a, _| addresses.push(a.clone()));
    let mut rng = Rng::new(1);
    let texts: Vec<String> = addresses.iter().map(|a| messy(a, &mut rng).0).collect();
    for round in 0..2 {
        let started = Instant::now();
        let mut chars = 0usize;
        for t in &texts {
            chars += parse::standardise(t).expect("parses").name.len();
        }
        let secs = started.elapsed().as_secs_f64();
        if round == 1 {
            println!(
                "standardise: {} messy addresses in {:.3} s = {:.0} /s on one core ({chars})",
                texts.len(),
                secs,
                texts.len() as f64 / secs
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = plaza_kernel::testing::temp_dir("address-bench");
        let target = match postgres {
            Some(url) => StorageTarget::Postgres {
                url,
                schema_prefix: plaza_kernel::testing::unique("bench_"),
            },
            None => StorageTarget::DataDir(dir.clone()),
        };
        let file = dir.join("reference.csv");
        let started = Instant::now();
        generate::write_csv(rows, seed, std::fs::File::create(&file).unwrap(), &|_| {}).unwrap();
        let bytes = std::fs::metadata(&file).unwrap().len();
        println!(
            "generate: {rows} rows ({:.0} MB) in {:.1} s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );

        let app = Addresses::new(open_db(&target).await.unwrap());
        let admin = Caller {
            subject: "bench".into(),
            issuer: "bench".into(),
            roles: vec![Role::Admin],
            jurisdiction: None,
        };
        let started = Instant::now();
        let set = reference::read(std::fs::File::open(&file).unwrap(), &|_| {}).unwrap();
        let read = started.elapsed().as_secs_f64();
        let report = app.import(&admin, &set, &|_| {}).await.unwrap();
        let total = started.elapsed().as_secs_f64();
        drop(set);
        println!(
            "import: {} addresses on {} streets in {:.1} s (read and check {:.1} s, write {:.1} s) = {:.0} addresses/s",
            report.addresses,
            report.streets,
            total,
            read,
            total - read,
            report.addresses as f64 / total
        );

        let started = Instant::now();
        let index = app.index().await.unwrap();
        println!(
            "index: {} streets loaded in {:.2} s",
            index.streets(),
            started.elapsed().as_secs_f64()
        );

        // Queries: every k-th address, as given (exact), with one correction,
        // or with a house number that is not there.
        let stride = (rows / queries as u64).max(1);
        let mut picked: Vec<Address> = Vec::with_capacity(queries);
        let mut n = 0u64;
        generate::for_each(rows, seed, |a, _| {
            if n.is_multiple_of(stride) && picked.len() < queries {
                picked.push(a.clone());
            }
            n += 1;
        });
        let mut rng = Rng::new(7);
        let inputs: Vec<(String, &str)> = picked
            .iter()
            .map(|a| {
                let mut q = a.clone();
                q.zip4.clear();
                let kind = match rng.below(10) {
                    0..=5 => "exact",
                    6 => {
                        q.suffix.clear();
                        "corrected"
                    }
                    7 => {
                        let mut name: Vec<char> = q.name.chars().collect();
                        if name.len() > 3 {
                            name.swap(1, 2);
                        }
                        q.name = name.into_iter().collect();
                        "corrected"
                    }
                    8 => {
                        q.zip5.clear();
                        "corrected"
                    }
                    _ => {
                        q.number = "99999".into();
                        "no match"
                    }
                };
                (q.single_line(), kind)
            })
            .collect();
        let app = Arc::new(app);
        let anyone = Caller::anonymous();
        let mut latencies = Vec::with_capacity(inputs.len());
        let mut by_kind: std::collections::BTreeMap<&str, Vec<std::time::Duration>> =
            Default::default();
        let mut outcomes = [0usize; 3];
        let started = Instant::now();
        for (text, kind) in &inputs {
            let t = Instant::now();
            let v = app.validate(&anyone, text).await.unwrap();
            latencies.push(t.elapsed());
            by_kind.entry(kind).or_default().push(t.elapsed());
            if show_misses && *kind == "corrected" && v.outcome == Outcome::NoMatch {
                println!("miss: {text}");
            }
            outcomes[match v.outcome {
                Outcome::Exact => 0,
                Outcome::Corrected => 1,
                Outcome::NoMatch => 2,
            }] += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        let wanted = [
            inputs.iter().filter(|(_, k)| *k == "exact").count(),
            inputs.iter().filter(|(_, k)| *k == "corrected").count(),
            inputs.iter().filter(|(_, k)| *k == "no match").count(),
        ];
        println!(
            "validate: {} queries against {} addresses in {:.2} s = {:.0} /s on one core; p50 {:?}, p99 {:?}, max {:?}",
            inputs.len(),
            report.addresses,
            secs,
            inputs.len() as f64 / secs,
            at(0.50),
            at(0.99),
            latencies.last().unwrap()
        );
        for (kind, mut l) in by_kind {
            l.sort();
            println!(
                "validate {kind}: p50 {:?}, p99 {:?}",
                l[l.len() / 2],
                l[(l.len() * 99 / 100).min(l.len() - 1)]
            );
        }
        println!(
            "validate outcomes: exact {} (asked {}), corrected {} (asked {}), no match {} (asked {})",
            outcomes[0], wanted[0], outcomes[1], wanted[1], outcomes[2], wanted[2]
        );
        app.db().drop_schema().await.unwrap();
        std::fs::remove_dir_all(&dir).ok();
    });
}
