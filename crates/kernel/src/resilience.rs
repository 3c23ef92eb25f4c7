//! Resilience for every gRPC client: a per-call timeout, a circuit breaker
//! per downstream service (its state exported as a metric), a concurrency
//! limit that sheds load instead of queueing without end, and retries with
//! jittered backoff for calls the caller declares idempotent.
//!
//! Errors come out as `tonic::Status`, so the generated clients report them
//! like any other failure: an open breaker or a dead peer is `Unavailable`,
//! a slow one `DeadlineExceeded`, a full client `ResourceExhausted`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceBuilder};

use crate::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type GrpcRequest = http::Request<tonic::body::Body>;
type GrpcResponse = http::Response<tonic::body::Body>;

/// The channel type every generated client is built on. Its error is a
/// concrete `Status`, which keeps handler futures provably `Send`.
#[derive(Clone)]
pub struct ClientChannel(tower::util::BoxCloneSyncService<GrpcRequest, GrpcResponse, BoxError>);

fn to_status(e: BoxError) -> Status {
    match e.downcast::<Status>() {
        Ok(s) => *s,
        Err(e) => Status::unavailable(crate::error::chain(&*e)),
    }
}

impl Service<GrpcRequest> for ClientChannel {
    type Response = GrpcResponse;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<GrpcResponse, Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.0.poll_ready(cx).map_err(to_status)
    }

    fn call(&mut self, req: GrpcRequest) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move { fut.await.map_err(to_status) })
    }
}

/// Settings for clients of one downstream service.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub open_for: Duration,
    pub max_in_flight: usize,
    pub retries: u32,
    /// Mutual TLS to the services, when configured.
    pub tls: Option<crate::mtls::TlsFiles>,
    /// The services this process hosts itself, called without a socket.
    pub in_process: Option<InProcess>,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        ClientPolicy {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
            failure_threshold: 3,
            open_for: Duration::from_millis(500),
            max_in_flight: 512,
            retries: 2,
            tls: None,
            in_process: None,
        }
    }
}

/// The breaker's state; the metric value is in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow (0).
    Closed,
    /// One probe call is in flight (1).
    HalfOpen,
    /// Calls fail at once (2).
    Open,
}

#[derive(Debug)]
struct BreakerInner {
    state: BreakerState,
    failures: u32,
    opened_at: Option<Instant>,
}

