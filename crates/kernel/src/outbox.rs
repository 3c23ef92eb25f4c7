//! The transactional outbox: a service writes its events in the same
//! transaction as the change, and a relay publishes them afterwards.
//!
//! Only one relay per service database publishes at a time (a lease in
//! `relay_lease`), so events leave in commit order and therefore in order per
//! aggregate. The relay claims rows with a lease of their own (on PostgreSQL
//! `FOR UPDATE SKIP LOCKED`), publishes, and deletes what the bus
//! acknowledged. A relay that dies mid-batch leaves its rows claimed until
//! the lease runs out; the next relay publishes them again, the bus drops
//! the duplicates it can recognise (JetStream message ids) and consumers'
//! inboxes drop the rest.
//!
//! On PostgreSQL the events' rows go to the database with the commit of
//! the transaction that wrote them, in the same round trip.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;
use tokio::sync::Notify;

use crate::Error;
use crate::bus::{Bus, Envelope};
use crate::clock::now_ms;
use crate::db::{Db, Dialect, Tx};
use crate::shutdown::Shutdown;

/// An event to be published once the transaction commits.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `<service>.<EventName>`.
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub payload: Vec<u8>,
}

/// The start of every statement that writes events.
const INSERT: &str = "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload, correlation_id, created_at_ms)";

/// Writes `event` into the outbox inside `tx`. Returns the event id.
///
/// On PostgreSQL the row is written with the commit, in its round trip
/// ([`Tx::defer`]): the event is in the outbox if and only if the
/// transaction commits, as when it is written at once.
pub async fn enqueue(tx: &mut Tx, event: NewEvent) -> Result<String, Error> {
    let mut ids = enqueue_all(tx, vec![event]).await?;
    Ok(ids.pop().expect("an id for the event"))
}

/// `INSERT INTO outbox` of `events` with every value written into the
/// statement (for [`Tx::defer`]). Text and bytes go in as hexadecimal and
/// are decoded by the database, so no value is ever quoted or escaped.
fn written_in(ids: &[String], events: &[NewEvent], correlation: &str, now: i64) -> String {
    fn text(s: &str) -> String {
        format!(
            "convert_from(decode('{}', 'hex'), 'UTF8')",
            crate::hex::encode(s.as_bytes())
        )
    }
    let rows: Vec<String> = ids
        .iter()
        .zip(events)
        .map(|(id, ev)| {
            format!(
                "({}, {}, {}, {}, decode('{}', 'hex'), {}, {now})",
                text(id),
                text(&ev.event_type),
                text(&ev.aggregate_type),
                text(&ev.aggregate_id),
                crate::hex::encode(&ev.payload),
                text(correlation),
            )
        })
        .collect();
    format!("{INSERT} VALUES {}", rows.join(", "))
}

