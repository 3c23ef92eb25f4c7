//! The service's logic: card orders, their barcode and temporary licence.

use std::sync::Arc;

use async_trait::async_trait;
use plaza_kernel::auth::Caller;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, Dialect};
use plaza_kernel::outbox;
use plaza_policy::{Policies, Resource};
use sqlx::Row;

use crate::Error;
use crate::aamva::Date;
use crate::orders::{Delivery, NewOrder, Order, Status};
use crate::pdf417::{self, Patterns};
use crate::store::{self, ORDER_COLUMNS, card_aad, delivery_aad, order_from_row};

/// Tells whether a pickup office exists (in production, a `plaza.offices.v1`
/// client).
#[async_trait]
pub trait OfficeDirectory: Send + Sync {
    async fn exists(&self, office_id: &str) -> Result<bool, Error>;
}

/// Settings, with defaults suited to one state's DMV.
#[derive(Debug, Clone)]
pub struct Config {
    /// Printed at the top of the temporary licence.
    pub jurisdiction_name: String,
    /// How long a temporary licence is valid, from the order's creation.
    pub temporary_days: u32,
    /// The batcher sends a batch when this many orders wait…
    pub batch_max: usize,
    /// …or when the oldest has waited this long.
    pub batch_wait_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jurisdiction_name: "STATE OF PLAZA".to_owned(),
            temporary_days: 60,
            batch_max: 100,
            batch_wait_ms: 10 * 60 * 1000,
        }
    }
}

/// Barcode image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
}

/// The fulfillment service.
#[derive(Clone)]
pub struct Fulfillment {
    pub(crate) db: Db,
    pub(crate) key: Arc<DataKey>,
    pub(crate) clock: SharedClock,
    pub(crate) config: Config,
    patterns: Option<Arc<Patterns>>,
    offices: Option<Arc<dyn OfficeDirectory>>,
    policies: Policies,
}

/// What a caller may do with orders (policy actions in
/// `policies/plaza.cedar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `fulfillment.order.create`: the owner, or staff of the card's state.
    Create,
    /// `fulfillment.order.read`: progress only, no card data.
    Read,
    /// `fulfillment.order.print`: temporary licence and barcode (card data).
    Print,
    /// `fulfillment.order.cancel`.
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "fulfillment.order.create",
            Action::Read => "fulfillment.order.read",
            Action::Print => "fulfillment.order.print",
            Action::Cancel => "fulfillment.order.cancel",
        }
    }
}

impl std::fmt::Debug for Fulfillment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fulfillment")
            .field("config", &self.config)
            .finish()
    }
}

impl Fulfillment {
    pub fn new(db: Db, key: Arc<DataKey>, clock: SharedClock, config: Config) -> Fulfillment {
        Fulfillment {
            db,
            key,
            clock,
            config,
            patterns: Some(Arc::new(Patterns::shipped())),
            offices: None,
            policies: Policies::shipped(),
        }
    }

    /// Other PDF417 cluster tables than the shipped ones (see
    /// [`crate::pdf417`]).
    pub fn with_patterns(mut self, patterns: Patterns) -> Fulfillment {
        self.patterns = Some(Arc::new(patterns));
        self
    }

    /// No barcode at all (the barcode answers `fulfillment.barcode_unavailable`
    /// and the temporary licence prints without one).
    pub fn without_barcodes(mut self) -> Fulfillment {
        self.patterns = None;
        self
    }

    /// Checks pickup offices against a directory. Without one, an office id
    /// is only checked for shape.
    pub fn with_offices(mut self, offices: Arc<dyn OfficeDirectory>) -> Fulfillment {
        self.offices = Some(offices);
        self
    }

