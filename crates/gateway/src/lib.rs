//! The public REST API. Routes and their OpenAPI documentation are
//! registered together, from code; the document is committed as
//! `openapi/plaza.json` and a test fails when the two drift apart.
//!
//! The gateway holds no data of its own: every answer comes from a service
//! over gRPC, through clients with timeouts, retries for idempotent calls, a
//! circuit breaker and a concurrency limit.

pub mod auth;
pub mod extract;
pub mod middleware;
pub mod problem;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use plaza_contracts::address::v1::address_service_client::AddressServiceClient;
use plaza_contracts::audit::v1::audit_service_client::AuditServiceClient;
use plaza_contracts::checks::v1::checks_service_client::ChecksServiceClient;
use plaza_contracts::identity::v1::identity_service_client::IdentityServiceClient;
use plaza_contracts::offices::v1::offices_service_client::OfficesServiceClient;
use plaza_contracts::payments::v1::payments_service_client::PaymentsServiceClient;
use plaza_contracts::permits::v1::permit_applications_client::PermitApplicationsClient;
use plaza_contracts::permits::v1::permit_types_client::PermitTypesClient;
use plaza_contracts::renewal::v1::renewal_applications_client::RenewalApplicationsClient;
use plaza_contracts::renewal::v1::renewal_service_client::RenewalServiceClient;
use plaza_kernel::error::ErrorKind;
use plaza_kernel::resilience::{self, Breaker, ClientChannel, ClientPolicy};
use serde::Serialize;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::Problem;

