//! Plaza's SQLite connection, reached through sqlx's `Any` interface.
//!
//! sqlx's own SQLite connection runs every statement on a thread of its
//! own: the caller sends the statement over a channel and sleeps until the
//! answer comes back, two thread switches for every statement, `BEGIN` and
//! `COMMIT` included. On a small machine those switches cost more than most
//! statements. This connection runs each statement on the caller's thread,
//! directly against the SQLite library, and answers with the same `Any`
//! rows and errors, so the services' queries are unchanged.
//!
//! It is registered as a driver of `Any` under the URL scheme
//! `plaza-sqlite:` ([`install_drivers`]). A statement blocks the thread
//! that runs it for as long as SQLite works on it: write transactions run on
//! the database's writer thread ([`super::Db::on_writer`]), and reads are
//! short lookups by key.
//!
//! What sqlx needs of a database type to register it as a driver (a
//! connection's options, rows, columns, values, arguments, statements) is
//! implemented here in the smallest form that is still true; everything
//! Plaza runs goes through [`AnyConnectionBackend`].

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::future::{self, BoxFuture};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx_core::any::driver::AnyDriver;
use sqlx_core::any::{
    AnyArguments, AnyColumn, AnyConnectOptions, AnyConnectionBackend, AnyQueryResult, AnyRow,
    AnyStatement, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind,
};
use sqlx_core::error::{BoxDynError, DatabaseError, ErrorKind};
use sqlx_core::ext::ustr::UStr;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::{Either, Error, Url};

/// The URL scheme of this connection: `plaza-sqlite:///path/to/file.db`.
pub const SCHEME: &str = "plaza-sqlite";

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection, most recently used first.
const STATEMENT_CACHE: usize = 256;

/// Installs the `Any` drivers Plaza uses: PostgreSQL, sqlx's SQLite
/// (`sqlite:`) and this one (`plaza-sqlite:`). Safe to call many times.
pub fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        static DRIVERS: [AnyDriver; 3] = [
            sqlx::postgres::any::DRIVER,
            sqlx::sqlite::any::DRIVER,
            AnyDriver::without_migrate::<Lite>(),
        ];
        sqlx_core::any::driver::install_drivers(&DRIVERS)
            .expect("the database drivers are installed once, here");
    });
}

/// Set to `sqlx` to open SQLite files with sqlx's own connection instead,
/// a thread per connection (to compare the two, or to fall back).
pub const CONNECTION_ENV: &str = "PLAZA_SQLITE_CONNECTION";

/// The URL that opens the SQLite file at `path` with this connection,
/// creating it when missing (with sqlx's when [`CONNECTION_ENV`] says so).
pub fn url(path: &std::path::Path) -> String {
    if std::env::var(CONNECTION_ENV).is_ok_and(|v| v == "sqlx") {
        return format!("sqlite://{}?mode=rwc", path.display());
    }
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let path = path.to_string_lossy();
    // Everything but the path's separators and plain name characters is
    // escaped, `%` included.
    const ESCAPED: &sqlx_core::percent_encoding::AsciiSet =
        &sqlx_core::percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'.')
            .remove(b'-')
            .remove(b'_');
    let encoded = sqlx_core::percent_encoding::utf8_percent_encode(&path, ESCAPED);
    format!("{SCHEME}://{encoded}")
}

/// SQLite, with statements run on the caller's thread.
#[derive(Debug)]
pub struct Lite;

impl sqlx_core::database::Database for Lite {
    type Connection = LiteConnection;
    type TransactionManager = LiteTransactions;
    type Row = LiteRow;
    type QueryResult = LiteDone;
    type Column = LiteColumn;
    type TypeInfo = LiteType;
    type Value = LiteValue;
    type ValueRef<'r> = LiteValueRef<'r>;
    type Arguments = LiteArguments;
    type ArgumentBuffer = Vec<AnyValueKind>;
    type Statement = LiteStatement;

