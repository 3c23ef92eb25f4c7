//! Payment intents, charges, refunds, webhooks, receipts and
//! reconciliation.
//!
//! Exactly once: an intent is charged under the processor idempotency key
//! `<intent>/<attempt>`, and the attempt number is committed before the
//! processor is called. A repeated or resumed call resends the same key,
//! so the processor answers with the charge it already made. Every money
//! movement is booked in the ledger under the processor's own id, which is
//! unique: the synchronous answer, a webhook (even delivered twice or
//! late) and the recovery loop may all report the same charge; it is
//! booked once. Should a second charge for a paid intent ever appear (a
//! request lost in flight that the processor executed after all), it is
//! booked to a suspense account and refunded at once.

use std::sync::Arc;
use std::time::Duration;

use plaza_kernel::auth::Caller;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::db::{Db, Dialect, Tx};
use plaza_kernel::outbox::{self, NewEvent};
use plaza_policy::{Policies, Resource};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Error;
use crate::fees::{FeeInput, FeeLine, FeeSchedule, Quote};
use crate::processor::{
    CardProcessor, ProcessorCharge, ProcessorError, ProcessorRefund, verify_signature,
};

/// Ledger accounts.
pub const CLEARING: &str = "asset:processor_clearing";
pub const REFUNDS: &str = "revenue:refunds";
pub const SUSPENSE: &str = "liability:duplicate_charges";

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    pub webhook_secret: String,
    /// How old a webhook signature may be.
    pub webhook_tolerance_s: i64,
    /// An attempt left `processing` this long is settled from the
    /// processor's records by the recovery loop. It must exceed the longest
    /// a request of that attempt can still be on its way to the processor
    /// (`attempts` × the processor call timeout, with backoff), or an
    /// attempt could be reopened while its charge is about to land.
    pub settle_after_ms: i64,
    /// Calls to the processor per request before answering "unavailable".
    pub attempts: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            webhook_secret: "whsec_plaza_sim".into(),
            webhook_tolerance_s: 300,
            settle_after_ms: 30_000,
            attempts: 3,
        }
    }
}

/// Where an intent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    RequiresPayment,
    Processing,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPayment => "requires_payment",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Result<Status, Error> {
        Ok(match s {
            "requires_payment" => Status::RequiresPayment,
            "processing" => Status::Processing,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            other => {
                return Err(Error::Invalid {
                    field: "status",
                    reason: format!("stored status {other}"),
                });
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub reference: String,
    pub payer: String,
    pub description: String,
    pub lines: Vec<FeeLine>,
    pub amount: i64,
    pub currency: String,
    pub status: Status,
    pub attempt: i64,
    pub charge_id: Option<String>,
    pub decline_code: Option<String>,
    pub paid_at_ms: Option<i64>,
    pub refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    pub refund_id: String,
    /// `pending` or `succeeded`.
    pub status: String,
    pub amount: i64,
    pub intent: Intent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub intent_id: String,
    pub transaction_id: String,
    pub paid_at_ms: i64,
    pub reason: String,
    pub payer: String,
    pub lines: Vec<FeeLine>,
    pub amount: i64,
    pub currency: String,
    pub refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `missing_in_ledger`, `missing_at_processor` or `amount_differs`.
    pub kind: String,
    pub processor_id: String,
    pub reference: String,
    pub ledger_amount: i64,
    pub processor_amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub date: String,
    pub matched: i64,
    pub ledger_total: i64,
    pub processor_total: i64,
    pub differences: Vec<Difference>,
}

/// The state of the whole ledger, for checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCheck {
    pub journals: i64,
    /// Sum of every posting: zero when balanced.
    pub total: i64,
    /// Journals whose postings do not sum to zero.
    pub unbalanced: i64,
    /// The processor clearing account: money collected less refunded.
    pub clearing: i64,
}

/// What the recovery loop did in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    pub settled: u64,
    pub reopened: u64,
    pub refunds_completed: u64,
}

/// What recording a charge did.
enum Settled {
    /// The intent is paid by it (as it is now).
    Paid(Box<Intent>),
    /// A second charge of an intent paid already: a refund of it is due.
    Duplicate(String),
    /// Known already, or for no intent.
    Nothing,
}

/// What paying an intent starts from: a claimed attempt, or the intent
/// already paid.
enum Attempt {
    /// The attempt's number, and the intent as it was before.
    Claimed(i64, Box<Intent>),
    Paid(Box<Intent>),
}

#[derive(Clone)]
pub struct Payments {
    db: Db,
    processor: Arc<dyn CardProcessor>,
    fees: Arc<FeeSchedule>,
    policies: Arc<Policies>,
    clock: SharedClock,
    cfg: Arc<PaymentsConfig>,
}

const INTENT_COLUMNS: &str = "id, reference, payer, description, lines, amount, currency, status, attempt, charge_id, decline_code, paid_at_ms, refunded";

fn row_to_intent(r: &AnyRow) -> Result<Intent, Error> {
    let lines: String = r.try_get(4)?;
    let status: String = r.try_get(7)?;
    Ok(Intent {
        id: r.try_get(0)?,
        reference: r.try_get(1)?,
        payer: r.try_get(2)?,
        description: r.try_get(3)?,
        lines: serde_json::from_str(&lines).map_err(|e| Error::Invalid {
            field: "lines",
            reason: e.to_string(),
        })?,
        amount: r.try_get(5)?,
        currency: r.try_get(6)?,
        status: Status::parse(&status)?,
        attempt: r.try_get(8)?,
        charge_id: r.try_get(9)?,
        decline_code: r.try_get(10)?,
        paid_at_ms: r.try_get(11)?,
        refunded: r.try_get(12)?,
    })
}

/// `YYYY-MM-DD` (UTC) of a time in ms.
pub fn utc_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil from days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn valid_card(raw: &str) -> Result<String, Error> {
    let card: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !(12..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid {
            field: "card_number",
            reason: "a card number is 12 to 19 digits".into(),
        });
    }
    Ok(card)
}

