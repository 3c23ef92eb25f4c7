//! Synthetic driver records at realistic scale, for `plaza dmv seed`,
//! development and benchmarks. Every driver is a pure function of the seed
//! and its index, so a run is reproducible. Names come from weighted lists,
//! ages spread from 16 to 95 like a licensed population, classes are mostly
//! C, statuses mostly valid, and expiries are spread so that a good share is
//! due for renewal now.
//!
//! Addresses come from a closure, so the address service's reference set
//! can supply them; [`sample_address`] is a small stand-in.

use std::time::{Duration, Instant};

use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::Db;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::domain::{
    AddressLines, Codes, Date, Description, Driver, LicenceClass, LicenceNumber, Person,
    PersonName, Sex, Status,
};
use super::store::{self, DriverStore, SealedRow, SqlDriverStore};
use crate::error::Error;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub drivers: u64,
    pub seed: u64,
    /// The issuing state of every record.
    pub jurisdiction: String,
    /// The day expiries and ages are spread around.
    pub today: Date,
    /// Rows committed per transaction.
    pub rows_per_transaction: usize,
}

impl SeedOptions {
    pub fn new(drivers: u64, seed: u64, today: Date) -> SeedOptions {
        SeedOptions {
            drivers,
            seed,
            jurisdiction: "PA".into(),
            today,
            rows_per_transaction: 10_000,
        }
    }
}

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub generated: u64,
    /// Fewer than generated when some records were already there.
    pub inserted: u64,
    pub elapsed: Duration,
}

/// Licence numbers are 8 digits: a bijection of the index on 0..10^8.
const LICENCE_SPACE: u64 = 100_000_000;
const LICENCE_STEP: u64 = 7_919_993;

// (name, weight ≈ frequency per 100,000 people)
const SURNAMES: &[(&str, u32)] = &[
    ("Smith", 828),
    ("Johnson", 655),
    ("Williams", 550),
    ("Brown", 487),
    ("Jones", 483),
    ("Garcia", 394),
    ("Miller", 381),
    ("Davis", 364),
    ("Rodriguez", 353),
    ("Martinez", 340),
    ("Hernandez", 337),
    ("Lopez", 288),
    ("Gonzalez", 280),
    ("Wilson", 275),
    ("Anderson", 272),
    ("Thomas", 262),
    ("Taylor", 258),
    ("Moore", 240),
    ("Jackson", 238),
    ("Martin", 236),
    ("Lee", 228),
    ("Perez", 219),
    ("Thompson", 218),
    ("White", 214),
    ("Harris", 205),
    ("Sanchez", 203),
    ("Clark", 187),
    ("Ramirez", 185),
    ("Lewis", 178),
    ("Robinson", 176),
    ("Walker", 174),
    ("Young", 163),
    ("Allen", 161),
    ("King", 160),
    ("Wright", 158),
    ("Scott", 150),
    ("Torres", 149),
    ("Nguyen", 148),
    ("Hill", 147),
    ("Flores", 146),
    ("Green", 145),
    ("Adams", 143),
    ("Nelson", 142),
    ("Baker", 141),
    ("Hall", 135),
    ("Rivera", 133),
    ("Campbell", 127),
    ("Mitchell", 125),
    ("Carter", 124),
    ("Roberts", 123),
    ("Kowalski", 60),
    ("Schmidt", 58),
    ("Mueller", 55),
    ("O'Brien", 54),
    ("Murphy", 110),
    ("Kelly", 95),
    ("Sullivan", 70),
    ("Novak", 40),
    ("Yoder", 45),
    ("Stoltzfus", 30),
    ("Patel", 90),
    ("Kim", 85),
    ("Chen", 80),
    ("Wang", 78),
    ("Russo", 42),
    ("Romano", 35),
    ("Brennan", 30),
    ("Fitzgerald", 38),
    ("Washington", 60),
    ("Jefferson", 35),
];

