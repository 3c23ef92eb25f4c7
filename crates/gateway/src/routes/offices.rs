//! `/v1/offices`: the state's service locations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use plaza_contracts::offices::v1 as pb;
use plaza_kernel::clock::rfc3339;
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

const DOWNSTREAM: &str = "offices";

/// What an office is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfficeKind {
    DmvOffice,
    PoliceLicensingUnit,
    CardPickup,
}

impl OfficeKind {
    fn to_pb(self) -> i32 {
        (match self {
            OfficeKind::DmvOffice => pb::OfficeKind::DmvOffice,
            OfficeKind::PoliceLicensingUnit => pb::OfficeKind::PoliceLicensingUnit,
            OfficeKind::CardPickup => pb::OfficeKind::CardPickup,
        }) as i32
    }
    fn from_pb(k: i32) -> Option<OfficeKind> {
        match pb::OfficeKind::try_from(k).ok()? {
            pb::OfficeKind::DmvOffice => Some(OfficeKind::DmvOffice),
            pb::OfficeKind::PoliceLicensingUnit => Some(OfficeKind::PoliceLicensingUnit),
            pb::OfficeKind::CardPickup => Some(OfficeKind::CardPickup),
            pb::OfficeKind::Unspecified => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Address {
    #[schema(example = "1101 S Front St")]
    pub street: String,
    #[schema(example = "Harrisburg")]
    pub city: String,
    #[schema(example = "Dauphin")]
    pub county: String,
    #[schema(example = "PA")]
    pub state: String,
    /// ZIP or ZIP+4.
    #[schema(example = "17104-2522")]
    pub zip: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Location {
    #[schema(example = 40.2501)]
    pub latitude: f64,
    #[schema(example = -76.8831)]
    pub longitude: f64,
}

/// A service location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Office {
    pub id: String,
    /// The agency's own code.
    #[schema(example = "DMV-0042")]
    pub code: String,
    pub name: String,
    pub kind: OfficeKind,
    pub address: Address,
    pub location: Location,
    pub phone: String,
    /// Opening hours, e.g. `Mo-Fr 08:30-16:30`.
    pub hours: String,
    pub active: bool,
    /// Increases with every change; send it back in `If-Match` to update.
    pub version: i64,
    /// RFC 3339.
    pub updated_at: String,
}

impl Office {
    fn from_pb(o: pb::Office) -> Office {
        Office {
            kind: OfficeKind::from_pb(o.kind).unwrap_or(OfficeKind::DmvOffice),
            id: o.id,
            code: o.code,
            name: o.name,
            address: Address {
                street: o.street,
                city: o.city,
                county: o.county,
                state: o.state,
                zip: o.zip,
            },
            location: Location {
                latitude: o.latitude,
                longitude: o.longitude,
            },
            phone: o.phone,
            hours: o.hours,
            active: o.active,
            version: o.version,
            updated_at: rfc3339(o.updated_at_ms),
        }
    }
}

/// The fields of an office to create or replace.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficeInput {
    pub code: String,
    pub name: String,
    pub kind: OfficeKind,
    pub address: Address,
    pub location: Location,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub hours: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl OfficeInput {
    fn into_pb(self) -> pb::OfficeInput {
        pb::OfficeInput {
            code: self.code,
            name: self.name,
            kind: self.kind.to_pb(),
            street: self.address.street,
            city: self.address.city,
            county: self.address.county,
            state: self.address.state,
            zip: self.address.zip,
            latitude: self.location.latitude,
            longitude: self.location.longitude,
            phone: self.phone,
            hours: self.hours,
            active: self.active,
        }
    }
}

/// A page of offices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfficePage {
    pub items: Vec<Office>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only offices of this kind.
    pub kind: Option<OfficeKind>,
    /// Only offices in this county.
    pub county: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearestParams {
    /// Latitude of the point, -90–90.
    pub lat: f64,
    /// Longitude of the point, -180–180.
    pub lon: f64,
    /// Only offices of this kind.
    pub kind: Option<OfficeKind>,
    /// How many, 1–50 (default 5).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NearbyOffice {
    pub office: Office,
    /// Great-circle distance from the point.
    pub distance_km: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NearestOffices {
    pub items: Vec<NearbyOffice>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_offices, create_office))
        .routes(routes!(nearest_offices))
        .routes(routes!(get_office, replace_office))
}

/// List offices, filtered and paginated.
#[utoipa::path(get, path = "/v1/offices", tag = "offices", params(ListParams),
    responses((status = 200, body = OfficePage), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn list_offices(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<OfficePage>, Problem> {
    let req = pb::ListOfficesRequest {
        kind: p.kind.map(OfficeKind::to_pb).unwrap_or(0),
        county: p.county.unwrap_or_default(),
        cursor: p.cursor.unwrap_or_default(),
        limit: p.limit.unwrap_or(0),
    };
    let resp = call(true, s.retries, || {
        let mut c = s.offices.clone();
        let req = req.clone();
        async move { c.list_offices(req).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    Ok(Json(OfficePage {
        items: resp.offices.into_iter().map(Office::from_pb).collect(),
        next_cursor: Some(resp.next_cursor).filter(|c| !c.is_empty()),
    }))
}

/// Create an office.
#[utoipa::path(post, path = "/v1/offices", tag = "offices", request_body = OfficeInput,
    params(("Idempotency-Key" = String, Header, description = "A fresh unique key per action; a repeat returns the first answer")),
    responses((status = 201, body = Office), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json")))]
async fn create_office(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<OfficeInput>,
) -> Result<impl IntoResponse, Problem> {
    let req = tonic::Request::new(pb::CreateOfficeRequest {
        office: Some(input.into_pb()),
    });
    let req = with_idempotency_key(req, &idempotency_key(&headers))
        .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?;
    let office = s
        .offices
        .clone()
        .create_office(req)
        .await
        .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?;
    Ok((
        StatusCode::CREATED,
        Json(Office::from_pb(office.into_inner())),
    ))
}

/// The offices nearest to a point.
#[utoipa::path(get, path = "/v1/offices/nearest", tag = "offices", params(NearestParams),
    responses((status = 200, body = NearestOffices), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn nearest_offices(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<NearestParams>,
) -> Result<Json<NearestOffices>, Problem> {
    let req = pb::NearestOfficesRequest {
        latitude: p.lat,
        longitude: p.lon,
        kind: p.kind.map(OfficeKind::to_pb).unwrap_or(0),
        limit: p.limit.unwrap_or(0),
    };
    let resp = call(true, s.retries, || {
        let mut c = s.offices.clone();
        async move { c.nearest_offices(req).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    Ok(Json(NearestOffices {
        items: resp
            .offices
            .into_iter()
            .filter_map(|d| {
                Some(NearbyOffice {
                    office: Office::from_pb(d.office?),
                    distance_km: d.distance_km,
                })
            })
            .collect(),
    }))
}

/// One office.
#[utoipa::path(get, path = "/v1/offices/{id}", tag = "offices", params(("id" = String, Path, description = "Office id")),
    responses((status = 200, body = Office), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_office(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Office>, Problem> {
    let resp = call(true, s.retries, || {
        let mut c = s.offices.clone();
        let id = id.clone();
        async move { c.get_office(pb::GetOfficeRequest { id }).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?;
    Ok(Json(Office::from_pb(resp.into_inner())))
}

/// Replace an office's fields. Send `If-Match` with the version you read to
/// refuse the change if someone else changed the office meanwhile.
#[utoipa::path(put, path = "/v1/offices/{id}", tag = "offices", request_body = OfficeInput,
    params(("id" = String, Path, description = "Office id"),
           ("Idempotency-Key" = String, Header, description = "A fresh unique key per action"),
           ("If-Match" = Option<String>, Header, description = "The version last read, e.g. \"3\"")),
    responses((status = 200, body = Office), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn replace_office(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<OfficeInput>,
) -> Result<Json<Office>, Problem> {
    let expected_version = match headers.get(axum::http::header::IF_MATCH) {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Problem::new(
                    ErrorKind::InvalidArgument,
                    "invalid_if_match",
                    "If-Match must hold a version number, e.g. \"3\".",
                )
            })?,
    };
    let req = tonic::Request::new(pb::UpdateOfficeRequest {
        id,
        office: Some(input.into_pb()),
        expected_version,
    });
    let req = with_idempotency_key(req, &idempotency_key(&headers))
        .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?;
    let office = s
        .offices
        .clone()
        .update_office(req)
        .await
        .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?;
    Ok(Json(Office::from_pb(office.into_inner())))
}
