//! The HTTP face of the record sources: the JSON and XML searches, the
//! catalogue, and fault administration; and a server loop that can close
//! a connection unanswered, which is how a source that is down looks to
//! its caller.

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::json as json_format;
use super::{CATALOGUE, Faults, ProtocolError, Records, catalogue, niem};

/// Largest request body read at all; formats refuse more than
/// [`MAX_REQUEST`] with their own error answer.
const BODY_LIMIT: usize = 1 << 20;
/// Largest search request, in bytes.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Routes: `/records/v1/...` (JSON, catalogue, admin) and
/// `/records/niem/v1/...` (XML).
pub fn router(records: Records) -> axum::Router {
    axum::Router::new()
        .route("/records/v1/catalogue", get(catalogue_answer))
        .route("/records/v1/admin/faults", get(get_faults).post(set_faults))
        .route("/records/v1/admin/rapback", post(super::rapback::subscribe))
        .route(
            "/records/v1/admin/rapback/notify",
            post(super::rapback::notify),
        )
        .route("/records/v1/{source}/search", post(json_format::search))
        .route("/records/niem/v1/{source}/search", post(niem::search))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(records)
}

async fn catalogue_answer(State(records): State<Records>) -> Json<Value> {
    Json(records.catalogue_json())
}

fn faults_json(records: &Records) -> Value {
    let map: serde_json::Map<String, Value> = CATALOGUE
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.id.to_owned(),
                serde_json::to_value(records.faults(i)).unwrap_or_default(),
            )
        })
        .collect();
    json!({ "faults": map })
}

async fn get_faults(State(records): State<Records>) -> Json<Value> {
    Json(faults_json(&records))
}

/// One setting: `source` is a source id or `*` for all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSetting {
    pub source: String,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Settings {
    One(FaultSetting),
    Many(Vec<FaultSetting>),
}

/// Parses and applies fault settings (one object or an array), all or
/// none: the first bad setting refuses the lot.
pub fn apply_faults(records: &Records, body: &[u8]) -> Result<(), ProtocolError> {
    let settings = match serde_json::from_slice::<Settings>(body) {
        Ok(Settings::One(s)) => vec![s],
        Ok(Settings::Many(v)) => v,
        Err(e) => {
            return Err(ProtocolError::new(
                "malformed_request",
                format!(
                    "Expected {{\"source\": id or \"*\", \"faults\": {{...}}}} or an array of them: {e}"
                ),
            ));
        }
    };
    let mut resolved = Vec::new();
    for s in settings {
        if let Some(why) = s.faults.problem() {
            return Err(ProtocolError::new(
                "invalid_field",
                format!("{}: {why}", s.source),
            ));
        }
        let target = match s.source.as_str() {
            "*" => None,
            id => Some(
                catalogue::source(id)
                    .ok_or_else(|| {
                        ProtocolError::new(
                            "unknown_source",
                            format!("No record source has id {id:?}."),
                        )
                    })?
                    .0,
            ),
        };
        resolved.push((target, s.faults));
    }
    for (target, faults) in resolved {
        records.set_faults(target, faults);
    }
    Ok(())
}

async fn set_faults(State(records): State<Records>, body: Bytes) -> Response {
    match apply_faults(&records, &body) {
        Ok(()) => Json(faults_json(&records)).into_response(),
        Err(e) => json_format::error_response(&e),
    }
}

/// The source a request path names, if it is a search.
fn searched_source(path: &str) -> Option<usize> {
    let rest = path
        .strip_prefix("/records/v1/")
        .or_else(|| path.strip_prefix("/records/niem/v1/"))?;
    let id = rest.strip_suffix("/search")?;
    catalogue::source(id).map(|(i, _)| i)
}

/// Serves `app` on `listener` over HTTP/1.1. A search addressed to a
/// source of `records` that is down gets its connection closed with no
/// answer at all, as when a remote system has gone away.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router, records: Option<Records>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let records = records.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let down = match (&records, searched_source(req.uri().path())) {
                        (Some(r), Some(s)) => r.is_down(s),
                        _ => false,
                    };
                    async move {
                        if down {
                            return Err(std::io::Error::other("source is down"));
                        }
                        let response = app.oneshot(req.map(axum::body::Body::new)).await;
                        Ok::<_, std::io::Error>(response.unwrap_or_else(|e: Infallible| match e {}))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
