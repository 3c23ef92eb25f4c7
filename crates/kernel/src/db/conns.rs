//! Connections the database holds itself, for reads and for write
//! transactions.
//!
//! A pool tests every connection that comes back to it with a round trip
//! (on SQLite, a hop to the connection's thread and back) and returns it
//! from a task of its own: one more hop and one more task for every read
//! and every transaction, and on SQLite, with its one writer, the next
//! transaction waits for both. The connections here go straight back to
//! their free list. A transaction that ended without a commit is rolled back
//! first, and a connection whose rollback fails is closed, not reused.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyConnection, Connection, Either, Execute, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How a new connection is made ready (pragmas, search path).
pub(super) type Setup = Arc<
    dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> + Send + Sync,
>;

/// A set of connections: those write transactions run on, or those reads
/// run on.
pub(super) struct Conns {
    url: String,
    setup: Setup,
    /// How a transaction begins: `BEGIN IMMEDIATE` on SQLite, so that the
    /// write lock is taken at the start and a second process waits on the
    /// busy timeout instead of failing half-way.
    begin: &'static str,
    free: Mutex<Vec<AnyConnection>>,
    permits: Arc<Semaphore>,
    /// Transactions carry statements written out in full to the commit
    /// ([`Tx::defer`]): PostgreSQL, where each statement is a round trip.
    defer: bool,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns")
            .field("begin", &self.begin)
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// How long a transaction waits for a connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

impl Conns {
    pub(super) fn new(url: String, setup: Setup, begin: &'static str, max: usize) -> Conns {
        Conns {
            url,
            setup,
            begin,
            free: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            defer: false,
        }
    }

    /// These connections' transactions send deferred statements with their
    /// commit (see [`Tx::defer`]).
    pub(super) fn deferring(mut self) -> Conns {
        self.defer = true;
        self
    }

    /// A connection and the permit that holds its place.
    async fn acquire(
        self: &Arc<Self>,
    ) -> Result<(AnyConnection, OwnedSemaphorePermit), sqlx::Error> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.free.lock().ok().and_then(|mut f| f.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        Ok((conn, permit))
    }

    async fn connect(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut conn = AnyConnection::connect(&self.url).await?;
        (self.setup)(&mut conn).await?;
        Ok(conn)
    }

    fn give_back(&self, conn: AnyConnection, permit: OwnedSemaphorePermit) {
        if let Ok(mut free) = self.free.lock() {
            free.push(conn);
        }
        drop(permit);
    }

    /// Starts a transaction. A connection that fails to begin one (a
    /// PostgreSQL connection that died while idle) is closed and the
    /// transaction begun on a new one.
    pub(super) async fn begin(self: &Arc<Self>) -> Result<Tx, sqlx::Error> {
        let (mut conn, permit) = self.acquire().await?;
        match conn.execute(self.begin).await {
            Ok(_) => {}
            Err(e) if !breaks_connection(&e) => {
                // The database refused (busy): the connection is fine.
                self.give_back(conn, permit);
                return Err(e);
            }
            Err(_) => {
                drop(conn);
                conn = self.connect().await?;
                conn.execute(self.begin).await?;
            }
        }
        Ok(Tx {
            conn: Some(conn),
            permit: Some(permit),
            conns: self.clone(),
            open: true,
            broken: false,
            events: false,
            deferred: String::new(),
        })
    }

    /// A connection whose every statement commits on its own.
    pub(super) async fn alone(self: &Arc<Self>) -> Result<Tx, sqlx::Error> {
        let (conn, permit) = self.acquire().await?;
        Ok(Tx {
            conn: Some(conn),
            permit: Some(permit),
            conns: self.clone(),
            open: false,
            broken: false,
            events: false,
            deferred: String::new(),
        })
    }

    /// Closes the idle connections and refuses new transactions.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle: Vec<AnyConnection> = self
            .free
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// A write transaction on a service's database. Statements run on it as on
/// a connection (`&mut *tx`); it ends with [`Tx::commit`] or
/// [`Tx::rollback`], and one dropped without either is rolled back.
pub struct Tx {
    conn: Option<AnyConnection>,
    permit: Option<OwnedSemaphorePermit>,
    conns: Arc<Conns>,
    /// A transaction is open on `conn` (false for [`super::Db::write_alone`]).
    open: bool,
    /// The connection failed in a way that may have broken it: it is
    /// closed, not given back.
    broken: bool,
    /// Events were written to the outbox: its commit wakes the relay.
    events: bool,
    /// Statements, values written in, sent with the commit in one round
    /// trip (see [`Tx::defer`]).
    deferred: String,
}

/// Whether an error says the connection itself is broken (its server gone,
/// the protocol out of step), not only the statement refused.
fn breaks_connection(e: &sqlx::Error) -> bool {
    if let sqlx::Error::Database(db) = e {
        // PostgreSQL's classes 08 (connection exception) and 57P (the
        // server shut the session: an administrator, a restart).
        let code = db.code();
        let code = code.as_deref().unwrap_or("");
        return code.starts_with("08") || code.starts_with("57P");
    }
    !matches!(
        e,
        sqlx::Error::RowNotFound
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
    )
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

const HELD: &str = "a transaction holds its connection until it ends";

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect(HELD)
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect(HELD)
    }
}

impl Tx {
    /// Commits. A commit that fails leaves nothing half-done: the
    /// transaction is rolled back.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.end("COMMIT").await
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.deferred.clear();
        self.end("ROLLBACK").await
    }

