//! The saga engine: multi-service transactions that survive crashes.
//!
//! A saga is a list of steps; each step is an action with an undo. The saga
//! log (tables `saga` and `saga_log` in the owning service's database)
//! records every step's outcome before the next begins, so a process that
//! dies mid-saga picks it up where it stopped when it starts again
//! ([`SagaEngine::resume_all`]).
//!
//! Rules a step must keep, which [`testing`] checks for any saga:
//! - an action may run more than once (a crash after it took effect but
//!   before the log recorded it): it must be idempotent, and it gets an
//!   idempotency key (`<saga>/<step>/<name>`) to pass on to the services it
//!   calls;
//! - when a step fails for good, its own undo runs too (a timed-out action
//!   may still have taken effect), then every earlier step's undo in reverse
//!   order; an undo must therefore treat "nothing to undo" as success, and
//!   may also run more than once.
//!
//! Actions are retried with jittered backoff while they fail with
//! [`StepError::Retryable`], within the step's deadline; undos are retried
//! until they succeed or exhaust their attempts, which leaves the saga
//! `stuck` for an operator (it never silently drops a compensation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::Row;

use crate::Error;
use crate::clock::SharedClock;
use crate::db::Db;

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Worth trying again (a timeout, a peer that is down).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will not succeed however often it is tried (a declined card).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What a step sees when it runs.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub saga_id: String,
    pub step: usize,
    /// Pass this to every service the step calls.
    pub idempotency_key: String,
    pub input: Value,
    /// Outputs of the steps that completed before this one, by step name.
    pub outputs: Map<String, Value>,
}

/// One step of a saga.
#[async_trait]
pub trait Step: Send + Sync {
    fn name(&self) -> &'static str;
    /// How long the action may take, all attempts together.
    fn deadline(&self) -> Duration {
        Duration::from_secs(30)
    }
    /// Whether the step's completion is written down before the next step
    /// starts (the default). A step whose action changes nothing anywhere
    /// (it only checks what another service owns) may answer `false`: its
    /// completion is then written with the next change of the saga that
    /// is, in the same statement, and a process that dies before that
    /// simply runs it again. The engine writes anyway once half the lease
    /// has passed since its last write, so that a run of such steps never
    /// outlives the lease.
    fn checkpoint(&self) -> bool {
        true
    }
    async fn action(&self, ctx: &StepContext) -> Result<Value, StepError>;
    /// Undoes the action. `ctx` carries the action's own idempotency key, to
    /// find what it did; `output` is the action's output, or `Null` if the
    /// action failed (it may still have taken effect).
    async fn undo(&self, ctx: &StepContext, output: &Value) -> Result<(), StepError>;
}

/// What the saga's owner records of its end, in the transaction that
/// records the end itself: both are written, or neither.
#[async_trait]
pub trait SagaEnd: Send + Sync {
    /// `saga` has just become done or unwound (its status, outputs and
    /// error as they are now).
    async fn ended(&self, tx: &mut crate::db::Tx, saga: &SagaRecord) -> Result<(), Error>;

    /// On PostgreSQL, the end and the saga's last move in one statement,
    /// with no transaction around it: the end writes its own statement,
    /// with `change`'s clauses ([`SagaMove::clauses`]) first and each of
    /// its own changes gated on [`SagaMove::GATE`], so that nothing of the
    /// end is written unless the saga moved. `Some(moved)` says whether the
    /// saga moved (it does not when another process took it over); `None`
    /// (the default) means the end is recorded with [`SagaEnd::ended`] in
    /// a transaction instead.
    async fn ended_alone(
        &self,
        _db: &Db,
        _saga: &SagaRecord,
        _change: &SagaMove<'_>,
    ) -> Result<Option<bool>, Error> {
        Ok(None)
    }
}

/// A saga's move to its end, with its log lines, as `WITH` clauses of a
/// statement its end writes (see [`SagaEnd::ended_alone`]).
pub struct SagaMove<'a> {
    change: &'a Transition,
    owner: &'a str,
    now: i64,
    lease_until: i64,
}

impl SagaMove<'_> {
    /// The clause that returns the saga's row when it moved, and none when
    /// this process no longer holds it.
    pub const GATE: &'static str = "saga_moved";

    /// The clauses, `GATE` first, with parameters numbered from `$first`.
    pub fn clauses(&self, first: usize) -> String {
        format!(
            "{} AS ({} RETURNING id),
             saga_logged AS ({})",
            Self::GATE,
            move_sql(first),
            log_sql(Self::GATE, first + 8, self.change.lines.len())
        )
    }

    /// Binds the clauses' parameters, in order.
    pub fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = bind_move(q, self.change, self.owner, self.now, self.lease_until);
        for line in &self.change.lines {
            q = line.bind(q);
        }
        q
    }
}

