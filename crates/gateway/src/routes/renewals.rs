//! Driver's licence renewal: claim a driver record, check eligibility,
//! start a renewal, give a photo, confirm the address, choose delivery,
//! pay, follow the timeline, print the temporary licence. Fees and address
//! validation are public; the processor's webhooks come in here too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use plaza_contracts::address::v1 as address_pb;
use plaza_contracts::payments::v1 as payments_pb;
use plaza_contracts::renewal::v1 as pb;
use plaza_kernel::error::ErrorKind;
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

/// Where processors deliver webhooks (no Idempotency-Key: the event id is).
pub const WEBHOOK_PATH: &str = "/v1/payments/webhook";

/// Photos arrive base64-encoded in JSON: up to 8 MiB of image.
const PHOTO_BODY_LIMIT: usize = 12 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let photo = OpenApiRouter::new()
        .routes(routes!(submit_photo))
        .layer(DefaultBodyLimit::max(PHOTO_BODY_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(fees))
        .routes(routes!(validate_address))
        .routes(routes!(claim_driver))
        .routes(routes!(get_driver))
        .routes(routes!(eligibility))
        .routes(routes!(start_renewal))
        .routes(routes!(get_renewal))
        .routes(routes!(confirm_address))
        .routes(routes!(choose_delivery))
        .routes(routes!(pay))
        .routes(routes!(cancel))
        .routes(routes!(temporary_licence))
        .routes(routes!(webhook))
        .routes(routes!(receipt))
        .routes(routes!(reconciliation))
        .merge(photo)
}

fn problem(service: &'static str) -> impl Fn(tonic::Status) -> Problem {
    move |e| Problem::from_status(&e, service)
}

fn keyed<T>(req: T, headers: &HeaderMap) -> Result<tonic::Request<T>, tonic::Status> {
    with_idempotency_key(tonic::Request::new(req), &idempotency_key(headers))
}

// ------------------------------------------------------------------ fees

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeeParams {
    /// Licence class: A, B, C, D, M, CDL-A, CDL-B or CDL-C.
    pub licence_class: String,
    /// Age in years on the day of payment.
    pub age: u32,
    /// The licence has expired.
    #[serde(default)]
    pub late: bool,
    /// A first REAL ID card is asked for.
    #[serde(default)]
    pub real_id: bool,
}

/// A line of a fee quote, in cents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeeLine {
    pub code: String,
    pub description: String,
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Fees {
    pub lines: Vec<FeeLine>,
    /// Cents.
    pub total: i64,
    pub currency: String,
}

fn fee_lines(lines: Vec<payments_pb::FeeLine>) -> Vec<FeeLine> {
    lines
        .into_iter()
        .map(|l| FeeLine {
            code: l.code,
            description: l.description,
            amount: l.amount,
        })
        .collect()
}

