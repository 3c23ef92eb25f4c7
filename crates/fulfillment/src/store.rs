//! Orders and batches in the service's database. Card data and delivery
//! addresses are sealed with the service's [`DataKey`], bound to their row
//! and column; the idempotency fingerprint is a keyed hash.

use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::Tx;
use plaza_kernel::outbox::{self, NewEvent};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Error;
use crate::orders::{Delivery, ORDER_STATUS_CHANGED, Order, OrderStatusChanged, Status};

pub(crate) const ORDER_COLUMNS: &str = "id, renewal_id, owner, card_sealed, delivery_sealed, status, reason, batch_id, tracking, created_at_ms, updated_at_ms";

pub(crate) fn card_aad(id: &str) -> String {
    format!("fulfillment.order:{id}:card")
}

pub(crate) fn delivery_aad(id: &str) -> String {
    format!("fulfillment.order:{id}:delivery")
}

pub(crate) fn order_from_row(key: &DataKey, row: &AnyRow) -> Result<Order, Error> {
    let id: String = row.try_get("id")?;
    let corrupt = || Error::Corrupt(id.clone());
    let card_json = key
        .decrypt_text(&card_aad(&id), &row.try_get::<String, _>("card_sealed")?)
        .map_err(|_| corrupt())?;
    let delivery_json = key
        .decrypt_text(
            &delivery_aad(&id),
            &row.try_get::<String, _>("delivery_sealed")?,
        )
        .map_err(|_| corrupt())?;
    let status: String = row.try_get("status")?;
    Ok(Order {
        renewal_id: row.try_get("renewal_id")?,
        owner: row.try_get("owner")?,
        card: serde_json::from_str(&card_json).map_err(|_| corrupt())?,
        delivery: serde_json::from_str::<Delivery>(&delivery_json).map_err(|_| corrupt())?,
        status: Status::parse(&status).ok_or_else(corrupt)?,
        reason: row.try_get("reason")?,
        batch_id: row.try_get("batch_id")?,
        tracking: row.try_get("tracking")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        id,
    })
}

/// One status change of one order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Move<'a> {
    pub order_id: &'a str,
    pub renewal_id: &'a str,
    pub from: Status,
    pub to: Status,
    pub reason: Option<&'a str>,
    pub tracking: Option<&'a str>,
}

/// Moves `order` to `to` inside `tx` when the stored status is still
/// `order.status`, and writes the `OrderStatusChanged` event with it.
/// Returns false (and changes nothing) when the move is not allowed or the
/// row changed meanwhile.
pub(crate) async fn move_order(tx: &mut Tx, m: Move<'_>, now_ms: i64) -> Result<bool, Error> {
    let Move {
        order_id,
        renewal_id,
        from,
        to,
        reason,
        tracking,
    } = m;
    if !from.can_move_to(to) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE orders SET status = $1, reason = COALESCE($2, reason), tracking = COALESCE($3, tracking), updated_at_ms = $4
         WHERE id = $5 AND status = $6",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(tracking)
    .bind(now_ms)
    .bind(order_id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    status_event(tx, order_id, renewal_id, to, reason, tracking).await?;
    Ok(true)
}

pub(crate) async fn status_event(
    tx: &mut Tx,
    order_id: &str,
    renewal_id: &str,
    status: Status,
    reason: Option<&str>,
    tracking: Option<&str>,
) -> Result<(), Error> {
    let event = order_event(order_id, renewal_id, status, reason, tracking)?;
    outbox::enqueue(tx, event).await?;
    Ok(())
}

/// The event that tells of an order's new status.
pub(crate) fn order_event(
    order_id: &str,
    renewal_id: &str,
    status: Status,
    reason: Option<&str>,
    tracking: Option<&str>,
) -> Result<NewEvent, Error> {
    let event = OrderStatusChanged {
        order_id: order_id.to_owned(),
        renewal_id: renewal_id.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.map(str::to_owned),
        tracking: tracking.map(str::to_owned),
    };
    Ok(NewEvent {
        event_type: ORDER_STATUS_CHANGED.to_owned(),
        aggregate_type: "order".to_owned(),
        aggregate_id: order_id.to_owned(),
        payload: serde_json::to_vec(&event)
            .map_err(|e| Error::Kernel(plaza_kernel::Error::Encoding(e.to_string())))?,
    })
}
