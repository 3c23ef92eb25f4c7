//! `application/problem+json` (RFC 9457) answers with Plaza's stable codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_kernel::error::{ErrorKind, PublicError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer. `code` is stable and documented; `detail` is for people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/docs#problem-<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `offices.not_found`.
    pub code: String,
    /// The request's id, to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn from_public(e: &PublicError) -> Problem {
        Problem {
            type_uri: format!("/docs#problem-{}", e.code),
            title: e.kind.title().to_owned(),
            status: e.kind.http_status(),
            detail: e.message.to_string(),
            code: e.code.to_string(),
            request_id: plaza_kernel::telemetry::correlation_id(),
            retry_after_secs: match e.kind {
                ErrorKind::Unavailable | ErrorKind::ResourceExhausted => Some(1),
                _ => None,
            },
        }
    }

    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::from_public(&PublicError::new(kind, code, detail.into()))
    }

    /// A failed call to a downstream service.
    pub fn from_status(status: &tonic::Status, downstream: &str) -> Problem {
        let public = PublicError::from_status(status, downstream);
        let breaker_open = status.message().starts_with("circuit to");
        if breaker_open {
            tracing::debug!(downstream, "refused: circuit open");
        } else if public.kind == ErrorKind::Internal || public.kind == ErrorKind::Unavailable {
            tracing::warn!(downstream, grpc_code = ?status.code(), grpc_message = status.message(), "downstream call failed");
        }
        Problem::from_public(&public)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.retry_after_secs;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