const GIVEN_F: &[(&str, u32)] = &[
    ("Mary", 260),
    ("Patricia", 110),
    ("Jennifer", 110),
    ("Linda", 105),
    ("Elizabeth", 100),
    ("Barbara", 95),
    ("Susan", 90),
    ("Jessica", 90),
    ("Sarah", 85),
    ("Karen", 80),
    ("Lisa", 75),
    ("Nancy", 70),
    ("Betty", 65),
    ("Sandra", 60),
    ("Margaret", 60),
    ("Ashley", 60),
    ("Kimberly", 55),
    ("Emily", 55),
    ("Donna", 50),
    ("Michelle", 50),
    ("Carol", 45),
    ("Amanda", 45),
    ("Melissa", 45),
    ("Deborah", 40),
    ("Stephanie", 40),
    ("Maria", 40),
    ("Olivia", 35),
    ("Emma", 35),
    ("Sophia", 30),
    ("Ava", 25),
    ("Isabella", 25),
    ("Mia", 20),
    ("Grace", 20),
    ("Ana Lucia", 8),
    ("Mary Ann", 15),
];

const GIVEN_M: &[(&str, u32)] = &[
    ("James", 330),
    ("Robert", 320),
    ("John", 320),
    ("Michael", 290),
    ("David", 240),
    ("William", 240),
    ("Richard", 140),
    ("Joseph", 130),
    ("Thomas", 120),
    ("Christopher", 110),
    ("Charles", 110),
    ("Daniel", 110),
    ("Matthew", 100),
    ("Anthony", 90),
    ("Mark", 85),
    ("Donald", 80),
    ("Steven", 75),
    ("Paul", 70),
    ("Andrew", 70),
    ("Joshua", 65),
    ("Kenneth", 60),
    ("Kevin", 55),
    ("Brian", 55),
    ("George", 50),
    ("Timothy", 45),
    ("Ronald", 45),
    ("Jose", 40),
    ("Jason", 40),
    ("Ryan", 40),
    ("Jacob", 35),
    ("Noah", 30),
    ("Liam", 30),
    ("Ethan", 25),
    ("Juan Carlos", 8),
    ("Wei", 8),
];

/// (first age, last age, weight): a licensed population's age profile.
const AGE_BANDS: &[(i32, i32, u32)] = &[
    (16, 19, 40),
    (20, 29, 160),
    (30, 39, 170),
    (40, 49, 160),
    (50, 59, 170),
    (60, 69, 160),
    (70, 79, 95),
    (80, 89, 38),
    (90, 95, 7),
];

const STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Walnut",
    "Chestnut",
    "Market",
    "Church",
    "High",
    "Park",
    "Washington",
    "Lincoln",
    "Jefferson",
    "Franklin",
    "Spring",
    "Ridge",
    "Mill",
    "Hill",
    "Lake",
    "Valley",
    "Penn",
    "Liberty",
    "Union",
    "Water",
    "Front",
    "Second",
    "Third",
    "Fourth",
];
const SUFFIXES: &[&str] = &[
    "St", "Ave", "Rd", "Dr", "Ln", "Ct", "Pl", "Blvd", "Way", "Ter",
];
const DIRECTIONALS: &[&str] = &["", "", "", "", "N ", "S ", "E ", "W "];
/// (city, ZIP prefix): Pennsylvania places.
const CITIES: &[(&str, &str)] = &[
    ("Philadelphia", "191"),
    ("Pittsburgh", "152"),
    ("Allentown", "181"),
    ("Erie", "165"),
    ("Reading", "196"),
    ("Scranton", "185"),
    ("Bethlehem", "180"),
    ("Lancaster", "176"),
    ("Harrisburg", "171"),
    ("York", "174"),
    ("Altoona", "166"),
    ("State College", "168"),
    ("Wilkes-Barre", "187"),
    ("Norristown", "194"),
    ("Chester", "190"),
    ("Williamsport", "177"),
    ("Easton", "180"),
    ("Lebanon", "170"),
    ("Johnstown", "159"),
    ("Hazleton", "182"),
];

