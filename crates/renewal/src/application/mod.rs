//! A citizen's online renewal, from start to card.
//!
//! The citizen starts a renewal of the driver record they claimed (refused,
//! with every rule, when it may not be renewed online), gives a photo that
//! passes the checks, confirms a deliverable mailing address, chooses mail
//! or pickup, and pays. Payment starts the renewal saga ([`saga`]), which
//! orders the card; the card's progress comes back as fulfillment events
//! ([`events`]). A failed card order is refunded; a cancelled application
//! releases everything. Each change is a line of the timeline the citizen
//! sees, and every read of an application is authorised by the policies.

pub mod card;
pub mod events;
pub mod grpc;
pub mod paying;
pub mod peers;
pub mod saga;
pub mod store;

use std::sync::Arc;

use plaza_contracts::address::v1 as address_pb;
use plaza_contracts::fulfillment::v1 as fulfillment_pb;
use plaza_contracts::payments::v1 as payments_pb;
use plaza_contracts::photo::v1 as photo_pb;
use plaza_kernel::auth::Caller;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, Tx};
use plaza_kernel::error::PublicError;
use plaza_kernel::saga::{SagaEngine, SagaRecord, SagaStatus};
use plaza_policy::{Policies, Resource};

use crate::Drivers;
use crate::eligibility::RenewalRequest;
use crate::error::Error;
pub use peers::{PeerUrls, Peers};
pub use store::{Application, Entry};

/// What the saga's steps share with the application.
pub struct Ctx {
    pub db: Db,
    pub key: DataKey,
    pub peers: Peers,
    pub drivers: Drivers,
    pub clock: SharedClock,
    /// Applications whose saga this process is running, as they were when
    /// paid. The steps read them here instead of from the database: nothing
    /// a step reads changes once an application is paid (every change but
    /// the saga's own needs it `started`, and cancelling waits for the
    /// saga). Held only while the saga runs.
    pub in_saga: std::sync::Mutex<std::collections::HashMap<String, Application>>,
    /// Payments a citizen's request here is recording (see [`paying`]).
    pub paying: paying::Recording,
}

/// Removes an application from [`Ctx::in_saga`] when its saga stops
/// running here, however it stops.
struct InSaga<'a>(&'a Ctx, &'a str);

impl Drop for InSaga<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.0.in_saga.lock() {
            m.remove(self.1);
        }
    }
}

/// An application with its timeline and what is still missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub application: Application,
    pub timeline: Vec<Entry>,
    pub missing: Vec<&'static str>,
}

/// A photo's check, as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoCheck {
    pub name: String,
    pub passed: bool,
    pub reason: String,
    pub advice: String,
}

/// The address service's answer, as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressAnswer {
    pub outcome: String,
    pub deliverable: bool,
    pub lines: Vec<String>,
    /// `(field, from, to)`.
    pub changes: Vec<(String, String, String)>,
    pub suggestions: Vec<String>,
}

#[derive(Clone)]
pub struct Renewals {
    ctx: Arc<Ctx>,
    engine: SagaEngine,
    policies: Policies,
}

/// Seconds a process holds a renewal saga before another may take it up.
pub const LEASE_S: u64 = 10;

const READ: &str = "renewal.application.read";
/// The timeline's line for a payment.
const PAID: &str = "Fee paid.";
const UPDATE: &str = "renewal.application.update";

fn downstream(s: tonic::Status, service: &str) -> Error {
    Error::Downstream(PublicError::from_status(&s, service))
}

impl Renewals {
    pub fn new(
        db: Db,
        key: DataKey,
        drivers: Drivers,
        peers: Peers,
        clock: SharedClock,
    ) -> Renewals {
        let ctx = Arc::new(Ctx {
            db: db.clone(),
            key,
            peers,
            drivers,
            clock: clock.clone(),
            in_saga: Default::default(),
            paying: Default::default(),
        });
        // A renewal whose process died is taken up within seconds.
        let engine = SagaEngine::new(db, vec![saga::definition(ctx.clone())], clock)
            .with_lease(std::time::Duration::from_secs(LEASE_S));
        Renewals {
            ctx,
            engine,
            policies: Policies::shipped(),
        }
    }

    pub fn drivers(&self) -> &Drivers {
        &self.ctx.drivers
    }

    pub fn engine(&self) -> &SagaEngine {
        &self.engine
    }

