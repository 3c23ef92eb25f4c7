//! The vault's gRPC face: the caller comes sealed from the gateway (or from
//! the service acting for them); the app decides.

use plaza_contracts::vault::v1 as pb;
use plaza_contracts::vault::v1::vault_service_server::VaultService;
use plaza_kernel::auth::CallerSeal;
use tonic::{Request, Response, Status};

use crate::{Error, Kind, Vault};

pub struct GrpcVault {
    vault: Vault,
    seal: CallerSeal,
}

impl GrpcVault {
    pub fn new(vault: Vault, seal: CallerSeal) -> GrpcVault {
        GrpcVault { vault, seal }
    }
}

fn status(e: Error) -> Status {
    plaza_kernel::error::log_and_publicise(&e, e.public()).to_status()
}

fn kind(k: &str) -> Result<Kind, Status> {
    Kind::parse(k).ok_or_else(|| {
        status(Error::Invalid {
            kind: "kind",
            reason: "use ssn, birth_date, licence_number, name or address".into(),
        })
    })
}

#[tonic::async_trait]
impl VaultService for GrpcVault {
    async fn tokenise(
        &self,
        req: Request<pb::TokeniseRequest>,
    ) -> Result<Response<pb::TokeniseResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let kind = kind(&r.kind)?;
        self.vault
            .authorize(&caller, "vault.tokenize", kind)
            .map_err(status)?;
        let token = self.vault.tokenise(kind, &r.value).await.map_err(status)?;
        Ok(Response::new(pb::TokeniseResponse { token }))
    }

    async fn find(
        &self,
        req: Request<pb::FindRequest>,
    ) -> Result<Response<pb::FindResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let kind = kind(&r.kind)?;
        self.vault
            .authorize(&caller, "vault.find", kind)
            .map_err(status)?;
        let token = self.vault.find(kind, &r.value).await.map_err(status)?;
        Ok(Response::new(pb::FindResponse {
            found: token.is_some(),
            token: token.unwrap_or_default(),
        }))
    }

    async fn detokenise(
        &self,
        req: Request<pb::DetokeniseRequest>,
    ) -> Result<Response<pb::DetokeniseResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let (kind, value) = self
            .vault
            .detokenise_as(&caller, &r.token, &r.purpose)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DetokeniseResponse {
            kind: kind.as_str().to_owned(),
            value: value.to_string(),
        }))
    }

    async fn detokenise_many(
        &self,
        req: Request<pb::DetokeniseManyRequest>,
    ) -> Result<Response<pb::DetokeniseManyResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        let r = req.into_inner();
        let values = self
            .vault
            .detokenise_many_as(&caller, &r.tokens, &r.purpose)
            .await
            .map_err(status)?
            .into_iter()
            .map(|(kind, value)| pb::DetokeniseResponse {
                kind: kind.as_str().to_owned(),
                value: value.to_string(),
            })
            .collect();
        Ok(Response::new(pb::DetokeniseManyResponse { values }))
    }
}
