//! Applications and their timelines.

use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, Dialect, Tx};
use plaza_kernel::outbox::{NewEvent, Staged};
use plaza_kernel::saga::SagaMove;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::Error;

/// An application as stored (the address still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub driver_id: String,
    pub owner: String,
    /// The citizen's caller, JSON.
    pub caller: String,
    pub jurisdiction: String,
    pub status: String,
    pub wants_real_id: bool,
    pub photo_id: Option<String>,
    pub address_sealed: Option<String>,
    pub delivery: Option<String>,
    pub office_id: Option<String>,
    pub intent_id: String,
    pub amount_due: i64,
    pub order_id: Option<String>,
    pub new_expires_on: String,
    pub tracking: Option<String>,
    pub refund_due: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at_ms: i64,
    pub status: String,
    pub note: String,
}

const COLUMNS: &str = "id, driver_id, owner, caller, jurisdiction, status, wants_real_id, photo_id, address_sealed, delivery, office_id, intent_id, amount_due, order_id, new_expires_on, tracking, refund_due, created_ms, updated_ms";

/// Statuses after which nothing more happens.
pub const FINAL: &[&str] = &["mailed", "ready_for_pickup", "failed", "cancelled"];

fn row(r: &AnyRow) -> Result<Application, Error> {
    Ok(Application {
        id: r.try_get(0)?,
        driver_id: r.try_get(1)?,
        owner: r.try_get(2)?,
        caller: r.try_get(3)?,
        jurisdiction: r.try_get(4)?,
        status: r.try_get(5)?,
        wants_real_id: r.try_get::<i64, _>(6)? != 0,
        photo_id: r.try_get(7)?,
        address_sealed: r.try_get(8)?,
        delivery: r.try_get(9)?,
        office_id: r.try_get(10)?,
        intent_id: r.try_get(11)?,
        amount_due: r.try_get(12)?,
        order_id: r.try_get(13)?,
        new_expires_on: r.try_get(14)?,
        tracking: r.try_get(15)?,
        refund_due: r.try_get::<i64, _>(16)? != 0,
        created_ms: r.try_get(17)?,
        updated_ms: r.try_get(18)?,
    })
}

pub fn address_aad(id: &str) -> String {
    format!("renewal/applications/{id}/address")
}

/// Seals the confirmed mailing lines.
pub fn seal_lines(key: &DataKey, id: &str, lines: &[String]) -> String {
    key.encrypt_text(&address_aad(id), &lines.join("\n"))
}

