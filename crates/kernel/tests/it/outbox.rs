//! The outbox, the relay and both buses: nothing lost, nothing applied
//! twice, order kept per aggregate — also when the relay or the NATS
//! connection dies in the middle of a batch.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use plaza_kernel::Error;
use plaza_kernel::bus::{
    Bus, Durability, Envelope, EventFilter, Handler, HandlerError, InProcessBus, Inbox, NatsBus,
    Recorder, TxHandler,
};
use plaza_kernel::db::{Db, StorageTarget, Tx};
use plaza_kernel::outbox::{self, NewEvent, Relay, RelayConfig};
use plaza_kernel::shutdown::{self, Shutdown};
use plaza_kernel::testing::{
    NATS_ENV, TcpProxy, postgres_target, require, sqlite_target, unique, wait_until,
};
use sqlx::Row;

use crate::world;

const AGGREGATES: usize = 10;
const PER_TX: usize = 10;

/// Applies an event by writing a row: a second application would show.
struct Apply;

#[async_trait]
impl TxHandler for Apply {
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        let text = std::str::from_utf8(&ev.payload)?;
        let seq: i64 = text.parse()?;
        sqlx::query("INSERT INTO applied (event_id, aggregate, seq) VALUES ($1, $2, $3)")
            .bind(&ev.id)
            .bind(&ev.aggregate_id)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Writes `n` events over [`AGGREGATES`] aggregates, [`PER_TX`] per
/// transaction; each event's payload is its sequence number.
async fn write_events(db: &Db, n: usize) {
    let mut seq = 0;
    while seq < n {
        let mut tx = db.begin().await.unwrap();
        for _ in 0..PER_TX.min(n - seq) {
            outbox::enqueue(
                &mut tx,
                NewEvent {
                    event_type: "world.Moved".into(),
                    aggregate_type: "thing".into(),
                    aggregate_id: format!("agg-{}", seq % AGGREGATES),
                    payload: seq.to_string().into_bytes(),
                },
            )
            .await
            .unwrap();
            seq += 1;
        }
        db.commit(tx).await.unwrap();
    }
}

/// Every event applied exactly once, in order within each aggregate.
async fn assert_applied_once_in_order(db: &Db, n: usize) {
    let rows = sqlx::query("SELECT event_id, aggregate, seq FROM applied ORDER BY id")
        .fetch_all(db.reader())
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        n,
        "every event applied exactly once (applied rows = events)"
    );
    let mut ids = std::collections::HashSet::new();
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for r in &rows {
        let id: String = r.get(0);
        assert!(ids.insert(id.clone()), "event {id} applied twice");
        let agg: String = r.get(1);
        let seq: i64 = r.get(2);
        if let Some(prev) = last.insert(agg.clone(), seq) {
            assert!(
                seq > prev,
                "aggregate {agg}: event {seq} applied after {prev}"
            );
        }
    }
    assert_eq!(outbox::pending(db).await.unwrap(), 0, "outbox drained");
}

async fn applied(db: &Db) -> usize {
    let r = sqlx::query("SELECT COUNT(*) FROM applied")
        .fetch_one(db.reader())
        .await
        .unwrap();
    r.get::<i64, _>(0) as usize
}

/// Forwards the first `budget` events, then hangs for ever in the middle of
/// a batch, as a relay that was killed would.
struct HangAfter {
    inner: Arc<dyn Bus>,
    budget: AtomicUsize,
}

#[async_trait]
impl Bus for HangAfter {
    async fn publish(&self, batch: &[Envelope]) -> Result<usize, Error> {
        let left = self.budget.load(Ordering::SeqCst);
        let k = left.min(batch.len());
        let sent = self.inner.publish(&batch[..k]).await?;
        self.budget.fetch_sub(sent, Ordering::SeqCst);
        if k < batch.len() || sent < k {
            std::future::pending::<()>().await;
        }
        Ok(sent)
    }
    async fn subscribe(
        &self,
        c: &str,
        f: EventFilter,
        d: Durability,
        h: Arc<dyn Handler>,
        s: Shutdown,
    ) -> Result<(), Error> {
        self.inner.subscribe(c, f, d, h, s).await
    }
    fn kind(&self) -> &'static str {
        "hang-after"
    }
}

