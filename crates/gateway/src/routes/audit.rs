//! `/v1/audit`: the audit log's signed tree head and proofs, in the shape
//! Certificate Transparency logs publish them (RFC 6962 §4), so third
//! parties can check Plaza's log with the tools they already have.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use plaza_contracts::audit::v1 as pb;
use plaza_kernel::resilience::call;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::ApiQuery;
use crate::problem::Problem;

const DOWNSTREAM: &str = "audit";

/// The newest signed tree head.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TreeHead {
    pub tree_size: u64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Base64 of the RFC 6962 root hash.
    pub sha256_root_hash: String,
    /// Base64 Ed25519 signature over `signed_message`.
    pub tree_head_signature: String,
    /// The exact text the signature covers.
    pub signed_message: String,
    pub key_id: String,
    /// Base64 of the Ed25519 public key.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 of `SHA-256(0x00 ‖ entry)`.
    pub leaf_hash: String,
    /// Base64 hashes, bottom up (RFC 6962 PATH).
    pub audit_path: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Base64 hashes (RFC 6962 PROOF).
    pub consistency: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The entry's index (0-based).
    pub leaf_index: u64,
    /// The tree size of a signed head.
    pub tree_size: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The smaller tree size.
    pub first: u64,
    /// The larger tree size.
    pub second: u64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tree_head))
        .routes(routes!(inclusion_proof))
        .routes(routes!(consistency_proof))
        .routes(routes!(export_range))
}

/// The audit log's newest signed tree head.
#[utoipa::path(get, path = "/v1/audit/tree-head", tag = "audit",
    responses((status = 200, body = TreeHead), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn tree_head(State(s): State<AppState>) -> Result<Json<TreeHead>, Problem> {
    let h = call(true, s.retries, || {
        let mut c = s.audit.clone();
        async move { c.get_tree_head(pb::GetTreeHeadRequest {}).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    Ok(Json(TreeHead::from_pb(h)))
}

impl TreeHead {
    fn from_pb(h: pb::SignedTreeHead) -> TreeHead {
        TreeHead {
            tree_size: h.tree_size,
            timestamp: h.timestamp_ms,
            sha256_root_hash: B64.encode(&h.root_hash),
            tree_head_signature: B64.encode(&h.signature),
            signed_message: h.signed_message,
            key_id: h.key_id,
            public_key: B64.encode(&h.public_key),
        }
    }
}

/// One exported entry and its proof.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportedEntry {
    pub index: u64,
    /// Base64 of the entry exactly as hashed: its leaf hash is
    /// `SHA-256(0x00 ‖ entry)`.
    pub entry: String,
    /// Base64 hashes from the leaf to `head`'s root, bottom up.
    pub audit_path: Vec<String>,
}

/// A range of the log, provable against a signed head.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RangeExport {
    pub head: TreeHead,
    pub entries: Vec<ExportedEntry>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// The first entry's index.
    pub first: u64,
    /// One past the last entry's index (at most 1000 entries).
    pub last: u64,
}

/// A range of entries with inclusion proofs to the newest signed head
/// (auditors only).
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", params(RangeParams), security(("bearer" = [])),
    responses((status = 200, body = RangeExport), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn export_range(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<RangeParams>,
) -> Result<Json<RangeExport>, Problem> {
    let r = call(true, s.retries, || {
        let mut c = s.audit.clone();
        async move {
            c.export_range(pb::ExportRangeRequest {
                first: p.first,
                last: p.last,
            })
            .await
        }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    let head = r.head.ok_or_else(|| {
        Problem::new(
            plaza_kernel::error::ErrorKind::Internal,
            "internal",
            "The export came without its tree head.",
        )
    })?;
    Ok(Json(RangeExport {
        head: TreeHead::from_pb(head),
        entries: r
            .entries
            .into_iter()
            .map(|e| ExportedEntry {
                index: e.index,
                entry: B64.encode(&e.entry),
                audit_path: e.audit_path.iter().map(|h| B64.encode(h)).collect(),
            })
            .collect(),
    }))
}

/// Proof that an entry is in the tree of a given size.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", params(InclusionParams),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn inclusion_proof(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<InclusionParams>,
) -> Result<Json<InclusionProof>, Problem> {
    let req = pb::InclusionProofRequest {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
    };
    let r = call(true, s.retries, || {
        let mut c = s.audit.clone();
        async move { c.get_inclusion_proof(req).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    Ok(Json(InclusionProof {
        leaf_index: r.leaf_index,
        tree_size: r.tree_size,
        leaf_hash: B64.encode(&r.leaf_hash),
        audit_path: r.audit_path.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Proof that the tree of `second` entries extends the tree of `first`.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn consistency_proof(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<ConsistencyParams>,
) -> Result<Json<ConsistencyProof>, Problem> {
    let req = pb::ConsistencyProofRequest {
        first: p.first,
        second: p.second,
    };
    let r = call(true, s.retries, || {
        let mut c = s.audit.clone();
        async move { c.get_consistency_proof(req).await }
    })
    .await
    .map_err(|e| Problem::from_status(&e, DOWNSTREAM))?
    .into_inner();
    Ok(Json(ConsistencyProof {
        first: r.first,
        second: r.second,
        consistency: r.consistency.iter().map(|h| B64.encode(h)).collect(),
    }))
}
