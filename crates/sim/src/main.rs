//! `plaza-sim`: the outside world for development, tests and benchmarks.
//!
//! ```text
//! plaza-sim --listen 127.0.0.1:7900 --webhook-url http://127.0.0.1:8080/v1/payments/webhook
//! ```

use std::time::Duration;

use clap::Parser;
use plaza_sim::processor::{Faults, Processor, ProcessorConfig};
use plaza_sim::vendor::{Vendor, VendorConfig};

#[derive(Parser, Debug)]
#[command(
    name = "plaza-sim",
    about = "Simulated payment processor and card vendor"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7900")]
    listen: String,
    /// Where the processor sends its webhooks.
    #[arg(long, env = "PLAZA_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The webhook signing secret.
    #[arg(
        long,
        env = "PLAZA_SIM_WEBHOOK_SECRET",
        default_value = "whsec_plaza_sim"
    )]
    webhook_secret: String,
    /// How long a "timeout" answer is held, in ms.
    #[arg(long, default_value_t = 5_000)]
    slow_ms: u64,
    /// How late a late webhook is, in ms.
    #[arg(long, default_value_t = 2_000)]
    late_webhook_ms: u64,
    /// Processor faults, as JSON (see `Faults`), e.g. '{"timeout_rate":0.05}'.
    #[arg(long)]
    faults: Option<String>,
    /// The vendor's production stage length in ms (0: only on /admin/advance).
    #[arg(long, default_value_t = 1_000)]
    vendor_tick_ms: u64,
    /// Probability that a card batch fails in production.
    #[arg(long, default_value_t = 0.0)]
    vendor_fail_rate: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    let faults: Faults = match &args.faults {
        Some(j) => serde_json::from_str(j)?,
        None => Faults::default(),
    };
    let processor = Processor::new(ProcessorConfig {
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
        slow_ms: args.slow_ms,
        late_webhook_ms: args.late_webhook_ms,
        faults,
    });
    let vendor = Vendor::new(VendorConfig {
        tick: (args.vendor_tick_ms > 0).then(|| Duration::from_millis(args.vendor_tick_ms)),
        fail_rate: args.vendor_fail_rate,
        ..VendorConfig::default()
    });
    vendor.start_ticking();
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("plaza-sim listening on http://{}", listener.local_addr()?);
    axum::serve(listener, plaza_sim::router(processor, vendor)).await?;
    Ok(())
}
