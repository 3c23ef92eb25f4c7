//! Plaza's SQLite connection: what sqlx's queries see of it.

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::testing::temp_dir;
use sqlx::{Executor, Row};

async fn open(tag: &str) -> Db {
    Db::open(&StorageTarget::DataDir(temp_dir(tag)), "lite")
        .await
        .expect("open")
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn statements_run_on_the_callers_thread() {
    let db = open("lite-thread").await;
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.backend_name(), "SQLite (Plaza)");
    tx.execute("CREATE TABLE t (x BIGINT)").await.unwrap();
    db.commit(tx).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(n, 0);
    // sqlx's SQLite connection would have started one worker thread per
    // connection by now.
    assert_eq!(threads_named("sqlx-sqlite"), 0);
}

#[tokio::test]
async fn values_go_in_and_come_back_as_they_were() {
    let db = open("lite-values").await;
    let mut tx = db.begin().await.unwrap();
    tx.execute(
        "CREATE TABLE v (i BIGINT NOT NULL, r DOUBLE PRECISION, s TEXT, b BLOB, flag BIGINT)",
    )
    .await
    .unwrap();
    // `$2` before `$1`, and `$1` twice: arguments go by number, not place.
    let done = sqlx::query("INSERT INTO v (s, i, r, b, flag) VALUES ($2, $1, $3, $4, $5), ($2 || '!', $1 + 1, NULL, NULL, NULL)")
        .bind(-7_i64)
        .bind("zoë")
        .bind(2.5_f64)
        .bind(vec![0_u8, 255, 1])
        .bind(true)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 2);
    db.commit(tx).await.unwrap();

    let rows = sqlx::query("SELECT i, r, s, b, flag FROM v ORDER BY i")
        .fetch_all(db.reader())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<i64, _>("i"), -7);
    assert_eq!(rows[0].get::<i32, _>(0), -7);
    assert_eq!(rows[0].get::<f64, _>("r"), 2.5);
    assert_eq!(rows[0].get::<String, _>("s"), "zoë");
    assert_eq!(rows[0].get::<Vec<u8>, _>("b"), vec![0, 255, 1]);
    assert_eq!(rows[0].get::<i64, _>("flag"), 1);
    assert_eq!(rows[1].get::<i64, _>("i"), -6);
    assert_eq!(rows[1].get::<String, _>("s"), "zoë!");
    assert_eq!(rows[1].get::<Option<f64>, _>("r"), None);
    assert_eq!(rows[1].get::<Option<Vec<u8>>, _>("b"), None);
    assert!(rows[1].try_get::<String, _>("nope").is_err());

    // An update counts what it changed; a read changes nothing.
    let mut tx = db.begin().await.unwrap();
    let done = sqlx::query("UPDATE v SET flag = 0")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 2);
    let done = sqlx::query("SELECT * FROM v")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 0);
    let back: Option<(i64,)> = sqlx::query_as("UPDATE v SET flag = 2 WHERE i = $1 RETURNING flag")
        .bind(-6_i64)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(back, Some((2,)));
    db.commit(tx).await.unwrap();
}

#[tokio::test]
async fn several_statements_run_in_order() {
    let db = open("lite-several").await;
    let mut tx = db.begin().await.unwrap();
    // The index names a table the first statement creates.
    tx.execute(
        "CREATE TABLE a (x BIGINT); CREATE INDEX a_x ON a (x); INSERT INTO a VALUES (1), (2);",
    )
    .await
    .unwrap();
    db.commit(tx).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT sum(x) FROM a")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn refusals_are_database_errors_and_the_connection_goes_on() {
    let db = open("lite-errors").await;
    let mut tx = db.begin().await.unwrap();
    tx.execute("CREATE TABLE u (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
        .await
        .unwrap();
    sqlx::query("INSERT INTO u VALUES ($1, 1)")
        .bind("a")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("INSERT INTO u VALUES ($1, 2)")
        .bind("a")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    let sqlx::Error::Database(e) = &err else {
        panic!("not a database error: {err:?}")
    };
    assert!(e.is_unique_violation(), "{e}");
    assert_eq!(e.code().as_deref(), Some("1555"), "{e}");
    let err = sqlx::query("INSERT INTO u VALUES ($1, NULL)")
        .bind("b")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, sqlx::Error::Database(e) if e.kind() == sqlx::error::ErrorKind::NotNullViolation),
        "{err:?}"
    );
    let err = tx.execute("SELEC 1").await.unwrap_err();
    assert!(matches!(err, sqlx::Error::Database(_)), "{err:?}");
    // Too few arguments is the caller's mistake, said as such.
    let err = sqlx::query("SELECT $1, $2")
        .bind(1_i64)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("parameter 2"), "{err}");
    // The transaction still holds its first row.
    db.commit(tx).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM u")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_folder_with_spaces_and_percent_signs_opens() {
    let dir = temp_dir("lite-path").join("a b%20c");
    let db = Db::open(&StorageTarget::DataDir(dir.clone()), "lite")
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.execute("CREATE TABLE t (x BIGINT)").await.unwrap();
    db.commit(tx).await.unwrap();
    assert!(dir.join("lite.db").is_file(), "{}", dir.display());
}

#[tokio::test]
async fn a_lock_is_waited_for_without_holding_the_thread() {
    // Two handles on one file, on a runtime of one thread: the second
    // waits for the first's write lock while the first still needs the
    // thread to finish. SQLite's own busy handler would hold the thread
    // until its timeout and then fail.
    let target = StorageTarget::DataDir(temp_dir("lite-busy"));
    let first = Db::open(&target, "lite").await.unwrap();
    let second = Db::open(&target, "lite").await.unwrap();
    let mut tx = first.begin().await.unwrap();
    tx.execute("CREATE TABLE t (x BIGINT)").await.unwrap();
    let holder = async {
        tokio::task::yield_now().await;
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        first.commit(tx).await.unwrap();
    };
    let waiter = async {
        let mut tx = second.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        second.commit(tx).await.unwrap();
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        futures::future::join(holder, waiter),
    )
    .await
    .expect("both transactions commit");
    let xs: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
        .fetch_all(second.reader())
        .await
        .unwrap();
    assert_eq!(xs, [1, 2]);
}
