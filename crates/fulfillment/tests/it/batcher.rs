use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use plaza_fulfillment::vendor::{
    CardVendor, HttpVendor, VendorBatch, VendorBatchStatus, VendorError,
};
use plaza_fulfillment::{Batcher, Config, Delivery, Status};
use plaza_sim::vendor::{Vendor, VendorConfig, VendorFaults};

pub async fn serve(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

fn manual_vendor() -> Vendor {
    Vendor::new(VendorConfig {
        tick: None,
        ..Default::default()
    })
}

async fn order(env: &crate::Env, key: &str, pickup: bool) -> String {
    let mut req = crate::orders::new_order(key, crate::card("Garcia", &format!("PL{key}")));
    if pickup {
        req.delivery = Delivery::Pickup {
            office_id: "off-7".into(),
        };
    }
    env.app.create_order(req).await.unwrap().id
}

#[tokio::test]
async fn orders_travel_from_created_to_mailed_or_pickup() {
    let env = crate::env_with(Config {
        batch_max: 3,
        ..Default::default()
    })
    .await;
    let sim = manual_vendor();
    let (url, _server) = serve(sim.router()).await;
    let batcher = Batcher::new(env.app.clone(), Arc::new(HttpVendor::new(&url)));

    let a = order(&env, "a", false).await;
    let b = order(&env, "b", true).await;
    // Two orders wait, fewer than the batch size and not for long: nothing.
    let t = batcher.tick().await.unwrap();
    assert!(t.formed.is_empty());
    let c = order(&env, "c", false).await;
    let t = batcher.tick().await.unwrap();
    assert_eq!(t.formed.len(), 1);
    assert_eq!(t.submitted, t.formed);
    let batch_id = t.formed[0].clone();
    assert_eq!(sim.batches_accepted(), 1);

    // The vendor's batch carries each order's AAMVA payload.
    let sent = batcher.vendor_batch(&batch_id).await.unwrap();
    assert_eq!(sent.orders.len(), 3);
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&sent.orders[0].payload_b64)
        .unwrap();
    assert!(plaza_fulfillment::aamva::parse(&bytes).is_ok());

    for _ in 0..3 {
        sim.advance();
        batcher.tick().await.unwrap();
    }
    let oa = env.app.get_order(&a).await.unwrap();
    let ob = env.app.get_order(&b).await.unwrap();
    let oc = env.app.get_order(&c).await.unwrap();
    assert_eq!(oa.status, Status::Mailed);
    assert_eq!(oc.status, Status::Mailed);
    assert_eq!(ob.status, Status::ReadyForPickup);
    assert!(
        oa.tracking
            .as_deref()
            .is_some_and(|t| t.starts_with("9400"))
    );
    assert_eq!(oa.batch_id.as_deref(), Some(batch_id.as_str()));
    let statuses: Vec<String> = crate::events(&env.db, &a)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        statuses,
        ["created", "batched", "in_production", "produced", "mailed"]
    );
    // Polling again changes nothing.
    let t = batcher.tick().await.unwrap();
    assert_eq!(t.moved, 0);
    assert_eq!(crate::events(&env.db, &a).await.len(), 5);
}

#[tokio::test]
async fn old_orders_are_sent_after_the_wait() {
    let env = crate::env_with(Config {
        batch_max: 100,
        batch_wait_ms: 60_000,
        ..Default::default()
    })
    .await;
    let sim = manual_vendor();
    let (url, _server) = serve(sim.router()).await;
    let batcher = Batcher::new(env.app.clone(), Arc::new(HttpVendor::new(&url)));
    let a = order(&env, "w", false).await;
    assert!(batcher.tick().await.unwrap().formed.is_empty());
    env.clock.advance_ms(60_000);
    assert_eq!(batcher.tick().await.unwrap().formed.len(), 1);
    assert_eq!(env.app.get_order(&a).await.unwrap().status, Status::Batched);
}

#[tokio::test]
async fn a_failed_batch_fails_its_orders_with_an_event() {
    let env = crate::env().await;
    let sim = manual_vendor();
    sim.set_faults(VendorFaults {
        fail_next_batches: 1,
        down: false,
    });
    let (url, _server) = serve(sim.router()).await;
    let batcher = Batcher::new(env.app.clone(), Arc::new(HttpVendor::new(&url)));
    let a = order(&env, "f1", false).await;
    let b = order(&env, "f2", true).await;
    batcher.flush().await.unwrap().unwrap();
    batcher.tick().await.unwrap();
    sim.advance();
    sim.advance();
    batcher.tick().await.unwrap();
    for id in [&a, &b] {
        let o = env.app.get_order(id).await.unwrap();
        assert_eq!(o.status, Status::Failed);
        let events = crate::events(&env.db, id).await;
        let (status, reason) = events.last().unwrap();
        assert_eq!(status, "failed");
        assert!(
            reason.as_deref().unwrap().contains("card vendor"),
            "{reason:?}"
        );
    }
    // Nothing more happens to a failed batch.
    sim.advance();
    assert_eq!(batcher.tick().await.unwrap().moved, 0);
}

/// Forwards to the real vendor, but after the vendor has accepted a batch
/// the answer is lost (as when the process dies or the connection drops
/// between the vendor's commit and Plaza's).
struct LosesAnswers {
    inner: HttpVendor,
    lose: AtomicBool,
}

