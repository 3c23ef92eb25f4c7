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
        "cancelled" => "The card order was cancelled; the fee will be refunded.".to_owned(),
        "failed" => format!(
            "The card could not be made ({}); the fee will be refunded.",
            e.reason.as_deref().unwrap_or("production failed")
        ),
        _ => return None,
    })
}

#[async_trait]
impl TxHandler for Apply {
    /// Only a status with a line for the timeline changes anything (an
    /// order's creation does not: the saga's end recorded it). A payload
    /// that does not parse is wanted, so that `apply` reports it.
    fn wants(&self, ev: &Envelope) -> bool {
        serde_json::from_slice::<OrderStatusChanged>(&ev.payload)
            .map_or(true, |e| note(&e).is_some())
    }
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
        if e.status == "cancelled" && app.status != "ordered" {
            // Only a cancellation that stopped half-way (the order was
            // cancelled, the application not yet) is finished here.
            return Ok(());
        }
        if e.status == "failed" || e.status == "cancelled" {
            app.refund_due = true;
        }
        let now = self.clock.now_ms();
        store::update(tx, &app, now).await?;
        store::add_entry(&self.db, tx, &app, now, &e.status, &note).await?;
        Ok(())
    }
}

pub const PAYMENT_SUCCEEDED: &str = "payments.PaymentSucceeded";

#[derive(Deserialize)]
struct PaymentSucceeded {
    reference: String,
}

/// A renewal's fee charged, as the payments service reports it: covers a
/// payment whose answer never reached the renewal (a crash, a timeout).
struct Paid(Arc<super::Ctx>);

#[async_trait]
impl plaza_kernel::bus::Handler for Paid {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        let e: PaymentSucceeded = serde_json::from_slice(&ev.payload)?;
        if !e.reference.starts_with("ren_") {
            return Ok(());
        }
        // A citizen's request in this process is recording this payment
        // (it had the processor's answer first): it says when it has, and
        // then there is nothing to do. A request that failed says nothing,
        // and the event is handled as below.
        if self.0.paying.recorded_here(&e.reference).await {
            return Ok(());
        }
        // Otherwise most often the payment's answer got here first: then a
        // read says so, without taking the writer.
        match store::get(&self.0.db, &e.reference).await? {
            Some(app) if super::payment_changes(&app) => {}
            _ => return Ok(()),
        }
        match super::payment_arrived(&self.0, &e.reference).await {
            Ok(_) | Err(crate::Error::ApplicationNotFound) => Ok(()),
            Err(e) => Err(Box::new(e)),
        }
    }
}

/// Subscribes the renewal service to payments it is owed news of (the
/// background pass then orders the card of a paid application).
pub async fn subscribe_payments(
    ctx: Arc<super::Ctx>,
    bus: &Arc<dyn Bus>,
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    bus.subscribe(
        "renewal-payments",
        EventFilter::event(PAYMENT_SUCCEEDED),
        Durability::Durable,
        Arc::new(Paid(ctx)),
        shutdown,
    )
    .await
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