    const NAME: &'static str = "SQLite (Plaza)";
    const URL_SCHEMES: &'static [&'static str] = &[SCHEME];
}

/// One SQLite connection.
pub struct LiteConnection {
    conn: rusqlite::Connection,
}

impl fmt::Debug for LiteConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiteConnection")
            .field("path", &self.conn.path())
            .field("in_transaction", &!self.conn.is_autocommit())
            .finish()
    }
}

impl LiteConnection {
    fn open(path: &std::path::Path) -> Result<LiteConnection, Error> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        // Locks are waited for in `run`, asleep, not on the thread.
        conn.busy_timeout(Duration::ZERO).map_err(error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(LiteConnection { conn })
    }

    /// Runs `sql` (one statement, or several without arguments) and
    /// answers as sqlx's drivers do: each statement's rows, then its count
    /// of changed rows. `limit` stops after that many rows.
    ///
    /// A lock another connection holds is waited for here, asleep, not in
    /// SQLite's busy handler, which would hold the thread: the holder may
    /// need that thread to finish (a rollback spawned on a one-thread
    /// runtime). Only a statement that began outside a transaction is
    /// tried again: it had done nothing, and inside a transaction SQLite
    /// answers "busy" at once when waiting could not help.
    async fn run(
        &mut self,
        sql: &str,
        arguments: Option<AnyArguments>,
        limit: Option<usize>,
    ) -> Result<Vec<Either<AnyQueryResult, AnyRow>>, Error> {
        let values = arguments.map(|a| a.values.0).unwrap_or_default();
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            let fresh = self.conn.is_autocommit();
            let mut out = Vec::new();
            match self.run_once(sql, &values, limit, &mut out) {
                Ok(()) => {
                    tracing::debug!(target: "plaza::sql", "{sql}");
                    return Ok(out);
                }
                Err(Ran { started, error })
                    if fresh
                        && !started
                        && is_busy(&error)
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(Ran { error, .. }) => return Err(error),
            }
        }
    }

    fn run_once(
        &mut self,
        sql: &str,
        values: &[AnyValueKind],
        limit: Option<usize>,
        out: &mut Vec<Either<AnyQueryResult, AnyRow>>,
    ) -> Result<(), Ran> {
        let first = |error| Ran {
            started: false,
            error,
        };
        match self.conn.prepare_cached(sql) {
            Ok(mut statement) => {
                step(&self.conn, &mut statement, values, limit, out).map_err(first)
            }
            // Several statements (a migration, the pragmas): one by one. A
            // later statement may name a table an earlier one creates, so it
            // cannot be prepared before the earlier one has run.
            Err(_) if has_several(sql) => {
                let mut batch = rusqlite::Batch::new(&self.conn, sql);
                let mut started = false;
                loop {
                    let ran = |error| Ran { started, error };
                    let Some(mut statement) = batch.next().map_err(|e| ran(error(e)))? else {
                        return Ok(());
                    };
                    step(&self.conn, &mut statement, values, limit, out).map_err(ran)?;
                    started = true;
                }
            }
            Err(e) => Err(first(error(e))),
        }
    }

    async fn execute_sql(&mut self, sql: &str) -> Result<(), Error> {
        self.run(sql, None, None).await.map(drop)
    }
}

/// A failed run: its error, and whether a statement of it had already
/// finished (so running it again would repeat that statement).
struct Ran {
    started: bool,
    error: Error,
}

/// SQLite's "busy": another connection holds the lock.
fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "261")))
}

/// Whether `sql` holds more than one statement (text after a `;`). A `;`
/// inside a literal may say yes wrongly; the statement is then prepared on
/// its own again and fails or runs the same.
fn has_several(sql: &str) -> bool {
    sql.split_once(';')
        .is_some_and(|(_, rest)| !rest.trim().is_empty())
}

