//! The record sources a background check consults — federal criminal
//! history, NCIC files, the NICS Indices, immigration status and state
//! repositories — seeded with synthetic people at realistic scale and
//! served over three wire formats (see `PROTOCOLS.md` beside this file):
//! JSON over HTTP, NIEM-style XML over HTTP, and fixed-width lines over
//! raw TCP, each with latency, errors, held answers and outages to order.
//!
//! - [`catalogue`]: the 27 sources, their record kinds, formats and sizes.
//! - [`model`]: what a record says (subject descriptors and content).
//! - [`generate`]: records as a pure function of seed and ordinal, and the
//!   known subjects whose right answer is known.
//! - [`keys`], [`store`]: blocking keys, the file per source and lookups.
//! - [`faults`]: latency and failure injection.
//! - [`json`], [`niem`], [`fixed`]: the three wire formats; [`http`] the
//!   HTTP face (routes, catalogue, fault administration).

pub mod catalogue;
pub mod faults;
pub mod fixed;
pub mod generate;
pub mod http;
pub mod json;
pub mod keys;
pub mod model;
pub mod niem;
pub mod rapback;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::json;

pub use catalogue::{CATALOGUE, Category, RecordKind, Source, WireFormat};
pub use faults::{Faults, LatencyShape, Plan};
pub use generate::{
    DEFAULT_AS_OF, Expected, KNOWN_SUBJECTS, KnownSubject, PROFILES, Profile, Shape, known_subject,
    known_subjects_with,
};
pub use keys::MatchedOn;
pub use model::{Detail, SourceRecord, Subject};
pub use store::{Hit, SourceStore};

use crate::people::Date;

/// The records module's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is damaged: {detail}")]
    Corrupt { file: PathBuf, detail: String },
    #[error("{0} holds no seeded records: run `plaza-sim seed --data {0}` first")]
    NotSeeded(PathBuf),
    #[error("invalid: {0}")]
    Invalid(String),
}

impl Error {
    /// A stable code for logs and the command line.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "records.io",
            Error::Corrupt { .. } => "records.corrupt",
            Error::NotSeeded(_) => "records.not_seeded",
            Error::Invalid(_) => "records.invalid",
        }
    }
}

/// An error answer on the wire: a stable code, the HTTP status and the
/// fixed-width status it maps to, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            code,
            message: message.into(),
        }
    }

    pub fn http_status(&self) -> u16 {
        match self.code {
            "malformed_request" | "invalid_field" => 400,
            "unknown_source" | "wrong_protocol" => 404,
            "payload_too_large" => 413,
            "insufficient_descriptors" => 422,
            "source_error" | "source_down" => 503,
            _ => 500,
        }
    }

    /// The two-digit status of the fixed-width protocol.
    pub fn fixed_status(&self) -> &'static str {
        match self.code {
            "malformed_request" => "10",
            "invalid_field" => "11",
            "insufficient_descriptors" => "12",
            "unknown_source" => "20",
            "wrong_protocol" => "21",
            "payload_too_large" => "30",
            "source_error" | "source_down" => "90",
            _ => "99",
        }
    }
}

/// What `seed` wrote, as kept in `records.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub shape: Shape,
    pub counts: Vec<u64>,
}

const MANIFEST: &str = "records.json";
const MANIFEST_FORMAT: u64 = 1;

