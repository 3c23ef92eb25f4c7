//! The checks service over gRPC: thin handlers over [`Checks`].

use plaza_contracts::checks::v1 as pb;
use plaza_contracts::checks::v1::checks_service_server::ChecksService;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use super::{Checks, View};
use crate::Error;

fn status(e: Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

/// A check as the contract carries it.
pub fn check(v: View) -> pb::Check {
    let c = v.check;
    pb::Check {
        ntn: c.ntn,
        application_id: c.application_id,
        state: c.state,
        status: c.status,
        outcome: c.outcome.unwrap_or_default(),
        final_outcome: c.final_outcome.unwrap_or_default(),
        prohibitors: c.prohibitors,
        denials: v
            .summary
            .denials
            .into_iter()
            .map(|d| pb::Denial {
                prohibitor: d.prohibitor,
                source: d.source,
                record_id: d.record_id,
                reason: d.reason,
            })
            .collect(),
        delays: v.summary.delays,
        sources: v
            .summary
            .sources
            .into_iter()
            .map(|s| pb::SourceReport {
                source: s.source,
                status: s.status,
                hits: s.hits,
                latency_ms: s.latency_ms,
            })
            .collect(),
        created_ms: c.created_ms,
        decided_ms: c.decided_ms.unwrap_or_default(),
        delayed_until: c.delayed_until.unwrap_or_default(),
        examiner: c.examiner.unwrap_or_default(),
        resolution_note: c.resolution_note.unwrap_or_default(),
        evidence_json: v.evidence.unwrap_or_default(),
    }
}

pub struct GrpcChecks {
    app: Checks,
    seal: CallerSeal,
}

impl GrpcChecks {
    pub fn new(app: Checks, seal: CallerSeal) -> Self {
        GrpcChecks { app, seal }
    }
}

#[tonic::async_trait]
impl ChecksService for GrpcChecks {
    async fn get(&self, req: Request<pb::GetCheckRequest>) -> Result<Response<pb::Check>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self.app.get(&caller, &r.ntn).await.map_err(status)?;
        Ok(Response::new(check(v)))
    }

    async fn queue(
        &self,
        req: Request<pb::QueueRequest>,
    ) -> Result<Response<pb::QueueList>, Status> {
        let caller = self.seal.caller(&req)?;
        let entries = self
            .app
            .queue(&caller)
            .await
            .map_err(status)?
            .into_iter()
            .map(|(c, s)| pb::QueueEntry {
                ntn: c.ntn,
                application_id: c.application_id,
                state: c.state,
                delays: s.delays,
                created_ms: c.created_ms,
                delayed_until: c.delayed_until.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::QueueList { entries }))
    }

    async fn resolve(
        &self,
        req: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::Check>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let v = self
            .app
            .resolve(&caller, &r.ntn, &r.decision, r.prohibitors, &r.note)
            .await
            .map_err(status)?;
        Ok(Response::new(check(v)))
    }

    async fn record_notice(
        &self,
        req: Request<pb::RecordNoticeRequest>,
    ) -> Result<Response<pb::RecordNoticeResult>, Status> {
        // Authenticated by the source's signature, not by a caller.
        let r = req.into_inner();
        let n = self
            .app
            .record_notice(&r.body, &r.signature)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RecordNoticeResult {
            event_id: n.event_id,
            record_id: n.record_id,
            prohibitors: n.prohibitors,
            moved: n.moved,
        }))
    }
}