/// Stable problem codes and what they mean, shown on the documentation page.
pub const PROBLEM_CODES: &[(&str, &str)] = &[
    (
        "invalid_json",
        "The body is not valid JSON for this endpoint.",
    ),
    (
        "invalid_query",
        "A query parameter is missing or malformed.",
    ),
    (
        "unsupported_media_type",
        "The body was not sent as application/json.",
    ),
    (
        "request_too_large",
        "The body is larger than the configured limit.",
    ),
    (
        "idempotency_key_required",
        "A request that changes data came without an Idempotency-Key header.",
    ),
    (
        "idempotency_key_invalid",
        "The Idempotency-Key is not 1 to 128 visible ASCII characters.",
    ),
    (
        "idempotency_key_reused",
        "The Idempotency-Key was already used for a different request.",
    ),
    (
        "invalid_cursor",
        "The page cursor was not issued by this API.",
    ),
    (
        "invalid_if_match",
        "If-Match does not hold a version number.",
    ),
    ("route_not_found", "No endpoint has this path."),
    (
        "sign_in_required",
        "This needs a signed-in caller: send an access token as `Authorization: Bearer …`.",
    ),
    (
        "forbidden",
        "The signed-in caller's roles or jurisdiction do not allow this (the policies in policies/ decide).",
    ),
    (
        "token_malformed",
        "The Authorization header does not hold a well-formed bearer JWT.",
    ),
    (
        "token_algorithm_unsupported",
        "The token is signed with an algorithm Plaza does not accept (only EdDSA, RS256, ES256; never none or HMAC).",
    ),
    (
        "token_key_unknown",
        "The token names a signing key its issuer does not publish.",
    ),
    (
        "token_signature_invalid",
        "The token's signature does not verify: it was altered or forged.",
    ),
    (
        "token_expired",
        "The token has expired; sign in again or refresh it.",
    ),
    (
        "token_not_yet_valid",
        "The token's nbf or iat lies in the future beyond the allowed clock skew.",
    ),
    (
        "token_issuer_untrusted",
        "The token comes from an issuer Plaza is not configured to trust.",
    ),
    (
        "token_audience_invalid",
        "The token was issued for another audience than Plaza's.",
    ),
    (
        "identity_provider_unavailable",
        "The provider that issued the token cannot be reached to fetch its keys; retry shortly.",
    ),
    (
        "rate_limited",
        "Too many requests from this address; retry after Retry-After.",
    ),
    (
        "rate_limited_principal",
        "Too many requests from this signed-in account; retry after Retry-After.",
    ),
    (
        "caller_seal_invalid",
        "A service was called with a caller the gateway did not seal (inside Plaza only).",
    ),
    (
        "audit.beyond_signed_head",
        "The requested range reaches past the newest signed tree head.",
    ),
    (
        "audit.invalid",
        "A parameter of an audit request is out of range; the detail says which.",
    ),
    (
        "audit.no_tree_head",
        "The audit log has no signed tree head yet.",
    ),
    ("offices.not_found", "No office has this id."),
    (
        "offices.invalid",
        "A field of the office is invalid; the detail names it.",
    ),
    (
        "offices.duplicate_code",
        "Another office already has this code.",
    ),
    (
        "offices.version_conflict",
        "The office changed since the version given in If-Match.",
    ),
    (
        "permits.unknown_type",
        "No permit type has this id (see GET /v1/permit-types).",
    ),
    (
        "permits.invalid_date",
        "A date is not written YYYY-MM-DD or does not exist.",
    ),
    (
        "permits.invalid",
        "A field of a permit request is invalid; the detail names it.",
    ),
    (
        "permits.out_of_order",
        "The application cannot take this step in its present state; the detail lists the steps it expects.",
    ),
    (
        "permits.idempotency_conflict",
        "The Idempotency-Key was already used for a different application.",
    ),
    (
        "permits.duplicate",
        "An application for this permit type is already open for this person.",
    ),
    (
        "permits.cannot_accept",
        "The application cannot be accepted online; the answer says no more (the office can).",
    ),
    (
        "permits.application_not_found",
        "No permit application has this id (or the caller may not see it).",
    ),
    (
        "permits.permit_not_found",
        "No permit has this number (or the caller may not see it).",
    ),
    (
        "permits.not_eligible",
        "The applicant may not apply for this permit type (age, residency); the detail says why.",
    ),
    (
        "permits.reasons_required",
        "A denial, suspension or revocation must cite reason codes.",
    ),
    (
        "permits.unknown_reason",
        "A reason code is not a federal prohibitor, a disqualifier of the permit type, or a procedural reason.",
    ),
    (
        "permits.training_not_proven",
        "The training the permit type requires is not proven; the detail says what is missing.",
    ),
    (
        "permits.renewal_window",
        "The permit cannot be renewed now; the detail gives the window.",
    ),
    (
        "checks.not_found",
        "No background check has this transaction number (or the caller may not see it).",
    ),
    (
        "checks.notice_signature_invalid",
        "A record notice's signature does not verify (or no notice secret is configured).",
    ),
    (
        "checks.not_in_review",
        "Only a Delayed check awaiting an examiner can be resolved.",
    ),
    (
        "checks.already_resolved",
        "The check was already resolved with another decision.",
    ),
    (
        "checks.invalid",
        "A field of the resolution is invalid; the detail names it.",
    ),
    (
        "checks.unknown_prohibitor",
        "A cited code is neither a federal prohibitor nor a disqualifier of the permit type.",
    ),
    (
        "permits.vault_unavailable",
        "The applicant's identifiers could not be sealed just now; retry shortly.",
    ),
    (
        "service_unavailable",
        "A service behind the API is down or its circuit is open; retry after Retry-After.",
    ),
    (
        "downstream_timeout",
        "A service behind the API did not answer in time.",
    ),
    (
        "overloaded",
        "Plaza is shedding load; retry after Retry-After.",
    ),
    (
        "not_ready",
        "Some service this process depends on is not ready.",
    ),
    (
        "internal",
        "An unexpected failure; it was logged with the request id.",
    ),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plaza",
        description = "The public REST API of Plaza, the platform on which a state runs its licensing services. \
                       Errors are application/problem+json (RFC 9457) with a stable `code`. Every request that \
                       changes data needs an `Idempotency-Key` header; lists are paginated with cursors.",
        license(name = "Apache-2.0")
    ),
    tags((name = "offices", description = "DMV offices, police licensing units and card-pickup points"),
         (name = "audit", description = "The tamper-evident audit log: signed tree heads and RFC 6962 proofs"),
         (name = "checks", description = "Background checks: the examiners' queue of Delayed checks, a check as the caller's role may see it, and examiners' resolutions"),
         (name = "permits", description = "Firearm permits: the permit types a jurisdiction offers, applications with their timeline, officers' queue and decisions, renewal, suspension and revocation"),
         (name = "identity", description = "The signed-in caller. Sign-in itself is OpenID Connect at /oidc (see the README)"),
         (name = "system", description = "Health of this process and its dependencies")),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the bearer-token scheme: access tokens from Plaza's identity
