//! The renewal saga: photo → address → payment → card order.
//!
//! It starts once the citizen has paid. Each step checks with the service
//! that owns its part that the part is still good, and the last one orders
//! the card; should a step fail for good, the payment is refunded and an
//! order already made is cancelled. Every step is safe to run twice (a
//! restart mid-step): the order carries the step's idempotency key, the
//! refund its own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plaza_contracts::address::v1 as address_pb;
use plaza_contracts::fulfillment::v1 as fulfillment_pb;
use plaza_contracts::payments::v1 as payments_pb;
use plaza_contracts::photo::v1 as photo_pb;
use plaza_kernel::auth::Caller;
use plaza_kernel::db::{Db, Dialect, Tx};
use plaza_kernel::saga::{SagaDef, SagaEnd, SagaMove, SagaRecord, Step, StepContext, StepError};
use serde_json::{Value, json};
use tonic::Code;

use super::Ctx;
use super::store::{self, Application};

pub const KIND: &str = "renewal";

/// Maps a peer's answer to a step error: unavailability and timeouts are
/// worth retrying, anything else is not.
fn step_error(s: tonic::Status) -> StepError {
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted => {
            StepError::Retryable(format!("{:?}: {}", s.code(), s.message()))
        }
        _ => StepError::Permanent(format!("{:?}: {}", s.code(), s.message())),
    }
}

async fn application(ctx: &Ctx, s: &StepContext) -> Result<Application, StepError> {
    let id = s.input["application_id"]
        .as_str()
        .ok_or_else(|| StepError::Permanent("saga input without application_id".into()))?;
    if let Some(app) = ctx.in_saga.lock().ok().and_then(|m| m.get(id).cloned()) {
        return Ok(app);
    }
    store::get(&ctx.db, id)
        .await
        .map_err(|e| StepError::Retryable(e.to_string()))?
        .ok_or_else(|| StepError::Permanent(format!("application {id} is gone")))
}

fn citizen(app: &Application) -> Result<Caller, StepError> {
    serde_json::from_str(&app.caller)
        .map_err(|e| StepError::Permanent(format!("stored caller: {e}")))
}

/// The stored photo is still there and readable.
struct PhotoStep(Arc<Ctx>);

#[async_trait]
impl Step for PhotoStep {
    fn name(&self) -> &'static str {
        "photo"
    }
    // Reads the photo's record only: run again after a restart.
    fn checkpoint(&self) -> bool {
        false
    }
    async fn action(&self, s: &StepContext) -> Result<Value, StepError> {
        let app = application(&self.0, s).await?;
        let photo_id = app
            .photo_id
            .clone()
            .ok_or_else(|| StepError::Permanent("no photo".into()))?;
        let mut client = self.0.peers.photo.clone();
        let got = self
            .0
            .peers
            .as_service(client.get(photo_pb::GetRequest {
                photo_id: photo_id.clone(),
                without_image: true,
            }))
            .await
            .map_err(step_error)?
            .into_inner();
        Ok(json!({"photo_id": photo_id, "width": got.width, "height": got.height}))
    }
    async fn undo(&self, _: &StepContext, _: &Value) -> Result<(), StepError> {
        // A stored photo is kept by its content address; nothing to undo.
        Ok(())
    }
}

/// A mailed card goes to an address the reference set still knows.
struct AddressStep(Arc<Ctx>);

#[async_trait]
impl Step for AddressStep {
    fn name(&self) -> &'static str {
        "address"
    }
    // Asks the address service only: run again after a restart.
    fn checkpoint(&self) -> bool {
        false
    }
    async fn action(&self, s: &StepContext) -> Result<Value, StepError> {
        let app = application(&self.0, s).await?;
        if app.delivery.as_deref() != Some("mail") {
            return Ok(json!({"delivery": "pickup", "office_id": app.office_id}));
        }
        let lines = store::open_lines(&self.0.key, &app)
            .map_err(|e| StepError::Permanent(e.to_string()))?;
        let mut client = self.0.peers.address.clone();
        let v = self
            .0
            .peers
            .as_service(client.validate(address_pb::ValidateRequest {
                text: lines.join(", "),
            }))
            .await
            .map_err(step_error)?
            .into_inner();
        if !v.deliverable {
            return Err(StepError::Permanent(
                "the mailing address is not deliverable".into(),
            ));
        }
        Ok(json!({"delivery": "mail"}))
    }
    async fn undo(&self, _: &StepContext, _: &Value) -> Result<(), StepError> {
        Ok(())
    }
}

