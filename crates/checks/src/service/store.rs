//! The checks service's rows: requests, their answers, the examiners'
//! queue and the answers still to be told to the permits service.

use plaza_kernel::db::{Db, Dialect, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Error;

/// Where a check stands.
pub const PENDING: &str = "pending";
pub const DECIDED: &str = "decided";
pub const REVIEW: &str = "review";
pub const RESOLVED: &str = "resolved";

/// A check as stored (evidence still sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub ntn: String,
    pub request_id: String,
    pub application_id: String,
    pub state: String,
    pub type_id: String,
    pub subject_tokens: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub final_outcome: Option<String>,
    pub prohibitors: Vec<String>,
    pub summary: Option<String>,
    pub evidence_sealed: Option<String>,
    pub delayed_until: Option<String>,
    pub notify: Option<String>,
    pub notify_error: Option<String>,
    pub examiner: Option<String>,
    pub resolution_note: Option<String>,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
}

const COLUMNS: &str = "ntn, request_id, application_id, state, type_id, subject_tokens, status, outcome, final_outcome, prohibitors, summary, evidence_sealed, delayed_until, notify, notify_error, examiner, resolution_note, created_ms, decided_ms";

fn row(r: &AnyRow) -> Result<Stored, Error> {
    let prohibitors: String = r.try_get(9)?;
    Ok(Stored {
        ntn: r.try_get(0)?,
        request_id: r.try_get(1)?,
        application_id: r.try_get(2)?,
        state: r.try_get(3)?,
        type_id: r.try_get(4)?,
        subject_tokens: r.try_get(5)?,
        status: r.try_get(6)?,
        outcome: r.try_get(7)?,
        final_outcome: r.try_get(8)?,
        prohibitors: serde_json::from_str(&prohibitors)
            .map_err(|e| Error::Corrupt(format!("prohibitors: {e}")))?,
        summary: r.try_get(10)?,
        evidence_sealed: r.try_get(11)?,
        delayed_until: r.try_get(12)?,
        notify: r.try_get(13)?,
        notify_error: r.try_get(14)?,
        examiner: r.try_get(15)?,
        resolution_note: r.try_get(16)?,
        created_ms: r.try_get(17)?,
        decided_ms: r.try_get(18)?,
    })
}

/// A request to check, as the permits service sent it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub ntn: &'a str,
    pub request_id: &'a str,
    pub application_id: &'a str,
    pub state: &'a str,
    pub type_id: &'a str,
    pub subject_tokens: Option<&'a str>,
}