/// The saga's move, fenced by the lease, with parameters from `$first`:
/// status, next step, outputs, error, time, lease end, id, lease owner.
fn move_sql(first: usize) -> String {
    let p = |i: usize| first + i;
    format!(
        "UPDATE saga SET status = ${}, next_step = ${}, outputs = ${}, error = ${}, updated_at_ms = ${},
         lease_until_ms = ${} WHERE id = ${} AND lease_owner = ${}",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7)
    )
}

/// Log lines for the saga `gate` returns, `lines` of them, with parameters
/// from `$first`, five per line ([`LogLine::bind`]).
fn log_sql(gate: &str, first: usize, lines: usize) -> String {
    const BIGINT: Option<&str> = Some("BIGINT");
    format!(
        "INSERT INTO saga_log (saga_id, step, step_name, event, detail, at_ms)
         SELECT {gate}.id, v.step, v.step_name, v.event, v.detail, v.at_ms FROM {gate},
         (VALUES {}) AS v (step, step_name, event, detail, at_ms)",
        crate::db::param_rows(first, lines, &[BIGINT, None, None, None, BIGINT])
    )
}

/// Binds [`move_sql`]'s parameters.
fn bind_move<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    change: &'q Transition,
    owner: &'q str,
    now: i64,
    lease_until: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(change.status.as_str())
        .bind(change.next_step)
        .bind(change.outputs.as_str())
        .bind(change.error.as_deref())
        .bind(now)
        .bind(lease_until)
        .bind(change.id.as_str())
        .bind(owner)
}

/// A kind of saga: its name and its steps, in order.
#[derive(Clone)]
pub struct SagaDef {
    pub kind: &'static str,
    pub steps: Vec<Arc<dyn Step>>,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    /// Called as the saga ends (done or unwound), see [`SagaEnd`].
    pub on_end: Option<Arc<dyn SagaEnd>>,
}

impl SagaDef {
    pub fn new(kind: &'static str, steps: Vec<Arc<dyn Step>>) -> Self {
        SagaDef {
            kind,
            steps,
            max_attempts: 8,
            backoff_base: Duration::from_millis(25),
            on_end: None,
        }
    }

    /// Records the end with `on_end`, in the end's own transaction.
    pub fn with_end(mut self, on_end: Arc<dyn SagaEnd>) -> Self {
        self.on_end = Some(on_end);
        self
    }
}

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStatus {
    Running,
    Unwinding,
    /// Every action succeeded.
    Done,
    /// A step failed and every undo ran.
    Unwound,
    /// An undo kept failing: an operator must look.
    Stuck,
}

impl SagaStatus {
    fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Unwinding => "unwinding",
            SagaStatus::Done => "done",
            SagaStatus::Unwound => "unwound",
            SagaStatus::Stuck => "stuck",
        }
    }
    fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "running" => SagaStatus::Running,
            "unwinding" => SagaStatus::Unwinding,
            "done" => SagaStatus::Done,
            "unwound" => SagaStatus::Unwound,
            "stuck" => SagaStatus::Stuck,
            other => return Err(Error::Invalid(format!("saga status {other}"))),
        })
    }
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SagaStatus::Done | SagaStatus::Unwound | SagaStatus::Stuck
        )
    }
}

/// A saga as the log has it.
#[derive(Debug, Clone)]
pub struct SagaRecord {
    pub id: String,
    pub kind: String,
    pub status: SagaStatus,
    pub input: Value,
    pub outputs: Map<String, Value>,
    pub next_step: i64,
    pub error: Option<String>,
}

/// Faults injected by tests (see [`testing`]).
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Run every action twice, keeping the second output.
    pub repeat_actions: bool,
    /// Run every undo twice.
    pub repeat_undos: bool,
    /// Fail this step for good; `after_effect` runs its action first.
    pub fail_at: Option<(usize, bool)>,
}

