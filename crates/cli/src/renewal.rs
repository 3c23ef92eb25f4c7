//! Hosting the services of driver's licence renewal: address, photo,
//! payments, fulfillment and renewal itself, each with its own database,
//! data key and background work.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use plaza_contracts::address::v1::address_service_server::AddressServiceServer;
use plaza_contracts::fulfillment::v1::fulfillment_service_server::FulfillmentServiceServer;
use plaza_contracts::payments::v1::payments_service_server::PaymentsServiceServer;
use plaza_contracts::photo::v1::photo_service_server::PhotoServiceServer;
use plaza_contracts::renewal::v1::renewal_applications_server::RenewalApplicationsServer;
use plaza_contracts::renewal::v1::renewal_service_server::RenewalServiceServer;
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::config::Config;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::shutdown::Shutdown;
use tokio::task::JoinSet;
use tonic_health::server::HealthReporter;

/// The address given for a peer this deployment does not run: calls to it
/// fail at once as unavailable (the name cannot resolve).
pub const ABSENT: &str = "http://not-deployed.invalid:1";

/// The gRPC services of the renewal family this process hosts.
#[derive(Default)]
pub struct Hosted {
    pub address: Option<AddressServiceServer<plaza_address::grpc::GrpcAddress>>,
    pub photo: Option<PhotoServiceServer<plaza_photo::GrpcPhotos>>,
    pub payments: Option<PaymentsServiceServer<plaza_payments::grpc::GrpcPayments>>,
    pub fulfillment: Option<FulfillmentServiceServer<plaza_fulfillment::grpc::GrpcFulfillment>>,
    pub renewal: Option<RenewalServiceServer<plaza_renewal::grpc::GrpcRenewal>>,
    pub applications:
        Option<RenewalApplicationsServer<plaza_renewal::application::grpc::GrpcApplications>>,
}

/// What hosting a service needs from the process around it.
pub struct Around<'a> {
    pub config: &'a Config,
    pub seal: &'a CallerSeal,
    pub bus: &'a Arc<dyn plaza_kernel::bus::Bus>,
    /// The gRPC address of a peer service (here, or from configuration).
    pub endpoint: &'a dyn Fn(&str) -> anyhow::Result<String>,
    pub tls: Option<plaza_kernel::mtls::TlsFiles>,
}

/// Opens (and migrates) a renewal-family service's database.
pub async fn open_db(service: &str, storage: &StorageTarget) -> anyhow::Result<Db> {
    Ok(match service {
        "address" => plaza_address::open_db(storage).await?,
        "photo" => plaza_photo::open_db(storage).await?,
        "payments" => plaza_payments::open_db(storage).await?,
        "fulfillment" => plaza_fulfillment::open_db(storage).await?,
        "renewal" => plaza_renewal::open_db(storage).await?,
        other => anyhow::bail!("{other} is not a renewal service"),
    })
}

/// A service's at-rest data key, `<data_dir>/keys/<service>-data.key`.
pub fn data_key(config: &Config, service: &str) -> anyhow::Result<DataKey> {
    let path = config.data_keys_dir.join(format!("{service}-data.key"));
    DataKey::load_or_create(&path)
        .with_context(|| format!("{service} data key ({})", path.display()))
}

