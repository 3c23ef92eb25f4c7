//! The event bus: an in-process bus for the embedded shape, NATS JetStream
//! for the distributed one. Both deliver at least once; consumers keep an
//! inbox ([`Inbox`]) so a redelivered event has no second effect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::RwLock;

use crate::Error;
use crate::db::{Db, Dialect, Tx};
use crate::shutdown::Shutdown;

/// An event as it travels on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Unique id (UUIDv7), also the JetStream message id for de-duplication.
    pub id: String,
    /// `<service>.<EventName>`, e.g. `offices.OfficeChanged`.
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's protobuf encoding (its message lives in `proto/`).
    pub payload: Bytes,
    pub correlation_id: String,
    pub occurred_at_ms: i64,
}

impl Envelope {
    /// The service that published the event.
    pub fn source(&self) -> &str {
        self.event_type.split('.').next().unwrap_or("")
    }
}

/// How long a subscription outlives its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives restarts and sees every event from the start of the stream:
    /// for consumers whose effects must not miss an event.
    Durable,
    /// Sees only events published while its process runs, and is forgotten
    /// some minutes after the process goes: for per-process state such as an
    /// in-memory cache.
    PerProcess,
}

/// What a subscription receives: every event of one service, or of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub source: String,
    pub event_type: Option<String>,
}

impl EventFilter {
    pub fn service(source: &str) -> Self {
        EventFilter {
            source: source.to_owned(),
            event_type: None,
        }
    }
    pub fn event(event_type: &str) -> Self {
        let source = event_type.split('.').next().unwrap_or("").to_owned();
        EventFilter {
            source,
            event_type: Some(event_type.to_owned()),
        }
    }
    pub fn matches(&self, ev: &Envelope) -> bool {
        match &self.event_type {
            Some(t) => &ev.event_type == t,
            None => ev.source() == self.source,
        }
    }
}

pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Applies one event. Must be safe to call twice with the same event.
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError>;

    /// Applies events published together, in order: by default one by one;
    /// a handler that can apply them at once (in one transaction) does.
    /// On an error any of them may be delivered again.
    async fn handle_batch(&self, evs: &[&Envelope]) -> Result<(), HandlerError> {
        for ev in evs {
            self.handle(ev).await?;
        }
        Ok(())
    }
}

/// Where events go and where consumers get them.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes `batch` in order. Returns how many events, from the start of
    /// the batch, are durably accepted; the relay keeps the rest.
    async fn publish(&self, batch: &[Envelope]) -> Result<usize, Error>;

    /// Starts delivering matching events to `handler` under the durable
    /// consumer name `consumer`, until `shutdown`.
    async fn subscribe(
        &self,
        consumer: &str,
        filter: EventFilter,
        durability: Durability,
        handler: Arc<dyn Handler>,
        shutdown: Shutdown,
    ) -> Result<(), Error>;

    /// A name for logs and metrics.
    fn kind(&self) -> &'static str;
}

/// The embedded shape's bus: `publish` hands each event to every matching
/// handler and counts it delivered only when all of them succeeded.
#[derive(Default, Clone)]
pub struct InProcessBus {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
}

