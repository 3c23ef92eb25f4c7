//! The batcher: groups `created` orders into vendor batches, submits them,
//! and follows their progress.
//!
//! A batch is recorded (status `pending`, its orders `batched`) in one
//! transaction BEFORE it is sent. A process that dies after recording
//! resends the same batch id with the same orders on its next tick, and the
//! vendor deduplicates by batch id; a batch is marked `submitted` only after
//! the vendor accepted it. So a crash or restart loses no order and no
//! order is produced twice. Polling moves orders forward only (see
//! [`Status::can_move_to`]), so a repeated poll changes nothing.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sqlx::Row;

use crate::orders::{Delivery, Status};
use crate::store::{self, ORDER_COLUMNS, order_from_row};
use crate::vendor::{
    CardVendor, VendorBatch, VendorBatchStatus, VendorDelivery, VendorError, VendorOrder,
    VendorStatus,
};
use crate::{Error, Fulfillment};

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tick {
    /// Batches recorded this tick.
    pub formed: Vec<String>,
    /// Batches the vendor accepted this tick.
    pub submitted: Vec<String>,
    /// Order status changes applied from the vendor's reports.
    pub moved: usize,
    /// The vendor was unavailable at some point; the rest waits.
    pub vendor_unavailable: bool,
}

/// Batch states in the database.
const PENDING: &str = "pending";
const SUBMITTED: &str = "submitted";
const DONE: &str = "done";
const FAILED: &str = "failed";

/// Moves orders between Plaza and the card vendor.
#[derive(Clone)]
pub struct Batcher {
    app: Fulfillment,
    vendor: Arc<dyn CardVendor>,
}

impl Batcher {
    pub fn new(app: Fulfillment, vendor: Arc<dyn CardVendor>) -> Batcher {
        Batcher { app, vendor }
    }

