//! Firearm permits: the permit types on offer, applying and following an
//! application, the steps counter staff record, an officer's queue and
//! decisions, and, once a permit is issued, its renewal, suspension,
//! reinstatement and revocation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use plaza_contracts::permits::v1 as pb;
use plaza_kernel::grpc::with_idempotency_key;
use plaza_kernel::resilience::call;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{ApiJson, ApiQuery};
use crate::middleware::idempotency_key;
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_types))
        .routes(routes!(get_type))
        .routes(routes!(submit))
        .routes(routes!(get_application))
        .routes(routes!(record_event))
        .routes(routes!(decide))
        .routes(routes!(queue))
        .routes(routes!(renew))
        .routes(routes!(suspend))
        .routes(routes!(reinstate))
        .routes(routes!(revoke))
}

fn problem(e: tonic::Status) -> Problem {
    Problem::from_status(&e, "permits")
}

fn keyed<T>(req: T, headers: &HeaderMap) -> Result<tonic::Request<T>, tonic::Status> {
    with_idempotency_key(tonic::Request::new(req), &idempotency_key(headers))
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

// ------------------------------------------------------------ permit types

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TypeParams {
    /// Only this jurisdiction's types: a two-letter code such as `IL`, or
    /// `US` for federal licences.
    pub jurisdiction: Option<String>,
}

/// A permit type as the jurisdiction's catalogue describes it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermitType {
    /// E.g. `il-foid`.
    pub id: String,
    pub name: String,
    pub jurisdiction: String,
    /// purchase_permit, owner_id, carry_licence, safety_certificate,
    /// eligibility_certificate, dealer_licence, instructor_licence, or a
    /// renewal of one of them.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statute: Option<String>,
    /// Cents.
    pub fee_cents: u32,
    /// Cents; absent when non-residents may not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_resident_fee_cents: Option<u32>,
    /// E.g. `5 years`.
    pub validity: String,
    pub minimum_age: u32,
    /// Hours of training required (0: none).
    pub training_hours: u32,
    /// References the applicant names.
    pub references: u32,
    pub fingerprints: bool,
    pub interview: bool,
    pub waiting_period_days: u32,
    /// E.g. `30 calendar days`.
    pub decision_deadline: String,
    /// For a renewal type: the type it renews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
    /// A permit of this type can be renewed.
    pub renewable: bool,
}

