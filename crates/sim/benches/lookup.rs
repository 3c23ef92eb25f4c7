//! Single-source lookup latency as the sources grow: seeds (or reuses) a
//! population per size, then measures p50/p99 of lookups in process (index
//! and record reads) and over each wire format, with no injected latency.
//!
//! ```text
//! cargo bench -p plaza-sim --bench lookup -- --sizes 1,10 --queries 20000 --data target/plaza-sim-bench
//! ```
//!
//! Sizes are millions of records across the 27 sources (10 = scale 1.0);
//! a size's folder is reused when its manifest matches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use plaza_sim::people::{NoiseConfig, Rng, generate_person, noisy_record};
use plaza_sim::records::{self, Faults, Records, Shape, Subject, fixed, niem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEED: u64 = 2026;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn report(what: &str, mut times: Vec<Duration>, hits: usize) {
    times.sort();
    println!(
        "  {what:<34} n={:<6} p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  hits/query {:.2}",
        times.len(),
        pct(&times, 0.50),
        pct(&times, 0.99),
        pct(&times, 1.0),
        hits as f64 / times.len().max(1) as f64
    );
}

/// Applicant queries for people of the population: most have records
/// somewhere, as the population is drawn from people with records.
fn queries(shape: &Shape, n: usize) -> Vec<Subject> {
    let mut rng = Rng::new(99);
    (0..n)
        .map(|_| {
            let id =
                records::KNOWN_SUBJECTS + rng.below(shape.population() - records::KNOWN_SUBJECTS);
            let p = generate_person(shape.seed, id);
            let r = noisy_record(&p, &mut rng, &NoiseConfig::applicant());
            Subject {
                first: r.first,
                middle: r.middle,
                last: r.last,
                aliases: r.aliases,
                dob: r.dob,
                sex: r.sex,
                ssn: r.ssn,
                fbi: r.fbi,
                state_id: r.state_id,
            }
        })
        .collect()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<f64> = arg(&args, "--sizes")
        .unwrap_or_else(|| "1,10".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes 1,10"))
        .collect();
    let n: usize = arg(&args, "--queries").map_or(20_000, |v| v.parse().expect("--queries N"));
    let base =
        PathBuf::from(arg(&args, "--data").unwrap_or_else(|| "target/plaza-sim-bench".into()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    for millions in sizes {
        let shape = Shape::new(SEED, millions / 10.0);
        let dir = base.join(format!("{millions}M"));
        let reuse = records::Manifest::read(&dir).is_ok_and(|m| m.shape == shape);
        if !reuse {
            let started = Instant::now();
            records::seed(&dir, &shape, |p| {
                eprintln!(
                    "  seeding {:>11} / {} ({:.0} records/s)",
                    p.done,
                    p.total,
                    p.done as f64 / p.elapsed.as_secs_f64().max(0.001)
                );
            })
            .expect("seed");
            println!(
                "seeded {} records in {:.1} s",
                shape.total_records(),
                started.elapsed().as_secs_f64()
            );
        }
        let opened = Instant::now();
        let recs = Records::open(&dir, Faults::none()).expect("open");
        println!(
            "{} records ({millions} M): opened in {:.1} ms, {} KiB kept in memory, process RSS {} MiB",
            recs.manifest().total(),
            opened.elapsed().as_secs_f64() * 1e3,
            recs.resident_bytes() / 1024,
            rss_kib() / 1024
        );
        let qs = queries(&shape, n);
        for source in ["fbi-iii", "nics-mental", "ncic-protection"] {
            let (s, _) = records::catalogue::source(source).expect("source");
            for q in qs.iter().take(1000) {
                let _ = recs.search(s, q);
            }
            let mut times = Vec::with_capacity(n);
            let mut hits = 0;
            for q in &qs {
                let t = Instant::now();
                hits += recs.search(s, q).expect("search").len();
                times.push(t.elapsed());
            }
            report(
                &format!("in process {source} ({} rec)", recs.store(s).len()),
                times,
                hits,
            );
        }
        runtime.block_on(over_the_wire(&dir, &qs[..n.min(5_000)]));
        println!("  process RSS after lookups {} MiB", rss_kib() / 1024);
    }
}

async fn over_the_wire(dir: &std::path::Path, qs: &[Subject]) {
    let sim = records::start_local(dir).await.expect("start");
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    let mut hits = 0;
    for q in qs {
        let body = serde_json::json!({"subject": records::json::subject_json(q)});
        let t = Instant::now();
        let v: serde_json::Value = http
            .post(format!("{}/records/v1/fbi-iii/search", sim.base))
            .json(&body)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        times.push(t.elapsed());
        hits += v["hit_count"].as_u64().unwrap_or(0) as usize;
    }
    report("JSON/HTTP fbi-iii", times, hits);

    let mut times = Vec::new();
    let mut hits = 0;
    for q in qs {
        let body = niem::request_xml("B", q);
        let t = Instant::now();
        let text = http
            .post(format!("{}/records/niem/v1/nics-mental/search", sim.base))
            .body(body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        times.push(t.elapsed());
        hits += text.matches("<rs:Hit>").count();
    }
    report("NIEM XML/HTTP nics-mental", times, hits);

    let mut conn = tokio::net::TcpStream::connect(sim.fixed)
        .await
        .expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let mut times = Vec::new();
    let mut hits = 0;
    let mut buf = vec![0u8; 1 << 16];
    for q in qs {
        let line = fixed::request_line("B", "ncic-protection", q) + "\n";
        let t = Instant::now();
        conn.write_all(line.as_bytes()).await.expect("write");
        let mut got = String::new();
        loop {
            let k = conn.read(&mut buf).await.expect("read");
            assert!(k > 0, "closed");
            got.push_str(&String::from_utf8_lossy(&buf[..k]));
            if let Some(i) = got
                .find("\nTR")
                .or_else(|| got.starts_with("TR").then_some(0))
                && got[i + 1..].contains('\n')
            {
                break;
            }
        }
        times.push(t.elapsed());
        hits += fixed::parse_answer(&got).map_or(0, |a| a.hits.len());
    }
    report("fixed-width/TCP ncic-protection", times, hits);
}