/// A circuit breaker shared by every clone of a client.
#[derive(Debug, Clone)]
pub struct Breaker {
    name: Arc<str>,
    inner: Arc<Mutex<BreakerInner>>,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    pub fn new(name: &str, threshold: u32, open_for: Duration) -> Self {
        let b = Breaker {
            name: name.into(),
            inner: Arc::new(Mutex::new(BreakerInner {
                state: BreakerState::Closed,
                failures: 0,
                opened_at: None,
            })),
            threshold: threshold.max(1),
            open_for,
        };
        b.export(BreakerState::Closed);
        b
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn export(&self, state: BreakerState) {
        let v = match state {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!("plaza_client_breaker_state", "downstream" => self.name.to_string()).set(v);
    }

    /// May a call go ahead now?
    pub fn admit(&self) -> bool {
        let mut g = self.lock();
        match g.state {
            BreakerState::Closed => true,
            // One probe at a time; but a probe that never reported back (its
            // caller went away) must not keep the circuit shut for ever.
            BreakerState::HalfOpen => {
                if g.opened_at.is_some_and(|t| t.elapsed() >= self.open_for) {
                    g.opened_at = Some(Instant::now());
                    true
                } else {
                    false
                }
            }
            BreakerState::Open => {
                if g.opened_at.is_some_and(|t| t.elapsed() >= self.open_for) {
                    g.state = BreakerState::HalfOpen;
                    g.opened_at = Some(Instant::now());
                    drop(g);
                    self.export(BreakerState::HalfOpen);
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn record(&self, ok: bool) {
        let mut g = self.lock();
        let before = g.state;
        if ok {
            g.failures = 0;
            g.state = BreakerState::Closed;
            g.opened_at = None;
        } else {
            g.failures += 1;
            if g.state == BreakerState::HalfOpen || g.failures >= self.threshold {
                g.state = BreakerState::Open;
                g.opened_at = Some(Instant::now());
            }
        }
        let after = g.state;
        drop(g);
        if before != after {
            tracing::info!(downstream = %self.name, from = ?before, to = ?after, "circuit breaker changed state");
            self.export(after);
        }
    }
}

/// Wraps a channel with the timeout and the breaker, and turns every failure
/// into a `Status`.
#[derive(Clone)]
struct Guard<S> {
    inner: S,
    breaker: Breaker,
    timeout: Duration,
}

/// Is this response a failure of the peer (rather than an answer)? A peer
/// that sheds load (`ResourceExhausted`, e.g. a full photo queue) answered
/// quickly and is healthy: its callers retry later, and opening the breaker
/// would only refuse the calls it could take.
fn peer_failed(resp: &GrpcResponse) -> bool {
    match resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
    {
        // Unavailable, DeadlineExceeded.
        Some("14") | Some("4") => true,
        _ => !resp.status().is_success(),
    }
}

impl<S> Service<GrpcRequest> for Guard<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = GrpcResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<GrpcResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: GrpcRequest) -> Self::Future {
        if !self.breaker.admit() {
            let name = self.breaker.name.clone();
            return Box::pin(async move {
                Err(Box::new(Status::unavailable(format!("circuit to {name} is open"))) as BoxError)
            });
        }
        if let Some(id) = crate::telemetry::correlation_id()
            && let Ok(v) = http::HeaderValue::from_str(&id)
        {
            req.headers_mut()
                .insert(crate::telemetry::CORRELATION_HEADER, v);
        }
        if let Some(sealed) = crate::auth::sealed_caller()
            && let Ok(v) = http::HeaderValue::from_str(&sealed)
        {
            req.headers_mut().insert(crate::auth::CALLER_METADATA, v);
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let breaker = self.breaker.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, inner.call(req)).await {
                Ok(Ok(resp)) => {
                    breaker.record(!peer_failed(&resp));
                    Ok(resp)
                }
                Ok(Err(e)) => {
                    breaker.record(false);
                    let e: BoxError = e.into();
                    Err(Box::new(Status::unavailable(format!(
                        "{} unreachable: {}",
                        breaker.name,
                        crate::error::chain(&*e)
                    ))) as BoxError)
                }
                Err(_) => {
                    breaker.record(false);
                    Err(Box::new(Status::deadline_exceeded(format!(
                        "{} did not answer within {timeout:?}",
                        breaker.name
                    ))) as BoxError)
                }
            }
        })
    }
}

type LocalService = tower::util::BoxCloneSyncService<GrpcRequest, GrpcResponse, BoxError>;

/// The gRPC services of this process, for its own clients. A call from one
/// hosted service to another (or from the gateway) goes straight to the
/// server's routes, through the same server layer as a call from outside,
/// instead of through HTTP/2 over loopback TCP. Each call runs as a task of
/// its own, as the network server runs each request: a caller that gives up
/// does not cut the handler short.
///
/// Only without TLS: with mutual TLS every call proves its caller's name
/// with a certificate, which an in-process call has none of.
#[derive(Clone)]
pub struct InProcess {
    /// The process's own gRPC address (`http://host:port`): clients given
    /// exactly this address are served in process.
    url: String,
    routes: Arc<tokio::sync::watch::Sender<Option<LocalService>>>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("url", &self.url)
            .field("serving", &self.routes.borrow().is_some())
            .finish()
    }
}

impl InProcess {
    /// The process's services at `url`, not yet serving: calls wait until
    /// [`InProcess::serve`] is given the routes, as calls to a bound socket
    /// wait for its server.
    pub fn pending(url: &str) -> Self {
        InProcess {
            url: url.to_owned(),
            routes: Arc::new(tokio::sync::watch::Sender::new(None)),
        }
    }

    /// Serve calls with `routes` (the server's services with its layers).
    pub fn serve<S>(&self, routes: S)
    where
        S: Service<GrpcRequest, Response = GrpcResponse> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let svc = ServiceBuilder::new().map_err(Into::into).service(routes);
        self.routes.send_replace(Some(LocalService::new(svc)));
    }

    fn serves(&self, url: &str) -> bool {
        self.url == url
    }
}

