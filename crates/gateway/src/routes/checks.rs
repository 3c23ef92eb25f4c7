//! Background checks: the examiners' queue of Delayed checks, a check with
//! what the caller's role may see of it, and an examiner's resolution.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use plaza_contracts::checks::v1 as pb;
use plaza_kernel::resilience::call;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::ApiJson;
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue))
        .routes(routes!(get_check))
        .routes(routes!(resolve))
        .routes(routes!(record_notice))
}

/// Where record sources deliver notices of new records (no
/// Idempotency-Key: the record id is).
pub const NOTICE_PATH: &str = "/v1/records/notices";

fn problem(e: tonic::Status) -> Problem {
    Problem::from_status(&e, "checks")
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

/// One record source's part in a check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceReport {
    pub source: String,
    /// answered, timeout, unavailable, refused, malformed, breaker_open
    pub status: String,
    pub hits: u32,
    pub latency_ms: f64,
}

/// A prohibitor a matched record establishes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Denial {
    /// `922(g)(1)` … `922(n)`, or the state's disqualifier code.
    pub prohibitor: String,
    pub source: String,
    pub record_id: String,
    pub reason: String,
}

/// A background check as the caller's role may see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackgroundCheck {
    /// The NICS transaction number.
    pub ntn: String,
    pub application_id: String,
    /// The state whose disqualifiers apply.
    pub state: String,
    /// pending, decided, review (Delayed, in the examiners' queue) or
    /// resolved.
    pub status: String,
    /// The automated outcome: proceed, delayed or denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The outcome in force (the examiner's, once resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_outcome: Option<String>,
    /// The prohibitors in force as permits cite them (`922g1` … `922n`, or
    /// the state's codes).
    pub prohibitors: Vec<String>,
    pub denials: Vec<Denial>,
    /// Why the check was delayed.
    pub delays: Vec<String>,
    pub sources: Vec<SourceReport>,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<i64>,
    /// From this day (YYYY-MM-DD) a Delayed check lets the application go on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delayed_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examiner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_note: Option<String>,
    /// Examiners only: the subject and every matched or possibly matched
    /// record, with its score and the fields that drove it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<serde_json::Value>,
}