pub fn open_lines(key: &DataKey, app: &Application) -> Result<Vec<String>, Error> {
    match &app.address_sealed {
        None => Ok(Vec::new()),
        Some(s) => Ok(key
            .decrypt_text(&address_aad(&app.id), s)
            .map_err(|e| Error::Corrupt(format!("application {}: address: {e}", app.id)))?
            .lines()
            .map(str::to_owned)
            .collect()),
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Application>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM renewal_applications WHERE id = $1");
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
    let lock = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let sql = format!("SELECT {COLUMNS} FROM renewal_applications WHERE id = $1{lock}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row(&r))
        .transpose()
}

/// The idempotency record of a start: `(id, request hash)`.
pub async fn by_key(db: &Db, key: &str) -> Result<Option<(String, String)>, Error> {
    let r = sqlx::query("SELECT id, request_hash FROM renewal_applications WHERE idem_key = $1")
        .bind(key)
        .fetch_optional(db.reader())
        .await?;
    Ok(match r {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

pub async fn insert(
    tx: &mut Tx,
    a: &Application,
    idem_key: &str,
    request_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO renewal_applications (id, idem_key, request_hash, driver_id, owner, caller, jurisdiction, status, wants_real_id, intent_id, amount_due, new_expires_on, refund_due, open_driver, created_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $4, $13, $13)",
    )
    .bind(&a.id)
    .bind(idem_key)
    .bind(request_hash)
    .bind(&a.driver_id)
    .bind(&a.owner)
    .bind(&a.caller)
    .bind(&a.jurisdiction)
    .bind(&a.status)
    .bind(i64::from(a.wants_real_id))
    .bind(&a.intent_id)
    .bind(a.amount_due)
    .bind(&a.new_expires_on)
    .bind(a.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the changeable fields of `a` back.
pub async fn update(tx: &mut Tx, a: &Application, now_ms: i64) -> Result<(), Error> {
    let open = !FINAL.contains(&a.status.as_str());
    sqlx::query(
        "UPDATE renewal_applications SET status = $1, photo_id = $2, address_sealed = $3, delivery = $4, office_id = $5, order_id = $6, tracking = $7, refund_due = $8, open_driver = $9, updated_ms = $10 WHERE id = $11",
    )
    .bind(&a.status)
    .bind(&a.photo_id)
    .bind(&a.address_sealed)
    .bind(&a.delivery)
    .bind(&a.office_id)
    .bind(&a.order_id)
    .bind(&a.tracking)
    .bind(i64::from(a.refund_due))
    .bind(open.then(|| a.driver_id.clone()))
    .bind(now_ms)
    .bind(&a.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The move of [`move_status`]: `$1` the new status, `$2` the order, `$3`
/// whether it stays open, `$4` the time, `$5` the id, `$6` the old status.
const MOVE: &str = "UPDATE renewal_applications SET status = $1, order_id = COALESCE($2, order_id),
         open_driver = CASE WHEN $3 = 1 THEN driver_id ELSE NULL END, updated_ms = $4";

/// Moves application `id` from status `from` to `to` (with its order, when
/// `order_id` names one) in one statement, and returns it as it is after;
/// `None`, changing nothing, when it is not at `from`.
async fn move_status(
    tx: &mut Tx,
    id: &str,
    from: &str,
    to: &str,
    order_id: Option<&str>,
    now_ms: i64,
) -> Result<Option<Application>, Error> {
    let sql = format!("{MOVE} WHERE id = $5 AND status = $6 RETURNING {COLUMNS}");
    bind_move(&sql, id, from, to, order_id, now_ms)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row(&r))
        .transpose()
}

/// `sql` (a statement beginning with [`MOVE`]) with the move's six
/// parameters bound.
fn bind_move<'q>(
    sql: &'q str,
    id: &'q str,
    from: &'q str,
    to: &'q str,
    order_id: Option<&'q str>,
    now_ms: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to)
        .bind(order_id)
        .bind(i64::from(!FINAL.contains(&to)))
        .bind(now_ms)
        .bind(id)
        .bind(from)
}

/// On PostgreSQL, [`move_status`] and its timeline line (`$7`: the note)
/// as one statement, with `more` (further `WITH` clauses) before its end.
fn move_with_line_sql(more: &str) -> String {
    format!(
        "WITH {}{more}
         SELECT {COLUMNS} FROM moved",
        move_with_line_clauses("")
    )
}

/// The `moved` and `line` clauses of [`move_with_line_sql`], the move made
/// only when `also` (`AND …`, or nothing) holds as well.
fn move_with_line_clauses(also: &str) -> String {
    format!(
        "moved AS ({MOVE}, timeline_len = timeline_len + 1
                   WHERE id = $5 AND status = $6{also} RETURNING {COLUMNS}, timeline_len),
         line AS (INSERT INTO renewal_timeline (application_id, seq, at_ms, status, note)
                  SELECT id, timeline_len, $4, $1, $7 FROM moved RETURNING seq)"
    )
}

/// [`move_status`] with a line for the move in the timeline (status `to`,
/// `note`) and its news for the citizen, in `tx`.
#[allow(clippy::too_many_arguments)]
pub async fn move_with_entry(
    db: &Db,
    tx: &mut Tx,
    id: &str,
    from: &str,
    to: &str,
    order_id: Option<&str>,
    now_ms: i64,
    note: &str,
) -> Result<Option<Application>, Error> {
    if db.dialect() == Dialect::Sqlite {
        let Some(app) = move_status(tx, id, from, to, order_id, now_ms).await? else {
            return Ok(None);
        };
        add_entry(db, tx, &app, now_ms, to, note).await?;
        return Ok(Some(app));
    }
    let sql = move_with_line_sql("");
    let Some(app) = bind_move(&sql, id, from, to, order_id, now_ms)
        .bind(note)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row(&r))
        .transpose()?
    else {
        return Ok(None);
    };
    plaza_kernel::outbox::enqueue(tx, entry_event(id, &app.owner, to, note)).await?;
    Ok(Some(app))
}

/// On PostgreSQL, [`move_with_entry`] of application `id`, owned by
/// `owner`, as one statement outside a transaction; `None` on SQLite,
/// having done nothing, as when the application is not at `from`.
pub async fn move_alone_with_entry(
    db: &Db,
    id: &str,
    owner: &str,
    (from, to): (&str, &str),
    now_ms: i64,
    note: &str,
) -> Result<Option<Application>, Error> {
    if db.dialect() == Dialect::Sqlite {
        return Ok(None);
    }
    let events = Staged::new(vec![entry_event(id, owner, to, note)]);
    let sql = move_with_line_sql(&format!(",\n{}", events.insert_if("events", "moved", 8)));
    let moved = events
        .bind(bind_move(&sql, id, from, to, None, now_ms).bind(note))
        .fetch_optional(&mut *db.write_alone().await?)
        .await?
        .map(|r| row(&r))
        .transpose()?;
    if moved.is_some() {
        db.outbox_signal().notify();
    }
    Ok(moved)
}

/// On PostgreSQL, the end of application `id`'s saga in the statement that
/// moves the saga (`saga`): the application, owned by `owner`, moves
/// `from → to` with its timeline line and news only if the saga moved.
/// `None` when the saga did not move (nothing was written); otherwise the
/// application as moved, or `None` inside when it was not at `from`.
#[allow(clippy::too_many_arguments)]
pub async fn move_with_saga(
    db: &Db,
    saga: &SagaMove<'_>,
    id: &str,
    owner: &str,
    (from, to): (&str, &str),
    order_id: Option<&str>,
    now_ms: i64,
    note: &str,
) -> Result<Option<Option<Application>>, Error> {
    let events = Staged::new(vec![entry_event(id, owner, to, note)]);
    let gate = SagaMove::GATE;
    let first_saga = 8 + events.params();
    let sql = format!(
        "WITH {},
         {},
         {}
         SELECT m.*, {gate}.id FROM {gate} LEFT JOIN (SELECT {COLUMNS} FROM moved) AS m ON TRUE",
        saga.clauses(first_saga),
        move_with_line_clauses(&format!(" AND EXISTS (SELECT 1 FROM {gate})")),
        events.insert_if("events", "moved", 8),
    );
    let q = events.bind(bind_move(&sql, id, from, to, order_id, now_ms).bind(note));
    let Some(r) = saga
        .bind(q)
        .fetch_optional(&mut *db.write_alone().await?)
        .await?
    else {
        return Ok(None);
    };
    if r.try_get::<Option<String>, _>(0)?.is_none() {
        return Ok(Some(None));
    }
    db.outbox_signal().notify();
    Ok(Some(Some(row(&r)?)))
}

/// What the citizen is told of each new line of their timeline
/// (`renewal.StatusChanged`; identity mails it to the account's address).
pub const STATUS_CHANGED: &str = "renewal.StatusChanged";

/// The news of a new line in application `id`'s timeline.
fn entry_event(id: &str, owner: &str, status: &str, note: &str) -> NewEvent {
    NewEvent {
        event_type: STATUS_CHANGED.into(),
        aggregate_type: "renewal_application".into(),
        aggregate_id: id.to_owned(),
        payload: serde_json::to_vec(&serde_json::json!({
            "application_id": id, "owner": owner, "status": status, "note": note,
        }))
        .expect("JSON"),
    }
}

/// Adds a line to `app`'s timeline and tells the citizen (an event in the
/// same transaction). The line's number comes from the application's row
/// (`timeline_len`), which the caller has locked or changed in `tx`.
pub async fn add_entry(
    db: &Db,
    tx: &mut Tx,
    app: &Application,
    at_ms: i64,
    status: &str,
    note: &str,
) -> Result<(), Error> {
    let id = app.id.as_str();
    plaza_kernel::outbox::enqueue(tx, entry_event(id, &app.owner, status, note)).await?;
    const NUMBER: &str = "UPDATE renewal_applications SET timeline_len = timeline_len + 1 WHERE id = $1 RETURNING timeline_len";
    const LINE: &str = "INSERT INTO renewal_timeline (application_id, seq, at_ms, status, note)";
    match db.dialect() {
        Dialect::Postgres => {
            let sql = format!(
                "WITH numbered AS ({NUMBER}) {LINE} SELECT $1, timeline_len, $2, $3, $4 FROM numbered"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(at_ms)
                .bind(status)
                .bind(note)
                .execute(&mut **tx)
                .await?;
        }
        Dialect::Sqlite => {
            let seq: i64 = sqlx::query(NUMBER)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{LINE} VALUES ($1, $2, $3, $4, $5)"
            )))
            .bind(id)
            .bind(seq)
            .bind(at_ms)
            .bind(status)
            .bind(note)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

pub async fn timeline(db: &Db, id: &str) -> Result<Vec<Entry>, Error> {
    let rows = sqlx::query(
        "SELECT at_ms, status, note FROM renewal_timeline WHERE application_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                at_ms: r.try_get(0)?,
                status: r.try_get(1)?,
                note: r.try_get(2)?,
            })
        })
        .collect()
}

/// Applications whose payment must be refunded (a failed card order).
pub async fn refunds_due(db: &Db, limit: i64) -> Result<Vec<Application>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM renewal_applications WHERE refund_due = 1 ORDER BY updated_ms LIMIT $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(db.reader())
        .await?
        .iter()
        .map(row)
        .collect()
}
