//! Configuration: `plaza.toml`, then `PLAZA_*` environment variables, then
//! command-line flags, each overriding the one before.
//!
//! Every key is declared once in [`KEYS`] with its environment variable, its
//! default and how to fix a bad value. Loading validates every value; the
//! first bad one stops the start with a message that names the key, where
//! the value came from, the value itself (secrets masked) and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::db::StorageTarget;
use crate::resilience::ClientPolicy;
use crate::telemetry::LogFormat;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// A configuration error, fit to print as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}` ({origin}) has the value {value:?}: {problem}.\n  fix: {fix}")]
pub struct ConfigError {
    pub key: String,
    pub origin: String,
    pub value: String,
    pub problem: String,
    pub fix: String,
}

struct KeySpec {
    key: &'static str,
    env: &'static str,
    default: &'static str,
    secret: bool,
    fix: &'static str,
}

/// Every configuration key (service endpoints, `endpoints.<service>`, are
/// added per service).
const KEYS: &[KeySpec] = &[
    KeySpec {
        key: "data_dir",
        env: "PLAZA_DATA_DIR",
        default: "./plaza-data",
        secret: false,
        fix: "a folder Plaza may create and write, e.g. ./plaza-data",
    },
    KeySpec {
        key: "database_url",
        env: "PLAZA_DATABASE_URL",
        default: "",
        secret: true,
        fix: "leave empty for SQLite files in data_dir, or give postgres://user:password@host:5432/database",
    },
    KeySpec {
        key: "database_schema_prefix",
        env: "PLAZA_DATABASE_SCHEMA_PREFIX",
        default: "",
        secret: false,
        fix: "letters, digits and _ only, e.g. plaza_ (each service's schema is <prefix><service>)",
    },
    KeySpec {
        key: "nats_url",
        env: "PLAZA_NATS_URL",
        default: "",
        secret: true,
        fix: "leave empty for the in-process bus, or give nats://host:4222",
    },
    KeySpec {
        key: "events_namespace",
        env: "PLAZA_EVENTS_NAMESPACE",
        default: "plaza",
        secret: false,
        fix: "lower-case letters, digits and _ (it names the NATS streams and subjects)",
    },
    KeySpec {
        key: "redis_url",
        env: "PLAZA_REDIS_URL",
        default: "",
        secret: true,
        fix: "leave empty for the in-process cache, or give redis://host:6379",
    },
    KeySpec {
        key: "services",
        env: "PLAZA_SERVICES",
        default: "all",
        secret: false,
        fix: "`all`, or a comma-separated list of service names",
    },
    KeySpec {
        key: "http.listen",
        env: "PLAZA_HTTP_LISTEN",
        default: "127.0.0.1:8080",
        secret: false,
        fix: "host:port, e.g. 127.0.0.1:8080 (port 0 picks a free port)",
    },
    KeySpec {
        key: "http.body_limit_bytes",
        env: "PLAZA_HTTP_BODY_LIMIT_BYTES",
        default: "1048576",
        secret: false,
        fix: "a whole number of bytes between 1024 and 104857600",
    },
    KeySpec {
        key: "http.max_in_flight",
        env: "PLAZA_HTTP_MAX_IN_FLIGHT",
        default: "2048",
        secret: false,
        fix: "a whole number between 1 and 1000000",
    },
    KeySpec {
        key: "http.rate_limit_per_principal",
        env: "PLAZA_HTTP_RATE_LIMIT_PER_PRINCIPAL",
        default: "200",
        secret: false,
        fix: "requests per second allowed from one signed-in account (bursts of twice that), 0 to switch the limit off",
    },
    KeySpec {
        key: "http.rate_limit_per_ip",
        env: "PLAZA_HTTP_RATE_LIMIT_PER_IP",
        default: "1000",
        secret: false,
        fix: "requests per second allowed from one address (bursts of twice that), 0 to switch the limit off",
    },
    KeySpec {
        key: "grpc.listen",
        env: "PLAZA_GRPC_LISTEN",
        default: "127.0.0.1:50051",
        secret: false,
        fix: "host:port, e.g. 127.0.0.1:50051 (port 0 picks a free port)",
    },
    KeySpec {
        key: "runtime.worker_threads",
        env: "PLAZA_RUNTIME_WORKER_THREADS",
        default: "0",
        secret: false,
        fix: "0 for one per CPU core, or a whole number of threads between 1 and 1024",
    },
    KeySpec {
        key: "log.format",
        env: "PLAZA_LOG_FORMAT",
        default: "text",
        secret: false,
        fix: "text or json",
    },
    KeySpec {
        key: "log.level",
        env: "PLAZA_LOG_LEVEL",
        default: "info",
        secret: false,
        fix: "a tracing filter such as info, or plaza_offices=debug,info",
    },
    KeySpec {
        key: "telemetry.otlp_endpoint",
        env: "PLAZA_OTLP_ENDPOINT",
        default: "",
        secret: false,
        fix: "leave empty, or give the OTLP/gRPC collector address http://host:4317",
    },
    KeySpec {
        key: "client.connect_timeout_ms",
        env: "PLAZA_CLIENT_CONNECT_TIMEOUT_MS",
        default: "500",
        secret: false,
        fix: "milliseconds between 1 and 60000",
    },
    KeySpec {
        key: "client.request_timeout_ms",
        env: "PLAZA_CLIENT_REQUEST_TIMEOUT_MS",
        default: "5000",
        secret: false,
        fix: "milliseconds between 1 and 600000",
    },
    KeySpec {
        key: "client.breaker_failures",
        env: "PLAZA_CLIENT_BREAKER_FAILURES",
        default: "3",
        secret: false,
        fix: "a whole number between 1 and 1000",
    },
    KeySpec {
        key: "client.breaker_open_ms",
        env: "PLAZA_CLIENT_BREAKER_OPEN_MS",
        default: "500",
        secret: false,
        fix: "milliseconds between 1 and 600000",
    },
    KeySpec {
        key: "client.max_in_flight",
        env: "PLAZA_CLIENT_MAX_IN_FLIGHT",
        default: "512",
        secret: false,
        fix: "a whole number between 1 and 100000",
    },
    KeySpec {
        key: "audit.signing_key_file",
        env: "PLAZA_AUDIT_SIGNING_KEY_FILE",
        default: "",
        secret: false,
        fix: "leave empty for <data_dir>/keys/audit-signing.key, or give the path of a file holding a 64-hex-digit Ed25519 seed",
    },
    KeySpec {
        key: "vault.keyring_file",
        env: "PLAZA_VAULT_KEYRING_FILE",
        default: "",
        secret: false,
        fix: "leave empty for <data_dir>/keys/vault-keyring, or give the path of the vault's keyring file",
    },
    KeySpec {
        key: "auth.internal_key_file",
        env: "PLAZA_AUTH_INTERNAL_KEY_FILE",
        default: "",
        secret: false,
        fix: "leave empty for <data_dir>/keys/internal-caller.key, or give the path of a file holding 64 hex digits; every process of one deployment needs the same file",
    },
    KeySpec {
        key: "auth.issuers_file",
        env: "PLAZA_AUTH_ISSUERS_FILE",
        default: "",
        secret: false,
        fix: "leave empty to trust only Plaza's own sign-in, or give the path of a TOML file of [[issuer]] tables (see the README)",
    },
    KeySpec {
        key: "auth.clock_skew_s",
        env: "PLAZA_AUTH_CLOCK_SKEW_S",
        default: "60",
        secret: false,
        fix: "give the seconds of clock difference tolerated on token times, 0 to 300",
    },
    KeySpec {
        key: "identity.issuer",
        env: "PLAZA_IDENTITY_ISSUER",
        default: "",
        secret: false,
        fix: "leave empty for http://<http.listen>/oidc, or give the public https:// URL users reach sign-in at, ending in /oidc",
    },
    KeySpec {
        key: "identity.audience",
        env: "PLAZA_IDENTITY_AUDIENCE",
        default: "plaza",
        secret: false,
        fix: "give the audience Plaza's access tokens are issued for (letters, digits, - and _)",
    },
    KeySpec {
        key: "identity.keys_file",
        env: "PLAZA_IDENTITY_KEYS_FILE",
        default: "",
        secret: false,
        fix: "leave empty for <data_dir>/keys/identity-signing.json, or give the path of the token-signing key file",
    },
    KeySpec {
        key: "security.detokenise_per_minute",
        env: "PLAZA_SECURITY_DETOKENISE_PER_MINUTE",
        default: "30",
        secret: false,
        fix: "give the most personal-data reads one account may make in a minute before a security alert, 1 to 100000",
    },
    KeySpec {
        key: "security.alert_webhook",
        env: "PLAZA_SECURITY_ALERT_WEBHOOK",
        default: "",
        secret: true,
        fix: "leave empty, or give the http(s):// URL that security alerts are POSTed to as JSON",
    },
    KeySpec {
        key: "tls.ca_file",
        env: "PLAZA_TLS_CA_FILE",
        default: "",
        secret: false,
        fix: "leave empty for plain gRPC on a trusted network, or give the CA certificate (PEM) from `plaza certs init`; tls.cert_file and tls.key_file then too",
    },
    KeySpec {
        key: "tls.cert_file",
        env: "PLAZA_TLS_CERT_FILE",
        default: "",
        secret: false,
        fix: "give this process's certificate (PEM) naming the services it hosts, from `plaza certs init`",
    },
    KeySpec {
        key: "tls.key_file",
        env: "PLAZA_TLS_KEY_FILE",
        default: "",
        secret: false,
        fix: "give the private key (PEM) of tls.cert_file",
    },
    KeySpec {
        key: "mail.smtp_url",
        env: "PLAZA_MAIL_SMTP_URL",
        default: "",
        secret: true,
        fix: "leave empty to write mail into <data_dir>/mail, or give the relay as smtp://host:port",
    },
    KeySpec {
        key: "mail.from",
        env: "PLAZA_MAIL_FROM",
        default: "Plaza <no-reply@plaza.invalid>",
        secret: false,
        fix: "give the sender of Plaza's mail, e.g. DMV Online <no-reply@dmv.example.gov>",
    },
    KeySpec {
        key: "payments.processor_url",
        env: "PLAZA_PAYMENTS_PROCESSOR_URL",
        default: "http://127.0.0.1:7900",
        secret: false,
        fix: "give the card processor's base URL, http(s)://host:port (plaza-sim plays one for development)",
    },
    KeySpec {
        key: "payments.webhook_secret",
        env: "PLAZA_PAYMENTS_WEBHOOK_SECRET",
        default: "whsec_plaza_sim",
        secret: true,
        fix: "give the secret the processor signs its webhooks with (at least 8 characters)",
    },
    KeySpec {
        key: "payments.processor_timeout_ms",
        env: "PLAZA_PAYMENTS_PROCESSOR_TIMEOUT_MS",
        default: "5000",
        secret: false,
        fix: "give how long one call to the card processor may take, in milliseconds (50–120000)",
    },
    KeySpec {
        key: "payments.fees_file",
        env: "PLAZA_PAYMENTS_FEES_FILE",
        default: "",
        secret: false,
        fix: "leave empty for the shipped sample fee schedule, or give the path of the agency's fees TOML",
    },
    KeySpec {
        key: "fulfillment.vendor_url",
        env: "PLAZA_FULFILLMENT_VENDOR_URL",
        default: "http://127.0.0.1:7900",
        secret: false,
        fix: "give the card vendor's base URL, http(s)://host:port (plaza-sim plays one for development)",
    },
    KeySpec {
        key: "fulfillment.batch_wait_ms",
        env: "PLAZA_FULFILLMENT_BATCH_WAIT_MS",
        default: "600000",
        secret: false,
        fix: "milliseconds a card order may wait for a fuller batch before it is sent anyway, 0 to 86400000",
    },
    KeySpec {
        key: "renewal.rules_file",
        env: "PLAZA_RENEWAL_RULES_FILE",
        default: "",
        secret: false,
        fix: "leave empty for the shipped eligibility rules, or give the path of the agency's rules TOML",
    },
    KeySpec {
        key: "permits.catalogue_dir",
        env: "PLAZA_PERMITS_CATALOGUE_DIR",
        default: "",
        secret: false,
        fix: "leave empty for the shipped sample permit types, or give the folder of the agency's permit-type TOML files (check it with `plaza permits lint PATH`)",
    },
    KeySpec {
        key: "permits.time_zone",
        env: "PLAZA_PERMITS_TIME_ZONE",
        default: "UTC",
        secret: false,
        fix: "the agency's local time, in which statutory days begin: UTC, US/Eastern, US/Central, US/Mountain, US/Arizona, US/Pacific, US/Alaska, US/Hawaii, or an offset such as -06:00 (add ' dst' for US daylight saving time)",
    },
    KeySpec {
        key: "checks.sources_url",
        env: "PLAZA_CHECKS_SOURCES_URL",
        default: "http://127.0.0.1:7900",
        secret: false,
        fix: "give the base URL whose /records/v1/catalogue lists the record sources, http(s)://host:port (plaza-sim --records plays them for development)",
    },
    KeySpec {
        key: "checks.source_timeout_ms",
        env: "PLAZA_CHECKS_SOURCE_TIMEOUT_MS",
        default: "1500",
        secret: false,
        fix: "milliseconds each record source has to answer before the check counts it as not answering, 50 to 60000",
    },
    KeySpec {
        key: "checks.notice_secret",
        env: "PLAZA_CHECKS_NOTICE_SECRET",
        default: "whsec_plaza_sim",
        secret: true,
        fix: "the secret record sources sign their new-record notices (Rap Back) with; set the real one in production",
    },
    KeySpec {
        key: "checks.concurrency",
        env: "PLAZA_CHECKS_CONCURRENCY",
        default: "128",
        secret: false,
        fix: "how many checks one process runs at once, 1 to 4096",
    },
    KeySpec {
        key: "shutdown.drain_ms",
        env: "PLAZA_SHUTDOWN_DRAIN_MS",
        default: "10000",
        secret: false,
        fix: "milliseconds between 0 and 600000",
    },
];

