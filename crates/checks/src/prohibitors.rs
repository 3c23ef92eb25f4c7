//! What a record establishes: the federal prohibitors of 18 U.S.C.
//! 922(g)(1)–(9) and 922(n) as a table of rules over record content, and
//! state disqualifiers beside them for permits.
//!
//! Each rule looks at one kind of record and finds it prohibiting, open
//! (it could prohibit but lacks what decides it — a charge with no
//! disposition, a missing flag — so an examiner must look) or clear.

use serde::Serialize;

use crate::matching::Date;
use crate::sources::{Content, RecordKind, day};

/// What one rule makes of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The record establishes the prohibitor.
    Prohibits { code: String, reason: String },
    /// The record could establish the prohibitor; an examiner must decide.
    Open { code: String, reason: String },
}

impl Finding {
    pub fn code(&self) -> &str {
        match self {
            Finding::Prohibits { code, .. } | Finding::Open { code, .. } => code,
        }
    }
}

/// A rule's verdict before it is given its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Prohibits(&'static str),
    Open(&'static str),
    Clear,
}

/// One rule: the prohibitor it establishes, the kind of record it reads,
/// and the test.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub code: &'static str,
    pub kind: RecordKind,
    /// What the rule is about, in plain words.
    pub about: &'static str,
    pub test: fn(&Content, &Facts) -> Verdict,
}

/// What a rule may need besides the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The day of the check.
    pub today: Date,
}

impl Facts {
    fn today(&self) -> String {
        day(self.today)
    }

    /// The day `years` years before today, as `YYYY-MM-DD`.
    fn years_ago(&self, years: u16) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.today.year.saturating_sub(years),
            self.today.month,
            self.today.day
        )
    }
}

/// Whether the offence was punishable by imprisonment for more than a
/// year, as 921(a)(20) counts it: a felony, or a state misdemeanour
/// punishable by more than two years. `None`: the record cannot say.
fn punishable_over_a_year(c: &crate::sources::Criminal) -> Option<bool> {
    match (c.offence_class.as_deref(), c.sentence_max_months) {
        (Some("felony"), _) => Some(true),
        (Some(_), Some(m)) => Some(m > 24),
        (Some(_), None) => Some(false),
        (None, Some(m)) => Some(m > 12),
        (None, None) => None,
    }
}

/// A disposition still to come (none recorded, or pending).
fn undisposed(c: &crate::sources::Criminal) -> bool {
    matches!(c.disposition.as_deref(), None | Some("pending"))
}

fn g1(content: &Content, _: &Facts) -> Verdict {
    let Content::Criminal(c) = content else {
        return Verdict::Clear;
    };
    match (c.disposition.as_deref(), punishable_over_a_year(c)) {
        (Some("convicted"), Some(true)) => {
            Verdict::Prohibits("convicted of a crime punishable by more than a year")
        }
        (Some("convicted"), None) => {
            Verdict::Open("a conviction whose class and sentence the record does not give")
        }
        (_, Some(true) | None) if undisposed(c) => {
            Verdict::Open("a charge punishable by more than a year with no final disposition")
        }
        _ => Verdict::Clear,
    }
}

fn g1_supervision(content: &Content, _: &Facts) -> Verdict {
    let Content::Corrections(c) = content else {
        return Verdict::Clear;
    };
    match c.custody.as_deref() {
        Some("released") => Verdict::Clear,
        _ => Verdict::Open(
            "in custody or under supervision: the conviction behind it must be confirmed",
        ),
    }
}

fn g2(content: &Content, _: &Facts) -> Verdict {
    let Content::Wanted(w) = content else {
        return Verdict::Clear;
    };
    match w.felony {
        Some(true) => Verdict::Prohibits("wanted on an active felony warrant (fugitive)"),
        _ => Verdict::Open("an active warrant: whether the person is a fugitive must be decided"),
    }
}

fn g3(content: &Content, f: &Facts) -> Verdict {
    let Content::DrugUse(d) = content else {
        return Verdict::Clear;
    };
    match &d.date {
        None => Verdict::Open("an unlawful-user entry with no date"),
        Some(date) if *date >= f.years_ago(1) => {
            Verdict::Prohibits("an unlawful user of a controlled substance within the past year")
        }
        Some(_) => Verdict::Clear,
    }
}

