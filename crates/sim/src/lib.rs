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
//!
//! Plaza reaches each through an adapter trait in the service that uses it
//! (payments, fulfillment), so a real processor or vendor is one adapter
//! away. The simulator keeps its state in memory: it is the outside world,
//! and it outlives the Plaza processes that tests kill and restart.

pub mod processor;
pub mod vendor;

/// The simulator's whole HTTP face: `/processor/v1/...` and `/vendor/v1/...`.
pub fn router(processor: processor::Processor, vendor: vendor::Vendor) -> axum::Router {
    processor.router().merge(vendor.router())
}