    /// Whether [`Tx::defer`] takes statements here: in a transaction on
    /// PostgreSQL. Not on SQLite, where a statement is a call, not a round
    /// trip, nor on a connection outside a transaction.
    pub(crate) fn defers(&self) -> bool {
        self.open && self.conns.defer
    }

    /// Takes `sql` — a whole statement with its values written in, no
    /// parameters — to run just before this transaction commits, in the
    /// commit's own round trip (only where [`Tx::defers`]). A deferred
    /// statement that fails fails the commit, and the transaction is
    /// rolled back whole.
    pub(crate) fn defer(&mut self, sql: &str) {
        debug_assert!(self.defers(), "a statement deferred where none can be");
        self.deferred.push_str(sql);
        self.deferred.push_str(";\n");
    }

    /// Notes that events were written to the outbox in this transaction.
    pub(crate) fn wrote_events(&mut self) {
        self.events = true;
    }

    /// Whether events were written to the outbox in this transaction.
    pub(crate) fn has_events(&self) -> bool {
        self.events
    }

    /// Marks the connection for closing when `answer` says it broke.
    fn check<T>(&mut self, answer: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(e) = &answer {
            self.broken |= breaks_connection(e);
        }
        answer
    }

    async fn end(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        if !self.open {
            return Ok(());
        }
        let conn = self.conn.as_mut().expect(HELD);
        if self.deferred.is_empty() {
            conn.execute(sql).await?;
        } else {
            // One simple query: the deferred statements, then the commit.
            // Should one fail, the rest do not run and the transaction
            // stays open (and aborted) until it is rolled back.
            let all = std::mem::take(&mut self.deferred) + sql;
            conn.execute(sqlx::AssertSqlSafe(all)).await?;
        }
        // Ended: the connection goes back as it is (see `Drop`).
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        if self.broken {
            return;
        }
        if !self.open {
            self.conns.give_back(conn, permit);
            return;
        }
        // Still open (an error or a caller that stopped waiting): roll back
        // before anyone else gets the connection. Outside a runtime it is
        // closed instead, which rolls back too.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let conns = self.conns.clone();
            runtime.spawn(async move {
                if conn.execute("ROLLBACK").await.is_ok() {
                    conns.give_back(conn, permit);
                }
            });
        }
    }
}

/// The connections reads run on, used as a pool is: `.fetch_one(db.reader())`.
///
/// Every read takes a connection for itself and gives it back when it has
/// its answer, rows and all: a stream (`fetch`, `fetch_many`) is read to its
/// end before its first row is handed on. A read that must page through
/// much data asks for one page at a time.
#[derive(Debug, Clone)]
pub struct Readers(pub(super) Arc<Conns>);

impl Readers {
    async fn take(&self) -> Result<Tx, sqlx::Error> {
        self.0.alone().await
    }
}

/// Runs `$call` on a connection of `$readers`, and closes the connection
/// instead of giving it back when the answer says it broke.
macro_rules! on_reader {
    ($readers:expr, |$conn:ident| $call:expr) => {{
        let readers = $readers.clone();
        Box::pin(async move {
            let mut $conn = readers.take().await?;
            let answer = $call.await;
            $conn.check(answer)
        })
    }};
}

impl<'p> Executor<'p> for &'_ Readers {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let readers = self.clone();
        futures::stream::once(async move {
            let mut conn = readers.take().await?;
            let answer = conn.fetch_many(query).try_collect::<Vec<_>>().await;
            conn.check(answer)
        })
        .map_ok(|all| futures::stream::iter(all.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_reader!(self, |conn| conn.fetch_optional(query))
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_reader!(self, |conn| conn.fetch_all(query))
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<AnyQueryResult, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        on_reader!(self, |conn| conn.execute(query))
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        on_reader!(self, |conn| conn.prepare_with(sql, parameters))
    }
}