fn g4(content: &Content, _: &Facts) -> Verdict {
    let Content::MentalHealth(m) = content else {
        return Verdict::Clear;
    };
    match m.relief_granted {
        Some(false) => Verdict::Prohibits(
            "adjudicated as a mental defective or committed to a mental institution, no relief granted",
        ),
        None => Verdict::Open(
            "an adjudication or commitment that does not say whether relief was granted",
        ),
        Some(true) => Verdict::Clear,
    }
}

fn g5(content: &Content, _: &Facts) -> Verdict {
    let Content::Immigration(i) = content else {
        return Verdict::Clear;
    };
    match i.status.as_deref() {
        Some("illegal") => {
            Verdict::Prohibits("an alien illegally or unlawfully in the United States")
        }
        Some("nonimmigrant_visa") => Verdict::Prohibits(
            "an alien admitted on a nonimmigrant visa, no exception (922(y)(2)) shown",
        ),
        None => Verdict::Open("an immigration record with no status"),
        Some(_) => Verdict::Clear,
    }
}

fn g6(content: &Content, _: &Facts) -> Verdict {
    let Content::Discharge(d) = content else {
        return Verdict::Clear;
    };
    match d.discharge.as_deref() {
        Some("dishonourable") => {
            Verdict::Prohibits("dishonourably discharged from the armed forces")
        }
        None => Verdict::Open("a discharge record that does not give the discharge"),
        Some(_) => Verdict::Clear,
    }
}

fn g7(content: &Content, _: &Facts) -> Verdict {
    match content {
        Content::Renounced(_) => Verdict::Prohibits("renounced United States citizenship"),
        _ => Verdict::Clear,
    }
}

fn g8(content: &Content, f: &Facts) -> Verdict {
    let Content::ProtectionOrder(p) = content else {
        return Verdict::Clear;
    };
    if p.expires.as_ref().is_some_and(|e| *e <= f.today()) {
        return Verdict::Clear;
    }
    let elements = [p.intimate_partner, p.hearing_with_notice, p.credible_threat];
    if elements.iter().all(|e| *e == Some(true)) {
        Verdict::Prohibits(
            "subject to a protection order for an intimate partner, issued after a hearing with notice, finding a credible threat",
        )
    } else if elements.contains(&Some(false)) {
        Verdict::Clear
    } else {
        Verdict::Open(
            "an active protection order whose qualifying elements the record does not give",
        )
    }
}

fn g9(content: &Content, _: &Facts) -> Verdict {
    let Content::Criminal(c) = content else {
        return Verdict::Clear;
    };
    if c.domestic_violence != Some(true) || punishable_over_a_year(c) == Some(true) {
        return Verdict::Clear;
    }
    match c.disposition.as_deref() {
        Some("convicted") => {
            Verdict::Prohibits("convicted of a misdemeanour crime of domestic violence")
        }
        None | Some("pending") => {
            Verdict::Open("a domestic-violence charge with no final disposition")
        }
        _ => Verdict::Clear,
    }
}

fn n(content: &Content, _: &Facts) -> Verdict {
    let Content::Indictment(i) = content else {
        return Verdict::Clear;
    };
    match i.felony {
        Some(true) => {
            Verdict::Prohibits("under indictment for a crime punishable by more than a year")
        }
        None => Verdict::Open("an indictment that does not give the class of the charge"),
        Some(false) => Verdict::Clear,
    }
}

/// The federal prohibitors.
pub const FEDERAL: &[Rule] = &[
    Rule {
        code: "922(g)(1)",
        kind: RecordKind::Criminal,
        about: "conviction of a crime punishable by imprisonment for more than one year",
        test: g1,
    },
    Rule {
        code: "922(g)(1)",
        kind: RecordKind::Corrections,
        about: "in custody or under supervision for an offence",
        test: g1_supervision,
    },
    Rule {
        code: "922(g)(2)",
        kind: RecordKind::Wanted,
        about: "fugitive from justice",
        test: g2,
    },
    Rule {
        code: "922(g)(3)",
        kind: RecordKind::DrugUse,
        about: "unlawful user of or addicted to a controlled substance",
        test: g3,
    },
    Rule {
        code: "922(g)(4)",
        kind: RecordKind::MentalHealth,
        about: "adjudicated as a mental defective or committed to a mental institution",
        test: g4,
    },
    Rule {
        code: "922(g)(5)",
        kind: RecordKind::Immigration,
        about: "alien illegally or unlawfully in the United States, or admitted on a nonimmigrant visa",
        test: g5,
    },
    Rule {
        code: "922(g)(6)",
        kind: RecordKind::Discharge,
        about: "discharged from the armed forces under dishonourable conditions",
        test: g6,
    },
    Rule {
        code: "922(g)(7)",
        kind: RecordKind::Renounced,
        about: "renounced United States citizenship",
        test: g7,
    },
    Rule {
        code: "922(g)(8)",
        kind: RecordKind::ProtectionOrder,
        about: "subject to a qualifying protection order",
        test: g8,
    },
    Rule {
        code: "922(g)(9)",
        kind: RecordKind::Criminal,
        about: "convicted of a misdemeanour crime of domestic violence",
        test: g9,
    },
    Rule {
        code: "922(n)",
        kind: RecordKind::Indictment,
        about: "under indictment or information for a crime punishable by more than one year",
        test: n,
    },
];

