//! A seeded population of record sources, shared by the tests, and the
//! sim's people as check subjects.

use std::path::PathBuf;
use std::sync::OnceLock;

use plaza_checks::matching::{Date, Sex};
use plaza_checks::sources::{Registry, Subject};
use plaza_checks::{Checker, CheckerConfig};
use plaza_sim::people::{self, NoiseConfig, Person, Rng, noisy_record};
use plaza_sim::records::{self, LocalRecords, Shape};

pub const SEED: u64 = 2026;

/// The sources seeded once (scale 0.001: about ten thousand records).
pub fn seeded() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = plaza_kernel::testing::temp_dir("checks-records");
        records::seed(&dir, &Shape::new(SEED, 0.001), |_| {}).expect("seeding the sources");
        dir
    })
}

/// The seeded sources served on free ports, and a checker built from
/// their catalogue.
pub async fn start(config: CheckerConfig) -> (LocalRecords, Checker) {
    start_with_pool(config, plaza_checks::sources::fixed::DEFAULT_POOL).await
}

/// As [`start`], fixed-width sources keeping `fixed_pool` idle connections.
pub async fn start_with_pool(config: CheckerConfig, fixed_pool: usize) -> (LocalRecords, Checker) {
    let local = records::start_local(seeded())
        .await
        .expect("serving the sources");
    let configs = plaza_checks::sources::fetch_catalogue(&local.base)
        .await
        .expect("the catalogue");
    let registry = Registry::with_fixed_pool(configs, fixed_pool);
    assert_eq!(registry.len(), 27);
    let config = CheckerConfig {
        today: Some(as_of()),
        ..config
    };
    (local, Checker::new(registry, config))
}

/// The day the seeded records are current to.
pub fn as_of() -> Date {
    let d = records::DEFAULT_AS_OF;
    Date::new(d.year, d.month, d.day).unwrap()
}

pub fn source_index(id: &str) -> usize {
    records::catalogue::source(id)
        .expect("a catalogue source")
        .0
}

fn sex(s: people::Sex) -> Sex {
    match s {
        people::Sex::Female => Sex::Female,
        people::Sex::Male => Sex::Male,
    }
}

/// The person as an applicant writes themselves on the form (rare slips,
/// a nickname now and then, the SSN only sometimes), drawn for `draw`.
pub fn applicant(person: &Person, draw: u64) -> Subject {
    let mut rng = Rng::for_item(SEED, 7_000, draw);
    let r = noisy_record(person, &mut rng, &NoiseConfig::applicant());
    Subject {
        first: r.first,
        middle: r.middle,
        last: r.last,
        sex: r.sex.map(sex),
        dob: r.dob.and_then(|d| Date::new(d.year, d.month, d.day)),
        ssn: r.ssn,
        state_id: r.state_id,
        fbi: r.fbi,
        aliases: r.aliases,
    }
}
