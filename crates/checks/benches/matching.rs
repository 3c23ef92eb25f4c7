//! Identity-matching figures on one core: a labelled synthetic source
//! (plaza-sim's families of look-alikes, noisy records) indexed, then
//! applicant queries matched against it — queries per second, and the
//! precision, recall and review rate reached.
//!
//! ```text
//! cargo bench -p plaza-checks --bench matching -- --records 1000000 --seed 2026
//! ```

use std::time::Instant;

use plaza_checks::matching::{Date, Descriptors, LabelledQuery, Matcher, Sex, Weights, evaluate};
use plaza_sim::people::{self, LabelledConfig, LabelledSet, Record};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn descriptors(r: &Record) -> Descriptors {
    Descriptors {
        first: r.first.clone(),
        middle: r.middle.clone(),
        last: r.last.clone(),
        sex: r.sex.map(|s| match s {
            people::Sex::Female => Sex::Female,
            people::Sex::Male => Sex::Male,
        }),
        dob: r.dob.and_then(|d| Date::new(d.year, d.month, d.day)),
        ssn: r.ssn.clone(),
        state_id: r.state_id.clone(),
        fbi: r.fbi.clone(),
        aliases: r.aliases.clone(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 =
        arg(&args, "--records").map_or(1_000_000, |v| v.parse().expect("--records N"));
    let seed: u64 = arg(&args, "--seed").map_or(2026, |v| v.parse().expect("--seed N"));
    let max_queries: usize =
        arg(&args, "--queries").map_or(usize::MAX, |v| v.parse().expect("--queries N"));
    let set = LabelledSet::new(LabelledConfig::with_records(seed, records));

    let started = Instant::now();
    let mut matcher = Matcher::new(Weights::shipped());
    let mut person_of = Vec::new();
    for r in set.records() {
        matcher.insert(r.record_id, &descriptors(&r));
        person_of.push(r.person_id);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "index: {} records generated and indexed in {secs:.1} s = {:.0} /s; {} keys, {} entries, largest block {}",
        matcher.len(),
        matcher.len() as f64 / secs,
        matcher.index().keys(),
        matcher.index().entries(),
        matcher.index().largest_block(),
    );

    // Queries are generated first so that only matching is timed.
    let queries: Vec<LabelledQuery> = set
        .queries()
        .take(max_queries)
        .map(|q| LabelledQuery {
            descriptors: descriptors(&q.descriptors),
            person: q.descriptors.person_id,
            true_records: q.true_records,
        })
        .collect();
    let n = queries.len();
    let started = Instant::now();
    let e = evaluate(&matcher, |id| person_of[id as usize], queries);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "match: {n} queries in {secs:.2} s = {:.0} /s on one core ({:.1} candidates a query, {:.1} µs a query)",
        n as f64 / secs,
        e.candidates as f64 / n as f64,
        secs * 1e6 / n as f64,
    );
    println!(
        "quality: precision {:.4}, recall {:.4}, review rate {:.4} ({e})",
        e.precision(),
        e.recall(),
        e.review_rate()
    );
}
