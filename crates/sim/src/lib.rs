//! `plaza-sim`: the systems a motor-vehicle agency talks to, played over
//! the same protocols a real one would use, so that development, tests and
//! benchmarks exercise real network calls with faults that can be chosen.
//!
//! - [`processor`]: a card-payment processor — charges with idempotency
//!   keys, sandbox cards that succeed, decline, time out or answer twice,
//!   refunds, signed webhooks (some delivered twice or late) and a daily
//!   settlement file.
//! - [`vendor`]: a card-production vendor — accepts order batches, reports
//!   production and mailing, sometimes fails a batch.
//! - [`people`]: synthetic people and the noisy records that record sources
//!   (criminal history, mental-health adjudications, protection orders)
//!   hold about them, with labelled sets for measuring identity matching.
//! - [`records`]: the 27 record sources of a background check (federal
//!   criminal history, NCIC, the NICS Indices, immigration status, state
//!   repositories), seeded at scale from [`people`] and served as JSON over
//!   HTTP, NIEM-style XML and fixed-width lines over TCP, with faults.
//!
//! Plaza reaches each through an adapter trait in the service that uses it
//! (payments, fulfillment), so a real processor or vendor is one adapter
//! away. The simulator keeps its state in memory: it is the outside world,
//! and it outlives the Plaza processes that tests kill and restart.

pub mod people;
pub mod processor;
pub mod records;
pub mod vendor;

/// The simulator's whole HTTP face: `/processor/v1/...` and `/vendor/v1/...`.
pub fn router(processor: processor::Processor, vendor: vendor::Vendor) -> axum::Router {
    processor.router().merge(vendor.router())
}

/// Serves a processor (default settings) and a vendor that moves only on
/// `/vendor/v1/admin/advance`, on a free loopback port, for tests and
/// benchmarks: the base URL and the processor (to read its records).
pub async fn start_local() -> std::io::Result<(String, processor::Processor)> {
    let processor = processor::Processor::new(Default::default());
    let vendor = vendor::Vendor::new(vendor::VendorConfig {
        tick: None,
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = router(processor.clone(), vendor);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "plaza-sim stopped");
        }
    });
    Ok((base, processor))
}
