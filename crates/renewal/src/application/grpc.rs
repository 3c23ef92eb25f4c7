//! The renewal application's gRPC face.

use plaza_contracts::renewal::v1 as pb;
use plaza_contracts::renewal::v1::renewal_applications_server::RenewalApplications;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use super::{Renewals, View};
use crate::error::Error;

pub struct GrpcApplications {
    app: Renewals,
    seal: CallerSeal,
}

impl GrpcApplications {
    pub fn new(app: Renewals, seal: CallerSeal) -> Self {
        GrpcApplications { app, seal }
    }
}

fn status(e: Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

fn application(v: View) -> pb::Application {
    let a = v.application;
    pb::Application {
        id: a.id,
        driver_id: a.driver_id,
        owner: a.owner,
        status: a.status,
        wants_real_id: a.wants_real_id,
        photo_accepted: a.photo_id.is_some(),
        address_confirmed: a.address_sealed.is_some(),
        delivery: a.delivery.unwrap_or_default(),
        office_id: a.office_id.unwrap_or_default(),
        payment_intent_id: a.intent_id,
        amount_due: a.amount_due,
        order_id: a.order_id.unwrap_or_default(),
        new_expires_on: a.new_expires_on,
        timeline: v
            .timeline
            .into_iter()
            .map(|e| pb::TimelineEntry {
                at_ms: e.at_ms,
                status: e.status,
                note: e.note,
            })
            .collect(),
        missing: v.missing.iter().map(|m| (*m).to_owned()).collect(),
        tracking: a.tracking.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl RenewalApplications for GrpcApplications {
    async fn start(
        &self,
        req: Request<pb::StartRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let key = plaza_kernel::grpc::idempotency_key(&req)?;
        let r = req.into_inner();
        let v = self
            .app
            .start(&caller, &key, &r.driver_id, r.wants_real_id)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn get(
        &self,
        req: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let v = self
            .app
            .get(&caller, &req.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn submit_photo(
        &self,
        req: Request<pb::SubmitPhotoRequest>,
    ) -> Result<Response<pb::PhotoResult>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let (accepted, checks, v) = self
            .app
            .submit_photo(&caller, &r.id, r.image, &r.content_type)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PhotoResult {
            accepted,
            checks: checks
                .into_iter()
                .map(|c| pb::PhotoCheck {
                    name: c.name,
                    passed: c.passed,
                    reason: c.reason,
                    advice: c.advice,
                })
                .collect(),
            application: Some(application(v)),
        }))
    }

    async fn confirm_address(
        &self,
        req: Request<pb::ConfirmAddressRequest>,
    ) -> Result<Response<pb::AddressResult>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let (a, v) = self
            .app
            .confirm_address(&caller, &r.id, &r.text)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AddressResult {
            outcome: a.outcome,
            deliverable: a.deliverable,
            lines: a.lines,
            changes: a
                .changes
                .into_iter()
                .map(|(field, from, to)| pb::AddressChange { field, from, to })
                .collect(),
            suggestions: a.suggestions,
            application: Some(application(v)),
        }))
    }

    async fn choose_delivery(
        &self,
        req: Request<pb::ChooseDeliveryRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .app
            .choose_delivery(&caller, &r.id, &r.kind, &r.office_id)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn pay(&self, req: Request<pb::PayRequest>) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .app
            .pay(&caller, &r.id, &r.card_number)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn cancel(
        &self,
        req: Request<pb::CancelRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .app
            .cancel(&caller, &r.id, &r.reason)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn temporary_licence(
        &self,
        req: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let caller = self.seal.caller(&req)?;
        let pdf = self
            .app
            .temporary_licence(&caller, &req.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Document { pdf }))
    }
}
