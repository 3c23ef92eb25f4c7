//! The audit log on real storage: proofs against signed heads, and every
//! kind of tampering with the stored rows detected and pinpointed.

use std::sync::Arc;

use plaza_audit::merkle::{self, verify_consistency, verify_inclusion};
use plaza_audit::verify::{Finding, verify};
use plaza_audit::{AuditEvent, AuditLog, HeadSigner, open_db};
use plaza_kernel::clock::ManualClock;
use plaza_kernel::db::StorageTarget;
use plaza_kernel::testing::{postgres_target, sqlite_target};

fn event(i: u64) -> AuditEvent {
    AuditEvent {
        at_ms: 1_800_000_000_000 + i as i64,
        service: "offices".into(),
        actor: format!("staff-{}", i % 7),
        action: if i.is_multiple_of(3) {
            "offices.read".into()
        } else {
            "offices.update".into()
        },
        resource: format!("office/{}", i % 50),
        subject: i.is_multiple_of(5).then(|| format!("tok_{i:08x}")),
        purpose: "service".into(),
        correlation_id: format!("c{i}"),
        outcome: "ok".into(),
    }
}

async fn log_with(target: &StorageTarget, n: u64, heads_at: &[u64]) -> AuditLog {
    let db = open_db(target).await.unwrap();
    let log = AuditLog::open(
        db,
        HeadSigner::from_seed([7; 32]),
        Arc::new(ManualClock::new(1_800_000_000_000)),
    )
    .await
    .unwrap();
    let mut done = 0;
    for &h in heads_at.iter().chain(std::iter::once(&n)) {
        let batch: Vec<AuditEvent> = (done..h).map(event).collect();
        if !batch.is_empty() {
            log.append(&batch).await.unwrap();
        }
        done = h;
        log.sign_head().await.unwrap();
    }
    log
}

