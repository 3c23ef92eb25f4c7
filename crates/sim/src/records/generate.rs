//! Records as a pure function of (seed, shape, source, ordinal), so that a
//! population of ten million is streamed with constant memory and comes out
//! the same anywhere.
//!
//! The first [`KNOWN_SUBJECTS`] people of a population are *known
//! subjects*: each follows a [`Profile`] (a felony conviction, a qualifying
//! protection order, no record at all, ...) and their records come first in
//! the sources the profile names, so tests can check a person whose right
//! answer is known. Everyone else's records are drawn from the rest of the
//! population, criminal files concentrating on repeat offenders.

use crate::people::{
    self, Date, NoiseConfig, Person, Rng, Sex, generate_person, names, noisy_record,
};

use super::catalogue::{CATALOGUE, Category, RecordKind, Source};
use super::model::*;

/// How a population is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub seed: u64,
    /// 1.0 = ten million records across the catalogue.
    pub scale: f64,
    /// The day the records are current to: arrests, orders and expiries are
    /// placed around it.
    pub as_of: Date,
}

/// The default "current" day of generated records.
pub const DEFAULT_AS_OF: Date = Date {
    year: 2026,
    month: 1,
    day: 1,
};

impl Shape {
    pub fn new(seed: u64, scale: f64) -> Shape {
        Shape {
            seed,
            scale,
            as_of: DEFAULT_AS_OF,
        }
    }

    /// Records in source number `source` (never fewer than its planted ones).
    pub fn records_in(&self, source: usize) -> u64 {
        CATALOGUE[source]
            .records_at(self.scale)
            .max(planted(source).len() as u64)
    }

    pub fn total_records(&self) -> u64 {
        (0..CATALOGUE.len()).map(|s| self.records_in(s)).sum()
    }

    /// People records are drawn from: about one per two records.
    pub fn population(&self) -> u64 {
        (self.total_records() / 2).max(KNOWN_SUBJECTS + 1_000)
    }
}

/// What a known subject's records say, and what a correct check concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Clean,
    FelonyConviction,
    DomesticViolenceMisdemeanour,
    FelonyWarrant,
    QualifyingProtectionOrder,
    MentalCommitment,
    IllegalAlien,
    DishonourableDischarge,
    RenouncedCitizenship,
    UnderIndictment,
    DrugUser,
    AcquittedFelony,
    ExpiredProtectionOrder,
    MentalReliefGranted,
    StateMentalCommitment,
    NonimmigrantVisa,
    StateFelonyDisposition,
    StateFelonyWarrant,
    OnParole,
    PendingFelonyCharge,
}

/// The conclusion a correct check reaches for a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Proceed,
    /// Open information (a charge with no disposition): a person must look.
    Delayed,
    /// Denied, under the statute named (`922(g)(1)`, `922(n)`, ...).
    Denied(&'static str),
}

pub const PROFILES: [Profile; 20] = [
    Profile::Clean,
    Profile::FelonyConviction,
    Profile::DomesticViolenceMisdemeanour,
    Profile::FelonyWarrant,
    Profile::QualifyingProtectionOrder,
    Profile::MentalCommitment,
    Profile::IllegalAlien,
    Profile::DishonourableDischarge,
    Profile::RenouncedCitizenship,
    Profile::UnderIndictment,
    Profile::DrugUser,
    Profile::AcquittedFelony,
    Profile::ExpiredProtectionOrder,
    Profile::MentalReliefGranted,
    Profile::StateMentalCommitment,
    Profile::NonimmigrantVisa,
    Profile::StateFelonyDisposition,
    Profile::StateFelonyWarrant,
    Profile::OnParole,
    Profile::PendingFelonyCharge,
];

/// Known subjects in every population: each profile four times.
pub const KNOWN_SUBJECTS: u64 = PROFILES.len() as u64 * 4;

