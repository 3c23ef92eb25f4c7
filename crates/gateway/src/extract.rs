//! Extractors that answer bad input with problem+json instead of plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use plaza_kernel::error::ErrorKind;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                ErrorKind::InvalidArgument,
                "unsupported_media_type",
                "Send the body as JSON with Content-Type: application/json.",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Problem::new(
                    ErrorKind::PayloadTooLarge,
                    "request_too_large",
                    "The request body is too large.",
                ))
            }
            Err(e) => Err(Problem::new(
                ErrorKind::InvalidArgument,
                "invalid_json",
                e.body_text(),
            )),
        }
    }
}

/// Query-string parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => Err(Problem::new(
                ErrorKind::InvalidArgument,
                "invalid_query",
                e.body_text(),
            )),
            Err(e) => Err(Problem::new(
                ErrorKind::InvalidArgument,
                "invalid_query",
                e.body_text(),
            )),
        }
    }
}