/// Writes several events inside `tx` with one statement per hundred
/// events (on PostgreSQL, with the commit, as [`enqueue`] says). Returns
/// their ids, in order.
pub async fn enqueue_all(tx: &mut Tx, events: Vec<NewEvent>) -> Result<Vec<String>, Error> {
    if !events.is_empty() {
        tx.wrote_events();
    }
    let correlation = crate::telemetry::correlation_id_or_new();
    let now = now_ms();
    let ids: Vec<String> = events
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    if tx.defers() {
        for (ids, events) in ids.chunks(100).zip(events.chunks(100)) {
            tx.defer(&written_in(ids, events, &correlation, now));
        }
        return Ok(ids);
    }
    for (ids, chunk) in ids.chunks(100).zip(events.chunks(100)) {
        let sql = format!("{INSERT} VALUES {}", rows(1, chunk.len()));
        let q = sqlx::query(sqlx::AssertSqlSafe(sql));
        bind_rows(q, ids, chunk, &correlation, now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(ids)
}

/// `n` rows of an outbox `INSERT`'s `VALUES`, seven parameters each,
/// numbered from `$first`.
fn rows(first: usize, n: usize) -> String {
    crate::db::param_rows(
        first,
        n,
        &[None, None, None, None, None, None, Some("BIGINT")],
    )
}

/// Binds the values of [`rows`].
fn bind_rows<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ids: &'q [String],
    events: &'q [NewEvent],
    correlation: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for (id, ev) in ids.iter().zip(events) {
        q = q
            .bind(id.as_str())
            .bind(ev.event_type.as_str())
            .bind(ev.aggregate_type.as_str())
            .bind(ev.aggregate_id.as_str())
            .bind(ev.payload.as_slice())
            .bind(correlation)
            .bind(now);
    }
    q
}

/// Events written by a statement of the caller's own, with the change
/// they report, in one statement outside a transaction (PostgreSQL only:
/// its `WITH` clauses may write). The caller puts [`Staged::insert_if`]
/// into its statement's `WITH` clause, binds its own parameters and then
/// these ([`Staged::bind`]); once the statement has written its change,
/// it wakes the relay (`db.outbox_signal().notify()`).
///
/// The events are written if and only if the named clause returns a row,
/// and they commit with the statement: as atomic as a transaction, in one
/// round trip.
#[derive(Debug, Clone)]
pub struct Staged {
    ids: Vec<String>,
    events: Vec<NewEvent>,
    correlation: String,
    now: i64,
}

impl Staged {
    pub fn new(events: Vec<NewEvent>) -> Staged {
        Staged {
            ids: events
                .iter()
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect(),
            events,
            correlation: crate::telemetry::correlation_id_or_new(),
            now: now_ms(),
        }
    }

    /// The events' ids, in order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// How many parameters [`Staged::insert_if`]'s clause takes: seven per
    /// event.
    pub fn params(&self) -> usize {
        7 * self.events.len()
    }

    /// A `WITH` clause named `name` that writes the events when `gate` (an
    /// earlier clause's name) returns a row; its parameters are numbered
    /// from `$first` ([`Staged::params`] of them).
    pub fn insert_if(&self, name: &str, gate: &str, first: usize) -> String {
        format!(
            "{name} AS ({INSERT} \
             SELECT * FROM (VALUES {}) AS staged WHERE EXISTS (SELECT 1 FROM {gate}))",
            rows(first, self.events.len())
        )
    }

    /// Binds the events' values, in [`Staged::insert_if`]'s order.
    pub fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        bind_rows(q, &self.ids, &self.events, &self.correlation, self.now)
    }
}

/// Wakes a relay as soon as a transaction with events commits, instead of
/// waiting for its next poll.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }
    async fn notified(&self) {
        self.0.notified().await
    }
}

/// How a relay behaves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Unique per relay instance.
    pub instance: String,
    pub batch_size: i64,
    pub lease: Duration,
    /// How often to look for rows written by another process.
    pub poll: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            instance: uuid::Uuid::new_v4().to_string(),
            batch_size: 500,
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(200),
        }
    }
}

/// Publishes a service's outbox to the bus.
pub struct Relay {
    db: Db,
    bus: Arc<dyn Bus>,
    cfg: RelayConfig,
    signal: OutboxSignal,
    /// Until when this relay knows it holds the lease (ms; 0: it does not).
    held_until: std::sync::atomic::AtomicI64,
}

/// What one pass of the relay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub leader: bool,
    pub claimed: usize,
    pub published: usize,
}