impl Payments {
    pub fn new(
        db: Db,
        processor: Arc<dyn CardProcessor>,
        fees: FeeSchedule,
        policies: Arc<Policies>,
        clock: SharedClock,
        cfg: PaymentsConfig,
    ) -> Payments {
        Payments {
            db,
            processor,
            fees: Arc::new(fees),
            policies,
            clock,
            cfg: Arc::new(cfg),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn require(&self, caller: &Caller, action: &str, r: &Resource<'_>) -> Result<(), Error> {
        self.policies
            .require(caller, action, r)
            .map_err(Error::Denied)
    }

    pub fn quote(&self, caller: &Caller, input: &FeeInput) -> Result<Quote, Error> {
        self.require(caller, "payments.quote", &Resource::new("FeeSchedule", "*"))?;
        self.fees.quote(input)
    }

    /// Creates the intent to pay the fees of `fees` for `reference`; the
    /// same key and request give the same intent.
    pub async fn create_intent(
        &self,
        caller: &Caller,
        idempotency_key: &str,
        reference: &str,
        description: &str,
        fees: &FeeInput,
    ) -> Result<Intent, Error> {
        self.require(
            caller,
            "payments.intent.create",
            &Resource::new("PaymentIntent", "*"),
        )?;
        let key = plaza_kernel::idempotency::validate_key(idempotency_key)?;
        if reference.is_empty() || reference.len() > 200 {
            return Err(Error::Invalid {
                field: "reference",
                reason: "1 to 200 characters".into(),
            });
        }
        if description.len() > 500 {
            return Err(Error::Invalid {
                field: "description",
                reason: "at most 500 characters".into(),
            });
        }
        let quote = self.fees.quote(fees)?;
        let payer = caller.actor();
        let hash = plaza_kernel::idempotency::fingerprint(
            serde_json::json!([
                payer,
                reference,
                description,
                fees.licence_class,
                fees.age,
                fees.late,
                fees.real_id
            ])
            .to_string()
            .as_bytes(),
        );
        if let Some(existing) = self.by_key(&key, &hash).await? {
            return Ok(existing);
        }
        let id = format!("pi_{}", uuid::Uuid::now_v7().simple());
        let now = self.clock.now_ms();
        // Every write of this service goes through its durable writer.
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO payment_intents (id, idem_key, request_hash, reference, payer, description, lines, amount, currency, status, attempt, refunded, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requires_payment', 0, 0, $10, $10)",
        )
        .bind(&id)
        .bind(&key)
        .bind(&hash)
        .bind(reference)
        .bind(&payer)
        .bind(description)
        .bind(serde_json::to_string(&quote.lines).expect("JSON"))
        .bind(quote.total)
        .bind(&quote.currency)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                self.db.commit(tx).await?;
                self.load(&id).await
            }
            // Two requests with one key at once: the other one won.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                self.by_key(&key, &hash)
                    .await?
                    .ok_or_else(|| Error::NotFound(key.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn by_key(&self, key: &str, hash: &str) -> Result<Option<Intent>, Error> {
        let row = sqlx::query("SELECT request_hash, id FROM payment_intents WHERE idem_key = $1")
            .bind(key)
            .fetch_optional(self.db.reader())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let stored: String = r.try_get(0)?;
                if stored != hash {
                    return Err(Error::IdempotencyMismatch);
                }
                let id: String = r.try_get(1)?;
                Ok(Some(self.load(&id).await?))
            }
        }
    }

    async fn load(&self, id: &str) -> Result<Intent, Error> {
        self.find(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    async fn find(&self, id: &str) -> Result<Option<Intent>, Error> {
        let sql = format!("SELECT {INTENT_COLUMNS} FROM payment_intents WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| row_to_intent(&r))
            .transpose()
    }

    async fn lock(&self, tx: &mut Tx, id: &str) -> Result<Option<Intent>, Error> {
        let lock = match self.db.dialect() {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let sql = format!("SELECT {INTENT_COLUMNS} FROM payment_intents WHERE id = $1{lock}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| row_to_intent(&r))
            .transpose()
    }

    /// The intent, if the caller may see it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Intent, Error> {
        let intent = self.load(id).await?;
        self.require(
            caller,
            "payments.intent.read",
            &Resource::new("PaymentIntent", id).owned_by(&intent.payer),
        )?;
        Ok(intent)
    }

    /// Charges `card` for the intent. Paying a paid intent answers the
    /// intent as it is; a declined card leaves the intent `failed`, ready
    /// for another card.
    pub async fn pay(&self, caller: &Caller, id: &str, card: &str) -> Result<Intent, Error> {
        let card = valid_card(card)?;
        // Claim an attempt number (or resume the one in flight).
        let (this, intent_id, who) = (self.clone(), id.to_owned(), caller.clone());
        let (attempt, intent) = match self
            .db
            .on_writer(async move { this.claim_attempt(&who, &intent_id).await })
            .await?
        {
            Attempt::Claimed(attempt, intent) => (attempt, intent),
            Attempt::Paid(intent) => return Ok(*intent),
        };
        let key = format!("{id}/{attempt}");
        let mut last = String::new();
        for n in 0..self.cfg.attempts.max(1) {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(50 << n.min(6))).await;
            }
            match self
                .processor
                .charge(&key, id, intent.amount, &card, &intent.description)
                .await
            {
                Ok(c) if c.status == "succeeded" => {
                    // The intent as the claim left it.
                    let claimed = Intent {
                        status: Status::Processing,
                        attempt,
                        decline_code: None,
                        ..(*intent).clone()
                    };
                    return match self.settle(&c, Some(claimed)).await? {
                        Some(settled) if settled.id == id => Ok(settled),
                        _ => self.load(id).await,
                    };
                }
                Ok(c) => {
                    let code = c.decline_code.unwrap_or_else(|| "declined".into());
                    self.mark_failed(id, attempt, &code).await?;
                    return Err(Error::Declined(code));
                }
                Err(ProcessorError::Refused { code }) if code == "idempotency_mismatch" => {
                    return Err(Error::InProgress);
                }
                Err(ProcessorError::Refused { code }) => {
                    self.mark_failed(id, attempt, &code).await?;
                    return Err(Error::ProcessorRefused(code));
                }
                Err(ProcessorError::Transient(why)) => last = why,
            }
        }
        metrics::counter!("plaza_payments_processor_unavailable_total").increment(1);
        Err(Error::ProcessorUnavailable(last))
    }

    /// Claims an attempt number for `caller` paying intent `id` (or
    /// resumes the one in flight), on the database's writer.
    async fn claim_attempt(&self, caller: &Caller, id: &str) -> Result<Attempt, Error> {
        // Most often the intent waits for a payment: a read, the caller's
        // check, and one write that claims the next attempt only if the
        // intent is still as read. Otherwise (paying, paid, or changed
        // meanwhile) the locked path below decides.
        if let Some(current) = self.find(id).await? {
            self.may_pay(caller, &current)?;
            if matches!(current.status, Status::RequiresPayment | Status::Failed)
                && self
                    .claim_next(&mut self.db.write_alone().await?, &current)
                    .await?
            {
                return Ok(Attempt::Claimed(current.attempt + 1, Box::new(current)));
            }
        }
        let mut tx = self.db.begin().await?;
        let Some(current) = self.lock(&mut tx, id).await? else {
            return Err(Error::NotFound(id.to_owned()));
        };
        self.may_pay(caller, &current)?;
        let attempt = match current.status {
            Status::Succeeded => return Ok(Attempt::Paid(Box::new(current))),
            Status::Processing => {
                // Resent under the same key: the grace period before
                // recovery may reopen the attempt starts again.
                sqlx::query("UPDATE payment_intents SET updated_ms = $1 WHERE id = $2")
                    .bind(self.clock.now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                current.attempt
            }
            Status::RequiresPayment | Status::Failed => {
                // Locked: the intent is as read.
                self.claim_next(&mut tx, &current).await?;
                current.attempt + 1
            }
        };
        self.db.commit(tx).await?;
        Ok(Attempt::Claimed(attempt, Box::new(current)))
    }

    /// The caller may see intent `current` and pay it.
    fn may_pay(&self, caller: &Caller, current: &Intent) -> Result<(), Error> {
        let resource = Resource::new("PaymentIntent", &current.id).owned_by(&current.payer);
        self.require(caller, "payments.intent.read", &resource)?;
        self.require(caller, "payments.pay", &resource)
    }

    /// Moves `current` to its next attempt, `processing`, if it is still
    /// as read; whether it did.
    async fn claim_next(&self, conn: &mut Tx, current: &Intent) -> Result<bool, Error> {
        let claimed = sqlx::query(
            "UPDATE payment_intents SET status = 'processing', attempt = $1, decline_code = NULL, updated_ms = $2
             WHERE id = $3 AND status = $4 AND attempt = $5",
        )
        .bind(current.attempt + 1)
        .bind(self.clock.now_ms())
        .bind(&current.id)
        .bind(current.status.as_str())
        .bind(current.attempt)
        .execute(&mut **conn)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    async fn mark_failed(&self, id: &str, attempt: i64, code: &str) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE payment_intents SET status = 'failed', decline_code = $1, updated_ms = $2 WHERE id = $3 AND status = 'processing' AND attempt = $4",
        )
        .bind(code)
        .bind(self.clock.now_ms())
        .bind(id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
        self.db.commit(tx).await?;
        Ok(())
    }

    /// Books a journal entry unless the processor id is booked already.
    /// Returns whether it was new.
    async fn book(
        tx: &mut Tx,
        processor_id: &str,
        intent_id: &str,
        kind: &str,
        at_ms: i64,
        postings: &[(&str, i64)],
    ) -> Result<bool, Error> {
        debug_assert_eq!(postings.iter().map(|p| p.1).sum::<i64>(), 0);
        let journal = uuid::Uuid::now_v7().to_string();
        let clearing: i64 = postings
            .iter()
            .filter(|p| p.0 == CLEARING)
            .map(|p| p.1)
            .sum();
        let done = sqlx::query(
            "INSERT INTO ledger_journal (id, processor_id, intent_id, kind, amount, at_ms, day)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (processor_id) DO NOTHING",
        )
        .bind(&journal)
        .bind(processor_id)
        .bind(intent_id)
        .bind(kind)
        .bind(clearing)
        .bind(at_ms)
        .bind(utc_date(at_ms))
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if postings.is_empty() {
            return Ok(true);
        }
        // All postings in one statement: `($1, $2, $3), ($1, $4, $5), …`.
        let rows: Vec<String> = (0..postings.len())
            .map(|i| format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3))
            .collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO ledger_postings (journal_id, account, amount) VALUES {}",
            rows.join(", ")
        )))
        .bind(&journal);
        for (account, amount) in postings {
            q = q.bind(*account).bind(*amount);
        }
        q.execute(&mut **tx).await?;
        Ok(true)
    }

    fn event(kind: &str, intent: &Intent, extra: serde_json::Value) -> NewEvent {
        NewEvent {
            event_type: format!("payments.{kind}"),
            aggregate_type: "payment_intent".into(),
            aggregate_id: intent.id.clone(),
            payload: serde_json::to_vec(&serde_json::json!({
                "intent_id": intent.id, "reference": intent.reference,
                "amount": intent.amount, "detail": extra,
            }))
            .expect("JSON"),
        }
    }

    /// Records a succeeded charge, however it was learnt (the answer, a
    /// webhook, the recovery loop). Idempotent. Returns the intent the
    /// charge paid, when this call recorded it.
    pub async fn settle_charge(&self, c: &ProcessorCharge) -> Result<Option<Intent>, Error> {
        self.settle(c, None).await
    }

    /// [`Payments::settle_charge`], given the intent as the caller last
    /// knew it, when it does.
    async fn settle(
        &self,
        c: &ProcessorCharge,
        known: Option<Intent>,
    ) -> Result<Option<Intent>, Error> {
        if c.status != "succeeded" {
            return Ok(None);
        }
        let (this, charge) = (self.clone(), c.clone());
        match self
            .db
            .on_writer(async move { this.settle_now(&charge, known).await })
            .await?
        {
            Settled::Paid(intent) => Ok(Some(*intent)),
            Settled::Duplicate(intent) => {
                self.send_pending_refunds(Some(&intent)).await?;
                Ok(None)
            }
            Settled::Nothing => Ok(None),
        }
    }

    /// [`Payments::settle_charge`]'s transaction, on the database's writer.
    async fn settle_now(
        &self,
        c: &ProcessorCharge,
        known: Option<Intent>,
    ) -> Result<Settled, Error> {
        if self.db.dialect() == Dialect::Postgres
            && let Some(settled) = self.settle_alone(c, known).await?
        {
            return Ok(settled);
        }
        let mut tx = self.db.begin().await?;
        let Some(intent) = self.lock(&mut tx, &c.reference).await? else {
            tracing::warn!(charge = %c.charge_id, "charge for an unknown intent; reconciliation will show it");
            return Ok(Settled::Nothing);
        };
        let duplicate = match (&intent.status, &intent.charge_id) {
            (Status::Succeeded, Some(id)) if id == &c.charge_id => return Ok(Settled::Nothing),
            (Status::Succeeded, _) => true,
            _ => false,
        };
        if duplicate {
            let new = Self::book(
                &mut tx,
                &c.charge_id,
                &intent.id,
                "charge",
                c.created_ms,
                &[(CLEARING, c.amount), (SUSPENSE, -c.amount)],
            )
            .await?;
            if new {
                let refund_id = format!("rf_dup_{}", c.charge_id);
                sqlx::query(
                    "INSERT INTO payment_refunds (id, intent_id, idem_key, charge_id, amount, reason, status, created_ms, updated_ms)
                     VALUES ($1, $2, $3, $4, $5, 'duplicate charge', 'pending', $6, $6)",
                )
                .bind(&refund_id)
                .bind(&intent.id)
                .bind(format!("duplicate/{}", c.charge_id))
                .bind(&c.charge_id)
                .bind(c.amount)
                .bind(self.clock.now_ms())
                .execute(&mut *tx)
                .await?;
                metrics::counter!("plaza_payments_duplicate_charges_total").increment(1);
            }
            self.db.commit(tx).await?;
            return Ok(Settled::Duplicate(intent.id));
        }
        let postings = Self::charge_postings(&intent, c);
        let postings: Vec<(&str, i64)> = postings.iter().map(|(a, n)| (a.as_str(), *n)).collect();
        Self::book(
            &mut tx,
            &c.charge_id,
            &intent.id,
            "charge",
            c.created_ms,
            &postings,
        )
        .await?;
        sqlx::query(
            "UPDATE payment_intents SET status = 'succeeded', charge_id = $1, paid_at_ms = $2, decline_code = NULL, updated_ms = $3 WHERE id = $4",
        )
        .bind(&c.charge_id)
        .bind(c.created_ms)
        .bind(self.clock.now_ms())
        .bind(&intent.id)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue_all(&mut tx, self.paid_events(&intent, c)).await?;
        self.db.commit(tx).await?;
        Ok(Self::paid(intent, c))
    }

    /// On PostgreSQL, the usual settlement — the intent not paid yet — in
    /// one statement outside a transaction: the intent paid if it is still
    /// as read, the charge's journal entry and postings, and its events.
    /// `None`, having changed nothing, when the intent is paid already,
    /// unknown, or changed since it was read (or since the caller knew it,
    /// when it did: then it is not read): the locked path decides.
    async fn settle_alone(
        &self,
        c: &ProcessorCharge,
        known: Option<Intent>,
    ) -> Result<Option<Settled>, Error> {
        let intent = match known {
            Some(intent) if intent.id == c.reference => intent,
            _ => match self.find(&c.reference).await? {
                Some(intent) => intent,
                None => return Ok(None),
            },
        };
        if intent.status == Status::Succeeded {
            return Ok(None);
        }
        let postings = Self::charge_postings(&intent, c);
        let events = outbox::Staged::new(self.paid_events(&intent, c));
        // Parameters: 1-9 below, then two per posting, then the events'.
        let values = plaza_kernel::db::param_rows(10, postings.len(), &[None, Some("BIGINT")]);
        let sql = format!(
            "WITH paid AS (UPDATE payment_intents SET status = 'succeeded', charge_id = $1, paid_at_ms = $2, decline_code = NULL, updated_ms = $3
                           WHERE id = $4 AND status = $5 AND attempt = $6 RETURNING id),
             journal AS (INSERT INTO ledger_journal (id, processor_id, intent_id, kind, amount, at_ms, day)
                         SELECT $7, $1, id, 'charge', $8, $2, $9 FROM paid
                         ON CONFLICT (processor_id) DO NOTHING RETURNING id),
             postings AS (INSERT INTO ledger_postings (journal_id, account, amount)
                          SELECT journal.id, p.account, p.amount FROM journal, (VALUES {}) AS p (account, amount)),
             {}
             SELECT COUNT(*) FROM paid",
            values,
            events.insert_if("events", "paid", 10 + 2 * postings.len()),
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.charge_id)
            .bind(c.created_ms)
            .bind(self.clock.now_ms())
            .bind(&intent.id)
            .bind(intent.status.as_str())
            .bind(intent.attempt)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(c.amount)
            .bind(utc_date(c.created_ms));
        for (account, amount) in &postings {
            q = q.bind(account.as_str()).bind(*amount);
        }
        let paid: i64 = events
            .bind(q)
            .fetch_one(&mut *self.db.write_alone().await?)
            .await?
            .try_get(0)?;
        if paid == 0 {
            return Ok(None);
        }
        self.db.outbox_signal().notify();
        Ok(Some(Self::paid(intent, c)))
    }