/// A consumer name, what it wants, and who handles it.
type Subscriber = (String, EventFilter, Arc<dyn Handler>);

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, batch: &[Envelope]) -> Result<usize, Error> {
        let subs = self.subscribers.read().await;
        // Each subscriber gets its events of the batch together, in order.
        // When one fails, the batch counts as delivered up to that
        // subscriber's first event of it; from there everything is
        // delivered again (to every subscriber: handlers are idempotent).
        let mut delivered = batch.len();
        for (consumer, filter, handler) in subs.iter() {
            let (first, mine): (Option<usize>, Vec<&Envelope>) = {
                let mut first = None;
                let mut mine = Vec::new();
                for (n, ev) in batch.iter().enumerate() {
                    if filter.matches(ev) {
                        first.get_or_insert(n);
                        mine.push(ev);
                    }
                }
                (first, mine)
            };
            let Some(first) = first else {
                continue;
            };
            if let Err(e) = handler.handle_batch(&mine).await {
                tracing::warn!(consumer, event_id = %mine[0].id, events = mine.len(), error = %e, "consumer failed; its events will be redelivered");
                delivered = delivered.min(first);
            }
        }
        Ok(delivered)
    }

    async fn subscribe(
        &self,
        consumer: &str,
        filter: EventFilter,
        _durability: Durability,
        handler: Arc<dyn Handler>,
        _shutdown: Shutdown,
    ) -> Result<(), Error> {
        self.subscribers
            .write()
            .await
            .push((consumer.to_owned(), filter, handler));
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

/// NATS JetStream: one durable stream per publishing service
/// (`<stream_prefix>_<SERVICE>`, subjects `<prefix>.<service>.<EventName>`),
/// acknowledged publishes de-duplicated by event id, durable pull consumers
/// with explicit acks.
///
/// Order: a service's relay publishes its events pipelined, each carrying
/// the stream sequence it must follow (`Nats-Expected-Last-Sequence`).
/// JetStream stores an event only right after its predecessor, so a batch
/// interrupted by a broken connection can leave at most an in-order prefix
/// in the stream, never a later event ahead of an earlier one. After a
/// failure the bus reads the stream's last sequence and event to learn how
/// far the prefix reached. (The stream's sequence survives server restarts
/// and retention; its memory of message ids does not, which is why the
/// chain is not built on those.)
#[derive(Clone)]
pub struct NatsBus {
    js: async_nats::jetstream::Context,
    stream_prefix: String,
    prefix: String,
    client: async_nats::Client,
    /// Per service: the stream's last sequence number as this bus knows it
    /// (`None` = unknown, must be read).
    last: Arc<tokio::sync::Mutex<HashMap<String, Option<u64>>>>,
}

const H_TYPE: &str = "plaza-type";
const H_AGG_TYPE: &str = "plaza-aggregate-type";
const H_AGG_ID: &str = "plaza-aggregate-id";
const H_CORRELATION: &str = "plaza-correlation-id";
const H_OCCURRED: &str = "plaza-occurred-at-ms";

impl NatsBus {
    /// Connects to NATS.
    pub async fn connect(url: &str, stream_prefix: &str, prefix: &str) -> Result<NatsBus, Error> {
        Self::connect_with(url, stream_prefix, prefix, Duration::from_secs(5)).await
    }

    /// As [`NatsBus::connect`], with the time to wait for an acknowledgement.
    pub async fn connect_with(
        url: &str,
        stream_prefix: &str,
        prefix: &str,
        ack_timeout: Duration,
    ) -> Result<NatsBus, Error> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(ack_timeout))
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| Error::Bus(format!("connecting to NATS at {url}: {e}")))?;
        let js = async_nats::jetstream::new(client.clone());
        Ok(NatsBus {
            js,
            stream_prefix: stream_prefix.to_owned(),
            prefix: prefix.to_owned(),
            client,
            last: Default::default(),
        })
    }

    fn subject(&self, event_type: &str) -> String {
        format!("{}.{}", self.prefix, event_type)
    }

    /// The stream holding `service`'s events.
    pub fn stream_name(&self, service: &str) -> String {
        format!(
            "{}_{}",
            self.stream_prefix,
            service.to_uppercase().replace(['.', ' ', '-'], "_")
        )
    }

    /// The stream of `service`, created when missing.
    async fn stream(&self, service: &str) -> Result<async_nats::jetstream::stream::Stream, Error> {
        let name = self.stream_name(service);
        self.js
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.{service}.>", self.prefix)],
                storage: async_nats::jetstream::stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                max_age: Duration::from_secs(7 * 24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Bus(format!("stream {name}: {e}")))
    }

    /// The id of the last event in `service`'s stream, if any.
    /// The stream's last sequence number, and the id of the event stored
    /// there when it is still held.
    async fn read_last(&self, service: &str) -> Result<(u64, Option<String>), Error> {
        let mut stream = self.stream(service).await?;
        let info = stream
            .info()
            .await
            .map_err(|e| Error::Bus(format!("stream info: {e}")))?;
        let seq = info.state.last_sequence;
        if info.state.messages == 0 || seq == 0 {
            return Ok((seq, None));
        }
        // The last event may be gone (max_age); the sequence still counts.
        let id = match stream.get_raw_message(seq).await {
            Ok(msg) => msg
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned()),
            Err(_) => None,
        };
        Ok((seq, id))
    }

    /// The underlying client (tests use it to watch the connection).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// How many events `service`'s stream holds.
    pub async fn stream_messages(&self, service: &str) -> Result<u64, Error> {
        let mut stream = self.stream(service).await?;
        let info = stream
            .info()
            .await
            .map_err(|e| Error::Bus(format!("stream info: {e}")))?;
        Ok(info.state.messages)
    }
}