fn relay_cfg(lease_ms: u64) -> RelayConfig {
    RelayConfig {
        instance: uuid::Uuid::new_v4().to_string(),
        batch_size: 100,
        lease: Duration::from_millis(lease_ms),
        poll: Duration::from_millis(20),
    }
}

async fn relay_killed_mid_batch(target: StorageTarget, bus: Arc<dyn Bus>, expect_redelivery: bool) {
    const N: usize = 300;
    let db = world(&target).await;
    let (trigger, shutdown) = shutdown::channel();
    let recorder = Recorder::default();
    bus.subscribe(
        "world-apply",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "world-apply", Apply)),
        shutdown.clone(),
    )
    .await
    .unwrap();
    bus.subscribe(
        "world-record",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(recorder.clone()),
        shutdown.clone(),
    )
    .await
    .unwrap();
    write_events(&db, N).await;

    // The first relay dies after 150 events: in the middle of its second batch.
    let dying = Arc::new(HangAfter {
        inner: bus.clone(),
        budget: AtomicUsize::new(150),
    });
    let first = tokio::spawn(
        Relay::new(db.clone(), dying.clone(), relay_cfg(300)).run(shutdown.clone(), Duration::ZERO),
    );
    wait_until(
        Duration::from_secs(20),
        "first relay to publish 150 events",
        || async { dying.budget.load(Ordering::SeqCst) == 0 },
    )
    .await;
    first.abort();
    let _ = first.await;

    // A second relay takes over once the first one's lease runs out.
    let second = tokio::spawn(
        Relay::new(db.clone(), bus.clone(), relay_cfg(10_000))
            .run(shutdown.clone(), Duration::from_secs(2)),
    );
    wait_until(Duration::from_secs(30), "every event applied", || async {
        applied(&db).await >= N
    })
    .await;
    wait_until(Duration::from_secs(10), "outbox drained", || async {
        outbox::pending(&db).await.unwrap() == 0
    })
    .await;
    trigger.trigger();
    second.await.unwrap();

    assert_applied_once_in_order(&db, N).await;
    let deliveries: usize = recorder.seen.lock().unwrap().values().sum();
    let distinct = recorder.seen.lock().unwrap().len();
    assert_eq!(distinct, N, "every event delivered");
    if expect_redelivery {
        assert!(
            deliveries > N,
            "the dead relay's batch was delivered again ({deliveries} deliveries), and the inbox absorbed it"
        );
    }
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn embedded_relay_killed_mid_batch_loses_nothing_and_applies_nothing_twice() {
    relay_killed_mid_batch(sqlite_target(), Arc::new(InProcessBus::new()), true).await;
}

async fn test_nats(url: &str) -> NatsBus {
    let name = unique("T");
    NatsBus::connect_with(url, &name, &format!("t.{name}"), Duration::from_millis(800))
        .await
        .expect("NATS")
}

#[tokio::test]
#[ignore = "needs PostgreSQL and NATS: set PLAZA_TEST_DATABASE_URL and PLAZA_TEST_NATS_URL (.ci/run does)"]
async fn distributed_relay_killed_mid_batch_loses_nothing_and_applies_nothing_twice() {
    let nats = test_nats(&require(NATS_ENV)).await;
    relay_killed_mid_batch(postgres_target(), Arc::new(nats.clone()), false).await;
    assert_eq!(
        nats.stream_messages("world").await.unwrap(),
        300,
        "JetStream de-duplicated the republished events"
    );
}

/// Cuts the NATS connection in the middle of the first batch.
struct CutMidBatch {
    inner: NatsBus,
    proxy: Arc<TcpProxy>,
    cut_done: AtomicUsize,
}

