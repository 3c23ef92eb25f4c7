//! The card's progress, from fulfillment's `OrderStatusChanged` events,
//! into the citizen's timeline. Each event is applied once (an inbox); a
//! failed card order marks the payment for refund, which the background
//! pass settles.

use std::sync::Arc;

use async_trait::async_trait;
use plaza_kernel::bus::{Bus, Durability, Envelope, EventFilter, HandlerError, Inbox, TxHandler};
use plaza_kernel::clock::SharedClock;
use plaza_kernel::db::{Db, Tx};
use plaza_kernel::shutdown::Shutdown;
use serde::Deserialize;

use super::store;

pub const ORDER_STATUS_CHANGED: &str = "fulfillment.OrderStatusChanged";

#[derive(Deserialize)]
struct OrderStatusChanged {
    renewal_id: String,
    status: String,
    reason: Option<String>,
    tracking: Option<String>,
}

struct Apply {
    db: Db,
    clock: SharedClock,
}

fn note(e: &OrderStatusChanged) -> Option<String> {
    Some(match e.status.as_str() {
        "batched" => "The card was sent to production.".to_owned(),
        "in_production" => "The card is being made.".to_owned(),
        "produced" => "The card is made.".to_owned(),
        "mailed" => match &e.tracking {
            Some(t) => format!("The card was mailed (tracking {t})."),
            None => "The card was mailed.".to_owned(),
        },
        "ready_for_pickup" => "The card is ready to pick up.".to_owned(),
        "failed" => format!(
            "The card could not be made ({}); the fee will be refunded.",
            e.reason.as_deref().unwrap_or("production failed")
        ),
        _ => return None,
    })
}

#[async_trait]
impl TxHandler for Apply {
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        let e: OrderStatusChanged = serde_json::from_slice(&ev.payload)?;
        let Some(note) = note(&e) else {
            return Ok(());
        };
        let Some(mut app) = store::lock(&self.db, tx, &e.renewal_id).await? else {
            return Ok(());
        };
        if store::FINAL.contains(&app.status.as_str()) {
            return Ok(());
        }
        app.status = e.status.clone();
        if e.tracking.is_some() {
            app.tracking = e.tracking.clone();
        }
        if e.status == "failed" {
            app.refund_due = true;
        }
        let now = self.clock.now_ms();
        store::update(tx, &app, now).await?;
        store::add_entry(tx, &app, now, &e.status, &note).await?;
        Ok(())
    }
}

/// Subscribes the renewal service to card progress (one durable consumer
/// shared by every process hosting `renewal`).
pub async fn subscribe(
    db: &Db,
    clock: SharedClock,
    bus: &Arc<dyn Bus>,
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    let inbox = Inbox::new(
        db.clone(),
        "renewal-card-progress",
        Apply {
            db: db.clone(),
            clock,
        },
    );
    bus.subscribe(
        "renewal-card-progress",
        EventFilter::event(ORDER_STATUS_CHANGED),
        Durability::Durable,
        Arc::new(inbox),
        shutdown,
    )
    .await
}