/// The fee is paid; its undo refunds it.
struct PaymentStep(Arc<Ctx>);

#[async_trait]
impl Step for PaymentStep {
    fn name(&self) -> &'static str {
        "payment"
    }
    // Reads the intent only: run again after a restart.
    fn checkpoint(&self) -> bool {
        false
    }
    fn deadline(&self) -> Duration {
        // A payment in flight is settled by the payments service within a
        // minute (its recovery loop).
        Duration::from_secs(120)
    }
    async fn action(&self, s: &StepContext) -> Result<Value, StepError> {
        let app = application(&self.0, s).await?;
        let mut client = self.0.peers.payments.clone();
        let intent = self
            .0
            .peers
            .as_service(client.get_intent(payments_pb::GetIntentRequest {
                id: app.intent_id.clone(),
            }))
            .await
            .map_err(step_error)?
            .into_inner();
        match intent.status.as_str() {
            "succeeded" => Ok(json!({"intent_id": intent.id, "charge_id": intent.charge_id})),
            "processing" => Err(StepError::Retryable("payment still processing".into())),
            other => Err(StepError::Permanent(format!("payment is {other}"))),
        }
    }
    async fn undo(&self, s: &StepContext, _: &Value) -> Result<(), StepError> {
        let app = application(&self.0, s).await?;
        refund(&self.0, &app, &format!("{}/refund", s.idempotency_key)).await
    }
}

/// Refunds what is left of the application's payment; nothing paid, or
/// nothing left, is success.
pub async fn refund(ctx: &Ctx, app: &Application, key: &str) -> Result<(), StepError> {
    let mut client = ctx.peers.payments.clone();
    let answer = ctx
        .peers
        .as_service(client.refund(payments_pb::RefundRequest {
            intent_id: app.intent_id.clone(),
            idempotency_key: key.to_owned(),
            amount: 0,
            reason: "the renewal could not be completed".into(),
        }))
        .await;
    match answer {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::FailedPrecondition => {
            // payments.not_paid or payments.refund_too_large (nothing left).
            Ok(())
        }
        Err(s) => Err(step_error(s)),
    }
}

/// Orders the card; its undo cancels the order.
struct OrderStep(Arc<Ctx>);

#[async_trait]
impl Step for OrderStep {
    fn name(&self) -> &'static str {
        "order"
    }
    async fn action(&self, s: &StepContext) -> Result<Value, StepError> {
        let app = application(&self.0, s).await?;
        // The application learns its order with the saga's end (`End`).
        let order = create_order(&self.0, &app, &s.idempotency_key).await?;
        Ok(json!({"order_id": order.id}))
    }
    async fn undo(&self, s: &StepContext, output: &Value) -> Result<(), StepError> {
        let app = application(&self.0, s).await?;
        let order_id = match output["order_id"].as_str() {
            Some(id) => id.to_owned(),
            // The action may have created the order before failing: the
            // same key finds it.
            None => match create_order(&self.0, &app, &s.idempotency_key).await {
                Ok(o) => o.id,
                Err(StepError::Permanent(_)) => return Ok(()),
                Err(e) => return Err(e),
            },
        };
        let mut client = self.0.peers.fulfillment.clone();
        let caller = citizen(&app)?;
        let answer = self
            .0
            .peers
            .as_caller(
                &caller,
                client.cancel_order(fulfillment_pb::CancelOrderRequest {
                    id: order_id,
                    reason: "renewal unwound".into(),
                }),
            )
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(step_error(s)),
        }
    }
}

