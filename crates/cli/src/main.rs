//! `plaza`: runs the platform and works on its data.

mod audit;
mod certs;
mod checks;
mod dmv;
mod identity;
mod permits;
mod renewal;
mod serve;

/// mimalloc instead of the system allocator: every request allocates many
/// small buffers on one thread and frees them on another, which glibc's
/// allocator serves slowly (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use plaza_kernel::config::{Config, Overrides};

/// Every service this binary can host.
pub const SERVICES: &[&str] = &[
    "offices",
    "audit",
    "identity",
    "vault",
    "address",
    "photo",
    "payments",
    "fulfillment",
    "renewal",
    "permits",
    "checks",
    "gateway",
];

#[derive(Parser, Debug)]
#[command(
    name = "plaza",
    version,
    about = "Plaza: a state's licensing services, online"
)]
struct Cli {
    /// Configuration file (default: ./plaza.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Folder for the embedded shape's data (SQLite files); ignored when
    /// PLAZA_DATABASE_URL names a PostgreSQL server.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the services (all of them by default) and the HTTP API.
    Serve {
        /// HTTP API address (default 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
        /// Internal gRPC address (default 127.0.0.1:50051).
        #[arg(long)]
        grpc: Option<String>,
        /// Services to host, comma-separated (default: all).
        #[arg(long)]
        services: Option<String>,
    },
    /// Apply pending database migrations of every service, then exit.
    Migrate,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The state's service locations.
    Offices {
        #[command(subcommand)]
        command: OfficesCommand,
    },
    /// Print the OpenAPI document of the REST API.
    Openapi,
    /// The vault's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Accounts of Plaza's own sign-in.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Applications that sign people in through Plaza (OpenID Connect
    /// relying parties).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Plaza's OpenID Connect provider.
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// The reference address set that addresses are validated against.
    Address {
        #[command(subcommand)]
        command: AddressCommand,
    },
    /// Driver records.
    Dmv {
        #[command(subcommand)]
        command: DmvCommand,
    },
    /// Certificates for mutual TLS between services.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Firearm permit types: the catalogue and its linter.
    Permits {
        #[command(subcommand)]
        command: PermitsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum PermitsCommand {
    /// Check a permit catalogue: a file, or a folder of *.toml files (the
    /// shipped catalogue when no path is given). Prints
    /// `file:line: code: reason` for every mistake; exits 1 if there is any.
    Lint { path: Option<PathBuf> },
    /// List the permit types of a catalogue.
    List {
        #[arg(long, value_enum, default_value_t = permits::Format::Text)]
        format: permits::Format,
        /// A catalogue file or folder (default: the shipped catalogue).
        #[arg(long)]
        catalogue: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AddressCommand {
    /// Write a synthetic reference set (CSV, the import layout) to stdout.
    Generate {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Replace the reference set with a CSV file (all or nothing; bad rows
    /// are reported by line).
    Import { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum DmvCommand {
    /// Generate synthetic driver records living at reference addresses.
    Seed {
        #[arg(long)]
        drivers: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The size of the reference set the addresses come from (as given
        /// to `plaza address generate --count`).
        #[arg(long, default_value_t = 100_000)]
        addresses: u64,
        /// The seed of that reference set.
        #[arg(long, default_value_t = 1)]
        address_seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum CertsCommand {
    /// Make a development CA and a certificate per service (and `all.pem`
    /// for one process hosting every service).
    Init {
        /// Folder to write into (must not hold a CA yet).
        #[arg(long)]
        dir: PathBuf,
        /// Also a certificate for a process hosting several services, e.g.
        /// `backend=offices,audit`. May be repeated.
        #[arg(long = "process")]
        processes: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Add a staff account (or a citizen, with --role citizen). Staff get a
    /// TOTP secret for their authenticator app, printed once.
    Add {
        #[arg(long)]
        email: String,
        /// citizen, clerk, licensing_officer, examiner, auditor or admin;
        /// repeat or separate with commas.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The state or county the person works for, e.g. PA or PA/Dauphin.
        #[arg(long)]
        jurisdiction: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClientsCommand {
    /// Register an application; prints its client_id (and client_secret,
    /// once, for a confidential client).
    Add {
        #[arg(long)]
        name: String,
        /// Where sign-in may return to; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where sign-out may return to; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a browser or mobile app): no secret, PKCE only.
        #[arg(long)]
        public: bool,
    },
}

#[derive(Subcommand, Debug)]
enum IdentityCommand {
    /// Start signing with a new key; the old one stays published until the
    /// tokens it signed have expired.
    RotateKey,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Add a new key-encryption key to the vault's keyring and re-wrap every
    /// data key under it, online: services keep reading and writing.
    Rotate,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the Merkle tree from storage and check every entry, stored
    /// subtree and signed tree head; exits 1 and says where if anything
    /// was altered.
    Verify {
        /// Also trust this Ed25519 public key (64 hex digits), e.g. one that
        /// signed heads before a key rotation. May be repeated.
        #[arg(long = "trust-key")]
        trust_keys: Vec<String>,
    },
    /// Append synthetic entries and sign a tree head (for benchmarks and
    /// demonstrations; the entries say they are synthetic).
    Seed {
        #[arg(long, default_value_t = 1000)]
        count: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate the configuration and print it, secrets masked, with where
    /// each value came from.
    Check,
}

#[derive(Subcommand, Debug)]
enum OfficesCommand {
    /// Write a realistic sample register of offices as CSV to stdout.
    Generate {
        #[arg(long, default_value_t = 3000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Import offices from a CSV file (`-` for standard input): every row is
    /// checked first, and a bad row means nothing is imported.
    Import { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut overrides = Overrides::default();
    overrides.set(
        "data_dir",
        cli.data_dir.as_ref().map(|p| p.display().to_string()),
        "--data-dir",
    );
    overrides.set("log.format", cli.log_format.clone(), "--log-format");
    if let Command::Serve {
        http,
        grpc,
        services,
    } = &cli.command
    {
        overrides.set("http.listen", http.clone(), "--http");
        overrides.set("grpc.listen", grpc.clone(), "--grpc");
        overrides.set("services", services.clone(), "--services");
    }
    let env = |k: &str| std::env::var(k).ok();
    let config = match Config::load(cli.config.as_deref(), &env, &overrides, SERVICES) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("plaza: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config {
        command: ConfigCommand::Check,
    } = &cli.command
    {
        print!("{}", config.render());
        println!("# configuration is valid");
        return ExitCode::SUCCESS;
    }
    let service_name = if config.services.len() == SERVICES.len() {
        "plaza".to_owned()
    } else {
        format!("plaza-{}", config.services.join("+"))
    };
    let telemetry = match plaza_kernel::telemetry::init(
        config.log_format,
        &config.log_level,
        config.otlp_endpoint.as_deref(),
        &service_name,
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("plaza: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(worker_threads(config.runtime_worker_threads))
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("plaza: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("plaza: {e:#}");
            ExitCode::FAILURE
        }
    };
    drop(runtime);
    telemetry.shutdown();
    code
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { .. } => serve::serve(config).await,
        Command::Migrate => {
            let target = config.storage();
            let db = plaza_offices::open_db(&target)
                .await
                .with_context(|| format!("migrating offices ({})", target.describe("offices")))?;
            println!(
                "offices: migrations applied ({})",
                target.describe("offices")
            );
            db.close().await;
            for (name, db) in [
                ("audit", plaza_audit::open_db(&target).await),
                ("identity", plaza_identity::open_db(&target).await),
                ("vault", plaza_vault::open_db(&target).await),
            ] {
                let db =
                    db.with_context(|| format!("migrating {name} ({})", target.describe(name)))?;
                println!("{name}: migrations applied ({})", target.describe(name));
                db.close().await;
            }
            for name in ["address", "photo", "payments", "fulfillment", "renewal"] {
                let db = renewal::open_db(name, &target)
                    .await
                    .with_context(|| format!("migrating {name} ({})", target.describe(name)))?;
                println!("{name}: migrations applied ({})", target.describe(name));
                db.close().await;
            }
            let db = plaza_permits::open_db(&target)
                .await
                .with_context(|| format!("migrating permits ({})", target.describe("permits")))?;
            println!(
                "permits: migrations applied ({})",
                target.describe("permits")
            );
            db.close().await;
            let db = plaza_checks::service::open_db(&target)
                .await
                .with_context(|| format!("migrating checks ({})", target.describe("checks")))?;
            println!("checks: migrations applied ({})", target.describe("checks"));
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { .. } => Ok(ExitCode::SUCCESS),
        Command::Openapi => {
            print!("{}", plaza_gateway::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Offices {
            command: OfficesCommand::Generate { count, seed },
        } => {
            let stdout = std::io::stdout().lock();
            plaza_offices::generate::generate(count, seed, stdout).context("writing offices")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Offices {
            command: OfficesCommand::Import { file },
        } => import_offices(&config, &file).await,
        Command::Audit {
            command: AuditCommand::Verify { trust_keys },
        } => audit::verify(&config, &trust_keys).await,
        Command::Keys {
            command: KeysCommand::Rotate,
        } => rotate_keys(&config).await,
        Command::Address {
            command: AddressCommand::Generate { count, seed },
        } => dmv::generate_addresses(count, seed),
        Command::Address {
            command: AddressCommand::Import { file },
        } => dmv::import_addresses(&config, &file).await,
        Command::Dmv {
            command:
                DmvCommand::Seed {
                    drivers,
                    seed,
                    addresses,
                    address_seed,
                },
        } => dmv::seed_drivers(&config, drivers, seed, addresses, address_seed).await,
        Command::Audit {
            command: AuditCommand::Seed { count },
        } => audit::seed(&config, count).await,
        Command::Users {
            command:
                UsersCommand::Add {
                    email,
                    roles,
                    jurisdiction,
                    password_stdin,
                },
        } => {
            identity::add_user(
                &config,
                &email,
                &roles,
                jurisdiction.as_deref(),
                password_stdin,
            )
            .await
        }
        Command::Clients {
            command:
                ClientsCommand::Add {
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                },
        } => {
            identity::add_client(
                &config,
                &name,
                &redirect_uris,
                &post_logout_redirect_uris,
                public,
            )
            .await
        }
        Command::Identity {
            command: IdentityCommand::RotateKey,
        } => identity::rotate_key(&config),
        Command::Certs {
            command: CertsCommand::Init { dir, processes },
        } => certs::init(&dir, SERVICES, &processes),
        Command::Permits {
            command: PermitsCommand::Lint { path },
        } => permits::lint(path.as_deref()),
        Command::Permits {
            command: PermitsCommand::List { format, catalogue },
        } => permits::list(catalogue.as_deref(), format),
    }
}

async fn rotate_keys(config: &Config) -> anyhow::Result<ExitCode> {
    let ring = std::sync::Arc::new(
        plaza_vault::FileKeyring::load_or_create(&config.vault_keyring_file)
            .with_context(|| format!("vault keyring ({})", config.vault_keyring_file.display()))?,
    );
    let db = plaza_vault::open_db(&config.storage())
        .await
        .context("opening the vault database")?;
    let vault = plaza_vault::Vault::new(
        db.clone(),
        ring.clone(),
        std::sync::Arc::new(plaza_kernel::clock::SystemClock),
    );
    let before = vault.keys_in_use().await?;
    let total: i64 = before.iter().map(|(_, n)| n).sum();
    let new_id = ring.add_kek().context("adding a key to the keyring")?;
    println!(
        "new key-encryption key {new_id} added to {}",
        config.vault_keyring_file.display()
    );
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("re-wrapping data keys [{bar:40}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (done, failed) = vault
        .rewrap_all(500, &|n| bar.set_position(n))
        .await
        .context("re-wrapping data keys")?;
    bar.finish_and_clear();
    println!("{done} data keys re-wrapped under {new_id}");
    if !failed.is_empty() {
        for t in &failed {
            eprintln!("plaza: the data key of {t} would not open and was left as it was");
        }
        eprintln!(
            "plaza: {} data key(s) could not be re-wrapped; see above",
            failed.len()
        );
        db.close().await;
        return Ok(ExitCode::FAILURE);
    }
    let after = vault.keys_in_use().await?;
    for id in ring.kek_ids() {
        if id != new_id && !after.iter().any(|(k, _)| *k == id) {
            println!(
                "key {id} no longer wraps any data key: it may be retired once backups that need it have expired"
            );
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn import_offices(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?)
    };
    let rows = match plaza_offices::app::parse_csv(reader) {
        Ok(rows) => rows,
        Err(plaza_offices::Error::Import(errors)) => {
            for e in &errors {
                eprintln!("{}:{}: {}", file.display(), e.line, e.reason);
            }
            eprintln!(
                "plaza: {} bad row(s) in {}; nothing was imported",
                errors.len(),
                file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let target = config.storage();
    let db = plaza_offices::open_db(&target)
        .await
        .context("opening the offices database")?;
    let app = plaza_offices::Offices::new(
        db.clone(),
        plaza_kernel::cache::Cache::local("offices", 1, std::time::Duration::from_secs(1)),
        std::sync::Arc::new(plaza_kernel::clock::SystemClock),
    );
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("importing offices");
    let report = app
        .import("system:plaza-offices-import", rows, &|n| {
            bar.set_position(n)
        })
        .await
        .context("importing offices")?;
    bar.finish_and_clear();
    println!(
        "imported {}: {} created, {} updated, {} unchanged (into {})",
        file.display(),
        report.created,
        report.updated,
        report.unchanged,
        target.describe("offices")
    );
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The runtime's threads: as configured, or one per CPU core. The busiest
/// write transactions run on their database's own thread
/// (`Db::on_writer`), so no task holding a write connection waits for a
/// runtime thread, and more threads than cores only add switching:
/// measured on two cores, payment and saga 197–222/s with two threads,
/// 181–183/s with six.
fn worker_threads(configured: u64) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n as usize,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runtime_threads_are_one_per_core_unless_configured() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(super::worker_threads(0), cores);
        assert_eq!(super::worker_threads(5), 5);
    }
}
