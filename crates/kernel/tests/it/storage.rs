//! One storage suite, run on SQLite and on PostgreSQL.

use futures::FutureExt;
use plaza_kernel::db::{Dialect, StorageTarget};
use plaza_kernel::idempotency;
use plaza_kernel::migrate::{self, Migration};
use plaza_kernel::outbox::{self, NewEvent};
use plaza_kernel::telemetry;
use plaza_kernel::testing::{postgres_target, sqlite_target};

use crate::{WORLD, world};

async fn migrations_apply_once_and_refuse_edits(target: StorageTarget) {
    let db = world(&target).await;
    let again = migrate::apply(&db, &[("kernel", migrate::KERNEL), ("world", WORLD)])
        .await
        .unwrap();
    assert!(again.applied.is_empty(), "nothing new to apply: {again:?}");
    assert_eq!(again.already, 2);

    let edited = [Migration {
        version: 1,
        name: "world",
        sql: "CREATE TABLE other (x BIGINT);",
    }];
    let err = migrate::apply(&db, &[("world", &edited)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("edited after it was applied"),
        "{err}"
    );

    let older_build: [Migration; 0] = [];
    let err = migrate::apply(&db, &[("world", &older_build)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not know"), "{err}");

    let next = [
        WORLD[0],
        Migration {
            version: 2,
            name: "more",
            sql: "CREATE TABLE more_things (x BIGINT NOT NULL, b {{blob}});",
        },
    ];
    let r = migrate::apply(&db, &[("world", &next)]).await.unwrap();
    assert_eq!(r.applied, vec![("world".to_owned(), 2, "more".to_owned())]);
    db.drop_schema().await.unwrap();
}

async fn events_commit_with_the_change_or_not_at_all(target: StorageTarget) {
    let db = world(&target).await;
    let event = || NewEvent {
        event_type: "world.Thing".into(),
        aggregate_type: "thing".into(),
        aggregate_id: "t1".into(),
        payload: vec![1, 2, 3],
    };
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('k1', 's', 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue(&mut tx, event()).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        outbox::pending(&db).await.unwrap(),
        0,
        "a rolled-back change leaves no event"
    );

    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('k1', 's', 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue(&mut tx, event()).await.unwrap();
    db.commit(tx).await.unwrap();
    assert_eq!(outbox::pending(&db).await.unwrap(), 1);
    db.drop_schema().await.unwrap();
}

async fn idempotency_records_replay_and_refuse_other_requests(target: StorageTarget) {
    let db = world(&target).await;
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        idempotency::lookup(&mut tx, "s", "key-1", "h1")
            .await
            .unwrap(),
        None
    );
    idempotency::record(&mut tx, "s", "key-1", "h1", b"answer")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        idempotency::lookup(&mut tx, "s", "key-1", "h1")
            .await
            .unwrap(),
        Some(b"answer".to_vec())
    );
    let err = idempotency::lookup(&mut tx, "s", "key-1", "h2")
        .await
        .unwrap_err();
    assert_eq!(err.public().code, "idempotency_key_reused");
    assert_eq!(
        idempotency::lookup(&mut tx, "other-scope", "key-1", "h2")
            .await
            .unwrap(),
        None
    );
    tx.rollback().await.unwrap();
    db.drop_schema().await.unwrap();
}

async fn write_transactions_run_whole_on_the_writer(target: StorageTarget) {
    let db = world(&target).await;
    let sqlite = db.dialect() == Dialect::Sqlite;
    // SQLite's run on the database's own thread; both carry the caller's
    // correlation id.
    let (thread, correlation) = telemetry::with_correlation(
        "c-writer".into(),
        db.on_writer(async {
            (
                std::thread::current().name().map(str::to_owned),
                telemetry::correlation_id(),
            )
        }),
    )
    .await;
    assert_eq!(correlation.as_deref(), Some("c-writer"));
    assert_eq!(
        thread.as_deref() == Some("world-db-writer"),
        sqlite,
        "ran on {thread:?}"
    );

    // A caller that stops waiting does not cut the transaction short.
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    let (finished, done) = tokio::sync::oneshot::channel::<()>();
    let d = db.clone();
    let work = db.on_writer(async move {
        gate.await.expect("the test opens the gate");
        let mut tx = d.begin().await?;
        sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('w1', 's', 'x')")
            .execute(&mut *tx)
            .await?;
        d.commit(tx).await?;
        let _ = finished.send(());
        Ok::<(), plaza_kernel::Error>(())
    });
    assert!(
        tokio::time::timeout(std::time::Duration::ZERO, work)
            .await
            .is_err(),
        "the caller gave up before the gate opened"
    );
    go.send(()).unwrap();
    done.await.expect("the transaction ran to its end");
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE idem_key = 'w1'")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(held, 1);

    // A panic is the caller's, and the writer goes on.
    let panicked = std::panic::AssertUnwindSafe(db.on_writer(async {
        panic!("a write transaction's bug");
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    assert_eq!(db.on_writer(async { 7 }).await, 7);
    db.drop_schema().await.unwrap();
}

async fn a_dropped_transaction_is_rolled_back_before_the_next(target: StorageTarget) {
    let db = world(&target).await;
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('d1', 's', 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    // On SQLite this is the same, only, connection: it begins only once
    // the rollback has run (a second BEGIN inside the first would fail).
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('d2', 's', 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT idem_key FROM holds WHERE idem_key IN ('d1', 'd2')")
            .fetch_all(db.reader())
            .await
            .unwrap();
    assert_eq!(kept, vec!["d2".to_owned()]);
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_a_dropped_transaction_is_rolled_back_before_the_next() {
    a_dropped_transaction_is_rolled_back_before_the_next(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_a_dropped_transaction_is_rolled_back_before_the_next() {
    a_dropped_transaction_is_rolled_back_before_the_next(postgres_target()).await;
}

/// Ends the PostgreSQL session `pid` from a connection of its own.
async fn terminate(target: &StorageTarget, pid: i32) {
    use sqlx::Connection;
    let StorageTarget::Postgres { url, .. } = target else {
        unreachable!("PostgreSQL only")
    };
    let mut admin = sqlx::AnyConnection::connect(url).await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended, "session {pid} ended");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_connections_that_died_are_replaced() {
    let target = postgres_target();
    let db = world(&target).await;
    // A read's connection killed while idle: the next read may fail (as a
    // retryable error), the one after works on a new connection.
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.reader())
        .await
        .unwrap();
    terminate(&target, pid).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        let got: Result<i32, _> = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(db.reader())
            .await;
        answers.push(got.is_ok());
        if let Ok(now) = got {
            assert_ne!(now, pid, "a new session");
            break;
        }
    }
    assert_eq!(
        answers.first(),
        Some(&false),
        "the dead connection was tried"
    );
    assert_eq!(answers.last(), Some(&true), "then replaced: {answers:?}");

    // A transaction's connection killed while idle: the next transaction
    // begins on a new one.
    let mut tx = db.begin().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    terminate(&target, pid).await;
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ('r1', 's', 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE idem_key = 'r1'")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(n, 1);
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_write_transactions_run_whole_on_the_writer() {
    write_transactions_run_whole_on_the_writer(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_write_transactions_run_whole_on_the_writer() {
    write_transactions_run_whole_on_the_writer(postgres_target()).await;
}

#[tokio::test]
async fn sqlite_migrations_apply_once_and_refuse_edits() {
    migrations_apply_once_and_refuse_edits(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_migrations_apply_once_and_refuse_edits() {
    migrations_apply_once_and_refuse_edits(postgres_target()).await;
}

#[tokio::test]
async fn sqlite_events_commit_with_the_change_or_not_at_all() {
    events_commit_with_the_change_or_not_at_all(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_events_commit_with_the_change_or_not_at_all() {
    events_commit_with_the_change_or_not_at_all(postgres_target()).await;
}

#[tokio::test]
async fn sqlite_idempotency_records_replay_and_refuse_other_requests() {
    idempotency_records_replay_and_refuse_other_requests(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_idempotency_records_replay_and_refuse_other_requests() {
    idempotency_records_replay_and_refuse_other_requests(postgres_target()).await;
}

#[tokio::test]
async fn two_processes_migrating_at_once_both_succeed_on_sqlite() {
    let target = sqlite_target();
    let (a, b) = tokio::join!(world(&target), world(&target));
    let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM plaza_migrations")
        .fetch_one(a.reader())
        .await
        .unwrap();
    assert_eq!(n.0, 2);
    drop(b);
}
