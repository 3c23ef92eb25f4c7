use plaza_fulfillment::aamva::CardData;
use plaza_fulfillment::{Delivery, Error, NewOrder, Status};
use sqlx::Row;

pub fn new_order(key: &str, card: CardData) -> NewOrder {
    NewOrder {
        idempotency_key: key.into(),
        renewal_id: format!("ren-{key}"),
        owner: "citizen-1".into(),
        card,
        delivery: Delivery::Mail {
            lines: vec![
                "MARIA E GARCIA".into(),
                "1200 MAIN ST APT 4B".into(),
                "SPRINGFIELD PL 62701-1234".into(),
            ],
        },
    }
}

#[tokio::test]
async fn the_same_key_returns_the_same_order() {
    let env = crate::env().await;
    let req = new_order("key-1", crate::card("Garcia", "PL1"));
    let a = env.app.create_order(req.clone()).await.unwrap();
    let b = env.app.create_order(req.clone()).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.status, Status::Created);
    assert_eq!(a.card, req.card);
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders")
        .fetch_one(env.db.reader())
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1);
    assert_eq!(
        crate::events(&env.db, &a.id).await,
        vec![("created".to_owned(), None)]
    );

    let mut other = req.clone();
    other.card = crate::card("Garcia", "PL2");
    let err = env.app.create_order(other).await.unwrap_err();
    assert!(matches!(err, Error::IdempotencyMismatch(_)));
    assert_eq!(err.public().code, "fulfillment.idempotency_mismatch");
}

#[tokio::test]
async fn personal_data_is_not_stored_in_clear() {
    let env = crate::env().await;
    let order = env
        .app
        .create_order(new_order("key-pii", crate::card("Zyxwvut", "PL9")))
        .await
        .unwrap();
    let row = sqlx::query("SELECT * FROM orders WHERE id = $1")
        .bind(&order.id)
        .fetch_one(env.db.reader())
        .await
        .unwrap();
    for col in ["card_sealed", "delivery_sealed", "request_hash"] {
        let v: String = row.get(col);
        for pii in ["ZYXWVUT", "MARIA", "1200 MAIN", "06301980", "SPRINGFIELD"] {
            assert!(!v.contains(pii), "{col} holds {pii}");
        }
    }
    // Another key cannot read it.
    let other = plaza_fulfillment::Fulfillment::new(
        env.db.clone(),
        std::sync::Arc::new(plaza_kernel::crypt::DataKey::random()),
        std::sync::Arc::new(env.clock.clone()),
        Default::default(),
    );
    assert!(other.get_order(&order.id).await.is_err());
    let _ = &env.key;
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let env = crate::env().await;
    let mut req = new_order("key-bad", crate::card("Garcia", "PL1"));
    req.delivery = Delivery::Mail {
        lines: vec!["ONE LINE".into()],
    };
    assert_eq!(
        env.app
            .create_order(req.clone())
            .await
            .unwrap_err()
            .public()
            .code,
        "fulfillment.invalid"
    );
    req.delivery = Delivery::Pickup {
        office_id: "no such/office".into(),
    };
    assert!(env.app.create_order(req.clone()).await.is_err());
    req.delivery = Delivery::Pickup {
        office_id: "off-1".into(),
    };
    req.idempotency_key = String::new();
    assert!(env.app.create_order(req.clone()).await.is_err());
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders")
        .fetch_one(env.db.reader())
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 0);
    assert_eq!(
        env.app.get_order("nope").await.unwrap_err().public().code,
        "fulfillment.not_found"
    );
}

#[tokio::test]
async fn unknown_pickup_offices_are_refused_when_a_directory_is_set() {
    struct Two;
    #[async_trait::async_trait]
    impl plaza_fulfillment::OfficeDirectory for Two {
        async fn exists(&self, id: &str) -> Result<bool, Error> {
            Ok(id == "off-1" || id == "off-2")
        }
    }
    let env = crate::env().await;
    let app = env.app.clone().with_offices(std::sync::Arc::new(Two));
    let mut req = new_order("key-office", crate::card("Garcia", "PL1"));
    req.delivery = Delivery::Pickup {
        office_id: "off-9".into(),
    };
    assert_eq!(
        app.create_order(req.clone())
            .await
            .unwrap_err()
            .public()
            .code,
        "fulfillment.unknown_office"
    );
    req.delivery = Delivery::Pickup {
        office_id: "off-2".into(),
    };
    assert_eq!(app.create_order(req).await.unwrap().status, Status::Created);
}

#[tokio::test]
async fn cancel_is_allowed_until_the_order_is_batched() {
    let env = crate::env().await;
    let a = env
        .app
        .create_order(new_order("c-1", crate::card("Garcia", "PL1")))
        .await
        .unwrap();
    let cancelled = env
        .app
        .cancel_order(&a.id, "citizen changed their mind")
        .await
        .unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(
        cancelled.reason.as_deref(),
        Some("citizen changed their mind")
    );
    // Again: a no-op.
    assert_eq!(
        env.app.cancel_order(&a.id, "again").await.unwrap(),
        cancelled
    );
    assert_eq!(
        crate::events(&env.db, &a.id).await,
        vec![
            ("created".to_owned(), None),
            (
                "cancelled".to_owned(),
                Some("citizen changed their mind".to_owned())
            )
        ]
    );

    let b = env
        .app
        .create_order(new_order("c-2", crate::card("Garcia", "PL2")))
        .await
        .unwrap();
    let sim = plaza_sim::vendor::Vendor::new(plaza_sim::vendor::VendorConfig {
        tick: None,
        ..Default::default()
    });
    let (url, _server) = crate::batcher::serve(sim.router()).await;
    let batcher = plaza_fulfillment::Batcher::new(
        env.app.clone(),
        std::sync::Arc::new(plaza_fulfillment::vendor::HttpVendor::new(&url)),
    );
    batcher.flush().await.unwrap().unwrap();
    let err = env.app.cancel_order(&b.id, "too late").await.unwrap_err();
    assert_eq!(err.public().code, "fulfillment.not_cancellable");
    assert_eq!(
        env.app.get_order(&b.id).await.unwrap().status,
        Status::Batched
    );
}

#[test]
fn the_state_machine_moves_forward_only() {
    use Status::*;
    assert!(Created.can_move_to(Batched));
    assert!(Created.can_move_to(Cancelled));
    assert!(!Batched.can_move_to(Cancelled));
    assert!(!Created.can_move_to(Failed));
    assert!(Batched.can_move_to(Failed));
    assert!(Produced.can_move_to(Mailed));
    assert!(Produced.can_move_to(ReadyForPickup));
    assert!(!Produced.can_move_to(InProduction));
    assert!(!Mailed.can_move_to(Failed));
    assert!(!Failed.can_move_to(Mailed));
    assert!(!Cancelled.can_move_to(Batched));
}
