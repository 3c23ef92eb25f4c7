//! The permits service's gRPC face: the catalogue of permit types and the
//! applications, over [`Applications`].

use plaza_contracts::permits::v1 as pb;
use plaza_contracts::permits::v1::permit_applications_server::PermitApplications;
use plaza_contracts::permits::v1::permit_types_server::PermitTypes;
use plaza_kernel::auth::{Caller, CallerSeal};
use tonic::{Request, Response, Status};

use crate::application::{
    Applicant, Applications, CheckOutcome, Event, Person, PushedRecord, Submission,
    TrainingEvidence, View, store,
};
use crate::types::{Jurisdiction, PermitType};
use crate::{Date, Error};

fn status(e: Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

fn date(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// A permit type as the contract carries it.
pub fn permit_type(t: &PermitType) -> pb::PermitType {
    pb::PermitType {
        id: t.id.clone(),
        name: t.name.clone(),
        jurisdiction: t.jurisdiction.code().to_owned(),
        kind: t.kind.as_str().to_owned(),
        statute: t.statute.clone().unwrap_or_default(),
        fee_cents: t.fee_cents,
        non_resident_fee_cents: t.fee_for(false),
        validity: t.validity.to_string(),
        minimum_age: t.minimum_age,
        training_hours: t.training.hours,
        references: t.references,
        fingerprints: t.fingerprints,
        interview: t.interview,
        waiting_period_days: t.waiting_period_days,
        decision_deadline: t.decision_deadline.to_string(),
        renews: t.renews.clone().unwrap_or_default(),
        renewable: t.renewal.is_some(),
    }
}

/// The catalogue of permit types over gRPC.
pub struct GrpcPermitTypes {
    app: Applications,
}

impl GrpcPermitTypes {
    pub fn new(app: Applications) -> Self {
        GrpcPermitTypes { app }
    }
}

#[tonic::async_trait]
impl PermitTypes for GrpcPermitTypes {
    async fn list(
        &self,
        req: Request<pb::ListTypesRequest>,
    ) -> Result<Response<pb::PermitTypeList>, Status> {
        let code = req.into_inner().jurisdiction.trim().to_ascii_uppercase();
        let set = self.app.catalogue().current();
        let types = if code.is_empty() {
            set.types().iter().map(permit_type).collect()
        } else {
            let j = Jurisdiction::parse(&code).ok_or_else(|| {
                status(Error::invalid(
                    "jurisdiction",
                    "a two-letter code such as IL, or US for federal licences",
                ))
            })?;
            set.of_jurisdiction(j).map(permit_type).collect()
        };
        Ok(Response::new(pb::PermitTypeList { types }))
    }

    async fn get(
        &self,
        req: Request<pb::GetTypeRequest>,
    ) -> Result<Response<pb::PermitType>, Status> {
        let id = req.into_inner().id;
        let set = self.app.catalogue().current();
        let t = set.require(id.trim()).map_err(status)?;
        Ok(Response::new(permit_type(t)))
    }
}

/// The applications over gRPC.
pub struct GrpcApplications {
    app: Applications,
    seal: CallerSeal,
}

impl GrpcApplications {
    pub fn new(app: Applications, seal: CallerSeal) -> Self {
        GrpcApplications { app, seal }
    }

    /// The application a permit was issued from, as `caller` may see it.
    async fn permit_application(&self, number: &str) -> Result<String, Error> {
        let number = number.trim();
        if number.is_empty() || number.len() > 64 {
            return Err(Error::PermitNotFound);
        }
        Ok(store::permit(self.app.db(), number)
            .await?
            .ok_or(Error::PermitNotFound)?
            .application_id)
    }

    async fn on_permit(&self, caller: &Caller, number: &str, event: Event) -> Result<View, Error> {
        let id = self.permit_application(number).await?;
        self.app
            .apply(caller, &id, event)
            .await
            .map_err(|e| match e {
                // A permit the caller may not see does not exist for them.
                Error::ApplicationNotFound => Error::PermitNotFound,
                Error::Denied(p) if p.code == Error::ApplicationNotFound.code() => {
                    Error::PermitNotFound
                }
                other => other,
            })
    }
}

fn applicant(a: Option<pb::Applicant>) -> Applicant {
    let a = a.unwrap_or_default();
    Applicant {
        given_name: a.given_name,
        family_name: a.family_name,
        birth_date: a.birth_date,
        address: a.address,
    }
}

/// An application as the contract carries it.
pub fn application(v: View) -> pb::Application {
    let a = v.application;
    let p = &a.progress;
    pb::Application {
        id: a.id.clone(),
        permit_type: a.type_id.clone(),
        jurisdiction: a.jurisdiction.clone(),
        state: p.state.as_str().to_owned(),
        applicant: Some(pb::Applicant {
            given_name: v.applicant.given_name,
            family_name: v.applicant.family_name,
            birth_date: v.applicant.birth_date,
            address: v.applicant.address,
        }),
        permit_number: a.permit_number.clone().unwrap_or_default(),
        renews: a.renews.clone().unwrap_or_default(),
        received_on: date(p.received_on),
        decision_due: date(p.decision_due),
        overdue: p.overdue,
        info_requested: p.info_requested.clone().unwrap_or_default(),
        reasons: p.reasons.clone(),
        issued_on: date(p.issued_on),
        expires_on: date(p.expires_on),
        expected: p.state.expected().iter().map(|e| (*e).to_owned()).collect(),
        timeline: v
            .timeline
            .into_iter()
            .map(|e| pb::TimelineEntry {
                at_ms: e.at_ms,
                from: e.from,
                to: e.to,
                note: e.note,
            })
            .collect(),
    }
}

/// The event of an applicant's or a clerk's step.
pub fn act_event(r: pb::ActRequest) -> Result<Event, Error> {
    Ok(match r.event.trim() {
        "documents_received" => Event::DocumentsReceived {
            training: r.training.map(|t| TrainingEvidence {
                proof: t.proof,
                hours: t.hours,
                score_percent: t.score_percent,
            }),
        },
        "fingerprints_scheduled" => Event::FingerprintsScheduled {
            office_id: required("office_id", &r.office_id)?,
            on: Date::parse(r.on.trim())?,
        },
        "fingerprinted" => Event::Fingerprinted,
        "reference_received" => Event::ReferenceReceived {
            referee: required("referee", &r.referee)?,
        },
        "interviewed" => Event::Interviewed,
        "info_provided" => Event::InfoProvided {
            note: required("note", &r.note)?,
        },
        "appeal" => Event::Appeal {
            grounds: required("note", &r.note)?,
        },
        _ => {
            return Err(Error::invalid(
                "event",
                "one of documents_received, fingerprints_scheduled, fingerprinted, \
                 reference_received, interviewed, info_provided, appeal",
            ));
        }
    })
}

/// The event of an officer's decision.
pub fn decision_event(r: pb::DecideRequest) -> Result<Event, Error> {
    Ok(match r.decision.trim() {
        "approve" => Event::Approve,
        "deny" => Event::Deny { reasons: r.reasons },
        "request_info" => Event::RequestInfo {
            what: required("what", &r.what)?,
        },
        "grant_appeal" => Event::AppealDecided { granted: true },
        "uphold_denial" => Event::AppealDecided { granted: false },
        _ => {
            return Err(Error::invalid(
                "decision",
                "one of approve, deny, request_info, grant_appeal, uphold_denial",
            ));
        }
    })
}

fn required(field: &'static str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.chars().count() > 2000 || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "at most 2000 characters, on one line",
        ));
    }
    Ok(v.to_owned())
}

