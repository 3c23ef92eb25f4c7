//! Integration tests: AAMVA payloads of every version, barcodes read back,
//! the temporary licence PDF, card orders, and the batcher against the
//! card-vendor simulator.

mod aamva;
mod barcode;
mod batcher;
mod grpc;
mod orders;
mod pdf;

use std::sync::Arc;

use plaza_fulfillment::aamva::{CardData, CardFields, Compliance, Date, Sex};
use plaza_fulfillment::{Config, Fulfillment};
use plaza_kernel::clock::{ManualClock, SharedClock};
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::Db;

pub fn card(family: &str, customer_id: &str) -> CardData {
    CardData::new(CardFields {
        iin: "636099".into(),
        jurisdiction_version: 1,
        class: "D".into(),
        restrictions: "NONE".into(),
        endorsements: "NONE".into(),
        expiry: Date::new(2034, 6, 30).unwrap(),
        issue_date: Date::new(2026, 11, 30).unwrap(),
        birth_date: Date::new(1980, 6, 30).unwrap(),
        family_name: family.into(),
        first_name: "Maria".into(),
        middle_names: "Elena".into(),
        sex: Sex::Female,
        eye_colour: "BRO".into(),
        height_in: 65,
        street_1: "1200 Main St".into(),
        street_2: Some("Apt 4B".into()),
        city: "Springfield".into(),
        state: "PL".into(),
        postal_code: "627011234".into(),
        customer_id: customer_id.into(),
        document_discriminator: "20261130PL0001".into(),
        compliance: Compliance::Full,
        card_revision_date: Date::new(2024, 1, 15).unwrap(),
        organ_donor: true,
        veteran: false,
        inventory_control: "PL0000000001".into(),
    })
    .unwrap()
}

pub struct Env {
    pub app: Fulfillment,
    pub db: Db,
    pub clock: ManualClock,
    pub key: Arc<DataKey>,
}

pub const T0: i64 = 1_796_000_000_000;

pub async fn env() -> Env {
    env_with(Config::default()).await
}

pub async fn env_with(config: Config) -> Env {
    env_on(plaza_kernel::testing::sqlite_target(), config).await
}

pub async fn env_on(target: plaza_kernel::db::StorageTarget, config: Config) -> Env {
    let db = plaza_fulfillment::open_db(&target).await.unwrap();
    let clock = ManualClock::new(T0);
    let key = Arc::new(DataKey::random());
    let shared: SharedClock = Arc::new(clock.clone());
    let app = Fulfillment::new(db.clone(), key.clone(), shared, config);
    Env {
        app,
        db,
        clock,
        key,
    }
}

/// The `OrderStatusChanged` statuses written for `order_id`, in order.
pub async fn events(db: &Db, order_id: &str) -> Vec<(String, Option<String>)> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT event_type, payload FROM outbox WHERE aggregate_id = $1 ORDER BY event_id",
    )
    .bind(order_id)
    .fetch_all(db.reader())
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            assert_eq!(
                r.get::<String, _>("event_type"),
                "fulfillment.OrderStatusChanged"
            );
            let v: serde_json::Value =
                serde_json::from_slice(&r.get::<Vec<u8>, _>("payload")).unwrap();
            (
                v["status"].as_str().unwrap().to_owned(),
                v["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
