//! Storage: one code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Every service owns its own database: a file `<data-dir>/<service>.db` on
//! SQLite, or a schema named after the service on PostgreSQL. Queries go
//! through sqlx's `Any` driver with `$n` placeholders, which both engines
//! accept; the few places where the engines differ ask [`Db::dialect`].
//!
//! SQLite allows one writer at a time, so writes go through one connection
//! (transactions start with `BEGIN IMMEDIATE`, so a second process waits on
//! the busy timeout instead of failing half-way); reads use up to eight
//! connections of their own. On PostgreSQL transactions and reads have up
//! to eight connections each. The busiest write transactions run on a
//! thread of the database's own ([`Db::on_writer`]), so the one writer is
//! held no longer than their statements take.
//!
//! The database holds these connections itself instead of in sqlx's pools
//! (see `conns`): a pool tests every connection that comes back with a
//! round trip, a hop to the connection's thread and back on SQLite, for
//! every read and every transaction. A PostgreSQL connection that died
//! while idle fails its next statement, which the caller sees as a
//! retryable error, and is closed instead of reused; a transaction that
//! finds its connection dead begins on a new one.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use sqlx::Executor;

use crate::Error;

mod conns;
pub mod lite;

use conns::Conns;
pub use conns::{Readers, Tx};

/// Which SQL engine sits behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where a service's data lives, resolved from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// One SQLite file per service inside this folder.
    DataDir(PathBuf),
    /// A PostgreSQL server; each service gets a schema. `schema_prefix` lets
    /// tests (or two Plaza installations) share one database without meeting.
    Postgres { url: String, schema_prefix: String },
}

impl StorageTarget {
    /// The schema (PostgreSQL) or file stem (SQLite) for a service.
    pub fn describe(&self, service: &str) -> String {
        match self {
            StorageTarget::DataDir(dir) => dir.join(format!("{service}.db")).display().to_string(),
            StorageTarget::Postgres { schema_prefix, .. } => {
                format!("postgres schema {schema_prefix}{service}")
            }
        }
    }
}

/// A service's database.
#[derive(Clone, Debug)]
pub struct Db {
    read: Readers,
    writers: Arc<Conns>,
    dialect: Dialect,
    service: String,
    signal: crate::outbox::OutboxSignal,
    /// SQLite only: the thread write transactions run on (started on first
    /// use), see [`Db::on_writer`].
    writer_thread: Option<Arc<OnceLock<WriterThread>>>,
}

impl Db {
    /// Opens (creating when missing) the database of `service`.
    pub async fn open(target: &StorageTarget, service: &str) -> Result<Db, Error> {
        Self::open_with(target, service, false).await
    }

    /// As [`Db::open`], for data that must survive a power cut, not only a
    /// crash: on SQLite every commit is synced (`synchronous=FULL`) instead
    /// of every checkpoint. PostgreSQL commits are synced either way.
    pub async fn open_durable(target: &StorageTarget, service: &str) -> Result<Db, Error> {
        Self::open_with(target, service, true).await
    }

    async fn open_with(
        target: &StorageTarget,
        service: &str,
        full_sync: bool,
    ) -> Result<Db, Error> {
        lite::install_drivers();
        match target {
            StorageTarget::DataDir(dir) => Self::open_sqlite(dir, service, full_sync).await,
            StorageTarget::Postgres { url, schema_prefix } => {
                Self::open_postgres(url, &format!("{schema_prefix}{service}"), service).await
            }
        }
    }

