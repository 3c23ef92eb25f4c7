//! The saga engine, with a three-step saga over the test world: every
//! action idempotent, every failure unwound, crashes resumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use plaza_kernel::clock::{ManualClock, SystemClock};
use plaza_kernel::db::Tx;
use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::saga::{
    FaultPlan, SagaDef, SagaEnd, SagaEngine, SagaMove, SagaRecord, SagaStatus, Step, StepContext,
    StepError, testing,
};
use plaza_kernel::testing::{postgres_target, sqlite_target, wait_until};
use serde_json::{Value, json};
use sqlx::Row;

use crate::world;

/// A step that records a hold under its idempotency key.
struct Hold {
    name: &'static str,
    db: Db,
    /// Fail this many attempts with a retryable error first.
    flaky: AtomicUsize,
    /// Block for ever on the next call (a process that dies mid-step).
    hang_once: AtomicBool,
    calls: AtomicUsize,
    slow: Option<Duration>,
}

impl Hold {
    fn new(name: &'static str, db: &Db) -> Arc<Hold> {
        Arc::new(Hold {
            name,
            db: db.clone(),
            flaky: AtomicUsize::new(0),
            hang_once: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            slow: None,
        })
    }
}

#[async_trait]
impl Step for Hold {
    fn name(&self) -> &'static str {
        self.name
    }
    fn deadline(&self) -> Duration {
        Duration::from_millis(300)
    }
    async fn action(&self, ctx: &StepContext) -> Result<Value, StepError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang_once.swap(false, Ordering::SeqCst) {
            // Take effect, then never return: the process "dies" here.
            self.write(ctx).await?;
            std::future::pending::<()>().await;
        }
        if let Some(d) = self.slow {
            tokio::time::sleep(d).await;
        }
        if self.flaky.load(Ordering::SeqCst) > 0 {
            self.flaky.fetch_sub(1, Ordering::SeqCst);
            return Err(StepError::Retryable("peer unavailable".into()));
        }
        self.write(ctx).await?;
        Ok(json!({ "hold": ctx.idempotency_key }))
    }
    async fn undo(&self, ctx: &StepContext, _output: &Value) -> Result<(), StepError> {
        sqlx::query("DELETE FROM holds WHERE idem_key = $1")
            .bind(&ctx.idempotency_key)
            .execute(self.db.reader())
            .await
            .map_err(|e| StepError::Retryable(e.to_string()))?;
        Ok(())
    }
}

impl Hold {
    async fn write(&self, ctx: &StepContext) -> Result<(), StepError> {
        sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ($1, $2, $3) ON CONFLICT (idem_key) DO NOTHING")
            .bind(&ctx.idempotency_key)
            .bind(&ctx.saga_id)
            .bind(self.name)
            .execute(self.db.reader())
            .await
            .map_err(|e| StepError::Retryable(e.to_string()))?;
        Ok(())
    }
}