/// Binds `values` to `statement`, steps it, and appends its rows and its
/// count of changed rows to `out`.
fn step(
    conn: &rusqlite::Connection,
    statement: &mut rusqlite::Statement<'_>,
    values: &[AnyValueKind],
    limit: Option<usize>,
    out: &mut Vec<Either<AnyQueryResult, AnyRow>>,
) -> Result<(), Error> {
    for at in 1..=statement.parameter_count() {
        // `$3` is the third argument wherever it stands, `?` the next one.
        let index = match statement.parameter_name(at) {
            None => at,
            Some(name) => name
                .strip_prefix(['$', '?'])
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    Error::Protocol(format!("parameter {name} is not numbered ($1, $2, …)"))
                })?,
        };
        let value = values.get(index.wrapping_sub(1)).ok_or_else(|| {
            Error::Protocol(format!(
                "the statement takes parameter {index}, {} given",
                values.len()
            ))
        })?;
        statement
            .raw_bind_parameter(at, bind(value)?)
            .map_err(error)?;
    }
    let writes = !statement.readonly();
    let count = statement.column_count();
    let mut names = sqlx_core::HashMap::with_capacity(count);
    let mut columns = Vec::with_capacity(count);
    for ordinal in 0..count {
        let name = UStr::new(statement.column_name(ordinal).map_err(error)?);
        names.insert(name.clone(), ordinal);
        columns.push(name);
    }
    let names = Arc::new(names);
    let mut rows = statement.raw_query();
    let mut taken = 0;
    while limit.is_none_or(|l| taken < l) {
        let Some(row) = rows.next().map_err(error)? else {
            break;
        };
        let mut values = Vec::with_capacity(count);
        let mut types = Vec::with_capacity(count);
        for (ordinal, name) in columns.iter().enumerate() {
            let kind = read(row.get_ref(ordinal).map_err(error)?, name)?;
            types.push(kind_of(&kind));
            values.push(AnyValue { kind });
        }
        let columns = columns
            .iter()
            .zip(types)
            .enumerate()
            .map(|(ordinal, (name, kind))| AnyColumn {
                ordinal,
                name: name.clone(),
                type_info: AnyTypeInfo { kind },
            })
            .collect();
        out.push(Either::Right(AnyRow {
            column_names: names.clone(),
            columns,
            values,
        }));
        taken += 1;
    }
    drop(rows);
    out.push(Either::Left(AnyQueryResult {
        rows_affected: if writes { conn.changes() } else { 0 },
        last_insert_id: None,
    }));
    Ok(())
}

/// The type of a value as `Any` names it.
fn kind_of(value: &AnyValueKind) -> AnyTypeInfoKind {
    match value {
        AnyValueKind::Null(_) => AnyTypeInfoKind::Null,
        AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
        AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
        AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
        _ => AnyTypeInfoKind::Text,
    }
}

/// An argument as SQLite takes it.
fn bind(value: &AnyValueKind) -> Result<ToSqlOutput<'_>, Error> {
    Ok(ToSqlOutput::Borrowed(match value {
        AnyValueKind::Null(_) => ValueRef::Null,
        AnyValueKind::Bool(b) => ValueRef::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => ValueRef::Integer(*i),
        AnyValueKind::Real(r) => ValueRef::Real(f64::from(*r)),
        AnyValueKind::Double(d) => ValueRef::Real(*d),
        AnyValueKind::Text(t) => ValueRef::Text(t.as_bytes()),
        AnyValueKind::TextSlice(t) => ValueRef::Text(t.as_bytes()),
        AnyValueKind::Blob(b) => ValueRef::Blob(b),
        other => {
            return Err(Error::Encode(
                format!("SQLite takes no argument of this kind: {other:?}").into(),
            ));
        }
    }))
}

