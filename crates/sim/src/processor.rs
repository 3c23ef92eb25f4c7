//! A card-payment processor, in the shape of the well-known ones.
//!
//! ```text
//! POST /processor/v1/charges          Idempotency-Key; {amount, currency, card, reference, description}
//! GET  /processor/v1/charges/{id}
//! GET  /processor/v1/charges?reference=R
//! POST /processor/v1/refunds          Idempotency-Key; {charge_id, amount}
//! GET  /processor/v1/settlements?date=YYYY-MM-DD   (CSV)
//! PUT  /processor/v1/admin/faults     {timeout_rate, error_rate, lost_answer_rate, ...}
//! GET  /processor/v1/admin/records    every charge and refund, for tests
//! ```
//!
//! Amounts are integer cents. Sandbox cards (any expiry, any CVC):
//!
//! | card | outcome |
//! | --- | --- |
//! | 4242 4242 4242 4242 | succeeds |
//! | 4000 0000 0000 0002 | declined (`card_declined`) |
//! | 4000 0000 0000 9995 | declined (`insufficient_funds`) |
//! | 4000 0000 0000 0119 | charged, but the answer comes only after `slow_ms` (the caller times out) |
//! | 4000 0000 0000 0259 | charged, and reported twice: its webhook is always delivered twice |
//!
//! A request repeated with the same idempotency key gets the first answer
//! and charges nothing more; the same key with a different request is
//! refused (409). Webhooks are signed `Plaza-Sim-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">` and retried until the
//! receiver answers 2xx; faults make some arrive twice or late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Faults the processor injects, each a probability per request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Charged, then the answer is held for `slow_ms`.
    pub timeout_rate: f64,
    /// Answers 500 before doing anything.
    pub error_rate: f64,
    /// Charged, then answers 502 (the answer was lost on the way).
    pub lost_answer_rate: f64,
    /// The webhook is delivered twice.
    pub duplicate_webhook_rate: f64,
    /// The webhook is delivered after `late_webhook_ms`.
    pub late_webhook_rate: f64,
}

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Where webhooks go; none: no webhooks.
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub slow_ms: u64,
    pub late_webhook_ms: u64,
    pub faults: Faults,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            webhook_url: None,
            webhook_secret: "whsec_plaza_sim".into(),
            slow_ms: 5_000,
            late_webhook_ms: 2_000,
            faults: Faults::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: String,
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub decline_code: Option<String>,
    pub refunded: i64,
    pub created_ms: i64,
    pub card_last4: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub charge_id: String,
    pub reference: String,
    pub amount: i64,
    pub created_ms: i64,
}

/// Everything the processor has done, for tests to compare with a ledger.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Records {
    pub charges: Vec<Charge>,
    pub refunds: Vec<Refund>,
    pub webhooks_sent: u64,
}

struct Answer {
    fingerprint: Vec<u8>,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct Book {
    charges: HashMap<String, Charge>,
    order: Vec<String>,
    refunds: Vec<Refund>,
    answers: HashMap<String, Answer>,
    faults: Faults,
    webhooks_sent: u64,
}

/// The processor. Cheap to clone.
#[derive(Clone)]
pub struct Processor {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ProcessorConfig,
    book: Mutex<Book>,
    http: reqwest::Client,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA-256("<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    plaza_kernel::webhook::sign(secret, t, body)
}

fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = (c - b'0') as u32;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[derive(Deserialize)]
struct ChargeRequest {
    amount: i64,
    currency: String,
    card: String,
    reference: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct RefundRequest {
    charge_id: String,
    amount: i64,
}

#[derive(Deserialize)]
struct ByReference {
    reference: Option<String>,
}

#[derive(Deserialize)]
struct ByDate {
    date: String,
}

/// What to do with the answer after the book is updated.
enum Delivery {
    Now,
    Slow,
    Lost,
}

impl Processor {
    pub fn new(cfg: ProcessorConfig) -> Processor {
        plaza_kernel::install_crypto_provider();
        let faults = cfg.faults.clone();
        Processor {
            inner: Arc::new(Inner {
                cfg,
                book: Mutex::new(Book {
                    faults,
                    ..Book::default()
                }),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("HTTP client"),
            }),
        }
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route(
                "/processor/v1/charges",
                post(create_charge).get(charges_by_reference),
            )
            .route("/processor/v1/charges/{id}", get(get_charge))
            .route("/processor/v1/refunds", post(create_refund))
            .route("/processor/v1/settlements", get(settlement))
            .route("/processor/v1/admin/faults", put(set_faults))
            .route("/processor/v1/admin/records", get(records))
            .with_state(self.clone())
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.inner.book.lock().expect("book").faults = faults;
    }