/// provider (or an agency's, see `auth.issuers_file`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from Plaza's OpenID Connect provider (/oidc) or a trusted agency provider. \
                         Without one, a request is anonymous.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Shared by every handler. Every request clones it (with the route it
/// runs on), so it is one reference to the clients, not the clients.
#[derive(Clone)]
pub struct AppState(Arc<Clients>);

impl AppState {
    pub fn new(clients: Clients) -> AppState {
        AppState(Arc::new(clients))
    }
}

impl std::ops::Deref for AppState {
    type Target = Clients;

    fn deref(&self) -> &Clients {
        &self.0
    }
}

/// The clients of every service the gateway calls.
pub struct Clients {
    pub offices: OfficesServiceClient<ClientChannel>,
    pub audit: AuditServiceClient<ClientChannel>,
    pub identity: IdentityServiceClient<ClientChannel>,
    pub renewal: RenewalServiceClient<ClientChannel>,
    pub applications: RenewalApplicationsClient<ClientChannel>,
    pub payments: PaymentsServiceClient<ClientChannel>,
    pub address: AddressServiceClient<ClientChannel>,
    pub permit_types: PermitTypesClient<ClientChannel>,
    pub permits: PermitApplicationsClient<ClientChannel>,
    pub checks: ChecksServiceClient<ClientChannel>,
    /// Health of every downstream service, by name.
    pub health: Vec<(&'static str, HealthClient<ClientChannel>)>,
    pub retries: u32,
}

/// Where each downstream service is.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub offices: String,
    pub audit: String,
    pub identity: String,
    pub renewal: String,
    pub payments: String,
    pub address: String,
    pub permits: String,
    pub checks: String,
}

/// Downstream clients and their breakers.
pub struct Downstreams {
    pub state: AppState,
    pub breakers: Vec<Breaker>,
}

impl Downstreams {
    /// Clients for every service the gateway calls, at the given addresses.
    pub fn connect(
        urls: &Endpoints,
        policy: &ClientPolicy,
    ) -> Result<Downstreams, plaza_kernel::Error> {
        let (offices, offices_breaker) = resilience::channel("offices", &urls.offices, policy)?;
        let (audit, audit_breaker) = resilience::channel("audit", &urls.audit, policy)?;
        let (identity, identity_breaker) = resilience::channel("identity", &urls.identity, policy)?;
        // A payment (and the card order after it) may take longer than a
        // lookup; photos are large.
        let mut slow = policy.clone();
        slow.request_timeout = slow.request_timeout.max(Duration::from_secs(60));
        let (renewal, renewal_breaker) = resilience::channel("renewal", &urls.renewal, &slow)?;
        let (payments, payments_breaker) = resilience::channel("payments", &urls.payments, &slow)?;
        let (address, address_breaker) = resilience::channel("address", &urls.address, policy)?;
        let (permits, permits_breaker) = resilience::channel("permits", &urls.permits, policy)?;
        let (checks, checks_breaker) = resilience::channel("checks", &urls.checks, policy)?;
        Ok(Downstreams {
            state: AppState::new(Clients {
                offices: OfficesServiceClient::new(offices.clone()),
                audit: AuditServiceClient::new(audit.clone()),
                identity: IdentityServiceClient::new(identity.clone()),
                renewal: RenewalServiceClient::new(renewal.clone()),
                applications: RenewalApplicationsClient::new(renewal.clone())
                    .max_encoding_message_size(32 << 20),
                payments: PaymentsServiceClient::new(payments.clone()),
                address: AddressServiceClient::new(address.clone()),
                permit_types: PermitTypesClient::new(permits.clone()),
                permits: PermitApplicationsClient::new(permits.clone()),
                checks: ChecksServiceClient::new(checks.clone()),
                health: vec![
                    ("offices", HealthClient::new(offices)),
                    ("audit", HealthClient::new(audit)),
                    ("identity", HealthClient::new(identity)),
                    ("renewal", HealthClient::new(renewal)),
                    ("payments", HealthClient::new(payments)),
                    ("address", HealthClient::new(address)),
                    ("permits", HealthClient::new(permits)),
                    ("checks", HealthClient::new(checks)),
                ],
                retries: policy.retries,
            }),
            breakers: vec![
                offices_breaker,
                audit_breaker,
                identity_breaker,
                renewal_breaker,
                payments_breaker,
                address_breaker,
                permits_breaker,
                checks_breaker,
            ],
        })
    }
}

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
}

