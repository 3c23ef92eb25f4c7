//! Thin gRPC handlers for the audit log.

use plaza_contracts::audit::v1 as pb;
use plaza_contracts::audit::v1::audit_service_server::AuditService;
use plaza_kernel::auth::{Caller, CallerSeal};
use plaza_kernel::error::{ErrorKind, PublicError};
use plaza_policy::{Policies, Resource};
use tonic::{Request, Response, Status};

use crate::log::{AuditEvent, AuditLog};

/// Entries per append call, at most.
pub const MAX_APPEND: usize = 10_000;

/// Entries per export, at most.
pub const MAX_EXPORT: u64 = 1_000;

#[derive(Clone)]
pub struct GrpcAudit {
    log: AuditLog,
    seal: CallerSeal,
    policies: Policies,
}

impl GrpcAudit {
    pub fn new(log: AuditLog, seal: CallerSeal) -> Self {
        GrpcAudit {
            log,
            seal,
            policies: Policies::shipped(),
        }
    }

    /// The caller of `req`, if the policies let them do `action`.
    fn permit<T>(
        &self,
        req: &Request<T>,
        action: &str,
        resource: &Resource<'_>,
    ) -> Result<Caller, Status> {
        let caller = self.seal.caller(req)?;
        self.policies
            .require(&caller, action, resource)
            .map_err(|e| e.to_status())?;
        Ok(caller)
    }

    fn head_to_pb(&self, head: crate::log::TreeHead) -> pb::SignedTreeHead {
        pb::SignedTreeHead {
            tree_size: head.size,
            root_hash: head.root.to_vec(),
            timestamp_ms: head.at_ms,
            signed_message: String::from_utf8_lossy(&crate::log::TreeHead::message(
                head.size, &head.root, head.at_ms,
            ))
            .into_owned(),
            key_id: head.key_id,
            signature: head.signature,
            public_key: self.log.signer().public().as_bytes().to_vec(),
        }
    }
}

const LOG: Resource<'static> = Resource {
    kind: "AuditLog",
    id: "main",
    owner: None,
    jurisdictions: Vec::new(),
};

fn no_head() -> Status {
    PublicError::new(
        ErrorKind::NotFound,
        "audit.no_tree_head",
        "The audit log has no signed tree head yet.",
    )
    .to_status()
}

fn status(e: crate::Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

fn invalid(msg: &str) -> Status {
    PublicError::new(ErrorKind::InvalidArgument, "audit.invalid", msg.to_owned()).to_status()
}

#[tonic::async_trait]
impl AuditService for GrpcAudit {
    async fn append(
        &self,
        req: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        self.permit(&req, "audit.append", &LOG)?;
        let events = req.into_inner().events;
        if events.is_empty() || events.len() > MAX_APPEND {
            return Err(invalid(&format!("send between 1 and {MAX_APPEND} entries")));
        }
        let mut batch = Vec::with_capacity(events.len());
        for e in events {
            if e.service.is_empty()
                || e.actor.is_empty()
                || e.action.is_empty()
                || e.outcome.is_empty()
            {
                return Err(invalid("service, actor, action and outcome are required"));
            }
            batch.push(AuditEvent::from(e));
        }
        let n = batch.len() as u64;
        let first = self.log.append(&batch).await.map_err(status)?;
        Ok(Response::new(pb::AppendResponse {
            first_index: first,
            tree_size: first + n,
        }))
    }

    async fn get_tree_head(
        &self,
        req: Request<pb::GetTreeHeadRequest>,
    ) -> Result<Response<pb::SignedTreeHead>, Status> {
        self.permit(&req, "audit.tree_head", &LOG)?;
        let head = self
            .log
            .latest_head()
            .await
            .map_err(status)?
            .ok_or_else(no_head)?;
        Ok(Response::new(self.head_to_pb(head)))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        self.permit(&req, "audit.prove", &LOG)?;
        let r = req.into_inner();
        let path = self
            .log
            .inclusion_proof(r.leaf_index, r.tree_size)
            .await
            .map_err(status)?;
        let leaf = self.log.leaf_hash(r.leaf_index).await.map_err(status)?;
        Ok(Response::new(pb::InclusionProof {
            leaf_index: r.leaf_index,
            tree_size: r.tree_size,
            leaf_hash: leaf.to_vec(),
            audit_path: path.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        self.permit(&req, "audit.prove", &LOG)?;
        let r = req.into_inner();
        let proof = self
            .log
            .consistency_proof(r.first, r.second)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ConsistencyProof {
            first: r.first,
            second: r.second,
            consistency: proof.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn list_accesses(
        &self,
        req: Request<pb::ListAccessesRequest>,
    ) -> Result<Response<pb::AccessList>, Status> {
        let caller = self.seal.caller(&req)?;
        let me = caller.actor();
        self.policies
            .require(
                &caller,
                "access_log.read",
                &Resource::new("Person", &me).owned_by(&me),
            )
            .map_err(|e| e.to_status())?;
        let r = req.into_inner();
        let limit = match r.limit {
            0 => 50,
            n if n <= 200 => n,
            _ => return Err(invalid("limit must be 1 to 200")),
        };
        let before = (r.before_index != 0).then_some(r.before_index);
        let found = self
            .log
            .entries_about(std::slice::from_ref(&me), before, limit)
            .await
            .map_err(status)?;
        let next = if found.len() == limit as usize {
            found.last().map(|(i, _)| *i).unwrap_or(0)
        } else {
            0
        };
        Ok(Response::new(pb::AccessList {
            entries: found
                .into_iter()
                .map(|(index, e)| pb::LoggedEvent {
                    index,
                    event: Some(e.into()),
                })
                .collect(),
            next_before_index: next,
        }))
    }

    async fn export_range(
        &self,
        req: Request<pb::ExportRangeRequest>,
    ) -> Result<Response<pb::RangeExport>, Status> {
        self.permit(&req, "audit.export", &LOG)?;
        let r = req.into_inner();
        if r.last <= r.first || r.last - r.first > MAX_EXPORT {
            return Err(invalid(&format!(
                "give first < last with at most {MAX_EXPORT} entries"
            )));
        }
        let head = self
            .log
            .latest_head()
            .await
            .map_err(status)?
            .ok_or_else(no_head)?;
        if r.last > head.size {
            return Err(PublicError::new(
                ErrorKind::InvalidArgument,
                "audit.beyond_signed_head",
                format!(
                    "The newest signed tree head covers {} entries; export up to there.",
                    head.size
                ),
            )
            .to_status());
        }
        let mut entries = Vec::with_capacity((r.last - r.first) as usize);
        for (index, entry) in self
            .log
            .raw_entries(r.first, r.last)
            .await
            .map_err(status)?
        {
            let path = self
                .log
                .inclusion_proof(index, head.size)
                .await
                .map_err(status)?;
            entries.push(pb::ExportedEntry {
                index,
                entry,
                audit_path: path.iter().map(|h| h.to_vec()).collect(),
            });
        }
        Ok(Response::new(pb::RangeExport {
            head: Some(self.head_to_pb(head)),
            entries,
        }))
    }
}
