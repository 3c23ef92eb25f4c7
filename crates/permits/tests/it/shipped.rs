//! The shipped catalogue: big enough, lints clean, carries the brief's
//! real-world shapes, says it is sample data, and its README documents
//! every field and code.

use std::collections::HashSet;

use plaza_permits::catalogue::{SHIPPED, shipped_sources};
use plaza_permits::lint::{self, Code};
use plaza_permits::types::{Counting, Kind, Proof, Validity};
use plaza_permits::{FederalProhibitor, TypeSet};

fn catalogue_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogue")
}

#[test]
fn the_shipped_catalogue_lints_clean() {
    if let Err(errors) = lint::lint(&shipped_sources()) {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{} error(s):\n{}", errors.len(), shown.join("\n"));
    }
}

#[test]
fn it_has_at_least_50_types_in_at_least_12_jurisdictions_of_every_main_kind() {
    let set = TypeSet::shipped();
    assert!(set.len() >= 50, "{} types", set.len());
    assert!(set.jurisdictions().len() >= 12, "{:?}", set.jurisdictions());
    let kinds: HashSet<Kind> = set.types().iter().map(|t| t.kind).collect();
    for kind in [
        Kind::PurchasePermit,
        Kind::OwnerId,
        Kind::CarryLicence,
        Kind::CarryRenewal,
        Kind::DealerLicence,
        Kind::InstructorLicence,
        Kind::SafetyCertificate,
        Kind::EligibilityCertificate,
    ] {
        assert!(kinds.contains(&kind), "no {kind} in the catalogue");
    }
    assert!(
        set.types()
            .iter()
            .any(|t| t.decision_deadline.counting == Counting::Business),
        "a business-day deadline is shipped"
    );
    assert!(set.types().iter().any(|t| t.validity.single_use()));
    assert!(
        set.types()
            .iter()
            .any(|t| t.non_resident_fee_cents.is_some())
    );
    assert!(
        set.types()
            .iter()
            .all(|t| t.id.starts_with(&t.jurisdiction.id_prefix()))
    );
}

#[test]
fn the_compiled_in_files_are_exactly_the_folder_and_the_folder_reads_the_same() {
    let mut on_disk: Vec<String> = std::fs::read_dir(catalogue_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("catalogue/{n}"))
        .collect();
    on_disk.sort();
    let compiled: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(compiled, on_disk, "every catalogue file is compiled in");
    let from_disk = TypeSet::read(&catalogue_dir()).unwrap();
    assert_eq!(from_disk.types(), TypeSet::shipped().types());
}

#[test]
fn every_file_says_it_is_sample_data_and_not_legal_advice() {
    for (name, text) in SHIPPED {
        assert!(text.starts_with("# SAMPLE DATA"), "{name}");
        let header: String = text.lines().take(4).collect::<Vec<_>>().join(" ");
        assert!(header.contains("NOT legal advice"), "{name}");
    }
    let readme = std::fs::read_to_string(catalogue_dir().join("README.md")).unwrap();
    assert!(readme.contains("SAMPLE DATA"));
    assert!(readme.contains("NOT legal advice"));
}

#[test]
fn the_readme_documents_every_field_kind_proof_and_code() {
    let readme = std::fs::read_to_string(catalogue_dir().join("README.md")).unwrap();
    let fields = [
        "jurisdiction",
        "disqualifier",
        "code",
        "description",
        "lookback_years",
        "id",
        "name",
        "kind",
        "statute",
        "fee_cents",
        "non_resident_fee_cents",
        "validity",
        "years",
        "days",
        "void_after_issue_days",
        "minimum_age",
        "residency",
        "required",
        "non_resident_allowed",
        "training",
        "hours",
        "live_fire_hours",
        "proof",
        "min_score_percent",
        "references",
        "fingerprints",
        "interview",
        "waiting_period_days",
        "decision_deadline",
        "counting",
        "renewal",
        "opens_days_before_expiry",
        "grace_days_after",
        "renews",
        "disqualifiers",
    ];
    let quoted = |s: &str| format!("`{s}`");
    for f in fields {
        assert!(readme.contains(&quoted(f)), "README: field {f}");
    }
    for k in Kind::ALL {
        assert!(readme.contains(&quoted(k.as_str())), "README: kind {k}");
    }
    for p in Proof::ALL {
        assert!(
            readme.contains(&quoted(p.as_str())),
            "README: proof {}",
            p.as_str()
        );
    }
    for c in Code::ALL {
        assert!(readme.contains(&quoted(c.as_str())), "README: code {c}");
    }
    for p in FederalProhibitor::ALL {
        assert!(readme.contains(&quoted(p.code())), "README: {}", p.code());
    }
}