impl Hosted {
    /// Builds `service` on `db` and starts its background work.
    pub async fn host(
        &mut self,
        service: &str,
        db: Db,
        around: &Around<'_>,
        tasks: &mut JoinSet<()>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let (config, seal) = (around.config, around.seal);
        let clock = Arc::new(SystemClock);
        match service {
            "address" => {
                let app = plaza_address::Addresses::new(db);
                self.address = Some(AddressServiceServer::new(
                    plaza_address::grpc::GrpcAddress::new(app, seal.clone()),
                ));
            }
            "photo" => {
                let cfg = plaza_photo::Config::default();
                let max = cfg.max_message_bytes();
                let app = plaza_photo::Photos::new(db, data_key(config, "photo")?, clock, cfg);
                self.photo = Some(
                    PhotoServiceServer::new(plaza_photo::GrpcPhotos::new(app, seal.clone()))
                        .max_decoding_message_size(max),
                );
            }
            "payments" => {
                let fees = match &config.fees_file {
                    Some(path) => {
                        let text = std::fs::read_to_string(path).with_context(|| {
                            format!("reading payments.fees_file {}", path.display())
                        })?;
                        plaza_payments::fees::FeeSchedule::parse(&text)
                            .with_context(|| format!("payments.fees_file {}", path.display()))?
                    }
                    None => plaza_payments::fees::FeeSchedule::shipped(),
                };
                let timeout = Duration::from_millis(config.processor_timeout_ms);
                let processor =
                    plaza_payments::processor::HttpProcessor::new(&config.processor_url, timeout);
                let defaults = plaza_payments::PaymentsConfig::default();
                // An attempt in flight is settled from the processor's
                // records only once every call of it has certainly ended:
                // twice all its calls' timeouts.
                let settle_after = timeout * defaults.attempts * 2 + Duration::from_millis(500);
                let app = plaza_payments::Payments::new(
                    db,
                    Arc::new(processor),
                    fees,
                    Arc::new(plaza_policy::Policies::shipped()),
                    clock,
                    plaza_payments::PaymentsConfig {
                        webhook_secret: config.webhook_secret.clone(),
                        settle_after_ms: settle_after.as_millis() as i64,
                        ..defaults
                    },
                );
                let recovering = app.clone();
                let every =
                    (settle_after / 3).clamp(Duration::from_millis(100), Duration::from_secs(10));
                tasks.spawn(async move { recovering.recover_periodically(every, shutdown).await });
                self.payments = Some(PaymentsServiceServer::new(
                    plaza_payments::grpc::GrpcPayments::new(app, seal.clone()),
                ));
            }
            "fulfillment" => {
                let app = plaza_fulfillment::Fulfillment::new(
                    db,
                    Arc::new(data_key(config, "fulfillment")?),
                    clock,
                    plaza_fulfillment::Config {
                        batch_wait_ms: config.batch_wait_ms as i64,
                        ..Default::default()
                    },
                );
                let vendor = plaza_fulfillment::vendor::HttpVendor::new(&config.vendor_url);
                let batcher = plaza_fulfillment::Batcher::new(app.clone(), Arc::new(vendor));
                tasks.spawn(async move { batcher.run(Duration::from_secs(2), shutdown).await });
                self.fulfillment = Some(FulfillmentServiceServer::new(
                    plaza_fulfillment::grpc::GrpcFulfillment::new(app, seal.clone()),
                ));
            }
            "renewal" => {
                let rules =
                    plaza_renewal::eligibility::RuleBook::load(config.rules_file.as_deref())
                        .context("renewal.rules_file")?;
                let key = data_key(config, "renewal")?;
                let drivers = plaza_renewal::Drivers::new(
                    db.clone(),
                    key.clone(),
                    clock.clone(),
                    Arc::new(rules),
                );
                let urls = plaza_renewal::application::PeerUrls {
                    photo: (around.endpoint)("photo")?,
                    address: (around.endpoint)("address")?,
                    payments: (around.endpoint)("payments")?,
                    fulfillment: (around.endpoint)("fulfillment")?,
                    // Only for pickup offices: without it, pickup is refused
                    // as unavailable.
                    offices: (around.endpoint)("offices").unwrap_or_else(|_| ABSENT.to_owned()),
                };
                let mut policy = config.client.clone();
                policy.tls = around.tls.clone();
                // A payment or a photo check may take longer than a lookup.
                policy.request_timeout = policy.request_timeout.max(Duration::from_secs(30));
                let peers =
                    plaza_renewal::application::Peers::connect(&urls, &policy, seal.clone())
                        .context("renewal's clients")?;
                let renewals = plaza_renewal::application::Renewals::new(
                    db.clone(),
                    key,
                    drivers.clone(),
                    peers,
                    clock.clone(),
                );
                plaza_renewal::application::events::subscribe(
                    &db,
                    clock,
                    around.bus,
                    shutdown.clone(),
                )
                .await
                .context("subscribing to card progress")?;
                renewals
                    .subscribe_payments(around.bus, shutdown.clone())
                    .await
                    .context("subscribing to payments")?;
                let background = renewals.clone();
                tasks.spawn(async move {
                    background
                        .run_background(Duration::from_secs(5), shutdown)
                        .await
                });
                self.renewal = Some(RenewalServiceServer::new(
                    plaza_renewal::grpc::GrpcRenewal::new(drivers, seal.clone()),
                ));
                self.applications = Some(RenewalApplicationsServer::new(
                    plaza_renewal::application::grpc::GrpcApplications::new(renewals, seal.clone()),
                ));
            }
            other => anyhow::bail!("{other} is not a renewal service"),
        }
        Ok(())
    }

    pub async fn report_health(&self, health: &HealthReporter) {
        if self.address.is_some() {
            health
                .set_serving::<AddressServiceServer<plaza_address::grpc::GrpcAddress>>()
                .await;
        }
        if self.photo.is_some() {
            health
                .set_serving::<PhotoServiceServer<plaza_photo::GrpcPhotos>>()
                .await;
        }
        if self.payments.is_some() {
            health
                .set_serving::<PaymentsServiceServer<plaza_payments::grpc::GrpcPayments>>()
                .await;
        }
        if self.fulfillment.is_some() {
            health
                .set_serving::<FulfillmentServiceServer<plaza_fulfillment::grpc::GrpcFulfillment>>()
                .await;
        }
        if self.renewal.is_some() {
            health
                .set_serving::<RenewalServiceServer<plaza_renewal::grpc::GrpcRenewal>>()
                .await;
        }
        if self.applications.is_some() {
            health
                .set_serving::<RenewalApplicationsServer<
                    plaza_renewal::application::grpc::GrpcApplications,
                >>()
                .await;
        }
    }
}