/// Records a request (pending); a request seen before is left alone.
pub async fn insert_request(tx: &mut Tx, r: &Request<'_>, now_ms: i64) -> Result<bool, Error> {
    let n = sqlx::query(
        "INSERT INTO checks (ntn, request_id, application_id, state, type_id, subject_tokens, status, prohibitors, notify_after_ms, lease_until_ms, attempts, created_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', '[]', 0, 0, 0, $7, $7)
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(r.ntn)
    .bind(r.request_id)
    .bind(r.application_id)
    .bind(r.state)
    .bind(r.type_id)
    .bind(r.subject_tokens)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn get(db: &Db, ntn: &str) -> Result<Option<Stored>, Error> {
    let q = format!("SELECT {COLUMNS} FROM checks WHERE ntn = $1");
    sqlx::query(sqlx::AssertSqlSafe(q))
        .bind(ntn)
        .fetch_optional(db.reader())
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// The newest check of an application.
pub async fn of_application(db: &Db, application_id: &str) -> Result<Option<Stored>, Error> {
    let q = format!(
        "SELECT {COLUMNS} FROM checks WHERE application_id = $1 ORDER BY created_ms DESC, ntn DESC LIMIT 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(q))
        .bind(application_id)
        .fetch_optional(db.reader())
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

pub async fn lock(tx: &mut Tx, db: &Db, ntn: &str) -> Result<Option<Stored>, Error> {
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let q = format!("SELECT {COLUMNS} FROM checks WHERE ntn = $1{lock}");
    sqlx::query(sqlx::AssertSqlSafe(q))
        .bind(ntn)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// Pending checks no worker holds, oldest first.
pub async fn claimable(db: &Db, now_ms: i64, limit: i64) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT ntn FROM checks WHERE status = 'pending' AND lease_until_ms < $1 ORDER BY status, created_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Takes for `lease_ms` those of the pending checks `ntns` that no other
/// worker has meanwhile, in one transaction: the ones taken.
pub async fn claim_all(
    db: &Db,
    ntns: &[String],
    now_ms: i64,
    lease_ms: i64,
) -> Result<Vec<String>, Error> {
    if ntns.is_empty() {
        return Ok(Vec::new());
    }
    let mut taken = Vec::with_capacity(ntns.len());
    let mut tx = db.begin().await?;
    for ntn in ntns {
        let n = sqlx::query(
            "UPDATE checks SET lease_until_ms = $1, attempts = attempts + 1, updated_ms = $2
             WHERE ntn = $3 AND status = 'pending' AND lease_until_ms < $2",
        )
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(ntn)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            taken.push(ntn.clone());
        }
    }
    db.commit(tx).await?;
    Ok(taken)
}

/// Takes a pending check for `lease_ms`; false when another worker has it.
pub async fn claim(db: &Db, ntn: &str, now_ms: i64, lease_ms: i64) -> Result<bool, Error> {
    Ok(!claim_all(db, &[ntn.to_owned()], now_ms, lease_ms)
        .await?
        .is_empty())
}

/// The automated answer.
pub struct Answer<'a> {
    pub status: &'a str,
    pub outcome: &'a str,
    pub prohibitors: &'a [String],
    pub summary: &'a str,
    pub evidence_sealed: &'a str,
    pub delayed_until: Option<&'a str>,
}

/// Records the answer of a pending check, and that permits is to be told
/// (by the caller at once; by the background pass from `retry_at_ms` if
/// that fails); false if it was no longer pending.
pub async fn answer(
    tx: &mut Tx,
    ntn: &str,
    a: &Answer<'_>,
    now_ms: i64,
    retry_at_ms: i64,
) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE checks SET status = $1, outcome = $2, final_outcome = $2, prohibitors = $3, summary = $4, evidence_sealed = $5,
                delayed_until = $6, notify = $2, notify_after_ms = $9, decided_ms = $7, updated_ms = $7
         WHERE ntn = $8 AND status = 'pending'",
    )
    .bind(a.status)
    .bind(a.outcome)
    .bind(serde_json::to_string(a.prohibitors).expect("JSON"))
    .bind(a.summary)
    .bind(a.evidence_sealed)
    .bind(a.delayed_until)
    .bind(now_ms)
    .bind(ntn)
    .bind(retry_at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// An examiner's decision.
pub struct Resolution<'a> {
    pub outcome: &'a str,
    pub prohibitors: &'a [String],
    pub examiner: &'a str,
    pub note: &'a str,
}

/// An examiner's decision on a check in review, to be told to permits (see
/// [`answer`] for `retry_at_ms`).
pub async fn resolve(
    tx: &mut Tx,
    ntn: &str,
    r: &Resolution<'_>,
    now_ms: i64,
    retry_at_ms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE checks SET status = 'resolved', final_outcome = $1, prohibitors = $2, examiner = $3, resolution_note = $4,
                notify = $1, notify_after_ms = $7, notify_error = NULL, updated_ms = $5
         WHERE ntn = $6",
    )
    .bind(r.outcome)
    .bind(serde_json::to_string(r.prohibitors).expect("JSON"))
    .bind(r.examiner)
    .bind(r.note)
    .bind(now_ms)
    .bind(ntn)
    .bind(retry_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Answers still to be told, due now.
pub async fn to_notify(db: &Db, now_ms: i64, limit: i64) -> Result<Vec<Stored>, Error> {
    let q = format!(
        "SELECT {COLUMNS} FROM checks WHERE notify IS NOT NULL AND notify_after_ms <= $1 ORDER BY notify_after_ms LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(q))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(row).collect()
}

/// The permits service has the answer `outcome` (or refused it for good,
/// with `error`): nothing more to tell, unless a newer answer came since.
pub async fn notified(
    db: &Db,
    ntn: &str,
    outcome: &str,
    error: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE checks SET notify = NULL, notify_error = $1, updated_ms = $2 WHERE ntn = $3 AND notify = $4",
    )
    .bind(error)
    .bind(now_ms)
    .bind(ntn)
    .bind(outcome)
    .execute(&mut *tx)
    .await?;
    db.commit(tx).await?;
    Ok(())
}

/// Tries telling again after `at_ms`.
pub async fn notify_later(db: &Db, ntn: &str, at_ms: i64) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE checks SET notify_after_ms = $1 WHERE ntn = $2")
        .bind(at_ms)
        .bind(ntn)
        .execute(&mut *tx)
        .await?;
    db.commit(tx).await?;
    Ok(())
}

/// The examiners' queue: checks in review, oldest first.
pub async fn queue(db: &Db, limit: i64) -> Result<Vec<Stored>, Error> {
    let q = format!(
        "SELECT {COLUMNS} FROM checks WHERE status = 'review' ORDER BY created_ms, ntn LIMIT $1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(q))
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(row).collect()
}
