//! The identity service's gRPC face.

use plaza_contracts::identity::v1 as pb;
use plaza_contracts::identity::v1::identity_service_server::IdentityService;
use plaza_kernel::auth::CallerSeal;
use plaza_policy::{Policies, Resource};
use tonic::{Request, Response, Status};

use crate::Identity;

pub struct GrpcIdentity {
    identity: Identity,
    seal: CallerSeal,
    policies: Policies,
}

impl GrpcIdentity {
    pub fn new(identity: Identity, seal: CallerSeal, policies: Policies) -> GrpcIdentity {
        GrpcIdentity {
            identity,
            seal,
            policies,
        }
    }
}

#[tonic::async_trait]
impl IdentityService for GrpcIdentity {
    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = self.seal.caller(&req)?;
        self.policies
            .require(&caller, "me.read", &Resource::new("Me", "me"))
            .map_err(|e| e.to_status())?;
        let mut resp = pb::WhoAmIResponse {
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            roles: caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            jurisdiction: caller.jurisdiction.clone().unwrap_or_default(),
            email: String::new(),
            second_factor: false,
        };
        if caller.issuer == self.identity.settings().issuer {
            match self.identity.user(&caller.subject).await {
                Ok(Some(u)) => {
                    resp.second_factor = u.needs_second_factor();
                    resp.email = u.email;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(plaza_kernel::error::log_and_publicise(&e, e.public()).to_status());
                }
            }
        }
        Ok(Response::new(resp))
    }
}
