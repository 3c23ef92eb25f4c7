use std::collections::{HashMap, HashSet};

use super::*;

#[test]
fn people_are_a_function_of_seed_and_index() {
    assert_eq!(generate_person(7, 42), generate_person(7, 42));
    assert_ne!(generate_person(7, 42), generate_person(8, 42));
    assert_ne!(generate_person(7, 42), generate_person(7, 43));
}

#[test]
fn identifiers_have_their_shapes_and_ssns_are_never_issued_ones() {
    for i in 0..2000 {
        let p = generate_person(1, i);
        let ssn = p.ssn.as_bytes();
        assert_eq!(ssn.len(), 11, "{}", p.ssn);
        assert_eq!(ssn[0], b'9', "{}", p.ssn);
        assert_eq!((ssn[3], ssn[6]), (b'-', b'-'), "{}", p.ssn);
        assert!(p.state_id.len() == 10 && p.state_id[2..].bytes().all(|b| b.is_ascii_digit()));
        assert!(p.fbi.len() == 9 && p.fbi[..6].bytes().all(|b| b.is_ascii_digit()));
        assert!((1940..=2005).contains(&p.dob.year), "{}", p.dob);
        assert!(Date::new(p.dob.year, p.dob.month, p.dob.day).is_some());
    }
}

#[test]
fn names_follow_their_frequency_ranks() {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for i in 0..20_000 {
        *counts.entry(generate_person(3, i).last).or_default() += 1;
    }
    let smith = counts["Smith"];
    let rare = counts.get("Mukherjee").copied().unwrap_or(0);
    assert!(smith > 300, "Smith {smith}");
    assert!(smith > 10 * rare.max(1), "Smith {smith}, Mukherjee {rare}");
    assert!(counts.len() > 250, "{} surnames", counts.len());
}

#[test]
fn dates_round_trip_through_day_numbers() {
    for days in -30_000..20_000 {
        let d = Date::from_days(days);
        assert_eq!(d.to_days(), days, "{d}");
        assert!(Date::new(d.year, d.month, d.day).is_some(), "{d}");
    }
    assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
    assert_eq!(Date::new(2000, 2, 29).map(|d| d.to_days()), Some(11_016));
    assert_eq!(Date::new(1900, 2, 29), None);
}

#[test]
fn a_typo_is_one_edit_away() {
    let mut rng = Rng::new(5);
    let mut changed = 0;
    for _ in 0..2000 {
        let t = typo(&mut rng, "Margaret");
        assert!(t.len().abs_diff(8) <= 1, "{t}");
        assert!(t.starts_with('M'), "{t}");
        if t != "Margaret" {
            changed += 1;
        }
    }
    assert_eq!(changed, 2000);
    assert_eq!(typo(&mut rng, "Li"), "Li");
}

#[test]
fn without_noise_a_record_is_the_person() {
    let p = generate_person(9, 1);
    let r = noisy_record(&p, &mut Rng::new(1), &NoiseConfig::none());
    assert_eq!(r.first.as_deref(), Some(p.first.as_str()));
    assert_eq!(r.last.as_deref(), Some(p.last.as_str()));
    assert_eq!(r.middle, p.middle);
    assert_eq!(r.dob, Some(p.dob));
    assert_eq!(r.ssn.as_deref(), Some(p.ssn.as_str()));
    assert!(r.noise.is_empty());
}

#[test]
fn source_noise_happens_at_about_its_rates() {
    let config = NoiseConfig::source_records();
    let mut counts: HashMap<Noise, u32> = HashMap::new();
    let n = 20_000;
    for i in 0..n {
        let p = generate_person(11, i);
        let mut rng = Rng::for_item(11, 99, i);
        let r = noisy_record(&p, &mut rng, &config);
        for kind in &r.noise {
            *counts.entry(*kind).or_default() += 1;
        }
        assert!(
            r.dob.is_some() || r.ssn.is_some() || r.state_id.is_some() || r.fbi.is_some(),
            "a record without an anchor"
        );
        if r.noise.contains(&Noise::SwappedNames) {
            assert!(
                r.first.as_deref().unwrap().eq_ignore_ascii_case(&p.last)
                    || r.noise.contains(&Noise::TypoLast)
                    || r.noise.contains(&Noise::Alias)
            );
        }
        if r.noise.contains(&Noise::DayMonthSwapped) {
            let d = r.dob.unwrap();
            assert_eq!((d.month, d.day), (p.dob.day, p.dob.month));
        }
    }
    let rate = |k: Noise| counts.get(&k).copied().unwrap_or(0) as f64 / n as f64;
    assert!(
        (0.035..0.065).contains(&rate(Noise::TypoFirst)),
        "{counts:?}"
    );
    assert!(
        (0.02..0.04).contains(&rate(Noise::SwappedNames)),
        "{counts:?}"
    );
    assert!(
        (0.45..0.55).contains(&rate(Noise::MissingSsn)),
        "{counts:?}"
    );
    assert!(rate(Noise::Nickname) > 0.02, "{counts:?}");
    assert!(rate(Noise::DayMonthSwapped) > 0.005, "{counts:?}");
    assert!(rate(Noise::YearDigitsTransposed) > 0.005, "{counts:?}");
    assert!(rate(Noise::Alias) > 0.01, "{counts:?}");
}

#[test]
fn lookalikes_share_what_their_kinship_says_and_differ_otherwise() {
    let base = generate_person(4, 0);
    let twin = lookalike(4, &base, Kinship::Twin, 1);
    assert_eq!(
        (twin.last.as_str(), twin.dob),
        (base.last.as_str(), base.dob)
    );
    assert_ne!(twin.first, base.first);
    assert_ne!(twin.ssn, base.ssn);
    assert_eq!(twin.ssn[..7], base.ssn[..7]);
    let junior = lookalike(4, &base, Kinship::ParentChild, 2);
    assert_eq!(
        (junior.first.as_str(), junior.last.as_str()),
        (base.first.as_str(), base.last.as_str())
    );
    assert!(
        junior.dob.year.abs_diff(base.dob.year) >= 19,
        "{} {}",
        junior.dob,
        base.dob
    );
    let close = lookalike(4, &base, Kinship::NamesakeCloseDob, 3);
    assert_ne!(close.dob, base.dob);
    assert!((close.dob.to_days() - base.dob.to_days()).abs() <= 45);
}

#[test]
fn a_labelled_set_streams_the_same_records_and_true_counts() {
    let set = LabelledSet::new(LabelledConfig::with_records(21, 3000));
    let records: Vec<Record> = set.records().collect();
    assert_eq!(records, set.records().collect::<Vec<_>>());
    assert!((2500..3500).contains(&records.len()), "{}", records.len());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.record_id, i as u64);
    }
    let mut per_person: HashMap<u64, u32> = HashMap::new();
    for r in &records {
        *per_person.entry(r.person_id).or_default() += 1;
    }
    let queries: Vec<Query> = set.queries().collect();
    assert!(queries.len() > 400, "{}", queries.len());
    let mut absent = 0;
    let mut people = HashSet::new();
    for q in &queries {
        let id = q.descriptors.person_id;
        assert!(people.insert(id));
        assert_eq!(per_person.get(&id).copied().unwrap_or(0), q.true_records);
        absent += usize::from(q.true_records == 0);
    }
    assert!(absent > queries.len() / 8, "{absent} of {}", queries.len());
    let lookalikes = set.members().filter(|m| m.kinship.is_some()).count();
    assert!(lookalikes > 1000, "{lookalikes}");
}
