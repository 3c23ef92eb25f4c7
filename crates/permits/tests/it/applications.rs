//! The application workflow against a real database: whole paths for
//! permit types of different shapes from the shipped catalogue, refused
//! input that changes nothing, decisions, appeals, renewals, suspension and
//! revocation, durable timers across a restart, officers' queues and
//! continuous evaluation. SQLite always; PostgreSQL when
//! PLAZA_TEST_DATABASE_URL is set.

use std::sync::Arc;

use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::clock::ManualClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::testing::{postgres_target, sqlite_target};
use plaza_permits::application::{
    Applicant, Applications, CheckOutcome, DUPLICATE_OTHER_ACCOUNT, Event, Person, PushedRecord,
    State, Submission, TrainingEvidence, View, store,
};
use plaza_permits::{Catalogue, Date};
use sqlx::Row;

const DAY: i64 = 86_400_000;

/// 10:00 UTC on `date`.
fn at(date: &str) -> i64 {
    Date::parse(date).unwrap().days() * DAY + 10 * 3_600_000
}

struct Env {
    target: StorageTarget,
    key: DataKey,
    clock: ManualClock,
    db: Db,
    apps: Applications,
}

async fn env(target: StorageTarget, start: &str) -> Env {
    let db = plaza_permits::open_db(&target).await.unwrap();
    let key = DataKey::random();
    let clock = ManualClock::new(at(start));
    let apps = Applications::new(
        db.clone(),
        key.clone(),
        Arc::new(Catalogue::shipped()),
        Arc::new(clock.clone()),
    );
    Env {
        target,
        key,
        clock,
        db,
        apps,
    }
}

impl Env {
    /// The service started again on the same database and key.
    async fn restart(self) -> Env {
        let Env {
            target,
            key,
            clock,
            db,
            apps,
        } = self;
        drop(apps);
        db.close().await;
        let db = plaza_permits::open_db(&target).await.unwrap();
        let apps = Applications::new(
            db.clone(),
            key.clone(),
            Arc::new(Catalogue::shipped()),
            Arc::new(clock.clone()),
        );
        Env {
            target,
            key,
            clock,
            db,
            apps,
        }
    }

    fn set(&self, date: &str) {
        self.clock.set_ms(at(date));
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.db.reader())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    async fn state(&self, id: &str) -> State {
        store::get(&self.db, id)
            .await
            .unwrap()
            .expect("stored")
            .state()
    }
}

fn person(sub: &str, roles: &[Role], jurisdiction: Option<&str>) -> Caller {
    Caller {
        subject: sub.to_owned(),
        issuer: "https://id.plaza.test".to_owned(),
        roles: roles.to_vec(),
        jurisdiction: jurisdiction.map(str::to_owned),
    }
}

fn citizen(sub: &str) -> Caller {
    person(sub, &[Role::Citizen], None)
}

fn officer(jurisdiction: &str) -> Caller {
    person("officer-1", &[Role::LicensingOfficer], Some(jurisdiction))
}

fn clerk(jurisdiction: &str) -> Caller {
    person("clerk-1", &[Role::Clerk], Some(jurisdiction))
}

fn checks() -> Caller {
    Caller::service("checks")
}