impl Profile {
    /// The sources holding this profile's records, in order.
    pub fn sources(self) -> &'static [&'static str] {
        match self {
            Profile::Clean => &[],
            Profile::FelonyConviction => &["fbi-iii"],
            Profile::DomesticViolenceMisdemeanour => &["il-criminal"],
            Profile::FelonyWarrant => &["ncic-wanted"],
            Profile::QualifyingProtectionOrder => &["ncic-protection"],
            Profile::MentalCommitment => &["nics-mental"],
            Profile::IllegalAlien => &["nics-alien", "ice-status"],
            Profile::DishonourableDischarge => &["nics-discharge"],
            Profile::RenouncedCitizenship => &["nics-renounced"],
            Profile::UnderIndictment => &["nics-indictment"],
            Profile::DrugUser => &["nics-drug"],
            Profile::AcquittedFelony => &["fbi-iii"],
            Profile::ExpiredProtectionOrder => &["ma-protection"],
            Profile::MentalReliefGranted => &["ny-mental"],
            Profile::StateMentalCommitment => &["il-mental"],
            Profile::NonimmigrantVisa => &["ice-status"],
            Profile::StateFelonyDisposition => &["tx-courts"],
            Profile::StateFelonyWarrant => &["ma-warrants"],
            Profile::OnParole => &["ny-criminal", "ny-corrections"],
            Profile::PendingFelonyCharge => &["ma-courts"],
        }
    }

    pub fn expected(self) -> Expected {
        use Expected::*;
        match self {
            Profile::Clean
            | Profile::AcquittedFelony
            | Profile::ExpiredProtectionOrder
            | Profile::MentalReliefGranted => Proceed,
            Profile::PendingFelonyCharge => Delayed,
            Profile::FelonyConviction | Profile::StateFelonyDisposition | Profile::OnParole => {
                Denied("922(g)(1)")
            }
            Profile::FelonyWarrant | Profile::StateFelonyWarrant => Denied("922(g)(2)"),
            Profile::DrugUser => Denied("922(g)(3)"),
            Profile::MentalCommitment | Profile::StateMentalCommitment => Denied("922(g)(4)"),
            Profile::IllegalAlien | Profile::NonimmigrantVisa => Denied("922(g)(5)"),
            Profile::DishonourableDischarge => Denied("922(g)(6)"),
            Profile::RenouncedCitizenship => Denied("922(g)(7)"),
            Profile::QualifyingProtectionOrder => Denied("922(g)(8)"),
            Profile::DomesticViolenceMisdemeanour => Denied("922(g)(9)"),
            Profile::UnderIndictment => Denied("922(n)"),
        }
    }
}

/// A known subject: who they are, their profile, and the ids of every
/// record planted for them.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownSubject {
    pub index: u64,
    pub person: Person,
    pub profile: Profile,
    pub record_ids: Vec<String>,
}

/// Known subject `i` (below [`KNOWN_SUBJECTS`]) of the population drawn
/// from `seed`: their records are the same at every scale.
pub fn known_subject(seed: u64, i: u64) -> KnownSubject {
    assert!(i < KNOWN_SUBJECTS, "known subjects are 0..{KNOWN_SUBJECTS}");
    let profile = PROFILES[(i % PROFILES.len() as u64) as usize];
    let record_ids = profile
        .sources()
        .iter()
        .map(|id| {
            let (s, _) =
                super::catalogue::source(id).expect("profile sources are in the catalogue");
            let n = planted(s)
                .iter()
                .position(|&(subject, _)| subject == i)
                .expect("planted");
            record_id(id, n as u64)
        })
        .collect();
    KnownSubject {
        index: i,
        person: known_person(seed, i),
        profile,
        record_ids,
    }
}

/// The known subjects of one profile.
pub fn known_subjects_with(seed: u64, profile: Profile) -> Vec<KnownSubject> {
    (0..KNOWN_SUBJECTS)
        .filter(|i| PROFILES[(i % PROFILES.len() as u64) as usize] == profile)
        .map(|i| known_subject(seed, i))
        .collect()
}