#[async_trait]
impl Bus for CutMidBatch {
    async fn publish(&self, batch: &[Envelope]) -> Result<usize, Error> {
        if self.cut_done.swap(1, Ordering::SeqCst) == 0 && batch.len() > 1 {
            let half = batch.len() / 2;
            let sent = self.inner.publish(&batch[..half]).await?;
            self.proxy.cut().await;
            let rest = self.inner.publish(&batch[half..]).await.unwrap_or(0);
            return Ok(if sent == half { sent + rest } else { sent });
        }
        self.inner.publish(batch).await
    }
    async fn subscribe(
        &self,
        c: &str,
        f: EventFilter,
        d: Durability,
        h: Arc<dyn Handler>,
        s: Shutdown,
    ) -> Result<(), Error> {
        self.inner.subscribe(c, f, d, h, s).await
    }
    fn kind(&self) -> &'static str {
        "cut-mid-batch"
    }
}

async fn nats_connection_cut_mid_batch(target: StorageTarget) {
    const N: usize = 300;
    let url = require(NATS_ENV);
    let hostport = url.trim_start_matches("nats://");
    let server = hostport.to_socket_addrs().unwrap().next().unwrap();
    let proxy = Arc::new(TcpProxy::start(server).await);
    let nats = test_nats(&format!("nats://{}", proxy.addr)).await;
    let db = world(&target).await;
    let (trigger, shutdown) = shutdown::channel();
    let bus = Arc::new(CutMidBatch {
        inner: nats.clone(),
        proxy: proxy.clone(),
        cut_done: AtomicUsize::new(0),
    });
    bus.subscribe(
        "world-apply",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "world-apply", Apply)),
        shutdown.clone(),
    )
    .await
    .unwrap();
    write_events(&db, N).await;
    let relay = tokio::spawn(
        Relay::new(db.clone(), bus.clone(), relay_cfg(5_000))
            .run(shutdown.clone(), Duration::from_secs(2)),
    );
    wait_until(
        Duration::from_secs(60),
        "every event applied after the connection was cut",
        || async { applied(&db).await >= N },
    )
    .await;
    wait_until(Duration::from_secs(10), "outbox drained", || async {
        outbox::pending(&db).await.unwrap() == 0
    })
    .await;
    trigger.trigger();
    relay.await.unwrap();
    assert_eq!(
        bus.cut_done.load(Ordering::SeqCst),
        1,
        "the connection was cut"
    );
    assert_applied_once_in_order(&db, N).await;
    assert_eq!(
        nats.stream_messages("world").await.unwrap(),
        N as u64,
        "no event stored twice"
    );
    db.drop_schema().await.unwrap();
}

#[tokio::test]
#[ignore = "needs NATS: set PLAZA_TEST_NATS_URL (.ci/run does)"]
async fn embedded_storage_nats_connection_cut_mid_batch_loses_nothing() {
    nats_connection_cut_mid_batch(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and NATS: set PLAZA_TEST_DATABASE_URL and PLAZA_TEST_NATS_URL (.ci/run does)"]
async fn distributed_nats_connection_cut_mid_batch_loses_nothing() {
    nats_connection_cut_mid_batch(postgres_target()).await;
}

/// A consumer that fails its first attempt at every third event.
struct Flaky {
    failed: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[async_trait]
impl TxHandler for Flaky {
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        let seq: i64 = std::str::from_utf8(&ev.payload)?.parse()?;
        if seq % 3 == 0 && self.failed.lock().unwrap().insert(ev.id.clone()) {
            return Err("transient failure".into());
        }
        Apply.apply(tx, ev).await
    }
}

#[tokio::test]
async fn a_failing_consumer_gets_the_event_again_and_applies_it_once() {
    const N: usize = 60;
    let db = world(&sqlite_target()).await;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let (trigger, shutdown) = shutdown::channel();
    let flaky = Flaky {
        failed: Default::default(),
    };
    bus.subscribe(
        "flaky",
        EventFilter::event("world.Moved"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "flaky", flaky)),
        shutdown.clone(),
    )
    .await
    .unwrap();
    write_events(&db, N).await;
    let relay = tokio::spawn(
        Relay::new(db.clone(), bus, relay_cfg(10_000)).run(shutdown, Duration::from_secs(1)),
    );
    wait_until(Duration::from_secs(20), "all applied", || async {
        applied(&db).await >= N
    })
    .await;
    wait_until(Duration::from_secs(5), "outbox drained", || async {
        outbox::pending(&db).await.unwrap() == 0
    })
    .await;
    trigger.trigger();
    relay.await.unwrap();
    assert_applied_once_in_order(&db, N).await;
}

#[tokio::test]
async fn shutdown_drains_the_outbox() {
    let db = world(&sqlite_target()).await;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let (trigger, shutdown) = shutdown::channel();
    bus.subscribe(
        "apply",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "apply", Apply)),
        shutdown.clone(),
    )
    .await
    .unwrap();
    // Shutdown is already requested when the relay starts: it only drains.
    trigger.trigger();
    write_events(&db, 250).await;
    Relay::new(db.clone(), bus, relay_cfg(10_000))
        .run(shutdown, Duration::from_secs(10))
        .await;
    assert_applied_once_in_order(&db, 250).await;
}