/// A state's disqualifier: a code of the state's and a test on a record.
#[derive(Debug, Clone, Copy)]
pub struct StateRule {
    /// Two-letter state code.
    pub state: &'static str,
    pub rule: Rule,
}

fn any_active_order(content: &Content, f: &Facts) -> Verdict {
    match content {
        Content::ProtectionOrder(p) if p.expires.as_ref().is_none_or(|e| *e > f.today()) => {
            Verdict::Prohibits("subject to an active protection order")
        }
        _ => Verdict::Clear,
    }
}

fn recent_misdemeanour(content: &Content, f: &Facts) -> Verdict {
    match content {
        Content::Criminal(c)
            if c.disposition.as_deref() == Some("convicted")
                && c.offence_class.as_deref() == Some("misdemeanour")
                && c.disposition_date
                    .as_ref()
                    .is_none_or(|d| *d >= f.years_ago(5)) =>
        {
            Verdict::Prohibits("convicted of a misdemeanour in the past five years")
        }
        _ => Verdict::Clear,
    }
}

fn recent_commitment(content: &Content, f: &Facts) -> Verdict {
    match content {
        Content::MentalHealth(m) if m.date.as_ref().is_none_or(|d| *d >= f.years_ago(5)) => {
            Verdict::Prohibits("a mental-health commitment or adjudication in the past five years")
        }
        _ => Verdict::Clear,
    }
}

/// State disqualifiers for permits, by state: examples for the states the
/// record sources cover, applied on top of the federal rules. Each code is
/// the disqualifier's code in the state's permit catalogue
/// (`crates/permits/catalogue/<state>.toml`), which the permits service
/// checks a denial's codes against.
pub const STATES: &[StateRule] = &[
    StateRule {
        state: "MA",
        rule: Rule {
            code: "ma-140-131-d-vi",
            kind: RecordKind::ProtectionOrder,
            about: "any active abuse-prevention or harassment order",
            test: any_active_order,
        },
    },
    StateRule {
        state: "TX",
        rule: Rule {
            code: "tx-411-172-a-14",
            kind: RecordKind::ProtectionOrder,
            about: "any active protective order",
            test: any_active_order,
        },
    },
    StateRule {
        state: "TX",
        rule: Rule {
            code: "tx-411-172-a-8",
            kind: RecordKind::Criminal,
            about: "a misdemeanour conviction in the past five years",
            test: recent_misdemeanour,
        },
    },
    StateRule {
        state: "IL",
        rule: Rule {
            code: "il-65-8-e",
            kind: RecordKind::MentalHealth,
            about: "a mental-health commitment or adjudication in the past five years",
            test: recent_commitment,
        },
    },
];