fn envelope_from_message(msg: &async_nats::jetstream::Message) -> Result<Envelope, Error> {
    let headers = msg
        .headers
        .as_ref()
        .ok_or_else(|| Error::Bus("event without headers".into()))?;
    let get = |name: &str| -> Result<String, Error> {
        headers
            .get(name)
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| Error::Bus(format!("event without header {name}")))
    };
    Ok(Envelope {
        id: get("Nats-Msg-Id")?,
        event_type: get(H_TYPE)?,
        aggregate_type: get(H_AGG_TYPE)?,
        aggregate_id: get(H_AGG_ID)?,
        payload: msg.payload.clone(),
        correlation_id: get(H_CORRELATION)?,
        occurred_at_ms: get(H_OCCURRED)?
            .parse()
            .map_err(|_| Error::Bus("bad occurred-at header".into()))?,
    })
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, batch: &[Envelope]) -> Result<usize, Error> {
        use async_nats::jetstream::message::PublishMessage as Publish;
        let Some(first) = batch.first() else {
            return Ok(0);
        };
        let service = first.source().to_owned();
        if batch.iter().any(|e| e.source() != service) {
            return Err(Error::Bus("a batch must hold one service's events".into()));
        }
        let mut last = self.last.lock().await;
        let base = match last.get(&service) {
            Some(Some(seq)) => *seq,
            _ => self.read_last(&service).await?.0,
        };
        // Send the whole batch pipelined, each event stored only right after
        // the one before it: `Nats-Expected-Last-Sequence` is checked against
        // the stream's own sequence, which survives server restarts and
        // retention, unlike its memory of message ids.
        let mut pending = Vec::with_capacity(batch.len());
        for (i, ev) in batch.iter().enumerate() {
            let publish = Publish::build()
                .payload(ev.payload.clone())
                .message_id(&ev.id)
                .header(H_TYPE, ev.event_type.as_str())
                .header(H_AGG_TYPE, ev.aggregate_type.as_str())
                .header(H_AGG_ID, ev.aggregate_id.as_str())
                .header(H_CORRELATION, ev.correlation_id.as_str())
                .header(H_OCCURRED, ev.occurred_at_ms.to_string().as_str())
                .expected_last_sequence(base + i as u64);
            match self
                .js
                .send_publish(self.subject(&ev.event_type), publish)
                .await
            {
                Ok(ack) => pending.push(ack),
                Err(e) => {
                    tracing::warn!(error = %e, "NATS publish failed");
                    break;
                }
            }
        }
        let mut acked = 0;
        let mut failed = pending.len() < batch.len();
        for ack in pending {
            match ack.await {
                Ok(_) => acked += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "NATS did not store an event");
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            last.insert(service, Some(base + acked as u64));
            return Ok(acked);
        }
        // Something broke mid-batch: learn how far the stream got. Events are
        // only ever stored in order, so everything up to its last event is in.
        last.insert(service.clone(), None);
        match self.read_last(&service).await {
            Ok((seq, id)) => {
                last.insert(service, Some(seq));
                let reached = id
                    .and_then(|id| batch.iter().position(|e| e.id == id))
                    .map(|i| i + 1);
                Ok(reached.unwrap_or(acked).max(acked))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stream after a failed publish");
                Ok(acked)
            }
        }
    }

    async fn subscribe(
        &self,
        consumer: &str,
        filter: EventFilter,
        durability: Durability,
        handler: Arc<dyn Handler>,
        mut shutdown: Shutdown,
    ) -> Result<(), Error> {
        use async_nats::jetstream::consumer::{AckPolicy, pull};
        let subject = match &filter.event_type {
            Some(t) => self.subject(t),
            None => format!("{}.{}.>", self.prefix, filter.source),
        };
        let stream = self.stream(&filter.source).await?;
        let consumer_handle = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_owned()),
                    filter_subject: subject,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_ack_pending: 1024,
                    deliver_policy: match durability {
                        Durability::Durable => async_nats::jetstream::consumer::DeliverPolicy::All,
                        Durability::PerProcess => {
                            async_nats::jetstream::consumer::DeliverPolicy::New
                        }
                    },
                    inactive_threshold: match durability {
                        Durability::Durable => Duration::ZERO,
                        Durability::PerProcess => Duration::from_secs(600),
                    },
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Error::Bus(format!("consumer {consumer}: {e}")))?;
        let name = consumer.to_owned();
        tokio::spawn(async move {
            loop {
                let mut messages = match consumer_handle.messages().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(consumer = %name, error = %e, "cannot pull events; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                            _ = shutdown.wait() => return,
                        }
                    }
                };
                loop {
                    let next = tokio::select! {
                        m = messages.next() => m,
                        _ = shutdown.wait() => return,
                    };
                    let Some(msg) = next else { break };
                    let msg = match msg {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::debug!(consumer = %name, error = %e, "pull interrupted");
                            continue;
                        }
                    };
                    let ev = match envelope_from_message(&msg) {
                        Ok(ev) => ev,
                        Err(e) => {
                            tracing::error!(consumer = %name, error = %e, "malformed event; dropping");
                            let _ = msg.ack_with(async_nats::jetstream::AckKind::Term).await;
                            continue;
                        }
                    };
                    match handler.handle(&ev).await {
                        Ok(()) => {
                            // A plain ack, not a confirmed one: a lost ack only
                            // means the event comes again, and the inbox makes
                            // that harmless.
                            if let Err(e) = msg.ack().await {
                                tracing::debug!(consumer = %name, error = %e, "ack not sent");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(consumer = %name, event_id = %ev.id, error = %e, "consumer failed; redelivering later");
                            let _ = msg
                                .ack_with(async_nats::jetstream::AckKind::Nak(Some(
                                    Duration::from_millis(200),
                                )))
                                .await;
                        }
                    }
                }
            }
        });
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "nats"
    }
}