/// A known subject's person: a first name that has nicknames, so tests can
/// search under one.
fn known_person(seed: u64, i: u64) -> Person {
    let mut p = generate_person(seed, i);
    let list = match p.sex {
        Sex::Male => names::MALE_FIRST,
        Sex::Female => names::FEMALE_FIRST,
    };
    let formal: Vec<&str> = names::NICKNAMES
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| list.contains(f))
        .collect();
    let mut rng = Rng::for_item(seed, STREAM_KNOWN, i);
    p.first = (*rng.pick(&formal)).to_owned();
    if p.middle.as_deref() == Some(p.first.as_str()) {
        p.middle = None;
    }
    p
}

/// Planted records of source number `source`: (known subject, profile), in
/// record order. They are ordinals `0..len` of the source.
pub fn planted(source: usize) -> Vec<(u64, Profile)> {
    let id = CATALOGUE[source].id;
    (0..KNOWN_SUBJECTS)
        .map(|i| (i, PROFILES[(i % PROFILES.len() as u64) as usize]))
        .filter(|(_, p)| p.sources().contains(&id))
        .collect()
}

const STREAM_KNOWN: u64 = 90;
const STREAM_SOURCE: u64 = 100;

/// Record `n` of source number `source`. `planted` is [`planted`]`(source)`
/// (passed in so that streaming a source computes it once).
pub fn generate_record(
    shape: &Shape,
    source: usize,
    planted: &[(u64, Profile)],
    n: u64,
) -> SourceRecord {
    let src = &CATALOGUE[source];
    let mut rng = Rng::for_item(shape.seed, STREAM_SOURCE + source as u64, n);
    let (person, detail, subject) = match planted.get(n as usize) {
        Some(&(i, profile)) => {
            let person = known_person(shape.seed, i);
            let noise = NoiseConfig {
                uppercase: 1.0,
                list_alias: 1.0,
                ..NoiseConfig::none()
            };
            let subject = subject_of(noisy_record(&person, &mut rng, &noise));
            let detail = planted_detail(src, profile, &person, shape.as_of);
            (person, detail, subject)
        }
        None => {
            let span = shape.population() - KNOWN_SUBJECTS;
            let u = rng.unit();
            let u = if src.category.repeat_offenders() {
                u.powf(1.6)
            } else {
                u
            };
            let pid = KNOWN_SUBJECTS + ((span as f64 * u) as u64).min(span - 1);
            let person = generate_person(shape.seed, pid);
            let subject = subject_of(noisy_record(
                &person,
                &mut rng,
                &NoiseConfig::source_records(),
            ));
            let detail = random_detail(src, &person, shape.as_of, &mut rng);
            (person, detail, subject)
        }
    };
    SourceRecord {
        record_id: record_id(src.id, n),
        control_number: control_number(src, n),
        person_id: person.id,
        subject,
        detail,
    }
}

/// The source's own number: its prefix and eight digits that do not give
/// away the record's position.
pub fn control_number(src: &Source, n: u64) -> String {
    const MOD: u64 = 100_000_000;
    let x = (n % MOD).wrapping_mul(48_271_013) % MOD;
    format!("{}{x:08}", src.control_prefix)
}

fn subject_of(r: people::Record) -> Subject {
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
}

fn add_days(d: Date, days: i64) -> Date {
    Date::from_days(d.to_days() + days)
}

fn add_years(d: Date, years: i64) -> Date {
    add_days(d, years * 365 + years / 4)
}

/// A day between `from` and `to` (`from` when the range is empty).
fn day_between(rng: &mut Rng, from: Date, to: Date) -> Date {
    let (a, b) = (from.to_days(), to.to_days());
    if b <= a {
        return from;
    }
    Date::from_days(rng.between(a, b))
}

/// A day since the person turned 18, before `as_of`.
fn adult_day(rng: &mut Rng, p: &Person, as_of: Date) -> Date {
    day_between(rng, add_years(p.dob, 18), add_days(as_of, -1))
}