#[async_trait]
impl CardVendor for LosesAnswers {
    async fn submit(&self, batch: &VendorBatch) -> Result<(), VendorError> {
        self.inner.submit(batch).await?;
        if self.lose.load(Ordering::SeqCst) {
            return Err(VendorError::Unavailable("connection reset".into()));
        }
        Ok(())
    }
    async fn status(&self, id: &str) -> Result<Option<VendorBatchStatus>, VendorError> {
        self.inner.status(id).await
    }
}

#[tokio::test]
async fn a_restart_mid_batch_resends_the_same_batch_once() {
    let env = crate::env().await;
    let sim = manual_vendor();
    let (url, _server) = serve(sim.router()).await;
    let a = order(&env, "r1", false).await;
    let b = order(&env, "r2", false).await;

    // The vendor is down: the batch is recorded but not sent.
    sim.set_faults(VendorFaults {
        fail_next_batches: 0,
        down: true,
    });
    let first = Batcher::new(env.app.clone(), Arc::new(HttpVendor::new(&url)));
    let batch_id = first.flush().await.unwrap().unwrap();
    let t = first.tick().await.unwrap();
    assert!(t.vendor_unavailable);
    assert!(t.submitted.is_empty());
    assert_eq!(sim.batches_accepted(), 0);
    sim.set_faults(VendorFaults::default());

    // The vendor takes it, but the answer never arrives.
    let lossy = Arc::new(LosesAnswers {
        inner: HttpVendor::new(&url),
        lose: AtomicBool::new(true),
    });
    let second = Batcher::new(env.app.clone(), lossy.clone());
    assert!(second.tick().await.unwrap().submitted.is_empty());
    assert_eq!(sim.batches_accepted(), 1);

    // A restarted process (new app on the same database) sends the same
    // batch id again; the vendor recognises it and produces nothing more.
    let restarted = plaza_fulfillment::Fulfillment::new(
        env.db.clone(),
        env.key.clone(),
        Arc::new(env.clock.clone()),
        Config::default(),
    );
    let third = Batcher::new(restarted, Arc::new(HttpVendor::new(&url)));
    let t = third.tick().await.unwrap();
    assert_eq!(t.submitted, vec![batch_id.clone()]);
    assert!(t.formed.is_empty());
    assert_eq!(sim.batches_accepted(), 1);
    let batches = sim.batches();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].batch_id, batch_id);
    assert_eq!(batches[0].orders.len(), 2);
    for _ in 0..3 {
        sim.advance();
        third.tick().await.unwrap();
    }
    for id in [&a, &b] {
        assert_eq!(env.app.get_order(id).await.unwrap().status, Status::Mailed);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn the_whole_flow_on_postgres() {
    let env = crate::env_on(plaza_kernel::testing::postgres_target(), Config::default()).await;
    let sim = manual_vendor();
    let (url, _server) = serve(sim.router()).await;
    let batcher = Batcher::new(env.app.clone(), Arc::new(HttpVendor::new(&url)));
    let a = order(&env, "pg1", false).await;
    let again = order(&env, "pg1", false).await;
    assert_eq!(a, again);
    let b = order(&env, "pg2", true).await;
    sim.set_faults(VendorFaults {
        fail_next_batches: 0,
        down: true,
    });
    let batch_id = batcher.flush().await.unwrap().unwrap();
    assert!(batcher.tick().await.unwrap().vendor_unavailable);
    sim.set_faults(VendorFaults::default());
    assert_eq!(batcher.tick().await.unwrap().submitted, vec![batch_id]);
    for _ in 0..3 {
        sim.advance();
        batcher.tick().await.unwrap();
    }
    assert_eq!(env.app.get_order(&a).await.unwrap().status, Status::Mailed);
    assert_eq!(
        env.app.get_order(&b).await.unwrap().status,
        Status::ReadyForPickup
    );
    assert_eq!(crate::events(&env.db, &a).await.len(), 5);
    env.db.drop_schema().await.unwrap();
}

#[tokio::test]
async fn the_http_adapter_maps_the_vendors_answers() {
    use base64::Engine;
    use plaza_fulfillment::vendor::{VendorDelivery, VendorOrder};
    let sim = manual_vendor();
    let (url, _server) = serve(sim.router()).await;
    let vendor = HttpVendor::new(&url);
    let batch = VendorBatch {
        batch_id: "B-http-1".into(),
        orders: vec![VendorOrder {
            order_id: "o1".into(),
            payload_b64: base64::engine::general_purpose::STANDARD
                .encode(crate::card("Doe", "PL1").encode()),
            delivery: VendorDelivery::Mail {
                lines: vec!["A".into(), "B".into()],
            },
        }],
    };
    vendor.submit(&batch).await.unwrap();
    vendor.submit(&batch).await.unwrap();
    assert_eq!(sim.batches_accepted(), 1);
    let mut other = batch.clone();
    other.orders[0].order_id = "o2".into();
    assert!(matches!(
        vendor.submit(&other).await,
        Err(VendorError::Rejected(_))
    ));
    let s = vendor.status("B-http-1").await.unwrap().unwrap();
    assert_eq!(s.orders[0].order_id, "o1");
    assert_eq!(vendor.status("B-nope").await.unwrap(), None);
    sim.set_faults(VendorFaults {
        fail_next_batches: 0,
        down: true,
    });
    assert!(matches!(
        vendor.status("B-http-1").await,
        Err(VendorError::Unavailable(_))
    ));
    let nowhere = HttpVendor::new("http://127.0.0.1:9");
    assert!(matches!(
        nowhere.submit(&batch).await,
        Err(VendorError::Unavailable(_))
    ));
}
