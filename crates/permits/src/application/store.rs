//! Applications, their timelines, issued permits, timers and pushed records
//! in the service's database. Writers take the caller's transaction, so a
//! transition, its timeline line, its outbox event, its timers and its
//! audit record commit together or not at all.

use plaza_kernel::db::{Db, Dialect, Tx};
use plaza_kernel::outbox::{self, NewEvent};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::state::{Progress, State, TimerKind};
use crate::Error;

/// What every timeline line tells subscribers (no personal data).
pub const APPLICATION_CHANGED: &str = "permits.ApplicationChanged";
/// Asks the checks service for a background check of an application.
pub const CHECK_REQUESTED: &str = "permits.CheckRequested";

/// An application as stored (the applicant still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub owner: String,
    pub type_id: String,
    pub jurisdiction: String,
    pub person_blind: String,
    pub open_key: Option<String>,
    pub applicant_sealed: String,
    /// The number of the permit this application renews.
    pub renews: Option<String>,
    pub progress: Progress,
    pub permit_number: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Application {
    pub fn state(&self) -> State {
        self.progress.state
    }
}

/// A line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at_ms: i64,
    pub from: String,
    pub to: String,
    pub actor: String,
    pub note: String,
}

const COLUMNS: &str = "id, owner, type_id, jurisdiction, person_blind, open_key, applicant_sealed, renews, progress, permit_number, created_ms, updated_ms";

fn row(r: &AnyRow) -> Result<Application, Error> {
    let id: String = r.try_get(0)?;
    let progress: String = r.try_get(8)?;
    let progress: Progress = serde_json::from_str(&progress)
        .map_err(|e| Error::Corrupt(format!("application {id}: progress: {e}")))?;
    Ok(Application {
        owner: r.try_get(1)?,
        type_id: r.try_get(2)?,
        jurisdiction: r.try_get(3)?,
        person_blind: r.try_get(4)?,
        open_key: r.try_get(5)?,
        applicant_sealed: r.try_get(6)?,
        renews: r.try_get(7)?,
        progress,
        permit_number: r.try_get(9)?,
        created_ms: r.try_get(10)?,
        updated_ms: r.try_get(11)?,
        id,
    })
}

fn lock_clause(db: &Db) -> &'static str {
    match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Application>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM permit_applications WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.reader())
        .await?
        .map(|r| row(&r))
        .transpose()
}

/// The application, locked for the rest of `tx` (PostgreSQL; SQLite's
/// write transaction holds the database already).
pub async fn lock(db: &Db, tx: &mut Tx, id: &str) -> Result<Option<Application>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permit_applications WHERE id = $1{}",
        lock_clause(db)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row(&r))
        .transpose()
}