/// Runs sagas and keeps their log.
#[derive(Clone)]
pub struct SagaEngine {
    db: Db,
    defs: Arc<HashMap<&'static str, SagaDef>>,
    owner: String,
    clock: SharedClock,
    lease: Duration,
    faults: Arc<Mutex<HashMap<String, FaultPlan>>>,
    /// Sagas this engine is running now, each with what tells when its run
    /// ends: a second `run` of one of them waits for nothing and changes
    /// nothing; a second `start` waits for the run to end.
    running: Arc<Mutex<HashMap<String, tokio::sync::watch::Receiver<()>>>>,
}

/// Removes a saga from the engine's running set when its run ends, and
/// tells whoever waits for that run (its sender drops with it).
struct RunningGuard {
    set: Arc<Mutex<HashMap<String, tokio::sync::watch::Receiver<()>>>>,
    id: String,
    _ended: tokio::sync::watch::Sender<()>,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

impl SagaEngine {
    pub fn new(db: Db, defs: Vec<SagaDef>, clock: SharedClock) -> Self {
        SagaEngine {
            db,
            defs: Arc::new(defs.into_iter().map(|d| (d.kind, d)).collect()),
            owner: uuid::Uuid::new_v4().to_string(),
            clock,
            lease: Duration::from_secs(60),
            faults: Default::default(),
            running: Default::default(),
        }
    }