/// A value as `Any` carries it: SQLite's integers are 64-bit, its reals
/// double precision.
fn read(value: ValueRef<'_>, column: &UStr) -> Result<AnyValueKind, Error> {
    Ok(match value {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(r) => AnyValueKind::Double(r),
        ValueRef::Text(t) => AnyValueKind::Text(Arc::new(
            std::str::from_utf8(t)
                .map_err(|e| Error::ColumnDecode {
                    index: format!("{:?}", &**column),
                    source: e.into(),
                })?
                .to_owned(),
        )),
        ValueRef::Blob(b) => AnyValueKind::Blob(Arc::new(b.to_vec())),
    })
}

/// SQLite's refusal, with its extended result code as the code (`2067` for
/// a unique constraint), as sqlx's SQLite driver reports it.
#[derive(Debug)]
pub struct LiteError {
    code: i32,
    message: String,
}

impl fmt::Display for LiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for LiteError {}

impl DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// rusqlite's error as sqlx's: what SQLite refused is a database error,
/// the rest (a closed file, a bad value) says what it is.
fn error(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => Error::Database(Box::new(LiteError {
            code: failure.extended_code,
            message: message.unwrap_or_else(|| failure.to_string()),
        })),
        rusqlite::Error::InvalidPath(path) => {
            Error::Configuration(format!("SQLite cannot open {}", path.display()).into())
        }
        other => Error::Protocol(other.to_string()),
    }
}

impl AnyConnectionBackend for LiteConnection {
    fn name(&self) -> &str {
        <Lite as sqlx_core::database::Database>::NAME
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, sqlx_core::Result<()>> {
        let closed = self.conn.close().map_err(|(_, e)| error(e));
        Box::pin(future::ready(closed))
    }

    fn close_hard(self: Box<Self>) -> BoxFuture<'static, sqlx_core::Result<()>> {
        self.close()
    }

    fn ping(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.execute_sql("SELECT 1"))
    }

    fn begin(&mut self, statement: Option<SqlStr>) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(async move {
            let sql = statement.as_ref().map_or("BEGIN", |s| s.as_str());
            self.execute_sql(sql).await
        })
    }

    fn commit(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.execute_sql("COMMIT"))
    }

    fn rollback(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.execute_sql("ROLLBACK"))
    }

    fn start_rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let mut out = Vec::new();
            let _ = self.run_once("ROLLBACK", &[], None, &mut out);
        }
    }

    fn get_transaction_depth(&self) -> usize {
        usize::from(!self.conn.is_autocommit())
    }

    fn shrink_buffers(&mut self) {}

    fn flush(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(future::ready(Ok(())))
    }

    fn should_flush(&self) -> bool {
        false
    }

    fn fetch_many(
        &mut self,
        query: SqlStr,
        _persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxStream<'_, sqlx_core::Result<Either<AnyQueryResult, AnyRow>>> {
        // Run when first polled, as a statement sent to a server would be.
        stream::once(async move { self.run(query.as_str(), arguments, None).await })
            .map_ok(|answers| stream::iter(answers.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn fetch_optional(
        &mut self,
        query: SqlStr,
        _persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxFuture<'_, sqlx_core::Result<Option<AnyRow>>> {
        Box::pin(async move {
            let answers = self.run(query.as_str(), arguments, Some(1)).await?;
            Ok(answers.into_iter().find_map(|a| a.right()))
        })
    }

    fn prepare_with<'c, 'q: 'c>(
        &'c mut self,
        _sql: SqlStr,
        _parameters: &[AnyTypeInfo],
    ) -> BoxFuture<'c, sqlx_core::Result<AnyStatement>> {
        // Statements are prepared and kept per connection when they run.
        Box::pin(future::ready(Err(Error::AnyDriverError(
            "Plaza's SQLite connection prepares statements when they run".into(),
        ))))
    }
}

/// Where a [`LiteConnection`] opens.
#[derive(Debug, Clone)]
pub struct LiteOptions {
    path: PathBuf,
}

impl FromStr for LiteOptions {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let url = Url::parse(s).map_err(Error::config)?;
        <Self as sqlx_core::connection::ConnectOptions>::from_url(&url)
    }
}