fn outcome(s: &str) -> Result<CheckOutcome, Error> {
    match s.trim() {
        "proceed" => Ok(CheckOutcome::Proceed),
        "delayed" => Ok(CheckOutcome::Delayed),
        "denied" => Ok(CheckOutcome::Denied),
        _ => Err(Error::invalid("outcome", "proceed, delayed or denied")),
    }
}

#[tonic::async_trait]
impl PermitApplications for GrpcApplications {
    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let key = plaza_kernel::grpc::idempotency_key(&req)?;
        let r = req.into_inner();
        let s = Submission {
            permit_type: r.permit_type,
            applicant: applicant(r.applicant),
            resident: r.resident,
            renews: None,
        };
        let v = self.app.submit(&caller, &key, &s).await.map_err(status)?;
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

    async fn act(&self, req: Request<pb::ActRequest>) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let id = r.id.clone();
        let event = act_event(r).map_err(status)?;
        let v = self.app.apply(&caller, &id, event).await.map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn decide(
        &self,
        req: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let id = r.id.clone();
        let event = decision_event(r).map_err(status)?;
        let v = self.app.apply(&caller, &id, event).await.map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn queue(
        &self,
        req: Request<pb::QueueRequest>,
    ) -> Result<Response<pb::QueueList>, Status> {
        let caller = self.seal.caller(&req)?;
        let entries = self
            .app
            .queue(&caller, self.app.now_ms())
            .await
            .map_err(status)?
            .into_iter()
            .map(|q| pb::QueueEntry {
                application_id: q.application_id,
                permit_type: q.type_id,
                state: q.state,
                permit_number: q.permit_number.unwrap_or_default(),
                due_on: q.due_on.to_string(),
                overdue: q.overdue,
                due_soon: q.due_soon,
            })
            .collect();
        Ok(Response::new(pb::QueueList { entries }))
    }

    async fn renew(
        &self,
        req: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let key = plaza_kernel::grpc::idempotency_key(&req)?;
        let r = req.into_inner();
        let s = Submission {
            permit_type: r.permit_type,
            applicant: applicant(r.applicant),
            resident: r.resident,
            renews: Some(r.number),
        };
        let v = self.app.submit(&caller, &key, &s).await.map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn suspend(
        &self,
        req: Request<pb::PermitActionRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .on_permit(&caller, &r.number, Event::Suspend { reasons: r.reasons })
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn reinstate(
        &self,
        req: Request<pb::PermitActionRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .on_permit(&caller, &r.number, Event::Reinstate)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn revoke(
        &self,
        req: Request<pb::PermitActionRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .on_permit(&caller, &r.number, Event::Revoke { reasons: r.reasons })
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }

    async fn record_pushed(
        &self,
        req: Request<pb::RecordPushedRequest>,
    ) -> Result<Response<pb::RecordPushedResult>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let moved = self
            .app
            .record_pushed(
                &caller,
                &Person {
                    given_name: r.given_name,
                    family_name: r.family_name,
                    birth_date: r.birth_date,
                },
                &PushedRecord {
                    record_id: r.record_id,
                    source: r.source,
                    summary: r.summary,
                },
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RecordPushedResult { moved }))
    }

    async fn check_completed(
        &self,
        req: Request<pb::CheckCompletedRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let outcome = outcome(&r.outcome).map_err(status)?;
        let v = self
            .app
            .check_completed(&caller, &r.id, outcome, &r.ntn, r.prohibitors)
            .await
            .map_err(status)?;
        Ok(Response::new(application(v)))
    }
}