#[test]
fn the_real_world_shapes_of_the_brief() {
    let set = TypeSet::shipped();
    let t = |id: &str| set.get(id).unwrap_or_else(|| panic!("{id} shipped"));

    let ma = t("ma-ltc");
    assert_eq!(
        (ma.fee_cents, ma.validity, ma.minimum_age),
        (10_000, Validity::Years(6), 21)
    );
    assert!(ma.fingerprints && ma.training.required());

    let foid = t("il-foid");
    assert_eq!(
        (foid.fee_cents, foid.validity),
        (1_000, Validity::Years(10))
    );
    assert_eq!(
        (foid.decision_deadline.days, foid.decision_deadline.counting),
        (30, Counting::Calendar)
    );

    let ccl = t("il-ccl");
    assert_eq!(
        (ccl.fee_cents, ccl.non_resident_fee_cents),
        (15_000, Some(30_000))
    );
    assert_eq!(
        (ccl.fee_for(true), ccl.fee_for(false)),
        (Some(15_000), Some(30_000))
    );
    assert_eq!(ccl.validity, Validity::Years(5));
    assert_eq!(
        (ccl.training.hours, ccl.training.min_score_percent),
        (16, Some(70))
    );
    assert_eq!(ccl.decision_deadline.days, 90);

    let tx = t("tx-ltc");
    assert_eq!(
        (tx.fee_cents, tx.validity, tx.decision_deadline.days),
        (4_000, Validity::Years(4), 60)
    );
    let txr = t("tx-ltc-renewal");
    assert_eq!(
        (txr.validity, txr.renews.as_deref()),
        (Validity::Years(5), Some("tx-ltc"))
    );

    let fl = t("fl-cwl");
    assert_eq!(
        (fl.fee_cents, fl.validity, fl.fingerprints),
        (5_500, Validity::Years(7), true)
    );

    let md = t("md-hql");
    assert_eq!(
        (md.fee_cents, md.validity, md.training.hours),
        (5_000, Validity::Years(10), 4)
    );

    let pa = t("pa-ltcf");
    assert_eq!(
        (pa.fee_cents, pa.validity, pa.decision_deadline.days),
        (2_000, Validity::Years(5), 45)
    );

    let wa = t("wa-cpl");
    assert_eq!((wa.fee_cents, wa.validity), (4_800, Validity::Years(5)));

    let mi = t("mi-cpl");
    assert_eq!(
        (mi.fee_cents, mi.training.hours, mi.decision_deadline.days),
        (10_500, 8, 45)
    );

    let fsc = t("ca-fsc");
    assert_eq!(
        (fsc.fee_cents, fsc.validity, fsc.training.min_score_percent),
        (2_500, Validity::Years(5), Some(75))
    );
    assert_eq!(fsc.renewal, None);

    let ccw = t("ca-ccw");
    assert_eq!((ccw.training.hours, ccw.decision_deadline.days), (16, 90));

    let fpic = t("nj-fpic");
    assert_eq!((fpic.validity, fpic.references), (Validity::Years(10), 2));
    assert_eq!(
        t("nj-permit-to-purchase").validity,
        Validity::VoidAfterIssueDays(90)
    );

    let hi = t("hi-pta-handgun");
    assert_eq!(
        (hi.validity, hi.waiting_period_days),
        (Validity::VoidAfterIssueDays(10), 14)
    );
    assert_eq!(hi.renewal, None);

    let ny = t("ny-pistol-licence");
    assert_eq!(ny.minimum_age, 21);
    assert_eq!(
        (ny.training.hours, ny.training.live_fire_hours),
        (18, 2),
        "16 h + 2 h live fire"
    );
    assert_eq!(ny.references, 4);
}

#[test]
fn state_disqualifiers_add_to_the_federal_ones_without_reusing_their_codes() {
    let set = TypeSet::shipped();
    let mut with_state = 0;
    for t in set.types() {
        for d in &t.state_disqualifiers {
            assert_eq!(
                FederalProhibitor::colliding_with(&d.code),
                None,
                "{}",
                d.code
            );
            assert!(
                d.code.starts_with(&t.jurisdiction.id_prefix()),
                "{} in {}",
                d.code,
                t.id
            );
        }
        // A safety certificate is a test passed; it has no disqualifiers.
        with_state +=
            usize::from(!t.state_disqualifiers.is_empty() || t.kind == Kind::SafetyCertificate);
    }
    assert_eq!(
        with_state,
        set.len(),
        "every shipped type names its state disqualifiers"
    );
}

#[test]
fn a_permit_type_serialises_with_its_list_fields() {
    let set = TypeSet::shipped();
    let v = serde_json::to_value(set.get("il-ccl").unwrap()).unwrap();
    assert_eq!(v["id"], "il-ccl");
    assert_eq!(v["jurisdiction"], "IL");
    assert_eq!(v["kind"], "carry_licence");
    assert_eq!(v["fee_cents"], 15_000);
    assert_eq!(v["non_resident_fee_cents"], 30_000);
    assert_eq!(v["validity"], serde_json::json!({"years": 5}));
    assert_eq!(
        v["decision_deadline"],
        serde_json::json!({"days": 90, "counting": "calendar"})
    );
    assert_eq!(v["training"]["proof"][1], "range_qualification");
    let hi = serde_json::to_value(set.get("hi-pta-handgun").unwrap()).unwrap();
    assert_eq!(
        hi["validity"],
        serde_json::json!({"void_after_issue_days": 10})
    );
}