    async fn open_sqlite(dir: &Path, service: &str, full_sync: bool) -> Result<Db, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            what: format!("creating data folder {}", dir.display()),
            source: e,
        })?;
        let path = dir.join(format!("{service}.db"));
        let url = lite::url(&path);
        let writers = Arc::new(Conns::new(
            url.clone(),
            Arc::new(move |conn| sqlite_pragmas(conn, full_sync)),
            "BEGIN IMMEDIATE",
            1,
        ));
        // The file exists, in WAL mode, before the readers open it.
        drop(writers.alone().await?);
        let read = Readers(Arc::new(Conns::new(
            url,
            Arc::new(|conn| sqlite_pragmas(conn, false)),
            "BEGIN",
            8,
        )));
        Ok(Db {
            read,
            writers,
            dialect: Dialect::Sqlite,
            service: service.to_owned(),
            signal: Default::default(),
            writer_thread: Some(Default::default()),
        })
    }

    async fn open_postgres(url: &str, schema: &str, service: &str) -> Result<Db, Error> {
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::Invalid(format!(
                "schema name {schema:?} may hold only letters, digits and _"
            )));
        }
        // Create the schema with a plain connection first, so the
        // database's connections can put it on their search path.
        {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .await
            .or_else(ignore_concurrent_create)?;
            sqlx::Connection::close(conn).await?;
        }
        let set_path: std::sync::Arc<str> = format!("SET search_path TO {schema}").into();
        let setup: conns::Setup = Arc::new(move |conn| {
            let path = set_path.clone();
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(path.to_string())).await?;
                Ok(())
            })
        });
        let writers = Arc::new(Conns::new(url.to_owned(), setup.clone(), "BEGIN", 8).deferring());
        let read = Readers(Arc::new(Conns::new(url.to_owned(), setup, "BEGIN", 8)));
        Ok(Db {
            read,
            writers,
            dialect: Dialect::Postgres,
            service: service.to_owned(),
            signal: Default::default(),
            writer_thread: None,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The connections for reads, used as a pool: `.fetch_one(db.reader())`.
    pub fn reader(&self) -> &Readers {
        &self.read
    }

    /// A write connection on which each statement commits on its own (the
    /// outbox relay's claims and deletions, a write that is whole in one
    /// statement), used as a transaction is (`&mut *w`).
    pub async fn write_alone(&self) -> Result<Tx, Error> {
        Ok(self.writers.alone().await?)
    }

    /// Starts a write transaction. How long it waited for the writer (on
    /// SQLite, the one write connection) is the metric
    /// `plaza_db_begin_wait_seconds`.
    pub async fn begin(&self) -> Result<Tx, Error> {
        let asked = std::time::Instant::now();
        let tx = self.writers.begin().await?;
        metrics::histogram!("plaza_db_begin_wait_seconds", "service" => self.service.clone())
            .record(asked.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// Runs `work` — a write transaction, begun and committed inside it — on
    /// this database's writer thread, and returns what it returns.
    ///
    /// SQLite has one writer connection, so write transactions queue for it.
    /// Run on the runtime's threads, a transaction that awaits anything
    /// (a lock, another task) waits behind whatever else is runnable, and
    /// the writer stays held meanwhile; its statements also take a runtime
    /// thread for as long as SQLite works on them ([`lite`]). On a thread
    /// that runs nothing but write transactions it goes on at once.
    /// PostgreSQL has no single writer: there `work` is a task of the
    /// runtime's.
    ///
    /// Either way `work` runs to its end even when the caller stops
    /// waiting, so it never stops half-way through its own transaction; the
    /// correlation id and the sealed caller go with it. A panic in `work`
    /// is the caller's.
    pub async fn on_writer<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let span = tracing::Span::current();
        let correlation = crate::telemetry::correlation_id();
        let caller = crate::auth::sealed_caller();
        let work = async move {
            let work = tracing::Instrument::instrument(work, span);
            match (correlation, caller) {
                (Some(id), Some(c)) => {
                    crate::telemetry::with_correlation(id, crate::auth::with_sealed_caller(c, work))
                        .await
                }
                (Some(id), None) => crate::telemetry::with_correlation(id, work).await,
                (None, Some(c)) => crate::auth::with_sealed_caller(c, work).await,
                (None, None) => work.await,
            }
        };
        let task = match &self.writer_thread {
            Some(cell) => cell
                .get_or_init(|| WriterThread::start(&self.service))
                .handle
                .spawn(work),
            None => tokio::spawn(work),
        };
        match task.await {
            Ok(out) => out,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Tasks are never aborted, and the writer thread's runtime
                // stops only when the last handle on this database is gone,
                // and `self` is one.
                Err(e) => unreachable!("database writer task stopped: {e}"),
            },
        }
    }

    /// Commits `tx` and, when it wrote events, wakes the outbox relay to
    /// publish them. A commit without events leaves the relay asleep.
    pub async fn commit(&self, tx: Tx) -> Result<(), Error> {
        let events = tx.has_events();
        tx.commit().await?;
        if events {
            self.signal.notify();
        }
        Ok(())
    }

    /// The signal [`Db::commit`] raises, for the relay to wait on.
    pub fn outbox_signal(&self) -> crate::outbox::OutboxSignal {
        self.signal.clone()
    }

    /// Closes the idle write connections and the read pool, waiting for
    /// reads in progress.
    pub async fn close(&self) {
        self.writers.close().await;
        self.read.0.close().await;
    }

    /// Drops the service's schema (PostgreSQL) — for tests that clean up.
    pub async fn drop_schema(&self) -> Result<(), Error> {
        if self.dialect == Dialect::Postgres {
            let schema: (String,) = sqlx::query_as("SELECT current_schema()::text")
                .fetch_one(&self.read)
                .await?;
            self.read
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    schema.0
                )))
                .await?;
        }
        Ok(())
    }
}