fn submission(permit_type: &str, given: &str, birth: &str) -> Submission {
    Submission {
        permit_type: permit_type.to_owned(),
        applicant: Applicant {
            given_name: given.to_owned(),
            family_name: "Citizen".to_owned(),
            birth_date: birth.to_owned(),
            address: "1 Main St, Springfield".to_owned(),
        },
        resident: true,
        renews: None,
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, plaza_permits::Error>) -> String {
    r.expect_err("refused").code()
}

fn states(v: &View) -> Vec<&str> {
    v.timeline.iter().map(|e| e.to.as_str()).collect()
}

async fn submit(e: &Env, who: &str, permit_type: &str, key: &str) -> String {
    e.apps
        .submit(
            &citizen(who),
            key,
            &submission(permit_type, who, "1980-05-17"),
        )
        .await
        .unwrap()
        .application
        .id
}

/// The check proceeds; the answer told again (a retry after a lost reply)
/// changes nothing: no second timeline line.
async fn proceed(e: &Env, id: &str) -> View {
    let v = e
        .apps
        .check_completed(&checks(), id, CheckOutcome::Proceed, "NTN-1", vec![])
        .await
        .unwrap();
    let again = e
        .apps
        .check_completed(&checks(), id, CheckOutcome::Proceed, "NTN-1", vec![])
        .await
        .unwrap();
    assert_eq!(again.timeline.len(), v.timeline.len());
    assert_eq!(again.application.state(), v.application.state());
    v
}

/// Submits an IL FOID (no training, prints, references or interview) and
/// takes it to issue.
async fn issued_foid(e: &Env, who: &str, key: &str) -> View {
    let id = submit(e, who, "il-foid", key).await;
    let il = clerk("IL");
    e.apps
        .apply(&il, &id, Event::DocumentsReceived { training: None })
        .await
        .unwrap();
    proceed(e, &id).await;
    e.apps
        .apply(&officer("IL"), &id, Event::Approve)
        .await
        .unwrap()
}

// ------------------------------------------------------------ whole paths

async fn the_full_path_with_training_prints_references_and_interview(target: StorageTarget) {
    let e = env(target, "2026-03-02").await;
    let ann = citizen("ann");
    let ny = clerk("NY");
    let id = e
        .apps
        .submit(
            &ann,
            "k1",
            &submission("ny-pistol-licence", "ann", "1980-05-17"),
        )
        .await
        .unwrap()
        .application
        .id;
    assert_eq!(e.state(&id).await, State::Submitted);

    // Training must be proven as the type asks: 18 hours, 80 %.
    let short = TrainingEvidence {
        proof: "course_certificate".into(),
        hours: 8,
        score_percent: Some(95),
    };
    assert_eq!(
        code(
            e.apps
                .apply(
                    &ny,
                    &id,
                    Event::DocumentsReceived {
                        training: Some(short)
                    }
                )
                .await
        ),
        "permits.training_not_proven"
    );
    assert_eq!(
        code(
            e.apps
                .apply(&ny, &id, Event::DocumentsReceived { training: None })
                .await
        ),
        "permits.training_not_proven"
    );
    let good = TrainingEvidence {
        proof: "course_certificate".into(),
        hours: 18,
        score_percent: Some(85),
    };
    // The applicant cannot record their own documents as received.
    assert_eq!(
        code(
            e.apps
                .apply(
                    &ann,
                    &id,
                    Event::DocumentsReceived {
                        training: Some(good.clone())
                    }
                )
                .await
        ),
        "permits.application_not_found"
    );
    let v = e
        .apps
        .apply(
            &ny,
            &id,
            Event::DocumentsReceived {
                training: Some(good),
            },
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::DocumentsReceived);

    // An appointment in the past is an impossible date.
    assert_eq!(
        code(
            e.apps
                .apply(
                    &ny,
                    &id,
                    Event::FingerprintsScheduled {
                        office_id: "ny-albany".into(),
                        on: Date::parse("2026-03-01").unwrap(),
                    },
                )
                .await
        ),
        "permits.invalid_date"
    );
    e.apps
        .apply(
            &ny,
            &id,
            Event::FingerprintsScheduled {
                office_id: "ny-albany".into(),
                on: Date::parse("2026-03-09").unwrap(),
            },
        )
        .await
        .unwrap();
    e.set("2026-03-09");
    let v = e.apps.apply(&ny, &id, Event::Fingerprinted).await.unwrap();
    assert_eq!(v.application.state(), State::CheckPending);
    assert_eq!(
        e.count("SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.CheckRequested'")
            .await,
        1
    );
    // Only the checks service records a check's answer.
    assert_eq!(
        code(
            e.apps
                .check_completed(&officer("NY"), &id, CheckOutcome::Proceed, "N", vec![])
                .await
        ),
        "permits.application_not_found"
    );
    let v = proceed(&e, &id).await;
    assert_eq!(v.application.state(), State::ReferencesPending);
    for (i, referee) in ["R One", "R Two", "R Three", "R Four"].iter().enumerate() {
        let v = e
            .apps
            .apply(
                &ny,
                &id,
                Event::ReferenceReceived {
                    referee: (*referee).into(),
                },
            )
            .await
            .unwrap();
        let expected = if i < 3 {
            State::ReferencesPending
        } else {
            State::InterviewPending
        };
        assert_eq!(v.application.state(), expected, "after reference {}", i + 1);
    }
    let v = e.apps.apply(&ny, &id, Event::Interviewed).await.unwrap();
    assert_eq!(v.application.state(), State::OfficerReview);
    // A clerk does not decide; an officer of another state cannot see it.
    assert_eq!(
        code(e.apps.apply(&ny, &id, Event::Approve).await),
        "permits.application_not_found"
    );
    assert_eq!(
        code(e.apps.apply(&officer("NJ"), &id, Event::Approve).await),
        "permits.application_not_found"
    );
    e.set("2026-03-20");
    let v = e
        .apps
        .apply(&officer("NY"), &id, Event::Approve)
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Issued);
    assert_eq!(
        v.application.permit_number.as_deref(),
        Some("NY-PISTOL-LICENCE-2026-000001")
    );
    assert_eq!(
        v.application.progress.expires_on,
        Some(Date::parse("2031-03-20").unwrap())
    );
    assert_eq!(
        states(&v),
        [
            "submitted",
            "documents_received",
            "fingerprints_scheduled",
            "check_pending",
            "references_pending",
            "references_pending",
            "references_pending",
            "references_pending",
            "interview_pending",
            "officer_review",
            "issued",
        ]
    );
    assert_eq!(v.timeline[0].from, "draft");
    assert_eq!(v.timeline[10].from, "officer_review");
    assert!(v.timeline[10].actor.ends_with("|officer-1"));
    // One event per timeline line, one audit record per transition.
    assert_eq!(
        e.count("SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.ApplicationChanged'")
            .await,
        11
    );
    let audits_before = e
        .count("SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.AuditRecorded'")
        .await;
    assert_eq!(audits_before, 11);
    // The applicant reads their own application without an audit record;
    // staff reads are audited.
    let mine = e.apps.get(&ann, &id).await.unwrap();
    assert_eq!(mine.applicant.given_name, "ann");
    e.apps.get(&officer("NY"), &id).await.unwrap();
    assert_eq!(
        e.count("SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.AuditRecorded'")
            .await,
        audits_before + 1
    );
    // Personal data is sealed at rest.
    let sealed: String = sqlx::query("SELECT applicant_sealed FROM permit_applications")
        .fetch_one(e.db.reader())
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.contains("Citizen") && !sealed.contains("1980"));
    // The deadline and check-expiry timers were cancelled by the decision;
    // the expiry timer waits.
    let timers = e.apps.timers(&id).await.unwrap();
    let pending: Vec<&str> = timers
        .iter()
        .filter(|t| t.fired == 0)
        .map(|t| t.kind.as_str())
        .collect();
    assert_eq!(pending, ["permit_expiry"]);
    e.db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn full_path_sqlite() {
    the_full_path_with_training_prints_references_and_interview(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn full_path_postgres() {
    the_full_path_with_training_prints_references_and_interview(postgres_target()).await;
}

#[tokio::test]
async fn a_type_with_no_training_prints_references_or_interview_skips_those_steps() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let v = issued_foid(&e, "bob", "k1").await;
    assert_eq!(
        states(&v),
        ["submitted", "check_pending", "officer_review", "issued"]
    );
    assert_eq!(
        v.application.permit_number.as_deref(),
        Some("IL-FOID-2026-000001")
    );
    let v2 = issued_foid(&e, "cat", "k1").await;
    assert_eq!(
        v2.application.permit_number.as_deref(),
        Some("IL-FOID-2026-000002")
    );
}

#[tokio::test]
async fn a_waiting_period_holds_the_permit_until_it_ends() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let id = submit(&e, "dan", "hi-pta-long-gun", "k1").await;
    let hi = clerk("HI");
    let training = TrainingEvidence {
        proof: "hunter_education".into(),
        hours: 0,
        score_percent: None,
    };
    e.apps
        .apply(
            &hi,
            &id,
            Event::DocumentsReceived {
                training: Some(training),
            },
        )
        .await
        .unwrap();
    e.apps
        .apply(
            &hi,
            &id,
            Event::FingerprintsScheduled {
                office_id: "hi-honolulu".into(),
                on: Date::parse("2026-03-03").unwrap(),
            },
        )
        .await
        .unwrap();
    e.apps.apply(&hi, &id, Event::Fingerprinted).await.unwrap();
    proceed(&e, &id).await;
    let v = e
        .apps
        .apply(&officer("HI"), &id, Event::Approve)
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Approved);
    assert_eq!(
        v.application.progress.issue_from,
        Some(Date::parse("2026-03-16").unwrap())
    );
    // Nobody issues it by hand; only the timer does, once the period ends.
    assert_eq!(
        code(
            e.apps
                .apply(&officer("HI"), &id, Event::WaitingPeriodEnded)
                .await
        ),
        "permits.application_not_found"
    );
    assert_eq!(e.apps.fire_due(at("2026-03-15")).await.unwrap(), 0);
    assert_eq!(e.state(&id).await, State::Approved);
    e.set("2026-03-16");
    assert_eq!(
        e.apps
            .fire_due(Date::parse("2026-03-16").unwrap().days() * DAY)
            .await
            .unwrap(),
        1
    );
    let v = e.apps.get(&citizen("dan"), &id).await.unwrap();
    assert_eq!(v.application.state(), State::Issued);
    assert_eq!(
        v.application.progress.issued_on,
        Some(Date::parse("2026-03-16").unwrap())
    );
    assert_eq!(
        v.application.permit_number.as_deref(),
        Some("HI-PTA-LONG-GUN-2026-000001")
    );
    assert_eq!(v.timeline.last().unwrap().actor, "plaza:service|permits");
}