/// The effective configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_schema_prefix: String,
    pub nats_url: Option<String>,
    pub events_namespace: String,
    pub redis_url: Option<String>,
    /// Services this process hosts.
    pub services: Vec<String>,
    pub http_listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub http_max_in_flight: usize,
    /// Requests per second per client address; 0 = no limit.
    pub http_rate_limit_per_ip: u32,
    /// Requests per second per signed-in caller; 0 = no limit.
    pub http_rate_limit_per_principal: u32,
    pub grpc_listen: SocketAddr,
    /// Threads of the async runtime; 0 means one per CPU core.
    pub runtime_worker_threads: u64,
    /// Where each service's gRPC endpoint is, when not hosted here.
    pub endpoints: BTreeMap<String, String>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub otlp_endpoint: Option<String>,
    pub client: ClientPolicy,
    pub drain: Duration,
    /// The Ed25519 seed that signs audit tree heads.
    pub audit_signing_key_file: PathBuf,
    /// The vault's key-encryption keys and blind-index key.
    pub vault_keyring_file: PathBuf,
    /// The key that seals callers between the gateway and services.
    pub internal_key_file: PathBuf,
    /// External identity providers the gateway trusts, if any.
    pub issuers_file: Option<PathBuf>,
    /// Seconds of clock skew tolerated on token times.
    pub clock_skew_s: u64,
    /// The SMTP relay for outgoing mail (`smtp://host:port`), if any.
    pub smtp_url: Option<String>,
    /// The sender of Plaza's mail.
    pub mail_from: String,
    /// Mutual TLS between services: CA, certificate and key files.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// Detection rule: most detokenisations per account per minute.
    pub detokenise_per_minute: u64,
    /// Where security alerts are POSTed, if anywhere.
    pub alert_webhook: Option<String>,
    /// The issuer URL of Plaza's own identity provider.
    pub identity_issuer: String,
    /// Whether `identity_issuer` was derived from `http.listen` (and so
    /// follows the port actually bound when that is 0).
    pub identity_issuer_derived: bool,
    /// The audience of Plaza's access tokens.
    pub identity_audience: String,
    /// Plaza's token-signing keys.
    pub identity_keys_file: PathBuf,
    /// The card processor's base URL.
    pub processor_url: String,
    /// The processor's webhook signing secret.
    pub webhook_secret: String,
    /// How long one call to the processor may take.
    pub processor_timeout_ms: u64,
    /// The agency's fee schedule, if not the shipped one.
    pub fees_file: Option<PathBuf>,
    /// The card vendor's base URL.
    pub vendor_url: String,
    /// How long a card order waits for a fuller batch.
    pub batch_wait_ms: u64,
    /// The agency's eligibility rules, if not the shipped ones.
    pub rules_file: Option<PathBuf>,
    /// The agency's permit types (a folder of TOML files), if not the
    /// shipped ones.
    pub permits_catalogue_dir: Option<PathBuf>,
    /// The agency's local time (`UTC`, `US/Central`, `-06:00 dst`, …).
    pub permits_time_zone: String,
    /// Where the record sources' catalogue is served.
    pub checks_sources_url: String,
    /// Each record source's deadline in a check.
    pub checks_source_timeout_ms: u64,
    /// Checks one process runs at once.
    pub checks_concurrency: u64,
    /// The secret record sources sign their notices with.
    pub checks_notice_secret: String,
    /// Where services keep their at-rest data keys.
    pub data_keys_dir: PathBuf,
    /// Every key with its value (secrets masked) and origin, for `config check`.
    pub effective: Vec<(String, String, Origin)>,
}

