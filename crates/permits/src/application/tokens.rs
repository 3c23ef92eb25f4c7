//! The applicant's identifiers as vault tokens. A background check is
//! asked for with tokens, never with the values: the checks service reads
//! them back from the vault for that purpose, and the vault records it.

use std::sync::Arc;

use plaza_contracts::vault::v1 as vpb;
use plaza_contracts::vault::v1::vault_service_client::VaultServiceClient;
use plaza_kernel::auth::{Caller, CallerSeal, with_sealed_caller};
use plaza_kernel::resilience::{ClientChannel, ClientPolicy, channel};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The tokens of the identifiers a check matches on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectTokens {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
}

/// The vault, reached over gRPC as the caller.
#[derive(Clone)]
pub struct VaultTokens {
    client: VaultServiceClient<ClientChannel>,
    seal: CallerSeal,
}

impl VaultTokens {
    pub fn connect(url: &str, policy: &ClientPolicy, seal: CallerSeal) -> Result<Self, Error> {
        Ok(VaultTokens {
            client: VaultServiceClient::new(channel("vault", url, policy)?.0),
            seal,
        })
    }

    async fn tokenise(&self, kind: &str, value: &str) -> Result<String, Error> {
        let answer = self
            .client
            .clone()
            .tokenise(vpb::TokeniseRequest {
                kind: kind.to_owned(),
                value: value.to_owned(),
            })
            .await
            .map_err(|s| Error::Vault(s.message().to_owned()))?;
        Ok(answer.into_inner().token)
    }

    /// Seals the three identifiers as `caller` (the applicant) and answers
    /// their tokens.
    pub async fn subject(
        &self,
        caller: &Caller,
        given_name: &str,
        family_name: &str,
        birth_date: &str,
    ) -> Result<SubjectTokens, Error> {
        let sealed: Arc<str> = self.seal.seal(caller, plaza_kernel::clock::now_ms()).into();
        with_sealed_caller(sealed, async {
            let (given_name, family_name, birth_date) = tokio::try_join!(
                self.tokenise("name", given_name),
                self.tokenise("name", family_name),
                self.tokenise("birth_date", birth_date),
            )?;
            Ok(SubjectTokens {
                given_name,
                family_name,
                birth_date,
            })
        })
        .await
    }
}
