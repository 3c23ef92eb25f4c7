//! Complete checks against the simulated sources: the outcome a correct
//! check reaches for every known subject, and what failing sources do.

use std::time::Duration;

use plaza_checks::engine::{DelayReason, SourceStatus};
use plaza_checks::sources::Subject;
use plaza_checks::{CheckerConfig, Outcome, Purpose};
use plaza_sim::records::{self, Expected, Faults, KNOWN_SUBJECTS, Profile, known_subject};

use crate::sim::{SEED, applicant, source_index, start, start_with_pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_known_subject_gets_the_outcome_a_correct_check_reaches() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    let mut wrong = Vec::new();
    for i in 0..KNOWN_SUBJECTS {
        let k = known_subject(SEED, i);
        let subject = applicant(&k.person, i);
        let r = checker.check(&subject, Purpose::Transfer).await;
        assert!(r.failed_sources().is_empty(), "{:?}", r.sources);
        let ok = match k.profile.expected() {
            Expected::Proceed => r.outcome == Outcome::Proceed,
            Expected::Delayed => {
                r.outcome == Outcome::Delayed
                    && r.delays.iter().any(|d| matches!(d,
                        DelayReason::OpenRecord { record_id, .. } if k.record_ids.contains(record_id)))
            }
            Expected::Denied(code) => {
                r.outcome == Outcome::Denied
                    && r.prohibitors() == vec![code]
                    && r.denials.iter().all(|d| k.record_ids.contains(&d.record_id))
            }
        };
        if !ok {
            wrong.push(format!(
                "{i} {:?} expected {:?}, got {:?} {:?} delays {:?}; records {:?}; matches {:?}",
                k.profile,
                k.profile.expected(),
                r.outcome,
                r.denials,
                r.delays,
                k.record_ids,
                r.matches
                    .iter()
                    .map(|m| (&m.record_id, m.decision, m.score))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_denial_cites_each_record_that_establishes_it() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    // An illegal alien is in two files; a parolee's conviction is cited.
    let k = &records::known_subjects_with(SEED, Profile::IllegalAlien)[0];
    let r = checker
        .check(&applicant(&k.person, 1), Purpose::Transfer)
        .await;
    let mut cited: Vec<&str> = r.denials.iter().map(|d| d.record_id.as_str()).collect();
    cited.sort_unstable();
    let mut want: Vec<&str> = k.record_ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(cited, want);
    let k = &records::known_subjects_with(SEED, Profile::OnParole)[0];
    let r = checker
        .check(&applicant(&k.person, 2), Purpose::Transfer)
        .await;
    assert_eq!(r.outcome, Outcome::Denied);
    assert!(r.denials.iter().any(|d| d.source == "ny-criminal"));
    let m = r
        .matches
        .iter()
        .find(|m| m.source == "ny-criminal")
        .unwrap();
    assert_eq!(m.decision, "match");
    assert!(m.drivers.iter().any(|d| d.field == "dob" && d.weight > 0.0));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["outcome"], "denied");
    assert_eq!(json["denials"][0]["prohibitor"], "922(g)(1)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_person_proceeds_with_all_27_sources_answered() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    for k in records::known_subjects_with(SEED, Profile::Clean) {
        let r = checker
            .check(
                &applicant(&k.person, 99),
                Purpose::Permit { state: "MA".into() },
            )
            .await;
        assert_eq!(r.outcome, Outcome::Proceed, "{r:#?}");
        assert_eq!(r.sources.len(), 27);
        assert!(
            r.sources
                .iter()
                .all(|s| matches!(s.status, SourceStatus::Answered { .. })),
            "{:?}",
            r.sources
        );
        assert!(r.denials.is_empty() && r.delays.is_empty());
    }
}

fn clean_subject() -> Subject {
    let k = &records::known_subjects_with(SEED, Profile::Clean)[0];
    applicant(&k.person, 5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_down_delays_the_check_and_is_named() {
    let (local, checker) = start(CheckerConfig::default()).await;
    // One source of each format.
    for id in ["fbi-iii", "nics-mental", "ncic-wanted"] {
        let s = source_index(id);
        local.records.set_faults(
            Some(s),
            Faults {
                outage: true,
                ..Faults::none()
            },
        );
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Delayed, "{id}");
        assert_eq!(r.failed_sources(), vec![id]);
        assert_eq!(r.source(id).unwrap().status.as_str(), "unavailable");
        local.records.set_faults(Some(s), Faults::none());
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Proceed, "{id} back: {:?}", r.delays);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_answering_errors_delays_the_check() {
    let (local, checker) = start(CheckerConfig::default()).await;
    for id in ["ma-criminal", "ny-mental", "tx-protection"] {
        let s = source_index(id);
        local.records.set_faults(
            Some(s),
            Faults {
                error_rate: 1.0,
                ..Faults::none()
            },
        );
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Delayed, "{id}");
        assert_eq!(r.failed_sources(), vec![id]);
        assert!(
            matches!(&r.source(id).unwrap().status, SourceStatus::Unavailable { detail } if detail.contains("source_error")),
            "{:?}",
            r.source(id)
        );
        local.records.set_faults(Some(s), Faults::none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_held_past_the_timeout_delays_the_check_at_the_timeout() {
    let config = CheckerConfig {
        timeout: Duration::from_millis(300),
        ..CheckerConfig::default()
    };
    let (local, checker) = start(config).await;
    for id in ["il-warrants", "nics-drug", "ny-corrections"] {
        let s = source_index(id);
        local.records.set_faults(
            Some(s),
            Faults {
                timeout_rate: 1.0,
                hold_ms: 60_000,
                ..Faults::none()
            },
        );
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.outcome, Outcome::Delayed, "{id}");
        assert_eq!(r.failed_sources(), vec![id]);
        assert_eq!(r.source(id).unwrap().status, SourceStatus::Timeout);
        // The check ended at the timeout, not when the held answer came.
        assert!(r.elapsed_ms < 30_000.0, "{}", r.elapsed_ms);
        local.records.set_faults(Some(s), Faults::none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_opens_its_breaker_and_is_not_waited_for() {
    let config = CheckerConfig {
        breaker_failures: 3,
        breaker_open_for: Duration::from_secs(600),
        ..CheckerConfig::default()
    };
    let (local, checker) = start(config).await;
    let id = "ice-status";
    local.records.set_faults(
        Some(source_index(id)),
        Faults {
            outage: true,
            ..Faults::none()
        },
    );
    for _ in 0..3 {
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.source(id).unwrap().status.as_str(), "unavailable");
    }
    // Back up, but the breaker stays open: later checks do not ask it.
    local
        .records
        .set_faults(Some(source_index(id)), Faults::none());
    for _ in 0..2 {
        let r = checker.check(&clean_subject(), Purpose::Transfer).await;
        assert_eq!(r.source(id).unwrap().status.as_str(), "breaker_open");
        assert_eq!(r.outcome, Outcome::Delayed);
        assert_eq!(r.failed_sources(), vec![id]);
        let json = serde_json::to_value(&r).unwrap();
        let s = json["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == id)
            .unwrap();
        assert_eq!(s["status"], "breaker_open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_the_sources_cannot_search_is_delayed_never_proceeds() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    let subject = Subject {
        first: Some("Ann".into()),
        ..Subject::default()
    };
    let r = checker.check(&subject, Purpose::Transfer).await;
    assert_eq!(r.outcome, Outcome::Delayed);
    assert_eq!(r.failed_sources().len(), 27);
    assert!(r.sources.iter().all(|s| matches!(&s.status,
        SourceStatus::Refused { code, .. } if code == "insufficient_descriptors")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_width_sources_work_with_a_connection_per_request() {
    let (_local, checker) = start_with_pool(CheckerConfig::default(), 0).await;
    for profile in [Profile::FelonyWarrant, Profile::StateFelonyWarrant] {
        for (n, k) in records::known_subjects_with(SEED, profile)
            .iter()
            .enumerate()
        {
            let r = checker
                .check(&applicant(&k.person, 300 + n as u64), Purpose::Transfer)
                .await;
            assert_eq!(r.outcome, Outcome::Denied, "{r:#?}");
            assert_eq!(r.prohibitors(), vec!["922(g)(2)"]);
            assert_eq!(r.denials[0].record_id, k.record_ids[0]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permit_applies_the_state_rules_on_top() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    let k = &records::known_subjects_with(SEED, Profile::QualifyingProtectionOrder)[0];
    let s = applicant(&k.person, 400);
    let r = checker
        .check(&s, Purpose::Permit { state: "MA".into() })
        .await;
    assert_eq!(r.prohibitors(), vec!["922(g)(8)", "ma-140-131-d-vi"]);
    let r = checker.check(&s, Purpose::Transfer).await;
    assert_eq!(r.prohibitors(), vec!["922(g)(8)"]);
    // An expired order disqualifies under neither.
    let k = &records::known_subjects_with(SEED, Profile::ExpiredProtectionOrder)[0];
    let r = checker
        .check(
            &applicant(&k.person, 401),
            Purpose::Permit { state: "MA".into() },
        )
        .await;
    assert_eq!(r.outcome, Outcome::Proceed, "{r:#?}");
}

/// What a permit application gives the check: the names and birth date as
/// written, nothing else.
fn form_subject(k: &records::KnownSubject) -> Subject {
    let p = &k.person;
    Subject {
        first: Some(p.first.clone()),
        last: Some(p.last.clone()),
        dob: plaza_checks::matching::Date::new(p.dob.year, p.dob.month, p.dob.day),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_names_and_birth_date_no_prohibited_person_proceeds() {
    let (_local, checker) = start(CheckerConfig::default()).await;
    let mut proceeded = Vec::new();
    let (mut denied, mut delayed, mut clean_proceeded, mut clean) = (0, 0, 0, 0);
    for i in 0..KNOWN_SUBJECTS {
        let k = known_subject(SEED, i);
        let r = checker
            .check(&form_subject(&k), Purpose::Permit { state: "IL".into() })
            .await;
        assert!(r.failed_sources().is_empty(), "{:?}", r.sources);
        match (k.profile.expected(), r.outcome) {
            (Expected::Proceed, Outcome::Proceed) => {
                clean += 1;
                clean_proceeded += 1;
            }
            (Expected::Proceed, _) => clean += 1,
            (_, Outcome::Proceed) => proceeded.push(format!("{i} {:?}", k.profile)),
            (_, Outcome::Denied) => denied += 1,
            (_, Outcome::Delayed) => delayed += 1,
        }
    }
    println!(
        "names and birth date only: {denied} denied, {delayed} delayed, {clean_proceeded} of {clean} without a prohibitor proceeded"
    );
    assert!(
        proceeded.is_empty(),
        "prohibited but proceeded: {proceeded:?}"
    );
    assert!(denied > 0 && clean_proceeded > 0);
}

#[test]
fn every_state_rule_cites_a_disqualifier_of_that_states_catalogue() {
    let catalogue = plaza_permits::Catalogue::load(None).unwrap();
    let set = catalogue.current();
    for s in plaza_checks::prohibitors::STATES {
        let j = plaza_permits::Jurisdiction::parse(s.state).unwrap();
        let cited = set
            .of_jurisdiction(j)
            .any(|t| t.state_disqualifiers.iter().any(|d| d.code == s.rule.code));
        assert!(
            cited,
            "{} {} is in no {} permit type",
            s.state, s.rule.code, s.state
        );
    }
}