    /// Everything charged and refunded so far.
    pub fn records(&self) -> Records {
        let book = self.inner.book.lock().expect("book");
        Records {
            charges: book
                .order
                .iter()
                .filter_map(|id| book.charges.get(id).cloned())
                .collect(),
            refunds: book.refunds.clone(),
            webhooks_sent: book.webhooks_sent,
        }
    }

    /// The settlement file of one UTC day (`YYYY-MM-DD`), as CSV: every
    /// succeeded charge and every refund made that day.
    pub fn settlement_csv(&self, date: &str) -> Option<String> {
        let day = day_number(date)?;
        let book = self.inner.book.lock().expect("book");
        let mut out = String::from("type,id,charge_id,reference,amount,currency,created_ms\n");
        for id in &book.order {
            let c = &book.charges[id];
            if c.status == "succeeded" && c.created_ms.div_euclid(86_400_000) == day {
                out.push_str(&format!(
                    "charge,{},{},{},{},{},{}\n",
                    c.charge_id, c.charge_id, c.reference, c.amount, c.currency, c.created_ms
                ));
            }
        }
        for r in &book.refunds {
            if r.created_ms.div_euclid(86_400_000) == day {
                out.push_str(&format!(
                    "refund,{},{},{},{},USD,{}\n",
                    r.refund_id, r.charge_id, r.reference, -r.amount, r.created_ms
                ));
            }
        }
        Some(out)
    }

    fn roll(p: f64) -> bool {
        p > 0.0 && rand::rng().random::<f64>() < p
    }

    /// Sends `event` to the webhook receiver in the background, as the
    /// faults say: once, twice, late.
    fn emit(&self, kind: &str, data: Value, always_twice: bool) {
        let Some(url) = self.inner.cfg.webhook_url.clone() else {
            return;
        };
        let (twice, late) = {
            let book = self.inner.book.lock().expect("book");
            (
                always_twice || Self::roll(book.faults.duplicate_webhook_rate),
                Self::roll(book.faults.late_webhook_rate),
            )
        };
        let body = serde_json::to_vec(&json!({
            "id": format!("evt_{}", uuid::Uuid::now_v7().simple()),
            "type": kind,
            "created_ms": now_ms(),
            "data": data,
        }))
        .expect("JSON");
        let this = self.clone();
        tokio::spawn(async move {
            if late {
                tokio::time::sleep(Duration::from_millis(this.inner.cfg.late_webhook_ms)).await;
            }
            for _ in 0..if twice { 2 } else { 1 } {
                this.deliver(&url, &body).await;
            }
        });
    }