/// Every finding the rules make of a record: the federal rules, and the
/// state's own when `state` is given.
pub fn assess(content: &Content, facts: &Facts, state: Option<&str>) -> Vec<Finding> {
    let state_rules = STATES
        .iter()
        .filter(|s| Some(s.state) == state)
        .map(|s| &s.rule);
    FEDERAL
        .iter()
        .chain(state_rules)
        .filter(|r| r.kind == content.kind())
        .filter_map(|r| match (r.test)(content, facts) {
            Verdict::Prohibits(why) => Some(Finding::Prohibits {
                code: r.code.to_owned(),
                reason: why.to_owned(),
            }),
            Verdict::Open(why) => Some(Finding::Open {
                code: r.code.to_owned(),
                reason: why.to_owned(),
            }),
            Verdict::Clear => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::*;

    fn facts() -> Facts {
        Facts {
            today: Date::new(2026, 1, 1).unwrap(),
        }
    }

    fn criminal(class: Option<&str>, dv: bool, disp: Option<&str>, max: Option<u32>) -> Content {
        Content::Criminal(Criminal {
            offence: None,
            offence_class: class.map(str::to_owned),
            domestic_violence: Some(dv),
            arrest_date: None,
            disposition: disp.map(str::to_owned),
            disposition_date: Some("2023-05-01".into()),
            sentence_max_months: max,
        })
    }

    fn po(expires: Option<&str>, ip: Option<bool>, hearing: bool, threat: bool) -> Content {
        Content::ProtectionOrder(ProtectionOrder {
            issued: Some("2025-01-01".into()),
            expires: expires.map(str::to_owned),
            intimate_partner: ip,
            hearing_with_notice: Some(hearing),
            credible_threat: Some(threat),
            court: None,
        })
    }

    /// A record, the state whose rules apply, and the findings expected
    /// as (prohibits?, code).
    type Case = (Content, Option<&'static str>, Vec<(bool, &'static str)>);

    fn table() -> Vec<Case> {
        vec![
            (
                criminal(Some("felony"), false, Some("convicted"), Some(240)),
                None,
                vec![(true, "922(g)(1)")],
            ),
            (
                criminal(Some("misdemeanour"), false, Some("convicted"), Some(30)),
                None,
                vec![(true, "922(g)(1)")],
            ),
            (
                criminal(Some("misdemeanour"), false, Some("convicted"), Some(12)),
                None,
                vec![],
            ),
            (
                criminal(Some("misdemeanour"), false, Some("convicted"), Some(12)),
                Some("TX"),
                vec![(true, "tx-411-172-a-8")],
            ),
            (
                criminal(Some("felony"), false, Some("acquitted"), Some(120)),
                None,
                vec![],
            ),
            (
                criminal(Some("felony"), false, Some("dismissed"), None),
                None,
                vec![],
            ),
            (
                criminal(Some("felony"), false, Some("pending"), Some(60)),
                None,
                vec![(false, "922(g)(1)")],
            ),
            (
                criminal(Some("felony"), false, None, None),
                None,
                vec![(false, "922(g)(1)")],
            ),
            (
                criminal(None, false, Some("convicted"), None),
                None,
                vec![(false, "922(g)(1)")],
            ),
            (
                criminal(Some("misdemeanour"), true, Some("convicted"), Some(12)),
                None,
                vec![(true, "922(g)(9)")],
            ),
            (
                criminal(Some("misdemeanour"), true, Some("pending"), Some(12)),
                None,
                vec![(false, "922(g)(9)")],
            ),
            (
                criminal(Some("felony"), true, Some("convicted"), Some(60)),
                None,
                vec![(true, "922(g)(1)")],
            ),
            (
                Content::Wanted(Wanted {
                    warrant_type: Some("arrest".into()),
                    issuing_agency: None,
                    felony: Some(true),
                    offence: None,
                    date: None,
                }),
                None,
                vec![(true, "922(g)(2)")],
            ),
            (
                Content::Wanted(Wanted {
                    warrant_type: Some("bench".into()),
                    issuing_agency: None,
                    felony: Some(false),
                    offence: None,
                    date: None,
                }),
                None,
                vec![(false, "922(g)(2)")],
            ),
            (
                Content::DrugUse(DrugUse {
                    basis: Some("conviction".into()),
                    date: Some("2025-10-03".into()),
                }),
                None,
                vec![(true, "922(g)(3)")],
            ),
            (
                Content::DrugUse(DrugUse {
                    basis: Some("admission".into()),
                    date: Some("2023-10-03".into()),
                }),
                None,
                vec![],
            ),
            (
                Content::DrugUse(DrugUse {
                    basis: None,
                    date: None,
                }),
                None,
                vec![(false, "922(g)(3)")],
            ),
            (
                Content::MentalHealth(MentalHealth {
                    adjudication: Some("committed".into()),
                    date: Some("2018-01-01".into()),
                    relief_granted: Some(false),
                    authority: None,
                }),
                None,
                vec![(true, "922(g)(4)")],
            ),
            (
                Content::MentalHealth(MentalHealth {
                    adjudication: Some("committed".into()),
                    date: Some("2018-01-01".into()),
                    relief_granted: Some(true),
                    authority: None,
                }),
                None,
                vec![],
            ),
            (
                Content::MentalHealth(MentalHealth {
                    adjudication: Some("committed".into()),
                    date: Some("2023-01-01".into()),
                    relief_granted: Some(true),
                    authority: None,
                }),
                Some("IL"),
                vec![(true, "il-65-8-e")],
            ),
            (
                Content::MentalHealth(MentalHealth {
                    adjudication: None,
                    date: None,
                    relief_granted: None,
                    authority: None,
                }),
                None,
                vec![(false, "922(g)(4)")],
            ),
            (
                Content::Immigration(Immigration {
                    status: Some("illegal".into()),
                    alien_number: None,
                    visa_class: None,
                    as_of: None,
                }),
                None,
                vec![(true, "922(g)(5)")],
            ),
            (
                Content::Immigration(Immigration {
                    status: Some("nonimmigrant_visa".into()),
                    alien_number: None,
                    visa_class: Some("B2".into()),
                    as_of: None,
                }),
                None,
                vec![(true, "922(g)(5)")],
            ),
            (
                Content::Immigration(Immigration {
                    status: Some("lawful_permanent_resident".into()),
                    alien_number: None,
                    visa_class: None,
                    as_of: None,
                }),
                None,
                vec![],
            ),
            (
                Content::Discharge(Discharge {
                    discharge: Some("dishonourable".into()),
                    branch: None,
                    date: None,
                }),
                None,
                vec![(true, "922(g)(6)")],
            ),
            (
                Content::Discharge(Discharge {
                    discharge: Some("bad_conduct".into()),
                    branch: None,
                    date: None,
                }),
                None,
                vec![],
            ),
            (
                Content::Renounced(Renounced { date: None }),
                None,
                vec![(true, "922(g)(7)")],
            ),
            (
                po(Some("2028-01-01"), Some(true), true, true),
                None,
                vec![(true, "922(g)(8)")],
            ),
            (
                po(None, Some(true), true, true),
                None,
                vec![(true, "922(g)(8)")],
            ),
            (po(Some("2023-01-01"), Some(true), true, true), None, vec![]),
            (
                po(Some("2023-01-01"), Some(true), true, true),
                Some("MA"),
                vec![],
            ),
            (
                po(Some("2028-01-01"), Some(false), true, true),
                None,
                vec![],
            ),
            (
                po(Some("2028-01-01"), Some(false), true, true),
                Some("MA"),
                vec![(true, "ma-140-131-d-vi")],
            ),
            (
                po(Some("2028-01-01"), None, true, true),
                None,
                vec![(false, "922(g)(8)")],
            ),
            (
                Content::Indictment(Indictment {
                    court: None,
                    charge: None,
                    felony: Some(true),
                    date: None,
                }),
                None,
                vec![(true, "922(n)")],
            ),
            (
                Content::Indictment(Indictment {
                    court: None,
                    charge: None,
                    felony: Some(false),
                    date: None,
                }),
                None,
                vec![],
            ),
            (
                Content::Corrections(Corrections {
                    custody: Some("parole".into()),
                    facility: None,
                    offence: None,
                    since: None,
                }),
                None,
                vec![(false, "922(g)(1)")],
            ),
            (
                Content::Corrections(Corrections {
                    custody: Some("released".into()),
                    facility: None,
                    offence: None,
                    since: None,
                }),
                None,
                vec![],
            ),
        ]
    }

    #[test]
    fn records_map_to_their_prohibitors() {
        for (content, state, want) in table() {
            let got: Vec<(bool, String)> = assess(&content, &facts(), state)
                .into_iter()
                .map(|f| (matches!(f, Finding::Prohibits { .. }), f.code().to_owned()))
                .collect();
            let want: Vec<(bool, String)> =
                want.into_iter().map(|(p, c)| (p, c.to_owned())).collect();
            assert_eq!(got, want, "{content:?} in {state:?}");
        }
    }

    #[test]
    fn every_federal_prohibitor_has_a_rule() {
        for code in [
            "922(g)(1)",
            "922(g)(2)",
            "922(g)(3)",
            "922(g)(4)",
            "922(g)(5)",
            "922(g)(6)",
            "922(g)(7)",
            "922(g)(8)",
            "922(g)(9)",
            "922(n)",
        ] {
            assert!(FEDERAL.iter().any(|r| r.code == code), "{code}");
        }
    }
}