async fn holds(db: &Db, saga: &str) -> Vec<String> {
    sqlx::query("SELECT kind FROM holds WHERE saga = $1 ORDER BY kind")
        .bind(saga)
        .fetch_all(db.reader())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn def(steps: &[Arc<Hold>]) -> SagaDef {
    SagaDef::new(
        "booking",
        steps.iter().map(|s| s.clone() as Arc<dyn Step>).collect(),
    )
}

async fn proofs(target: StorageTarget) {
    let db = world(&target).await;
    let steps = [
        Hold::new("a_reserve", &db),
        Hold::new("b_charge", &db),
        Hold::new("c_ship", &db),
    ];
    let engine = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(SystemClock));
    let d = db.clone();
    testing::assert_actions_idempotent(&engine, "booking", json!({"who": "t"}), |id| async move {
        let h = holds(&d, &id).await;
        if h == ["a_reserve", "b_charge", "c_ship"] {
            Ok(())
        } else {
            Err(format!("holds: {h:?}"))
        }
    })
    .await;
    let d = db.clone();
    testing::assert_every_failure_unwinds(&engine, "booking", json!({"who": "t"}), |id| {
        let d = d.clone();
        async move {
            let h = holds(&d, &id).await;
            if h.is_empty() {
                Ok(())
            } else {
                Err(format!("left behind: {h:?}"))
            }
        }
    })
    .await;
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_every_action_is_idempotent_and_every_failure_unwinds() {
    proofs(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_every_action_is_idempotent_and_every_failure_unwinds() {
    proofs(postgres_target()).await;
}

#[tokio::test]
async fn the_proofs_catch_a_saga_that_does_not_unwind() {
    // A step whose undo forgets what it did must be caught by the helper.
    struct Sticky(Db);
    #[async_trait]
    impl Step for Sticky {
        fn name(&self) -> &'static str {
            "sticky"
        }
        async fn action(&self, ctx: &StepContext) -> Result<Value, StepError> {
            sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ($1, $2, 'sticky') ON CONFLICT (idem_key) DO NOTHING")
                .bind(&ctx.idempotency_key)
                .bind(&ctx.saga_id)
                .execute(self.0.reader())
                .await
                .map_err(|e| StepError::Retryable(e.to_string()))?;
            Ok(Value::Null)
        }
        async fn undo(&self, _ctx: &StepContext, _output: &Value) -> Result<(), StepError> {
            Ok(())
        }
    }
    let db = world(&sqlite_target()).await;
    let engine = SagaEngine::new(
        db.clone(),
        vec![SagaDef::new("sticky", vec![Arc::new(Sticky(db.clone()))])],
        Arc::new(SystemClock),
    );
    let d = db.clone();
    let caught = tokio::spawn(async move {
        testing::assert_every_failure_unwinds(&engine, "sticky", Value::Null, |id| {
            let d = d.clone();
            async move {
                if holds(&d, &id).await.is_empty() {
                    Ok(())
                } else {
                    Err("left a hold".into())
                }
            }
        })
        .await
    })
    .await;
    assert!(
        caught.is_err(),
        "the helper must fail for a step whose undo does nothing"
    );
}

#[tokio::test]
async fn retryable_failures_are_retried_and_deadlines_unwind() {
    let db = world(&sqlite_target()).await;
    let a = Hold::new("a_reserve", &db);
    let b = Hold::new("b_charge", &db);
    b.flaky.store(2, Ordering::SeqCst);
    let engine = SagaEngine::new(
        db.clone(),
        vec![def(&[a.clone(), b.clone()])],
        Arc::new(SystemClock),
    );
    let rec = engine.start("booking", "s-retry", json!({})).await.unwrap();
    assert_eq!(rec.status, SagaStatus::Done);
    assert_eq!(
        b.calls.load(Ordering::SeqCst),
        3,
        "two retryable failures, then success"
    );

    // A step slower than its deadline fails for good and unwinds.
    let slow = Arc::new(Hold {
        name: "b_slow",
        db: db.clone(),
        flaky: AtomicUsize::new(0),
        hang_once: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        slow: Some(Duration::from_secs(5)),
    });
    let engine = SagaEngine::new(
        db.clone(),
        vec![def(&[a.clone(), slow])],
        Arc::new(SystemClock),
    );
    let rec = engine.start("booking", "s-slow", json!({})).await.unwrap();
    assert_eq!(rec.status, SagaStatus::Unwound);
    assert!(rec.error.unwrap_or_default().contains("deadline"));
    assert!(
        holds(&db, "s-slow").await.is_empty(),
        "the first step was undone"
    );
    let log: Vec<String> = engine
        .log("s-slow")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n, e)| format!("{n}:{e}"))
        .collect();
    assert_eq!(
        log,
        [
            "a_reserve:action_started",
            "a_reserve:action_done",
            "b_slow:action_started",
            "b_slow:action_failed",
            "b_slow:undo_done",
            "a_reserve:undo_done"
        ]
    );
}