impl Service<GrpcRequest> for InProcess {
    type Response = GrpcResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<GrpcResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: GrpcRequest) -> Self::Future {
        // Every clone holds the sender: the channel never closes under a
        // caller, and a call before the routes are there waits for them.
        let mut routes = self.routes.subscribe();
        Box::pin(async move {
            let svc = routes
                .wait_for(Option::is_some)
                .await?
                .clone()
                .expect("waited for the routes");
            tokio::spawn(tower::ServiceExt::oneshot(svc, req))
                .await
                .map_err(|e| -> BoxError { format!("the handler failed: {e}").into() })?
        })
    }
}

/// A client channel to `downstream` at `url` (`http://host:port` or
/// `https://…`), connecting lazily so a service that starts before its
/// peers still starts. Returns the channel and its breaker.
pub fn channel(
    downstream: &str,
    url: &str,
    policy: &ClientPolicy,
) -> Result<(ClientChannel, Breaker), Error> {
    let breaker = Breaker::new(downstream, policy.failure_threshold, policy.open_for);
    if let Some(local) = &policy.in_process
        && policy.tls.is_none()
        && local.serves(url)
    {
        return Ok((guarded(local.clone(), &breaker, policy), breaker));
    }
    let url = match (&policy.tls, url.strip_prefix("http://")) {
        (Some(_), Some(rest)) => format!("https://{rest}"),
        _ => url.to_owned(),
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::Invalid(format!("address of {downstream} ({url}): {e}")))?;
    if let Some(tls) = &policy.tls {
        endpoint = endpoint
            .tls_config(tls.client(downstream))
            .map_err(|e| Error::Invalid(format!("TLS to {downstream}: {e}")))?;
    }
    let endpoint = endpoint
        .connect_timeout(policy.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5));
    let channel: Channel = endpoint.connect_lazy();
    Ok((guarded(channel, &breaker, policy), breaker))
}

/// `inner` behind the breaker, the timeout and the concurrency limit.
fn guarded<S>(inner: S, breaker: &Breaker, policy: &ClientPolicy) -> ClientChannel
where
    S: Service<GrpcRequest, Response = GrpcResponse> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let guard = Guard {
        inner,
        breaker: breaker.clone(),
        timeout: policy.request_timeout,
    };
    let svc = ServiceBuilder::new()
        .map_err(|e: BoxError| -> BoxError {
            if e.is::<tower::load_shed::error::Overloaded>() {
                Box::new(Status::resource_exhausted("too many calls in flight"))
            } else {
                e
            }
        })
        .load_shed()
        .concurrency_limit(policy.max_in_flight)
        .service(guard);
    ClientChannel(tower::util::BoxCloneSyncService::new(svc))
}

/// Calls `f` and, for an idempotent call, retries it with jittered
/// exponential backoff while the peer is unavailable. A non-idempotent call
/// is never retried: repeating it could do its effect twice.
pub async fn call<T, F, Fut>(idempotent: bool, retries: u32, mut f: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(s) if idempotent && attempt < retries && retryable(&s) => {
                attempt += 1;
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(20),
                    Duration::from_secs(1),
                ))
                .await;
            }
            Err(s) => return Err(s),
        }
    }
}

fn retryable(s: &Status) -> bool {
    // An open breaker already knows the answer; retrying it only adds wait.
    s.code() == tonic::Code::Unavailable && !s.message().contains("circuit")
}