/// Values given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides(pub Vec<(&'static str, String, &'static str)>);

impl Overrides {
    /// Adds `key = value`, coming from `flag`, when `value` is set.
    pub fn set(&mut self, key: &'static str, value: Option<String>, flag: &'static str) {
        if let Some(v) = value {
            self.0.push((key, v, flag));
        }
    }
}

/// Masks the password of a URL: `postgres://u:secret@h` → `postgres://u:***@h`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let masked = match userinfo.find(':') {
        Some(c) => format!("{}:***", &userinfo[..c]),
        None => "***".to_owned(),
    };
    format!("{}://{}@{}", &url[..scheme_end], masked, &rest[at + 1..])
}

impl Config {
    /// Loads the configuration for a process that knows `known_services`.
    /// `file` is `plaza.toml` (an absent default file is fine, an absent
    /// named file is not).
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
        known_services: &[&str],
    ) -> Result<Config, ConfigError> {
        let mut values: BTreeMap<String, (String, Origin)> = BTreeMap::new();
        let mut specs: Vec<(String, String, String, bool, String)> = KEYS
            .iter()
            .map(|k| {
                (
                    k.key.to_owned(),
                    k.env.to_owned(),
                    k.default.to_owned(),
                    k.secret,
                    k.fix.to_owned(),
                )
            })
            .collect();
        for svc in known_services {
            specs.push((
                format!("endpoints.{svc}"),
                format!("PLAZA_ENDPOINT_{}", svc.to_uppercase()),
                String::new(),
                false,
                format!("leave empty when this process hosts {svc}, or give its gRPC address http://host:port"),
            ));
        }
        for (key, _, default, _, _) in &specs {
            values.insert(key.clone(), (default.clone(), Origin::Default));
        }
        let (path, required) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("plaza.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let table: toml::Table =
                    text.parse().map_err(|e: toml::de::Error| ConfigError {
                        key: "(file)".into(),
                        origin: path.display().to_string(),
                        value: String::new(),
                        problem: format!("not valid TOML: {}", e.message()),
                        fix: "correct the file's syntax (see docs/configuration in the README)"
                            .into(),
                    })?;
                let mut flat = Vec::new();
                flatten("", &toml::Value::Table(table), &mut flat);
                for (key, value) in flat {
                    if !values.contains_key(&key) {
                        return Err(ConfigError {
                            key: key.clone(),
                            origin: path.display().to_string(),
                            value,
                            problem: "there is no such key".into(),
                            fix: format!(
                                "remove it or use one of: {}",
                                specs
                                    .iter()
                                    .map(|s| s.0.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                    values.insert(key, (value, Origin::File(path.clone())));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => {
                return Err(ConfigError {
                    key: "(file)".into(),
                    origin: path.display().to_string(),
                    value: String::new(),
                    problem: format!("cannot be read: {e}"),
                    fix: "give the path of a readable plaza.toml, or leave --config out".into(),
                });
            }
        }
        for (key, env_name, _, _, _) in &specs {
            if let Some(v) = env(env_name) {
                values.insert(key.clone(), (v, Origin::Env(env_name.clone())));
            }
        }
        for (key, value, flag) in &overrides.0 {
            values.insert(
                (*key).to_owned(),
                (value.clone(), Origin::Flag((*flag).to_owned())),
            );
        }

        let spec_of = |key: &str| specs.iter().find(|s| s.0 == key).expect("declared key");
        let bad = |key: &str, problem: String| {
            let (value, origin) = &values[key];
            let spec = spec_of(key);
            ConfigError {
                key: key.to_owned(),
                origin: origin.to_string(),
                value: if spec.3 {
                    redact_url(value)
                } else {
                    value.clone()
                },
                problem,
                fix: spec.4.clone(),
            }
        };
        let get = |key: &str| values[key].0.trim().to_owned();
        let opt = |key: &str| Some(get(key)).filter(|v| !v.is_empty());
        let addr = |key: &str| -> Result<SocketAddr, ConfigError> {
            get(key)
                .parse()
                .map_err(|_| bad(key, "not a socket address".into()))
        };
        let int = |key: &str, min: u64, max: u64| -> Result<u64, ConfigError> {
            let n: u64 = get(key)
                .parse()
                .map_err(|_| bad(key, "not a whole number".into()))?;
            if n < min || n > max {
                return Err(bad(key, format!("out of range {min}..={max}")));
            }
            Ok(n)
        };
        let url_with = |key: &str, schemes: &[&str]| -> Result<Option<String>, ConfigError> {
            match opt(key) {
                None => Ok(None),
                Some(u) => {
                    let ok = schemes
                        .iter()
                        .any(|s| u.starts_with(&format!("{s}://")) && u.len() > s.len() + 3);
                    if ok {
                        Ok(Some(u))
                    } else {
                        Err(bad(
                            key,
                            format!(
                                "must start with {}",
                                schemes
                                    .iter()
                                    .map(|s| format!("{s}://"))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            ),
                        ))
                    }
                }
            }
        };

        let data_dir = PathBuf::from(get("data_dir"));
        if data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", "is empty".into()));
        }
        let database_url = url_with("database_url", &["postgres", "postgresql"])?;
        let database_schema_prefix = get("database_schema_prefix");
        if !database_schema_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(
                "database_schema_prefix",
                "holds a character other than a letter, digit or _".into(),
            ));
        }
        let nats_url = url_with("nats_url", &["nats", "tls"])?;
        let redis_url = url_with("redis_url", &["redis", "rediss"])?;
        let events_namespace = get("events_namespace");
        if events_namespace.is_empty()
            || !events_namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(bad(
                "events_namespace",
                "must be lower-case letters, digits and _".into(),
            ));
        }
        let services_raw = get("services");
        let services: Vec<String> = if services_raw == "all" {
            known_services.iter().map(|s| s.to_string()).collect()
        } else {
            let mut list = Vec::new();
            for s in services_raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                if !known_services.contains(&s) {
                    return Err(bad(
                        "services",
                        format!(
                            "`{s}` is not a Plaza service (known: {})",
                            known_services.join(", ")
                        ),
                    ));
                }
                if !list.iter().any(|x: &String| x == s) {
                    list.push(s.to_owned());
                }
            }
            if list.is_empty() {
                return Err(bad("services", "names no service".into()));
            }
            list
        };
        let http_listen = addr("http.listen")?;
        let grpc_listen = addr("grpc.listen")?;
        let log_format: LogFormat = get("log.format")
            .parse()
            .map_err(|e: String| bad("log.format", e))?;
        let log_level = get("log.level");
        tracing_subscriber::EnvFilter::try_new(&log_level)
            .map_err(|e| bad("log.level", e.to_string()))?;
        let otlp_endpoint = url_with("telemetry.otlp_endpoint", &["http", "https"])?;
        let mut endpoints = BTreeMap::new();
        for svc in known_services {
            let key = format!("endpoints.{svc}");
            if let Some(u) = url_with(&key, &["http", "https"])? {
                endpoints.insert(svc.to_string(), u);
            }
        }
        let client = ClientPolicy {
            connect_timeout: Duration::from_millis(int("client.connect_timeout_ms", 1, 60_000)?),
            request_timeout: Duration::from_millis(int("client.request_timeout_ms", 1, 600_000)?),
            failure_threshold: int("client.breaker_failures", 1, 1000)? as u32,
            open_for: Duration::from_millis(int("client.breaker_open_ms", 1, 600_000)?),
            max_in_flight: int("client.max_in_flight", 1, 100_000)? as usize,
            retries: 2,
            tls: None,
            in_process: None,
        };
        let effective = specs
            .iter()
            .map(|(key, _, _, secret, _)| {
                let (v, o) = &values[key];
                (
                    key.clone(),
                    match (*secret, v.contains("://"), v.is_empty()) {
                        (true, true, _) => redact_url(v),
                        (true, false, false) => "***".to_owned(),
                        _ => v.clone(),
                    },
                    o.clone(),
                )
            })
            .collect();
        let audit_signing_key_file = match opt("audit.signing_key_file") {
            Some(p) => PathBuf::from(p),
            None => data_dir.join("keys").join("audit-signing.key"),
        };
        let vault_keyring_file = match opt("vault.keyring_file") {
            Some(p) => PathBuf::from(p),
            None => data_dir.join("keys").join("vault-keyring"),
        };
        let internal_key_file = match opt("auth.internal_key_file") {
            Some(p) => PathBuf::from(p),
            None => data_dir.join("keys").join("internal-caller.key"),
        };
        let identity_keys_file = match opt("identity.keys_file") {
            Some(p) => PathBuf::from(p),
            None => data_dir.join("keys").join("identity-signing.json"),
        };
        let explicit_issuer = url_with("identity.issuer", &["http", "https"])?;
        let identity_issuer_derived = explicit_issuer.is_none();
        let identity_issuer = match explicit_issuer {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = if http_listen.ip().is_unspecified() {
                    std::net::SocketAddr::new(
                        std::net::Ipv4Addr::LOCALHOST.into(),
                        http_listen.port(),
                    )
                } else {
                    http_listen
                };
                format!("http://{host}/oidc")
            }
        };
        let identity_audience = get("identity.audience");
        if identity_audience.is_empty()
            || !identity_audience
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "identity.audience",
                "must be letters, digits, - and _".into(),
            ));
        }
        let tls = match (
            opt("tls.ca_file"),
            opt("tls.cert_file"),
            opt("tls.key_file"),
        ) {
            (None, None, None) => None,
            (Some(ca), Some(cert), Some(key)) => {
                Some((PathBuf::from(ca), PathBuf::from(cert), PathBuf::from(key)))
            }
            (None, _, _) => {
                return Err(bad(
                    "tls.ca_file",
                    "is missing while the other tls.* keys are set".into(),
                ));
            }
            (_, None, _) => {
                return Err(bad(
                    "tls.cert_file",
                    "is missing while the other tls.* keys are set".into(),
                ));
            }
            (_, _, None) => {
                return Err(bad(
                    "tls.key_file",
                    "is missing while the other tls.* keys are set".into(),
                ));
            }
        };
        let mail_from = get("mail.from");
        if mail_from.is_empty() || mail_from.chars().any(|c| c.is_control()) {
            return Err(bad(
                "mail.from",
                "is empty or holds a control character".into(),
            ));
        }
        let webhook_secret = get("payments.webhook_secret");
        if webhook_secret.len() < 8 {
            return Err(bad(
                "payments.webhook_secret",
                "is shorter than 8 characters".into(),
            ));
        }
        let required_url = |key: &str| -> Result<String, ConfigError> {
            url_with(key, &["http", "https"])?
                .ok_or_else(|| bad(key, "is empty".into()))
                .map(|u| u.trim_end_matches('/').to_owned())
        };
        Ok(Config {
            processor_url: required_url("payments.processor_url")?,
            webhook_secret,
            processor_timeout_ms: int("payments.processor_timeout_ms", 50, 120_000)?,
            fees_file: opt("payments.fees_file").map(PathBuf::from),
            vendor_url: required_url("fulfillment.vendor_url")?,
            batch_wait_ms: int("fulfillment.batch_wait_ms", 0, 86_400_000)?,
            rules_file: opt("renewal.rules_file").map(PathBuf::from),
            permits_catalogue_dir: opt("permits.catalogue_dir").map(PathBuf::from),
            permits_time_zone: get("permits.time_zone"),
            checks_sources_url: required_url("checks.sources_url")?,
            checks_source_timeout_ms: int("checks.source_timeout_ms", 50, 60_000)?,
            checks_concurrency: int("checks.concurrency", 1, 4096)?,
            checks_notice_secret: get("checks.notice_secret"),
            data_keys_dir: data_dir.join("keys"),
            smtp_url: url_with("mail.smtp_url", &["smtp"])?,
            mail_from,
            tls,
            internal_key_file,
            issuers_file: opt("auth.issuers_file").map(PathBuf::from),
            clock_skew_s: int("auth.clock_skew_s", 0, 300)?,
            detokenise_per_minute: int("security.detokenise_per_minute", 1, 100_000)?,
            alert_webhook: url_with("security.alert_webhook", &["http", "https"])?,
            identity_issuer,
            identity_issuer_derived,
            identity_audience,
            identity_keys_file,
            data_dir,
            database_url,
            database_schema_prefix,
            nats_url,
            events_namespace,
            redis_url,
            services,
            http_listen,
            body_limit_bytes: int("http.body_limit_bytes", 1024, 104_857_600)? as usize,
            http_max_in_flight: int("http.max_in_flight", 1, 1_000_000)? as usize,
            http_rate_limit_per_ip: int("http.rate_limit_per_ip", 0, 1_000_000)? as u32,
            http_rate_limit_per_principal: int("http.rate_limit_per_principal", 0, 1_000_000)?
                as u32,
            grpc_listen,
            runtime_worker_threads: int("runtime.worker_threads", 0, 1024)?,
            endpoints,
            log_format,
            log_level,
            otlp_endpoint,
            client,
            drain: Duration::from_millis(int("shutdown.drain_ms", 0, 600_000)?),
            audit_signing_key_file,
            vault_keyring_file,
            effective,
        })
    }

    /// Where services keep their data.
    pub fn storage(&self) -> StorageTarget {
        match &self.database_url {
            Some(url) => StorageTarget::Postgres {
                url: url.clone(),
                schema_prefix: self.database_schema_prefix.clone(),
            },
            None => StorageTarget::DataDir(self.data_dir.clone()),
        }
    }

    pub fn hosts(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// The effective configuration as TOML-like text, secrets masked.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (key, value, origin) in &self.effective {
            out.push_str(&format!("{key} = {value:?}  # {origin}\n"));
        }
        out
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        toml::Value::Array(items) => out.push((
            prefix.to_owned(),
            items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        )),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVCS: &[&str] = &["offices", "gateway"];

    fn load(env: &[(&str, &str)], file: Option<&str>) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("plaza-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = file.map(|text| {
            let p = dir.join("plaza.toml");
            std::fs::write(&p, text).unwrap();
            p
        });
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone());
        Config::load(path.as_deref(), &lookup, &Overrides::default(), SVCS)
    }

    #[test]
    fn defaults_are_the_embedded_shape() {
        let c = load(&[], None).unwrap();
        assert_eq!(c.services, vec!["offices", "gateway"]);
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.storage(), StorageTarget::DataDir("./plaza-data".into()));
        assert!(c.nats_url.is_none() && c.redis_url.is_none());
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = std::env::temp_dir().join(format!("plaza-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("plaza.toml");
        std::fs::write(
            &p,
            "[http]\nlisten = \"127.0.0.1:1\"\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == "PLAZA_HTTP_LISTEN").then(|| "127.0.0.1:2".to_string());
        let c = Config::load(Some(&p), &env, &Overrides::default(), SVCS).unwrap();
        assert_eq!(c.http_listen.port(), 2);
        assert_eq!(c.log_format, LogFormat::Json);
        let mut o = Overrides::default();
        o.set("http.listen", Some("127.0.0.1:3".into()), "--http");
        let c = Config::load(Some(&p), &env, &o, SVCS).unwrap();
        assert_eq!(c.http_listen.port(), 3);
    }

    #[test]
    fn bad_value_names_key_origin_value_and_fix() {
        let e = load(&[("PLAZA_HTTP_LISTEN", "nowhere")], None).unwrap_err();
        assert_eq!(e.key, "http.listen");
        assert_eq!(e.origin, "environment variable PLAZA_HTTP_LISTEN");
        assert_eq!(e.value, "nowhere");
        let text = e.to_string();
        assert!(text.contains("fix: host:port"), "{text}");
    }

    #[test]
    fn unknown_service_and_unknown_key_are_refused() {
        let e = load(&[("PLAZA_SERVICES", "offices,payroll")], None).unwrap_err();
        assert!(e.problem.contains("payroll"));
        let e = load(&[], Some("colour = \"blue\"\n")).unwrap_err();
        assert_eq!(e.key, "colour");
        assert!(e.problem.contains("no such key"));
    }

    #[test]
    fn secrets_are_masked_in_errors_and_rendering() {
        let e = load(&[("PLAZA_DATABASE_URL", "mysql://u:hunter2@h/db")], None).unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        let c = load(&[("PLAZA_DATABASE_URL", "postgres://u:hunter2@h/db")], None).unwrap();
        assert!(!c.render().contains("hunter2"));
        assert!(c.render().contains("postgres://u:***@h/db"));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let e = load(&[("PLAZA_HTTP_BODY_LIMIT_BYTES", "12")], None).unwrap_err();
        assert!(e.problem.contains("out of range"));
    }
}