fn weighted<'a>(rng: &mut StdRng, items: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    items[0].0
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn rng_for(seed: u64, i: u64, stream: u64) -> StdRng {
    // SplitMix64 of (seed, index, stream): independent streams per driver.
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// The stand-in address generator: plausible Pennsylvania addresses,
/// deterministic for `(seed, i)`.
pub fn sample_address(seed: u64, i: u64) -> AddressLines {
    let mut rng = rng_for(seed, i, 2);
    let (city, zip3) = pick(&mut rng, CITIES);
    let line1 = format!(
        "{} {}{} {}",
        rng.random_range(1..9999),
        pick(&mut rng, DIRECTIONALS),
        pick(&mut rng, STREETS),
        pick(&mut rng, SUFFIXES)
    );
    let line2 = if rng.random_range(0..10) == 0 {
        format!("Apt {}", rng.random_range(1..40))
    } else {
        String::new()
    };
    let zip = format!("{zip3}{:02}", rng.random_range(1..99));
    AddressLines {
        line1,
        line2,
        city: (*city).to_owned(),
        state: "PA".into(),
        zip,
    }
}

/// The driver with index `i` of a seed run.
pub fn driver(opts: &SeedOptions, i: u64, address: AddressLines) -> Driver {
    let mut rng = rng_for(opts.seed, i, 1);
    let today = opts.today;

    let female = rng.random_bool(0.51);
    let description = {
        let eye = match rng.random_range(0..100) {
            0..=44 => "BRO",
            45..=71 => "BLU",
            72..=81 => "HAZ",
            82..=90 => "GRN",
            91..=93 => "GRY",
            _ => "BLK",
        };
        // Roughly normal heights: the sum of three uniforms.
        let spread: i32 = (0..3).map(|_| rng.random_range(-3..=3)).sum();
        let mean = if female { 64 } else { 69 };
        Description {
            sex: if female { Sex::Female } else { Sex::Male },
            eye_colour: eye.to_owned(),
            height_in: (mean + spread) as u16,
        }
    };
    let given = weighted(&mut rng, if female { GIVEN_F } else { GIVEN_M });
    let family = weighted(&mut rng, SURNAMES);
    let band = {
        let total: u32 = AGE_BANDS.iter().map(|b| b.2).sum();
        let mut p = rng.random_range(0..total);
        let mut chosen = AGE_BANDS[0];
        for b in AGE_BANDS {
            if p < b.2 {
                chosen = *b;
                break;
            }
            p -= b.2;
        }
        chosen
    };
    let age = rng.random_range(band.0..=band.1);
    let birth_date = today.add_years(-age).add_days(-rng.random_range(0..365i64));

    let class = match rng.random_range(0..1000) {
        0..=879 => LicenceClass::C,
        880..=909 => LicenceClass::M,
        910..=919 => LicenceClass::A,
        920..=929 => LicenceClass::B,
        930..=969 => LicenceClass::CdlA,
        970..=989 => LicenceClass::CdlB,
        _ => LicenceClass::CdlC,
    };
    let mut endorsements = Vec::new();
    if class.is_commercial() {
        for code in ["H", "N", "P", "S", "T", "X"] {
            if rng.random_bool(0.12) {
                endorsements.push(code.to_owned());
            }
        }
    } else if class != LicenceClass::M && rng.random_bool(0.06) {
        endorsements.push("M".to_owned());
    }
    let mut restrictions = Vec::new();
    if rng.random_bool(if age >= 45 { 0.45 } else { 0.2 }) {
        restrictions.push("B".to_owned());
    }
    if age >= 75 && rng.random_bool(0.15) {
        restrictions.push("E".to_owned());
    }

    // A fifth are inside the renewal window or just expired; the rest are
    // spread over the four-year cycle and the two years after it.
    let offset: i64 = if rng.random_bool(0.2) {
        rng.random_range(-60..=180)
    } else {
        rng.random_range(-730..=1460)
    };
    let mut expires_on = today.add_days(offset);
    let mut issued_on = expires_on.add_years(-4);
    let sixteenth = birth_date.add_years(16);
    if issued_on < sixteenth {
        issued_on = sixteenth.add_days(rng.random_range(0..90i64));
        expires_on = issued_on.add_years(4);
    }
    let status = match rng.random_range(0..1000) {
        0..=19 => Status::Suspended,
        20..=24 => Status::Revoked,
        25..=27 => Status::Cancelled,
        _ if expires_on < today => Status::Expired,
        _ => Status::Valid,
    };
    let real_id = rng.random_bool(0.35);
    let real_id_documents_seen = real_id || rng.random_bool(0.05);
    let vision_test_on =
        (age >= 60 && rng.random_bool(0.5)).then(|| today.add_days(-rng.random_range(0..1460i64)));
    let medical_certificate_expires_on = class
        .is_commercial()
        .then(|| today.add_days(rng.random_range(-200..=730i64)));

    let number =
        (i.wrapping_mul(LICENCE_STEP) + opts.seed.wrapping_mul(LICENCE_STEP * 31)) % LICENCE_SPACE;
    let id_bytes: [u8; 10] = rng.random();
    let id = uuid::Builder::from_unix_timestamp_millis(1_577_836_800_000 + i, &id_bytes)
        .into_uuid()
        .to_string();
    Driver {
        id,
        licence_number: LicenceNumber::parse(&format!("{number:08}"))
            .expect("eight digits are a licence number"),
        jurisdiction: opts.jurisdiction.clone(),
        class,
        endorsements: Codes::from_list("endorsements", &endorsements).unwrap_or_default(),
        restrictions: Codes::from_list("restrictions", &restrictions).unwrap_or_default(),
        issued_on,
        expires_on,
        status,
        real_id,
        real_id_documents_seen,
        last_renewal_online: rng.random_bool(0.4),
        vision_test_on,
        medical_certificate_expires_on,
        subject: None,
        person: Person {
            name: PersonName {
                family: family.to_owned(),
                given: given.to_owned(),
            },
            birth_date,
            address,
            description,
        },
        updated_at_ms: 0,
    }
}

/// Generates `opts.drivers` drivers and stores them, sealed, in batches of
/// [`store::ROWS_PER_STATEMENT`] rows per statement and
/// `opts.rows_per_transaction` rows per transaction. Generation and sealing
/// of the next transaction's rows overlap the writing of the current one.
/// `next_address(i)` gives driver `i`'s address; `progress(n)` is told the
/// number of drivers stored so far after each transaction. Records already
/// stored (same id or licence number) are skipped, so a repeated run adds
/// nothing.
pub async fn seed(
    db: &Db,
    key: &DataKey,
    opts: &SeedOptions,
    next_address: impl FnMut(u64) -> AddressLines + Send + 'static,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<SeedReport, Error> {
    if opts.drivers > LICENCE_SPACE {
        return Err(Error::invalid(
            "drivers",
            format!("at most {LICENCE_SPACE} drivers"),
        ));
    }
    if opts.rows_per_transaction == 0 {
        return Err(Error::invalid("rows_per_transaction", "must be positive"));
    }
    let started = Instant::now();
    let sql_store = SqlDriverStore::new(db.clone(), key.clone());
    // Into an empty table, secondary indexes are built once at the end.
    let bulk = store::count(db).await? == 0 && opts.drivers > 0;
    if bulk {
        store::drop_indexes(db).await?;
    }
    let result = load(db, &sql_store, key, opts, next_address, progress).await;
    let rebuilt = if bulk {
        store::ensure_indexes(db).await
    } else {
        Ok(())
    };
    let inserted = result?;
    rebuilt?;
    Ok(SeedReport {
        generated: opts.drivers,
        inserted,
        elapsed: started.elapsed(),
    })
}

type Chunk<F> = (F, Vec<SealedRow>);

fn generate_chunk<F: FnMut(u64) -> AddressLines>(
    opts: &SeedOptions,
    key: &DataKey,
    mut next_address: F,
    range: std::ops::Range<u64>,
) -> Chunk<F> {
    let rows = range
        .map(|i| {
            let address = next_address(i);
            store::seal(key, &driver(opts, i, address))
        })
        .collect();
    (next_address, rows)
}

async fn load<F: FnMut(u64) -> AddressLines + Send + 'static>(
    db: &Db,
    sql_store: &SqlDriverStore,
    key: &DataKey,
    opts: &SeedOptions,
    next_address: F,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64, Error> {
    let step = opts.rows_per_transaction as u64;
    let spawn = |start: u64, f: F| {
        let (opts, key) = (opts.clone(), key.clone());
        let end = (start + step).min(opts.drivers);
        tokio::task::spawn_blocking(move || generate_chunk(&opts, &key, f, start..end))
    };
    let mut inserted = 0u64;
    let mut start = 0u64;
    let mut pending = spawn(0, next_address);
    loop {
        let (f, rows) = pending
            .await
            .map_err(|e| Error::Corrupt(format!("driver generator stopped: {e}")))?;
        start += rows.len() as u64;
        let done = start >= opts.drivers;
        // Generate the next chunk while this one is written.
        let next = (!done).then(|| spawn(start, f));
        let mut tx = db.begin().await?;
        inserted += sql_store.insert_sealed(&mut tx, &rows).await?;
        db.commit(tx).await?;
        progress(start);
        match next {
            Some(n) => pending = n,
            None => return Ok(inserted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SeedOptions {
        SeedOptions::new(1000, 7, Date::parse("2026-11-30").unwrap())
    }

    #[test]
    fn drivers_are_a_function_of_seed_and_index() {
        let o = opts();
        let a = driver(&o, 42, sample_address(7, 42));
        assert_eq!(a, driver(&o, 42, sample_address(7, 42)));
        assert_ne!(a, driver(&o, 43, sample_address(7, 43)));
        let other = SeedOptions { seed: 8, ..o };
        assert_ne!(a.id, driver(&other, 42, sample_address(8, 42)).id);
    }

    #[test]
    fn a_thousand_drivers_look_like_a_population() {
        let o = opts();
        let all: Vec<Driver> = (0..1000)
            .map(|i| driver(&o, i, sample_address(7, i)))
            .collect();
        let numbers: std::collections::HashSet<_> =
            all.iter().map(|d| d.licence_number.clone()).collect();
        assert_eq!(numbers.len(), 1000, "licence numbers are unique");
        let ages: Vec<i32> = all
            .iter()
            .map(|d| d.person.birth_date.years_until(o.today))
            .collect();
        assert!(ages.iter().all(|a| (16..=95).contains(a)));
        assert!(ages.iter().any(|a| *a >= 80) && ages.iter().any(|a| *a < 20));
        let share = |f: &dyn Fn(&Driver) -> bool| all.iter().filter(|d| f(d)).count();
        assert!(share(&|d| d.class == LicenceClass::C) > 800);
        assert!(share(&|d| d.class.is_commercial()) > 20);
        assert!(share(&|d| d.status == Status::Valid) > 600);
        assert!(share(&|d| d.status == Status::Suspended) > 3);
        let due =
            share(&|d| d.expires_on.days() - o.today.days() <= 180 && d.expires_on >= o.today);
        assert!(due > 150, "{due} due for renewal");
        assert!(
            all.iter()
                .all(|d| d.issued_on >= d.person.birth_date.add_years(16))
        );
    }
}