/// Offences: text, felony?, domestic violence?, longest term in months.
const OFFENCES: &[(&str, bool, bool, u32)] = &[
    ("BURGLARY", true, false, 240),
    ("AGGRAVATED ASSAULT", true, false, 120),
    ("ROBBERY", true, false, 180),
    ("POSSESSION WITH INTENT TO DISTRIBUTE", true, false, 120),
    ("MOTOR VEHICLE THEFT", true, false, 60),
    ("LARCENY OVER $1200", true, false, 60),
    ("FORGERY", true, false, 120),
    ("FELONY DRIVING UNDER THE INFLUENCE", true, false, 60),
    ("AGGRAVATED DOMESTIC BATTERY", true, true, 84),
    ("UNLAWFUL POSSESSION OF A FIREARM", true, false, 120),
    ("ARSON", true, false, 240),
    ("WIRE FRAUD", true, false, 240),
    ("PETTY THEFT", false, false, 6),
    ("DISORDERLY CONDUCT", false, false, 6),
    ("SIMPLE ASSAULT", false, false, 12),
    ("DOMESTIC BATTERY", false, true, 12),
    (
        "ASSAULT AND BATTERY ON A FAMILY OR HOUSEHOLD MEMBER",
        false,
        true,
        30,
    ),
    ("DRIVING UNDER THE INFLUENCE", false, false, 6),
    ("CRIMINAL TRESPASS", false, false, 3),
    ("POSSESSION OF MARIJUANA", false, false, 6),
    ("VIOLATION OF A PROTECTION ORDER", false, true, 12),
    ("SHOPLIFTING", false, false, 6),
    ("CRIMINAL MISCHIEF", false, false, 12),
    ("RESISTING ARREST", false, false, 12),
];

fn state_name(code: &str) -> &'static str {
    match code {
        "MA" => "Massachusetts",
        "IL" => "Illinois",
        "TX" => "Texas",
        "NY" => "New York",
        _ => "United States",
    }
}

const COUNTIES: &[&str] = &[
    "Suffolk",
    "Middlesex",
    "Cook",
    "DuPage",
    "Harris",
    "Travis",
    "Kings",
    "Erie",
    "Essex",
    "Worcester",
    "Dallas",
    "Bexar",
    "Lake",
    "Monroe",
];

fn court(rng: &mut Rng, src: &Source) -> String {
    if src.jurisdiction == "US" {
        format!(
            "US DISTRICT COURT {}",
            rng.pick(COUNTIES).to_ascii_uppercase()
        )
    } else {
        format!(
            "{} COUNTY COURT {}",
            rng.pick(COUNTIES).to_ascii_uppercase(),
            src.jurisdiction
        )
    }
}

fn agency(rng: &mut Rng, src: &Source) -> String {
    let state = if src.jurisdiction == "US" {
        *rng.pick(names::STATES)
    } else {
        src.jurisdiction
    };
    format!("{state}{:07}", rng.between(0, 9_999_999))
}

fn alien_number(rng: &mut Rng) -> String {
    format!("A{:09}", rng.between(10_000_000, 999_999_999))
}

const VISAS: &[&str] = &["B2", "F1", "H1B", "J1", "L1", "B1", "K1"];
const BRANCHES: &[&str] = &["ARMY", "NAVY", "AIR FORCE", "MARINE CORPS", "COAST GUARD"];
const FACILITIES: &[&str] = &[
    "STATE CORRECTIONAL INSTITUTION",
    "COUNTY HOUSE OF CORRECTION",
    "REGIONAL DETENTION CENTER",
    "MEDIUM SECURITY FACILITY",
];

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u64)]) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for &(v, w) in items {
        if x < w {
            return v;
        }
        x -= w;
    }
    items[0].0
}