fn permit_type(t: pb::PermitType) -> PermitType {
    PermitType {
        id: t.id,
        name: t.name,
        jurisdiction: t.jurisdiction,
        kind: t.kind,
        statute: some(t.statute),
        fee_cents: t.fee_cents,
        non_resident_fee_cents: t.non_resident_fee_cents,
        validity: t.validity,
        minimum_age: t.minimum_age,
        training_hours: t.training_hours,
        references: t.references,
        fingerprints: t.fingerprints,
        interview: t.interview,
        waiting_period_days: t.waiting_period_days,
        decision_deadline: t.decision_deadline,
        renews: some(t.renews),
        renewable: t.renewable,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermitTypes {
    pub types: Vec<PermitType>,
}

/// The permit types on offer (sample data unless the agency installed its
/// own catalogue).
#[utoipa::path(get, path = "/v1/permit-types", tag = "permits", params(TypeParams),
    responses((status = 200, body = PermitTypes), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn list_types(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<TypeParams>,
) -> Result<Json<PermitTypes>, Problem> {
    let list = call(true, s.retries, || {
        let mut c = s.permit_types.clone();
        let req = pb::ListTypesRequest {
            jurisdiction: p.jurisdiction.clone().unwrap_or_default(),
        };
        async move { c.list(req).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(PermitTypes {
        types: list.types.into_iter().map(permit_type).collect(),
    }))
}

/// One permit type (`permits.unknown_type` when there is none).
#[utoipa::path(get, path = "/v1/permit-types/{id}", tag = "permits",
    params(("id" = String, Path, description = "The permit type's id, e.g. il-foid")),
    responses((status = 200, body = PermitType), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_type(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PermitType>, Problem> {
    let t = call(true, s.retries, || {
        let mut c = s.permit_types.clone();
        let id = id.clone();
        async move { c.get(pb::GetTypeRequest { id }).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(permit_type(t)))
}

// ------------------------------------------------------------ applications

/// The person applying.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Applicant {
    pub given_name: String,
    pub family_name: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// The residential address, one line.
    pub address: String,
}

fn applicant_pb(a: Applicant) -> pb::Applicant {
    pb::Applicant {
        given_name: a.given_name,
        family_name: a.family_name,
        birth_date: a.birth_date,
        address: a.address,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplicationInput {
    /// The permit type's id, e.g. `il-foid`.
    pub permit_type: String,
    pub applicant: Applicant,
    /// The applicant lives in the permit's jurisdiction.
    pub resident: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339.
    pub at: String,
    pub from: String,
    pub to: String,
    pub note: String,
}

/// A permit application, its permit once issued, and its timeline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermitApplication {
    pub id: String,
    pub permit_type: String,
    pub jurisdiction: String,
    /// submitted, documents_received, fingerprints_scheduled, check_pending,
    /// check_delayed, references_pending, interview_pending, officer_review,
    /// more_info_requested, approved, issued, denied, appealed,
    /// appeal_upheld, appeal_granted, suspended, under_review, revoked or
    /// expired.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicant: Option<Applicant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permit_number: Option<String>,
    /// For a renewal: the number of the permit it renews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_on: Option<String>,
    /// The statutory last day to decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_due: Option<String>,
    pub overdue: bool,
    /// What the officer asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info_requested: Option<String>,
    /// Reason codes of a denial, suspension or revocation.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
    /// The events the application waits for now.
    pub expected: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
}

fn application(a: pb::Application) -> PermitApplication {
    PermitApplication {
        id: a.id,
        permit_type: a.permit_type,
        jurisdiction: a.jurisdiction,
        state: a.state,
        applicant: a.applicant.map(|p| Applicant {
            given_name: p.given_name,
            family_name: p.family_name,
            birth_date: p.birth_date,
            address: p.address,
        }),
        permit_number: some(a.permit_number),
        renews: some(a.renews),
        received_on: some(a.received_on),
        decision_due: some(a.decision_due),
        overdue: a.overdue,
        info_requested: some(a.info_requested),
        reasons: a.reasons,
        issued_on: some(a.issued_on),
        expires_on: some(a.expires_on),
        expected: a.expected,
        timeline: a
            .timeline
            .into_iter()
            .map(|e| TimelineEntry {
                at: plaza_kernel::clock::rfc3339(e.at_ms),
                from: e.from,
                to: e.to,
                note: e.note,
            })
            .collect(),
    }
}

/// Apply for a permit. A repeat with the same Idempotency-Key and body
/// answers the same application; another body with that key is refused
/// (`permits.idempotency_conflict`).
#[utoipa::path(post, path = "/v1/permit-applications", tag = "permits", request_body = ApplicationInput, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh unique key per application; a repeat returns the same application")),
    responses((status = 201, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> Result<Response, Problem> {
    let req = keyed(
        pb::SubmitRequest {
            permit_type: input.permit_type,
            applicant: Some(applicant_pb(input.applicant)),
            resident: input.resident,
        },
        &headers,
    )
    .map_err(|e| Problem::from_status(&e, "gateway"))?;
    let a = s
        .permits
        .clone()
        .submit(req)
        .await
        .map_err(problem)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(application(a))).into_response())
}

/// An application with its timeline: its applicant, or staff of its
/// jurisdiction (each staff read is audited).
#[utoipa::path(get, path = "/v1/permit-applications/{id}", tag = "permits", security(("bearer" = [])),
    params(("id" = String, Path, description = "The application's id")),
    responses((status = 200, body = PermitApplication), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_application(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = call(true, s.retries, || {
        let mut c = s.permits.clone();
        let id = id.clone();
        async move { c.get(pb::GetApplicationRequest { id }).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(application(a)))
}

/// Training evidence shown with the documents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrainingInput {
    /// A proof code, such as `course_certificate`.
    pub proof: String,
    pub hours: u32,
    #[serde(default)]
    pub score_percent: Option<u32>,
}

/// A step of the application.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventInput {
    /// Counter staff: `documents_received` (with `training` when the type
    /// requires it), `fingerprints_scheduled` (`office_id`, `on`),
    /// `fingerprinted`, `reference_received` (`referee`), `interviewed`.
    /// The applicant: `info_provided` (`note`), `appeal` (`note`: the
    /// grounds).
    pub event: String,
    #[serde(default)]
    pub training: Option<TrainingInput>,
    #[serde(default)]
    pub office_id: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default)]
    pub referee: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Record a step: counter staff record what was done at the office, the
/// applicant answers a request for information or appeals a denial. A step
/// the application does not expect now is refused (`permits.out_of_order`)
/// and changes nothing.
#[utoipa::path(post, path = "/v1/permit-applications/{id}/events", tag = "permits", request_body = EventInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The application's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn record_event(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = s
        .permits
        .clone()
        .act(pb::ActRequest {
            id,
            event: input.event,
            training: input.training.map(|t| pb::Training {
                proof: t.proof,
                hours: t.hours,
                score_percent: t.score_percent,
            }),
            office_id: input.office_id.unwrap_or_default(),
            on: input.on.unwrap_or_default(),
            referee: input.referee.unwrap_or_default(),
            note: input.note.unwrap_or_default(),
        })
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(application(a)))
}

/// An officer's decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionInput {
    /// `approve`, `deny` (with `reasons`), `request_info` (with `what`),
    /// `grant_appeal` or `uphold_denial`.
    pub decision: String,
    /// Federal prohibitors (`922g1`…), the type's state disqualifiers, or
    /// procedural reasons.
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub what: Option<String>,
}

/// Decide an application (licensing officers of its jurisdiction).
#[utoipa::path(post, path = "/v1/permit-applications/{id}/decision", tag = "permits", request_body = DecisionInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The application's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn decide(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = s
        .permits
        .clone()
        .decide(pb::DecideRequest {
            id,
            decision: input.decision,
            reasons: input.reasons,
            what: input.what.unwrap_or_default(),
        })
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(application(a)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueEntry {
    pub application_id: String,
    pub permit_type: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permit_number: Option<String>,
    /// The last day to decide (or review), YYYY-MM-DD.
    pub due_on: String,
    pub overdue: bool,
    /// Due within a few business days.
    pub due_soon: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermitQueue {
    /// Overdue first, then by deadline.
    pub entries: Vec<QueueEntry>,
}

/// The calling licensing officer's work queue: the applications and
/// permits under review in their jurisdiction.
#[utoipa::path(get, path = "/v1/permit-queue", tag = "permits", security(("bearer" = [])),
    responses((status = 200, body = PermitQueue), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn queue(State(s): State<AppState>) -> Result<Json<PermitQueue>, Problem> {
    let q = call(true, s.retries, || {
        let mut c = s.permits.clone();
        async move { c.queue(pb::QueueRequest {}).await }
    })
    .await
    .map_err(problem)?
    .into_inner();
    Ok(Json(PermitQueue {
        entries: q
            .entries
            .into_iter()
            .map(|e| QueueEntry {
                application_id: e.application_id,
                permit_type: e.permit_type,
                state: e.state,
                permit_number: some(e.permit_number),
                due_on: e.due_on,
                overdue: e.overdue,
                due_soon: e.due_soon,
            })
            .collect(),
    }))
}

// ----------------------------------------------------------------- permits

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewalInput {
    /// The renewal type, e.g. `il-foid-renewal`.
    pub permit_type: String,
    pub applicant: Applicant,
    pub resident: bool,
}

/// Apply to renew a permit, within its renewal window
/// (`permits.renewal_window` outside it).
#[utoipa::path(post, path = "/v1/permits/{number}/renewal", tag = "permits", request_body = RenewalInput, security(("bearer" = [])),
    params(("number" = String, Path, description = "The permit's number"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per application; a repeat returns the same application")),
    responses((status = 201, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn renew(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<RenewalInput>,
) -> Result<Response, Problem> {
    let req = keyed(
        pb::RenewRequest {
            number,
            permit_type: input.permit_type,
            applicant: Some(applicant_pb(input.applicant)),
            resident: input.resident,
        },
        &headers,
    )
    .map_err(|e| Problem::from_status(&e, "gateway"))?;
    let a = s
        .permits
        .clone()
        .renew(req)
        .await
        .map_err(problem)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(application(a))).into_response())
}

/// The reasons for suspending or revoking a permit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermitActionInput {
    /// Reason codes (at least one to suspend or revoke; none to reinstate).
    #[serde(default)]
    pub reasons: Vec<String>,
}

fn action(number: String, input: PermitActionInput) -> pb::PermitActionRequest {
    pb::PermitActionRequest {
        number,
        reasons: input.reasons,
    }
}

/// Suspend an issued permit (licensing officers of its jurisdiction).
#[utoipa::path(post, path = "/v1/permits/{number}/suspension", tag = "permits", request_body = PermitActionInput, security(("bearer" = [])),
    params(("number" = String, Path, description = "The permit's number"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn suspend(
    State(s): State<AppState>,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<PermitActionInput>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = s
        .permits
        .clone()
        .suspend(action(number, input))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(application(a)))
}

/// Reinstate a suspended permit (licensing officers of its jurisdiction).
#[utoipa::path(post, path = "/v1/permits/{number}/reinstatement", tag = "permits", request_body = PermitActionInput, security(("bearer" = [])),
    params(("number" = String, Path, description = "The permit's number"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PermitApplication), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reinstate(
    State(s): State<AppState>,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<PermitActionInput>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = s
        .permits
        .clone()
        .reinstate(action(number, input))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(application(a)))
}

/// Revoke a permit (licensing officers of its jurisdiction).
#[utoipa::path(post, path = "/v1/permits/{number}/revocation", tag = "permits", request_body = PermitActionInput, security(("bearer" = [])),
    params(("number" = String, Path, description = "The permit's number"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PermitApplication), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn revoke(
    State(s): State<AppState>,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<PermitActionInput>,
) -> Result<Json<PermitApplication>, Problem> {
    let a = s
        .permits
        .clone()
        .revoke(action(number, input))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(Json(application(a)))
}