    /// The postings of charge `c` paying `intent`: the clearing account
    /// takes what the processor took, each fee line's revenue account its
    /// amount, and a gap between the two goes to suspense (reconciliation
    /// lists it).
    fn charge_postings(intent: &Intent, c: &ProcessorCharge) -> Vec<(String, i64)> {
        let mut postings = vec![(CLEARING.to_owned(), c.amount)];
        for l in &intent.lines {
            postings.push((format!("revenue:{}", l.code), -l.amount));
        }
        if c.amount != intent.amount {
            postings.push((SUSPENSE.to_owned(), intent.amount - c.amount));
        }
        postings
    }

    /// The events of charge `c` paying `intent`: `PaymentSucceeded` and its
    /// audit record.
    fn paid_events(&self, intent: &Intent, c: &ProcessorCharge) -> Vec<NewEvent> {
        vec![
            Self::event(
                "PaymentSucceeded",
                intent,
                serde_json::json!({"charge_id": c.charge_id}),
            ),
            plaza_audit::trail::event(
                crate::SERVICE,
                self.clock.now_ms(),
                plaza_audit::trail::Record {
                    actor: &intent.payer,
                    action: "payments.charge",
                    resource: &intent.id,
                    subject: None,
                    purpose: "fee_payment",
                    outcome: "succeeded",
                },
            ),
        ]
    }