// ------------------------------------------------------------ refusals

#[tokio::test]
async fn out_of_order_events_are_refused_and_change_nothing() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let id = submit(&e, "eve", "il-foid", "k1").await;
    let before = e.count("SELECT COUNT(*) FROM outbox").await;
    let err = e
        .apps
        .apply(&officer("IL"), &id, Event::Approve)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "permits.out_of_order");
    let message = err.public().message.to_string();
    assert!(
        message.contains("submitted") && message.contains("documents_received"),
        "{message}"
    );
    assert_eq!(
        code(
            e.apps
                .check_completed(&checks(), &id, CheckOutcome::Proceed, "N", vec![])
                .await
        ),
        "permits.out_of_order"
    );
    assert_eq!(e.state(&id).await, State::Submitted);
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_timeline").await, 1);
    assert_eq!(e.count("SELECT COUNT(*) FROM outbox").await, before);
}

#[tokio::test]
async fn duplicate_and_malformed_submissions_change_nothing() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let fay = citizen("fay");
    let s = submission("il-foid", "fay", "1980-05-17");
    let first = e.apps.submit(&fay, "k1", &s).await.unwrap();
    let again = e.apps.submit(&fay, "k1", &s).await.unwrap();
    assert_eq!(first.application.id, again.application.id);
    assert_eq!(again.timeline.len(), 1);
    let mut other = s.clone();
    other.applicant.address = "2 Main St".into();
    assert_eq!(
        code(e.apps.submit(&fay, "k1", &other).await),
        "permits.idempotency_conflict"
    );
    // Another key, the same person and permit: a duplicate.
    assert_eq!(
        code(e.apps.submit(&fay, "k2", &s).await),
        "permits.duplicate"
    );

    let mut unknown = s.clone();
    unknown.permit_type = "zz-nothing".into();
    assert_eq!(
        code(e.apps.submit(&fay, "k3", &unknown).await),
        "permits.unknown_type"
    );
    for bad in ["2001-02-29", "1980-13-01", "17/05/1980", "2030-01-01"] {
        let mut b = s.clone();
        b.applicant.birth_date = bad.into();
        assert_eq!(
            code(e.apps.submit(&fay, "k4", &b).await),
            "permits.invalid_date",
            "{bad}"
        );
    }
    let mut blank = s.clone();
    blank.applicant.family_name = "  ".into();
    assert_eq!(
        code(e.apps.submit(&fay, "k5", &blank).await),
        "permits.invalid"
    );
    let mut young = s.clone();
    young.applicant.birth_date = "2012-01-01".into();
    assert_eq!(
        code(e.apps.submit(&fay, "k6", &young).await),
        "permits.not_eligible"
    );
    let mut away = s.clone();
    away.resident = false;
    assert_eq!(
        code(e.apps.submit(&fay, "k7", &away).await),
        "permits.not_eligible"
    );
    assert_eq!(
        code(e.apps.submit(&fay, "", &s).await),
        "invalid_request",
        "an empty idempotency key"
    );
    assert_eq!(
        code(e.apps.submit(&Caller::anonymous(), "k8", &s).await),
        "sign_in_required"
    );
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_applications").await, 1);
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_timeline").await, 1);
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_timers").await, 1);
}