/// What a renewal costs, line by line (the agency's fee schedule).
#[utoipa::path(get, path = "/v1/fees", tag = "renewal", params(FeeParams),
    responses((status = 200, body = Fees), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn fees(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<FeeParams>,
) -> Result<Json<Fees>, Problem> {
    let q = call(true, s.retries, || {
        let mut c = s.payments.clone();
        let req = payments_pb::QuoteRequest {
            licence_class: p.licence_class.clone(),
            age: p.age,
            late: p.late,
            real_id: p.real_id,
        };
        async move { c.quote(req).await }
    })
    .await
    .map_err(problem("payments"))?
    .into_inner();
    Ok(Json(Fees {
        lines: fee_lines(q.lines),
        total: q.total,
        currency: q.currency,
    }))
}

// ------------------------------------------------------------- addresses

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressInput {
    /// The address as written, e.g. `123 north main street apt 4, harrisburg pa 17101`.
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressChange {
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressValidation {
    /// `exact`, `corrected` or `no_match`.
    pub outcome: String,
    /// Mail reaches it.
    pub deliverable: bool,
    /// The standardised address (delivery line, then city, state and ZIP+4).
    pub lines: Vec<String>,
    pub changes: Vec<AddressChange>,
    /// For no match: the closest known addresses.
    pub suggestions: Vec<String>,
}

/// Validate an address against the reference set (USPS Publication 28
/// standardisation, ZIP+4, corrections listed).
#[utoipa::path(post, path = "/v1/addresses/validate", tag = "renewal", request_body = AddressInput,
    params(("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = AddressValidation), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn validate_address(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<Json<AddressValidation>, Problem> {
    let v = call(true, s.retries, || {
        let mut c = s.address.clone();
        let req = address_pb::ValidateRequest {
            text: input.text.clone(),
        };
        async move { c.validate(req).await }
    })
    .await
    .map_err(problem("address"))?
    .into_inner();
    let outcome = match address_pb::Outcome::try_from(v.outcome) {
        Ok(address_pb::Outcome::Exact) => "exact",
        Ok(address_pb::Outcome::Corrected) => "corrected",
        _ => "no_match",
    };
    Ok(Json(AddressValidation {
        outcome: outcome.to_owned(),
        deliverable: v.deliverable,
        lines: v
            .matched
            .map(|m| vec![m.delivery_line, m.last_line])
            .unwrap_or_default(),
        changes: v
            .changes
            .into_iter()
            .map(|c| AddressChange {
                field: c.field,
                from: c.from,
                to: c.to,
            })
            .collect(),
        suggestions: v
            .suggestions
            .into_iter()
            .map(|a| format!("{}, {}", a.delivery_line, a.last_line))
            .collect(),
    }))
}

// --------------------------------------------------------------- drivers

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimInput {
    /// The number on the licence.
    pub licence_number: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
}

/// A driver record (personal fields only for its owner and staff).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Driver {
    pub id: String,
    pub licence_number: String,
    pub jurisdiction: String,
    pub licence_class: String,
    pub endorsements: Vec<String>,
    pub restrictions: Vec<String>,
    pub issued_on: String,
    pub expires_on: String,
    /// valid, expired, suspended, revoked or cancelled.
    pub status: String,
    pub real_id: bool,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: String,
}

fn driver(d: pb::Driver) -> Driver {
    Driver {
        id: d.id,
        licence_number: d.licence_number,
        jurisdiction: d.jurisdiction,
        licence_class: d.licence_class,
        endorsements: d.endorsements,
        restrictions: d.restrictions,
        issued_on: d.issued_on,
        expires_on: d.expires_on,
        status: d.status,
        real_id: d.real_id,
        family_name: d.family_name,
        given_names: d.given_names,
        birth_date: d.birth_date,
    }
}

/// Link your driver record to your account, proving it with the licence
/// number and your birth date.
#[utoipa::path(post, path = "/v1/drivers/claim", tag = "renewal", request_body = ClaimInput, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = Driver), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn claim_driver(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<ClaimInput>,
) -> Result<Json<Driver>, Problem> {
    let d = s
        .renewal
        .clone()
        .find_driver(pb::FindDriverRequest {
            licence_number: input.licence_number,
            birth_date: input.birth_date,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(driver(d)))
}

/// A driver record: its owner, or staff of its jurisdiction.
#[utoipa::path(get, path = "/v1/drivers/{id}", tag = "renewal", security(("bearer" = [])),
    params(("id" = String, Path, description = "The driver record's id")),
    responses((status = 200, body = Driver), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_driver(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Driver>, Problem> {
    let d = call(true, s.retries, || {
        let mut c = s.renewal.clone();
        let id = id.clone();
        async move { c.get_driver(pb::GetDriverRequest { id }).await }
    })
    .await
    .map_err(problem("renewal"))?
    .into_inner();
    Ok(Json(driver(d)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EligibilityParams {
    /// Whether a REAL ID card is asked for.
    #[serde(default)]
    pub real_id: bool,
}

/// A rule that refuses online renewal, and what to do instead.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Refusal {
    pub rule_id: String,
    pub message: String,
    pub instead: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Eligibility {
    pub driver_id: String,
    pub eligible: bool,
    pub today: String,
    /// The expiry a renewal today would give.
    pub new_expires_on: String,
    /// Every rule that refuses (empty when eligible).
    pub refusals: Vec<Refusal>,
}

/// Whether the record may be renewed online today, with every rule that
/// refuses and what to do instead.
#[utoipa::path(get, path = "/v1/drivers/{id}/eligibility", tag = "renewal", security(("bearer" = [])),
    params(("id" = String, Path, description = "The driver record's id"), EligibilityParams),
    responses((status = 200, body = Eligibility), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn eligibility(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<EligibilityParams>,
) -> Result<Json<Eligibility>, Problem> {
    let d = s
        .renewal
        .clone()
        .check_eligibility(pb::CheckEligibilityRequest {
            driver_id: id,
            wants_real_id: p.real_id,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(Eligibility {
        driver_id: d.driver_id,
        eligible: d.eligible,
        today: d.today,
        new_expires_on: d.new_expires_on,
        refusals: d
            .refusals
            .into_iter()
            .map(|r| Refusal {
                rule_id: r.rule_id,
                message: r.message,
                instead: r.instead,
            })
            .collect(),
    }))
}

// -------------------------------------------------------------- renewals

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StartInput {
    pub driver_id: String,
    /// Ask for a REAL ID card.
    #[serde(default)]
    pub real_id: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339.
    pub at: String,
    pub status: String,
    pub note: String,
}

/// A renewal application and its timeline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Renewal {
    pub id: String,
    pub driver_id: String,
    /// started, paid, ordered, batched, in_production, produced, mailed,
    /// ready_for_pickup, failed or cancelled.
    pub status: String,
    pub real_id: bool,
    pub photo_accepted: bool,
    pub address_confirmed: bool,
    /// mail or pickup, once chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_id: Option<String>,
    pub payment_intent_id: String,
    /// Cents.
    pub amount_due: i64,
    /// YYYY-MM-DD.
    pub new_expires_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    /// Steps still to do before paying: photo, address, delivery.
    pub missing: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

fn renewal(a: pb::Application) -> Renewal {
    Renewal {
        id: a.id,
        driver_id: a.driver_id,
        status: a.status,
        real_id: a.wants_real_id,
        photo_accepted: a.photo_accepted,
        address_confirmed: a.address_confirmed,
        delivery: some(a.delivery),
        office_id: some(a.office_id),
        payment_intent_id: a.payment_intent_id,
        amount_due: a.amount_due,
        new_expires_on: a.new_expires_on,
        order_id: some(a.order_id),
        tracking: some(a.tracking),
        missing: a.missing,
        timeline: a
            .timeline
            .into_iter()
            .map(|e| TimelineEntry {
                at: plaza_kernel::clock::rfc3339(e.at_ms),
                status: e.status,
                note: e.note,
            })
            .collect(),
    }
}

/// Start renewing your licence. Refused (`renewal.not_eligible`) with every
/// rule that stands in the way when it cannot be renewed online.
#[utoipa::path(post, path = "/v1/renewals", tag = "renewal", request_body = StartInput, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh unique key per action; a repeat returns the same renewal")),
    responses((status = 201, body = Renewal), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn start_renewal(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<StartInput>,
) -> Result<Response, Problem> {
    let req = keyed(
        pb::StartRequest {
            driver_id: input.driver_id,
            wants_real_id: input.real_id,
        },
        &headers,
    )
    .map_err(problem("gateway"))?;
    let a = s
        .applications
        .clone()
        .start(req)
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok((StatusCode::CREATED, Json(renewal(a))).into_response())
}

/// A renewal with its timeline: its applicant, or staff of its jurisdiction.
#[utoipa::path(get, path = "/v1/renewals/{id}", tag = "renewal", security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id")),
    responses((status = 200, body = Renewal), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_renewal(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Renewal>, Problem> {
    let a = call(true, s.retries, || {
        let mut c = s.applications.clone();
        let id = id.clone();
        async move { c.get(pb::GetApplicationRequest { id }).await }
    })
    .await
    .map_err(problem("renewal"))?
    .into_inner();
    Ok(Json(renewal(a)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhotoInput {
    /// image/jpeg or image/png.
    pub content_type: String,
    /// The image, base64.
    pub image_base64: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhotoCheck {
    pub name: String,
    pub passed: bool,
    /// Machine-readable reason when it failed.
    pub reason: String,
    /// What to change, for the citizen.
    pub advice: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhotoResult {
    pub accepted: bool,
    pub checks: Vec<PhotoCheck>,
    pub renewal: Renewal,
}

/// Give the photo for the card. Every check is answered with what was
/// measured and, when it fails, what to change; an accepted photo is kept.
#[utoipa::path(post, path = "/v1/renewals/{id}/photo", tag = "renewal", request_body = PhotoInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = PhotoResult), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json")))]
async fn submit_photo(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PhotoInput>,
) -> Result<Json<PhotoResult>, Problem> {
    let image = base64::engine::general_purpose::STANDARD
        .decode(input.image_base64.trim())
        .map_err(|_| {
            Problem::new(
                ErrorKind::InvalidArgument,
                "renewal.photo_not_base64",
                "image_base64 is not base64.",
            )
        })?;
    let r = s
        .applications
        .clone()
        .submit_photo(pb::SubmitPhotoRequest {
            id,
            image,
            content_type: input.content_type,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(PhotoResult {
        accepted: r.accepted,
        checks: r
            .checks
            .into_iter()
            .map(|c| PhotoCheck {
                name: c.name,
                passed: c.passed,
                reason: c.reason,
                advice: c.advice,
            })
            .collect(),
        renewal: renewal(r.application.unwrap_or_default()),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressResult {
    pub validation: AddressValidation,
    pub renewal: Renewal,
}

/// Confirm the mailing address: kept when the reference set knows it
/// (exactly, or after the corrections listed).
#[utoipa::path(post, path = "/v1/renewals/{id}/address", tag = "renewal", request_body = AddressInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = AddressResult), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn confirm_address(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AddressInput>,
) -> Result<Json<AddressResult>, Problem> {
    let r = s
        .applications
        .clone()
        .confirm_address(pb::ConfirmAddressRequest {
            id,
            text: input.text,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(AddressResult {
        validation: AddressValidation {
            outcome: r.outcome,
            deliverable: r.deliverable,
            lines: r.lines,
            changes: r
                .changes
                .into_iter()
                .map(|c| AddressChange {
                    field: c.field,
                    from: c.from,
                    to: c.to,
                })
                .collect(),
            suggestions: r.suggestions,
        },
        renewal: renewal(r.application.unwrap_or_default()),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryInput {
    /// mail or pickup.
    pub kind: String,
    /// For pickup: the office (see `/v1/offices/nearest`).
    #[serde(default)]
    pub office_id: String,
}

/// Choose to have the card mailed or to pick it up at an office.
#[utoipa::path(post, path = "/v1/renewals/{id}/delivery", tag = "renewal", request_body = DeliveryInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = Renewal), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn choose_delivery(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DeliveryInput>,
) -> Result<Json<Renewal>, Problem> {
    let a = s
        .applications
        .clone()
        .choose_delivery(pb::ChooseDeliveryRequest {
            id,
            kind: input.kind,
            office_id: input.office_id,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(renewal(a)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentInput {
    /// Sent to the card processor; never stored by Plaza.
    pub card_number: String,
}

/// Pay the fee; the card is then ordered. Paying twice never charges twice;
/// paying before the photo, address or delivery is done is refused
/// (`renewal.out_of_order`).
#[utoipa::path(post, path = "/v1/renewals/{id}/payment", tag = "renewal", request_body = PaymentInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = Renewal), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn pay(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PaymentInput>,
) -> Result<Json<Renewal>, Problem> {
    let a = s
        .applications
        .clone()
        .pay(pb::PayRequest {
            id,
            card_number: input.card_number,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(renewal(a)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelInput {
    #[serde(default)]
    pub reason: String,
}

/// Cancel the renewal; a payment is refunded. Possible until the card
/// order has gone to the card vendor.
#[utoipa::path(post, path = "/v1/renewals/{id}/cancel", tag = "renewal", request_body = CancelInput, security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action")),
    responses((status = 200, body = Renewal), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CancelInput>,
) -> Result<Json<Renewal>, Problem> {
    let a = s
        .applications
        .clone()
        .cancel(pb::CancelRequest {
            id,
            reason: input.reason,
        })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    Ok(Json(renewal(a)))
}

/// The temporary licence to print (PDF), once the card is ordered.
#[utoipa::path(get, path = "/v1/renewals/{id}/temporary-licence", tag = "renewal", security(("bearer" = [])),
    params(("id" = String, Path, description = "The renewal's id")),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn temporary_licence(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let d = s
        .applications
        .clone()
        .temporary_licence(pb::GetApplicationRequest { id })
        .await
        .map_err(problem("renewal"))?
        .into_inner();
    let mut r = d.pdf.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    Ok(r)
}

// -------------------------------------------------------------- payments

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    /// false: a delivery seen before.
    pub applied: bool,
}

/// The card processor's signed webhook (`Plaza-Sim-Signature`).
#[utoipa::path(post, path = "/v1/payments/webhook", tag = "payments", request_body(content = String, content_type = "application/json"),
    responses((status = 200, body = WebhookAck), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, Problem> {
    let signature = super::delivery_signature(&headers);
    let r = s
        .payments
        .clone()
        .webhook(payments_pb::WebhookRequest {
            body: body.to_vec(),
            signature,
        })
        .await
        .map_err(problem("payments"))?
        .into_inner();
    Ok(Json(WebhookAck { applied: r.applied }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub intent_id: String,
    /// The processor's transaction id.
    pub transaction_id: String,
    /// RFC 3339.
    pub paid_at: String,
    pub reason: String,
    pub payer: String,
    pub lines: Vec<FeeLine>,
    /// Cents.
    pub amount: i64,
    pub currency: String,
    /// Cents refunded so far.
    pub refunded: i64,
}

/// The receipt of a payment: the payer, or staff.
#[utoipa::path(get, path = "/v1/payments/{id}/receipt", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, description = "The payment intent's id")),
    responses((status = 200, body = Receipt), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn receipt(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Receipt>, Problem> {
    let r = call(true, s.retries, || {
        let mut c = s.payments.clone();
        let id = id.clone();
        async move { c.receipt(payments_pb::GetIntentRequest { id }).await }
    })
    .await
    .map_err(problem("payments"))?
    .into_inner();
    Ok(Json(Receipt {
        intent_id: r.intent_id,
        transaction_id: r.transaction_id,
        paid_at: plaza_kernel::clock::rfc3339(r.paid_at_ms),
        reason: r.reason,
        payer: r.payer,
        lines: fee_lines(r.lines),
        amount: r.amount,
        currency: r.currency,
        refunded: r.refunded,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconcileParams {
    /// The UTC day, YYYY-MM-DD.
    pub date: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Difference {
    /// missing_in_ledger, missing_at_processor or amount_differs.
    pub kind: String,
    pub processor_id: String,
    pub reference: String,
    pub ledger_amount: i64,
    pub processor_amount: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reconciliation {
    pub date: String,
    pub matched: i64,
    pub ledger_total: i64,
    pub processor_total: i64,
    pub differences: Vec<Difference>,
}

/// The day's ledger against the processor's settlement file, with every
/// difference (auditors and administrators).
#[utoipa::path(get, path = "/v1/payments/reconciliation", tag = "payments", params(ReconcileParams), security(("bearer" = [])),
    responses((status = 200, body = Reconciliation), (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reconciliation(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<ReconcileParams>,
) -> Result<Json<Reconciliation>, Problem> {
    let r = s
        .payments
        .clone()
        .reconcile(payments_pb::ReconcileRequest { date: p.date })
        .await
        .map_err(problem("payments"))?
        .into_inner();
    Ok(Json(Reconciliation {
        date: r.date,
        matched: r.matched,
        ledger_total: r.ledger_total,
        processor_total: r.processor_total,
        differences: r
            .differences
            .into_iter()
            .map(|d| Difference {
                kind: d.kind,
                processor_id: d.processor_id,
                reference: d.reference,
                ledger_amount: d.ledger_amount,
                processor_amount: d.processor_amount,
            })
            .collect(),
    }))
}
