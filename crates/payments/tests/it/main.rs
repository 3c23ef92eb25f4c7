//! Payments against the simulated processor over HTTP, on SQLite (and on
//! PostgreSQL when `PLAZA_TEST_DATABASE_URL` is set).

use std::sync::Arc;
use std::time::Duration;

use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::clock::SystemClock;
use plaza_kernel::db::StorageTarget;
use plaza_kernel::testing::{postgres_target, sqlite_target, wait_until};
use plaza_payments::app::Status;
use plaza_payments::fees::{FeeInput, FeeSchedule};
use plaza_payments::processor::HttpProcessor;
use plaza_payments::{Error, Payments, PaymentsConfig};
use plaza_policy::Policies;
use plaza_sim::processor::{Faults, Processor, ProcessorConfig};

const GOOD: &str = "4242 4242 4242 4242";
const DECLINE: &str = "4000000000000002";
const SLOW: &str = "4000000000000119";
const TWICE: &str = "4000000000000259";
const SECRET: &str = "whsec_test";

fn person(sub: &str, role: Role) -> Caller {
    Caller {
        subject: sub.into(),
        issuer: "https://id.plaza.test/oidc".into(),
        roles: vec![role],
        jurisdiction: Some("PA".into()),
    }
}

fn fees() -> FeeInput {
    FeeInput {
        licence_class: "C".into(),
        age: 40,
        late: false,
        real_id: false,
    }
}

struct World {
    payments: Payments,
    sim: Processor,
    http: reqwest::Client,
    sim_base: String,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// The processor simulator, and payments with a webhook receiver that
/// hands deliveries to the app as the gateway does.
async fn world(
    target: StorageTarget,
    sim_cfg: ProcessorConfig,
    timeout: Duration,
    settle_after_ms: i64,
) -> World {
    let db = plaza_payments::open_db(&target).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<Payments>();
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let slot: Arc<tokio::sync::OnceCell<Payments>> = Arc::default();
    let hook = {
        let slot = slot.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let slot = slot.clone();
                    let rx = rx.clone();
                    async move {
                        let app = slot
                            .get_or_init(|| async move {
                                rx.lock().await.take().unwrap().await.unwrap()
                            })
                            .await;
                        let sig = headers
                            .get("plaza-sim-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        match app.webhook(&body, sig).await {
                            Ok(_) => axum::http::StatusCode::OK,
                            Err(Error::BadSignature(_)) => axum::http::StatusCode::UNAUTHORIZED,
                            Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        }
                    }
                },
            ),
        )
    };
    let hook_url = format!("{}/hook", serve(hook).await);
    let sim = Processor::new(ProcessorConfig {
        webhook_url: Some(hook_url),
        webhook_secret: SECRET.into(),
        ..sim_cfg
    });
    let sim_base = serve(sim.router()).await;
    let payments = Payments::new(
        db,
        Arc::new(HttpProcessor::new(&sim_base, timeout)),
        FeeSchedule::shipped(),
        Arc::new(Policies::shipped()),
        Arc::new(SystemClock),
        PaymentsConfig {
            webhook_secret: SECRET.into(),
            settle_after_ms,
            attempts: 2,
            ..PaymentsConfig::default()
        },
    );
    let _ = tx.send(payments.clone());
    World {
        payments,
        sim,
        http: reqwest::Client::new(),
        sim_base,
    }
}

async fn default_world(target: StorageTarget) -> World {
    world(
        target,
        ProcessorConfig::default(),
        Duration::from_secs(5),
        0,
    )
    .await
}

/// The processor's succeeded charges for an intent, less refunds.
fn charged_at_processor(w: &World, intent: &str) -> (usize, i64) {
    let recs = w.sim.records();
    let charges: Vec<_> = recs
        .charges
        .iter()
        .filter(|c| c.reference == intent && c.status == "succeeded")
        .collect();
    let refunded: i64 = recs
        .refunds
        .iter()
        .filter(|r| r.reference == intent)
        .map(|r| r.amount)
        .sum();
    (
        charges.len(),
        charges.iter().map(|c| c.amount).sum::<i64>() - refunded,
    )
}