#[tokio::test]
async fn another_accounts_open_application_is_refused_without_disclosing_it() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let fay = citizen("fay");
    let mallory = citizen("mallory");
    let s = submission("il-foid", "fay", "1980-05-17");
    let fays = e.apps.submit(&fay, "k1", &s).await.unwrap().application.id;
    let audits = "SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.AuditRecorded'";
    let before = e.count(audits).await;

    // Another account giving Fay's name and birth date learns nothing of
    // her application: a neutral refusal, whatever the key, every time.
    for key in ["m1", "m2", "m1"] {
        let err = e.apps.submit(&mallory, key, &s).await.unwrap_err();
        let public = err.public();
        assert_eq!(public.code, "permits.cannot_accept");
        assert_eq!(public.kind.http_status(), 422);
        assert_eq!(
            public.message,
            "This application cannot be accepted online; contact the licensing office."
        );
        for word in ["open", "already", "another", "duplicate", "exists"] {
            assert!(!public.message.contains(word), "{word}: {}", public.message);
        }
    }
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_applications").await, 1);
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_timeline").await, 1);

    // Staff learn of each attempt from the audit trail, filed under Fay's
    // application, with who tried.
    assert_eq!(e.count(audits).await, before + 3);
    let rows = sqlx::query(
        "SELECT aggregate_id, payload FROM outbox WHERE event_type = 'permits.AuditRecorded' ORDER BY id DESC LIMIT 3",
    )
    .fetch_all(e.db.reader())
    .await
    .unwrap();
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    for r in rows {
        let resource: String = r.try_get(0).unwrap();
        let payload: Vec<u8> = r.try_get(1).unwrap();
        assert_eq!(resource, format!("permits/{fays}"));
        assert!(contains(&payload, DUPLICATE_OTHER_ACCOUNT));
        assert!(contains(&payload, &mallory.actor()));
        assert!(contains(&payload, "permits.application.submit"));
    }

    // Fay herself is told it is a duplicate, with no audit record.
    assert_eq!(
        code(e.apps.submit(&fay, "k2", &s).await),
        "permits.duplicate"
    );
    assert_eq!(e.count(audits).await, before + 3);
    // Mallory's own application, for another person, goes through.
    let own = submission("il-foid", "mallory", "1975-01-09");
    e.apps.submit(&mallory, "m3", &own).await.unwrap();
    assert_eq!(e.count("SELECT COUNT(*) FROM permit_applications").await, 2);
}

