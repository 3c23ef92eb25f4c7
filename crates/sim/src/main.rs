//! `plaza-sim`: the outside world for development, tests and benchmarks.
//!
//! ```text
//! plaza-sim --listen 127.0.0.1:7900 --webhook-url http://127.0.0.1:8080/v1/payments/webhook
//! plaza-sim seed --data ./sim-records --scale 1.0          # ten million records
//! plaza-sim --records ./sim-records --records-tcp 127.0.0.1:7901 \
//!     --record-faults '{"source":"*","faults":{"latency_ms":[20,500],"timeout_rate":0.01}}'
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use plaza_sim::processor::{Faults, Processor, ProcessorConfig};
use plaza_sim::records::{self, Records, Shape};
use plaza_sim::vendor::{Vendor, VendorConfig};

#[derive(Parser, Debug)]
#[command(
    name = "plaza-sim",
    about = "Simulated payment processor, card vendor and background-check record sources"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Serve the record sources seeded in this folder (`plaza-sim seed`).
    #[arg(long, env = "PLAZA_SIM_RECORDS")]
    records: Option<PathBuf>,
    /// Where the fixed-width record sources listen (raw TCP).
    #[arg(long, default_value = "127.0.0.1:7901")]
    records_tcp: String,
    /// Record-source faults, as the body of POST /records/v1/admin/faults:
    /// '{"source":"*","faults":{"latency_ms":[20,500],"error_rate":0.01}}'
    /// or an array of such settings.
    #[arg(long)]
    record_faults: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generates the record sources' populations into a folder.
    Seed {
        /// The folder to write (created if missing; files are replaced).
        #[arg(long)]
        data: PathBuf,
        /// 1.0 = ten million records across the 27 sources.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// The day the records are current to, YYYY-MM-DD.
        #[arg(long, default_value = "2026-01-01")]
        as_of: String,
    },
}

fn seed_command(data: PathBuf, scale: f64, seed: u64, as_of: &str) -> anyhow::Result<()> {
    let as_of = records::parse_date(as_of)
        .ok_or_else(|| anyhow::anyhow!("--as-of: expected YYYY-MM-DD, got {as_of:?}"))?;
    let shape = Shape { seed, scale, as_of };
    eprintln!(
        "seeding {} records ({} people) into {}",
        shape.total_records(),
        shape.population(),
        data.display()
    );
    let manifest = records::seed(&data, &shape, |p| {
        let secs = p.elapsed.as_secs_f64().max(0.001);
        eprintln!(
            "seeded {:>11} / {} records ({:5.1} %) in {:6.1} s, {:.0} records/s",
            p.done,
            p.total,
            p.done as f64 * 100.0 / p.total.max(1) as f64,
            secs,
            p.done as f64 / secs
        );
    })
    .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
    println!(
        "seeded {} records in {} sources under {}",
        manifest.total(),
        manifest.counts.len(),
        data.display()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    if let Some(Command::Seed {
        data,
        scale,
        seed,
        as_of,
    }) = args.command
    {
        return tokio::task::spawn_blocking(move || seed_command(data, scale, seed, &as_of))
            .await?;
    }
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
    let app = plaza_sim::router(processor, vendor);
    match &args.records {
        None => axum::serve(listener, app).await?,
        Some(dir) => {
            let recs = Records::open(dir, records::Faults::default())
                .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
            if let Some(f) = &args.record_faults {
                records::http::apply_faults(&recs, f.as_bytes())
                    .map_err(|e| anyhow::anyhow!("--record-faults: {}", e.message))?;
            }
            let fixed = records::fixed::bind_and_serve(&args.records_tcp, recs.clone()).await?;
            println!(
                "record sources: {} records, {} sources; JSON and XML on this port, fixed-width on {fixed}",
                recs.manifest().total(),
                records::CATALOGUE.len()
            );
            let app = app.merge(records::http::router(recs.clone()));
            records::http::serve(listener, app, Some(recs)).await;
        }
    }
    Ok(())
}