async fn assert_books_agree(w: &World) {
    let ledger = w.payments.check_ledger().await.unwrap();
    assert_eq!(ledger.total, 0, "every posting balanced");
    assert_eq!(ledger.unbalanced, 0);
    let recs = w.sim.records();
    let at_processor: i64 = recs
        .charges
        .iter()
        .filter(|c| c.status == "succeeded")
        .map(|c| c.amount)
        .sum::<i64>()
        - recs.refunds.iter().map(|r| r.amount).sum::<i64>();
    assert_eq!(
        ledger.clearing, at_processor,
        "the ledger holds what the processor took"
    );
}

async fn pay_flow(target: StorageTarget) {
    let w = default_world(target).await;
    let alice = person("alice", Role::Citizen);
    let intent = w
        .payments
        .create_intent(&alice, "key-1", "renewal-1", "Licence renewal", &fees())
        .await
        .unwrap();
    assert_eq!(
        (intent.amount, intent.status),
        (4300, Status::RequiresPayment)
    );
    let again = w
        .payments
        .create_intent(&alice, "key-1", "renewal-1", "Licence renewal", &fees())
        .await
        .unwrap();
    assert_eq!(again.id, intent.id, "same key, same intent");
    let other = w
        .payments
        .create_intent(&alice, "key-1", "renewal-2", "Licence renewal", &fees())
        .await;
    assert!(matches!(other, Err(Error::IdempotencyMismatch)));
    assert_eq!(
        w.payments
            .create_intent(&alice, "", "r", "d", &fees())
            .await
            .unwrap_err()
            .public()
            .code,
        "payments.invalid"
    );

    // Bob may not see or pay Alice's intent; a clerk may see it.
    let bob = person("bob", Role::Citizen);
    assert!(matches!(
        w.payments.get(&bob, &intent.id).await,
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        w.payments.pay(&bob, &intent.id, GOOD).await,
        Err(Error::Denied(_))
    ));
    w.payments
        .get(&person("c", Role::Clerk), &intent.id)
        .await
        .unwrap();

    // A declined card, then a good one: one charge in all.
    let declined = w
        .payments
        .pay(&alice, &intent.id, DECLINE)
        .await
        .unwrap_err();
    assert_eq!(declined.public().code, "payments.card_declined");
    assert_eq!(
        w.payments.get(&alice, &intent.id).await.unwrap().status,
        Status::Failed
    );
    assert!(matches!(
        w.payments.pay(&alice, &intent.id, "12").await,
        Err(Error::Invalid {
            field: "card_number",
            ..
        })
    ));
    let paid = w.payments.pay(&alice, &intent.id, GOOD).await.unwrap();
    assert_eq!((paid.status, paid.attempt), (Status::Succeeded, 2));
    let repeat = w.payments.pay(&alice, &intent.id, GOOD).await.unwrap();
    assert_eq!(
        repeat.charge_id, paid.charge_id,
        "paying a paid intent charges nothing"
    );
    assert_eq!(charged_at_processor(&w, &intent.id), (1, 4300));

    let receipt = w.payments.receipt(&alice, &intent.id).await.unwrap();
    assert_eq!(receipt.transaction_id, paid.charge_id.clone().unwrap());
    assert_eq!(receipt.payer, alice.actor());
    assert_eq!(receipt.reason, "Licence renewal");
    assert_eq!(receipt.amount, 4300);
    assert!(receipt.paid_at_ms > 0);

    // Refunds: the citizen may not; an officer may, partly then fully, and
    // never more than was paid.
    assert!(matches!(
        w.payments
            .refund(&alice, &intent.id, "rf-1", 1000, "changed mind")
            .await,
        Err(Error::Denied(_))
    ));
    let officer = person("olga", Role::LicensingOfficer);
    let part = w
        .payments
        .refund(&officer, &intent.id, "rf-1", 1000, "card not needed")
        .await
        .unwrap();
    assert_eq!(
        (part.status.as_str(), part.intent.refunded),
        ("succeeded", 1000)
    );
    let same = w
        .payments
        .refund(&officer, &intent.id, "rf-1", 1000, "card not needed")
        .await
        .unwrap();
    assert_eq!(
        same.refund_id, part.refund_id,
        "a repeated refund is the same refund"
    );
    let too_much = w
        .payments
        .refund(&officer, &intent.id, "rf-2", 3301, "x")
        .await
        .unwrap_err();
    assert_eq!(too_much.public().code, "payments.refund_too_large");
    let rest = w
        .payments
        .refund(&officer, &intent.id, "rf-3", 0, "application cancelled")
        .await
        .unwrap();
    assert_eq!((rest.amount, rest.intent.refunded), (3300, 4300));
    assert_eq!(charged_at_processor(&w, &intent.id), (1, 0));
    assert_books_agree(&w).await;

    // Reconciliation: every movement of the day matches; a charge made at
    // the processor behind Plaza's back is listed.
    let auditor = person("ada", Role::Auditor);
    let day = plaza_payments::app::utc_date(paid.paid_at_ms.unwrap());
    assert!(matches!(
        w.payments.reconcile(&alice, &day).await,
        Err(Error::Denied(_))
    ));
    let clean = w.payments.reconcile(&auditor, &day).await.unwrap();
    assert_eq!(
        (clean.matched, clean.differences.len()),
        (3, 0),
        "{clean:?}"
    );
    assert_eq!(clean.ledger_total, clean.processor_total);
    let stray: serde_json::Value = w
        .http
        .post(format!("{}/processor/v1/charges", w.sim_base))
        .header("Idempotency-Key", "stray")
        .json(&serde_json::json!({"amount": 999, "currency": "USD", "card": GOOD, "reference": "not-plaza"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report = w.payments.reconcile(&auditor, &day).await.unwrap();
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].kind, "missing_in_ledger");
    assert_eq!(
        report.differences[0].processor_id,
        stray["charge_id"].as_str().unwrap()
    );
    assert_eq!(report.differences[0].processor_amount, 999);
}

#[tokio::test]
async fn pay_refund_receipt_reconcile_on_sqlite() {
    pay_flow(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn pay_refund_receipt_reconcile_on_postgres() {
    pay_flow(postgres_target()).await;
}

#[tokio::test]
async fn a_timed_out_charge_is_settled_from_the_processor_and_never_repeated() {
    let w = world(
        sqlite_target(),
        ProcessorConfig {
            slow_ms: 600,
            late_webhook_ms: 30_000,
            ..ProcessorConfig::default()
        },
        Duration::from_millis(150),
        0,
    )
    .await;
    let alice = person("alice", Role::Citizen);
    // The first call times out; the retry under the same key gets the
    // charge the processor already made.
    let intent = w
        .payments
        .create_intent(&alice, "k", "renewal-slow", "Licence renewal", &fees())
        .await
        .unwrap();
    let paid = w.payments.pay(&alice, &intent.id, SLOW).await.unwrap();
    assert_eq!((paid.status, paid.attempt), (Status::Succeeded, 1));
    assert_eq!(charged_at_processor(&w, &intent.id), (1, 4300));

    // A call abandoned while the processor holds its answer (the process
    // died), with the webhook late: the recovery loop finds the charge and
    // settles the intent.
    w.sim.set_faults(Faults {
        late_webhook_rate: 1.0,
        ..Faults::default()
    });
    let intent = w
        .payments
        .create_intent(&alice, "k2", "renewal-slow-2", "Licence renewal", &fees())
        .await
        .unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(60),
        w.payments.pay(&alice, &intent.id, SLOW),
    )
    .await;
    assert!(cut.is_err(), "abandoned mid-call");
    assert_eq!(
        w.payments.get(&alice, &intent.id).await.unwrap().status,
        Status::Processing
    );
    let r = w.payments.recover_once().await.unwrap();
    assert_eq!(r.settled, 1);
    let settled = w.payments.get(&alice, &intent.id).await.unwrap();
    assert_eq!(settled.status, Status::Succeeded);
    assert_eq!(charged_at_processor(&w, &intent.id), (1, 4300));
    assert_books_agree(&w).await;
}

#[tokio::test]
async fn webhooks_are_verified_and_applied_once() {
    let w = default_world(sqlite_target()).await;
    let e = w.payments.webhook(b"{}", "t=1,v1=00").await.unwrap_err();
    assert_eq!(e.public().code, "payments.webhook_signature_invalid");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = br#"{"id":"evt_1","type":"charge.updated","created_ms":1,"data":{}}"#;
    let sig = plaza_sim::processor::signature(SECRET, now, body);
    assert!(w.payments.webhook(body, &sig).await.unwrap(), "applied");
    assert!(
        !w.payments.webhook(body, &sig).await.unwrap(),
        "seen before"
    );
    let old = plaza_sim::processor::signature(SECRET, now - 3600, body);
    assert!(
        w.payments.webhook(body, &old).await.is_err(),
        "too old to trust"
    );

    // The answer-twice card: its webhook arrives twice and is booked once.
    let alice = person("alice", Role::Citizen);
    let intent = w
        .payments
        .create_intent(&alice, "k2", "renewal-twice", "Licence renewal", &fees())
        .await
        .unwrap();
    w.payments.pay(&alice, &intent.id, TWICE).await.unwrap();
    wait_until(Duration::from_secs(10), "both deliveries", || {
        let n = w.sim.records().webhooks_sent;
        async move { n >= 2 }
    })
    .await;
    assert_eq!(w.payments.check_ledger().await.unwrap().journals, 1);
    assert_books_agree(&w).await;
}

#[tokio::test]
async fn a_second_charge_for_a_paid_intent_is_refunded_at_once() {
    let w = default_world(sqlite_target()).await;
    let alice = person("alice", Role::Citizen);
    let intent = w
        .payments
        .create_intent(&alice, "k", "renewal-dup", "Licence renewal", &fees())
        .await
        .unwrap();
    w.payments.pay(&alice, &intent.id, GOOD).await.unwrap();
    // The processor executes a charge for the same intent that Plaza
    // thought lost (an old attempt's request arriving late).
    w.http
        .post(format!("{}/processor/v1/charges", w.sim_base))
        .header("Idempotency-Key", "late-attempt")
        .json(&serde_json::json!({"amount": 4300, "currency": "USD", "card": GOOD, "reference": intent.id}))
        .send()
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the duplicate refunded and booked",
        || {
            let n = charged_at_processor(&w, &intent.id);
            let payments = w.payments.clone();
            async move { n == (2, 4300) && payments.check_ledger().await.unwrap().clearing == 4300 }
        },
    )
    .await;
    let after = w.payments.get(&alice, &intent.id).await.unwrap();
    assert_eq!(after.refunded, 0, "the citizen's own payment is untouched");
    assert_books_agree(&w).await;
}

/// Thousands of payments while the processor times out, errors, loses
/// answers and delivers webhooks twice and late, and callers give up at
/// arbitrary points (each abandoned call stops wherever it was, as a killed
/// process would). Afterwards every intent is charged exactly once or not
/// at all, and the processor and the ledger agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_payment_is_lost_or_doubled_under_faults() {
    let w = Arc::new(
        world(
            sqlite_target(),
            ProcessorConfig {
                slow_ms: 250,
                late_webhook_ms: 300,
                faults: Faults {
                    timeout_rate: 0.05,
                    error_rate: 0.05,
                    lost_answer_rate: 0.05,
                    duplicate_webhook_rate: 0.2,
                    late_webhook_rate: 0.2,
                },
                ..ProcessorConfig::default()
            },
            Duration::from_millis(120),
            // Longer than two calls of 120 ms and their backoff: no
            // attempt is reopened while its request may still land.
            1_000,
        )
        .await,
    );
    const N: usize = 1000;
    let alice = person("alice", Role::Citizen);
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (w, alice, sem) = (w.clone(), alice.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let intent = w
                .payments
                .create_intent(
                    &alice,
                    &format!("k{i}"),
                    &format!("r{i}"),
                    "Licence renewal",
                    &fees(),
                )
                .await
                .unwrap();
            let card = if i % 10 == 0 { DECLINE } else { GOOD };
            // Some calls are abandoned part-way (a crash), then retried.
            for round in 0..6u64 {
                let call = w.payments.pay(&alice, &intent.id, card);
                let cut = if (i as u64 + round).is_multiple_of(7) {
                    Duration::from_millis(5 + (i as u64 * 13 % 60))
                } else {
                    Duration::from_secs(10)
                };
                match tokio::time::timeout(cut, call).await {
                    Ok(Ok(_)) => return (intent.id, Some(true)),
                    Ok(Err(Error::Declined(_))) => return (intent.id, Some(false)),
                    _ => {
                        // Let the recovery loop look at stalled attempts.
                        w.payments.recover_once().await.unwrap();
                    }
                }
            }
            // No answer within six tries: settled by recovery either way.
            (intent.id, None)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    // Settle whatever is still in flight.
    wait_until(Duration::from_secs(30), "no attempt left in flight", || {
        let w = w.clone();
        async move {
            w.payments.recover_once().await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM payment_intents WHERE status = 'processing'",
            )
            .fetch_one(w.payments.db().reader())
            .await
            .unwrap();
            n == 0
        }
    })
    .await;
    let mut unpaid = 0;
    for (id, expect_paid) in &outcomes {
        let (n, net) = charged_at_processor(&w, id);
        let intent = w.payments.get(&alice, id).await.unwrap();
        if intent.status == Status::Succeeded {
            assert_eq!((n, net), (1, 4300), "intent {id} charged exactly once");
        } else {
            assert_eq!(n, 0, "an unpaid intent {id} was not charged");
            unpaid += 1;
        }
        match expect_paid {
            Some(true) => assert_eq!(
                intent.status,
                Status::Succeeded,
                "an intent whose payment was answered is paid"
            ),
            Some(false) => assert_ne!(
                intent.status,
                Status::Succeeded,
                "a declined card never pays"
            ),
            None => {}
        }
    }
    let declined = outcomes.iter().filter(|o| o.1 == Some(false)).count();
    let unanswered = outcomes.iter().filter(|o| o.1.is_none()).count();
    assert!(
        declined <= N / 10 && declined + unanswered >= N / 10,
        "every tenth card is declined (some answers may not have come back)"
    );
    assert!(
        (declined..=declined + unanswered).contains(&unpaid),
        "unpaid: the declined, and at most the unanswered ({unpaid}, {declined}, {unanswered})"
    );
    wait_until(Duration::from_secs(20), "late webhooks delivered", || {
        let w = w.clone();
        async move {
            let l = w.payments.check_ledger().await.unwrap();
            let recs = w.sim.records();
            let taken: i64 = recs
                .charges
                .iter()
                .filter(|c| c.status == "succeeded")
                .map(|c| c.amount)
                .sum::<i64>()
                - recs.refunds.iter().map(|r| r.amount).sum::<i64>();
            l.clearing == taken
        }
    })
    .await;
    assert_books_agree(&w).await;
    let ledger = w.payments.check_ledger().await.unwrap();
    assert_eq!(
        ledger.journals as usize,
        N - unpaid,
        "one journal entry per paid intent"
    );
}
