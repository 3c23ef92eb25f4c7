//! The card pipeline on one core: AAMVA encode and parse, PDF417 symbol
//! (compaction, Reed–Solomon, layout), drawing to PNG and SVG, the
//! temporary licence PDF, and orders created (sealed, with their event) and
//! batched on SQLite.
//!
//! ```text
//! cargo bench -p plaza-fulfillment --bench barcode -- --cards 2000
//! ```

use std::sync::Arc;
use std::time::Instant;

use plaza_fulfillment::aamva::{self, CardData, CardFields, Compliance, Date, Sex};
use plaza_fulfillment::pdf417::{self, Options, Patterns, Render};
use plaza_fulfillment::{Batcher, Config, Delivery, Fulfillment, NewOrder};

fn card(i: usize) -> CardData {
    CardData::new(CardFields {
        iin: "636099".into(),
        jurisdiction_version: 1,
        class: "D".into(),
        restrictions: "B".into(),
        endorsements: "NONE".into(),
        expiry: Date::new(2034, 6, 30).unwrap(),
        issue_date: Date::new(2026, 11, 30).unwrap(),
        birth_date: Date::new(
            1950 + (i % 50) as u16,
            1 + (i % 12) as u8,
            1 + (i % 28) as u8,
        )
        .unwrap(),
        family_name: format!("FAMILY{}", "X".repeat(i % 30)),
        first_name: "ALEXANDRA".into(),
        middle_names: "MARIE LOUISE".into(),
        sex: Sex::Female,
        eye_colour: "GRN".into(),
        height_in: 66,
        street_1: format!("{} NORTH MAIN ST", 100 + i),
        street_2: Some("APT 12".into()),
        city: "SPRINGFIELD".into(),
        state: "PL".into(),
        postal_code: "627011234".into(),
        customer_id: format!("PL{i:09}"),
        document_discriminator: format!("DD{i:012}"),
        compliance: Compliance::Full,
        card_revision_date: Date::new(2024, 1, 15).unwrap(),
        organ_donor: i.is_multiple_of(2),
        veteran: i.is_multiple_of(7),
        inventory_control: format!("ICN{i:010}"),
    })
    .unwrap()
}

fn time<T>(label: &str, n: usize, mut f: impl FnMut(usize) -> T) {
    let start = Instant::now();
    for i in 0..n {
        std::hint::black_box(f(i));
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{label:<34} {n:>7} in {s:>7.3} s  {:>10.0}/s  {:>9.1} µs each",
        n as f64 / s,
        s * 1e6 / n as f64
    );
}

fn main() {
    let mut n: usize = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--cards" {
            n = args.next().and_then(|v| v.parse().ok()).expect("--cards N");
        }
    }
    let cards: Vec<CardData> = (0..n).map(card).collect();
    let payloads: Vec<Vec<u8>> = cards.iter().map(CardData::encode).collect();
    let avg = payloads.iter().map(Vec::len).sum::<usize>() / n;
    let table = Patterns::shipped();
    let symbols: Vec<_> = payloads
        .iter()
        .map(|p| pdf417::encode(p, Options::default()).unwrap())
        .collect();
    let s0 = &symbols[0];
    println!(
        "cards: {n}, payload {avg} bytes on average; symbol {} rows × {} columns, EC level {}",
        s0.rows, s0.columns, s0.ec_level
    );

    time("AAMVA encode", n, |i| cards[i].encode());
    time("AAMVA parse", n, |i| aamva::parse(&payloads[i]).unwrap());
    time("PDF417 symbol (codewords + EC)", n, |i| {
        pdf417::encode(&payloads[i], Options::default()).unwrap()
    });
    time("PDF417 modules", n, |i| symbols[i].modules(&table));
    time("PNG (2 px/module)", n, |i| {
        pdf417::to_png(&symbols[i].modules(&table), Render::default()).unwrap()
    });
    time("SVG", n, |i| pdf417::to_svg(&symbols[i].modules(&table)));
    let until = Date::new(2027, 1, 29).unwrap();
    time("temporary licence PDF", n, |i| {
        plaza_fulfillment::pdf::temporary_licence(
            &cards[i],
            "STATE OF PLAZA",
            until,
            Some(&symbols[i].modules(&table)),
        )
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let target = plaza_kernel::testing::sqlite_target();
        let db = plaza_fulfillment::open_db(&target).await.unwrap();
        let app = Fulfillment::new(
            db,
            Arc::new(plaza_kernel::crypt::DataKey::random()),
            Arc::new(plaza_kernel::clock::SystemClock),
            Config {
                batch_max: 100,
                ..Config::default()
            },
        );
        let start = Instant::now();
        for (i, c) in cards.iter().enumerate() {
            app.create_order(NewOrder {
                idempotency_key: format!("bench-{i}"),
                renewal_id: format!("ren-{i}"),
                owner: format!("iss|sub-{i}"),
                card: c.clone(),
                delivery: Delivery::Mail {
                    lines: vec![
                        "ALEXANDRA FAMILY".into(),
                        "100 N MAIN ST".into(),
                        "SPRINGFIELD PL 62701".into(),
                    ],
                },
            })
            .await
            .unwrap();
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{:<34} {n:>7} in {s:>7.3} s  {:>10.0}/s  (SQLite, sealed, with event)",
            "orders created",
            n as f64 / s
        );
        struct Nowhere;
        #[async_trait::async_trait]
        impl plaza_fulfillment::vendor::CardVendor for Nowhere {
            async fn submit(
                &self,
                _: &plaza_fulfillment::vendor::VendorBatch,
            ) -> Result<(), plaza_fulfillment::vendor::VendorError> {
                Ok(())
            }
            async fn status(
                &self,
                _: &str,
            ) -> Result<
                Option<plaza_fulfillment::vendor::VendorBatchStatus>,
                plaza_fulfillment::vendor::VendorError,
            > {
                Ok(None)
            }
        }
        let batcher = Batcher::new(app.clone(), Arc::new(Nowhere));
        let start = Instant::now();
        let mut batches = 0;
        while batcher.flush().await.unwrap().is_some() {
            batches += 1;
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{:<34} {n:>7} in {s:>7.3} s  {:>10.0}/s  ({batches} batches of 100 recorded)",
            "orders batched",
            n as f64 / s
        );
    });
}
