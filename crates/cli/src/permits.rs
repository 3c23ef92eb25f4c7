//! `plaza permits …`: the permit-type catalogue and its linter; and the
//! permits service as `plaza serve` hosts it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use plaza_contracts::permits::v1::permit_applications_server::PermitApplicationsServer;
use plaza_contracts::permits::v1::permit_types_server::PermitTypesServer;
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::config::Config;
use plaza_kernel::db::Db;
use plaza_kernel::shutdown::Shutdown;
use plaza_permits::Catalogue;
use plaza_permits::application::Applications;
use plaza_permits::catalogue::shipped_sources;
use plaza_permits::lint::{self, LintError};
use plaza_permits::types::dollars;
use plaza_permits::{BusinessCalendar, Error, LocalTime, TypeSet};
use tokio::task::JoinSet;
use tonic_health::server::HealthReporter;

/// How `plaza permits list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// A JSON array of the permit types, every field included.
    Json,
}

/// Writes `text` to standard output; a reader that stopped reading (a
/// closed pipe, as with `| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(()),
    }
}

fn lines(errors: &[LintError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// `plaza permits lint [PATH]`: every mistake on standard output as
/// `file:line: code: reason`, exit status 1 when there is any.
pub fn lint(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (what, sources) = match path {
        Some(p) => match lint::read_sources(p) {
            Ok(sources) => (p.display().to_string(), sources),
            Err(errors) => {
                emit(&lines(&errors))?;
                eprintln!("plaza: {} cannot be read", p.display());
                return Ok(ExitCode::FAILURE);
            }
        },
        None => ("the shipped catalogue".to_owned(), shipped_sources()),
    };
    match TypeSet::from_sources(&sources) {
        Ok(set) => {
            emit(&format!(
                "{what}: {} permit types in {} jurisdictions from {} file(s); no errors\n",
                set.len(),
                set.jurisdictions().len(),
                sources.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Catalogue(errors)) => {
            emit(&lines(&errors))?;
            eprintln!(
                "plaza: {} error(s) in {what}; the catalogue is refused whole",
                errors.len()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("checking the catalogue"),
    }
}

/// `plaza permits list [--format json|text] [--catalogue PATH]`.
pub fn list(catalogue: Option<&Path>, format: Format) -> anyhow::Result<ExitCode> {
    let set = match catalogue {
        Some(p) => match TypeSet::read(p) {
            Ok(set) => set,
            Err(Error::Catalogue(errors)) => {
                eprint!("{}", lines(&errors));
                eprintln!(
                    "plaza: the catalogue at {} is refused ({} error(s))",
                    p.display(),
                    errors.len()
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => return Err(e).context("reading the catalogue"),
        },
        None => TypeSet::shipped(),
    };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(set.types()).context("writing JSON")? + "\n",
        Format::Text => {
            let mut text = table(&set);
            if catalogue.is_none() {
                text.push_str(
                    "(the shipped catalogue: SAMPLE DATA shaped like real permits, not legal advice)\n",
                );
            }
            text
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// One line a type, in columns.
fn table(set: &TypeSet) -> String {
    let header = [
        "ID",
        "JUR",
        "KIND",
        "FEE",
        "VALIDITY",
        "DECISION DEADLINE",
        "NAME",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = set
        .types()
        .iter()
        .map(|t| {
            let fee = match t.non_resident_fee_cents {
                Some(nr) => format!("{} ({} non-res.)", dollars(t.fee_cents), dollars(nr)),
                None => dollars(t.fee_cents),
            };
            [
                t.id.clone(),
                t.jurisdiction.to_string(),
                t.kind.to_string(),
                fee,
                t.validity.to_string(),
                t.decision_deadline.to_string(),
                t.name.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!(
        "{} permit types in {} jurisdictions\n",
        set.len(),
        set.jurisdictions().len()
    ));
    text
}

/// The permits service's gRPC services, built on its database.
pub struct Hosted {
    pub types: PermitTypesServer<plaza_permits::grpc::GrpcPermitTypes>,
    pub applications: PermitApplicationsServer<plaza_permits::grpc::GrpcApplications>,
}

/// How often the statutory clocks are looked at.
const TIMER_TICK: Duration = Duration::from_secs(1);

/// Builds the permits service on `db` (migrated) and starts its timers.
pub fn host(
    config: &Config,
    seal: &CallerSeal,
    db: Db,
    vault: Option<plaza_permits::application::tokens::VaultTokens>,
    tasks: &mut JoinSet<()>,
    shutdown: Shutdown,
) -> anyhow::Result<Hosted> {
    let dir = config.permits_catalogue_dir.as_deref();
    let catalogue = match Catalogue::load(dir) {
        Ok(c) => c,
        Err(Error::Catalogue(errors)) => {
            eprint!("{}", lines(&errors));
            anyhow::bail!(
                "permits.catalogue_dir {}: {} error(s); check it with `plaza permits lint`",
                dir.map(|d| d.display().to_string()).unwrap_or_default(),
                errors.len()
            );
        }
        Err(e) => return Err(e).context("permits.catalogue_dir"),
    };
    let key = crate::renewal::data_key(config, plaza_permits::SERVICE)?;
    let mut app = Applications::new(db, key, Arc::new(catalogue), Arc::new(SystemClock))
        .with_calendar(
            BusinessCalendar::federal().in_local_time(local_time(config)?),
            plaza_permits::application::DUE_SOON_BUSINESS_DAYS,
        );
    if let Some(vault) = vault {
        app = app.with_vault(vault);
    }
    let timers = app.clone();
    tasks.spawn(async move { timers.run_timers(TIMER_TICK, shutdown).await });
    Ok(Hosted {
        types: PermitTypesServer::new(plaza_permits::grpc::GrpcPermitTypes::new(app.clone())),
        applications: PermitApplicationsServer::new(plaza_permits::grpc::GrpcApplications::new(
            app,
            seal.clone(),
        )),
    })
}

/// The agency's local time from `permits.time_zone`.
pub fn local_time(config: &Config) -> anyhow::Result<LocalTime> {
    LocalTime::parse(&config.permits_time_zone).ok_or_else(|| {
        anyhow::anyhow!(
            "permits.time_zone = {:?}: give UTC, a US zone such as US/Central, or an offset such as -06:00 (with ' dst' for US daylight saving time)",
            config.permits_time_zone
        )
    })
}

/// Reports both permits services serving.
pub async fn report_health(health: &HealthReporter) {
    health
        .set_serving::<PermitTypesServer<plaza_permits::grpc::GrpcPermitTypes>>()
        .await;
    health
        .set_serving::<PermitApplicationsServer<plaza_permits::grpc::GrpcApplications>>()
        .await;
}