impl Manifest {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "format": MANIFEST_FORMAT,
            "seed": self.shape.seed,
            "scale": self.shape.scale,
            "as_of": self.shape.as_of.to_string(),
            "known_subjects": KNOWN_SUBJECTS,
            "total_records": self.total(),
            "sources": CATALOGUE.iter().zip(&self.counts).enumerate().map(|(i, (s, n))| json!({
                "id": s.id, "records": n, "file": store::file_name(i),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn read(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotSeeded(dir.to_owned()),
            _ => Error::Io {
                what: format!("reading {}", path.display()),
                source: e,
            },
        })?;
        let corrupt = |detail: &str| Error::Corrupt {
            file: path.clone(),
            detail: detail.to_owned(),
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| corrupt("not JSON"))?;
        if v["format"].as_u64() != Some(MANIFEST_FORMAT) {
            return Err(corrupt("written by another version of plaza-sim"));
        }
        let seed = v["seed"].as_u64().ok_or_else(|| corrupt("no seed"))?;
        let scale = v["scale"].as_f64().ok_or_else(|| corrupt("no scale"))?;
        let as_of = v["as_of"]
            .as_str()
            .and_then(parse_date)
            .ok_or_else(|| corrupt("no as_of"))?;
        let sources = v["sources"]
            .as_array()
            .ok_or_else(|| corrupt("no sources"))?;
        if sources.len() != CATALOGUE.len()
            || sources
                .iter()
                .zip(CATALOGUE.iter())
                .any(|(m, s)| m["id"].as_str() != Some(s.id))
        {
            return Err(corrupt("its sources are not this catalogue's"));
        }
        let counts = sources
            .iter()
            .map(|s| {
                s["records"]
                    .as_u64()
                    .ok_or_else(|| corrupt("a count is missing"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Manifest {
            shape: Shape { seed, scale, as_of },
            counts,
        })
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    Date::new(num(0..4)? as u16, num(5..7)? as u8, num(8..10)? as u8)
}

/// Progress of a seed run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub elapsed: Duration,
}

/// Writes every source of `shape` under `dir` (two sources at a time),
/// reporting progress about once a second, then the manifest. Running it
/// again with the same shape writes the same files.
pub fn seed(
    dir: &Path,
    shape: &Shape,
    mut progress: impl FnMut(Progress),
) -> Result<Manifest, Error> {
    if !(shape.scale > 0.0 && shape.scale <= 100.0) {
        return Err(Error::Invalid(format!(
            "scale {} is not in (0, 100]",
            shape.scale
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        what: format!("creating {}", dir.display()),
        source: e,
    })?;
    let _ = std::fs::remove_file(dir.join(MANIFEST));
    let total = shape.total_records();
    let done = AtomicU64::new(0);
    let mut order: Vec<usize> = (0..CATALOGUE.len()).collect();
    order.sort_by_key(|&s| shape.records_in(s));
    let queue = Mutex::new(order);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 2);
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), Error>>();
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (queue, done) = (&queue, &done);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some(s) = next else { break };
                    if let Err(e) = store::write_source(dir, shape, s, done) {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                let _ = tx.send(Ok(()));
            });
        }
        drop(tx);
        let mut finished = 0;
        while finished < workers {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(r) => {
                    finished += 1;
                    if let Err(e) = r {
                        if let Ok(mut q) = queue.lock() {
                            q.clear();
                        }
                        first_error.get_or_insert(e);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => progress(Progress {
                    done: done.load(Ordering::Relaxed),
                    total,
                    elapsed: started.elapsed(),
                }),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    progress(Progress {
        done: total,
        total,
        elapsed: started.elapsed(),
    });
    let manifest = Manifest {
        shape: *shape,
        counts: (0..CATALOGUE.len()).map(|s| shape.records_in(s)).collect(),
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest.to_json()).unwrap_or_default();
    std::fs::write(&path, text).map_err(|e| Error::Io {
        what: format!("writing {}", path.display()),
        source: e,
    })?;
    Ok(manifest)
}

/// The seeded sources, opened, with their faults: what the three wire
/// formats serve. Cheap to clone.
#[derive(Clone)]
pub struct Records {
    inner: Arc<Inner>,
}

struct Inner {
    manifest: Manifest,
    stores: Vec<SourceStore>,
    faults: RwLock<Vec<Faults>>,
    fixed_addr: RwLock<Option<SocketAddr>>,
    /// Rap Back: where new records are told.
    subscriber: RwLock<Option<rapback::Subscriber>>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("records", &self.inner.manifest.total())
            .finish()
    }
}

impl Records {
    /// Opens the sources seeded under `dir`, every one with `faults`.
    pub fn open(dir: &Path, faults: Faults) -> Result<Records, Error> {
        let manifest = Manifest::read(dir)?;
        let stores = (0..CATALOGUE.len())
            .map(|s| SourceStore::open(dir, s))
            .collect::<Result<Vec<_>, _>>()?;
        for (s, st) in stores.iter().enumerate() {
            if st.len() != manifest.counts[s] {
                return Err(Error::Corrupt {
                    file: dir.join(store::file_name(s)),
                    detail: "its record count differs from records.json".into(),
                });
            }
        }
        Ok(Records {
            inner: Arc::new(Inner {
                manifest,
                stores,
                faults: RwLock::new(vec![faults; CATALOGUE.len()]),
                fixed_addr: RwLock::new(None),
                subscriber: RwLock::new(None),
            }),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn store(&self, source: usize) -> &SourceStore {
        &self.inner.stores[source]
    }

    /// Bytes the open sources keep in memory (fences and handles).
    pub fn resident_bytes(&self) -> usize {
        self.inner
            .stores
            .iter()
            .map(SourceStore::resident_bytes)
            .sum()
    }

    /// Sets the faults of one source, or of all when `source` is None.
    /// Sets (or clears) the Rap Back subscriber.
    pub fn set_subscriber(&self, s: Option<rapback::Subscriber>) {
        if let Ok(mut w) = self.inner.subscriber.write() {
            *w = s;
        }
    }

    pub fn subscriber(&self) -> Option<rapback::Subscriber> {
        self.inner.subscriber.read().ok().and_then(|s| s.clone())
    }

    pub fn set_faults(&self, source: Option<usize>, faults: Faults) {
        if let Ok(mut all) = self.inner.faults.write() {
            match source {
                Some(s) => all[s] = faults,
                None => all.iter_mut().for_each(|f| *f = faults.clone()),
            }
        }
    }

    pub fn faults(&self, source: usize) -> Faults {
        self.inner
            .faults
            .read()
            .map(|f| f[source].clone())
            .unwrap_or_default()
    }

    /// Whether a source is down (its connections are closed unanswered).
    pub fn is_down(&self, source: usize) -> bool {
        self.inner
            .faults
            .read()
            .map(|f| f[source].outage)
            .unwrap_or(false)
    }

    pub(crate) fn set_fixed_addr(&self, addr: SocketAddr) {
        if let Ok(mut a) = self.inner.fixed_addr.write() {
            *a = Some(addr);
        }
    }

    pub fn fixed_addr(&self) -> Option<SocketAddr> {
        self.inner.fixed_addr.read().ok().and_then(|a| *a)
    }

    /// The plan for one call to `source`.
    pub fn plan(&self, source: usize) -> Plan {
        let mut rng = rand::rng();
        let u = [
            rng.random::<f64>(),
            rng.random::<f64>(),
            rng.random::<f64>(),
        ];
        self.faults(source).plan(u)
    }

    /// Resolves a source id for a protocol: unknown ids and sources that
    /// speak another format are refused with the documented codes.
    pub fn resolve(&self, id: &str, format: WireFormat) -> Result<usize, ProtocolError> {
        let (s, src) = catalogue::source(id)
            .ok_or_else(|| ProtocolError::new("unknown_source", "No record source has this id."))?;
        if src.format != format {
            let at = match src.format {
                WireFormat::Json => format!("POST /records/v1/{id}/search"),
                WireFormat::NiemXml => format!("POST /records/niem/v1/{id}/search"),
                WireFormat::FixedWidth => "the fixed-width TCP port".to_owned(),
            };
            return Err(ProtocolError::new(
                "wrong_protocol",
                format!("Source {id} speaks {}: use {at}.", src.format.as_str()),
            ));
        }
        Ok(s)
    }

    /// Carries out a planned call (other than a close): waits the latency,
    /// then answers an error or searches.
    pub async fn answer(
        &self,
        source: usize,
        plan: Plan,
        subject: Subject,
    ) -> Result<Vec<Hit>, ProtocolError> {
        let (wait, fail) = match plan {
            Plan::Close => {
                return Err(ProtocolError::new(
                    "source_down",
                    "The source is down. Try again later.",
                ));
            }
            Plan::Error(d) => (d, true),
            Plan::Answer(d) => (d, false),
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if fail {
            return Err(ProtocolError::new(
                "source_error",
                "The source could not complete the search. Try again.",
            ));
        }
        if !keys::searchable(&subject) {
            return Err(ProtocolError::new(
                "insufficient_descriptors",
                "Give a first name, a surname and a date of birth, or an identifier (SSN, FBI number, state id).",
            ));
        }
        let this = self.clone();
        let found = tokio::task::spawn_blocking(move || this.search(source, &subject)).await;
        match found {
            Ok(Ok(hits)) => Ok(hits),
            Ok(Err(e)) => {
                tracing::error!(error = %e, code = e.code(), source = CATALOGUE[source].id, "record search failed");
                Err(ProtocolError::new(
                    "internal",
                    "The source failed. It has been logged.",
                ))
            }
            Err(_) => Err(ProtocolError::new(
                "internal",
                "The source failed. It has been logged.",
            )),
        }
    }

    /// Searches one source directly (no faults, no network).
    pub fn search(&self, source: usize, subject: &Subject) -> Result<Vec<Hit>, Error> {
        self.inner.stores[source].search(subject)
    }

    /// The catalogue as served at `GET /records/v1/catalogue`.
    pub fn catalogue_json(&self) -> serde_json::Value {
        let m = &self.inner.manifest;
        json!({
            "seed": m.shape.seed,
            "scale": m.shape.scale,
            "as_of": m.shape.as_of.to_string(),
            "total_records": m.total(),
            "fixed_width_address": self.fixed_addr().map(|a| a.to_string()),
            "sources": CATALOGUE.iter().zip(&m.counts).map(|(s, n)| json!({
                "id": s.id,
                "name": s.name,
                "jurisdiction": s.jurisdiction,
                "category": s.category,
                "kind": s.kind().as_str(),
                "format": s.format.as_str(),
                "records": n,
                "path": match s.format {
                    WireFormat::Json => Some(format!("/records/v1/{}/search", s.id)),
                    WireFormat::NiemXml => Some(format!("/records/niem/v1/{}/search", s.id)),
                    WireFormat::FixedWidth => None,
                },
            })).collect::<Vec<_>>(),
        })
    }
}

/// A records server on free loopback ports, for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct LocalRecords {
    /// `http://127.0.0.1:port`: JSON, XML, catalogue and admin.
    pub base: String,
    /// The fixed-width TCP address.
    pub fixed: SocketAddr,
    pub records: Records,
}

/// Opens the records under `dir` with no faults and no latency, and serves
/// them on free loopback ports.
pub async fn start_local(dir: &Path) -> Result<LocalRecords, Error> {
    let records = Records::open(dir, Faults::none())?;
    let bind = |what: &'static str| {
        move |e| Error::Io {
            what: format!("binding the {what} port"),
            source: e,
        }
    };
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(bind("HTTP"))?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(bind("fixed-width"))?;
    let base = format!("http://{}", http.local_addr().map_err(bind("HTTP"))?);
    let fixed = tcp.local_addr().map_err(bind("fixed-width"))?;
    records.set_fixed_addr(fixed);
    tokio::spawn(fixed::serve(tcp, records.clone()));
    let app = http::router(records.clone());
    tokio::spawn(http::serve(http, app, Some(records.clone())));
    Ok(LocalRecords {
        base,
        fixed,
        records,
    })
}