fn random_detail(src: &Source, p: &Person, as_of: Date, rng: &mut Rng) -> Detail {
    match src.kind() {
        RecordKind::Criminal => {
            let &(offence, felony, dv, max) = rng.pick(OFFENCES);
            let arrest = adult_day(rng, p, as_of);
            let disposition = weighted(
                rng,
                &[
                    (Disposition::Convicted, 58),
                    (Disposition::Dismissed, 18),
                    (Disposition::Acquitted, 4),
                    (Disposition::Pending, 20),
                ],
            );
            let disposition_date = (disposition != Disposition::Pending)
                .then(|| day_between(rng, add_days(arrest, 30), add_days(arrest, 540)))
                .map(|d| d.min(as_of));
            Detail::Criminal(Criminal {
                offence: offence.to_owned(),
                class: if felony {
                    OffenceClass::Felony
                } else {
                    OffenceClass::Misdemeanour
                },
                domestic_violence: dv,
                arrest_date: arrest,
                disposition,
                disposition_date,
                sentence_max_months: rng.chance(0.9).then_some(max),
            })
        }
        RecordKind::Wanted => {
            let &(offence, felony, _, _) = rng.pick(OFFENCES);
            Detail::Wanted(Wanted {
                warrant_type: weighted(
                    rng,
                    &[
                        (WarrantType::Arrest, 50),
                        (WarrantType::Bench, 30),
                        (WarrantType::ProbationViolation, 12),
                        (WarrantType::ParoleViolation, 8),
                    ],
                ),
                issuing_agency: agency(rng, src),
                felony,
                offence: offence.to_owned(),
                date: day_between(rng, add_years(as_of, -5), add_days(as_of, -1)),
            })
        }
        RecordKind::ProtectionOrder => {
            let issued = day_between(rng, add_years(as_of, -6), add_days(as_of, -1));
            let expires = (!rng.chance(0.1)).then(|| add_days(issued, rng.between(180, 730)));
            Detail::ProtectionOrder(ProtectionOrder {
                issued,
                expires,
                intimate_partner: rng.chance(0.8),
                hearing_with_notice: rng.chance(0.75),
                credible_threat: rng.chance(0.6),
                court: court(rng, src),
            })
        }
        RecordKind::MentalHealth => Detail::MentalHealth(MentalHealth {
            adjudication: if rng.chance(0.7) {
                Adjudication::Committed
            } else {
                Adjudication::Adjudicated
            },
            date: adult_day(rng, p, as_of),
            relief_granted: rng.chance(0.02),
            authority: court(rng, src),
        }),
        RecordKind::DrugUse => Detail::DrugUse(DrugUse {
            basis: weighted(
                rng,
                &[
                    (DrugBasis::Conviction, 40),
                    (DrugBasis::MultipleArrests, 30),
                    (DrugBasis::Admission, 15),
                    (DrugBasis::PositiveTest, 15),
                ],
            ),
            date: day_between(rng, add_years(as_of, -1), add_days(as_of, -1)),
        }),
        RecordKind::Discharge => Detail::Discharge(Discharge {
            discharge: if rng.chance(0.95) {
                DischargeType::Dishonourable
            } else {
                DischargeType::BadConduct
            },
            branch: (*rng.pick(BRANCHES)).to_owned(),
            date: adult_day(rng, p, as_of),
        }),
        RecordKind::Renounced => Detail::Renounced(Renounced {
            date: adult_day(rng, p, as_of),
        }),
        RecordKind::Immigration => {
            let status = match src.category {
                Category::ImmigrationStatus => weighted(
                    rng,
                    &[
                        (ImmigrationStatus::Citizen, 20),
                        (ImmigrationStatus::LawfulPermanentResident, 45),
                        (ImmigrationStatus::NonimmigrantVisa, 25),
                        (ImmigrationStatus::Illegal, 10),
                    ],
                ),
                _ => ImmigrationStatus::Illegal,
            };
            Detail::Immigration(Immigration {
                status,
                alien_number: alien_number(rng),
                visa_class: (status == ImmigrationStatus::NonimmigrantVisa)
                    .then(|| (*rng.pick(VISAS)).to_owned()),
                as_of: day_between(rng, add_years(as_of, -3), add_days(as_of, -1)),
            })
        }
        RecordKind::Indictment => {
            let &(charge, felony, _, _) = rng.pick(&OFFENCES[..12]);
            Detail::Indictment(Indictment {
                court: court(rng, src),
                charge: charge.to_owned(),
                felony: felony && rng.chance(0.95),
                date: day_between(rng, add_years(as_of, -2), add_days(as_of, -1)),
            })
        }
        RecordKind::Corrections => {
            let &(offence, _, _, _) = rng.pick(OFFENCES);
            Detail::Corrections(Corrections {
                custody: weighted(
                    rng,
                    &[
                        (Custody::Incarcerated, 35),
                        (Custody::Parole, 20),
                        (Custody::Probation, 30),
                        (Custody::Released, 15),
                    ],
                ),
                facility: format!(
                    "{} {}",
                    state_name(src.jurisdiction).to_ascii_uppercase(),
                    rng.pick(FACILITIES)
                ),
                offence: offence.to_owned(),
                since: adult_day(rng, p, as_of),
            })
        }
    }
}

