//! `/v1/me`: who the bearer token says the caller is.

use axum::Json;
use axum::extract::State;
use plaza_contracts::identity::v1 as pb;
use plaza_kernel::resilience::call;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
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
    OpenApiRouter::new().routes(routes!(me))
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
