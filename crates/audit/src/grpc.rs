//! Thin gRPC handlers for the audit log.

use plaza_contracts::audit::v1 as pb;
use plaza_contracts::audit::v1::audit_service_server::AuditService;
use plaza_kernel::error::{ErrorKind, PublicError};
use tonic::{Request, Response, Status};

use crate::log::{AuditEvent, AuditLog};

/// Entries per append call, at most.
pub const MAX_APPEND: usize = 10_000;

#[derive(Clone)]
pub struct GrpcAudit {
    log: AuditLog,
}

impl GrpcAudit {
    pub fn new(log: AuditLog) -> Self {
        GrpcAudit { log }
    }
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
        _req: Request<pb::GetTreeHeadRequest>,
    ) -> Result<Response<pb::SignedTreeHead>, Status> {
        let head = self
            .log
            .latest_head()
            .await
            .map_err(status)?
            .ok_or_else(|| {
                PublicError::new(
                    ErrorKind::NotFound,
                    "audit.no_tree_head",
                    "The audit log has no signed tree head yet.",
                )
                .to_status()
            })?;
        Ok(Response::new(pb::SignedTreeHead {
            tree_size: head.size,
            root_hash: head.root.to_vec(),
            timestamp_ms: head.at_ms,
            key_id: head.key_id,
            signature: head.signature,
            signed_message: String::from_utf8_lossy(&crate::log::TreeHead::message(
                head.size, &head.root, head.at_ms,
            ))
            .into_owned(),
            public_key: self.log.signer().public().as_bytes().to_vec(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
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
}