/// Is this process up?
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Can this process serve requests (its downstream services answer)?
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, Problem> {
    for (name, client) in &s.health {
        let mut client = client.clone();
        let check = client.check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        match tokio::time::timeout(Duration::from_millis(800), check).await {
            Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => {}
            _ => {
                return Err(Problem::new(
                    ErrorKind::Unavailable,
                    "not_ready",
                    format!("The {name} service is not ready."),
                ));
            }
        }
    }
    Ok(Json(Health { status: "ready" }))
}

fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::offices::router())
        .merge(routes::audit::router())
        .merge(routes::me::router())
        .merge(routes::renewals::router())
        .merge(routes::permits::router())
        .merge(routes::checks::router())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .split_for_parts()
}

/// The OpenAPI 3.1 document, as committed in `openapi/plaza.json`.
pub fn openapi_json() -> String {
    let mut text = api()
        .1
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

fn docs_page() -> String {
    let rows: String = PROBLEM_CODES
        .iter()
        .map(|(code, what)| {
            format!(
                "<tr id=\"problem-{code}\"><td><code>{code}</code></td><td>{}</td></tr>\n",
                escape(what)
            )
        })
        .collect();
    include_str!("../static/docs.html").replace("{{PROBLEMS}}", &rows)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Limits at the edge.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub body_limit_bytes: usize,
    pub max_in_flight: usize,
    /// Requests per second per client address (bursts of twice that); 0 = off.
    pub rate_limit_per_ip: u32,
}

/// The whole HTTP application: the API, and the sign-in pages of the
/// identity service when this process hosts it (`pages`, nested at `/oidc`).
pub fn app(
    state: AppState,
    limits: EdgeLimits,
    auth: auth::AuthLayer,
    pages: Option<Router>,
) -> Router {
    let (router, _) = api();
    let spec: Arc<str> = openapi_json().into();
    let page: Arc<str> = docs_page().into();
    let router = router
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move {
                    let mut r = spec.to_string().into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    r
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move { Html(page.to_string()) }
            }),
        )
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(
            middleware::require_idempotency_key,
        ))
        .with_state(state);
    let router = match pages {
        Some(pages) => router.nest("/oidc", pages),
        None => router,
    };
    edge(router, limits)
}

/// The sign-in pages alone (a process hosting `identity` without the
/// gateway), behind the same edge protections as the API.
pub fn pages_app(pages: Router, limits: EdgeLimits) -> Router {
    edge(Router::new().nest("/oidc", pages), limits)
}

/// What every answer at the edge passes through: not-found answers, body
/// limit, load shedding, the per-address rate limit, request ids and
/// metrics, security headers.
fn edge(router: Router, limits: EdgeLimits) -> Router {
    let sem = Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight));
    let limiter = middleware::ip_limiter(limits.rate_limit_per_ip);
    let headers = Arc::new(middleware::SecurityHeaders::for_docs_page(include_str!(
        "../static/docs.html"
    )));
    router
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(limits.body_limit_bytes))
        .layer(axum::middleware::from_fn_with_state(
            sem,
            middleware::shed_load,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limiter,
            middleware::rate_limit,
        ))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .layer(axum::middleware::from_fn_with_state(
            headers,
            middleware::security_headers,
        ))
}

async fn metrics() -> Response {
    let mut r = plaza_kernel::telemetry::metrics().render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
