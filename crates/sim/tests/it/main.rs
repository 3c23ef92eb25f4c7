//! The simulator over real HTTP: what payments and fulfillment rely on.

mod records;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use plaza_kernel::testing::wait_until;
use plaza_sim::processor::{Faults, Processor, ProcessorConfig, signature};
use plaza_sim::vendor::{Vendor, VendorConfig, VendorFaults};
use serde_json::{Value, json};

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Deliveries: the signature header and the body.
type Deliveries = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver that keeps what it got, with the signature header.
async fn receiver() -> (String, Deliveries) {
    let got: Deliveries = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let sig = headers
                        .get("plaza-sim-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    keep.lock().unwrap().push((sig, body.to_vec()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    (format!("{}/hook", serve(app).await), got)
}

async fn processor(cfg: ProcessorConfig) -> (String, Processor) {
    let p = Processor::new(cfg);
    (serve(p.router()).await, p)
}

fn charge_body(card: &str, reference: &str) -> Value {
    json!({"amount": 3050, "currency": "USD", "card": card, "reference": reference, "description": "renewal"})
}

async fn post(http: &reqwest::Client, url: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = http.post(url).json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn charges_are_idempotent_and_declines_are_answered() {
    let (base, p) = processor(ProcessorConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/processor/v1/charges");
    let (s, first) = post(
        &http,
        &url,
        Some("k1"),
        &charge_body("4242 4242 4242 4242", "pi_1"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(first["status"], "succeeded");
    let (s, again) = post(
        &http,
        &url,
        Some("k1"),
        &charge_body("4242 4242 4242 4242", "pi_1"),
    )
    .await;
    assert_eq!((s, &again), (200, &first), "same key: the first answer");
    let (s, e) = post(
        &http,
        &url,
        Some("k1"),
        &charge_body("4242424242424242", "pi_other"),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (409, Some("idempotency_mismatch"))
    );
    let (s, e) = post(&http, &url, None, &charge_body("4242424242424242", "pi_2")).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("idempotency_key_required"))
    );
    let (s, d) = post(
        &http,
        &url,
        Some("k2"),
        &charge_body("4000000000000002", "pi_3"),
    )
    .await;
    assert_eq!(
        (s, d["decline_code"].as_str()),
        (402, Some("card_declined"))
    );
    let (s, e) = post(
        &http,
        &url,
        Some("k3"),
        &charge_body("4242424242424241", "pi_4"),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_card")));
    let recs = p.records();
    assert_eq!(
        recs.charges.len(),
        2,
        "one success, one decline; nothing twice"
    );
    // Looking up by reference finds what was charged.
    let found: Value = http
        .get(format!("{url}?reference=pi_1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["charges"][0]["charge_id"], first["charge_id"]);
}

#[tokio::test]
async fn a_timed_out_charge_took_effect_and_a_retry_returns_it() {
    let (base, p) = processor(ProcessorConfig {
        slow_ms: 400,
        ..ProcessorConfig::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let url = format!("{base}/processor/v1/charges");
    let body = charge_body("4000000000000119", "pi_slow");
    let sent = impatient
        .post(&url)
        .header("Idempotency-Key", "slow")
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err(), "the caller gave up");
    assert_eq!(p.records().charges.len(), 1, "but the card was charged");
    let (s, again) = post(&reqwest::Client::new(), &url, Some("slow"), &body).await;
    assert_eq!((s, again["status"].as_str()), (200, Some("succeeded")));
    assert_eq!(
        p.records().charges.len(),
        1,
        "the retry charged nothing more"
    );
}

#[tokio::test]
async fn refunds_partial_and_full_and_never_more() {
    let (base, p) = processor(ProcessorConfig::default()).await;
    let http = reqwest::Client::new();
    let (_, c) = post(
        &http,
        &format!("{base}/processor/v1/charges"),
        Some("c"),
        &charge_body("4242424242424242", "pi_r"),
    )
    .await;
    let url = format!("{base}/processor/v1/refunds");
    let id = c["charge_id"].as_str().unwrap();
    let (s, _) = post(
        &http,
        &url,
        Some("r1"),
        &json!({"charge_id": id, "amount": 1000}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, e) = post(
        &http,
        &url,
        Some("r2"),
        &json!({"charge_id": id, "amount": 2051}),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("amount_exceeds_remaining"))
    );
    let (s, _) = post(
        &http,
        &url,
        Some("r3"),
        &json!({"charge_id": id, "amount": 2050}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = post(
        &http,
        &url,
        Some("r3"),
        &json!({"charge_id": id, "amount": 2050}),
    )
    .await;
    assert_eq!(s, 200, "a repeated refund is answered, not refunded again");
    let recs = p.records();
    assert_eq!(recs.refunds.iter().map(|r| r.amount).sum::<i64>(), 3050);
    assert_eq!(recs.charges[0].refunded, 3050);
    // The day's settlement file lists the charge and both refunds.
    let day = {
        let ms = recs.charges[0].created_ms;
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{}", ms / 1000), "+%F"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let csv = http
        .get(format!("{base}/processor/v1/settlements?date={day}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("charge,") && lines[0].contains(",3050,USD,"));
    assert!(lines[1].contains(",-1000,") && lines[2].contains(",-2050,"));
}

#[tokio::test]
async fn webhooks_are_signed_and_some_arrive_twice() {
    let (hook, got) = receiver().await;
    let (base, _p) = processor(ProcessorConfig {
        webhook_url: Some(hook),
        webhook_secret: "s3cret".into(),
        ..ProcessorConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{base}/processor/v1/charges");
    post(
        &http,
        &url,
        Some("a"),
        &charge_body("4242424242424242", "once"),
    )
    .await;
    post(
        &http,
        &url,
        Some("b"),
        &charge_body("4000000000000259", "twice"),
    )
    .await;
    wait_until(Duration::from_secs(5), "three deliveries", || {
        let n = got.lock().unwrap().len();
        async move { n >= 3 }
    })
    .await;
    let got = got.lock().unwrap().clone();
    let mut twice = 0;
    for (sig, body) in &got {
        let t: i64 = sig
            .split(',')
            .next()
            .and_then(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(sig, &signature("s3cret", t, body), "signed with the secret");
        assert_ne!(sig, &signature("other", t, body));
        let ev: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(ev["type"], "charge.succeeded");
        if ev["data"]["reference"] == "twice" {
            twice += 1;
        }
    }
    assert_eq!(twice, 2, "the answer-twice card is reported twice");
}

#[tokio::test]
async fn faults_fail_before_or_lose_the_answer_after_charging() {
    let (base, p) = processor(ProcessorConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/processor/v1/charges");
    p.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (s, _) = post(
        &http,
        &url,
        Some("e"),
        &charge_body("4242424242424242", "e"),
    )
    .await;
    assert_eq!(s, 500);
    assert!(
        p.records().charges.is_empty(),
        "an error before charging charges nothing"
    );
    p.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    let (s, _) = post(
        &http,
        &url,
        Some("l"),
        &charge_body("4242424242424242", "l"),
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(p.records().charges.len(), 1, "a lost answer still charged");
    p.set_faults(Faults::default());
    let (s, c) = post(
        &http,
        &url,
        Some("l"),
        &charge_body("4242424242424242", "l"),
    )
    .await;
    assert_eq!((s, c["reference"].as_str()), (200, Some("l")));
    assert_eq!(p.records().charges.len(), 1);
}

fn payload() -> String {
    base64::engine::general_purpose::STANDARD
        .encode(b"@\n\x1e\rANSI 636025100001DL00310010DLDAQ1\r")
}

#[tokio::test]
async fn the_vendor_produces_mails_and_sometimes_fails() {
    let vendor = Vendor::new(VendorConfig {
        tick: None,
        ..VendorConfig::default()
    });
    let base = serve(vendor.router()).await;
    let http = reqwest::Client::new();
    let batch = |id: &str| {
        json!({"batch_id": id, "orders": [
            {"order_id": "o1", "payload_b64": payload(), "delivery": {"kind": "mail", "lines": ["1 MAIN ST", "HARRISBURG PA 17101"]}},
            {"order_id": "o2", "payload_b64": payload(), "delivery": {"kind": "pickup", "office_id": "off-1"}}
        ]})
    };
    let url = format!("{base}/vendor/v1/batches");
    let (s, ack) = post(&http, &url, None, &batch("b1")).await;
    assert_eq!((s, ack["accepted"].as_i64()), (202, Some(2)));
    let (s, _) = post(&http, &url, None, &batch("b1")).await;
    assert_eq!(s, 200, "a resubmitted batch is acknowledged again");
    assert_eq!(vendor.batches_accepted(), 1, "and produced once");
    let mut other = batch("b1");
    other["orders"][0]["order_id"] = json!("o9");
    let (s, _) = post(&http, &url, None, &other).await;
    assert_eq!(s, 409);
    vendor.set_faults(VendorFaults {
        fail_next_batches: 1,
        down: false,
    });
    let (s, _) = post(&http, &url, None, &batch("b2")).await;
    assert_eq!(s, 202);
    for _ in 0..3 {
        http.post(format!("{base}/vendor/v1/admin/advance"))
            .send()
            .await
            .unwrap();
    }
    let b1: Value = http
        .get(format!("{url}/b1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b1["status"], "mailed");
    assert!(
        b1["orders"][0]["tracking"]
            .as_str()
            .unwrap()
            .starts_with("9400")
    );
    assert_eq!(b1["orders"][1]["tracking"], "OFFICE-off-1");
    let b2: Value = http
        .get(format!("{url}/b2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b2["status"], "failed");
    assert!(b2["reason"].is_string());
    let mut bad = batch("b3");
    bad["orders"][0]["payload_b64"] = json!("bm90IGFhbXZh");
    let (s, e) = post(&http, &url, None, &bad).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_payload")));
    vendor.set_faults(VendorFaults {
        fail_next_batches: 0,
        down: true,
    });
    let (s, _) = post(&http, &url, None, &batch("b4")).await;
    assert_eq!(s, 503);
    let r = http
        .get(format!("{base}/vendor/v1/batches/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503, "down answers nothing but 503");
}