    /// Runs [`Batcher::tick`] every `every` until shutdown.
    pub async fn run(self, every: Duration, mut shutdown: plaza_kernel::shutdown::Shutdown) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %plaza_kernel::error::chain(&e), "card batcher tick failed");
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Forms batches that are due, sends every unsent batch, and polls
    /// every unfinished one.
    pub async fn tick(&self) -> Result<Tick, Error> {
        let mut tick = Tick::default();
        while let Some(id) = self.form_batch(false).await? {
            tick.formed.push(id);
        }
        self.submit_pending(&mut tick).await?;
        if !tick.vendor_unavailable {
            self.poll(&mut tick).await?;
        }
        Ok(tick)
    }

    /// Sends whatever is waiting now, however few (for shutdown or tests).
    pub async fn flush(&self) -> Result<Option<String>, Error> {
        self.form_batch(true).await
    }

    /// Records one batch of up to `batch_max` created orders when enough
    /// wait or the oldest has waited `batch_wait_ms` (or `force`).
    async fn form_batch(&self, force: bool) -> Result<Option<String>, Error> {
        let cfg = &self.app.config;
        let now = self.app.clock.now_ms();
        let mut tx = self.app.db.begin().await?;
        // On PostgreSQL another process's batcher may be forming a batch at
        // the same time: skip the orders it holds.
        let lock = match self.app.db.dialect() {
            plaza_kernel::db::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            plaza_kernel::db::Dialect::Sqlite => "",
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, renewal_id, created_at_ms FROM orders WHERE status = $1 ORDER BY created_at_ms, id LIMIT $2{lock}"
        )))
        .bind(Status::Created.as_str())
        .bind(cfg.batch_max as i64)
        .fetch_all(&mut *tx)
        .await?;
        let Some(oldest) = rows.first() else {
            return Ok(None);
        };
        let oldest_ms: i64 = oldest.try_get("created_at_ms")?;
        if !force && rows.len() < cfg.batch_max && now - oldest_ms < cfg.batch_wait_ms {
            return Ok(None);
        }
        let batch_id = format!("B{}", uuid::Uuid::now_v7().simple());
        sqlx::query(
            "INSERT INTO batches (id, status, order_count, attempts, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(&batch_id)
        .bind(PENDING)
        .bind(rows.len() as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut taken = 0i64;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let renewal: String = row.try_get("renewal_id")?;
            // Only an order still waiting joins: one cancelled (or batched
            // elsewhere) since it was read stays out.
            let joined = sqlx::query(
                "UPDATE orders SET batch_id = $1 WHERE id = $2 AND status = $3 AND batch_id IS NULL",
            )
            .bind(&batch_id)
            .bind(&id)
            .bind(Status::Created.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if joined == 0 {
                continue;
            }
            taken += 1;
            store::move_order(
                &mut tx,
                store::Move {
                    order_id: &id,
                    renewal_id: &renewal,
                    from: Status::Created,
                    to: Status::Batched,
                    reason: None,
                    tracking: None,
                },
                now,
            )
            .await?;
        }
        if taken == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE batches SET order_count = $1 WHERE id = $2")
            .bind(taken)
            .bind(&batch_id)
            .execute(&mut *tx)
            .await?;
        self.app.db.commit(tx).await?;
        tracing::info!(batch = %batch_id, orders = taken, "card batch recorded");
        Ok(Some(batch_id))
    }

    async fn batch_ids(&self, status: &str) -> Result<Vec<String>, Error> {
        let rows =
            sqlx::query("SELECT id FROM batches WHERE status = $1 ORDER BY created_at_ms, id")
                .bind(status)
                .fetch_all(self.app.db.reader())
                .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Error::from))
            .collect()
    }

    /// The batch as sent: always the same orders in the same order.
    pub async fn vendor_batch(&self, batch_id: &str) -> Result<VendorBatch, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE batch_id = $1 ORDER BY created_at_ms, id"
        )))
        .bind(batch_id)
        .fetch_all(self.app.db.reader())
        .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in &rows {
            let order = order_from_row(&self.app.key, row)?;
            orders.push(VendorOrder {
                payload_b64: base64::engine::general_purpose::STANDARD.encode(order.card.encode()),
                delivery: match order.delivery {
                    Delivery::Mail { lines } => VendorDelivery::Mail { lines },
                    Delivery::Pickup { office_id } => VendorDelivery::Pickup { office_id },
                },
                order_id: order.id,
            });
        }
        Ok(VendorBatch {
            batch_id: batch_id.to_owned(),
            orders,
        })
    }

    async fn set_batch(
        &self,
        batch_id: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let mut tx = self.app.db.begin().await?;
        sqlx::query(
            "UPDATE batches SET status = $1, reason = COALESCE($2, reason), attempts = attempts + 1, updated_at_ms = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(reason)
        .bind(self.app.clock.now_ms())
        .bind(batch_id)
        .execute(&mut *tx)
        .await?;
        self.app.db.commit(tx).await?;
        Ok(())
    }

    async fn submit_pending(&self, tick: &mut Tick) -> Result<(), Error> {
        for batch_id in self.batch_ids(PENDING).await? {
            let batch = self.vendor_batch(&batch_id).await?;
            match self.vendor.submit(&batch).await {
                Ok(()) => {
                    self.set_batch(&batch_id, SUBMITTED, None).await?;
                    tick.submitted.push(batch_id);
                }
                Err(VendorError::Unavailable(why)) => {
                    tracing::warn!(batch = %batch_id, %why, "card vendor unavailable; batch will be resent");
                    tick.vendor_unavailable = true;
                    return Ok(());
                }
                Err(VendorError::Rejected(why)) => {
                    tracing::error!(batch = %batch_id, %why, "card vendor refused a batch");
                    self.fail_batch(&batch_id, &format!("vendor refused the batch: {why}"), tick)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn poll(&self, tick: &mut Tick) -> Result<(), Error> {
        for batch_id in self.batch_ids(SUBMITTED).await? {
            match self.vendor.status(&batch_id).await {
                Ok(Some(report)) => self.apply(&batch_id, &report, tick).await?,
                Ok(None) => {
                    // The vendor lost it: send it again under the same id.
                    tracing::warn!(batch = %batch_id, "card vendor does not know a submitted batch; resending");
                    self.set_batch(&batch_id, PENDING, None).await?;
                }
                Err(VendorError::Unavailable(_)) | Err(VendorError::Rejected(_)) => {
                    tick.vendor_unavailable = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn fail_batch(&self, batch_id: &str, reason: &str, tick: &mut Tick) -> Result<(), Error> {
        let now = self.app.clock.now_ms();
        let mut tx = self.app.db.begin().await?;
        let rows = sqlx::query("SELECT id, renewal_id, status FROM orders WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let renewal: String = row.try_get("renewal_id")?;
            let from = Status::parse(&row.try_get::<String, _>("status")?)
                .ok_or_else(|| Error::Corrupt(id.clone()))?;
            if store::move_order(
                &mut tx,
                store::Move {
                    order_id: &id,
                    renewal_id: &renewal,
                    from,
                    to: Status::Failed,
                    reason: Some(reason),
                    tracking: None,
                },
                now,
            )
            .await?
            {
                tick.moved += 1;
            }
        }
        sqlx::query(
            "UPDATE batches SET status = $1, reason = $2, updated_at_ms = $3 WHERE id = $4",
        )
        .bind(FAILED)
        .bind(reason)
        .bind(now)
        .bind(batch_id)
        .execute(&mut *tx)
        .await?;
        self.app.db.commit(tx).await?;
        Ok(())
    }

    async fn apply(
        &self,
        batch_id: &str,
        report: &VendorBatchStatus,
        tick: &mut Tick,
    ) -> Result<(), Error> {
        if report.status == VendorStatus::Failed {
            let reason = report
                .reason
                .clone()
                .unwrap_or_else(|| "production failed".to_owned());
            return self
                .fail_batch(batch_id, &format!("card vendor: {reason}"), tick)
                .await;
        }
        let now = self.app.clock.now_ms();
        let mut tx = self.app.db.begin().await?;
        let rows = sqlx::query(
            "SELECT id, renewal_id, status, delivery_kind FROM orders WHERE batch_id = $1",
        )
        .bind(batch_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut open = 0;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let renewal: String = row.try_get("renewal_id")?;
            let pickup = row.try_get::<String, _>("delivery_kind")? == "pickup";
            let mut from = Status::parse(&row.try_get::<String, _>("status")?)
                .ok_or_else(|| Error::Corrupt(id.clone()))?;
            let Some(vo) = report.orders.iter().find(|o| o.order_id == id) else {
                open += usize::from(!from.is_final());
                continue;
            };
            let (to, reason) = match vo.status {
                VendorStatus::Received => (Status::Batched, None),
                VendorStatus::InProduction => (Status::InProduction, None),
                VendorStatus::Produced => (Status::Produced, None),
                VendorStatus::Mailed if pickup => (Status::ReadyForPickup, None),
                VendorStatus::Mailed => (Status::Mailed, None),
                VendorStatus::Failed => (Status::Failed, Some("card vendor: production failed")),
            };
            // Step through the stages in order, so the timeline shows each.
            let steps: &[Status] = if to == Status::Failed {
                &[Status::Failed]
            } else {
                &[Status::InProduction, Status::Produced, to]
            };
            for &step in steps {
                if (step == to || step.can_move_to(to))
                    && from.can_move_to(step)
                    && store::move_order(
                        &mut tx,
                        store::Move {
                            order_id: &id,
                            renewal_id: &renewal,
                            from,
                            to: step,
                            reason: if step == to { reason } else { None },
                            tracking: if step == to {
                                vo.tracking.as_deref()
                            } else {
                                None
                            },
                        },
                        now,
                    )
                    .await?
                {
                    tick.moved += 1;
                    from = step;
                }
            }
            open += usize::from(!from.is_final());
        }
        if open == 0 {
            sqlx::query("UPDATE batches SET status = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(DONE)
                .bind(now)
                .bind(batch_id)
                .execute(&mut *tx)
                .await?;
        }
        self.app.db.commit(tx).await?;
        Ok(())
    }
}
