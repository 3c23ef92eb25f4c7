//! The edge's middleware: request ids (carried on as correlation ids),
//! metrics, load shedding, and the Idempotency-Key rule.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use plaza_kernel::error::ErrorKind;
use plaza_kernel::telemetry::{new_correlation_id, sanitize_correlation_id, with_correlation};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::problem::Problem;

pub const REQUEST_ID: &str = "x-request-id";
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Gives every request an id (the caller's, if well-formed), runs the
/// request under it, records metrics and echoes the id.
pub async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(sanitize_correlation_id)
        .unwrap_or_else(new_correlation_id);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!("http", method = %method, route = %route, request_id = %id);
    let started = Instant::now();
    let mut resp = with_correlation(id.clone(), next.run(req))
        .instrument(span)
        .await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("plaza_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("plaza_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// Refuses work beyond `max_in_flight` at once with 503 and Retry-After,
/// instead of queueing until everything is slow.
pub async fn shed_load(State(limit): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    match limit.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            metrics::counter!("plaza_http_shed_total").increment(1);
            Problem::new(
                ErrorKind::Unavailable,
                "overloaded",
                "Plaza is busy right now. Please try again in a moment.",
            )
            .into_response()
        }
    }
}

/// Every request that changes data must carry a well-formed Idempotency-Key.
pub async fn require_idempotency_key(req: Request, next: Next) -> Response {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    // Processors' webhooks and sources' notices carry their own ids instead.
    let webhook = [
        crate::routes::renewals::WEBHOOK_PATH,
        crate::routes::checks::NOTICE_PATH,
    ]
    .contains(&req.uri().path());
    if mutating && !webhook && req.uri().path().starts_with("/v1/") {
        let key = req
            .headers()
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok());
        match key {
            None => {
                return Problem::new(
                    ErrorKind::InvalidArgument,
                    "idempotency_key_required",
                    "This request changes data and needs an Idempotency-Key header (a fresh UUID per action).",
                )
                .into_response();
            }
            Some(k) if plaza_kernel::idempotency::validate_key(k).is_err() => {
                return Problem::new(
                    ErrorKind::InvalidArgument,
                    "idempotency_key_invalid",
                    "Idempotency-Key must be 1 to 128 visible ASCII characters.",
                )
                .into_response();
            }
            Some(_) => {}
        }
    }
    next.run(req).await
}

/// The key of a request that passed [`require_idempotency_key`].
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Requests per second per client address.
pub type IpLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

/// A rate limiter per signed-in caller (issuer and subject).
pub type PrincipalLimiter = governor::DefaultKeyedRateLimiter<String>;

/// A limiter allowing `per_second` requests a second from one address, in
/// bursts of twice that; `None` when the limit is off. Addresses not seen
/// for a while are forgotten, so the table does not grow without end.
pub fn ip_limiter(per_second: u32) -> Option<Arc<IpLimiter>> {
    keyed_limiter(per_second)
}

/// [`ip_limiter`], per signed-in caller.
pub fn principal_limiter(per_second: u32) -> Option<Arc<PrincipalLimiter>> {
    keyed_limiter(per_second)
}

fn keyed_limiter<K>(per_second: u32) -> Option<Arc<governor::DefaultKeyedRateLimiter<K>>>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let rate = std::num::NonZeroU32::new(per_second)?;
    let burst = std::num::NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    let limiter = Arc::new(governor::RateLimiter::dashmap(
        governor::Quota::per_second(rate).allow_burst(burst),
    ));
    let weak = Arc::downgrade(&limiter);
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                match weak.upgrade() {
                    Some(l) => {
                        l.retain_recent();
                        l.shrink_to_fit();
                    }
                    None => break,
                }
            }
        });
    }
    Some(limiter)
}

/// Answers 429 with Retry-After to an address over its rate.
pub async fn rate_limit(
    State(limiter): State<Option<Arc<IpLimiter>>>,
    req: Request,
    next: Next,
) -> Response {
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let (Some(limiter), Some(ip)) = (limiter, ip)
        && let Err(not_until) = limiter.check_key(&ip)
    {
        metrics::counter!("plaza_http_rate_limited_total", "by" => "address").increment(1);
        return too_many(
            &not_until,
            "rate_limited",
            "Too many requests from your address. Please wait a moment and try again.",
        );
    }
    next.run(req).await
}

/// 429 with Retry-After for a caller over its rate.
pub fn too_many(
    not_until: &governor::NotUntil<
        <governor::clock::DefaultClock as governor::clock::Clock>::Instant,
    >,
    code: &'static str,
    message: &'static str,
) -> Response {
    use governor::clock::Clock;
    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
    let mut p = Problem::new(ErrorKind::ResourceExhausted, code, message);
    p.retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    p.into_response()
}

/// Security headers for every answer.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// The policy allows exactly the documentation page's own inline script
    /// and style (by hash) and requests to this origin; nothing else.
    pub fn for_docs_page(page: &str) -> SecurityHeaders {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let between = |open: &str, close: &str| -> String {
            page.split_once(open)
                .and_then(|(_, rest)| rest.split_once(close))
                .map(|(inner, _)| inner.to_owned())
                .unwrap_or_default()
        };
        let hash = |text: String| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        };
        let csp = format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; img-src 'self'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            hash(between("<script>", "</script>")),
            hash(between("<style>", "</style>"))
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        }
    }
}

pub async fn security_headers(
    State(h): State<Arc<SecurityHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    // A page that sets its own policy (the sign-in pages) keeps it.
    headers
        .entry("content-security-policy")
        .or_insert_with(|| h.csp.clone());
    headers.insert(
        "strict-transport-security",
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    resp
}

pub async fn not_found() -> Problem {
    Problem::new(
        ErrorKind::NotFound,
        "route_not_found",
        "There is no such endpoint. See /docs for the API.",
    )
}