/// The application a submission's idempotency key made: `(id, request hash)`.
pub async fn by_key(db: &Db, key: &str) -> Result<Option<(String, String)>, Error> {
    let r = sqlx::query("SELECT id, request_hash FROM permit_applications WHERE idem_key = $1")
        .bind(key)
        .fetch_optional(db.reader())
        .await?;
    Ok(match r {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// The open application holding `open_key` (one person's open application
/// of one type), if any.
pub async fn by_open_key(db: &Db, open_key: &str) -> Result<Option<Application>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM permit_applications WHERE open_key = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(open_key)
        .fetch_optional(db.reader())
        .await?
        .map(|r| row(&r))
        .transpose()
}

fn progress_json(p: &Progress) -> String {
    serde_json::to_string(p).expect("progress serialises")
}

pub async fn insert(
    tx: &mut Tx,
    a: &Application,
    idem_key: &str,
    request_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO permit_applications (id, idem_key, request_hash, owner, type_id, jurisdiction, person_blind, open_key, applicant_sealed, renews, state, progress, due_on, overdue, permit_number, created_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15, $15)",
    )
    .bind(&a.id)
    .bind(idem_key)
    .bind(request_hash)
    .bind(&a.owner)
    .bind(&a.type_id)
    .bind(&a.jurisdiction)
    .bind(&a.person_blind)
    .bind(&a.open_key)
    .bind(&a.applicant_sealed)
    .bind(&a.renews)
    .bind(a.progress.state.as_str())
    .bind(progress_json(&a.progress))
    .bind(a.progress.decision_due.map(|d| d.to_string()))
    .bind(i64::from(a.progress.overdue))
    .bind(a.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the workflow's record of `a` back.
pub async fn update(tx: &mut Tx, a: &Application, now_ms: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE permit_applications SET state = $1, progress = $2, due_on = $3, overdue = $4, open_key = $5, permit_number = $6, updated_ms = $7 WHERE id = $8",
    )
    .bind(a.progress.state.as_str())
    .bind(progress_json(&a.progress))
    .bind(a.progress.decision_due.map(|d| d.to_string()))
    .bind(i64::from(a.progress.overdue))
    .bind(&a.open_key)
    .bind(&a.permit_number)
    .bind(now_ms)
    .bind(&a.id)
    .execute(&mut **tx)
    .await
    .map_err(|e| match e {
        // Only `open_key` can collide: another application of the type is
        // open for the person.
        sqlx::Error::Database(d) if d.is_unique_violation() && a.permit_number.is_none() => {
            Error::Duplicate
        }
        other => other.into(),
    })?;
    Ok(())
}

/// Adds a line to the timeline and its `permits.ApplicationChanged` event.
pub async fn add_entry(tx: &mut Tx, app: &Application, entry: &Entry) -> Result<(), Error> {
    let id = app.id.as_str();
    let next: i64 = sqlx::query(
        "INSERT INTO permit_timeline (application_id, seq, at_ms, from_state, to_state, actor, note)
         SELECT $1, CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT), $2, $3, $4, $5, $6
         FROM permit_timeline WHERE application_id = $1 RETURNING seq",
    )
    .bind(id)
    .bind(entry.at_ms)
    .bind(&entry.from)
    .bind(&entry.to)
    .bind(&entry.actor)
    .bind(&entry.note)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    outbox::enqueue(
        tx,
        NewEvent {
            event_type: APPLICATION_CHANGED.into(),
            aggregate_type: "permit_application".into(),
            aggregate_id: id.to_owned(),
            payload: serde_json::to_vec(&serde_json::json!({
                "application_id": id,
                "owner": app.owner,
                "type_id": app.type_id,
                "jurisdiction": app.jurisdiction,
                "seq": next,
                "at_ms": entry.at_ms,
                "from": entry.from,
                "to": entry.to,
                "note": entry.note,
                "permit_number": app.permit_number,
            }))
            .expect("JSON"),
        },
    )
    .await?;
    Ok(())
}

/// Keeps the applicant's identifiers as vault tokens, for checks.
pub async fn set_subject_tokens(
    tx: &mut Tx,
    id: &str,
    tokens: &super::tokens::SubjectTokens,
) -> Result<(), Error> {
    sqlx::query("UPDATE permit_applications SET subject_tokens = $1 WHERE id = $2")
        .bind(serde_json::to_string(tokens).expect("JSON"))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Asks for a background check (an event for the checks service). The
/// subject travels as vault tokens, never as values.
pub async fn request_check(tx: &mut Tx, app: &Application) -> Result<(), Error> {
    let tokens: Option<String> =
        sqlx::query("SELECT subject_tokens FROM permit_applications WHERE id = $1")
            .bind(&app.id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
    let subject: Option<serde_json::Value> = tokens
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Error::Corrupt(format!("subject tokens of {}: {e}", app.id)))?;
    outbox::enqueue(
        tx,
        NewEvent {
            event_type: CHECK_REQUESTED.into(),
            aggregate_type: "permit_application".into(),
            aggregate_id: app.id.clone(),
            payload: serde_json::to_vec(&serde_json::json!({
                "application_id": app.id,
                "type_id": app.type_id,
                "jurisdiction": app.jurisdiction,
                "subject": subject,
            }))
            .expect("JSON"),
        },
    )
    .await?;
    Ok(())
}

pub async fn timeline(db: &Db, id: &str) -> Result<Vec<Entry>, Error> {
    let rows = sqlx::query(
        "SELECT at_ms, from_state, to_state, actor, note FROM permit_timeline WHERE application_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                at_ms: r.try_get(0)?,
                from: r.try_get(1)?,
                to: r.try_get(2)?,
                actor: r.try_get(3)?,
                note: r.try_get(4)?,
            })
        })
        .collect()
}

/// The next number of a permit series (`IL-FOID-2026`), from 1.
pub async fn next_number(tx: &mut Tx, prefix: &str) -> Result<i64, Error> {
    let n: i64 = sqlx::query(
        "INSERT INTO permit_number_seq (prefix, last) VALUES ($1, 1)
         ON CONFLICT (prefix) DO UPDATE SET last = permit_number_seq.last + 1
         RETURNING last",
    )
    .bind(prefix)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    Ok(n)
}

/// An issued permit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    pub number: String,
    pub application_id: String,
    pub type_id: String,
    pub jurisdiction: String,
    pub person_blind: String,
    pub issued_on: String,
    pub expires_on: String,
}

pub async fn insert_permit(tx: &mut Tx, p: &Permit) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO permits_issued (number, application_id, type_id, jurisdiction, person_blind, issued_on, expires_on) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.number)
    .bind(&p.application_id)
    .bind(&p.type_id)
    .bind(&p.jurisdiction)
    .bind(&p.person_blind)
    .bind(&p.issued_on)
    .bind(&p.expires_on)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn permit(db: &Db, number: &str) -> Result<Option<Permit>, Error> {
    let r = sqlx::query(
        "SELECT number, application_id, type_id, jurisdiction, person_blind, issued_on, expires_on FROM permits_issued WHERE number = $1",
    )
    .bind(number)
    .fetch_optional(db.reader())
    .await?;
    r.map(|r| {
        Ok(Permit {
            number: r.try_get(0)?,
            application_id: r.try_get(1)?,
            type_id: r.try_get(2)?,
            jurisdiction: r.try_get(3)?,
            person_blind: r.try_get(4)?,
            issued_on: r.try_get(5)?,
            expires_on: r.try_get(6)?,
        })
    })
    .transpose()
}