async fn create_order(
    ctx: &Ctx,
    app: &Application,
    key: &str,
) -> Result<fulfillment_pb::Order, StepError> {
    let card = super::card::card_data(ctx, app)
        .await
        .map_err(|e| StepError::Permanent(e.to_string()))?;
    let delivery = match app.delivery.as_deref() {
        Some("pickup") => fulfillment_pb::delivery::Kind::Pickup(fulfillment_pb::PickupDelivery {
            office_id: app.office_id.clone().unwrap_or_default(),
        }),
        _ => fulfillment_pb::delivery::Kind::Mail(fulfillment_pb::MailDelivery {
            lines: store::open_lines(&ctx.key, app)
                .map_err(|e| StepError::Permanent(e.to_string()))?,
        }),
    };
    let request = plaza_kernel::grpc::with_idempotency_key(
        tonic::Request::new(fulfillment_pb::CreateOrderRequest {
            renewal_id: app.id.clone(),
            card: Some(card),
            delivery: Some(fulfillment_pb::Delivery {
                kind: Some(delivery),
            }),
            owner: app.owner.clone(),
        }),
        key,
    )
    .map_err(|e| StepError::Permanent(e.to_string()))?;
    let caller = citizen(app)?;
    let mut client = ctx.peers.fulfillment.clone();
    Ok(ctx
        .peers
        .as_caller(&caller, client.create_order(request))
        .await
        .map_err(step_error)?
        .into_inner())
}

/// Records the saga's end on the application (ordered, with its order, or
/// failed) in the transaction that records the end.
struct End(Arc<Ctx>);

fn kernel_error(e: crate::Error) -> plaza_kernel::Error {
    match e {
        crate::Error::Kernel(k) => k,
        crate::Error::Database(d) => plaza_kernel::Error::Database(d),
        other => plaza_kernel::Error::Invalid(other.to_string()),
    }
}

impl End {
    /// A saga run for a payment made here hands the application back.
    fn hand_back(&self, saga: &SagaRecord, app: Option<Application>) {
        if let (Some(app), Ok(mut held)) = (app, self.0.in_saga.lock())
            && let Some(slot) = held.get_mut(&saga.id)
        {
            *slot = app;
        }
    }
}

#[async_trait]
impl SagaEnd for End {
    async fn ended(&self, tx: &mut Tx, saga: &SagaRecord) -> Result<(), plaza_kernel::Error> {
        let app = super::record_end(&self.0, tx, saga)
            .await
            .map_err(kernel_error)?;
        self.hand_back(saga, app);
        Ok(())
    }

    /// For a saga run for a payment made here (its application, and so its
    /// owner, known), on PostgreSQL: the application's move, its line and
    /// its news go into the statement that ends the saga.
    async fn ended_alone(
        &self,
        db: &Db,
        saga: &SagaRecord,
        change: &SagaMove<'_>,
    ) -> Result<Option<bool>, plaza_kernel::Error> {
        let owner = self
            .0
            .in_saga
            .lock()
            .ok()
            .and_then(|held| held.get(&saga.id).map(|app| app.owner.clone()));
        let (Some(owner), Some((to, note, order))) = (owner, super::end_of(saga)) else {
            return Ok(None);
        };
        if db.dialect() != Dialect::Postgres {
            return Ok(None);
        }
        let now = self.0.clock.now_ms();
        let moved = store::move_with_saga(
            db,
            change,
            &saga.id,
            &owner,
            ("paid", to),
            order,
            now,
            &note,
        )
        .await
        .map_err(kernel_error)?;
        let Some(app) = moved else {
            return Ok(Some(false));
        };
        let app = match app {
            Some(app) => Some(app),
            // Recorded already, or gone.
            None => store::get(db, &saga.id).await.map_err(kernel_error)?,
        };
        self.hand_back(saga, app);
        Ok(Some(true))
    }
}

/// The saga's definition.
pub fn definition(ctx: Arc<Ctx>) -> SagaDef {
    SagaDef::new(
        KIND,
        vec![
            Arc::new(PhotoStep(ctx.clone())),
            Arc::new(AddressStep(ctx.clone())),
            Arc::new(PaymentStep(ctx.clone())),
            Arc::new(OrderStep(ctx.clone())),
        ],
    )
    .with_end(Arc::new(End(ctx)))
}
