use super::*;
use crate::drivers::domain::{
    AddressLines, Codes, Description, LicenceNumber, Person, PersonName, Sex,
};
use proptest::prelude::*;

fn day(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn today() -> Date {
    day("2026-11-30")
}

/// A driver every shipped rule lets renew online today.
fn eligible() -> Driver {
    Driver {
        id: "d-1".into(),
        licence_number: LicenceNumber::parse("12345678").unwrap(),
        jurisdiction: "PA".into(),
        class: LicenceClass::C,
        endorsements: Codes::default(),
        restrictions: Codes::default(),
        issued_on: day("2023-01-15"),
        expires_on: day("2027-01-15"),
        status: Status::Valid,
        real_id: false,
        real_id_documents_seen: false,
        last_renewal_online: false,
        vision_test_on: None,
        medical_certificate_expires_on: None,
        subject: None,
        person: Person {
            name: PersonName::parse("Doe", "Jane").unwrap(),
            birth_date: day("1980-05-10"),
            address: AddressLines::parse("1 Main St", "", "York", "PA", "17401").unwrap(),
            description: Description::parse(Sex::Female, "BRO", 65).unwrap(),
        },
        updated_at_ms: 0,
    }
}

fn refused(d: &Driver, req: RenewalRequest) -> Vec<String> {
    RuleSet::shipped()
        .evaluate(d, &req, today())
        .refusals
        .into_iter()
        .map(|r| r.rule_id)
        .collect()
}

fn only(d: &Driver, req: RenewalRequest, id: &str) {
    let decision = RuleSet::shipped().evaluate(d, &req, today());
    assert_eq!(
        decision
            .refusals
            .iter()
            .map(|r| r.rule_id.as_str())
            .collect::<Vec<_>>(),
        vec![id]
    );
    let r = &decision.refusals[0];
    let rule = RuleSet::shipped()
        .rules
        .into_iter()
        .find(|x| x.id == id)
        .unwrap();
    assert_eq!((&r.message, &r.instead), (&rule.refusal, &rule.instead));
    assert!(!r.instead.is_empty());
    assert!(!decision.eligible());
}

const NO_REAL_ID: RenewalRequest = RenewalRequest {
    wants_real_id: false,
};

#[test]
fn an_eligible_driver_passes_every_rule() {
    let decision = RuleSet::shipped().evaluate(&eligible(), &NO_REAL_ID, today());
    assert!(decision.eligible(), "{:?}", decision.refusals);
    assert_eq!(decision.new_expires_on, day("2031-01-15"));
}

#[test]
fn withdrawn_licences_are_refused() {
    for status in [Status::Suspended, Status::Revoked, Status::Cancelled] {
        let d = Driver {
            status,
            ..eligible()
        };
        only(&d, NO_REAL_ID, "status.not_withdrawn");
    }
}

#[test]
fn a_licence_expired_too_long_ago_is_refused_and_a_recent_one_is_not() {
    let mut d = Driver {
        status: Status::Expired,
        expires_on: day("2024-11-29"),
        ..eligible()
    };
    only(&d, NO_REAL_ID, "expiry.expired_too_long");
    d.expires_on = day("2024-11-30"); // exactly 730 days ago
    assert!(refused(&d, NO_REAL_ID).is_empty());
    // Renewing an expired licence runs from today.
    assert_eq!(
        RuleSet::shipped()
            .evaluate(&d, &NO_REAL_ID, today())
            .new_expires_on,
        day("2030-11-30")
    );
}

#[test]
fn renewing_too_early_is_refused() {
    let mut d = Driver {
        expires_on: day("2027-05-30"),
        ..eligible()
    };
    only(&d, NO_REAL_ID, "expiry.renewal_window");
    d.expires_on = day("2027-05-29"); // 180 days ahead
    assert!(refused(&d, NO_REAL_ID).is_empty());
}

#[test]
fn drivers_aged_80_renew_in_person() {
    let mut d = Driver {
        vision_test_on: Some(day("2026-10-01")),
        ..eligible()
    };
    d.person.birth_date = day("1946-11-30");
    only(&d, NO_REAL_ID, "age.in_person_from_80");
    d.person.birth_date = day("1946-12-01"); // 79 until tomorrow
    assert!(refused(&d, NO_REAL_ID).is_empty());
}

#[test]
fn over_79_at_the_new_expiry_needs_a_vision_test_in_person() {
    let mut d = eligible();
    d.person.birth_date = day("1951-01-15"); // 80 on the new expiry date
    only(&d, NO_REAL_ID, "age.vision_test_at_new_expiry");
    d.vision_test_on = Some(day("2025-11-29")); // a year and a day ago
    only(&d, NO_REAL_ID, "age.vision_test_at_new_expiry");
    d.vision_test_on = Some(day("2025-11-30"));
    assert!(refused(&d, NO_REAL_ID).is_empty());
    d.person.birth_date = day("1951-01-16");
    d.vision_test_on = None;
    assert!(refused(&d, NO_REAL_ID).is_empty());
}

#[test]
fn renewals_alternate_between_online_and_in_person() {
    let d = Driver {
        last_renewal_online: true,
        ..eligible()
    };
    only(&d, NO_REAL_ID, "history.alternate_in_person");
}

#[test]
fn a_first_real_id_needs_documents_seen_in_person() {
    let wants = RenewalRequest {
        wants_real_id: true,
    };
    let mut d = eligible();
    only(&d, wants, "real_id.first_in_person");
    d.real_id_documents_seen = true;
    assert!(refused(&d, wants).is_empty());
}

#[test]
fn commercial_drivers_need_a_current_medical_certificate() {
    let mut d = Driver {
        class: LicenceClass::CdlB,
        ..eligible()
    };
    only(&d, NO_REAL_ID, "commercial.medical_certificate");
    d.medical_certificate_expires_on = Some(today());
    only(&d, NO_REAL_ID, "commercial.medical_certificate");
    d.medical_certificate_expires_on = Some(today().add_days(1));
    assert!(refused(&d, NO_REAL_ID).is_empty());
}

#[test]
fn every_failed_rule_is_reported_in_file_order() {
    let mut d = Driver {
        status: Status::Revoked,
        class: LicenceClass::CdlA,
        last_renewal_online: true,
        expires_on: day("2028-01-01"),
        ..eligible()
    };
    d.person.birth_date = day("1940-01-01");
    let wants = RenewalRequest {
        wants_real_id: true,
    };
    assert_eq!(
        refused(&d, wants),
        [
            "status.not_withdrawn",
            "expiry.renewal_window",
            "age.in_person_from_80",
            "age.vision_test_at_new_expiry",
            "history.alternate_in_person",
            "real_id.first_in_person",
            "commercial.medical_certificate",
        ]
    );
}

fn parse_err(text: &str) -> RuleError {
    RuleSet::parse("agency.toml", text).unwrap_err()
}

const HEAD: &str = "validity_years = 4\n";

fn one_rule(body: &str) -> String {
    format!("{HEAD}[[rule]]\nid = \"r1\"\nrefusal = \"No.\"\ninstead = \"Go in person.\"\n{body}\n")
}

#[test]
fn broken_files_name_the_file_the_rule_and_the_reason() {
    let e = parse_err(&one_rule("kind = \"age_at_most\"\nyeras = 79"));
    assert_eq!(
        (e.file.as_str(), e.rule.as_deref()),
        ("agency.toml", Some("r1"))
    );
    assert!(e.reason.contains("yeras"), "{e}");
    assert!(e.to_string().starts_with("agency.toml: rule r1: "));

    let e = parse_err(&one_rule("kind = \"age_at_least\"\nyears = 79"));
    assert!(e.reason.contains("age_at_least"), "{e}");
    let e = parse_err(&one_rule(
        "kind = \"status_in\"\nstatuses = [\"valid\", \"lapsed\"]",
    ));
    assert!(e.reason.contains("lapsed"), "{e}");
    let e = parse_err(&one_rule("kind = \"status_in\"\nstatuses = []"));
    assert!(e.reason.contains("empty"), "{e}");
    let e = parse_err(&one_rule(
        "kind = \"medical_current_for_classes\"\nclasses = [\"CDL-Z\"]",
    ));
    assert!(e.reason.contains("CDL-Z"), "{e}");
    let e = parse_err(&one_rule("kind = \"renewal_window_days\"\ndays = -5"));
    assert_eq!(e.rule.as_deref(), Some("r1"));
    let e = parse_err(&one_rule("kind = \"age_at_most\"\nyears = 300"));
    assert!(e.reason.contains("300"), "{e}");
    let e = parse_err(&one_rule("years = 79"));
    assert!(e.reason.contains("kind is missing"), "{e}");

    let e = parse_err(&format!(
        "{HEAD}[[rule]]\nid = \"r1\"\nkind = \"age_at_most\"\nyears = 79\ninstead = \"x\"\n"
    ));
    assert!(e.reason.contains("refusal is missing"), "{e}");
    let e = parse_err(&format!(
        "{HEAD}[[rule]]\nkind = \"age_at_most\"\nyears = 79\n"
    ));
    assert_eq!(e.rule.as_deref(), Some("#1"));
    let twice = one_rule("kind = \"age_at_most\"\nyears = 79");
    let e = parse_err(&format!("{twice}{}", &twice[HEAD.len()..]));
    assert!(e.reason.contains("earlier rule"), "{e}");

    let e = parse_err("validity_years = 4\n");
    assert_eq!(e.rule, None);
    assert!(e.reason.contains("no rules"));
    let e = parse_err(&format!(
        "validity_years = 40\n{}",
        &one_rule("kind = \"age_at_most\"\nyears = 79")[HEAD.len()..]
    ));
    assert!(e.reason.contains("validity_years"), "{e}");
    let e = parse_err("validity_years = 4\n[[rule]\n");
    assert!(e.reason.contains("TOML"), "{e}");
    let e = parse_err(&format!(
        "colour = \"red\"\n{}",
        one_rule("kind = \"age_at_most\"\nyears = 79")
    ));
    assert!(e.reason.contains("colour"), "{e}");
}

#[test]
fn a_rule_book_keeps_its_rules_when_a_new_file_is_broken() {
    let book = RuleBook::shipped();
    let before = book.current();
    let err = book
        .replace(
            "agency.toml",
            &one_rule("kind = \"not_flag\"\nflag = \"left_handed\""),
        )
        .unwrap_err();
    assert_eq!(err.rule.as_deref(), Some("r1"));
    assert_eq!(*book.current(), *before);
    book.replace(
        "agency.toml",
        &one_rule("kind = \"not_flag\"\nflag = \"real_id\""),
    )
    .unwrap();
    assert_eq!(book.current().rules.len(), 1);
    assert_eq!(book.current().source, "agency.toml");
}

proptest! {
    #[test]
    fn rule_files_never_panic(text in "\\PC{0,300}") {
        let _ = RuleSet::parse("fuzz.toml", &text);
    }

    #[test]
    fn mutated_shipped_files_parse_or_fail_cleanly(at in 0usize..4000, byte in 0u8..128) {
        let mut bytes = SHIPPED.as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            match RuleSet::parse("m.toml", &text) {
                Ok(set) => prop_assert!(!set.rules.is_empty()),
                Err(e) => prop_assert!(!e.reason.is_empty()),
            }
        }
    }
}
