//! Thousands of card payments through the payments service in a `plaza`
//! process of its own, while the simulated processor times out, errors,
//! loses answers and sends webhooks twice and late, and the process is
//! killed (SIGKILL) at random moments and started again. At the end every
//! intent is charged exactly once or not at all, the processor's records
//! agree with the ledger, and the day reconciles without a difference.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plaza_contracts::payments::v1 as pb;
use plaza_contracts::payments::v1::payments_service_client::PaymentsServiceClient;
use plaza_kernel::auth::{CALLER_METADATA, Caller, CallerSeal, Role};
use plaza_kernel::testing::temp_dir;
use plaza_sim::processor::{Faults, Processor, ProcessorConfig};
use tokio::sync::Mutex;
use tonic::Code;

use super::Server;

const PAYMENTS: usize = 2_000;
const AT_ONCE: usize = 16;
const GOOD: &str = "4242424242424242";
const DECLINE: &str = "4000000000000002";

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The citizen every payment is made for, sealed with the installation's
/// internal key as the gateway would.
fn sealed(seal: &CallerSeal, role: Role) -> String {
    let caller = Caller {
        subject: format!("{role:?}-kill-test").to_lowercase(),
        issuer: "https://id.plaza.test/oidc".into(),
        roles: vec![role],
        jurisdiction: None,
    };
    seal.seal(&caller, plaza_kernel::clock::now_ms())
}

fn request<T>(seal: &CallerSeal, body: T) -> tonic::Request<T> {
    as_role(seal, Role::Citizen, body)
}

fn as_role<T>(seal: &CallerSeal, role: Role, body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert(CALLER_METADATA, sealed(seal, role).parse().unwrap());
    r.set_timeout(Duration::from_secs(5));
    r
}

async fn client(grpc: &str) -> Option<PaymentsServiceClient<tonic::transport::Channel>> {
    PaymentsServiceClient::connect(format!("http://{grpc}"))
        .await
        .ok()
}

