//! The shipped policies decide as the README's role table says.

use plaza_kernel::auth::{Caller, Role};
use plaza_policy::{Policies, Resource};

fn person(sub: &str, roles: &[Role], jurisdiction: Option<&str>) -> Caller {
    Caller {
        subject: sub.into(),
        issuer: "http://plaza.test/oidc".into(),
        roles: roles.to_vec(),
        jurisdiction: jurisdiction.map(str::to_owned),
    }
}

#[test]
fn the_shipped_policies_load() {
    let p = Policies::shipped();
    assert!(format!("{p:?}").contains("policies"));
}

#[test]
fn clerks_update_offices_only_in_their_jurisdiction() {
    let p = Policies::shipped();
    let office = Resource::new("Office", "o-1").in_jurisdiction("PA", Some("Dauphin"));
    let local = person("c1", &[Role::Clerk], Some("PA/Dauphin"));
    let state = person("c2", &[Role::Clerk], Some("PA"));
    let elsewhere = person("c3", &[Role::Clerk], Some("PA/Erie"));
    let no_jurisdiction = person("c4", &[Role::Clerk], None);
    assert!(p.is_permitted(&local, "offices.update", &office, &[]));
    assert!(p.is_permitted(&state, "offices.update", &office, &[]));
    assert!(!p.is_permitted(&elsewhere, "offices.update", &office, &[]));
    assert!(!p.is_permitted(&no_jurisdiction, "offices.update", &office, &[]));
    // Only admins create.
    assert!(!p.is_permitted(&local, "offices.create", &office, &[]));
    let admin = person("a", &[Role::Admin], None);
    assert!(p.is_permitted(&admin, "offices.create", &office, &[]));
}

#[test]
fn anonymous_callers_read_public_data_and_are_asked_to_sign_in_for_the_rest() {
    let p = Policies::shipped();
    let nobody = Caller::anonymous();
    let office = Resource::new("Office", "o-1");
    assert!(p.is_permitted(&nobody, "offices.get", &office, &[]));
    assert!(p.is_permitted(
        &nobody,
        "audit.tree_head",
        &Resource::new("AuditLog", "main"),
        &[]
    ));
    let err = p.require(&nobody, "offices.create", &office).unwrap_err();
    assert_eq!(err.code, "sign_in_required");
    let err = p
        .require(&nobody, "me.read", &Resource::new("Me", "me"))
        .unwrap_err();
    assert_eq!(err.code, "sign_in_required");
    let citizen = person("u1", &[Role::Citizen], None);
    let err = p.require(&citizen, "offices.create", &office).unwrap_err();
    assert_eq!(err.code, "forbidden");
}

#[test]
fn people_see_only_their_own_records_and_others_are_hidden() {
    let p = Policies::shipped();
    let alice = person("alice", &[Role::Citizen], None);
    let bob = person("bob", &[Role::Citizen], None);
    let alice_id = alice.actor();
    let log = Resource::new("Person", &alice_id).owned_by(&alice_id);
    assert!(p.is_permitted(&alice, "access_log.read", &log, &[]));
    let hidden = plaza_kernel::error::PublicError::new(
        plaza_kernel::error::ErrorKind::NotFound,
        "not_found",
        "no such record",
    );
    let err = p
        .require_or_hide(&bob, "access_log.read", &log, hidden.clone())
        .unwrap_err();
    assert_eq!(err, hidden);
}

#[test]
fn detokenising_needs_a_role_and_a_purpose_it_has() {
    let p = Policies::shipped();
    let rec = Resource::new("VaultRecord", "tok-1");
    let officer = person("o", &[Role::LicensingOfficer], Some("PA"));
    assert!(p.is_permitted(
        &officer,
        "vault.detokenize",
        &rec,
        &[("purpose", "licence_decision")]
    ));
    assert!(!p.is_permitted(
        &officer,
        "vault.detokenize",
        &rec,
        &[("purpose", "curiosity")]
    ));
    assert!(!p.is_permitted(&officer, "vault.detokenize", &rec, &[]));
    let auditor = person("x", &[Role::Auditor], None);
    assert!(!p.is_permitted(
        &auditor,
        "vault.detokenize",
        &rec,
        &[("purpose", "licence_decision")]
    ));
}