impl TryFrom<&AnyConnectOptions> for LiteOptions {
    type Error = Error;
    fn try_from(options: &AnyConnectOptions) -> Result<Self, Error> {
        <Self as sqlx_core::connection::ConnectOptions>::from_url(&options.database_url)
    }
}

impl sqlx_core::connection::ConnectOptions for LiteOptions {
    type Connection = LiteConnection;

    fn from_url(url: &Url) -> Result<Self, Error> {
        if url.scheme() != SCHEME {
            return Err(Error::Configuration(
                format!("{url} is not a {SCHEME}: URL").into(),
            ));
        }
        let path = sqlx_core::percent_encoding::percent_decode_str(url.path())
            .decode_utf8()
            .map_err(Error::config)?;
        if path.is_empty() {
            return Err(Error::Configuration(format!("{url} names no file").into()));
        }
        Ok(LiteOptions {
            path: PathBuf::from(path.as_ref()),
        })
    }

    fn connect(&self) -> impl Future<Output = Result<LiteConnection, Error>> + Send + '_ {
        future::ready(LiteConnection::open(&self.path))
    }

    fn log_statements(self, _level: log::LevelFilter) -> Self {
        self
    }

    fn log_slow_statements(self, _level: log::LevelFilter, _duration: Duration) -> Self {
        self
    }
}

impl sqlx_core::connection::Connection for LiteConnection {
    type Database = Lite;
    type Options = LiteOptions;

    fn close(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        AnyConnectionBackend::close(Box::new(self))
    }

    fn close_hard(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        AnyConnectionBackend::close(Box::new(self))
    }

    fn ping(&mut self) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.execute_sql("SELECT 1")
    }

    fn begin(
        &mut self,
    ) -> impl Future<Output = Result<sqlx_core::transaction::Transaction<'_, Lite>, Error>> + Send + '_
    {
        sqlx_core::transaction::Transaction::begin(self, None)
    }

    fn shrink_buffers(&mut self) {}

    fn flush(&mut self) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        future::ready(Ok(()))
    }

    fn should_flush(&self) -> bool {
        false
    }
}

/// Transactions by statement: `BEGIN`, `COMMIT`, `ROLLBACK`.
#[derive(Debug)]
pub struct LiteTransactions;

impl sqlx_core::transaction::TransactionManager for LiteTransactions {
    type Database = Lite;

    fn begin(
        conn: &mut LiteConnection,
        statement: Option<SqlStr>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        AnyConnectionBackend::begin(conn, statement)
    }

    fn commit(conn: &mut LiteConnection) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        AnyConnectionBackend::commit(conn)
    }

    fn rollback(conn: &mut LiteConnection) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        AnyConnectionBackend::rollback(conn)
    }

    fn start_rollback(conn: &mut LiteConnection) {
        AnyConnectionBackend::start_rollback(conn)
    }

    fn get_transaction_depth(conn: &LiteConnection) -> usize {
        AnyConnectionBackend::get_transaction_depth(conn)
    }
}

/// A value's type: SQLite's storage classes.
#[derive(Debug, Clone, PartialEq)]
pub struct LiteType(AnyTypeInfoKind);

impl fmt::Display for LiteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(sqlx_core::type_info::TypeInfo::name(self))
    }
}

impl sqlx_core::type_info::TypeInfo for LiteType {
    fn is_null(&self) -> bool {
        self.0 == AnyTypeInfoKind::Null
    }

    fn name(&self) -> &str {
        match self.0 {
            AnyTypeInfoKind::Null => "NULL",
            AnyTypeInfoKind::BigInt => "INTEGER",
            AnyTypeInfoKind::Double => "REAL",
            AnyTypeInfoKind::Blob => "BLOB",
            _ => "TEXT",
        }
    }
}

/// A value read from SQLite.
#[derive(Debug, Clone)]
pub struct LiteValue(AnyValueKind);