    async fn deliver(&self, url: &str, body: &[u8]) {
        let mut wait = Duration::from_millis(50);
        for _ in 0..30 {
            let sig = signature(&self.inner.cfg.webhook_secret, now_ms() / 1000, body);
            let sent = self
                .inner
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("Plaza-Sim-Signature", sig)
                .body(body.to_vec())
                .send()
                .await;
            if let Ok(r) = sent
                && r.status().is_success()
            {
                self.inner.book.lock().expect("book").webhooks_sent += 1;
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
        tracing::warn!(url, "webhook not accepted after 30 attempts; giving up");
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = date[..4].parse().ok()?;
    let m: i64 = date[5..7].parse().ok()?;
    let d: i64 = date[8..].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, Box<Response>> {
    match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(k) if !k.is_empty() && k.len() <= 255 => Ok(k.to_owned()),
        _ => Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "Send an Idempotency-Key header of 1 to 255 characters.",
        ))),
    }
}

/// The stored answer for `key`, if the same request was seen before.
fn replay(book: &Book, key: &str, body: &[u8]) -> Option<Response> {
    let prior = book.answers.get(key)?;
    if prior.fingerprint != body {
        return Some(problem(
            StatusCode::CONFLICT,
            "idempotency_mismatch",
            "This idempotency key was used with a different request.",
        ));
    }
    Some((prior.status, Json(prior.body.clone())).into_response())
}

async fn answer(p: &Processor, delivery: Delivery, status: StatusCode, body: Value) -> Response {
    match delivery {
        Delivery::Now => (status, Json(body)).into_response(),
        Delivery::Slow => {
            tokio::time::sleep(Duration::from_millis(p.inner.cfg.slow_ms)).await;
            (status, Json(body)).into_response()
        }
        Delivery::Lost => problem(
            StatusCode::BAD_GATEWAY,
            "upstream_lost",
            "The answer was lost on the way.",
        ),
    }
}

async fn create_charge(State(p): State<Processor>, headers: HeaderMap, raw: Bytes) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let (delivery, status, body, event) = {
        let mut book = p.inner.book.lock().expect("book");
        if let Some(r) = replay(&book, &key, &raw) {
            return r;
        }
        if Processor::roll(book.faults.error_rate) {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "processor_error",
                "Try again.",
            );
        }
        let req: ChargeRequest = match serde_json::from_slice(&raw) {
            Ok(r) => r,
            Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", &e.to_string()),
        };
        let card: String = req.card.chars().filter(|c| !c.is_whitespace()).collect();
        if req.amount <= 0 || req.amount > 100_000_000 {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_amount",
                "amount must be 1..=100000000 cents",
            );
        }
        if req.currency != "USD" {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_currency",
                "only USD is accepted",
            );
        }
        if card.len() != 16 || !card.bytes().all(|b| b.is_ascii_digit()) || !luhn_ok(&card) {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_card",
                "not a valid card number",
            );
        }
        if req.reference.is_empty() || req.reference.len() > 200 {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_reference",
                "reference must be 1..=200 bytes",
            );
        }
        let _ = req.description;
        let decline = match card.as_str() {
            "4000000000000002" => Some("card_declined"),
            "4000000000009995" => Some("insufficient_funds"),
            _ => None,
        };
        let charge = Charge {
            charge_id: format!("ch_{}", uuid::Uuid::now_v7().simple()),
            reference: req.reference,
            amount: req.amount,
            currency: req.currency,
            status: if decline.is_some() {
                "failed"
            } else {
                "succeeded"
            }
            .into(),
            decline_code: decline.map(str::to_owned),
            refunded: 0,
            created_ms: now_ms(),
            card_last4: card[12..].to_owned(),
        };
        let body = serde_json::to_value(&charge).expect("JSON");
        let status = if decline.is_some() {
            StatusCode::PAYMENT_REQUIRED
        } else {
            StatusCode::OK
        };
        book.order.push(charge.charge_id.clone());
        book.charges
            .insert(charge.charge_id.clone(), charge.clone());
        book.answers.insert(
            key,
            Answer {
                fingerprint: raw.to_vec(),
                status,
                body: body.clone(),
            },
        );
        let delivery = if card == "4000000000000119" || Processor::roll(book.faults.timeout_rate) {
            Delivery::Slow
        } else if Processor::roll(book.faults.lost_answer_rate) {
            Delivery::Lost
        } else {
            Delivery::Now
        };
        let kind = if decline.is_some() {
            "charge.failed"
        } else {
            "charge.succeeded"
        };
        (
            delivery,
            status,
            body.clone(),
            (kind, body, card == "4000000000000259"),
        )
    };
    p.emit(event.0, event.1, event.2);
    answer(&p, delivery, status, body).await
}

