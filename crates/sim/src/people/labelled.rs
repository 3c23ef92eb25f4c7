//! A labelled set for measuring identity matching: a source of records and
//! queries whose true answers are known.
//!
//! People come in families. Member 0 of a family is a fresh person; the
//! others are look-alikes of member 0 ([`Kinship`]): a twin, a sibling, a
//! father and son of the same name, a namesake. Each person may have records
//! in the source (1 to `max_records`, each with its own noise) and may be
//! the subject of a query (with an applicant's lighter noise). A query's
//! true matches are exactly the records made from its person; a query for a
//! person with no records, whose relatives are in the source, must match
//! nothing.
//!
//! Records and queries are streamed family by family, so memory stays
//! constant however large the set; both streams are deterministic.

use super::{NoiseConfig, Person, Record, Rng, generate_person, lookalike, noisy_record};

/// How a look-alike resembles the family's first member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kinship {
    /// Same surname and birth date, another first name, a Social Security
    /// number one after the other's.
    Twin,
    /// Same surname, born one to eight years apart.
    Sibling,
    /// Same surname and sex, born within about two years.
    Cousin,
    /// Same surname, the other sex, born within about five years.
    Spouse,
    /// Same first and last name and sex (a "junior"), a generation apart.
    ParentChild,
    /// Same first and last name and sex, born any time.
    Namesake,
    /// Same first and last name and sex, born within about six weeks.
    NamesakeCloseDob,
}

impl Kinship {
    const ALL: [(Kinship, u64); 7] = [
        (Kinship::Twin, 10),
        (Kinship::Sibling, 25),
        (Kinship::Cousin, 15),
        (Kinship::Spouse, 15),
        (Kinship::ParentChild, 15),
        (Kinship::Namesake, 15),
        (Kinship::NamesakeCloseDob, 5),
    ];

    fn draw(rng: &mut Rng) -> Kinship {
        let total: u64 = Kinship::ALL.iter().map(|(_, w)| w).sum();
        let mut x = rng.below(total);
        for (kind, w) in Kinship::ALL {
            if x < w {
                return kind;
            }
            x -= w;
        }
        Kinship::Sibling
    }
}

/// The shape of a labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledConfig {
    pub seed: u64,
    pub families: u64,
    /// Chance that a person has records in the source.
    pub in_source: f64,
    /// A person in the source has 1 to `max_records` records.
    pub max_records: u32,
    /// Chance that a person is the subject of a query.
    pub query_rate: f64,
    pub record_noise: NoiseConfig,
    pub query_noise: NoiseConfig,
}

impl LabelledConfig {
    /// About `records` records (three per family on average) and a query
    /// for 28 % of people, a quarter of them with no record.
    pub fn with_records(seed: u64, records: u64) -> LabelledConfig {
        LabelledConfig {
            seed,
            families: records.div_ceil(3),
            in_source: 0.75,
            max_records: 3,
            query_rate: 0.28,
            record_noise: NoiseConfig::source_records(),
            query_noise: NoiseConfig::applicant(),
        }
    }
}

/// A query: an applicant's descriptors (a [`Record`] whose `person_id` is
/// the truth), and how many records in the source are that person's.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub descriptors: Record,
    pub true_records: u32,
}

/// What the set decided about one person.
#[derive(Debug, Clone)]
pub struct Member {
    pub person: Person,
    pub kinship: Option<Kinship>,
    pub records: u32,
    pub queried: bool,
}

const STREAM_FAMILY: u64 = 10;
const STREAM_MEMBER: u64 = 11;
const STREAM_RECORD: u64 = 12;
const STREAM_QUERY: u64 = 13;
/// Person ids are `family * FAMILY_SPAN + member`.
pub const FAMILY_SPAN: u64 = 4;

#[derive(Debug, Clone)]
pub struct LabelledSet {
    config: LabelledConfig,
}

impl LabelledSet {
    pub fn new(config: LabelledConfig) -> LabelledSet {
        LabelledSet { config }
    }

    pub fn config(&self) -> &LabelledConfig {
        &self.config
    }

    /// The members of family `f`: one to four people.
    pub fn family(&self, f: u64) -> Vec<Member> {
        let c = &self.config;
        let mut rng = Rng::for_item(c.seed, STREAM_FAMILY, f);
        let size = match rng.below(10) {
            0..=3 => 1,
            4..=6 => 2,
            7..=8 => 3,
            _ => 4,
        };
        let base = generate_person(c.seed, f * FAMILY_SPAN);
        (0..size)
            .map(|m| {
                let id = f * FAMILY_SPAN + m;
                let mut rng = Rng::for_item(c.seed, STREAM_MEMBER, id);
                let kinship = (m > 0).then(|| Kinship::draw(&mut rng));
                let person = match kinship {
                    Some(k) => lookalike(c.seed, &base, k, id),
                    None => base.clone(),
                };
                let records = if rng.chance(c.in_source) {
                    1 + rng.below(c.max_records.max(1) as u64) as u32
                } else {
                    0
                };
                Member {
                    person,
                    kinship,
                    records,
                    queried: rng.chance(c.query_rate),
                }
            })
            .collect()
    }

    /// Every person of the set, family by family.
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        (0..self.config.families).flat_map(|f| self.family(f))
    }

    /// The source: every record, numbered from 0.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let c = &self.config;
        self.members()
            .flat_map(move |m| {
                (0..m.records).map(move |r| {
                    let mut rng = Rng::for_item(
                        c.seed,
                        STREAM_RECORD,
                        m.person.id * u64::from(c.max_records.max(1)) + u64::from(r),
                    );
                    noisy_record(&m.person, &mut rng, &c.record_noise)
                })
            })
            .enumerate()
            .map(|(i, mut record)| {
                record.record_id = i as u64;
                record
            })
    }

    /// The queries, with their true answers.
    pub fn queries(&self) -> impl Iterator<Item = Query> + '_ {
        let c = &self.config;
        self.members().filter(|m| m.queried).map(move |m| {
            let mut rng = Rng::for_item(c.seed, STREAM_QUERY, m.person.id);
            Query {
                descriptors: noisy_record(&m.person, &mut rng, &c.query_noise),
                true_records: m.records,
            }
        })
    }
}