    /// `intent` as charge `c` left it, paid.
    fn paid(mut intent: Intent, c: &ProcessorCharge) -> Settled {
        metrics::counter!("plaza_payments_charges_total").increment(1);
        intent.status = Status::Succeeded;
        intent.charge_id = Some(c.charge_id.clone());
        intent.paid_at_ms = Some(c.created_ms);
        intent.decline_code = None;
        Settled::Paid(Box::new(intent))
    }

    /// Refunds `amount` cents (0: all that is left) of a paid intent.
    pub async fn refund(
        &self,
        caller: &Caller,
        id: &str,
        idempotency_key: &str,
        amount: i64,
        reason: &str,
    ) -> Result<RefundOutcome, Error> {
        let intent = self.load(id).await?;
        self.require(
            caller,
            "payments.refund",
            &Resource::new("PaymentIntent", id).owned_by(&intent.payer),
        )?;
        self.refund_unchecked(id, idempotency_key, amount, reason)
            .await
    }

    /// A refund without a caller's permission check (for the service's own
    /// tools and tests; compensations go through [`Payments::refund`] as the
    /// service principal).
    pub async fn refund_unchecked(
        &self,
        id: &str,
        idempotency_key: &str,
        amount: i64,
        reason: &str,
    ) -> Result<RefundOutcome, Error> {
        let key = plaza_kernel::idempotency::validate_key(idempotency_key)?;
        if reason.is_empty() || reason.len() > 200 {
            return Err(Error::Invalid {
                field: "reason",
                reason: "1 to 200 characters".into(),
            });
        }
        let mut tx = self.db.begin().await?;
        let Some(intent) = self.lock(&mut tx, id).await? else {
            return Err(Error::NotFound(id.to_owned()));
        };
        let prior = sqlx::query(
            "SELECT id, intent_id, amount, status FROM payment_refunds WHERE idem_key = $1",
        )
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
        let refund_id = if let Some(r) = prior {
            let (rid, iid, ramount): (String, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if iid != id || (amount != 0 && amount != ramount) {
                return Err(Error::IdempotencyMismatch);
            }
            let rstatus: String = r.try_get(3)?;
            if rstatus == "failed" {
                return Err(Error::ProcessorRefused(
                    "the processor refused this refund".into(),
                ));
            }
            tx.rollback().await?;
            rid
        } else {
            let (Status::Succeeded, Some(charge)) = (intent.status, &intent.charge_id) else {
                return Err(Error::NotPaid(id.to_owned()));
            };
            let pending: i64 = sqlx::query(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payment_refunds WHERE intent_id = $1 AND status = 'pending' AND charge_id = $2",
            )
            .bind(id)
            .bind(charge)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let left = intent.amount - intent.refunded - pending;
            let amount = if amount == 0 { left } else { amount };
            if amount <= 0 || amount > left {
                return Err(Error::RefundTooLarge { left });
            }
            let rid = format!("rf_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(
                "INSERT INTO payment_refunds (id, intent_id, idem_key, charge_id, amount, reason, status, created_ms, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
            )
            .bind(&rid)
            .bind(id)
            .bind(&key)
            .bind(charge)
            .bind(amount)
            .bind(reason)
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await?;
            self.db.commit(tx).await?;
            rid
        };
        self.send_refund(&refund_id).await?;
        let row = sqlx::query("SELECT status, amount FROM payment_refunds WHERE id = $1")
            .bind(&refund_id)
            .fetch_one(self.db.reader())
            .await?;
        Ok(RefundOutcome {
            refund_id,
            status: row.try_get(0)?,
            amount: row.try_get(1)?,
            intent: self.load(id).await?,
        })
    }

    /// Sends one pending refund to the processor (same key every time).
    async fn send_refund(&self, refund_id: &str) -> Result<(), Error> {
        let row =
            sqlx::query("SELECT charge_id, amount, status FROM payment_refunds WHERE id = $1")
                .bind(refund_id)
                .fetch_one(self.db.reader())
                .await?;
        let (charge, amount, status): (String, i64, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if status != "pending" {
            return Ok(());
        }
        for n in 0..self.cfg.attempts.max(1) {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(50 << n.min(6))).await;
            }
            match self.processor.refund(refund_id, &charge, amount).await {
                Ok(r) => return self.complete_refund(refund_id, &r).await,
                Err(ProcessorError::Transient(_)) => continue,
                Err(ProcessorError::Refused { code }) => {
                    let mut tx = self.db.begin().await?;
                    sqlx::query(
                        "UPDATE payment_refunds SET status = 'failed', updated_ms = $1 WHERE id = $2 AND status = 'pending'",
                    )
                    .bind(self.clock.now_ms())
                    .bind(refund_id)
                    .execute(&mut *tx)
                    .await?;
                    self.db.commit(tx).await?;
                    return Err(Error::ProcessorRefused(code));
                }
            }
        }
        // Left pending: the recovery loop sends it again.
        Ok(())
    }