    /// Decides `action` by `caller` on an order for `owner` whose card is
    /// issued by `state`. A signed-in caller who may not see an order is
    /// told it does not exist.
    pub fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        owner: &str,
        state: &str,
    ) -> Result<(), Error> {
        let resource = Resource::new("CardOrder", "*")
            .owned_by(owner)
            .in_jurisdiction(state, None);
        let not_found = Error::NotFound(String::new()).public();
        let result = if action == Action::Create {
            self.policies.require(caller, action.as_str(), &resource)
        } else {
            self.policies
                .require_or_hide(caller, action.as_str(), &resource, not_found)
        };
        result.map_err(Error::Denied)
    }

    /// Reads an order after deciding `action` on it for `caller`.
    pub async fn get_order_for(
        &self,
        caller: &Caller,
        action: Action,
        id: &str,
    ) -> Result<Order, Error> {
        let order = self.get_order(id).await?;
        self.authorize(caller, action, &order.owner, &order.card.fields().state)?;
        Ok(order)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates the order, or returns the one already created under the
    /// same idempotency key for the same request.
    pub async fn create_order(&self, req: NewOrder) -> Result<Order, Error> {
        let key = plaza_kernel::idempotency::validate_key(&req.idempotency_key)?;
        for (field, value) in [("renewal_id", &req.renewal_id), ("owner", &req.owner)] {
            if value.is_empty() || value.len() > 512 || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(Error::Invalid {
                    field,
                    reason: "1-512 visible ASCII characters".to_owned(),
                });
            }
        }
        let delivery = req.delivery.clone().validate()?;
        let card_json = serde_json::to_string(&req.card)
            .map_err(|e| Error::Kernel(plaza_kernel::Error::Encoding(e.to_string())))?;
        let delivery_json = serde_json::to_string(&delivery)
            .map_err(|e| Error::Kernel(plaza_kernel::Error::Encoding(e.to_string())))?;
        let request_hash = self.key.blind(
            format!(
                "{}\u{0}{}\u{0}{card_json}\u{0}{delivery_json}",
                req.renewal_id, req.owner
            )
            .as_bytes(),
        );
        // On PostgreSQL the insert below finds an order made under the key
        // already; elsewhere a read does, first.
        let pg = self.db.dialect() == Dialect::Postgres;
        if !pg && let Some(existing) = self.by_key(&key, &request_hash).await? {
            return Ok(existing);
        }
        if let (Delivery::Pickup { office_id }, Some(dir)) = (&delivery, &self.offices)
            && !dir.exists(office_id).await?
        {
            if pg && let Some(existing) = self.by_key(&key, &request_hash).await? {
                return Ok(existing);
            }
            return Err(Error::UnknownOffice(office_id.clone()));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.clock.now_ms();
        let card_sealed = self.key.encrypt_text(&card_aad(&id), &card_json);
        let delivery_sealed = self.key.encrypt_text(&delivery_aad(&id), &delivery_json);
        let office_id = match &delivery {
            Delivery::Pickup { office_id } => Some(office_id.as_str()),
            Delivery::Mail { .. } => None,
        };
        let created = store::order_event(&id, &req.renewal_id, Status::Created, None, None)?;
        const INSERT: &str = "INSERT INTO orders (id, idempotency_key, request_hash, renewal_id, owner, card_sealed, delivery_kind, delivery_sealed, office_id, status, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)";
        let bind = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.as_str())
                .bind(key.as_str())
                .bind(request_hash.as_str())
                .bind(req.renewal_id.as_str())
                .bind(req.owner.as_str())
                .bind(card_sealed.as_str())
                .bind(delivery.kind())
                .bind(delivery_sealed.as_str())
                .bind(office_id)
                .bind(Status::Created.as_str())
                .bind(now)
        };
        if pg {
            // One statement, outside a transaction: the order and its event,
            // or, when the key is taken, nothing.
            let events = outbox::Staged::new(vec![created]);
            let sql = format!(
                "WITH made AS ({INSERT} ON CONFLICT (idempotency_key) DO NOTHING RETURNING {ORDER_COLUMNS}),
                 {}
                 SELECT {ORDER_COLUMNS} FROM made",
                events.insert_if("events", "made", 12)
            );
            let made = events
                .bind(bind(sql))
                .fetch_optional(&mut *self.db.write_alone().await?)
                .await?;
            let Some(made) = made else {
                // Another request with the same key was first.
                return self
                    .by_key(&key, &request_hash)
                    .await?
                    .ok_or_else(|| Error::Conflict(key.clone()));
            };
            self.db.outbox_signal().notify();
            tracing::info!(order = %id, renewal = %req.renewal_id, "card order created");
            return order_from_row(&self.key, &made);
        }
        let mut tx = self.db.begin().await?;
        match bind(INSERT.to_owned()).execute(&mut *tx).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                drop(tx);
                // Another request with the same key won the race.
                return self
                    .by_key(&key, &request_hash)
                    .await?
                    .ok_or_else(|| Error::Conflict(key.clone()));
            }
            Err(e) => return Err(e.into()),
        }
        outbox::enqueue(&mut tx, created).await?;
        self.db.commit(tx).await?;
        tracing::info!(order = %id, renewal = %req.renewal_id, "card order created");
        self.get_order(&id).await
    }

    async fn by_key(&self, key: &str, request_hash: &str) -> Result<Option<Order>, Error> {
        let row = sqlx::query("SELECT id, request_hash FROM orders WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(self.db.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("request_hash")?;
        if stored != request_hash {
            return Err(Error::IdempotencyMismatch(key.to_owned()));
        }
        let id: String = row.try_get("id")?;
        self.get_order(&id).await.map(Some)
    }

    pub async fn get_order(&self, id: &str) -> Result<Order, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        order_from_row(&self.key, &row)
    }

    /// Orders for a renewal, oldest first.
    pub async fn orders_for_renewal(&self, renewal_id: &str) -> Result<Vec<Order>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE renewal_id = $1 ORDER BY created_at_ms, id"
        )))
        .bind(renewal_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(|r| order_from_row(&self.key, r)).collect()
    }

    /// Cancels an order that has not been batched yet. Cancelling a
    /// cancelled order is a no-op that returns it.
    pub async fn cancel_order(&self, id: &str, reason: &str) -> Result<Order, Error> {
        let order = self.get_order(id).await?;
        if order.status == Status::Cancelled {
            return Ok(order);
        }
        if order.status != Status::Created {
            return Err(Error::NotCancellable {
                status: order.status.to_string(),
            });
        }
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let reason = if reason.is_empty() {
            "cancelled".to_owned()
        } else {
            reason
        };
        let mut tx = self.db.begin().await?;
        let moved = store::move_order(
            &mut tx,
            store::Move {
                order_id: id,
                renewal_id: &order.renewal_id,
                from: Status::Created,
                to: Status::Cancelled,
                reason: Some(&reason),
                tracking: None,
            },
            self.clock.now_ms(),
        )
        .await?;
        if !moved {
            drop(tx);
            let now = self.get_order(id).await?;
            return Err(Error::NotCancellable {
                status: now.status.to_string(),
            });
        }
        self.db.commit(tx).await?;
        self.get_order(id).await
    }

    fn modules(&self, order: &Order) -> Result<Vec<Vec<bool>>, Error> {
        let patterns = self.patterns.as_ref().ok_or(Error::BarcodeUnavailable)?;
        let symbol = pdf417::encode(&order.card.encode(), pdf417::Options::default())
            .map_err(Error::Barcode)?;
        Ok(symbol.modules(patterns))
    }

    /// The order's PDF417 barcode as PNG or SVG.
    pub async fn barcode(&self, id: &str, format: ImageFormat) -> Result<Vec<u8>, Error> {
        let order = self.get_order(id).await?;
        let rows = self.modules(&order)?;
        match format {
            ImageFormat::Png => {
                pdf417::to_png(&rows, pdf417::Render::default()).map_err(Error::Barcode)
            }
            ImageFormat::Svg => Ok(pdf417::to_svg(&rows).into_bytes()),
        }
    }

    /// The temporary licence (PDF) for an order that is neither cancelled
    /// nor failed. It carries the barcode when the pattern tables are
    /// configured.
    pub async fn temporary_licence(&self, id: &str) -> Result<Vec<u8>, Error> {
        let order = self.get_order(id).await?;
        if matches!(order.status, Status::Cancelled | Status::Failed) {
            return Err(Error::Invalid {
                field: "order",
                reason: format!("the order is {}", order.status),
            });
        }
        let until_ms = order.created_at_ms + i64::from(self.config.temporary_days) * 86_400_000;
        let (y, m, d) = plaza_kernel::clock::civil_from_days(until_ms.div_euclid(86_400_000));
        let valid_until = Date::new(y as u16, m as u8, d as u8).map_err(Error::Card)?;
        let rows = match self.modules(&order) {
            Ok(rows) => Some(rows),
            Err(Error::BarcodeUnavailable) => None,
            Err(e) => return Err(e),
        };
        Ok(crate::pdf::temporary_licence(
            &order.card,
            &self.config.jurisdiction_name,
            valid_until,
            rows.as_deref(),
        ))
    }
}