/// A planted record: exactly what its profile says, around `as_of`.
fn planted_detail(src: &Source, profile: Profile, p: &Person, as_of: Date) -> Detail {
    let years_ago = |y: i64| add_years(as_of, -y);
    let court = format!(
        "{} SUPERIOR COURT",
        state_name(src.jurisdiction).to_ascii_uppercase()
    );
    let criminal = |offence: &str, felony: bool, dv: bool, d: Disposition, max: u32| {
        Detail::Criminal(Criminal {
            offence: offence.to_owned(),
            class: if felony {
                OffenceClass::Felony
            } else {
                OffenceClass::Misdemeanour
            },
            domestic_violence: dv,
            arrest_date: years_ago(6),
            disposition: d,
            disposition_date: (d != Disposition::Pending).then(|| years_ago(5)),
            sentence_max_months: Some(max),
        })
    };
    let immigration = |status: ImmigrationStatus, visa: Option<&str>| {
        Detail::Immigration(Immigration {
            status,
            alien_number: format!("A{:09}", 100_000_000 + p.id),
            visa_class: visa.map(str::to_owned),
            as_of: years_ago(1),
        })
    };
    let wanted = || {
        Detail::Wanted(Wanted {
            warrant_type: WarrantType::Arrest,
            issuing_agency: format!(
                "{}0130100",
                if src.jurisdiction == "US" {
                    "PA"
                } else {
                    src.jurisdiction
                }
            ),
            felony: true,
            offence: "AGGRAVATED ASSAULT".to_owned(),
            date: years_ago(1),
        })
    };
    let mental = |relief: bool| {
        Detail::MentalHealth(MentalHealth {
            adjudication: Adjudication::Committed,
            date: years_ago(8),
            relief_granted: relief,
            authority: court.clone(),
        })
    };
    match (profile, src.id) {
        (Profile::FelonyConviction, _) | (Profile::StateFelonyDisposition, _) => {
            criminal("BURGLARY", true, false, Disposition::Convicted, 240)
        }
        (Profile::OnParole, "ny-criminal") => {
            criminal("ROBBERY", true, false, Disposition::Convicted, 180)
        }
        (Profile::OnParole, _) => Detail::Corrections(Corrections {
            custody: Custody::Parole,
            facility: "NEW YORK STATE CORRECTIONAL INSTITUTION".to_owned(),
            offence: "ROBBERY".to_owned(),
            since: years_ago(1),
        }),
        (Profile::DomesticViolenceMisdemeanour, _) => {
            criminal("DOMESTIC BATTERY", false, true, Disposition::Convicted, 12)
        }
        (Profile::AcquittedFelony, _) => criminal(
            "AGGRAVATED ASSAULT",
            true,
            false,
            Disposition::Acquitted,
            120,
        ),
        (Profile::PendingFelonyCharge, _) => {
            criminal("MOTOR VEHICLE THEFT", true, false, Disposition::Pending, 60)
        }
        (Profile::FelonyWarrant, _) | (Profile::StateFelonyWarrant, _) => wanted(),
        (Profile::QualifyingProtectionOrder, _) => Detail::ProtectionOrder(ProtectionOrder {
            issued: years_ago(1),
            expires: Some(add_years(as_of, 2)),
            intimate_partner: true,
            hearing_with_notice: true,
            credible_threat: true,
            court,
        }),
        (Profile::ExpiredProtectionOrder, _) => Detail::ProtectionOrder(ProtectionOrder {
            issued: years_ago(4),
            expires: Some(years_ago(3)),
            intimate_partner: true,
            hearing_with_notice: true,
            credible_threat: true,
            court,
        }),
        (Profile::MentalCommitment, _) | (Profile::StateMentalCommitment, _) => mental(false),
        (Profile::MentalReliefGranted, _) => mental(true),
        (Profile::IllegalAlien, _) => immigration(ImmigrationStatus::Illegal, None),
        (Profile::NonimmigrantVisa, _) => {
            immigration(ImmigrationStatus::NonimmigrantVisa, Some("B2"))
        }
        (Profile::DishonourableDischarge, _) => Detail::Discharge(Discharge {
            discharge: DischargeType::Dishonourable,
            branch: "ARMY".to_owned(),
            date: years_ago(10),
        }),
        (Profile::RenouncedCitizenship, _) => Detail::Renounced(Renounced { date: years_ago(3) }),
        (Profile::UnderIndictment, _) => Detail::Indictment(Indictment {
            court,
            charge: "WIRE FRAUD".to_owned(),
            felony: true,
            date: years_ago(1),
        }),
        (Profile::DrugUser, _) => Detail::DrugUse(DrugUse {
            basis: DrugBasis::Conviction,
            date: add_days(as_of, -90),
        }),
        (Profile::Clean, _) => unreachable!("a clean subject has no records to plant"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_records_match_their_profile_and_kind() {
        let shape = Shape::new(7, 0.001);
        for (s, src) in CATALOGUE.iter().enumerate() {
            let plants = planted(s);
            for (n, &(i, profile)) in plants.iter().enumerate() {
                let r = generate_record(&shape, s, &plants, n as u64);
                assert_eq!(r.person_id, i);
                assert_eq!(r.detail.kind(), src.kind(), "{profile:?}");
            }
        }
        for i in 0..KNOWN_SUBJECTS {
            let k = known_subject(7, i);
            assert_eq!(k.record_ids.len(), k.profile.sources().len());
            assert!(!names::nicknames_of(&k.person.first).is_empty());
            for id in &k.record_ids {
                let (src, n) = id.split_once(':').unwrap();
                let (s, _) = super::super::catalogue::source(src).unwrap();
                let r = generate_record(&shape, s, &planted(s), n.parse().unwrap());
                assert_eq!(r.person_id, i);
                assert_eq!(r.record_id, *id);
            }
        }
    }

    #[test]
    fn records_are_deterministic_and_round_trip_through_storage() {
        let shape = Shape::new(11, 0.001);
        for (s, src) in CATALOGUE.iter().enumerate() {
            let plants = planted(s);
            for n in [0, 1, 5, shape.records_in(s) - 1] {
                let a = generate_record(&shape, s, &plants, n);
                let b = generate_record(&shape, s, &plants, n);
                assert_eq!(a, b);
                assert_eq!(a.detail.kind(), src.kind());
                assert!(a.control_number.len() <= 16);
                let mut bytes = Vec::new();
                a.encode(&mut bytes);
                assert_eq!(SourceRecord::decode(a.record_id.clone(), &bytes), Ok(a));
            }
        }
    }

    #[test]
    fn random_records_never_belong_to_known_subjects() {
        let shape = Shape::new(3, 0.001);
        let s = 0;
        let plants = planted(s);
        for n in plants.len() as u64..shape.records_in(s) {
            let r = generate_record(&shape, s, &plants, n);
            assert!(r.person_id >= KNOWN_SUBJECTS);
            assert!(r.person_id < shape.population());
        }
    }
}
