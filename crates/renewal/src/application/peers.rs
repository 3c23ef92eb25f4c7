//! The services a renewal drives, reached over gRPC (also when they share
//! this process). Every call carries a sealed caller: the citizen the
//! renewal belongs to, or the renewal service itself for work it does on
//! its own account (compensations).

use std::future::Future;
use std::sync::Arc;

use plaza_contracts::address::v1::address_service_client::AddressServiceClient;
use plaza_contracts::fulfillment::v1::fulfillment_service_client::FulfillmentServiceClient;
use plaza_contracts::offices::v1::offices_service_client::OfficesServiceClient;
use plaza_contracts::payments::v1::payments_service_client::PaymentsServiceClient;
use plaza_contracts::photo::v1::photo_service_client::PhotoServiceClient;
use plaza_kernel::auth::{Caller, CallerSeal, with_sealed_caller};
use plaza_kernel::resilience::{ClientChannel, ClientPolicy, channel};

/// Where the peers are.
#[derive(Debug, Clone)]
pub struct PeerUrls {
    pub photo: String,
    pub address: String,
    pub payments: String,
    pub fulfillment: String,
    /// Pickup offices are checked there.
    pub offices: String,
}

/// gRPC clients of the four services, cheap to clone.
#[derive(Clone)]
pub struct Peers {
    pub photo: PhotoServiceClient<ClientChannel>,
    pub address: AddressServiceClient<ClientChannel>,
    pub payments: PaymentsServiceClient<ClientChannel>,
    pub fulfillment: FulfillmentServiceClient<ClientChannel>,
    pub offices: OfficesServiceClient<ClientChannel>,
    seal: CallerSeal,
}

impl Peers {
    pub fn connect(
        urls: &PeerUrls,
        policy: &ClientPolicy,
        seal: CallerSeal,
    ) -> Result<Peers, plaza_kernel::Error> {
        // Photos are up to several MB.
        let photo = PhotoServiceClient::new(channel("photo", &urls.photo, policy)?.0)
            .max_encoding_message_size(32 << 20)
            .max_decoding_message_size(32 << 20);
        Ok(Peers {
            photo,
            address: AddressServiceClient::new(channel("address", &urls.address, policy)?.0),
            payments: PaymentsServiceClient::new(channel("payments", &urls.payments, policy)?.0),
            fulfillment: FulfillmentServiceClient::new(
                channel("fulfillment", &urls.fulfillment, policy)?.0,
            ),
            offices: OfficesServiceClient::new(channel("offices", &urls.offices, policy)?.0),
            seal,
        })
    }

    /// Runs `f` with `caller` sealed into every call it makes.
    pub async fn as_caller<F: Future>(&self, caller: &Caller, f: F) -> F::Output {
        let sealed: Arc<str> = self.seal.seal(caller, plaza_kernel::clock::now_ms()).into();
        with_sealed_caller(sealed, f).await
    }

    /// Runs `f` as the renewal service itself.
    pub async fn as_service<F: Future>(&self, f: F) -> F::Output {
        self.as_caller(&Caller::service(crate::SERVICE), f).await
    }
}