impl LiteValue {
    fn kind(&self) -> LiteType {
        LiteType(kind_of(&self.0))
    }
}

/// A borrowed [`LiteValue`].
#[derive(Debug, Clone, Copy)]
pub struct LiteValueRef<'r>(&'r LiteValue);

impl sqlx_core::value::Value for LiteValue {
    type Database = Lite;

    fn as_ref(&self) -> LiteValueRef<'_> {
        LiteValueRef(self)
    }

    fn type_info(&self) -> Cow<'_, LiteType> {
        Cow::Owned(self.kind())
    }

    fn is_null(&self) -> bool {
        matches!(self.0, AnyValueKind::Null(_))
    }
}

impl<'r> sqlx_core::value::ValueRef<'r> for LiteValueRef<'r> {
    type Database = Lite;

    fn to_owned(&self) -> LiteValue {
        self.0.clone()
    }

    fn type_info(&self) -> Cow<'_, LiteType> {
        Cow::Owned(self.0.kind())
    }

    fn is_null(&self) -> bool {
        matches!(self.0.0, AnyValueKind::Null(_))
    }
}

/// A column of a result.
#[derive(Debug)]
pub struct LiteColumn {
    ordinal: usize,
    name: UStr,
    type_info: LiteType,
}

impl sqlx_core::column::Column for LiteColumn {
    type Database = Lite;

    fn ordinal(&self) -> usize {
        self.ordinal
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn type_info(&self) -> &LiteType {
        &self.type_info
    }
}

/// A row of a result.
#[derive(Debug)]
pub struct LiteRow {
    columns: Vec<LiteColumn>,
    values: Vec<LiteValue>,
}

impl sqlx_core::row::Row for LiteRow {
    type Database = Lite;

    fn columns(&self) -> &[LiteColumn] {
        &self.columns
    }

    fn try_get_raw<I>(&self, index: I) -> Result<LiteValueRef<'_>, Error>
    where
        I: sqlx_core::column::ColumnIndex<Self>,
    {
        let index = index.index(self)?;
        self.values
            .get(index)
            .map(LiteValueRef)
            .ok_or(Error::ColumnIndexOutOfBounds {
                index,
                len: self.values.len(),
            })
    }
}

/// Rows changed.
#[derive(Debug, Default)]
pub struct LiteDone {
    pub rows_affected: u64,
}

impl Extend<LiteDone> for LiteDone {
    fn extend<T: IntoIterator<Item = LiteDone>>(&mut self, iter: T) {
        self.rows_affected += iter.into_iter().map(|d| d.rows_affected).sum::<u64>();
    }
}

/// A statement's arguments, in order.
#[derive(Debug, Default)]
pub struct LiteArguments(Vec<AnyValueKind>);

impl sqlx_core::arguments::Arguments for LiteArguments {
    type Database = Lite;

    fn reserve(&mut self, additional: usize, _size: usize) {
        self.0.reserve(additional);
    }

    fn add<'t, T>(&mut self, value: T) -> Result<(), BoxDynError>
    where
        T: sqlx_core::encode::Encode<'t, Lite> + sqlx_core::types::Type<Lite>,
    {
        let _ = value.encode(&mut self.0)?;
        Ok(())
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

sqlx_core::impl_into_arguments_for_arguments!(LiteArguments);

/// A statement's text and the columns it answers with.
#[derive(Debug, Clone)]
pub struct LiteStatement {
    sql: SqlStr,
    columns: Arc<Vec<LiteColumn>>,
}

impl sqlx_core::statement::Statement for LiteStatement {
    type Database = Lite;

    fn into_sql(self) -> SqlStr {
        self.sql
    }

    fn sql(&self) -> &SqlStr {
        &self.sql
    }

    fn parameters(&self) -> Option<Either<&[LiteType], usize>> {
        None
    }

    fn columns(&self) -> &[LiteColumn] {
        &self.columns
    }

    sqlx_core::impl_statement_query!(LiteArguments);
}