    /// Subscribes to the payments service's news of charged fees.
    pub async fn subscribe_payments(
        &self,
        bus: &std::sync::Arc<dyn plaza_kernel::bus::Bus>,
        shutdown: plaza_kernel::shutdown::Shutdown,
    ) -> Result<(), plaza_kernel::Error> {
        events::subscribe_payments(self.ctx.clone(), bus, shutdown).await
    }

    fn resource<'a>(&self, app: &'a Application) -> Resource<'a> {
        Resource::new("RenewalApplication", &app.id)
            .owned_by(&app.owner)
            .in_jurisdiction(&app.jurisdiction, None)
    }

    async fn load(&self, caller: &Caller, action: &str, id: &str) -> Result<Application, Error> {
        let app = store::get(&self.ctx.db, id)
            .await?
            .ok_or(Error::ApplicationNotFound)?;
        self.allowed(caller, action, &app)?;
        Ok(app)
    }

    /// `caller` may do `action` on `app`; one who may not even see it is
    /// told it does not exist.
    fn allowed(&self, caller: &Caller, action: &str, app: &Application) -> Result<(), Error> {
        self.policies
            .require_or_hide(
                caller,
                action,
                &self.resource(app),
                Error::ApplicationNotFound.public(),
            )
            .map_err(Error::Denied)
    }

    fn missing(app: &Application) -> Vec<&'static str> {
        let mut m = Vec::new();
        if app.photo_id.is_none() {
            m.push("photo");
        }
        match app.delivery.as_deref() {
            None => m.push("delivery"),
            Some("mail") if app.address_sealed.is_none() => m.push("address"),
            _ => {}
        }
        m
    }

    async fn view(&self, app: Application) -> Result<View, Error> {
        let timeline = store::timeline(&self.ctx.db, &app.id).await?;
        let missing = if app.status == "started" {
            Self::missing(&app)
        } else {
            Vec::new()
        };
        Ok(View {
            application: app,
            timeline,
            missing,
        })
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<View, Error> {
        let app = self.load(caller, READ, id).await?;
        self.view(app).await
    }

    /// Starts a renewal (idempotent by `key`).
    pub async fn start(
        &self,
        caller: &Caller,
        key: &str,
        driver_id: &str,
        wants_real_id: bool,
    ) -> Result<View, Error> {
        let owner = caller.actor();
        let hash = plaza_kernel::idempotency::fingerprint(
            format!("{owner}\n{driver_id}\n{wants_real_id}").as_bytes(),
        );
        let scoped_key = format!("{owner}\n{key}");
        if let Some((id, stored)) = store::by_key(&self.ctx.db, &scoped_key).await? {
            if stored != hash {
                return Err(Error::IdempotencyMismatch);
            }
            return self.get(caller, &id).await;
        }
        let (driver, decision) = self
            .ctx
            .drivers
            .check_eligibility(caller, driver_id, &RenewalRequest { wants_real_id })
            .await?;
        if driver.subject.as_deref() != Some(owner.as_str()) {
            // Staff may check a record, but only its owner renews it.
            return Err(Error::Denied(plaza_policy::denied(caller)));
        }
        if !decision.eligible() {
            return Err(Error::NotEligible(decision.refusals));
        }
        // The id follows from the key, so a retried start reuses the
        // payment intent made for it.
        let id = format!("ren_{}", &self.ctx.key.blind(scoped_key.as_bytes())[..26]);
        let today = decision.today;
        let age = driver.person.birth_date.years_until(today).max(0) as u32;
        let mut payments = self.ctx.peers.payments.clone();
        let intent = self
            .ctx
            .peers
            .as_caller(
                caller,
                payments.create_intent(payments_pb::CreateIntentRequest {
                    idempotency_key: format!("{id}/intent"),
                    reference: id.clone(),
                    description: "Driver's licence renewal".into(),
                    fees: Some(payments_pb::QuoteRequest {
                        licence_class: driver.class.as_str().to_owned(),
                        age,
                        late: driver.expires_on < today,
                        real_id: wants_real_id && !driver.real_id,
                    }),
                }),
            )
            .await
            .map_err(|s| downstream(s, "payments"))?
            .into_inner();
        let now = self.ctx.clock.now_ms();
        let app = Application {
            id: id.clone(),
            driver_id: driver.id.clone(),
            owner: owner.clone(),
            caller: serde_json::to_string(caller).expect("JSON"),
            jurisdiction: driver.jurisdiction.clone(),
            status: "started".into(),
            wants_real_id,
            photo_id: None,
            address_sealed: None,
            delivery: None,
            office_id: None,
            intent_id: intent.id,
            amount_due: intent.amount,
            order_id: None,
            new_expires_on: decision.new_expires_on.to_string(),
            tracking: None,
            refund_due: false,
            created_ms: now,
            updated_ms: now,
        };
        let mut tx = self.ctx.db.begin().await?;
        match store::insert(&mut tx, &app, &scoped_key, &hash).await {
            Ok(()) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                // The same key at once (the other won), or another open
                // renewal of this record.
                if let Some((id, stored)) = store::by_key(&self.ctx.db, &scoped_key).await? {
                    if stored != hash {
                        return Err(Error::IdempotencyMismatch);
                    }
                    return self.get(caller, &id).await;
                }
                return Err(Error::AlreadyOpen);
            }
            Err(e) => return Err(e.into()),
        }
        store::add_entry(
            &self.ctx.db,
            &mut tx,
            &app,
            now,
            "started",
            &format!(
                "Renewal started; the fee is {}.{:02} USD.",
                app.amount_due / 100,
                app.amount_due % 100
            ),
        )
        .await?;
        self.audit(&mut tx, caller, "renewal.application.start", &app, "ok")
            .await?;
        self.ctx.db.commit(tx).await?;
        self.view(app).await
    }

    async fn audit(
        &self,
        tx: &mut plaza_kernel::db::Tx,
        caller: &Caller,
        action: &str,
        app: &Application,
        outcome: &str,
    ) -> Result<(), Error> {
        plaza_audit::trail::record(
            tx,
            crate::SERVICE,
            self.ctx.clock.now_ms(),
            plaza_audit::trail::Record {
                actor: &caller.actor(),
                action,
                resource: &format!("renewal/{}", app.id),
                subject: Some(&app.owner),
                purpose: "licence renewal",
                outcome,
            },
        )
        .await?;
        Ok(())
    }

    /// Loads an application the caller may change, still before payment.
    async fn editable(&self, caller: &Caller, id: &str) -> Result<Application, Error> {
        let app = self.load(caller, UPDATE, id).await?;
        if app.status != "started" {
            return Err(Error::WrongState {
                status: app.status,
                wanted: "started",
            });
        }
        Ok(app)
    }

    /// Changes an application under lock, with a timeline line.
    async fn change(
        &self,
        caller: &Caller,
        id: &str,
        note: &str,
        edit: impl FnOnce(&mut Application) -> Result<(), Error>,
    ) -> Result<View, Error> {
        let mut tx = self.ctx.db.begin().await?;
        let mut app = store::lock(&self.ctx.db, &mut tx, id)
            .await?
            .ok_or(Error::ApplicationNotFound)?;
        edit(&mut app)?;
        let now = self.ctx.clock.now_ms();
        store::update(&mut tx, &app, now).await?;
        store::add_entry(&self.ctx.db, &mut tx, &app, now, &app.status, note).await?;
        self.audit(&mut tx, caller, UPDATE, &app, "ok").await?;
        self.ctx.db.commit(tx).await?;
        self.view(app).await
    }

    pub async fn submit_photo(
        &self,
        caller: &Caller,
        id: &str,
        image: Vec<u8>,
        content_type: &str,
    ) -> Result<(bool, Vec<PhotoCheck>, View), Error> {
        self.editable(caller, id).await?;
        let mut photo = self.ctx.peers.photo.clone();
        let submitted = self
            .ctx
            .peers
            .as_caller(
                caller,
                photo.submit(photo_pb::SubmitRequest {
                    image,
                    content_type: content_type.to_owned(),
                }),
            )
            .await
            .map_err(|s| downstream(s, "photo"))?
            .into_inner();
        let report = submitted.report.unwrap_or_default();
        let checks = report
            .checks
            .iter()
            .map(|c| PhotoCheck {
                name: c.name.clone(),
                passed: c.passed,
                reason: c.reason.clone(),
                advice: c.advice.clone(),
            })
            .collect();
        if !report.accepted || submitted.photo_id.is_empty() {
            let view = self.get(caller, id).await?;
            return Ok((false, checks, view));
        }
        let photo_id = submitted.photo_id;
        let view = self
            .change(caller, id, "Photo accepted.", |a| {
                ensure_started(a)?;
                a.photo_id = Some(photo_id);
                Ok(())
            })
            .await?;
        Ok((true, checks, view))
    }

    pub async fn confirm_address(
        &self,
        caller: &Caller,
        id: &str,
        text: &str,
    ) -> Result<(AddressAnswer, View), Error> {
        self.editable(caller, id).await?;
        let mut address = self.ctx.peers.address.clone();
        let v = self
            .ctx
            .peers
            .as_caller(
                caller,
                address.validate(address_pb::ValidateRequest {
                    text: text.to_owned(),
                }),
            )
            .await
            .map_err(|s| downstream(s, "address"))?
            .into_inner();
        let outcome = match address_pb::Outcome::try_from(v.outcome) {
            Ok(address_pb::Outcome::Exact) => "exact",
            Ok(address_pb::Outcome::Corrected) => "corrected",
            _ => "no_match",
        };
        let lines: Vec<String> = v
            .matched
            .as_ref()
            .map(|m| vec![m.delivery_line.clone(), m.last_line.clone()])
            .unwrap_or_default();
        let answer = AddressAnswer {
            outcome: outcome.to_owned(),
            deliverable: v.deliverable,
            lines: lines.clone(),
            changes: v
                .changes
                .iter()
                .map(|c| (c.field.clone(), c.from.clone(), c.to.clone()))
                .collect(),
            suggestions: v
                .suggestions
                .iter()
                .map(|s| format!("{}, {}", s.delivery_line, s.last_line))
                .collect(),
        };
        if !v.deliverable || lines.iter().any(String::is_empty) {
            let view = self.get(caller, id).await?;
            return Ok((answer, view));
        }
        let sealed = store::seal_lines(&self.ctx.key, id, &lines);
        let view = self
            .change(caller, id, "Mailing address confirmed.", |a| {
                ensure_started(a)?;
                a.address_sealed = Some(sealed);
                Ok(())
            })
            .await?;
        Ok((answer, view))
    }

    pub async fn choose_delivery(
        &self,
        caller: &Caller,
        id: &str,
        kind: &str,
        office_id: &str,
    ) -> Result<View, Error> {
        self.editable(caller, id).await?;
        let (delivery, office) = match (kind, office_id.trim()) {
            ("mail", "") => ("mail", None),
            ("pickup", office) if !office.is_empty() && office.len() <= 64 => {
                ("pickup", Some(office.to_owned()))
            }
            ("pickup", _) => {
                return Err(Error::invalid(
                    "office_id",
                    "choose the office to pick the card up at",
                ));
            }
            _ => return Err(Error::invalid("kind", "mail, or pickup with an office_id")),
        };
        let note = match &office {
            None => "The card will be mailed.".to_owned(),
            Some(o) => {
                // The office must exist and take card pickups.
                let mut offices = self.ctx.peers.offices.clone();
                let found = self
                    .ctx
                    .peers
                    .as_caller(
                        caller,
                        offices.get_office(plaza_contracts::offices::v1::GetOfficeRequest {
                            id: o.clone(),
                        }),
                    )
                    .await;
                let office = match found {
                    Ok(r) => r.into_inner(),
                    Err(s) if s.code() == tonic::Code::NotFound => {
                        return Err(Error::invalid(
                            "office_id",
                            "there is no office with this id",
                        ));
                    }
                    Err(s) => return Err(downstream(s, "offices")),
                };
                format!(
                    "The card will be picked up at {} (office {o}).",
                    office.name
                )
            }
        };
        self.change(caller, id, &note, |a| {
            ensure_started(a)?;
            a.delivery = Some(delivery.to_owned());
            a.office_id = office;
            Ok(())
        })
        .await
    }

    /// Pays the fee, then runs the saga that orders the card.
    pub async fn pay(&self, caller: &Caller, id: &str, card_number: &str) -> Result<View, Error> {
        let app = self.load(caller, UPDATE, id).await?;
        let mut paid = None;
        // Held until the request ends, saga and all.
        let mut paying = None;
        if app.status == "started" {
            let missing = Self::missing(&app);
            if !missing.is_empty() {
                return Err(Error::OutOfOrder(missing));
            }
            let paying = paying.insert(self.ctx.paying.start(id));
            let mut payments = self.ctx.peers.payments.clone();
            self.ctx
                .peers
                .as_caller(
                    caller,
                    payments.pay(payments_pb::PayRequest {
                        intent_id: app.intent_id.clone(),
                        card_number: card_number.to_owned(),
                    }),
                )
                .await
                .map_err(|s| downstream(s, "payments"))?;
            // Most often the application waits for this payment: on
            // PostgreSQL one statement moves it, without the writer.
            let moved = store::move_alone_with_entry(
                &self.ctx.db,
                id,
                &app.owner,
                ("started", "paid"),
                self.ctx.clock.now_ms(),
                PAID,
            )
            .await?;
            let now = match moved {
                Some(now) => now,
                None => payment_arrived(&self.ctx, id).await?,
            };
            paying.recorded();
            if now.status != "paid" {
                // Cancelled while the card was being charged: the payment is
                // marked for refund, and the card is not ordered.
                self.allowed(caller, READ, &now)?;
                return self.view(now).await;
            }
            paid = Some(now);
        } else if app.status != "paid" {
            // Paid and ordered already: paying again changes nothing.
            return self.view(app).await;
        }
        match self.run_saga(id, paid).await? {
            Some(after) => {
                self.allowed(caller, READ, &after)?;
                self.view(after).await
            }
            None => self.get(caller, id).await,
        }
    }

    /// Runs (or resumes) the saga of a paid application and records its end.
    pub async fn order_card(&self, id: &str) -> Result<(), Error> {
        self.run_saga(id, None).await.map(|_| ())
    }

    /// [`Renewals::order_card`], given the application as it was paid when
    /// the caller has it; the application after the saga's end is recorded
    /// (`None` while the saga is not at an end).
    async fn run_saga(
        &self,
        id: &str,
        paid: Option<Application>,
    ) -> Result<Option<Application>, Error> {
        let _held = paid.map(|app| {
            if let Ok(mut m) = self.ctx.in_saga.lock() {
                m.insert(id.to_owned(), app);
            }
            InSaga(&self.ctx, id)
        });
        let record = self
            .engine
            .start(saga::KIND, id, serde_json::json!({"application_id": id}))
            .await?;
        // The saga's end was recorded with it (see `saga::End`), which left
        // the application here as it is now.
        if let Some(app) = self
            .ctx
            .in_saga
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            && app.status != "paid"
        {
            return Ok(Some(app));
        }
        self.saga_finished(&record).await
    }

    /// Records the end of `saga` on its application, unless it is recorded
    /// already (a saga that ended in another process, or before the end was
    /// recorded with it).
    async fn saga_finished(&self, saga: &SagaRecord) -> Result<Option<Application>, Error> {
        match saga.status {
            SagaStatus::Stuck => {
                tracing::error!(
                    application = saga.id,
                    "renewal saga stuck: an operator must look"
                );
                return Ok(None);
            }
            SagaStatus::Running | SagaStatus::Unwinding => return Ok(None),
            SagaStatus::Done | SagaStatus::Unwound => {}
        }
        let (ctx, saga) = (self.ctx.clone(), saga.clone());
        self.ctx
            .db
            .on_writer(async move {
                let mut tx = ctx.db.begin().await?;
                let app = record_end(&ctx, &mut tx, &saga).await?;
                ctx.db.commit(tx).await?;
                Ok(app)
            })
            .await
    }

    /// Finishes sagas a crash left half-way, and records their ends.
    pub async fn resume(&self) -> Result<usize, Error> {
        let n = self.engine.resume_all().await?;
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT id FROM renewal_applications WHERE status = 'paid'",
        )
        .fetch_all(self.ctx.db.reader())
        .await?;
        for id in rows {
            if let Some(rec) = self.engine.load(&id).await? {
                self.saga_finished(&rec).await?;
            } else {
                // Paid, but the saga was never recorded: start it.
                self.order_card(&id).await?;
            }
        }
        Ok(n)
    }

    /// Cancels an application: before payment nothing else is needed; after
    /// it, the card order is cancelled (while the vendor has not got it) and
    /// the fee refunded.
    pub async fn cancel(&self, caller: &Caller, id: &str, reason: &str) -> Result<View, Error> {
        let app = self.load(caller, UPDATE, id).await?;
        let mut charged = app.status != "started";
        match app.status.as_str() {
            "started" => {
                // A payment may be under way: wait for its answer.
                let mut payments = self.ctx.peers.payments.clone();
                let intent = self
                    .ctx
                    .peers
                    .as_service(payments.get_intent(payments_pb::GetIntentRequest {
                        id: app.intent_id.clone(),
                    }))
                    .await
                    .map_err(|s| downstream(s, "payments"))?
                    .into_inner();
                match intent.status.as_str() {
                    "processing" => {
                        return Err(Error::WrongState {
                            status: "paying".into(),
                            wanted: "started or ordered (try again in a moment)",
                        });
                    }
                    // Charged, but the answer never reached this record (a
                    // crash): the fee is owed back.
                    "succeeded" => charged = true,
                    _ => {}
                }
            }
            // The saga is ordering the card right now: cancelling under it
            // could refund a card that is then made.
            "paid" => {
                return Err(Error::WrongState {
                    status: app.status,
                    wanted: "started or ordered (try again in a moment)",
                });
            }
            "ordered" => {
                if let Some(order) = &app.order_id {
                    let mut client = self.ctx.peers.fulfillment.clone();
                    self.ctx
                        .peers
                        .as_caller(
                            caller,
                            client.cancel_order(fulfillment_pb::CancelOrderRequest {
                                id: order.clone(),
                                reason: "cancelled by the applicant".into(),
                            }),
                        )
                        .await
                        .map_err(|s| match s.code() {
                            tonic::Code::FailedPrecondition => Error::TooLateToCancel,
                            _ => downstream(s, "fulfillment"),
                        })?;
                }
            }
            "cancelled" => return self.view(app).await,
            _ => return Err(Error::TooLateToCancel),
        }
        let note = if reason.trim().is_empty() {
            "Cancelled by the applicant.".to_owned()
        } else {
            format!("Cancelled by the applicant: {}", reason.trim())
        };
        let loaded = app.status.clone();
        // The refund owed is recorded with the cancellation; the refund
        // itself follows at once, or in the next background pass.
        let view = self
            .change(caller, id, &note, |a| {
                if a.status != loaded {
                    return Err(Error::WrongState {
                        status: a.status.clone(),
                        wanted: "unchanged since it was read (try again)",
                    });
                }
                a.refund_due = charged;
                a.status = "cancelled".into();
                Ok(())
            })
            .await?;
        if charged {
            metrics::counter!("plaza_renewal_cancelled_after_payment_total").increment(1);
            if let Err(e) = self.settle_refunds().await {
                tracing::warn!(error = %plaza_kernel::error::chain(&e), "refund after cancellation left for the next pass");
            }
            return self.get(caller, id).await;
        }
        Ok(view)
    }

    /// The temporary licence, once the card is ordered.
    pub async fn temporary_licence(&self, caller: &Caller, id: &str) -> Result<Vec<u8>, Error> {
        let app = self.load(caller, READ, id).await?;
        let Some(order) = app.order_id.clone() else {
            return Err(Error::WrongState {
                status: app.status,
                wanted: "ordered",
            });
        };
        let mut client = self.ctx.peers.fulfillment.clone();
        // As whoever asks: fulfillment decides and records who printed it.
        Ok(self
            .ctx
            .peers
            .as_caller(
                caller,
                client.temporary_licence(fulfillment_pb::TemporaryLicenceRequest { id: order }),
            )
            .await
            .map_err(|s| downstream(s, "fulfillment"))?
            .into_inner()
            .pdf)
    }

    /// Refunds payments of applications whose card order failed.
    pub async fn settle_refunds(&self) -> Result<usize, Error> {
        let mut done = 0;
        for app in store::refunds_due(&self.ctx.db, 100).await? {
            if saga::refund(&self.ctx, &app, &format!("{}/order-failed-refund", app.id))
                .await
                .is_err()
            {
                continue;
            }
            let mut tx = self.ctx.db.begin().await?;
            if let Some(mut a) = store::lock(&self.ctx.db, &mut tx, &app.id).await? {
                a.refund_due = false;
                let now = self.ctx.clock.now_ms();
                store::update(&mut tx, &a, now).await?;
                store::add_entry(
                    &self.ctx.db,
                    &mut tx,
                    &a,
                    now,
                    &a.status,
                    "The fee was refunded.",
                )
                .await?;
            }
            self.ctx.db.commit(tx).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Every `every`: resumes sagas left by a process that died (once their
    /// lease has run out) and settles refunds.
    pub async fn run_background(
        self,
        every: std::time::Duration,
        mut shutdown: plaza_kernel::shutdown::Shutdown,
    ) {
        loop {
            if let Err(e) = self.resume().await {
                tracing::warn!(error = %plaza_kernel::error::chain(&e), "resuming renewal sagas failed");
            }
            if let Err(e) = self.settle_refunds().await {
                tracing::warn!(error = %plaza_kernel::error::chain(&e), "renewal refunds pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

/// Records that the fee was charged (from the payment answer or the
/// payments service's event, whichever comes first): a started application
/// becomes paid; a cancelled one owes a refund. Returns the application
/// after.
pub async fn payment_arrived(ctx: &Arc<Ctx>, id: &str) -> Result<Application, Error> {
    let (c, id) = (ctx.clone(), id.to_owned());
    ctx.db
        .on_writer(async move { payment_arrived_now(&c, &id).await })
        .await
}

/// Records the end of `saga` (done or unwound) on its application, in `tx`:
/// a paid application becomes ordered, with its order, or failed. The
/// application after; `None` when there is none.
async fn record_end(
    ctx: &Ctx,
    tx: &mut Tx,
    saga: &SagaRecord,
) -> Result<Option<Application>, Error> {
    let Some((new_status, note, order)) = end_of(saga) else {
        return Ok(None);
    };
    let now = ctx.clock.now_ms();
    match store::move_with_entry(&ctx.db, tx, &saga.id, "paid", new_status, order, now, &note)
        .await?
    {
        Some(app) => Ok(Some(app)),
        // Recorded already, or gone.
        None => store::lock(&ctx.db, tx, &saga.id).await,
    }
}

/// What the end of `saga` makes of its paid application: its status, the
/// timeline's note and the card's order; `None` while the saga runs.
fn end_of(saga: &SagaRecord) -> Option<(&'static str, String, Option<&str>)> {
    let (new_status, note) = match saga.status {
        SagaStatus::Done => (
            "ordered",
            "Card ordered. Your temporary licence is ready to print.".to_owned(),
        ),
        SagaStatus::Unwound => (
            "failed",
            format!(
                "The card could not be ordered ({}); the fee was refunded.",
                saga.error.as_deref().unwrap_or("unknown reason")
            ),
        ),
        SagaStatus::Running | SagaStatus::Unwinding | SagaStatus::Stuck => return None,
    };
    let order = saga
        .outputs
        .get("order")
        .and_then(|o| o["order_id"].as_str());
    Some((new_status, note, order))
}

/// Whether a payment arriving changes `app` (see [`payment_arrived`]).
fn payment_changes(app: &Application) -> bool {
    app.status == "started" || (app.status == "cancelled" && !app.refund_due)
}

async fn payment_arrived_now(ctx: &Ctx, id: &str) -> Result<Application, Error> {
    let mut tx = ctx.db.begin().await?;
    // Most often the application waits for this payment: one statement
    // moves it.
    let now = ctx.clock.now_ms();
    if let Some(app) =
        store::move_with_entry(&ctx.db, &mut tx, id, "started", "paid", None, now, PAID).await?
    {
        ctx.db.commit(tx).await?;
        return Ok(app);
    }
    // Not started (a status never goes back to it): only a cancellation
    // that owes no refund yet changes.
    let Some(mut app) = store::lock(&ctx.db, &mut tx, id).await? else {
        return Err(Error::ApplicationNotFound);
    };
    if app.status != "cancelled" || app.refund_due {
        return Ok(app);
    }
    app.refund_due = true;
    let note = "The fee arrived after the cancellation; it will be refunded.";
    app.updated_ms = now;
    store::update(&mut tx, &app, now).await?;
    store::add_entry(&ctx.db, &mut tx, &app, now, &app.status, note).await?;
    ctx.db.commit(tx).await?;
    Ok(app)
}

fn ensure_started(a: &Application) -> Result<(), Error> {
    if a.status == "started" {
        Ok(())
    } else {
        Err(Error::WrongState {
            status: a.status.clone(),
            wanted: "started",
        })
    }
}