#[tokio::test]
async fn only_one_relay_leads_at_a_time() {
    let db = world(&sqlite_target()).await;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    write_events(&db, 5).await;
    let a = Relay::new(db.clone(), bus.clone(), relay_cfg(60_000));
    let b = Relay::new(db.clone(), bus.clone(), relay_cfg(60_000));
    let pa = a.pass().await.unwrap();
    assert!(pa.leader);
    assert_eq!(pa.published, 5);
    write_events(&db, 5).await;
    let pb = b.pass().await.unwrap();
    assert!(
        !pb.leader,
        "the second relay waits while the first holds the lease"
    );
    assert_eq!(pb.claimed, 0);
    assert_eq!(outbox::pending(&db).await.unwrap(), 5);
}

#[tokio::test]
#[ignore = "needs NATS: set PLAZA_TEST_NATS_URL (.ci/run does)"]
async fn nats_consumer_resumes_after_restart_without_replaying_applied_events() {
    let url = require(NATS_ENV);
    let nats = test_nats(&url).await;
    let db = world(&sqlite_target()).await;
    write_events(&db, 40).await;
    let relay = Relay::new(db.clone(), Arc::new(nats.clone()), relay_cfg(10_000));
    while relay.pass().await.unwrap().claimed > 0 {}
    // First consumer process: applies everything, then stops.
    let (t1, s1) = shutdown::channel();
    nats.subscribe(
        "durable",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "durable", Apply)),
        s1,
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(20),
        "first consumer applied 40",
        || async { applied(&db).await >= 40 },
    )
    .await;
    t1.trigger();
    // Let the first consumer see its stop before the next events are
    // published (this runtime has one thread), or it pulls them as it stops.
    tokio::task::yield_now().await;
    // More events while no consumer runs, then a new consumer process.
    write_events(&db, 20).await;
    while relay.pass().await.unwrap().claimed > 0 {}
    let (t2, s2) = shutdown::channel();
    nats.subscribe(
        "durable",
        EventFilter::service("world"),
        Durability::Durable,
        Arc::new(Inbox::new(db.clone(), "durable", Apply)),
        s2,
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(20),
        "second consumer applied the rest",
        || async { applied(&db).await >= 60 },
    )
    .await;
    t2.trigger();
    let rows = sqlx::query("SELECT COUNT(DISTINCT event_id), COUNT(*) FROM applied")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!((rows.get::<i64, _>(0), rows.get::<i64, _>(1)), (60, 60));
}

/// Counts what it was given, and fails every batch that holds an event
/// whose aggregate is `fail_on`.
struct Counting {
    seen: std::sync::Mutex<Vec<String>>,
    batches: std::sync::atomic::AtomicUsize,
    fail_on: Option<String>,
}

