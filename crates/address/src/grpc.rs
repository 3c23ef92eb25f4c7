//! Thin gRPC handlers: decode, call the app, map errors.

use async_trait::async_trait;
use plaza_contracts::address::v1 as pb;
use plaza_contracts::address::v1::address_service_server::AddressService;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use crate::app::Addresses;
use crate::parse::Address;
use crate::validate::Outcome;

/// The gRPC face of [`Addresses`]. The caller comes sealed from the
/// gateway (or nobody, for an anonymous call); the app decides.
#[derive(Clone)]
pub struct GrpcAddress {
    app: Addresses,
    seal: CallerSeal,
}

impl GrpcAddress {
    pub fn new(app: Addresses, seal: CallerSeal) -> Self {
        GrpcAddress { app, seal }
    }
}

pub fn address_to_pb(a: &Address) -> pb::Address {
    pb::Address {
        number: a.number.clone(),
        pre_directional: a.predir.clone(),
        street_name: a.name.clone(),
        suffix: a.suffix.clone(),
        post_directional: a.postdir.clone(),
        unit_type: a.unit_type.clone(),
        unit_id: a.unit_id.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip5: a.zip5.clone(),
        zip4: a.zip4.clone(),
        delivery_line: a.delivery_line(),
        last_line: a.last_line(),
    }
}

#[async_trait]
impl AddressService for GrpcAddress {
    async fn parse(
        &self,
        req: Request<pb::ParseRequest>,
    ) -> Result<Response<pb::ParseResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let parsed = self
            .app
            .parse(&caller, &req.get_ref().text)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::ParseResponse {
            tokens: parsed
                .tokens
                .iter()
                .map(|t| pb::Token {
                    raw: t.raw.clone(),
                    text: t.text.clone(),
                    label: t.label.as_str().into(),
                })
                .collect(),
            address: Some(address_to_pb(&parsed.address)),
        }))
    }

    async fn standardise(
        &self,
        req: Request<pb::StandardiseRequest>,
    ) -> Result<Response<pb::StandardiseResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let a = self
            .app
            .standardise(&caller, &req.get_ref().text)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::StandardiseResponse {
            address: Some(address_to_pb(&a)),
        }))
    }

    async fn validate(
        &self,
        req: Request<pb::ValidateRequest>,
    ) -> Result<Response<pb::ValidateResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let v = self
            .app
            .validate(&caller, &req.get_ref().text)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(pb::ValidateResponse {
            outcome: match v.outcome {
                Outcome::Exact => pb::Outcome::Exact,
                Outcome::Corrected => pb::Outcome::Corrected,
                Outcome::NoMatch => pb::Outcome::NoMatch,
            } as i32,
            deliverable: v.deliverable,
            input: Some(address_to_pb(&v.input)),
            matched: v.matched.as_ref().map(address_to_pb),
            county: v.county.unwrap_or_default(),
            changes: v
                .changes
                .iter()
                .map(|c| pb::Change {
                    field: c.field.as_str().into(),
                    kind: c.kind.as_str().into(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                })
                .collect(),
            suggestions: v.suggestions.iter().map(address_to_pb).collect(),
        }))
    }
}
