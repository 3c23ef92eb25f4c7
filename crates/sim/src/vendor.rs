//! A card-production vendor: it accepts batches of card orders, produces
//! and mails them a stage at a time, and sometimes fails a batch.
//!
//! ```text
//! POST /vendor/v1/batches            {batch_id, orders: [{order_id, payload_b64, delivery}]}
//! GET  /vendor/v1/batches/{batch_id} {batch_id, status, reason, orders: [{order_id, status, tracking}]}
//! POST /vendor/v1/admin/advance      every open batch moves one stage
//! POST /vendor/v1/admin/faults       {fail_next_batches, down}
//! ```
//!
//! A batch goes `received → in_production → produced → mailed`, or to
//! `failed` at production. Resubmitting a batch id with the same orders is
//! answered as the first time (200 instead of 202) and produces nothing
//! more; with different orders it is refused (409).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct VendorConfig {
    /// Each open batch moves one stage this often; `None`: only on
    /// `/admin/advance`.
    pub tick: Option<Duration>,
    /// Probability that a batch fails in production.
    pub fail_rate: f64,
    /// At most this many orders per batch.
    pub max_batch: usize,
}

impl Default for VendorConfig {
    fn default() -> Self {
        VendorConfig {
            tick: Some(Duration::from_secs(1)),
            fail_rate: 0.0,
            max_batch: 500,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delivery {
    Mail { lines: Vec<String> },
    Pickup { office_id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OrderIn {
    pub order_id: String,
    pub payload_b64: String,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    pub batch_id: String,
    pub orders: Vec<OrderIn>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderOut {
    pub order_id: String,
    pub status: String,
    pub tracking: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchOut {
    pub batch_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub orders: Vec<OrderOut>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VendorFaults {
    /// The next this many batches fail in production.
    pub fail_next_batches: u32,
    /// Answer 503 to everything but the admin routes.
    pub down: bool,
}

struct Batch {
    input: BatchIn,
    out: BatchOut,
    fail: bool,
}

#[derive(Default)]
struct Floor {
    batches: HashMap<String, Batch>,
    order: Vec<String>,
    faults: VendorFaults,
    /// How many distinct batches were accepted.
    accepted: u64,
}

/// The vendor. Cheap to clone.
#[derive(Clone)]
pub struct Vendor {
    inner: Arc<(VendorConfig, Mutex<Floor>)>,
}

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

impl Vendor {
    pub fn new(cfg: VendorConfig) -> Vendor {
        Vendor {
            inner: Arc::new((cfg, Mutex::new(Floor::default()))),
        }
    }

    /// Starts the production clock, if configured. Needs a Tokio runtime.
    pub fn start_ticking(&self) {
        if let Some(every) = self.inner.0.tick {
            let this = self.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                loop {
                    t.tick().await;
                    this.advance();
                }
            });
        }
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/vendor/v1/batches", post(submit))
            .route("/vendor/v1/batches/{id}", get(status))
            .route("/vendor/v1/admin/advance", post(advance))
            .route("/vendor/v1/admin/faults", post(faults))
            .with_state(self.clone())
    }

    pub fn set_faults(&self, f: VendorFaults) {
        self.inner.1.lock().expect("floor").faults = f;
    }

    /// How many distinct batches were accepted (resubmissions not counted).
    pub fn batches_accepted(&self) -> u64 {
        self.inner.1.lock().expect("floor").accepted
    }

    /// Every batch as it stands.
    pub fn batches(&self) -> Vec<BatchOut> {
        let floor = self.inner.1.lock().expect("floor");
        floor
            .order
            .iter()
            .map(|id| floor.batches[id].out.clone())
            .collect()
    }

    /// Moves every open batch one stage.
    pub fn advance(&self) {
        let mut floor = self.inner.1.lock().expect("floor");
        let Floor { batches, order, .. } = &mut *floor;
        for id in order.iter() {
            let b = batches.get_mut(id).expect("ordered batch exists");
            let (next, order_status) = match b.out.status.as_str() {
                "received" => ("in_production", "in_production"),
                "in_production" if b.fail => ("failed", "failed"),
                "in_production" => ("produced", "produced"),
                "produced" => ("mailed", "mailed"),
                _ => continue,
            };
            b.out.status = next.into();
            if next == "failed" {
                b.out.reason = Some("printer fault: laminate misfeed".into());
            }
            for (o, input) in b.out.orders.iter_mut().zip(&b.input.orders) {
                o.status = order_status.into();
                if next == "mailed" {
                    o.tracking = Some(match &input.delivery {
                        Delivery::Mail { .. } => format!("9400{}", &uuid_digits(&o.order_id)),
                        Delivery::Pickup { office_id } => format!("OFFICE-{office_id}"),
                    });
                }
            }
        }
    }
}

/// 18 stable digits from an id, for a tracking number.
fn uuid_digits(id: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in id.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    format!("{:018}", h % 1_000_000_000_000_000_000)
}

async fn submit(State(v): State<Vendor>, body: axum::body::Bytes) -> Response {
    let input: BatchIn = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", &e.to_string()),
    };
    let cfg = &v.inner.0;
    let mut floor = v.inner.1.lock().expect("floor");
    if floor.faults.down {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "down",
            "the vendor is down; try later",
        );
    }
    if input.batch_id.is_empty() || input.batch_id.len() > 100 {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_batch_id",
            "batch_id must be 1..=100 bytes",
        );
    }
    if input.orders.is_empty() || input.orders.len() > cfg.max_batch {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_batch_size",
            &format!("a batch holds 1..={} orders", cfg.max_batch),
        );
    }
    for o in &input.orders {
        let decoded = base64::engine::general_purpose::STANDARD.decode(&o.payload_b64);
        if !decoded.is_ok_and(|p| p.starts_with(b"@\n\x1e\rANSI ")) {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                &format!("order {}: not an AAMVA card payload", o.order_id),
            );
        }
    }
    let ack = json!({"batch_id": input.batch_id, "accepted": input.orders.len()});
    if let Some(prior) = floor.batches.get(&input.batch_id) {
        if prior.input != input {
            return problem(
                StatusCode::CONFLICT,
                "batch_id_reused",
                "this batch id was sent with other orders",
            );
        }
        return (StatusCode::OK, Json(ack)).into_response();
    }
    let fail = if floor.faults.fail_next_batches > 0 {
        floor.faults.fail_next_batches -= 1;
        true
    } else {
        cfg.fail_rate > 0.0 && rand::rng().random::<f64>() < cfg.fail_rate
    };
    let out = BatchOut {
        batch_id: input.batch_id.clone(),
        status: "received".into(),
        reason: None,
        orders: input
            .orders
            .iter()
            .map(|o| OrderOut {
                order_id: o.order_id.clone(),
                status: "received".into(),
                tracking: None,
            })
            .collect(),
    };
    floor.order.push(input.batch_id.clone());
    floor.accepted += 1;
    floor
        .batches
        .insert(input.batch_id.clone(), Batch { input, out, fail });
    (StatusCode::ACCEPTED, Json(ack)).into_response()
}

async fn status(State(v): State<Vendor>, Path(id): Path<String>) -> Response {
    let floor = v.inner.1.lock().expect("floor");
    if floor.faults.down {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "down",
            "the vendor is down; try later",
        );
    }
    match floor.batches.get(&id) {
        Some(b) => Json(b.out.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, "not_found", "no such batch"),
    }
}

async fn advance(State(v): State<Vendor>) -> Response {
    v.advance();
    StatusCode::NO_CONTENT.into_response()
}

async fn faults(State(v): State<Vendor>, Json(f): Json<VendorFaults>) -> Response {
    v.set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}