// ------------------------------------------------------------ decisions

async fn in_review(e: &Env, who: &str, key: &str) -> String {
    let id = submit(e, who, "il-foid", key).await;
    e.apps
        .apply(
            &clerk("IL"),
            &id,
            Event::DocumentsReceived { training: None },
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_denial_cites_reason_codes_and_may_be_appealed() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let il = officer("IL");
    let id = in_review(&e, "gus", "k1").await;
    // A check that finds a prohibitor names it; unknown codes are refused.
    assert_eq!(
        code(
            e.apps
                .check_completed(
                    &checks(),
                    &id,
                    CheckOutcome::Denied,
                    "N9",
                    vec!["922g99".into()]
                )
                .await
        ),
        "permits.unknown_reason"
    );
    let v = e
        .apps
        .check_completed(
            &checks(),
            &id,
            CheckOutcome::Denied,
            "N9",
            vec!["922g1".into()],
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::OfficerReview);
    assert_eq!(
        code(e.apps.apply(&il, &id, Event::Approve).await),
        "permits.not_eligible"
    );
    assert_eq!(
        code(
            e.apps
                .apply(&il, &id, Event::Deny { reasons: vec![] })
                .await
        ),
        "permits.reasons_required"
    );
    assert_eq!(
        code(
            e.apps
                .apply(
                    &il,
                    &id,
                    Event::Deny {
                        reasons: vec!["ny-400.00-1-b".into()]
                    }
                )
                .await
        ),
        "permits.unknown_reason",
        "another state's disqualifier"
    );
    let v = e
        .apps
        .apply(
            &il,
            &id,
            Event::Deny {
                reasons: vec!["922g1".into(), "il-65-8-l".into(), "incomplete".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Denied);
    assert_eq!(
        v.application.progress.reasons,
        ["922g1", "il-65-8-l", "incomplete"]
    );
    assert!(v.timeline.last().unwrap().note.contains("922g1"));
    // The applicant appeals; the appeal is granted and the permit issued.
    let gus = citizen("gus");
    let v = e
        .apps
        .apply(
            &gus,
            &id,
            Event::Appeal {
                grounds: "The conviction was expunged.".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Appealed);
    // While the appeal runs, the application holds its place.
    assert_eq!(
        code(
            e.apps
                .submit(&gus, "k2", &submission("il-foid", "gus", "1980-05-17"))
                .await
        ),
        "permits.duplicate"
    );
    assert_eq!(
        code(
            e.apps
                .apply(&gus, &id, Event::AppealDecided { granted: true })
                .await
        ),
        "permits.application_not_found",
        "the applicant does not decide their own appeal"
    );
    e.apps
        .apply(&il, &id, Event::AppealDecided { granted: true })
        .await
        .unwrap();
    let v = e.apps.apply(&il, &id, Event::Approve).await.unwrap();
    assert_eq!(v.application.state(), State::Issued);

    // An upheld appeal is the end.
    let id2 = in_review(&e, "hal", "k1").await;
    proceed(&e, &id2).await;
    e.apps
        .apply(
            &il,
            &id2,
            Event::RequestInfo {
                what: "Proof of address".into(),
            },
        )
        .await
        .unwrap();
    e.apps
        .apply(
            &il,
            &id2,
            Event::Deny {
                reasons: vec!["information_not_provided".into()],
            },
        )
        .await
        .unwrap();
    e.apps
        .apply(
            &citizen("hal"),
            &id2,
            Event::Appeal {
                grounds: "I sent it.".into(),
            },
        )
        .await
        .unwrap();
    let v = e
        .apps
        .apply(&il, &id2, Event::AppealDecided { granted: false })
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::AppealUpheld);
    let err = e.apps.apply(&il, &id2, Event::Approve).await.unwrap_err();
    assert_eq!(err.code(), "permits.out_of_order");
    // Denied for good: the person may apply again.
    submit(&e, "hal", "il-foid", "k2").await;
}

#[tokio::test]
async fn renewal_opens_only_in_the_window_of_the_permit_it_renews() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let v = issued_foid(&e, "ida", "k1").await;
    let number = v.application.permit_number.clone().unwrap();
    assert_eq!(
        v.application.progress.expires_on,
        Some(Date::parse("2036-03-02").unwrap())
    );
    let ida = citizen("ida");
    let mut renewal = submission("il-foid-renewal", "ida", "1980-05-17");
    assert_eq!(
        code(e.apps.submit(&ida, "r1", &renewal).await),
        "permits.invalid"
    );
    renewal.renews = Some(number.clone());
    e.set("2035-12-01");
    let err = e.apps.submit(&ida, "r1", &renewal).await.unwrap_err();
    assert_eq!(err.code(), "permits.renewal_window");
    assert!(
        err.public().message.contains("2036-01-02"),
        "{}",
        err.public().message
    );
    // Somebody else's permit is not found.
    let mut other = renewal.clone();
    other.applicant.given_name = "Someone".into();
    e.set("2036-01-10");
    assert_eq!(
        code(e.apps.submit(&ida, "r2", &other).await),
        "permits.permit_not_found"
    );
    // Another account giving Ida's name, birth date and permit number is
    // not let renew it either.
    let mallory = citizen("mallory");
    assert_eq!(
        code(e.apps.submit(&mallory, "m1", &renewal).await),
        "permits.permit_not_found"
    );
    let v = e.apps.submit(&ida, "r1", &renewal).await.unwrap();
    assert_eq!(v.application.renews.as_deref(), Some(number.as_str()));
    assert_eq!(v.application.state(), State::Submitted);
    assert_eq!(
        code(e.apps.submit(&ida, "r3", &renewal).await),
        "permits.duplicate"
    );
}

#[tokio::test]
async fn permits_are_suspended_reinstated_and_revoked_with_reasons() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let il = officer("IL");
    let id = issued_foid(&e, "jon", "k1").await.application.id;
    assert_eq!(
        code(
            e.apps
                .apply(&il, &id, Event::Suspend { reasons: vec![] })
                .await
        ),
        "permits.reasons_required"
    );
    let v = e
        .apps
        .apply(
            &il,
            &id,
            Event::Suspend {
                reasons: vec!["922n".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Suspended);
    let v = e.apps.apply(&il, &id, Event::Reinstate).await.unwrap();
    assert_eq!(v.application.state(), State::Issued);
    let v = e
        .apps
        .apply(
            &il,
            &id,
            Event::Revoke {
                reasons: vec!["il-65-8-e".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Revoked);
    assert_eq!(
        code(e.apps.apply(&il, &id, Event::Reinstate).await),
        "permits.out_of_order"
    );
    // Revoked: the expiry timer was cancelled.
    assert!(
        e.apps
            .timers(&id)
            .await
            .unwrap()
            .iter()
            .all(|t| t.fired != 0)
    );
}

// ------------------------------------------------------------ timers

async fn timers_fire_once_after_a_restart(target: StorageTarget) {
    let e = env(target, "2026-03-02").await;
    let id = submit(&e, "kim", "il-foid", "k1").await;
    // IL FOID: 30 calendar days; due 2026-04-01, overdue from 04-02.
    let v = e.apps.get(&citizen("kim"), &id).await.unwrap();
    assert_eq!(
        v.application.progress.decision_due,
        Some(Date::parse("2026-04-01").unwrap())
    );
    assert_eq!(e.apps.fire_due(at("2026-04-01")).await.unwrap(), 0);
    let e = e.restart().await;
    e.set("2026-04-02");
    // Two processes on the same database: the timer fires once.
    let other = Applications::new(
        plaza_permits::open_db(&e.target).await.unwrap(),
        e.key.clone(),
        Arc::new(Catalogue::shipped()),
        Arc::new(e.clock.clone()),
    );
    let now = at("2026-04-02");
    let (a, b) = tokio::join!(e.apps.fire_due(now), other.fire_due(now));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let e = e.restart().await;
    assert_eq!(e.apps.fire_due(at("2026-04-03")).await.unwrap(), 0);
    let v = e.apps.get(&citizen("kim"), &id).await.unwrap();
    assert!(v.application.progress.overdue);
    assert_eq!(v.application.state(), State::Submitted);
    let deadline_lines = v
        .timeline
        .iter()
        .filter(|l| l.note.contains("deadline"))
        .count();
    assert_eq!(deadline_lines, 1);
    other.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn timers_fire_once_after_a_restart_sqlite() {
    timers_fire_once_after_a_restart(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn timers_fire_once_after_a_restart_postgres() {
    timers_fire_once_after_a_restart(postgres_target()).await;
}

#[tokio::test]
async fn a_delayed_check_proceeds_on_the_right_business_day_across_thanksgiving() {
    let e = env(sqlite_target(), "2026-11-24").await;
    let id = in_review(&e, "lea", "k1").await;
    // Wednesday 25 November 2026; Thursday is Thanksgiving, then a weekend:
    // business days are Fri 27, Mon 30, Tue 1 December; proceed from Wed 2.
    e.set("2026-11-25");
    let v = e
        .apps
        .check_completed(&checks(), &id, CheckOutcome::Delayed, "NTN-D", vec![])
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::CheckDelayed);
    assert!(v.timeline.last().unwrap().note.contains("2026-12-02"));
    let dec2 = Date::parse("2026-12-02").unwrap().days() * DAY;
    assert_eq!(e.apps.fire_due(dec2 - 1).await.unwrap(), 0);
    assert_eq!(e.state(&id).await, State::CheckDelayed);
    e.clock.set_ms(dec2);
    assert_eq!(e.apps.fire_due(dec2).await.unwrap(), 1);
    let v = e.apps.get(&citizen("lea"), &id).await.unwrap();
    assert_eq!(v.application.state(), State::OfficerReview);
    assert_eq!(e.apps.fire_due(dec2 + DAY).await.unwrap(), 0);
}

#[tokio::test]
async fn a_final_answer_before_the_three_days_disarms_the_delayed_timer() {
    let e = env(sqlite_target(), "2026-11-24").await;
    let id = in_review(&e, "max", "k1").await;
    e.apps
        .check_completed(&checks(), &id, CheckOutcome::Delayed, "N", vec![])
        .await
        .unwrap();
    e.set("2026-11-27");
    proceed(&e, &id).await;
    assert_eq!(e.apps.fire_due(at("2026-12-03")).await.unwrap(), 0);
    assert_eq!(e.state(&id).await, State::OfficerReview);
}

#[tokio::test]
async fn a_proceed_older_than_30_days_needs_a_new_check() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let id = in_review(&e, "ned", "k1").await;
    proceed(&e, &id).await;
    // Valid through 1 April (30 days after 2 March); expired on 2 April.
    assert_eq!(e.apps.fire_due(at("2026-04-01")).await.unwrap(), 0);
    assert!(e.apps.fire_due(at("2026-04-02")).await.unwrap() >= 1);
    let v = e.apps.get(&citizen("ned"), &id).await.unwrap();
    assert_eq!(v.application.state(), State::CheckPending);
    assert_eq!(v.application.progress.check, None);
    assert_eq!(
        e.count("SELECT COUNT(*) FROM outbox WHERE event_type = 'permits.CheckRequested'")
            .await,
        2
    );
}

// ------------------------------------------------------------ queue

#[tokio::test]
async fn the_queue_is_ordered_by_deadline_with_overdue_first_and_due_soon_flagged() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let old = submit(&e, "oli", "il-foid", "k1").await; // due 2026-04-01
    e.set("2026-03-20");
    let ccl = e
        .apps
        .submit(
            &citizen("pat"),
            "k1",
            &submission("il-ccl", "pat", "1980-05-17"),
        )
        .await
        .unwrap()
        .application
        .id; // 90 days: due 2026-06-18
    e.set("2026-03-25");
    let mid = submit(&e, "quin", "il-foid", "k1").await; // due 2026-04-24
    let ny = submit(&e, "ray", "ny-pistol-licence", "k1").await;

    let now = at("2026-03-30");
    let q = e.apps.queue(&officer("IL"), now).await.unwrap();
    let ids: Vec<&str> = q.iter().map(|x| x.application_id.as_str()).collect();
    assert_eq!(ids, [old.as_str(), mid.as_str(), ccl.as_str()]);
    assert!(
        !q[0].overdue && q[0].due_soon,
        "due 1 April, 2 business days away"
    );
    assert!(!q[1].due_soon && !q[2].due_soon);

    // The deadline passes: the timer marks it overdue and it stays first.
    assert_eq!(e.apps.fire_due(at("2026-04-02")).await.unwrap(), 1);
    let q = e
        .apps
        .queue(&officer("IL"), at("2026-04-02"))
        .await
        .unwrap();
    assert_eq!(q[0].application_id, old);
    assert!(q[0].overdue && !q[0].due_soon);
    assert!(!q[1].overdue);

    // Each officer sees their own jurisdiction; clerks have no queue.
    let q = e.apps.queue(&officer("NY"), now).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].application_id, ny);
    assert_eq!(code(e.apps.queue(&clerk("IL"), now).await), "forbidden");
    assert_eq!(code(e.apps.queue(&citizen("oli"), now).await), "forbidden");

    // Decided applications leave the queue.
    e.apps
        .apply(
            &clerk("IL"),
            &old,
            Event::DocumentsReceived { training: None },
        )
        .await
        .unwrap();
    proceed(&e, &old).await;
    e.apps
        .apply(&officer("IL"), &old, Event::Approve)
        .await
        .unwrap();
    let q = e
        .apps
        .queue(&officer("IL"), at("2026-04-02"))
        .await
        .unwrap();
    assert!(q.iter().all(|x| x.application_id != old));
}

// ------------------------------------------------------- continuous evaluation

async fn a_pushed_record_moves_only_the_holders_permits(target: StorageTarget) {
    let e = env(target, "2026-03-02").await;
    let sam = issued_foid(&e, "sam", "k1").await.application.id;
    let tia = issued_foid(&e, "tia", "k1").await.application.id;
    // An application still in progress is not a permit: it stays as it is.
    let pending = e
        .apps
        .submit(
            &citizen("sam"),
            "k2",
            &submission("il-ccl", "sam", "1980-05-17"),
        )
        .await
        .unwrap()
        .application
        .id;
    let record = PushedRecord {
        record_id: "rapback-1".into(),
        source: "FBI Rap Back".into(),
        summary: "Arrest for aggravated assault, 2026-03-10".into(),
    };
    let sam_person = Person {
        given_name: " SAM ".into(),
        family_name: "citizen".into(),
        birth_date: "1980-05-17".into(),
    };
    assert_eq!(
        code(
            e.apps
                .record_pushed(&citizen("sam"), &sam_person, &record)
                .await
        ),
        "forbidden"
    );
    let moved = e
        .apps
        .record_pushed(&checks(), &sam_person, &record)
        .await
        .unwrap();
    assert_eq!(moved, [sam.as_str()]);
    assert_eq!(e.state(&sam).await, State::UnderReview);
    assert_eq!(e.state(&tia).await, State::Issued);
    assert_eq!(e.state(&pending).await, State::Submitted);
    // The same record again: nothing more.
    let lines = e
        .apps
        .get(&citizen("sam"), &sam)
        .await
        .unwrap()
        .timeline
        .len();
    assert!(
        e.apps
            .record_pushed(&checks(), &sam_person, &record)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        e.apps
            .get(&citizen("sam"), &sam)
            .await
            .unwrap()
            .timeline
            .len(),
        lines
    );
    // It is on the officer's queue, and the officer decides.
    let q = e
        .apps
        .queue(&officer("IL"), at("2026-03-03"))
        .await
        .unwrap();
    let entry = q.iter().find(|x| x.application_id == sam).expect("queued");
    assert_eq!(entry.state, "under_review");
    assert!(entry.permit_number.is_some());
    let v = e
        .apps
        .apply(&officer("IL"), &sam, Event::Reinstate)
        .await
        .unwrap();
    assert_eq!(v.application.state(), State::Issued);
    e.db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn continuous_evaluation_sqlite() {
    a_pushed_record_moves_only_the_holders_permits(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn continuous_evaluation_postgres() {
    a_pushed_record_moves_only_the_holders_permits(postgres_target()).await;
}

// ------------------------------------------------------------ timer loop

#[tokio::test]
async fn the_timer_loop_fires_what_is_due_and_stops_on_shutdown() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let id = submit(&e, "tim", "il-foid", "k1").await;
    // Past the 30-day decision deadline.
    e.set("2026-04-15");
    let (trigger, shutdown) = plaza_kernel::shutdown::channel();
    trigger.trigger();
    // Shut down already: one pass, then the loop returns.
    e.apps
        .clone()
        .run_timers(std::time::Duration::from_secs(3600), shutdown)
        .await;
    let timers = e.apps.timers(&id).await.unwrap();
    let deadline = timers
        .iter()
        .find(|t| t.kind == "decision_deadline")
        .expect("armed at submission");
    assert_ne!(deadline.fired, 0, "{timers:?}");
    let stored = store::get(&e.db, &id).await.unwrap().unwrap();
    assert!(stored.progress.overdue);
    // Fired once: a second pass has nothing left to do.
    assert_eq!(e.apps.fire_due(at("2026-04-16")).await.unwrap(), 0);
}

#[tokio::test]
async fn an_appeal_is_refused_while_a_new_application_of_the_type_is_open() {
    let e = env(sqlite_target(), "2026-03-02").await;
    let il = officer("IL");
    let id = in_review(&e, "ivy", "k1").await;
    proceed(&e, &id).await;
    e.apps
        .apply(
            &il,
            &id,
            Event::Deny {
                reasons: vec!["incomplete".into()],
            },
        )
        .await
        .unwrap();
    // Denied: the person may apply afresh.
    let ivy = citizen("ivy");
    e.apps
        .submit(&ivy, "k2", &submission("il-foid", "ivy", "1980-05-17"))
        .await
        .unwrap();
    // Then appealing the old one would make two open applications.
    let appeal = Event::Appeal {
        grounds: "The documents were complete.".into(),
    };
    assert_eq!(
        code(e.apps.apply(&ivy, &id, appeal).await),
        "permits.duplicate"
    );
    let v = e.apps.get(&ivy, &id).await.unwrap();
    assert_eq!(v.application.state(), State::Denied, "nothing changed");
}