/// Work a consumer does inside the transaction that records the event in
/// its inbox, so the effect and the record commit together.
#[async_trait]
pub trait TxHandler: Send + Sync {
    /// Whether `ev` can have an effect here. An event that cannot is
    /// acknowledged without a transaction or an inbox record: applying it
    /// again would change nothing either.
    fn wants(&self, _ev: &Envelope) -> bool {
        true
    }
    /// Whether every effect of `apply` is outside this database (a mail
    /// sent) and it writes nothing in `tx`. Then, on PostgreSQL, the inbox
    /// is read before the effect and written after it, outside a
    /// transaction: two round trips instead of three. As with a
    /// transaction, an effect that fails leaves no record (the event comes
    /// again), and a crash between the effect and its record repeats the
    /// effect.
    fn effects_outside(&self) -> bool {
        false
    }
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError>;
}

/// A consumer with an inbox: each event's effect happens at most once, however
/// often the bus delivers it. Each event's transaction runs on the
/// database's writer thread ([`Db::on_writer`]).
pub struct Inbox<H> {
    db: Db,
    consumer: Arc<str>,
    handler: Arc<H>,
}

impl<H: TxHandler + 'static> Inbox<H> {
    pub fn new(db: Db, consumer: &str, handler: H) -> Self {
        Inbox {
            db,
            consumer: consumer.into(),
            handler: Arc::new(handler),
        }
    }

    async fn record(
        db: Db,
        consumer: Arc<str>,
        handler: Arc<H>,
        ev: Envelope,
    ) -> Result<(), HandlerError> {
        const RECORD: &str =
            "INSERT INTO inbox (consumer, event_id, processed_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (consumer, event_id) DO NOTHING";
        let duplicate = || {
            metrics::counter!("plaza_inbox_duplicates_total", "consumer" => consumer.to_string())
                .increment(1);
            Ok(())
        };
        if handler.effects_outside() && db.dialect() == Dialect::Postgres {
            let seen = sqlx::query("SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2")
                .bind(&*consumer)
                .bind(&ev.id)
                .fetch_optional(db.reader())
                .await?;
            if seen.is_some() {
                return duplicate();
            }
            let mut alone = db.write_alone().await?;
            handler.apply(&mut alone, &ev).await?;
            sqlx::query(RECORD)
                .bind(&*consumer)
                .bind(&ev.id)
                .bind(crate::clock::now_ms())
                .execute(&mut *alone)
                .await?;
            return Ok(());
        }
        let mut tx = db.begin().await?;
        let inserted = sqlx::query(RECORD)
            .bind(&*consumer)
            .bind(&ev.id)
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            return duplicate();
        }
        handler.apply(&mut tx, &ev).await?;
        // Through the database, so the relay hears of any events the
        // handler wrote.
        db.commit(tx).await?;
        Ok(())
    }
}

#[async_trait]
impl<H: TxHandler + 'static> Handler for Inbox<H> {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        if !self.handler.wants(ev) {
            return Ok(());
        }
        let work = Self::record(
            self.db.clone(),
            self.consumer.clone(),
            self.handler.clone(),
            ev.clone(),
        );
        self.db.on_writer(work).await
    }
}

/// A handler made of a closure, for effects that are idempotent by nature
/// (dropping a cache entry).
pub struct FnHandler<F>(pub F);

#[async_trait]
impl<F> Handler for FnHandler<F>
where
    F: Fn(&Envelope) -> Result<(), HandlerError> + Send + Sync,
{
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        (self.0)(ev)
    }
}

/// Which bus a process uses, chosen by configuration.
/// `namespace` keeps installations that share a NATS server apart: streams
/// are `<NAMESPACE>_<SERVICE>`, subjects `<namespace>.events.<service>.…`.
pub async fn connect(nats_url: Option<&str>, namespace: &str) -> Result<Arc<dyn Bus>, Error> {
    match nats_url {
        Some(url) => Ok(Arc::new(
            NatsBus::connect(
                url,
                &namespace.to_uppercase(),
                &format!("{namespace}.events"),
            )
            .await?,
        )),
        None => Ok(Arc::new(InProcessBus::new())),
    }
}

/// Counts of events per type, for tests that check what was delivered.
#[derive(Default, Clone)]
pub struct Recorder {
    pub seen: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        *self
            .seen
            .lock()
            .map_err(|_| "recorder poisoned")?
            .entry(ev.id.clone())
            .or_default() += 1;
        Ok(())
    }
}