async fn proofs_check_out(target: StorageTarget) {
    let n = 1000;
    let log = log_with(&target, n, &[1, 100, 256, 513]).await;
    let leaves: Vec<merkle::Hash> = (0..n)
        .map(|i| merkle::leaf_hash(&event(i).canonical()))
        .collect();
    let heads = log.heads().await.unwrap();
    assert_eq!(
        heads.iter().map(|h| h.size).collect::<Vec<_>>(),
        [1, 100, 256, 513, 1000]
    );
    for h in &heads {
        assert_eq!(
            h.root,
            merkle::root_of(&leaves[..h.size as usize]),
            "head {} is the RFC 6962 root",
            h.size
        );
        assert!(h.verify_signature(&log.signer().public()));
        for index in [0, h.size / 3, h.size / 2, h.size - 1] {
            let proof = log.inclusion_proof(index, h.size).await.unwrap();
            verify_inclusion(index, h.size, &leaves[index as usize], &proof, &h.root).unwrap();
        }
    }
    for a in &heads {
        for b in heads.iter().filter(|b| b.size >= a.size) {
            let proof = log.consistency_proof(a.size, b.size).await.unwrap();
            verify_consistency(a.size, b.size, &a.root, &b.root, &proof).unwrap();
        }
    }
    assert!(log.inclusion_proof(1000, 1000).await.is_err());
    assert!(log.consistency_proof(0, 10).await.is_err());
    assert_eq!(log.entry(42).await.unwrap(), event(42));

    // A restarted process rebuilds the same tree from storage.
    let again = AuditLog::open(
        log.db().clone(),
        HeadSigner::from_seed([7; 32]),
        Arc::new(ManualClock::new(0)),
    )
    .await
    .unwrap();
    assert_eq!(again.head().await, log.head().await);
    again.append(&[event(1000)]).await.unwrap();
    let all: Vec<merkle::Hash> = (0..=n)
        .map(|i| merkle::leaf_hash(&event(i).canonical()))
        .collect();
    assert_eq!(again.head().await.1, merkle::root_of(&all));

    let report = verify(log.db().reader(), &[log.signer().public()], &|_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, n + 1);
    assert_eq!(report.heads_checked, 5);
    log.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_proofs_check_out_against_signed_heads() {
    proofs_check_out(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_proofs_check_out_against_signed_heads() {
    proofs_check_out(postgres_target()).await;
}

async fn findings_after(target: &StorageTarget, tamper: &[&str]) -> Vec<Finding> {
    let log = log_with(target, 600, &[300]).await;
    let pool = log.db().reader();
    for sql in tamper {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(pool)
            .await
            .unwrap();
    }
    let report = verify(pool, &[log.signer().public()], &|_, _| {})
        .await
        .unwrap();
    log.db().drop_schema().await.unwrap();
    report.findings
}

async fn tampering_is_detected_and_pinpointed(target: fn() -> StorageTarget, pg: bool) {
    let blob = |text: &str| {
        blob_hex(
            &text.bytes().map(|b| format!("{b:02x}")).collect::<String>(),
            pg,
        )
    };
    // An edited entry.
    let f = findings_after(
        &target(),
        &[&format!(
            "UPDATE audit_log SET entry = {} WHERE seq = 123",
            blob("edited")
        )],
    )
    .await;
    assert!(f.contains(&Finding::Edited { seq: 123 }), "{f:?}");
    assert!(f.contains(&Finding::HeadMismatch { size: 300 }), "{f:?}");

    // An entry edited together with its leaf hash: the stored subtree over
    // its block and the signed heads give it away.
    let forged = merkle::hex(&merkle::leaf_hash(b"forged"));
    let f = findings_after(
        &target(),
        &[&format!(
            "UPDATE audit_log SET entry = {}, leaf_hash = {} WHERE seq = 40",
            blob("forged"),
            blob_hex(&forged, pg)
        )],
    )
    .await;
    assert!(
        !f.iter().any(|x| matches!(x, Finding::Edited { .. })),
        "hash was forged consistently: {f:?}"
    );
    assert!(
        f.contains(&Finding::SubtreeMismatch {
            first: 32,
            last: 47
        }),
        "{f:?}"
    );
    assert!(
        f.contains(&Finding::HeadMismatch { size: 300 })
            && f.contains(&Finding::HeadMismatch { size: 600 }),
        "{f:?}"
    );

    // A deleted entry.
    let f = findings_after(&target(), &["DELETE FROM audit_log WHERE seq = 400"]).await;
    assert!(
        f.contains(&Finding::Missing { from: 400, to: 400 }),
        "{f:?}"
    );
    assert!(
        f.contains(&Finding::HeadBeyondLog {
            size: 600,
            entries: 599
        }),
        "{f:?}"
    );

    // Deleted entries at the end.
    let f = findings_after(&target(), &["DELETE FROM audit_log WHERE seq >= 550"]).await;
    assert_eq!(
        f,
        vec![Finding::HeadBeyondLog {
            size: 600,
            entries: 550
        }]
    );

    // Two entries swapped.
    let f = findings_after(
        &target(),
        &[
            "UPDATE audit_log SET seq = -1 WHERE seq = 10",
            "UPDATE audit_log SET seq = 10 WHERE seq = 11",
            "UPDATE audit_log SET seq = 11 WHERE seq = -1",
        ],
    )
    .await;
    assert!(f.contains(&Finding::OutOfOrder { seq: 11 }), "{f:?}");
    assert!(
        f.contains(&Finding::SubtreeMismatch { first: 0, last: 15 }),
        "{f:?}"
    );

    // Stored subtrees above the lowest level are checked too.
    let f = findings_after(
        &target(),
        &["DELETE FROM audit_nodes WHERE level = 5 AND idx = 0"],
    )
    .await;
    assert_eq!(f, vec![Finding::SubtreeMissing { first: 0, last: 31 }]);
    let zeros32 = "00".repeat(32);
    let f = findings_after(
        &target(),
        &[&format!(
            "UPDATE audit_nodes SET hash = {} WHERE level = 6 AND idx = 1",
            blob_hex(&zeros32, pg)
        )],
    )
    .await;
    assert_eq!(
        f,
        vec![Finding::SubtreeMismatch {
            first: 64,
            last: 127
        }]
    );

    // A tree head re-written to match altered entries has no valid signature.
    let zeros = "00".repeat(32);
    let f = findings_after(
        &target(),
        &[&format!(
            "UPDATE audit_tree_heads SET root = {} WHERE size = 300",
            blob_hex(&zeros, pg)
        )],
    )
    .await;
    assert!(
        f.contains(&Finding::BadSignature {
            size: 300,
            key_id: HeadSigner::from_seed([7; 32]).key_id
        }),
        "{f:?}"
    );
    assert!(f.contains(&Finding::HeadMismatch { size: 300 }), "{f:?}");
}

/// A byte literal: X'..' on SQLite, '\x..'::bytea on PostgreSQL.
fn blob_hex(hex: &str, pg: bool) -> String {
    if pg {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    }
}

#[tokio::test]
async fn sqlite_tampering_is_detected_and_pinpointed() {
    tampering_is_detected_and_pinpointed(sqlite_target, false).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_tampering_is_detected_and_pinpointed() {
    tampering_is_detected_and_pinpointed(postgres_target, true).await;
}

#[tokio::test]
async fn a_head_signed_by_an_untrusted_key_is_flagged() {
    let log = log_with(&sqlite_target(), 10, &[5]).await;
    let stranger = HeadSigner::from_seed([9; 32]);
    let report = verify(log.db().reader(), &[stranger.public()], &|_, _| {})
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);
    assert!(
        report
            .findings
            .iter()
            .all(|f| matches!(f, Finding::BadSignature { .. }))
    );
}

#[tokio::test]
async fn entries_dated_out_of_order_by_their_producers_are_not_tampering() {
    let db = open_db(&sqlite_target()).await.unwrap();
    let log = AuditLog::open(
        db,
        HeadSigner::from_seed([7; 32]),
        Arc::new(ManualClock::new(0)),
    )
    .await
    .unwrap();
    // Two producers whose clocks disagree: the later-arriving entry is older.
    let mut a = event(1);
    let mut b = event(2);
    a.at_ms = 2_000;
    b.at_ms = 1_000;
    log.append(&[a]).await.unwrap();
    log.append(&[b]).await.unwrap();
    log.sign_head().await.unwrap();
    let report = verify(log.db().reader(), &[log.signer().public()], &|_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.findings);
}

#[tokio::test]
async fn sqlite_a_second_writer_is_refused_instead_of_corrupting_the_tree() {
    a_second_writer_is_refused_instead_of_corrupting_the_tree(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_a_second_writer_is_refused_instead_of_corrupting_the_tree() {
    a_second_writer_is_refused_instead_of_corrupting_the_tree(postgres_target()).await;
}

async fn a_second_writer_is_refused_instead_of_corrupting_the_tree(target: StorageTarget) {
    let db = open_db(&target).await.unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let one = AuditLog::open(db.clone(), HeadSigner::from_seed([7; 32]), clock.clone())
        .await
        .unwrap();
    let two = AuditLog::open(db.clone(), HeadSigner::from_seed([7; 32]), clock)
        .await
        .unwrap();
    one.append(&[event(1)]).await.unwrap();
    let err = two.append(&[event(2)]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the log holds 1 entries but this process expected 0"),
        "{err}"
    );
    // More than one statement's worth: still refused, nothing written.
    let many: Vec<_> = (3..120).map(event).collect();
    let err = two.append(&many).await.unwrap_err();
    assert!(
        err.to_string().contains("another process appended"),
        "{err}"
    );
    // The first writer goes on, in as many statements.
    one.append(&many).await.unwrap();
    let report = verify(db.reader(), &[one.signer().public()], &|_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, 118);
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_persons_entries_are_found_before_and_after_the_subject_index_catches_up() {
    let log = log_with(&sqlite_target(), 300, &[]).await;
    // Entries 0, 5, 10… have subjects; make two concern one person.
    let person = "tok_person";
    let mut mine = event(1);
    mine.subject = Some(person.into());
    log.append(&[mine.clone(), event(2), mine.clone()])
        .await
        .unwrap();
    let subjects = [person.to_owned()];
    let before = log.entries_about(&subjects, None, 50).await.unwrap();
    assert_eq!(
        before.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [302, 300],
        "read from the entries the index has not reached"
    );
    // Index in batches of 100 until caught up.
    let mut batches = 0;
    while log.index_subjects(100).await.unwrap() > 0 {
        batches += 1;
    }
    assert_eq!(batches, 4);
    let after = log.entries_about(&subjects, None, 50).await.unwrap();
    assert_eq!(after, before, "the same answer from the index");
    let paged = log.entries_about(&subjects, Some(302), 50).await.unwrap();
    assert_eq!(paged.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [300]);
    // Another subject's entries are not this person's.
    let other = log
        .entries_about(&[format!("tok_{:08x}", 10)], None, 50)
        .await
        .unwrap();
    assert_eq!(other.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [10]);
}

#[tokio::test]
async fn events_delivered_together_are_appended_once_each_in_one_tree() {
    let log = log_with(&sqlite_target(), 10, &[]).await;
    let items: Vec<(String, AuditEvent)> =
        (10..20).map(|i| (format!("ev-{i}"), event(i))).collect();
    let borrowed: Vec<(&str, AuditEvent)> = items
        .iter()
        .map(|(id, e)| (id.as_str(), e.clone()))
        .collect();
    let appended = log
        .append_delivered_batch("audit-from-offices", &borrowed[..6])
        .await
        .unwrap();
    assert_eq!(appended, vec![true; 6]);
    // Redelivered with the rest (and one twice in the same batch): only the
    // new ones are appended.
    let mut again = borrowed.clone();
    again.push(borrowed[7].clone());
    let appended = log
        .append_delivered_batch("audit-from-offices", &again)
        .await
        .unwrap();
    assert_eq!(
        appended,
        [vec![false; 6], vec![true; 4], vec![false]].concat()
    );
    assert_eq!(log.head().await.0, 20);
    log.sign_head().await.unwrap();
    let report = verify(log.db().reader(), &[log.signer().public()], &|_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, 20);
    // The tree is the one appending them one by one builds.
    let single = log_with(&sqlite_target(), 20, &[]).await;
    assert_eq!(single.head().await.1, log.head().await.1);
}
