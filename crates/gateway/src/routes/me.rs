//! `/v1/me`: who the bearer token says the caller is.

use axum::Json;
use axum::extract::State;
use plaza_contracts::audit::v1 as pb_audit;
use plaza_contracts::identity::v1 as pb;
use plaza_kernel::resilience::call;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::ApiQuery;
use crate::problem::Problem;

/// The authenticated caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// The subject at its issuer.
    pub subject: String,
    pub issuer: String,
    /// Plaza roles: citizen, clerk, licensing_officer, examiner, auditor, admin.
    pub roles: Vec<String>,
    /// The county or state the caller works for, e.g. `PA/Dauphin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Only for accounts of Plaza's own sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the account signs in with a second factor.
    pub second_factor: bool,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(access_log))
}

/// One access to the caller's records.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Access {
    /// The audit log entry's index: prove it with `/v1/audit/proofs/inclusion`.
    pub index: u64,
    /// RFC 3339.
    pub at: String,
    /// Who: a person (`issuer|subject`) or a Plaza process (`system:…`).
    pub actor: String,
    /// The service that recorded it.
    pub service: String,
    /// What was done, e.g. `vault.detokenise` or `identity.signed_in`.
    pub action: String,
    pub resource: String,
    /// Why, as stated by whoever did it.
    pub purpose: String,
    pub outcome: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLog {
    /// Newest first.
    pub items: Vec<Access>,
    /// Pass as `before` for older entries; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogParams {
    /// Entries before this index (from a previous page's `next_before`).
    pub before: Option<u64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// Who accessed the caller's records, when and why — every entry of the
/// tamper-evident audit log about them.
#[utoipa::path(get, path = "/v1/me/access-log", tag = "identity", params(AccessLogParams), security(("bearer" = [])),
    responses((status = 200, body = AccessLog),
              (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn access_log(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<AccessLogParams>,
) -> Result<Json<AccessLog>, Problem> {
    let r = call(true, s.retries, || {
        let mut c = s.audit.clone();
        async move {
            c.list_accesses(pb_audit::ListAccessesRequest {
                before_index: p.before.unwrap_or(0),
                limit: p.limit.unwrap_or(0),
            })
            .await
        }
    })
    .await
    .map_err(|e| Problem::from_status(&e, "audit"))?
    .into_inner();
    Ok(Json(AccessLog {
        items: r
            .entries
            .into_iter()
            .filter_map(|l| {
                let e = l.event?;
                Some(Access {
                    index: l.index,
                    at: plaza_kernel::clock::rfc3339(e.at_ms),
                    actor: e.actor,
                    service: e.service,
                    action: e.action,
                    resource: e.resource,
                    purpose: e.purpose,
                    outcome: e.outcome,
                })
            })
            .collect(),
        next_before: Some(r.next_before_index).filter(|n| *n != 0),
    }))
}

/// The authenticated caller: subject, roles and jurisdiction.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Me),
              (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(State(s): State<AppState>) -> Result<Json<Me>, Problem> {
    let r = call(true, s.retries, || {
        let mut c = s.identity.clone();
        async move { c.who_am_i(pb::WhoAmIRequest {}).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, "identity"))?
    .into_inner();
    Ok(Json(Me {
        subject: r.subject,
        issuer: r.issuer,
        roles: r.roles,
        jurisdiction: Some(r.jurisdiction).filter(|j| !j.is_empty()),
        email: Some(r.email).filter(|e| !e.is_empty()),
        second_factor: r.second_factor,
    }))
}