#[tokio::test]
async fn a_saga_interrupted_by_a_crash_resumes_and_finishes_exactly_once() {
    let db = world(&sqlite_target()).await;
    let steps = [
        Hold::new("a_reserve", &db),
        Hold::new("b_charge", &db),
        Hold::new("c_ship", &db),
    ];
    steps[1].hang_once.store(true, Ordering::SeqCst);
    let clock = ManualClock::new(1_000_000);
    let first = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(clock.clone()));
    first.create("booking", "s-crash", json!({})).await.unwrap();
    let running = {
        let e = first.clone();
        tokio::spawn(async move { e.run("s-crash").await })
    };
    let e = first.clone();
    wait_until(Duration::from_secs(10), "step b to start", || {
        let e = e.clone();
        async move {
            e.log("s-crash")
                .await
                .unwrap()
                .iter()
                .any(|(_, n, ev)| n == "b_charge" && ev == "action_started")
        }
    })
    .await;
    running.abort(); // the process dies in the middle of step b, after its effect
    let _ = running.await;

    // A new process starts. While the dead one's lease holds, it waits...
    let second = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(clock.clone()));
    assert_eq!(second.resume_all().await.unwrap(), 0);
    // ...and once the lease has run out it finishes the saga.
    clock.advance_ms(120_000);
    assert_eq!(second.resume_all().await.unwrap(), 1);
    let rec = second.load("s-crash").await.unwrap().unwrap();
    assert_eq!(rec.status, SagaStatus::Done);
    assert_eq!(
        holds(&db, "s-crash").await,
        ["a_reserve", "b_charge", "c_ship"],
        "each effect exactly once"
    );
    assert_eq!(
        steps[0].calls.load(Ordering::SeqCst),
        1,
        "a finished step is not run again"
    );
    assert_eq!(
        second.resume_all().await.unwrap(),
        0,
        "nothing left to resume"
    );
}

#[tokio::test]
async fn starting_the_same_saga_twice_runs_it_once() {
    let db = world(&sqlite_target()).await;
    let steps = [Hold::new("a_reserve", &db)];
    let engine = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(SystemClock));
    engine
        .start("booking", "s-twice", json!({"n": 1}))
        .await
        .unwrap();
    let again = engine
        .start("booking", "s-twice", json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(again.status, SagaStatus::Done);
    assert_eq!(
        again.input,
        json!({"n": 1}),
        "the first start's input stands"
    );
    assert_eq!(steps[0].calls.load(Ordering::SeqCst), 1);
    assert!(
        engine.start("nope", "x", json!({})).await.is_err(),
        "unknown saga kinds are refused"
    );
}