/// Full-jitter exponential backoff: a random wait in `[0, min(cap, base·2^n)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let ceiling = exp.min(cap).as_millis().max(1) as u64;
    Duration::from_millis(rand::random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> GrpcRequest {
        http::Request::builder()
            .uri(path)
            .body(tonic::body::Body::empty())
            .unwrap()
    }

    type Finished = tokio::sync::mpsc::UnboundedSender<()>;

    /// Answers every call after `delay`, sending `()` for each call it
    /// finished.
    fn slow_routes(
        delay: Duration,
        finished: Finished,
    ) -> tower::util::BoxCloneSyncService<GrpcRequest, GrpcResponse, std::convert::Infallible> {
        tower::util::BoxCloneSyncService::new(tower::service_fn(move |req: GrpcRequest| {
            let finished = finished.clone();
            async move {
                tokio::time::sleep(delay).await;
                finished.send(()).unwrap();
                let mut resp = http::Response::new(tonic::body::Body::empty());
                resp.headers_mut().insert(
                    "x-path",
                    http::HeaderValue::from_str(req.uri().path()).unwrap(),
                );
                Ok(resp)
            }
        }))
    }

    /// One call to `url` through a client whose process hosts `local`.
    async fn call_through(
        local: &InProcess,
        url: &str,
        timeout: Duration,
        path: &str,
    ) -> Result<GrpcResponse, Status> {
        let policy = ClientPolicy {
            request_timeout: timeout,
            in_process: Some(local.clone()),
            ..ClientPolicy::default()
        };
        let (mut client, _) = channel("peer", url, &policy).unwrap();
        tower::ServiceExt::ready(&mut client)
            .await?
            .call(request(path))
            .await
    }

    #[tokio::test]
    async fn a_call_to_this_process_is_served_in_process_once_the_routes_are_there() {
        let local = InProcess::pending("http://127.0.0.1:9");
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        // Port 9 (discard) has no gRPC server: an answer can only come from
        // the routes handed over below.
        let call = tokio::spawn({
            let local = local.clone();
            async move {
                call_through(
                    &local,
                    "http://127.0.0.1:9",
                    Duration::from_secs(5),
                    "/plaza.test.v1.T/Ping",
                )
                .await
            }
        });
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert!(!call.is_finished(), "the call waits for the routes");
        local.serve(slow_routes(Duration::ZERO, finished));
        let resp = call.await.unwrap().expect("served in process");
        assert_eq!(resp.headers()["x-path"], "/plaza.test.v1.T/Ping");
        assert_eq!(done.try_recv(), Ok(()));
    }

    // Paused time: the timeout and the handler's work run on the test's
    // clock, which moves on only when everything waits.
    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_does_not_cut_the_handler_short() {
        let local = InProcess::pending("http://127.0.0.1:9");
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        local.serve(slow_routes(Duration::from_millis(200), finished));
        let err = call_through(
            &local,
            "http://127.0.0.1:9",
            Duration::from_millis(20),
            "/plaza.test.v1.T/Slow",
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
        assert!(
            done.try_recv().is_err(),
            "not finished when the caller gave up"
        );
        // The handler goes on as it would on a server, and finishes.
        let finished = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
        assert_eq!(finished, Ok(Some(())), "the handler was cut short");
    }

    #[tokio::test]
    async fn another_address_goes_over_the_network() {
        let local = InProcess::pending("http://127.0.0.1:9");
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        local.serve(slow_routes(Duration::ZERO, finished));
        // Nothing listens on port 1: over the network the call fails.
        let err = call_through(
            &local,
            "http://127.0.0.1:1",
            Duration::from_secs(2),
            "/plaza.test.v1.T/Ping",
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
        assert!(done.try_recv().is_err(), "the routes were not called");
    }

    #[test]
    fn breaker_opens_after_threshold_and_probes_after_cooldown() {
        let b = Breaker::new("t", 2, Duration::from_millis(0));
        assert!(b.admit());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        // open_for is zero: the next admit is the half-open probe
        assert!(b.admit());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_probe_that_never_reports_does_not_shut_the_circuit_for_ever() {
        let b = Breaker::new("t", 1, Duration::from_millis(0));
        b.record(false);
        assert!(b.admit(), "first probe");
        // The probe's caller went away: no record(). Another probe may go.
        assert!(
            b.admit(),
            "the next probe is let through after the cool-down"
        );
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn failed_probe_reopens() {
        let b = Breaker::new("t", 1, Duration::from_millis(0));
        b.record(false);
        assert!(b.admit());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn open_breaker_refuses_until_cooldown() {
        let b = Breaker::new("t", 1, Duration::from_secs(3600));
        b.record(false);
        assert!(!b.admit());
    }

    #[test]
    fn backoff_stays_within_cap() {
        for n in 0..20 {
            assert!(
                backoff(n, Duration::from_millis(10), Duration::from_millis(300))
                    <= Duration::from_millis(300)
            );
        }
    }

    #[tokio::test]
    async fn only_idempotent_calls_are_retried() {
        let mut calls = 0;
        let r: Result<(), Status> = call(false, 3, || {
            calls += 1;
            async { Err(Status::unavailable("down")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
        let mut calls = 0;
        let r: Result<(), Status> = call(true, 3, || {
            calls += 1;
            async { Err(Status::unavailable("down")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 4);
    }
}