    /// How long a process holds a saga it runs before another may take it
    /// over (default 60 s). A process that dies leaves its sagas for this
    /// long; the holder renews the lease while it retries a step, and steps
    /// are idempotent, so a lease shorter than a slow step costs a repeat,
    /// never a wrong result.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Records a new saga. `id` doubles as its idempotency key: starting the
    /// same id twice records it once.
    pub async fn create(&self, kind: &str, id: &str, input: Value) -> Result<(), Error> {
        self.def(kind)?;
        let mut tx = self.db.begin().await?;
        self.insert(&mut tx, kind, id, &input, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates and runs a saga to its end. The saga is recorded, leased to
    /// this engine and its first step marked started in one transaction.
    pub async fn start(&self, kind: &str, id: &str, input: Value) -> Result<SagaRecord, Error> {
        self.def(kind)?;
        let guard = match self.enter(id) {
            Ok(guard) => guard,
            Err(mut running) => {
                // This engine runs it already (a background pass got to it
                // first): answer with where that run leaves it, as if this
                // start had run it.
                self.create(kind, id, input).await?;
                let _ = running.changed().await;
                return self.current(id).await;
            }
        };
        match self.claim(id, Some((kind, &input))).await? {
            Some(rec) => self.drive(rec, guard).await,
            None => self.current(id).await,
        }
    }

    fn def(&self, kind: &str) -> Result<&SagaDef, Error> {
        self.defs
            .get(kind)
            .ok_or_else(|| Error::Invalid(format!("unknown saga kind {kind}")))
    }

    /// Records a new saga unless one of that id exists. Its parameters:
    /// id, kind, input, correlation id, time, lease owner and lease end.
    const INSERT: &str = "INSERT INTO saga (id, kind, status, input, outputs, next_step, correlation_id, created_at_ms, updated_at_ms, lease_owner, lease_until_ms)
             VALUES ($1, $2, 'running', $3, '{}', 0, $4, $5, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

    async fn insert(
        &self,
        tx: &mut crate::db::Tx,
        kind: &str,
        id: &str,
        input: &Value,
        leased: bool,
    ) -> Result<bool, Error> {
        let now = self.clock.now_ms();
        let n = sqlx::query(Self::INSERT)
            .bind(id)
            .bind(kind)
            .bind(input.to_string())
            .bind(crate::telemetry::correlation_id_or_new())
            .bind(now)
            .bind(leased.then_some(self.owner.as_str()))
            .bind(leased.then_some(now + self.lease.as_millis() as i64))
            .execute(&mut **tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Marks `id` as run by this engine; when it already is, what tells
    /// when that run ends.
    fn enter(&self, id: &str) -> Result<RunningGuard, tokio::sync::watch::Receiver<()>> {
        let mut set = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(running) = set.get(id) {
            return Err(running.clone());
        }
        let (ended, watch) = tokio::sync::watch::channel(());
        set.insert(id.to_owned(), watch);
        Ok(RunningGuard {
            set: self.running.clone(),
            id: id.to_owned(),
            _ended: ended,
        })
    }

    async fn current(&self, id: &str) -> Result<SagaRecord, Error> {
        self.load(id)
            .await?
            .ok_or_else(|| Error::Invalid(format!("no saga {id}")))
    }

    pub async fn load(&self, id: &str) -> Result<Option<SagaRecord>, Error> {
        let row = sqlx::query(
            "SELECT id, kind, status, input, outputs, next_step, error FROM saga WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        row.map(|r| record(&r)).transpose()
    }

    /// Step events of a saga, oldest first: `(step, name, event)`.
    pub async fn log(&self, id: &str) -> Result<Vec<(i64, String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT step, step_name, event FROM saga_log WHERE saga_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Error::from)
    }

    /// Resumes every unfinished saga whose lease has run out (its process
    /// died) or that this engine owns. Returns how many it finished.
    pub async fn resume_all(&self) -> Result<usize, Error> {
        let rows = sqlx::query(
            "SELECT id FROM saga WHERE status IN ('running', 'unwinding')
             AND (lease_until_ms IS NULL OR lease_until_ms < $1 OR lease_owner = $2) ORDER BY created_at_ms",
        )
        .bind(self.clock.now_ms())
        .bind(&self.owner)
        .fetch_all(self.db.reader())
        .await?;
        let mut n = 0;
        for r in rows {
            let id: String = r.try_get(0)?;
            // One saga that cannot run must not keep the others from resuming.
            match self.run(&id).await {
                Ok(rec) if rec.status.is_final() => n += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(saga = %id, error = %crate::error::chain(&e), "saga could not resume")
                }
            }
        }
        Ok(n)
    }

    /// Takes the lease of `id` (creating the saga first when `create` says
    /// how), reads it and, when a step is next, logs that step as started,
    /// all in one transaction on the database's writer. `None` when another
    /// process holds the lease.
    async fn claim(
        &self,
        id: &str,
        create: Option<(&str, &Value)>,
    ) -> Result<Option<SagaRecord>, Error> {
        let this = self.clone();
        let id = id.to_owned();
        let create = create.map(|(kind, input)| (kind.to_owned(), input.clone()));
        self.db
            .on_writer(async move { this.claim_now(&id, create).await })
            .await
    }

    async fn claim_now(
        &self,
        id: &str,
        create: Option<(String, Value)>,
    ) -> Result<Option<SagaRecord>, Error> {
        let now = self.clock.now_ms();
        if let Some((kind, input)) = &create
            && let Some(rec) = self.create_alone(kind, id, input, now).await?
        {
            return Ok(Some(rec));
        }
        let mut tx = self.db.begin().await?;
        let created = match &create {
            Some((kind, input)) => self.insert(&mut tx, kind, id, input, true).await?,
            None => false,
        };
        if !created {
            let n = sqlx::query(
                "UPDATE saga SET lease_owner = $1, lease_until_ms = $2
                 WHERE id = $3 AND (lease_until_ms IS NULL OR lease_until_ms < $4 OR lease_owner = $1)",
            )
            .bind(&self.owner)
            .bind(now + self.lease.as_millis() as i64)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        let rec = match create {
            // Just recorded: it is what was written.
            Some((kind, input)) if created => SagaRecord {
                id: id.to_owned(),
                kind,
                status: SagaStatus::Running,
                input,
                outputs: Map::new(),
                next_step: 0,
                error: None,
            },
            _ => {
                let row = sqlx::query(
                    "SELECT id, kind, status, input, outputs, next_step, error FROM saga WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                record(&row)?
            }
        };
        if rec.status == SagaStatus::Running
            && let Some(step) = self
                .def(&rec.kind)?
                .steps
                .get(usize::try_from(rec.next_step).unwrap_or(usize::MAX))
        {
            insert_log(
                &mut tx,
                id,
                &[LogLine::new(
                    rec.next_step as usize,
                    step.name(),
                    "action_started",
                    now,
                )],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(rec))
    }

    /// On PostgreSQL, records a new saga, leased to this engine, with its
    /// first step logged as started, in one statement that needs no
    /// transaction around it. `None` when the saga exists already (or on
    /// SQLite, or for a saga without steps): the caller then takes the
    /// lease in a transaction.
    async fn create_alone(
        &self,
        kind: &str,
        id: &str,
        input: &Value,
        now: i64,
    ) -> Result<Option<SagaRecord>, Error> {
        if self.db.dialect() != crate::db::Dialect::Postgres {
            return Ok(None);
        }
        let Some(first) = self.def(kind)?.steps.first() else {
            return Ok(None);
        };
        let mut w = self.db.write_alone().await?;
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH created AS ({} RETURNING id)
             INSERT INTO saga_log (saga_id, step, step_name, event, detail, at_ms)
             SELECT id, 0, $8, 'action_started', '', $5 FROM created",
            Self::INSERT
        )))
        .bind(id)
        .bind(kind)
        .bind(input.to_string())
        .bind(crate::telemetry::correlation_id_or_new())
        .bind(now)
        .bind(&self.owner)
        .bind(now + self.lease.as_millis() as i64)
        .bind(first.name())
        .execute(&mut *w)
        .await?
        .rows_affected();
        Ok((n == 1).then(|| SagaRecord {
            id: id.to_owned(),
            kind: kind.to_owned(),
            status: SagaStatus::Running,
            input: input.clone(),
            outputs: Map::new(),
            next_step: 0,
            error: None,
        }))
    }

    /// Extends this engine's lease while a step is slow. False if the lease
    /// was lost to another process.
    async fn renew_lease(&self, id: &str) -> Result<bool, Error> {
        let now = self.clock.now_ms();
        let n =
            sqlx::query("UPDATE saga SET lease_until_ms = $1 WHERE id = $2 AND lease_owner = $3")
                .bind(now + self.lease.as_millis() as i64)
                .bind(id)
                .bind(&self.owner)
                .execute(self.db.reader())
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    fn plan(&self, id: &str) -> FaultPlan {
        self.faults
            .lock()
            .map(|f| f.get(id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Injects faults into the saga `id` (tests only).
    pub fn inject(&self, id: &str, plan: FaultPlan) {
        if let Ok(mut f) = self.faults.lock() {
            f.insert(id.to_owned(), plan);
        }
    }

    /// Runs the saga `id` until it is done, unwound or stuck.
    pub async fn run(&self, id: &str) -> Result<SagaRecord, Error> {
        let Ok(guard) = self.enter(id) else {
            return self.current(id).await;
        };
        match self.claim(id, None).await? {
            Some(rec) => self.drive(rec, guard).await,
            None => self.current(id).await,
        }
    }

    /// Moves a leased saga on, step by step, keeping its record in memory:
    /// only the lease holder changes it, and every change is fenced by the
    /// lease.
    async fn drive(&self, mut rec: SagaRecord, _guard: RunningGuard) -> Result<SagaRecord, Error> {
        let plan = self.plan(&rec.id);
        let defs = self.defs.clone();
        let def = defs
            .get(rec.kind.as_str())
            .ok_or_else(|| Error::Invalid(format!("unknown saga kind {}", rec.kind)))?;
        let steps = def.steps.len() as i64;
        // Completions of steps that asked for no checkpoint, not yet
        // written; and when this run last wrote (and so renewed the lease).
        let mut unwritten: Vec<LogLine> = Vec::new();
        let mut written_at = self.clock.now_ms();
        loop {
            match rec.status {
                s if s.is_final() => return Ok(rec),
                SagaStatus::Running => {
                    if rec.next_step >= steps {
                        let next = rec.next_step;
                        self.transition(
                            &mut rec,
                            def,
                            SagaStatus::Done,
                            next,
                            None,
                            (&mut unwritten, None),
                        )
                        .await?;
                        continue;
                    }
                    let i = rec.next_step as usize;
                    let step = def.steps[i].clone();
                    let ctx = self.context(&rec, i);
                    match self.run_action(def, step.as_ref(), &ctx, &plan).await {
                        Ok(out) => {
                            rec.outputs.insert(step.name().to_owned(), out);
                            let next = rec.next_step + 1;
                            let now = self.clock.now_ms();
                            let lease_half = self.lease.as_millis() as i64 / 2;
                            if next < steps && !step.checkpoint() && now - written_at < lease_half {
                                unwritten.push(LogLine::new(i, step.name(), "action_done", now));
                                unwritten.push(LogLine::new(
                                    next as usize,
                                    def.steps[next as usize].name(),
                                    "action_started",
                                    now,
                                ));
                                rec.next_step = next;
                                continue;
                            }
                            let status = if next >= steps {
                                SagaStatus::Done
                            } else {
                                SagaStatus::Running
                            };
                            self.transition(
                                &mut rec,
                                def,
                                status,
                                next,
                                None,
                                (&mut unwritten, Some((i, step.name(), "action_done"))),
                            )
                            .await?;
                            written_at = self.clock.now_ms();
                        }
                        Err(e) => {
                            tracing::info!(saga = %rec.id, step = step.name(), error = %e, "saga step failed; unwinding");
                            let next = rec.next_step;
                            self.transition(
                                &mut rec,
                                def,
                                SagaStatus::Unwinding,
                                next,
                                Some(e.to_string()),
                                (&mut unwritten, Some((i, step.name(), "action_failed"))),
                            )
                            .await?;
                            written_at = self.clock.now_ms();
                        }
                    }
                }
                SagaStatus::Unwinding => {
                    if rec.next_step < 0 {
                        let error = rec.error.clone();
                        self.transition(
                            &mut rec,
                            def,
                            SagaStatus::Unwound,
                            -1,
                            error,
                            (&mut unwritten, None),
                        )
                        .await?;
                        continue;
                    }
                    let i = rec.next_step as usize;
                    let step = def.steps[i].clone();
                    let ctx = self.context(&rec, i);
                    let output = rec.outputs.get(step.name()).cloned().unwrap_or(Value::Null);
                    let error = rec.error.clone();
                    match self
                        .run_undo(def, step.as_ref(), &ctx, &output, &plan)
                        .await
                    {
                        Ok(()) => {
                            let next = rec.next_step - 1;
                            let status = if next < 0 {
                                SagaStatus::Unwound
                            } else {
                                SagaStatus::Unwinding
                            };
                            self.transition(
                                &mut rec,
                                def,
                                status,
                                next,
                                error,
                                (&mut unwritten, Some((i, step.name(), "undo_done"))),
                            )
                            .await?;
                            written_at = self.clock.now_ms();
                        }
                        Err(e) => {
                            tracing::error!(saga = %rec.id, step = step.name(), error = %e, "saga undo keeps failing; saga is stuck");
                            let next = rec.next_step;
                            self.transition(
                                &mut rec,
                                def,
                                SagaStatus::Stuck,
                                next,
                                Some(e.to_string()),
                                (&mut unwritten, Some((i, step.name(), "undo_failed"))),
                            )
                            .await?;
                        }
                    }
                }
                _ => unreachable_status()?,
            }
        }
    }

    fn context(&self, rec: &SagaRecord, i: usize) -> StepContext {
        let def = &self.defs[rec.kind.as_str()];
        StepContext {
            saga_id: rec.id.clone(),
            step: i,
            idempotency_key: format!("{}/{}/{}", rec.id, i, def.steps[i].name()),
            input: rec.input.clone(),
            outputs: rec.outputs.clone(),
        }
    }

    async fn run_action(
        &self,
        def: &SagaDef,
        step: &dyn Step,
        ctx: &StepContext,
        plan: &FaultPlan,
    ) -> Result<Value, StepError> {
        if let Some((at, after_effect)) = plan.fail_at
            && at == ctx.step
        {
            if after_effect {
                let _ = step.action(ctx).await;
            }
            return Err(StepError::Permanent(format!(
                "injected failure at step {at}"
            )));
        }
        let deadline = tokio::time::Instant::now() + step.deadline();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 && !self.renew_lease(&ctx.saga_id).await.unwrap_or(false) {
                return Err(StepError::Permanent(
                    "this process lost the saga's lease".into(),
                ));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let result = match tokio::time::timeout(left, step.action(ctx)).await {
                Ok(r) => r,
                Err(_) => Err(StepError::Retryable(format!(
                    "step {} passed its deadline of {:?}",
                    step.name(),
                    step.deadline()
                ))),
            };
            let result = match result {
                Ok(v) if plan.repeat_actions => step.action(ctx).await.map(|again| {
                    // Both runs must agree, or the action is not idempotent.
                    if again != v {
                        tracing::warn!(
                            step = step.name(),
                            "repeated action returned a different output"
                        );
                    }
                    again
                }),
                other => other,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(StepError::Retryable(msg))
                    if attempt < def.max_attempts && tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!(step = step.name(), attempt, error = %msg, "retrying saga step");
                    let wait = crate::resilience::backoff(
                        attempt,
                        def.backoff_base,
                        Duration::from_secs(2),
                    );
                    tokio::time::sleep(
                        wait.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
                    )
                    .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn run_undo(
        &self,
        def: &SagaDef,
        step: &dyn Step,
        ctx: &StepContext,
        output: &Value,
        plan: &FaultPlan,
    ) -> Result<(), StepError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 && !self.renew_lease(&ctx.saga_id).await.unwrap_or(false) {
                return Err(StepError::Permanent(
                    "this process lost the saga's lease".into(),
                ));
            }
            let mut result = step.undo(ctx, output).await;
            if result.is_ok() && plan.repeat_undos {
                result = step.undo(ctx, output).await;
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= def.max_attempts * 4 => return Err(e),
                Err(e) => {
                    tracing::warn!(step = step.name(), attempt, error = %e, "undo failed; retrying");
                    tokio::time::sleep(crate::resilience::backoff(
                        attempt,
                        def.backoff_base,
                        Duration::from_secs(5),
                    ))
                    .await;
                }
            }
        }
    }

    /// Moves the saga to `status` at `next_step`, fenced by the lease, with
    /// the log lines not written yet, the step's event and, when a step
    /// comes next, that step's start, in one transaction on the database's
    /// writer; then updates `rec` to match. The unwritten lines are taken
    /// whether or not the move succeeds: a move refused ends the run.
    async fn transition(
        &self,
        rec: &mut SagaRecord,
        def: &SagaDef,
        status: SagaStatus,
        next_step: i64,
        error: Option<String>,
        (unwritten, event): (
            &mut Vec<LogLine>,
            Option<(usize, &'static str, &'static str)>,
        ),
    ) -> Result<(), Error> {
        let now = self.clock.now_ms();
        let mut lines = std::mem::take(unwritten);
        if let Some((step, name, ev)) = event {
            let mut line = LogLine::new(step, name, ev, now);
            line.detail = error.clone().unwrap_or_default();
            lines.push(line);
        }
        if status == SagaStatus::Running
            && let Some(next) = def
                .steps
                .get(usize::try_from(next_step).unwrap_or(usize::MAX))
        {
            lines.push(LogLine::new(
                next_step as usize,
                next.name(),
                "action_started",
                now,
            ));
        }
        let end = match (&def.on_end, status) {
            (Some(on_end), SagaStatus::Done | SagaStatus::Unwound) => Some((
                on_end.clone(),
                SagaRecord {
                    status,
                    next_step,
                    error: error.clone(),
                    ..rec.clone()
                },
            )),
            _ => None,
        };
        let change = Transition {
            id: rec.id.clone(),
            status,
            next_step,
            outputs: Value::Object(rec.outputs.clone()).to_string(),
            error: error.clone(),
            lines,
            end,
        };
        let this = self.clone();
        self.db
            .on_writer(async move { this.transition_now(change).await })
            .await?;
        metrics::counter!("plaza_saga_transitions_total", "status" => status.as_str()).increment(1);
        rec.status = status;
        rec.next_step = next_step;
        rec.error = error;
        Ok(())
    }

    async fn transition_now(&self, change: Transition) -> Result<(), Error> {
        let now = self.clock.now_ms();
        let lease_until = now + self.lease.as_millis() as i64;
        let id = change.id.as_str();
        let taken = || {
            Error::Invalid(format!(
                "saga {id} was taken over by another process; leaving it to that one"
            ))
        };
        // On PostgreSQL the record's change and its log lines are one
        // statement, a round trip instead of two; without an end to record,
        // or with an end that writes itself into that statement, it needs
        // no transaction around it either.
        let folded = self.db.dialect() == crate::db::Dialect::Postgres && !change.lines.is_empty();
        if folded && let Some((on_end, saga)) = &change.end {
            let alone = SagaMove {
                change: &change,
                owner: &self.owner,
                now,
                lease_until,
            };
            match on_end.ended_alone(&self.db, saga, &alone).await? {
                Some(true) => return Ok(()),
                Some(false) => return Err(taken()),
                None => {}
            }
        }
        let mut tx = if folded && change.end.is_none() {
            self.db.write_alone().await?
        } else {
            self.db.begin().await?
        };
        let sql = if folded {
            format!(
                "WITH moved AS ({} RETURNING id) {}",
                move_sql(1),
                log_sql("moved", 9, change.lines.len())
            )
        } else {
            move_sql(1)
        };
        let mut q = bind_move(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            &change,
            &self.owner,
            now,
            lease_until,
        );
        if folded {
            for line in &change.lines {
                q = line.bind(q);
            }
        }
        let moved = q.execute(&mut *tx).await?.rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Err(taken());
        }
        if !folded {
            insert_log(&mut tx, id, &change.lines).await?;
        }
        match &change.end {
            Some((on_end, saga)) => {
                on_end.ended(&mut tx, saga).await?;
                // What the end wrote may include events for the relay.
                self.db.commit(tx).await?;
            }
            None => tx.commit().await?,
        }
        Ok(())
    }
}

/// A change of a saga's record, as [`SagaEngine::transition`] makes it.
pub(crate) struct Transition {
    id: String,
    status: SagaStatus,
    next_step: i64,
    /// The outputs so far, as JSON.
    outputs: String,
    error: Option<String>,
    /// The log lines the move writes, in order.
    lines: Vec<LogLine>,
    /// The saga as it ends, with what records its end, when it ends now.
    end: Option<(Arc<dyn SagaEnd>, SagaRecord)>,
}

fn unreachable_status() -> Result<(), Error> {
    Err(Error::Invalid("saga in an unknown state".into()))
}

/// A saga from its row (`id, kind, status, input, outputs, next_step, error`).
fn record(r: &sqlx::any::AnyRow) -> Result<SagaRecord, Error> {
    let parse =
        |s: String| serde_json::from_str::<Value>(&s).map_err(|e| Error::Encoding(e.to_string()));
    Ok(SagaRecord {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        status: SagaStatus::parse(&r.try_get::<String, _>(2)?)?,
        input: parse(r.try_get(3)?)?,
        outputs: match parse(r.try_get(4)?)? {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        next_step: r.try_get(5)?,
        error: r.try_get(6)?,
    })
}

/// A line of a saga's log.
#[derive(Debug, Clone)]
struct LogLine {
    step: usize,
    name: &'static str,
    event: &'static str,
    detail: String,
    at_ms: i64,
}

impl LogLine {
    fn new(step: usize, name: &'static str, event: &'static str, at_ms: i64) -> LogLine {
        LogLine {
            step,
            name,
            event,
            detail: String::new(),
            at_ms,
        }
    }

    /// Binds the line's five values (step, name, event, detail, time).
    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        q.bind(self.step as i64)
            .bind(self.name)
            .bind(self.event)
            .bind(self.detail.as_str())
            .bind(self.at_ms)
    }
}

/// Logs `events`, in order, in one statement.
async fn insert_log(tx: &mut crate::db::Tx, id: &str, events: &[LogLine]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let b = i * 5;
            format!(
                "($1, ${}, ${}, ${}, ${}, ${})",
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO saga_log (saga_id, step, step_name, event, detail, at_ms) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
    for line in events {
        q = line.bind(q);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Helpers that prove, for any saga, that every action is idempotent and
/// every failure unwinds.
pub mod testing {
    use super::*;

    /// Runs a saga whose every action executes twice. It must still finish,
    /// and `verify` (which inspects the world the saga changed) must accept
    /// the result as if each action ran once.
    pub async fn assert_actions_idempotent<F, Fut>(
        engine: &SagaEngine,
        kind: &str,
        input: Value,
        verify: F,
    ) where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let id = format!("idem-{}", uuid::Uuid::new_v4());
        engine.inject(
            &id,
            FaultPlan {
                repeat_actions: true,
                ..Default::default()
            },
        );
        let rec = engine.start(kind, &id, input).await.expect("saga runs");
        assert_eq!(
            rec.status,
            SagaStatus::Done,
            "saga {kind} with repeated actions did not finish: {:?}",
            rec.error
        );
        if let Err(why) = verify(id.clone()).await {
            panic!("saga {kind}: repeating actions changed the outcome: {why}");
        }
    }

    /// For every step, and both before and after that step's action took
    /// effect, fails the saga there (running every undo twice) and checks
    /// with `verify_clean` that nothing of it is left in the world.
    pub async fn assert_every_failure_unwinds<F, Fut>(
        engine: &SagaEngine,
        kind: &str,
        input: Value,
        verify_clean: F,
    ) where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let steps = engine.defs.get(kind).expect("known saga kind").steps.len();
        for at in 0..steps {
            for after_effect in [false, true] {
                let id = format!("unwind-{at}-{after_effect}-{}", uuid::Uuid::new_v4());
                engine.inject(
                    &id,
                    FaultPlan {
                        repeat_undos: true,
                        fail_at: Some((at, after_effect)),
                        ..Default::default()
                    },
                );
                let rec = engine
                    .start(kind, &id, input.clone())
                    .await
                    .expect("saga runs");
                assert_eq!(
                    rec.status,
                    SagaStatus::Unwound,
                    "saga {kind} failing at step {at} (after effect: {after_effect}) did not unwind: {:?}",
                    rec.error
                );
                if let Err(why) = verify_clean(id.clone()).await {
                    panic!(
                        "saga {kind} failing at step {at} (after effect: {after_effect}) left traces: {why}"
                    );
                }
            }
        }
    }
}
