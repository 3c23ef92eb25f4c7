//! Thin gRPC handlers: decode, call the app, map errors.

use async_trait::async_trait;
use plaza_contracts::renewal::v1 as pb;
use plaza_contracts::renewal::v1::renewal_service_server::RenewalService;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use crate::drivers::Drivers;
use crate::drivers::domain::{Date, Driver};
use crate::eligibility::{Decision, RenewalRequest};

/// The gRPC face of the renewal service. The caller comes sealed from the
/// gateway; the app decides what they may do.
#[derive(Clone)]
pub struct GrpcRenewal {
    drivers: Drivers,
    seal: CallerSeal,
}

impl GrpcRenewal {
    pub fn new(drivers: Drivers, seal: CallerSeal) -> Self {
        GrpcRenewal { drivers, seal }
    }
}

fn date(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// The wire form of a record.
pub fn driver_to_pb(d: &Driver) -> pb::Driver {
    let p = &d.person;
    pb::Driver {
        id: d.id.clone(),
        licence_number: d.licence_number.to_string(),
        jurisdiction: d.jurisdiction.clone(),
        licence_class: d.class.as_str().to_owned(),
        endorsements: d.endorsements.as_slice().to_vec(),
        restrictions: d.restrictions.as_slice().to_vec(),
        issued_on: d.issued_on.to_string(),
        expires_on: d.expires_on.to_string(),
        status: d.status.as_str().to_owned(),
        real_id: d.real_id,
        real_id_documents_seen: d.real_id_documents_seen,
        last_renewal_online: d.last_renewal_online,
        vision_test_on: date(d.vision_test_on),
        medical_certificate_expires_on: date(d.medical_certificate_expires_on),
        claimed: d.subject.is_some(),
        family_name: p.name.family.clone(),
        given_names: p.name.given.clone(),
        birth_date: p.birth_date.to_string(),
        address: Some(pb::Address {
            line1: p.address.line1.clone(),
            line2: p.address.line2.clone(),
            city: p.address.city.clone(),
            state: p.address.state.clone(),
            zip: p.address.zip.clone(),
        }),
    }
}

/// The wire form of a decision.
pub fn decision_to_pb(driver_id: &str, d: &Decision) -> pb::EligibilityDecision {
    pb::EligibilityDecision {
        driver_id: driver_id.to_owned(),
        eligible: d.eligible(),
        today: d.today.to_string(),
        new_expires_on: d.new_expires_on.to_string(),
        refusals: d
            .refusals
            .iter()
            .map(|r| pb::Refusal {
                rule_id: r.rule_id.clone(),
                message: r.message.clone(),
                instead: r.instead.clone(),
            })
            .collect(),
    }
}

#[async_trait]
impl RenewalService for GrpcRenewal {
    async fn get_driver(
        &self,
        req: Request<pb::GetDriverRequest>,
    ) -> Result<Response<pb::Driver>, Status> {
        let caller = self.seal.caller(&req)?;
        let driver = self
            .drivers
            .get(&caller, &req.get_ref().id)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(driver_to_pb(&driver)))
    }

    async fn find_driver(
        &self,
        req: Request<pb::FindDriverRequest>,
    ) -> Result<Response<pb::Driver>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.get_ref();
        let driver = self
            .drivers
            .claim(&caller, &r.licence_number, &r.birth_date)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(driver_to_pb(&driver)))
    }

    async fn check_eligibility(
        &self,
        req: Request<pb::CheckEligibilityRequest>,
    ) -> Result<Response<pb::EligibilityDecision>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.get_ref();
        let request = RenewalRequest {
            wants_real_id: r.wants_real_id,
        };
        let (driver, decision) = self
            .drivers
            .check_eligibility(&caller, &r.driver_id, &request)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(decision_to_pb(&driver.id, &decision)))
    }
}
