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
    if mutating && req.uri().path().starts_with("/v1/") {
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

pub async fn not_found() -> Problem {
    Problem::new(
        ErrorKind::NotFound,
        "route_not_found",
        "There is no such endpoint. See /docs for the API.",
    )
}