/// Whether an error is the process dying, the processor failing or an
/// attempt still in flight: worth another try with the same intent.
fn worth_retrying(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::AlreadyExists
            | Code::Internal
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_killed_at_random_charge_each_intent_once_or_not_at_all() {
    let dir = temp_dir("payments-kill");
    let http = free_port();
    let grpc = free_port();
    let processor = Processor::new(ProcessorConfig {
        webhook_url: Some(format!(
            "http://{http}{}",
            plaza_gateway::routes::renewals::WEBHOOK_PATH
        )),
        // Held answers outlast the service's 300 ms call timeout.
        slow_ms: 900,
        late_webhook_ms: 400,
        faults: Faults {
            timeout_rate: 0.03,
            error_rate: 0.03,
            lost_answer_rate: 0.03,
            duplicate_webhook_rate: 0.2,
            late_webhook_rate: 0.2,
        },
        ..ProcessorConfig::default()
    });
    let vendor = plaza_sim::vendor::Vendor::new(plaza_sim::vendor::VendorConfig {
        tick: None,
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = format!("http://{}", listener.local_addr().unwrap());
    let app = plaza_sim::router(processor.clone(), vendor);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let env = vec![
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_PAYMENTS_PROCESSOR_URL", sim.clone()),
        ("PLAZA_FULFILLMENT_VENDOR_URL", sim.clone()),
        ("PLAZA_PAYMENTS_PROCESSOR_TIMEOUT_MS", "300".to_owned()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "200".to_owned()),
    ];
    // Payments alone in the process that is killed; the gateway (which
    // takes the processor's webhooks) and the rest in another.
    let args: Vec<String> = ["serve", "--services", "payments", "--grpc", &grpc]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rest_env = env.clone();
    rest_env.push(("PLAZA_ENDPOINT_PAYMENTS", format!("http://{grpc}")));
    let services = "offices,audit,identity,vault,address,photo,fulfillment,renewal,gateway";
    let rest_args = [
        "serve",
        "--services",
        services,
        "--http",
        &http,
        "--grpc",
        "127.0.0.1:0",
    ];
    let start = {
        let (args, env) = (args.clone(), env.clone());
        move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            Server::start(&a, &env)
        }
    };
    let server = Arc::new(Mutex::new(start()));
    // Its log would be mostly the gateway's warnings while payments is down.
    let mut rest = Server::start_logging(&rest_args, &rest_env, std::process::Stdio::null());
    let key_hex = std::fs::read_to_string(dir.join("data/keys/internal-caller.key")).unwrap();
    let key: [u8; 32] = plaza_kernel::hex::decode(key_hex.trim())
        .unwrap()
        .try_into()
        .unwrap();
    let seal = Arc::new(CallerSeal::from_key(key));

    // The killer: SIGKILL at a random moment, start again, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (server, stop, kills, start) =
            (server.clone(), stop.clone(), kills.clone(), start.clone());
        tokio::spawn(async move {
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            while !stop.load(Ordering::SeqCst) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                tokio::time::sleep(Duration::from_millis(300 + state % 1_200)).await;
                let mut s = server.lock().await;
                s.child.kill().unwrap();
                s.child.wait().unwrap();
                kills.fetch_add(1, Ordering::SeqCst);
                *s = tokio::task::block_in_place(&start);
            }
        })
    };

    let sem = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut tasks = Vec::new();
    for i in 0..PAYMENTS {
        let (sem, seal, grpc) = (sem.clone(), seal.clone(), grpc.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let card = if i % 10 == 0 { DECLINE } else { GOOD };
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut intent: Option<String> = None;
            while Instant::now() < deadline {
                let Some(mut c) = client(&grpc).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let id = match &intent {
                    Some(id) => id.clone(),
                    None => match c
                        .create_intent(request(
                            &seal,
                            pb::CreateIntentRequest {
                                idempotency_key: format!("kill-{i}"),
                                reference: format!("ref-{i}"),
                                description: "Licence renewal".into(),
                                fees: Some(pb::QuoteRequest {
                                    licence_class: "C".into(),
                                    age: 40,
                                    late: false,
                                    real_id: false,
                                }),
                            },
                        ))
                        .await
                    {
                        Ok(r) => {
                            let id = r.into_inner().id;
                            intent = Some(id.clone());
                            id
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                match c
                    .pay(request(
                        &seal,
                        pb::PayRequest {
                            intent_id: id.clone(),
                            card_number: card.into(),
                        },
                    ))
                    .await
                {
                    Ok(r) => {
                        assert_eq!(r.into_inner().status, "succeeded");
                        return (id, Some(true));
                    }
                    Err(s)
                        if s.code() == Code::FailedPrecondition
                            && s.message().contains("declined") =>
                    {
                        return (id, Some(false));
                    }
                    Err(s) if worth_retrying(&s) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(s) => panic!("payment {i}: {s:?}"),
                }
            }
            (intent.expect("an intent within two minutes"), None)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    killer.await.unwrap();
    let kills = kills.load(Ordering::SeqCst);
    assert!(kills >= 5, "the process was killed {kills} times");

    // Every attempt a kill left in flight is settled by the recovery loop.
    let mut c = client(&grpc).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut intents = Vec::new();
    loop {
        intents.clear();
        for (id, _) in &outcomes {
            let got = c
                .get_intent(request(&seal, pb::GetIntentRequest { id: id.clone() }))
                .await
                .unwrap()
                .into_inner();
            intents.push(got);
        }
        if intents.iter().all(|i| i.status != "processing") {
            break;
        }
        assert!(Instant::now() < deadline, "attempts still in flight");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let recs = processor.records();
    let mut paid = 0;
    for ((id, answered), intent) in outcomes.iter().zip(&intents) {
        let charges: Vec<_> = recs
            .charges
            .iter()
            .filter(|ch| &ch.reference == id && ch.status == "succeeded")
            .collect();
        let refunded: i64 = recs
            .refunds
            .iter()
            .filter(|r| &r.reference == id)
            .map(|r| r.amount)
            .sum();
        let net = charges.iter().map(|ch| ch.amount).sum::<i64>() - refunded;
        if intent.status == "succeeded" {
            paid += 1;
            assert_eq!(
                (charges.len(), net),
                (1, intent.amount),
                "intent {id} charged exactly once"
            );
        } else {
            assert_eq!(
                (charges.len(), net),
                (0, 0),
                "unpaid intent {id} not charged"
            );
        }
        match answered {
            Some(true) => assert_eq!(intent.status, "succeeded", "{id} was answered paid"),
            Some(false) => assert_ne!(intent.status, "succeeded", "{id} was declined"),
            None => {}
        }
    }
    assert!(
        paid >= PAYMENTS * 9 / 10 - outcomes.iter().filter(|o| o.1.is_none()).count(),
        "{paid} of {PAYMENTS} paid"
    );

    // The day's ledger matches the processor's settlement file, once the
    // late webhooks are in.
    let today = {
        let days = plaza_kernel::clock::now_ms().div_euclid(86_400_000);
        plaza_renewal::drivers::domain::Date::from_days(days)
            .unwrap()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c
            .reconcile(as_role(
                &seal,
                Role::Auditor,
                pb::ReconcileRequest {
                    date: today.clone(),
                },
            ))
            .await;
        match r {
            Ok(r) if r.get_ref().differences.is_empty() => {
                let r = r.into_inner();
                assert_eq!(r.ledger_total, r.processor_total);
                assert!(r.matched > 0, "{r:?}");
                break;
            }
            other => assert!(Instant::now() < deadline, "reconciliation: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("{PAYMENTS} payments, {paid} paid, the process killed {kills} times");
    assert_eq!(rest.interrupt(), 0);
    assert_eq!(server.lock().await.interrupt(), 0);
}