/// The ids of a person's applications that hold a permit now.
pub async fn permits_of_person(tx: &mut Tx, person_blind: &str) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT id FROM permit_applications WHERE person_blind = $1 AND state IN ('issued', 'suspended', 'under_review') ORDER BY created_ms, id",
    )
    .bind(person_blind)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(Error::from))
        .collect()
}

/// Arms a timer, replacing a pending one of the same kind.
pub async fn arm(
    tx: &mut Tx,
    application_id: &str,
    kind: TimerKind,
    due_at_ms: i64,
) -> Result<(), Error> {
    cancel(tx, application_id, kind).await?;
    sqlx::query(
        "INSERT INTO permit_timers (id, application_id, kind, due_at_ms, fired, fired_at_ms) VALUES ($1, $2, $3, $4, 0, NULL)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(application_id)
    .bind(kind.as_str())
    .bind(due_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Cancels the pending timer of this kind, if any.
pub async fn cancel(tx: &mut Tx, application_id: &str, kind: TimerKind) -> Result<(), Error> {
    sqlx::query(
        "UPDATE permit_timers SET fired = 2 WHERE application_id = $1 AND kind = $2 AND fired = 0",
    )
    .bind(application_id)
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A timer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: String,
    pub application_id: String,
    pub kind: String,
    pub due_at_ms: i64,
    /// 0 pending, 1 fired, 2 cancelled.
    pub fired: i64,
}

/// Claims the earliest pending timer due by `now_ms` inside `tx`: it is
/// marked fired only if no other process fired it first (the conditional
/// update), and on PostgreSQL rows another transaction holds are skipped.
pub async fn claim_due(db: &Db, tx: &mut Tx, now_ms: i64) -> Result<Option<Timer>, Error> {
    let skip = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "SELECT id, application_id, kind, due_at_ms FROM permit_timers WHERE fired = 0 AND due_at_ms <= $1 ORDER BY due_at_ms, id LIMIT 1{skip}"
    );
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let timer = Timer {
        id: r.try_get(0)?,
        application_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        due_at_ms: r.try_get(3)?,
        fired: 1,
    };
    let done = sqlx::query(
        "UPDATE permit_timers SET fired = 1, fired_at_ms = $1 WHERE id = $2 AND fired = 0",
    )
    .bind(now_ms)
    .bind(&timer.id)
    .execute(&mut **tx)
    .await?;
    Ok((done.rows_affected() == 1).then_some(timer))
}

pub async fn timers(db: &Db, application_id: &str) -> Result<Vec<Timer>, Error> {
    let rows = sqlx::query(
        "SELECT id, application_id, kind, due_at_ms, fired FROM permit_timers WHERE application_id = $1 ORDER BY due_at_ms, id",
    )
    .bind(application_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Timer {
                id: r.try_get(0)?,
                application_id: r.try_get(1)?,
                kind: r.try_get(2)?,
                due_at_ms: r.try_get(3)?,
                fired: r.try_get(4)?,
            })
        })
        .collect()
}

/// Records a pushed record; `false` when its id was seen before.
pub async fn insert_pushed(
    tx: &mut Tx,
    record_id: &str,
    person_blind: &str,
    source: &str,
    summary_sealed: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO permit_pushed_records (record_id, person_blind, source, summary_sealed, received_ms, permits_moved) VALUES ($1, $2, $3, $4, $5, 0)
         ON CONFLICT (record_id) DO NOTHING",
    )
    .bind(record_id)
    .bind(person_blind)
    .bind(source)
    .bind(summary_sealed)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_pushed_moved(tx: &mut Tx, record_id: &str, moved: i64) -> Result<(), Error> {
    sqlx::query("UPDATE permit_pushed_records SET permits_moved = $1 WHERE record_id = $2")
        .bind(moved)
        .bind(record_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A row of an officer's queue, before authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub id: String,
    pub owner: String,
    pub type_id: String,
    pub jurisdiction: String,
    pub state: String,
    pub due_on: String,
    pub overdue: bool,
    pub permit_number: Option<String>,
}

/// Applications of a jurisdiction on a decision (or review) clock,
/// overdue first, then by deadline.
pub async fn queue(db: &Db, jurisdiction: &str, limit: i64) -> Result<Vec<QueueRow>, Error> {
    let states: Vec<String> = State::ALL
        .into_iter()
        .filter(|s| s.clock_running() || *s == State::UnderReview)
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let sql = format!(
        "SELECT id, owner, type_id, jurisdiction, state, due_on, overdue, permit_number FROM permit_applications
         WHERE jurisdiction = $1 AND due_on IS NOT NULL AND state IN ({})
         ORDER BY overdue DESC, due_on, created_ms, id LIMIT $2",
        states.join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(jurisdiction)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(QueueRow {
                id: r.try_get(0)?,
                owner: r.try_get(1)?,
                type_id: r.try_get(2)?,
                jurisdiction: r.try_get(3)?,
                state: r.try_get(4)?,
                due_on: r.try_get(5)?,
                overdue: r.try_get::<i64, _>(6)? != 0,
                permit_number: r.try_get(7)?,
            })
        })
        .collect()
}