#[test]
fn a_broken_policy_file_is_named_in_the_error() {
    let err = Policies::from_sources([("policies/broken.cedar".to_owned(), "permit (".to_owned())])
        .unwrap_err();
    assert_eq!(err.file, "policies/broken.cedar");
}

/// A decision evaluates only the policies naming its action (and any naming
/// none); it must answer as the whole set would, for every action the
/// policies name, an action none names, and callers, records and purposes
/// of every kind the policies tell apart.
#[test]
fn deciding_among_the_policies_of_the_action_answers_as_the_whole_set() {
    let p = Policies::shipped();
    let mut actions = p.actions();
    assert!(actions.len() >= 40, "{} actions", actions.len());
    actions.push("nobody.names.this".to_owned());
    let mut callers = vec![Caller::anonymous()];
    for s in [
        "checks",
        "renewal",
        "permits",
        "fulfillment",
        "payments",
        "gateway",
    ] {
        callers.push(Caller::service(s));
    }
    for (i, role) in Role::ALL.iter().enumerate() {
        for j in [None, Some("PA"), Some("PA/Dauphin")] {
            callers.push(person(&format!("u{i}"), &[*role], j));
        }
    }
    let (mut allowed, mut refused) = (0, 0);
    for action in &actions {
        for caller in &callers {
            let me = caller.actor();
            for owner in [None, Some(me.as_str()), Some("someone-else")] {
                for county in [None, Some("Dauphin")] {
                    let mut r = Resource::new("PermitApplication", "a-1");
                    r.owner = owner;
                    if let Some(c) = county {
                        r = r.in_jurisdiction("PA", Some(c));
                    }
                    for purpose in [None, Some("background_check"), Some("card_production")] {
                        let context: Vec<(&str, &str)> =
                            purpose.map(|v| ("purpose", v)).into_iter().collect();
                        let split = p.is_permitted(caller, action, &r, &context);
                        let whole = p.is_permitted_by_every_policy(caller, action, &r, &context);
                        assert_eq!(split, whole, "{action} by {caller:?} on {r:?} {context:?}");
                        if split {
                            allowed += 1;
                        } else {
                            refused += 1;
                        }
                    }
                }
            }
        }
    }
    // The comparison covered both answers, many times each.
    assert!(
        allowed > 500 && refused > 500,
        "{allowed} allowed, {refused} refused"
    );
}

#[test]
fn a_kind_that_is_no_entity_name_is_refused_and_named_kinds_keep_their_answers() {
    let p = Policies::shipped();
    let admin = person("a", &[Role::Admin], None);
    // A kind or an action that cannot be a Cedar name is refused, not a crash.
    let odd = Resource::new("Not a name", "o-1");
    assert!(!p.is_permitted(&admin, "offices.create", &odd, &[]));
    assert!(!p.is_permitted_by_every_policy(&admin, "offices.create", &odd, &[]));
    let office = Resource::new("Office", "o-1");
    assert!(!p.is_permitted(&admin, "offices create\"", &office, &[]));
    // Type names are kept once parsed: a second decision on the same kinds
    // answers as the first, for every caller.
    let clerk = person("c1", &[Role::Clerk], Some("PA/Dauphin"));
    let dauphin = Resource::new("Office", "o-2").in_jurisdiction("PA", Some("Dauphin"));
    for _ in 0..2 {
        assert!(p.is_permitted(&admin, "offices.create", &office, &[]));
        assert!(p.is_permitted(&clerk, "offices.update", &dauphin, &[]));
        assert!(!p.is_permitted(&clerk, "offices.create", &dauphin, &[]));
        assert!(!p.is_permitted(&Caller::anonymous(), "offices.update", &dauphin, &[]));
    }
}