#[tokio::test]
async fn a_start_while_the_saga_runs_answers_with_its_end() {
    // A background pass may start a saga just before the request that
    // should: the request then waits for that run and answers with its
    // end, not with a saga still running.
    let db = world(&sqlite_target()).await;
    let slow = Arc::new(Hold {
        name: "a_reserve",
        db: db.clone(),
        flaky: AtomicUsize::new(0),
        hang_once: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        slow: Some(Duration::from_millis(200)),
    });
    let steps = [slow];
    let engine = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(SystemClock));
    let first = {
        let e = engine.clone();
        tokio::spawn(async move { e.start("booking", "s-race", json!({})).await })
    };
    let e = engine.clone();
    wait_until(Duration::from_secs(10), "the step to start", || {
        let e = e.clone();
        async move {
            e.log("s-race")
                .await
                .unwrap()
                .iter()
                .any(|(_, _, ev)| ev == "action_started")
        }
    })
    .await;
    let second = engine.start("booking", "s-race", json!({})).await.unwrap();
    assert_eq!(second.status, SagaStatus::Done);
    assert_eq!(first.await.unwrap().unwrap().status, SagaStatus::Done);
    assert_eq!(steps[0].calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sqlite_a_process_that_lost_its_lease_cannot_move_the_saga() {
    a_process_that_lost_its_lease_cannot_move_the_saga(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_a_process_that_lost_its_lease_cannot_move_the_saga() {
    // PostgreSQL moves the saga and logs the move in one statement.
    a_process_that_lost_its_lease_cannot_move_the_saga(postgres_target()).await;
}

async fn a_process_that_lost_its_lease_cannot_move_the_saga(target: StorageTarget) {
    let db = world(&target).await;
    let a = Hold::new("a_reserve", &db);
    let b = Arc::new(Hold {
        name: "b_charge",
        db: db.clone(),
        flaky: AtomicUsize::new(0),
        hang_once: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        slow: Some(Duration::from_millis(250)),
    });
    let steps = [a, b];
    let clock = ManualClock::new(1_000_000);
    let first = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(clock.clone()));
    first.create("booking", "s-fence", json!({})).await.unwrap();
    let slow_run = {
        let e = first.clone();
        tokio::spawn(async move { e.run("s-fence").await })
    };
    // A second run on the same engine while the first is under way changes nothing.
    let e = first.clone();
    wait_until(Duration::from_secs(10), "step b to start", || {
        let e = e.clone();
        async move {
            e.log("s-fence")
                .await
                .unwrap()
                .iter()
                .any(|(_, n, ev)| n == "b_charge" && ev == "action_started")
        }
    })
    .await;
    let twin = first.run("s-fence").await.unwrap();
    assert_eq!(twin.status, SagaStatus::Running);
    // The first process is presumed dead once its lease runs out; another takes over and finishes.
    clock.advance_ms(120_000);
    let second = SagaEngine::new(db.clone(), vec![def(&steps)], Arc::new(clock.clone()));
    assert_eq!(second.resume_all().await.unwrap(), 1);
    // The first process wakes up: its late result is refused, not applied.
    let late = slow_run.await.unwrap();
    assert!(
        late.is_err(),
        "a fenced-off run must not move the saga: {late:?}"
    );
    let rec = second.load("s-fence").await.unwrap().unwrap();
    assert_eq!(rec.status, SagaStatus::Done);
    assert_eq!(holds(&db, "s-fence").await, ["a_reserve", "b_charge"]);
    // The refused move logged nothing: each step's completion is logged
    // once, by the process that took over.
    let log = second.log("s-fence").await.unwrap();
    let done = log
        .iter()
        .filter(|(_, n, ev)| n == "b_charge" && ev != "action_started")
        .count();
    assert_eq!(done, 1, "{log:?}");
    db.drop_schema().await.unwrap();
}

/// Records the saga's end as a hold `end:<status>`, or fails when told to.
struct Ending {
    fail: AtomicBool,
}

#[async_trait]
impl SagaEnd for Ending {
    async fn ended(&self, tx: &mut Tx, saga: &SagaRecord) -> Result<(), plaza_kernel::Error> {
        sqlx::query("INSERT INTO holds (idem_key, saga, kind) VALUES ($1, $2, $3)")
            .bind(format!("{}/end", saga.id))
            .bind(&saga.id)
            .bind(format!("end:{:?}", saga.status))
            .execute(&mut **tx)
            .await?;
        if self.fail.load(Ordering::SeqCst) {
            return Err(plaza_kernel::Error::Invalid(
                "the owner's record failed".into(),
            ));
        }
        Ok(())
    }
}

async fn the_end_is_recorded_with_the_saga_or_not_at_all(target: StorageTarget) {
    let db = world(&target).await;
    let steps = [Hold::new("a_reserve", &db), Hold::new("b_charge", &db)];
    let ending = Arc::new(Ending {
        fail: AtomicBool::new(true),
    });
    let engine = SagaEngine::new(
        db.clone(),
        vec![def(&steps).with_end(ending.clone())],
        Arc::new(SystemClock),
    );

    // The owner's record fails: the saga is not done either.
    assert!(engine.start("booking", "s-end", json!({})).await.is_err());
    let rec = engine.load("s-end").await.unwrap().unwrap();
    assert_eq!(rec.status, SagaStatus::Running);
    assert_eq!(holds(&db, "s-end").await, ["a_reserve", "b_charge"]);

    // Run again, it ends, and its end is recorded once.
    ending.fail.store(false, Ordering::SeqCst);
    let rec = engine.run("s-end").await.unwrap();
    assert_eq!(rec.status, SagaStatus::Done);
    assert_eq!(
        holds(&db, "s-end").await,
        ["a_reserve", "b_charge", "end:Done"]
    );

    // An unwound saga's end is recorded too.
    engine.inject(
        "s-unwound",
        FaultPlan {
            fail_at: Some((1, false)),
            ..FaultPlan::default()
        },
    );
    let rec = engine
        .start("booking", "s-unwound", json!({}))
        .await
        .unwrap();
    assert_eq!(rec.status, SagaStatus::Unwound);
    assert_eq!(holds(&db, "s-unwound").await, ["end:Unwound"]);
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_the_end_is_recorded_with_the_saga_or_not_at_all() {
    the_end_is_recorded_with_the_saga_or_not_at_all(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_the_end_is_recorded_with_the_saga_or_not_at_all() {
    the_end_is_recorded_with_the_saga_or_not_at_all(postgres_target()).await;
}

/// A step that only checks something: it changes nothing, so it asks for
/// no checkpoint. It can move the engine's clock on, as a slow check would.
struct Check {
    name: &'static str,
    calls: AtomicUsize,
    takes: Option<(ManualClock, i64)>,
}

impl Check {
    fn new(name: &'static str) -> Arc<Check> {
        Arc::new(Check {
            name,
            calls: AtomicUsize::new(0),
            takes: None,
        })
    }
}

#[async_trait]
impl Step for Check {
    fn name(&self) -> &'static str {
        self.name
    }
    fn checkpoint(&self) -> bool {
        false
    }
    async fn action(&self, _ctx: &StepContext) -> Result<Value, StepError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((clock, ms)) = &self.takes {
            clock.advance_ms(*ms);
        }
        Ok(json!({ "checked": self.name }))
    }
    async fn undo(&self, _ctx: &StepContext, _output: &Value) -> Result<(), StepError> {
        Ok(())
    }
}

async fn saga_row(db: &Db, id: &str) -> (String, i64) {
    let r = sqlx::query("SELECT status, next_step FROM saga WHERE id = $1")
        .bind(id)
        .fetch_one(db.reader())
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

async fn log_lines(engine: &SagaEngine, id: &str) -> Vec<String> {
    engine
        .log(id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n, e)| format!("{n}:{e}"))
        .collect()
}

async fn checks_are_written_with_the_next_change(target: StorageTarget) {
    let db = world(&target).await;
    let a = Check::new("a_check");
    let b = Check::new("b_check");
    let c = Hold::new("c_ship", &db);
    c.hang_once.store(true, Ordering::SeqCst);
    let steps: Vec<Arc<dyn Step>> = vec![a.clone(), b.clone(), c.clone()];
    let clock = ManualClock::new(1_000_000);
    let first = SagaEngine::new(
        db.clone(),
        vec![SagaDef::new("booking", steps.clone())],
        Arc::new(clock.clone()),
    );
    first
        .create("booking", "s-checks", json!({}))
        .await
        .unwrap();
    let running = {
        let e = first.clone();
        tokio::spawn(async move { e.run("s-checks").await })
    };
    let d = db.clone();
    wait_until(Duration::from_secs(10), "step c to take effect", || {
        let d = d.clone();
        async move { holds(&d, "s-checks").await == ["c_ship"] }
    })
    .await;
    // Both checks are done, and nothing of them is written yet.
    assert_eq!(b.calls.load(Ordering::SeqCst), 1);
    assert_eq!(saga_row(&db, "s-checks").await, ("running".to_owned(), 0));
    assert_eq!(
        log_lines(&first, "s-checks").await,
        ["a_check:action_started"]
    );
    running.abort(); // the process dies in step c, after its effect
    let _ = running.await;

    // Another process takes over once the lease runs out: the checks run
    // again, the effect is not repeated, and the log tells it all in order.
    clock.advance_ms(120_000);
    let second = SagaEngine::new(
        db.clone(),
        vec![SagaDef::new("booking", steps)],
        Arc::new(clock.clone()),
    );
    assert_eq!(second.resume_all().await.unwrap(), 1);
    assert_eq!(saga_row(&db, "s-checks").await, ("done".to_owned(), 3));
    assert_eq!(
        (
            a.calls.load(Ordering::SeqCst),
            b.calls.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
    assert_eq!(holds(&db, "s-checks").await, ["c_ship"]);
    assert_eq!(
        log_lines(&second, "s-checks").await,
        [
            "a_check:action_started",
            "a_check:action_started",
            "a_check:action_done",
            "b_check:action_started",
            "b_check:action_done",
            "c_ship:action_started",
            "c_ship:action_done",
        ]
    );

    // A failure after unwritten checks writes them first, then unwinds.
    second.inject(
        "s-fails",
        FaultPlan {
            fail_at: Some((2, false)),
            ..FaultPlan::default()
        },
    );
    let rec = second.start("booking", "s-fails", json!({})).await.unwrap();
    assert_eq!(rec.status, SagaStatus::Unwound);
    assert_eq!(
        log_lines(&second, "s-fails").await,
        [
            "a_check:action_started",
            "a_check:action_done",
            "b_check:action_started",
            "b_check:action_done",
            "c_ship:action_started",
            "c_ship:action_failed",
            "c_ship:undo_done",
            "b_check:undo_done",
            "a_check:undo_done",
        ]
    );

    // A check that takes half the lease is written before the next step
    // runs, so that the lease is renewed.
    let slow = Arc::new(Check {
        name: "a_check",
        calls: AtomicUsize::new(0),
        takes: Some((clock.clone(), 30_000)),
    });
    let c = Hold::new("c_ship", &db);
    c.hang_once.store(true, Ordering::SeqCst);
    let third = SagaEngine::new(
        db.clone(),
        vec![SagaDef::new(
            "booking",
            vec![slow, Check::new("b_check"), c],
        )],
        Arc::new(clock.clone()),
    );
    third
        .create("booking", "s-slow-check", json!({}))
        .await
        .unwrap();
    let running = {
        let e = third.clone();
        tokio::spawn(async move { e.run("s-slow-check").await })
    };
    let d = db.clone();
    wait_until(Duration::from_secs(10), "step c to take effect", || {
        let d = d.clone();
        async move { holds(&d, "s-slow-check").await == ["c_ship"] }
    })
    .await;
    assert_eq!(
        saga_row(&db, "s-slow-check").await,
        ("running".to_owned(), 1),
        "the slow check was written; the quick one after it not yet"
    );
    running.abort();
    let _ = running.await;
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_checks_are_written_with_the_next_change() {
    checks_are_written_with_the_next_change(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_checks_are_written_with_the_next_change() {
    checks_are_written_with_the_next_change(postgres_target()).await;
}

/// Records the saga's end as a hold `end:<status>` under `<saga>/end/<tag>`
/// in the statement that moves the saga (PostgreSQL), or breaks that
/// statement when told to fail.
struct EndingAlone {
    tag: &'static str,
    fail: AtomicBool,
}

#[async_trait]
impl SagaEnd for EndingAlone {
    async fn ended(&self, _tx: &mut Tx, _saga: &SagaRecord) -> Result<(), plaza_kernel::Error> {
        Err(plaza_kernel::Error::Invalid(
            "this end is written only with the saga's move".into(),
        ))
    }

    async fn ended_alone(
        &self,
        db: &Db,
        saga: &SagaRecord,
        change: &SagaMove<'_>,
    ) -> Result<Option<bool>, plaza_kernel::Error> {
        let gate = SagaMove::GATE;
        // A kind of NULL breaks the statement on the column's constraint.
        let sql = format!(
            "WITH {},
             ended AS (INSERT INTO holds (idem_key, saga, kind)
                       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM {gate}))
             SELECT COUNT(*) FROM {gate}",
            change.clauses(4)
        );
        let kind = (!self.fail.load(Ordering::SeqCst)).then(|| format!("end:{:?}", saga.status));
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(format!("{}/end/{}", saga.id, self.tag))
            .bind(saga.id.clone())
            .bind(kind);
        let moved: i64 = change.bind(q).fetch_one(db.reader()).await?.try_get(0)?;
        Ok(Some(moved == 1))
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_an_end_written_with_the_saga_s_move_is_written_only_if_the_saga_moves() {
    let db = world(&postgres_target()).await;
    let a = Check::new("a_check");
    let b = Arc::new(Hold {
        name: "b_charge",
        db: db.clone(),
        flaky: AtomicUsize::new(0),
        hang_once: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        slow: Some(Duration::from_millis(250)),
    });
    let steps: Vec<Arc<dyn Step>> = vec![a, b.clone()];
    let first_end = Arc::new(EndingAlone {
        tag: "first",
        fail: AtomicBool::new(true),
    });
    let clock = ManualClock::new(1_000_000);
    let first = SagaEngine::new(
        db.clone(),
        vec![SagaDef::new("booking", steps.clone()).with_end(first_end.clone())],
        Arc::new(clock.clone()),
    );

    // The end's part of the statement fails: the saga does not move either.
    assert!(first.start("booking", "s-alone", json!({})).await.is_err());
    assert_eq!(saga_row(&db, "s-alone").await, ("running".to_owned(), 0));
    assert_eq!(holds(&db, "s-alone").await, ["b_charge"]);

    // It ends: the saga's move, its log and the end, together.
    first_end.fail.store(false, Ordering::SeqCst);
    assert_eq!(first.run("s-alone").await.unwrap().status, SagaStatus::Done);
    assert_eq!(saga_row(&db, "s-alone").await, ("done".to_owned(), 2));
    assert_eq!(holds(&db, "s-alone").await, ["b_charge", "end:Done"]);
    assert_eq!(
        log_lines(&first, "s-alone").await,
        [
            "a_check:action_started",
            "a_check:action_started",
            "a_check:action_done",
            "b_charge:action_started",
            "b_charge:action_done",
        ],
        "the failed end's statement wrote no line; the second run's lines are all there"
    );

    // A process that lost the saga to another writes no end: only the
    // taker's end is recorded, and the late one is refused.
    let slow_run = {
        let e = first.clone();
        tokio::spawn(async move { e.start("booking", "s-fenced", json!({})).await })
    };
    let calls = b.calls.load(Ordering::SeqCst);
    wait_until(Duration::from_secs(10), "step b to start", || {
        let b = b.clone();
        async move { b.calls.load(Ordering::SeqCst) > calls }
    })
    .await;
    clock.advance_ms(120_000);
    let second = SagaEngine::new(
        db.clone(),
        vec![
            SagaDef::new("booking", steps).with_end(Arc::new(EndingAlone {
                tag: "second",
                fail: AtomicBool::new(false),
            })),
        ],
        Arc::new(clock.clone()),
    );
    assert_eq!(second.resume_all().await.unwrap(), 1);
    let late = slow_run.await.unwrap();
    assert!(late.is_err(), "a fenced-off end must be refused: {late:?}");
    assert_eq!(holds(&db, "s-fenced").await, ["b_charge", "end:Done"]);
    let ends: Vec<String> =
        sqlx::query("SELECT idem_key FROM holds WHERE saga = 's-fenced' AND kind = 'end:Done'")
            .fetch_all(db.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(ends, ["s-fenced/end/second"]);
    db.drop_schema().await.unwrap();
}