#[async_trait]
impl Handler for Counting {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        self.handle_batch(&[ev]).await
    }

    async fn handle_batch(&self, evs: &[&Envelope]) -> Result<(), HandlerError> {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if evs
            .iter()
            .any(|e| Some(&e.aggregate_id) == self.fail_on.as_ref())
        {
            return Err("refused".into());
        }
        self.seen
            .lock()
            .unwrap()
            .extend(evs.iter().map(|e| e.id.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn the_in_process_bus_hands_each_consumer_its_events_of_a_batch_together() {
    let bus = InProcessBus::new();
    let counting = |fail_on: Option<&str>| {
        Arc::new(Counting {
            seen: Default::default(),
            batches: Default::default(),
            fail_on: fail_on.map(str::to_owned),
        })
    };
    let (all, odd, failing) = (counting(None), counting(None), counting(Some("a7")));
    let never = Shutdown::never();
    bus.subscribe(
        "all",
        EventFilter::service("world"),
        Durability::Durable,
        all.clone(),
        never.clone(),
    )
    .await
    .unwrap();
    bus.subscribe(
        "odd",
        EventFilter::event("world.Odd"),
        Durability::Durable,
        odd.clone(),
        never.clone(),
    )
    .await
    .unwrap();
    let batch: Vec<Envelope> = (0..10)
        .map(|i| Envelope {
            id: format!("e{i}"),
            event_type: if i % 2 == 1 {
                "world.Odd"
            } else {
                "world.Even"
            }
            .into(),
            aggregate_type: "a".into(),
            aggregate_id: format!("a{i}"),
            payload: Default::default(),
            correlation_id: String::new(),
            occurred_at_ms: 0,
        })
        .collect();
    assert_eq!(bus.publish(&batch).await.unwrap(), 10);
    assert_eq!(all.batches.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(all.seen.lock().unwrap().len(), 10);
    assert_eq!(*odd.seen.lock().unwrap(), ["e1", "e3", "e5", "e7", "e9"]);
    // A consumer that fails: the batch counts as delivered up to that
    // consumer's first event of it, to be published again from there.
    bus.subscribe(
        "failing",
        EventFilter::event("world.Odd"),
        Durability::Durable,
        failing.clone(),
        never,
    )
    .await
    .unwrap();
    assert_eq!(bus.publish(&batch).await.unwrap(), 1);
    assert!(failing.seen.lock().unwrap().is_empty());
}

/// An event whose every text and byte would break a statement that wrote
/// values in carelessly.
fn awkward_event() -> NewEvent {
    NewEvent {
        event_type: "world.Awkward".into(),
        aggregate_type: "it's \\ \"quoted\" $1 ;--".into(),
        aggregate_id: "ünïcødé ' '' \\x00 E'\\n'".into(),
        payload: (0u8..=255).chain(*b"' \\ ;").collect(),
    }
}

/// Events reach the outbox exactly as written, in order, when their
/// transaction commits (on PostgreSQL with the commit itself), and not at
/// all when it rolls back.
async fn events_reach_the_outbox_as_written(target: StorageTarget) {
    let db = world(&target).await;
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, awkward_event()).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(outbox::pending(&db).await.unwrap(), 0, "rolled back");

    let mut tx = db.begin().await.unwrap();
    let mut ids = vec![outbox::enqueue(&mut tx, awkward_event()).await.unwrap()];
    ids.extend(
        outbox::enqueue_all(&mut tx, vec![awkward_event(), awkward_event()])
            .await
            .unwrap(),
    );
    db.commit(tx).await.unwrap();
    let rows = sqlx::query(
        "SELECT event_id, event_type, aggregate_type, aggregate_id, payload FROM outbox ORDER BY id",
    )
    .fetch_all(db.reader())
    .await
    .unwrap();
    let want = awkward_event();
    let got: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, ids, "every event, in the order written");
    for r in &rows {
        assert_eq!(r.get::<String, _>(1), want.event_type);
        assert_eq!(r.get::<String, _>(2), want.aggregate_type);
        assert_eq!(r.get::<String, _>(3), want.aggregate_id);
        assert_eq!(r.get::<Vec<u8>, _>(4), want.payload);
    }
    db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_events_reach_the_outbox_as_written() {
    events_reach_the_outbox_as_written(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_events_reach_the_outbox_as_written() {
    events_reach_the_outbox_as_written(postgres_target()).await;
}

/// On PostgreSQL an event's row is written with the commit: should it be
/// refused there (a NUL in a text), the commit fails, nothing of the
/// transaction stays, and the writer goes on working.
#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_an_event_refused_at_commit_fails_the_whole_transaction() {
    let db = world(&postgres_target()).await;
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO applied (event_id, aggregate, seq) VALUES ('x', 'a', 1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue(
        &mut tx,
        NewEvent {
            aggregate_id: "nul \0 inside".into(),
            ..awkward_event()
        },
    )
    .await
    .unwrap();
    assert!(
        db.commit(tx).await.is_err(),
        "the commit reports the refusal"
    );
    assert_eq!(applied(&db).await, 0, "the transaction's own write is gone");
    assert_eq!(outbox::pending(&db).await.unwrap(), 0);
    write_events(&db, 3).await;
    assert_eq!(
        outbox::pending(&db).await.unwrap(),
        3,
        "the writer still works"
    );
    db.drop_schema().await.unwrap();
}

/// On PostgreSQL a service's own statement writes its change and its
/// events together outside a transaction (`outbox::Staged`): the events go
/// in exactly as given and in order when the gate clause returns a row,
/// not at all when it returns none, nor when the statement fails.
#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_staged_events_are_written_with_their_statement_or_not_at_all() {
    let db = world(&postgres_target()).await;
    async fn hold(db: &Db, key: &str, write: bool) -> Result<(i64, Vec<String>), sqlx::Error> {
        let events = outbox::Staged::new(vec![awkward_event(), awkward_event()]);
        let sql = format!(
            "WITH held AS (INSERT INTO holds (idem_key, saga, kind) SELECT $1, 's', 'k' WHERE CAST($2 AS BIGINT) = 1 RETURNING idem_key),
             {}
             SELECT COUNT(*) FROM held",
            events.insert_if("events", "held", 3)
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(i64::from(write));
        let row = events
            .bind(q)
            .fetch_one(&mut *db.write_alone().await.unwrap())
            .await?;
        Ok((row.get(0), events.ids().to_vec()))
    }
    let outbox_ids = |db: Db| async move {
        sqlx::query("SELECT event_id FROM outbox ORDER BY id")
            .fetch_all(db.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect::<Vec<_>>()
    };

    let (held, ids) = hold(&db, "k1", true).await.unwrap();
    assert_eq!(held, 1);
    assert_eq!(outbox_ids(db.clone()).await, ids, "both events, in order");
    let want = awkward_event();
    for r in sqlx::query("SELECT event_type, aggregate_type, aggregate_id, payload FROM outbox")
        .fetch_all(db.reader())
        .await
        .unwrap()
    {
        assert_eq!(r.get::<String, _>(0), want.event_type);
        assert_eq!(r.get::<String, _>(1), want.aggregate_type);
        assert_eq!(r.get::<String, _>(2), want.aggregate_id);
        assert_eq!(r.get::<Vec<u8>, _>(3), want.payload);
    }

    let (held, _) = hold(&db, "k2", false).await.unwrap();
    assert_eq!(held, 0, "the gate returned no row");
    assert_eq!(
        outbox_ids(db.clone()).await,
        ids,
        "and no event was written"
    );

    assert!(
        hold(&db, "k1", true).await.is_err(),
        "the key is taken: the statement fails"
    );
    assert_eq!(outbox_ids(db.clone()).await, ids, "and writes no event");
    db.drop_schema().await.unwrap();
}

/// Applies only events with an even payload.
struct EvenOnly;

#[async_trait]
impl TxHandler for EvenOnly {
    fn wants(&self, ev: &Envelope) -> bool {
        std::str::from_utf8(&ev.payload)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_none_or(|n| n % 2 == 0)
    }
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        Apply.apply(tx, ev).await
    }
}

/// An event the handler does not want is acknowledged without an inbox
/// record or a transaction; the others are applied and recorded once.
#[tokio::test]
async fn events_a_consumer_does_not_want_leave_no_inbox_record() {
    let db = world(&sqlite_target()).await;
    let inbox = Inbox::new(db.clone(), "even", EvenOnly);
    for n in 0..6i64 {
        let ev = Envelope {
            id: format!("ev-{n}"),
            event_type: "world.Moved".into(),
            aggregate_type: "thing".into(),
            aggregate_id: "agg".into(),
            payload: n.to_string().into_bytes().into(),
            correlation_id: "c".into(),
            occurred_at_ms: 0,
        };
        // Twice: the second delivery of a wanted event changes nothing.
        inbox.handle(&ev).await.unwrap();
        inbox.handle(&ev).await.unwrap();
    }
    assert_eq!(applied(&db).await, 3, "0, 2 and 4, once each");
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM inbox WHERE consumer = 'even' ORDER BY event_id")
            .fetch_all(db.reader())
            .await
            .unwrap();
    assert_eq!(recorded, ["ev-0", "ev-2", "ev-4"]);
}

/// A handler whose effect is outside the database: it counts what it did,
/// and fails the first time it meets event `ev-fails`.
#[derive(Default)]
struct Outside {
    done: std::sync::Mutex<Vec<String>>,
    failed_once: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl TxHandler for Outside {
    fn effects_outside(&self) -> bool {
        true
    }
    async fn apply(&self, _tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        if ev.id == "ev-fails" && !self.failed_once.swap(true, Ordering::SeqCst) {
            return Err("the mail server is away".into());
        }
        self.done.lock().unwrap().push(ev.id.clone());
        Ok(())
    }
}

/// A handler with its effects outside the database, on both databases
/// (PostgreSQL records it outside a transaction): every event's effect
/// happens once however often it comes, and a failed effect leaves no
/// record, so the event's next delivery does it.
async fn effects_outside_the_database_happen_once(target: StorageTarget) {
    let db = world(&target).await;
    let handler = Arc::new(Outside::default());
    let inbox = Inbox::new(db.clone(), "mail", SharedOutside(handler.clone()));
    let event = |id: &str| Envelope {
        id: id.into(),
        event_type: "world.Moved".into(),
        aggregate_type: "thing".into(),
        aggregate_id: "agg".into(),
        payload: b"0".to_vec().into(),
        correlation_id: "c".into(),
        occurred_at_ms: 0,
    };
    for id in ["ev-1", "ev-2"] {
        inbox.handle(&event(id)).await.unwrap();
        inbox.handle(&event(id)).await.unwrap();
    }
    assert!(inbox.handle(&event("ev-fails")).await.is_err());
    inbox.handle(&event("ev-fails")).await.unwrap();
    inbox.handle(&event("ev-fails")).await.unwrap();
    assert_eq!(*handler.done.lock().unwrap(), ["ev-1", "ev-2", "ev-fails"]);
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM inbox WHERE consumer = 'mail' ORDER BY event_id")
            .fetch_all(db.reader())
            .await
            .unwrap();
    assert_eq!(recorded, ["ev-1", "ev-2", "ev-fails"]);
    db.drop_schema().await.unwrap();
}

struct SharedOutside(Arc<Outside>);

#[async_trait]
impl TxHandler for SharedOutside {
    fn effects_outside(&self) -> bool {
        self.0.effects_outside()
    }
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        self.0.apply(tx, ev).await
    }
}

#[tokio::test]
async fn sqlite_effects_outside_the_database_happen_once() {
    effects_outside_the_database_happen_once(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_effects_outside_the_database_happen_once() {
    effects_outside_the_database_happen_once(postgres_target()).await;
}