fn check(c: pb::Check) -> BackgroundCheck {
    // The checks service writes the evidence as JSON; anything else is
    // left out rather than passed on.
    let evidence = match c.evidence_json.as_str() {
        "" => None,
        json => serde_json::from_str(json)
            .inspect_err(|e| tracing::error!(ntn = %c.ntn, error = %e, "evidence is not JSON"))
            .ok(),
    };
    BackgroundCheck {
        ntn: c.ntn,
        application_id: c.application_id,
        state: c.state,
        status: c.status,
        outcome: some(c.outcome),
        final_outcome: some(c.final_outcome),
        prohibitors: c.prohibitors,
        denials: c
            .denials
            .into_iter()
            .map(|d| Denial {
                prohibitor: d.prohibitor,
                source: d.source,
                record_id: d.record_id,
                reason: d.reason,
            })
            .collect(),
        delays: c.delays,
        sources: c
            .sources
            .into_iter()
            .map(|s| SourceReport {
                source: s.source,
                status: s.status,
                hits: s.hits,
                latency_ms: s.latency_ms,
            })
            .collect(),
        created_ms: c.created_ms,
        decided_ms: Some(c.decided_ms).filter(|&ms| ms != 0),
        delayed_until: some(c.delayed_until),
        examiner: some(c.examiner),
        resolution_note: some(c.resolution_note),
        evidence,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckQueueEntry {
    pub ntn: String,
    pub application_id: String,
    pub state: String,
    pub delays: Vec<String>,
    pub created_ms: i64,
    /// YYYY-MM-DD: from then the application may go on without an answer.
    pub delayed_until: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckQueue {
    /// Oldest first.
    pub entries: Vec<CheckQueueEntry>,
}

/// The examiners' queue: Delayed checks awaiting a decision (examiners).
#[utoipa::path(get, path = "/v1/check-queue", tag = "checks", security(("bearer" = [])),
    responses((status = 200, body = CheckQueue), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn queue(State(s): State<AppState>) -> Result<Json<CheckQueue>, Problem> {
    let q = call(true, s.retries, || {
        let mut c = s.checks.clone();
        async move { c.queue(pb::QueueRequest {}).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(CheckQueue {
        entries: q
            .entries
            .into_iter()
            .map(|e| CheckQueueEntry {
                ntn: e.ntn,
                application_id: e.application_id,
                state: e.state,
                delays: e.delays,
                created_ms: e.created_ms,
                delayed_until: e.delayed_until,
            })
            .collect(),
    }))
}

/// A background check by its transaction number: examiners see the
/// evidence (the read is audited), licensing officers of its state the
/// outcome, prohibitors and sources; anyone else gets 404.
#[utoipa::path(get, path = "/v1/checks/{ntn}", tag = "checks", security(("bearer" = [])),
    params(("ntn" = String, Path, description = "The NICS transaction number")),
    responses((status = 200, body = BackgroundCheck), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_check(
    State(s): State<AppState>,
    Path(ntn): Path<String>,
) -> Result<Json<BackgroundCheck>, Problem> {
    let c = call(true, s.retries, || {
        let mut c = s.checks.clone();
        let ntn = ntn.clone();
        async move { c.get(pb::GetCheckRequest { ntn }).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(check(c)))
}

/// An examiner's decision on a Delayed check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResolutionInput {
    /// `proceed`, or `deny` with `prohibitors`.
    pub decision: String,
    /// For `deny`: federal prohibitors (`922g1` … `922n`, or written
    /// `922(g)(1)` …) or the permit type's state disqualifiers.
    #[serde(default)]
    pub prohibitors: Vec<String>,
    /// What the decision rests on (required; kept and audited).
    pub note: String,
}

/// Resolve a Delayed check (examiners). The permits service is told the
/// final answer. Repeating the same decision answers the check as it is;
/// a different one is refused (`checks.already_resolved`).
#[utoipa::path(post, path = "/v1/checks/{ntn}/resolution", tag = "checks", request_body = ResolutionInput, security(("bearer" = [])),
    params(("ntn" = String, Path, description = "The NICS transaction number"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = BackgroundCheck), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn resolve(
    State(s): State<AppState>,
    Path(ntn): Path<String>,
    ApiJson(input): ApiJson<ResolutionInput>,
) -> Result<Json<BackgroundCheck>, Problem> {
    let c = s
        .checks
        .clone()
        .resolve(pb::ResolveRequest {
            ntn,
            decision: input.decision,
            prohibitors: input.prohibitors,
            note: input.note,
        })
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(check(c)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoticeAck {
    pub event_id: String,
    pub record_id: String,
    /// What the record could establish (empty: nothing disqualifying).
    pub prohibitors: Vec<String>,
    /// The applications (permits) sent to officer review by this notice
    /// (none when it was delivered before).
    pub moved: Vec<String>,
}

/// A record source's signed notice of a new record about a person
/// (Rap Back, `Plaza-Sim-Signature`). A record that could disqualify sends
/// the person's permits to officer review, once per record.
#[utoipa::path(post, path = "/v1/records/notices", tag = "checks", request_body(content = String, content_type = "application/json"),
    responses((status = 200, body = NoticeAck), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn record_notice(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<NoticeAck>, Problem> {
    let signature = super::delivery_signature(&headers);
    let r = s
        .checks
        .clone()
        .record_notice(pb::RecordNoticeRequest {
            body: body.to_vec(),
            signature,
        })
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(NoticeAck {
        event_id: r.event_id,
        record_id: r.record_id,
        prohibitors: r.prohibitors,
        moved: r.moved,
    }))
}
