//! Thin gRPC handlers: decode, call the app, map errors.

use async_trait::async_trait;
use plaza_contracts::offices::v1 as pb;
use plaza_contracts::offices::v1::offices_service_server::OfficesService;
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::grpc::idempotency_key;
use plaza_kernel::idempotency::fingerprint;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::{Idempotency, Offices};
use crate::domain::{OfficeFields, OfficeKind};
use crate::error::Error;

/// The gRPC face of [`Offices`]. The caller comes sealed from the gateway;
/// the app decides what they may do.
#[derive(Clone)]
pub struct GrpcOffices {
    app: Offices,
    seal: CallerSeal,
}

impl GrpcOffices {
    pub fn new(app: Offices, seal: CallerSeal) -> Self {
        GrpcOffices { app, seal }
    }

    fn read<T>(&self, req: &Request<T>, action: &str) -> Result<(), Status> {
        let caller = self.seal.caller(req)?;
        self.app
            .authorize_read(&caller, action)
            .map_err(|e| e.to_status())
    }
}

fn kind_filter(k: i32) -> Result<Option<OfficeKind>, Status> {
    if k == 0 {
        return Ok(None);
    }
    OfficeKind::from_pb(k).map(Some).ok_or_else(|| {
        Error::Invalid {
            field: "kind",
            reason: "unknown office kind".into(),
        }
        .to_status()
    })
}

fn idempotency<T: Message>(req: &Request<T>) -> Result<Idempotency, Status> {
    Ok(Idempotency {
        key: idempotency_key(req)?,
        fingerprint: fingerprint(&req.get_ref().encode_to_vec()),
    })
}

#[async_trait]
impl OfficesService for GrpcOffices {
    async fn list_offices(
        &self,
        req: Request<pb::ListOfficesRequest>,
    ) -> Result<Response<pb::ListOfficesResponse>, Status> {
        self.read(&req, "offices.list")?;
        let r = req.into_inner();
        let kind = kind_filter(r.kind)?;
        let county = Some(r.county).filter(|c| !c.is_empty());
        let cursor = Some(r.cursor).filter(|c| !c.is_empty());
        let limit = (r.limit != 0).then_some(r.limit as i64);
        let (offices, next) = self
            .app
            .list(kind, county, cursor.as_deref(), limit)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::ListOfficesResponse {
            offices: offices.iter().map(|o| o.to_pb()).collect(),
            next_cursor: next.unwrap_or_default(),
        }))
    }

    async fn get_office(
        &self,
        req: Request<pb::GetOfficeRequest>,
    ) -> Result<Response<pb::Office>, Status> {
        self.read(&req, "offices.get")?;
        let office = self
            .app
            .get(&req.get_ref().id)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(office.to_pb()))
    }

    async fn nearest_offices(
        &self,
        req: Request<pb::NearestOfficesRequest>,
    ) -> Result<Response<pb::NearestOfficesResponse>, Status> {
        self.read(&req, "offices.nearest")?;
        let r = req.into_inner();
        let limit = if r.limit == 0 { 5 } else { r.limit };
        let found = self
            .app
            .nearest(r.latitude, r.longitude, kind_filter(r.kind)?, limit)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::NearestOfficesResponse {
            offices: found
                .into_iter()
                .map(|(o, d)| pb::OfficeDistance {
                    office: Some(o.to_pb()),
                    distance_km: (d * 1000.0).round() / 1000.0,
                })
                .collect(),
        }))
    }

    async fn create_office(
        &self,
        req: Request<pb::CreateOfficeRequest>,
    ) -> Result<Response<pb::Office>, Status> {
        let caller = self.seal.caller(&req)?;
        let idem = idempotency(&req)?;
        let input = req.into_inner().office.ok_or_else(|| {
            Error::Invalid {
                field: "office",
                reason: "is required".into(),
            }
            .to_status()
        })?;
        let fields = OfficeFields::from_pb(&input).map_err(|e| e.to_status())?;
        let office = self
            .app
            .create(&caller, &idem, fields)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(office.to_pb()))
    }

    async fn update_office(
        &self,
        req: Request<pb::UpdateOfficeRequest>,
    ) -> Result<Response<pb::Office>, Status> {
        let caller = self.seal.caller(&req)?;
        let idem = idempotency(&req)?;
        let r = req.into_inner();
        let input = r.office.ok_or_else(|| {
            Error::Invalid {
                field: "office",
                reason: "is required".into(),
            }
            .to_status()
        })?;
        let fields = OfficeFields::from_pb(&input).map_err(|e| e.to_status())?;
        let expected = (r.expected_version != 0).then_some(r.expected_version);
        let office = self
            .app
            .update(&caller, &idem, &r.id, fields, expected)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(office.to_pb()))
    }
}