/// A thread with a runtime of its own for one SQLite database's write
/// transactions. It stops when the last [`Db`] handle holding it is gone.
#[derive(Debug)]
struct WriterThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl WriterThread {
    fn start(service: &str) -> WriterThread {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the database writer thread");
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("{service}-db-writer"))
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .expect("the database writer thread");
        WriterThread {
            handle,
            _stop: stop,
        }
    }
}

/// Per connection: WAL, foreign keys; every commit synced to disk when
/// `full_sync`, else every checkpoint. A lock another connection holds is
/// waited for by the connection itself (see [`lite`]). One statement at a
/// time, so that one that meets a lock is tried again alone.
fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    full_sync: bool,
) -> futures::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let sync = if full_sync {
            "PRAGMA synchronous=FULL"
        } else {
            "PRAGMA synchronous=NORMAL"
        };
        for sql in [sync, "PRAGMA foreign_keys=ON", "PRAGMA journal_mode=WAL"] {
            conn.execute(sql).await?;
        }
        Ok(())
    })
}

/// Two processes creating the same schema at once race inside PostgreSQL's
/// catalogue; the loser's error means the schema now exists.
fn ignore_concurrent_create(e: sqlx::Error) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Ok(sqlx::any::AnyQueryResult::default())
        }
        _ => Err(e),
    }
}

impl FromStr for Dialect {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" => Ok(Dialect::Postgres),
            other => Err(Error::Invalid(format!("unknown dialect {other}"))),
        }
    }
}

/// Milliseconds since the Unix epoch, as stored in every `*_ms` column.
pub type Millis = i64;

/// `n` rows of numbered parameters for a `VALUES` list, from `$first`, one
/// parameter per entry of `cols`: `Some(type)` casts it (`CAST($5 AS
/// BIGINT)`) where the database cannot tell its type, `None` leaves it bare.
/// `param_rows(3, 2, &[None, Some("BIGINT")])` is
/// `($3, CAST($4 AS BIGINT)), ($5, CAST($6 AS BIGINT))`.
pub fn param_rows(first: usize, n: usize, cols: &[Option<&str>]) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(n * cols.len() * 8);
    let mut p = first;
    for r in 0..n {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for (c, cast) in cols.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = match cast {
                Some(ty) => write!(sql, "CAST(${p} AS {ty})"),
                None => write!(sql, "${p}"),
            };
            p += 1;
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn param_rows_number_every_parameter_once_in_order() {
        assert_eq!(
            super::param_rows(3, 2, &[None, Some("BIGINT")]),
            "($3, CAST($4 AS BIGINT)), ($5, CAST($6 AS BIGINT))"
        );
        assert_eq!(super::param_rows(1, 1, &[None; 3]), "($1, $2, $3)");
        assert_eq!(super::param_rows(1, 0, &[None]), "");
    }
}