impl Relay {
    pub fn new(db: Db, bus: Arc<dyn Bus>, cfg: RelayConfig) -> Relay {
        let signal = db.outbox_signal();
        Relay {
            db,
            bus,
            cfg,
            signal,
            held_until: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Runs until `shutdown`, then drains what is left (for up to `drain`).
    pub async fn run(self, mut shutdown: Shutdown, drain: Duration) {
        let service = self.db.service().to_owned();
        let mut signalled = false;
        loop {
            let pass = match self.pass_after(signalled).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(service, error = %crate::error::chain(&e), "outbox relay pass failed");
                    Pass::default()
                }
            };
            if pass.claimed as i64 >= self.cfg.batch_size && pass.published == pass.claimed {
                // A full batch: more may be waiting. After a shorter one,
                // any commit with events since the read has raised the signal.
                continue;
            }
            signalled = tokio::select! {
                _ = self.signal.notified() => true,
                _ = tokio::time::sleep(self.cfg.poll) => false,
                _ = shutdown.wait() => break,
            };
        }
        let deadline = tokio::time::Instant::now() + drain;
        while tokio::time::Instant::now() < deadline {
            match self.pass().await {
                Ok(p) if p.claimed == 0 => break,
                Ok(p) if p.published < p.claimed => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(service, error = %crate::error::chain(&e), "outbox drain failed");
                    break;
                }
            }
        }
        let _ = sqlx::query("DELETE FROM relay_lease WHERE holder = $1")
            .bind(&self.cfg.instance)
            .execute(self.db.reader())
            .await;
        let left = self.pending().await.unwrap_or(-1);
        tracing::info!(service, left, "outbox relay stopped");
    }

    /// Takes the lease if free, claims a batch, publishes it, deletes what
    /// the bus acknowledged.
    ///
    /// While the relay's lease is fresh (at least half of it to run) no
    /// other relay may publish, and every claim another relay made ended
    /// with its lease: the batch is a plain read, and what the bus
    /// acknowledged is deleted with one statement, no transaction around
    /// it. A relay that dies between the two publishes its batch again
    /// (duplicates, which inboxes drop; nothing lost).
    ///
    /// When the relay takes or renews its lease, on PostgreSQL the batch is
    /// deleted as it is read (`DELETE … RETURNING`, its rows picked `FOR
    /// UPDATE SKIP LOCKED`) in a transaction that stays open while it is
    /// published and commits once all of it is: a relay that dies lets go
    /// of its rows at once, and a batch published in part is rolled back,
    /// then only its published part deleted. On SQLite a write transaction
    /// cannot stay open that long (it would stop every writer), so rows are
    /// claimed with a lease of their own instead.
    ///
    /// A pass that finds the outbox empty (most wake-ups: a commit without
    /// events) costs one read and no write, and the lease is renewed only
    /// once half of it has run: a busy service's commits do not each turn
    /// into a write of the relay's own.
    pub async fn pass(&self) -> Result<Pass, Error> {
        self.pass_after(false).await
    }

    /// A pass; `signalled`: a commit of this process wrote events since
    /// the last pass read, so the outbox is not looked at first to see
    /// whether it is empty.
    async fn pass_after(&self, signalled: bool) -> Result<Pass, Error> {
        let pass = self.pass_once(signalled).await;
        if pass.is_err() {
            // Whatever was written may not have committed: take the lease
            // again, from the database, on the next pass.
            self.held_until
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        pass
    }

    async fn pass_once(&self, signalled: bool) -> Result<Pass, Error> {
        use std::sync::atomic::Ordering;
        let service = self.db.service().to_owned();
        let now = now_ms();
        let until = now + self.cfg.lease.as_millis() as i64;
        let held_until = self.held_until.load(Ordering::Relaxed);
        let half = self.cfg.lease.as_millis() as i64 / 2;
        let fresh = held_until - half > now;
        let plain_read = fresh;
        if !plain_read
            && !signalled
            && sqlx::query("SELECT id FROM outbox LIMIT 1")
                .fetch_optional(self.db.reader())
                .await?
                .is_none()
        {
            metrics::gauge!("plaza_outbox_lag_seconds", "service" => service).set(0.0);
            return Ok(Pass {
                leader: held_until > now,
                ..Pass::default()
            });
        }
        const COLUMNS: &str = "id, event_id, event_type, aggregate_type, aggregate_id, payload, correlation_id, created_at_ms";
        let (rows, open_tx) = if plain_read {
            // The lease is this relay's for at least half its length, and
            // every claim another relay made ended with its lease, before
            // this one began: no other relay publishes, so there is nothing
            // to claim, and the batch is a plain read, without the writer.
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM outbox ORDER BY id LIMIT $1"
            )))
            .bind(self.cfg.batch_size)
            .fetch_all(self.db.reader())
            .await?;
            (rows, None)
        } else {
            let mut tx = self.db.begin().await?;
            let leader = fresh
                || sqlx::query(
                    "INSERT INTO relay_lease (name, holder, until_ms) VALUES ('outbox', $1, $2)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                     WHERE relay_lease.holder = excluded.holder OR relay_lease.until_ms < $3",
                )
                .bind(&self.cfg.instance)
                .bind(until)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
            if !leader {
                self.held_until.store(0, Ordering::Relaxed);
                tx.commit().await?;
                return Ok(Pass::default());
            }
            // Rows are claimed until the relay's lease ends, never beyond it: a
            // relay that takes over after the lease must find every row this one
            // claimed free again, or it would publish later events first.
            let claim_until = if fresh {
                held_until
            } else {
                self.held_until.store(until, Ordering::Relaxed);
                until
            };
            match self.db.dialect() {
                Dialect::Postgres => {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM outbox WHERE id IN
                             (SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                         RETURNING {COLUMNS}"
                    )))
                    .bind(self.cfg.batch_size)
                    .fetch_all(&mut *tx)
                    .await?;
                    (rows, Some(tx))
                }
                Dialect::Sqlite => {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE outbox SET claimed_by = $1, claimed_until_ms = $2, attempts = attempts + 1
                         WHERE id IN (SELECT id FROM outbox
                                      WHERE claimed_until_ms IS NULL OR claimed_until_ms < $3 OR claimed_by = $1
                                      ORDER BY id LIMIT $4)
                         RETURNING {COLUMNS}"
                    )))
                    .bind(&self.cfg.instance)
                    .bind(claim_until)
                    .bind(now)
                    .bind(self.cfg.batch_size)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    (rows, None)
                }
            }
        };
        let mut batch: Vec<(i64, Envelope)> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    Envelope {
                        id: r.try_get(1)?,
                        event_type: r.try_get(2)?,
                        aggregate_type: r.try_get(3)?,
                        aggregate_id: r.try_get(4)?,
                        payload: Bytes::from(r.try_get::<Vec<u8>, _>(5)?),
                        correlation_id: r.try_get(6)?,
                        occurred_at_ms: r.try_get(7)?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        if batch.is_empty() {
            if let Some(tx) = open_tx {
                tx.commit().await?;
            }
            metrics::gauge!("plaza_outbox_lag_seconds", "service" => service).set(0.0);
            return Ok(Pass {
                leader: true,
                ..Pass::default()
            });
        }
        batch.sort_by_key(|(id, _)| *id);
        let envelopes: Vec<Envelope> = batch.iter().map(|(_, e)| e.clone()).collect();
        let published = match self.bus.publish(&envelopes).await {
            Ok(n) => n.min(batch.len()),
            Err(e) => {
                tracing::warn!(service, error = %e, "publishing events failed");
                0
            }
        };
        let done_at = now_ms();
        for (_, ev) in &batch[..published] {
            metrics::histogram!("plaza_outbox_delivery_seconds", "service" => service.clone())
                .record((done_at - ev.occurred_at_ms).max(0) as f64 / 1000.0);
        }
        metrics::counter!("plaza_outbox_published_total", "service" => service.clone())
            .increment(published as u64);
        let ids = |slice: &[(i64, Envelope)]| {
            slice
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        // A batch deleted as it was read: its transaction decides (below).
        // Otherwise each statement is a transaction of its own on a write
        // connection: deleting what was published and releasing what was
        // not (SQLite's claims) are each whole, and either order of them is
        // correct.
        let delete = (published > 0).then(|| {
            format!(
                "DELETE FROM outbox WHERE id IN ({})",
                ids(&batch[..published])
            )
        });
        let release =
            (published < batch.len() && self.db.dialect() == Dialect::Sqlite).then(|| {
                // Release the rest so the next pass takes them first, in order.
                format!(
                    "UPDATE outbox SET claimed_by = NULL, claimed_until_ms = NULL
                 WHERE claimed_by = $1 AND id IN ({})",
                    ids(&batch[published..])
                )
            });
        match open_tx {
            // The batch was deleted as it was read: all published, that
            // commits; otherwise the whole batch comes back, and what was
            // published goes on its own.
            Some(tx) if published == batch.len() => tx.commit().await?,
            Some(tx) => {
                tx.rollback().await?;
                if let Some(sql) = delete {
                    let mut w = self.db.write_alone().await?;
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *w)
                        .await?;
                }
            }
            None if delete.is_some() || release.is_some() => {
                let mut w = self.db.write_alone().await?;
                if let Some(sql) = delete {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *w)
                        .await?;
                }
                if let Some(sql) = release {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&self.cfg.instance)
                        .execute(&mut *w)
                        .await?;
                }
            }
            None => {}
        }
        // The oldest event by id (the primary key), not MIN() over the table:
        // a scan of a large backlog on every pass would slow the relay down.
        // A short batch published whole was all there was when it was read;
        // what came since is the next pass's.
        let drained = published == batch.len() && (batch.len() as i64) < self.cfg.batch_size;
        let oldest: Option<i64> = if drained {
            None
        } else {
            sqlx::query("SELECT created_at_ms FROM outbox ORDER BY id LIMIT 1")
                .fetch_optional(self.db.reader())
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
        };
        let lag = oldest
            .map(|t| (now_ms() - t).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        metrics::gauge!("plaza_outbox_lag_seconds", "service" => service).set(lag);
        Ok(Pass {
            leader: true,
            claimed: batch.len(),
            published,
        })
    }

    /// Events not yet published.
    pub async fn pending(&self) -> Result<i64, Error> {
        pending(&self.db).await
    }
}

/// Events in a service's outbox not yet published.
pub async fn pending(db: &Db) -> Result<i64, Error> {
    Ok(sqlx::query("SELECT COUNT(*) FROM outbox")
        .fetch_one(db.reader())
        .await?
        .try_get(0)?)
}