async fn get_charge(State(p): State<Processor>, Path(id): Path<String>) -> Response {
    let book = p.inner.book.lock().expect("book");
    match book.charges.get(&id) {
        Some(c) => Json(c.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, "not_found", "no such charge"),
    }
}

async fn charges_by_reference(
    State(p): State<Processor>,
    Query(q): Query<ByReference>,
) -> Response {
    let Some(reference) = q.reference else {
        return problem(
            StatusCode::BAD_REQUEST,
            "reference_required",
            "?reference= is required",
        );
    };
    let book = p.inner.book.lock().expect("book");
    let found: Vec<&Charge> = book
        .order
        .iter()
        .map(|id| &book.charges[id])
        .filter(|c| c.reference == reference)
        .collect();
    Json(json!({ "charges": found })).into_response()
}

async fn create_refund(State(p): State<Processor>, headers: HeaderMap, raw: Bytes) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let (delivery, body) = {
        let mut book = p.inner.book.lock().expect("book");
        if let Some(r) = replay(&book, &key, &raw) {
            return r;
        }
        if Processor::roll(book.faults.error_rate) {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "processor_error",
                "Try again.",
            );
        }
        let req: RefundRequest = match serde_json::from_slice(&raw) {
            Ok(r) => r,
            Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", &e.to_string()),
        };
        let Some(charge) = book.charges.get_mut(&req.charge_id) else {
            return problem(StatusCode::NOT_FOUND, "not_found", "no such charge");
        };
        if charge.status != "succeeded" {
            return problem(
                StatusCode::BAD_REQUEST,
                "not_refundable",
                "the charge did not succeed",
            );
        }
        if req.amount <= 0 || req.amount > charge.amount - charge.refunded {
            return problem(
                StatusCode::BAD_REQUEST,
                "amount_exceeds_remaining",
                "a refund cannot exceed what is left of the charge",
            );
        }
        charge.refunded += req.amount;
        let refund = Refund {
            refund_id: format!("re_{}", uuid::Uuid::now_v7().simple()),
            charge_id: charge.charge_id.clone(),
            reference: charge.reference.clone(),
            amount: req.amount,
            created_ms: now_ms(),
        };
        let body = serde_json::to_value(&refund).expect("JSON");
        book.refunds.push(refund);
        book.answers.insert(
            key,
            Answer {
                fingerprint: raw.to_vec(),
                status: StatusCode::OK,
                body: body.clone(),
            },
        );
        let delivery = if Processor::roll(book.faults.lost_answer_rate) {
            Delivery::Lost
        } else {
            Delivery::Now
        };
        (delivery, body)
    };
    p.emit("charge.refunded", body.clone(), false);
    answer(&p, delivery, StatusCode::OK, body).await
}

async fn settlement(State(p): State<Processor>, Query(q): Query<ByDate>) -> Response {
    match p.settlement_csv(&q.date) {
        Some(csv) => ([("content-type", "text/csv")], csv).into_response(),
        None => problem(StatusCode::BAD_REQUEST, "invalid_date", "use YYYY-MM-DD"),
    }
}

async fn set_faults(State(p): State<Processor>, Json(f): Json<Faults>) -> Response {
    p.set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

async fn records(State(p): State<Processor>) -> Response {
    Json(p.records()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn luhn_and_days() {
        assert!(super::luhn_ok("4242424242424242"));
        assert!(super::luhn_ok("4000000000000119"));
        assert!(super::luhn_ok("4000000000000259"));
        assert!(super::luhn_ok("4000000000009995"));
        assert!(!super::luhn_ok("4242424242424241"));
        assert_eq!(super::day_number("1970-01-01"), Some(0));
        assert_eq!(super::day_number("2026-11-30"), Some(20_787));
        assert_eq!(super::day_number("2026-13-01"), None);
    }
}