    async fn complete_refund(&self, refund_id: &str, r: &ProcessorRefund) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        let row =
            sqlx::query("SELECT intent_id, reason, status FROM payment_refunds WHERE id = $1")
                .bind(refund_id)
                .fetch_one(&mut *tx)
                .await?;
        let (intent_id, reason, status): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if status != "pending" {
            return Ok(());
        }
        // The answer and the webhook may both complete it: the first wins.
        let won = sqlx::query(
            "UPDATE payment_refunds SET status = 'succeeded', processor_refund_id = $1, updated_ms = $2 WHERE id = $3 AND status = 'pending'",
        )
        .bind(&r.refund_id)
        .bind(self.clock.now_ms())
        .bind(refund_id)
        .execute(&mut *tx)
        .await?;
        if won.rows_affected() == 0 {
            return Ok(());
        }
        let duplicate = reason == "duplicate charge";
        let contra = if duplicate { SUSPENSE } else { REFUNDS };
        Self::book(
            &mut tx,
            &r.refund_id,
            &intent_id,
            "refund",
            r.created_ms,
            &[(contra, r.amount), (CLEARING, -r.amount)],
        )
        .await?;
        if !duplicate {
            sqlx::query(
                "UPDATE payment_intents SET refunded = refunded + $1, updated_ms = $2 WHERE id = $3",
            )
            .bind(r.amount)
            .bind(self.clock.now_ms())
            .bind(&intent_id)
            .execute(&mut *tx)
            .await?;
            if let Some(intent) = self.lock(&mut tx, &intent_id).await? {
                outbox::enqueue(
                    &mut tx,
                    Self::event(
                        "PaymentRefunded",
                        &intent,
                        serde_json::json!({"refund_id": refund_id, "refunded": r.amount, "reason": reason}),
                    ),
                )
                .await?;
            }
        }
        self.db.commit(tx).await?;
        Ok(())
    }

    async fn send_pending_refunds(&self, intent: Option<&str>) -> Result<u64, Error> {
        let rows = match intent {
            Some(id) => {
                sqlx::query("SELECT id FROM payment_refunds WHERE status = 'pending' AND intent_id = $1")
                    .bind(id)
                    .fetch_all(self.db.reader())
                    .await?
            }
            None => {
                sqlx::query("SELECT id FROM payment_refunds WHERE status = 'pending' ORDER BY created_ms LIMIT 500")
                    .fetch_all(self.db.reader())
                    .await?
            }
        };
        let mut done = 0;
        for r in rows {
            let id: String = r.try_get(0)?;
            self.send_refund(&id).await?;
            let status: String = sqlx::query("SELECT status FROM payment_refunds WHERE id = $1")
                .bind(&id)
                .fetch_one(self.db.reader())
                .await?
                .try_get(0)?;
            if status == "succeeded" {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Applies a processor webhook after checking its signature. A
    /// delivery seen before is acknowledged and not applied again.
    pub async fn webhook(&self, body: &[u8], signature: &str) -> Result<bool, Error> {
        verify_signature(
            &self.cfg.webhook_secret,
            signature,
            body,
            self.clock.now_ms() / 1000,
            self.cfg.webhook_tolerance_s,
        )
        .map_err(Error::BadSignature)?;
        #[derive(Deserialize)]
        struct Event {
            id: String,
            #[serde(rename = "type")]
            kind: String,
            data: serde_json::Value,
        }
        let ev: Event = serde_json::from_slice(body).map_err(|e| Error::Invalid {
            field: "webhook",
            reason: e.to_string(),
        })?;
        let seen = sqlx::query("SELECT 1 FROM payment_webhook_events WHERE id = $1")
            .bind(&ev.id)
            .fetch_optional(self.db.reader())
            .await?
            .is_some();
        if seen {
            metrics::counter!("plaza_payments_webhooks_duplicate_total").increment(1);
            return Ok(false);
        }
        let bad = |e: serde_json::Error| Error::Invalid {
            field: "webhook.data",
            reason: e.to_string(),
        };
        match ev.kind.as_str() {
            "charge.succeeded" => {
                let c: ProcessorCharge = serde_json::from_value(ev.data).map_err(bad)?;
                self.settle_charge(&c).await?;
            }
            "charge.refunded" => {
                #[derive(Deserialize)]
                struct R {
                    refund_id: String,
                    charge_id: String,
                    amount: i64,
                    created_ms: i64,
                }
                let r: R = serde_json::from_value(ev.data).map_err(bad)?;
                // Completes a refund whose answer was lost; one made at the
                // processor by other means shows in reconciliation.
                let pending = sqlx::query(
                    "SELECT id FROM payment_refunds WHERE status = 'pending' AND charge_id = $1 AND amount = $2 ORDER BY created_ms LIMIT 1",
                )
                .bind(&r.charge_id)
                .bind(r.amount)
                .fetch_optional(self.db.reader())
                .await?;
                if let Some(row) = pending {
                    let id: String = row.try_get(0)?;
                    self.complete_refund(
                        &id,
                        &ProcessorRefund {
                            refund_id: r.refund_id,
                            charge_id: r.charge_id,
                            amount: r.amount,
                            created_ms: r.created_ms,
                        },
                    )
                    .await?;
                }
            }
            // Declines are known from the answer or the recovery loop; a
            // late `charge.failed` of an earlier attempt must not fail a
            // later one.
            _ => {}
        }
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO payment_webhook_events (id, kind, received_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ev.id)
        .bind(&ev.kind)
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?;
        self.db.commit(tx).await?;
        Ok(true)
    }

    /// One pass of the recovery loop: attempts left `processing` (their
    /// process died, or the processor never answered) are settled from the
    /// processor's records; pending refunds are sent again.
    pub async fn recover_once(&self) -> Result<Recovered, Error> {
        let mut out = Recovered::default();
        let before = self.clock.now_ms() - self.cfg.settle_after_ms;
        let stale = sqlx::query(
            "SELECT id, attempt FROM payment_intents WHERE status = 'processing' AND updated_ms <= $1 ORDER BY updated_ms LIMIT 500",
        )
        .bind(before)
        .fetch_all(self.db.reader())
        .await?;
        for row in stale {
            let (id, attempt): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            let charges = match self.processor.charges_for(&id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(intent = %id, error = %e, "processor unreachable; will retry");
                    continue;
                }
            };
            let succeeded: Vec<&ProcessorCharge> =
                charges.iter().filter(|c| c.status == "succeeded").collect();
            if succeeded.is_empty() {
                // Nothing was charged: the attempt ends, the intent can be
                // paid again (with a new attempt number).
                let mut tx = self.db.begin().await?;
                let reopened = sqlx::query(
                    "UPDATE payment_intents SET status = 'requires_payment', updated_ms = $1 WHERE id = $2 AND status = 'processing' AND attempt = $3 AND updated_ms <= $4",
                )
                .bind(self.clock.now_ms())
                .bind(&id)
                .bind(attempt)
                // Not if the attempt was resent meanwhile: its request may
                // be on its way.
                .bind(before)
                .execute(&mut *tx)
                .await?;
                self.db.commit(tx).await?;
                out.reopened += reopened.rows_affected();
            } else {
                for c in succeeded {
                    self.settle_charge(c).await?;
                }
                out.settled += 1;
            }
        }
        out.refunds_completed = self.send_pending_refunds(None).await?;
        Ok(out)
    }

    /// Runs [`Payments::recover_once`] every `every` until shutdown.
    pub async fn recover_periodically(
        self,
        every: Duration,
        mut shutdown: plaza_kernel::shutdown::Shutdown,
    ) {
        loop {
            if let Err(e) = self.recover_once().await {
                tracing::warn!(error = %plaza_kernel::error::chain(&e), "payments recovery pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    pub async fn receipt(&self, caller: &Caller, id: &str) -> Result<Receipt, Error> {
        let intent = self.get(caller, id).await?;
        let (Status::Succeeded, Some(charge), Some(paid)) =
            (intent.status, intent.charge_id.clone(), intent.paid_at_ms)
        else {
            return Err(Error::NotPaid(id.to_owned()));
        };
        Ok(Receipt {
            intent_id: intent.id,
            transaction_id: charge,
            paid_at_ms: paid,
            reason: intent.description,
            payer: intent.payer,
            lines: intent.lines,
            amount: intent.amount,
            currency: intent.currency,
            refunded: intent.refunded,
        })
    }

    /// Matches the ledger's entries of one UTC day with the processor's
    /// settlement file, and lists every difference.
    pub async fn reconcile(&self, caller: &Caller, date: &str) -> Result<Reconciliation, Error> {
        self.require(caller, "payments.reconcile", &Resource::new("Ledger", "*"))?;
        let ok = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return Err(Error::Invalid {
                field: "date",
                reason: "use YYYY-MM-DD".into(),
            });
        }
        let settled = self
            .processor
            .settlement(date)
            .await
            .map_err(|e| Error::ProcessorUnavailable(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT processor_id, intent_id, amount FROM ledger_journal WHERE day = $1",
        )
        .bind(date)
        .fetch_all(self.db.reader())
        .await?;
        let mut ledger = std::collections::HashMap::new();
        let mut ledger_total = 0;
        for r in rows {
            let (pid, iid, amount): (String, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            ledger_total += amount;
            ledger.insert(pid, (iid, amount));
        }
        let mut differences = Vec::new();
        let mut matched = 0;
        let mut processor_total = 0;
        for line in &settled {
            processor_total += line.amount;
            match ledger.remove(&line.id) {
                Some((_, amount)) if amount == line.amount => matched += 1,
                Some((_, amount)) => differences.push(Difference {
                    kind: "amount_differs".into(),
                    processor_id: line.id.clone(),
                    reference: line.reference.clone(),
                    ledger_amount: amount,
                    processor_amount: line.amount,
                }),
                None => differences.push(Difference {
                    kind: "missing_in_ledger".into(),
                    processor_id: line.id.clone(),
                    reference: line.reference.clone(),
                    ledger_amount: 0,
                    processor_amount: line.amount,
                }),
            }
        }
        let mut rest: Vec<_> = ledger.into_iter().collect();
        rest.sort();
        for (pid, (iid, amount)) in rest {
            differences.push(Difference {
                kind: "missing_at_processor".into(),
                processor_id: pid,
                reference: iid,
                ledger_amount: amount,
                processor_amount: 0,
            });
        }
        Ok(Reconciliation {
            date: date.to_owned(),
            matched,
            ledger_total,
            processor_total,
            differences,
        })
    }

    /// The whole ledger's balance.
    pub async fn check_ledger(&self) -> Result<LedgerCheck, Error> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ledger_journal),
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_postings),
                    (SELECT COUNT(*) FROM (SELECT journal_id FROM ledger_postings GROUP BY journal_id HAVING SUM(amount) <> 0) u),
                    (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_postings WHERE account = $1)",
        )
        .bind(CLEARING)
        .fetch_one(self.db.reader())
        .await?;
        Ok(LedgerCheck {
            journals: r.try_get(0)?,
            total: r.try_get(1)?,
            unbalanced: r.try_get(2)?,
            clearing: r.try_get(3)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_date(0), "1970-01-01");
        assert_eq!(super::utc_date(1_795_996_800_000), "2026-11-30");
        assert_eq!(super::utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(super::utc_date(-1), "1969-12-31");
    }

    #[test]
    fn card_numbers() {
        assert_eq!(
            super::valid_card("4242 4242-4242 4242").unwrap(),
            "4242424242424242"
        );
        assert!(super::valid_card("4242").is_err());
        assert!(super::valid_card("4242x42424242424").is_err());
    }
}
