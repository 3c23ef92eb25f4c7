//! Permit applications: submission, the workflow the permit type drives
//! ([`state`]), the timeline the applicant follows, issued permits, the
//! statutory clocks on durable timers ([`timers`]), officers' work queues,
//! and continuous evaluation of holders when a source pushes a new record.
//!
//! Every transition is authorised by the policies, written with its
//! timeline line, its `permits.ApplicationChanged` event, the timers it arms
//! and an audit record in one transaction; a refused event changes nothing.
//! Every read of an application by staff is audited too.

pub mod state;
pub mod store;
pub mod timers;
pub mod tokens;

use std::sync::Arc;

use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, Tx};
use plaza_policy::{Policies, Resource};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::calendar::{BusinessCalendar, Date};
use crate::catalogue::Catalogue;
use crate::types::PermitType;
pub use state::{CheckOutcome, Effect, Event, Progress, State, TimerKind, TrainingEvidence};
pub use store::{Application, Entry};

/// The person an application is about, as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The residential address, one line.
    pub address: String,
}

/// A new application (or renewal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub permit_type: String,
    pub applicant: Applicant,
    /// The applicant lives in the permit's jurisdiction.
    pub resident: bool,
    /// For a renewal: the number of the permit it renews.
    pub renews: Option<String>,
}

/// Who a pushed record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
}

/// A record a source pushed (as FBI Rap Back does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRecord {
    /// The source's own id of the record: each is acted on once.
    pub record_id: String,
    pub source: String,
    /// What the record says (sealed at rest; officers read it).
    pub summary: String,
}

/// An application with its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub application: Application,
    pub applicant: Applicant,
    pub timeline: Vec<Entry>,
}

/// A line of an officer's work queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub application_id: String,
    pub type_id: String,
    pub state: String,
    pub permit_number: Option<String>,
    /// The last day to decide (or review).
    pub due_on: Date,
    pub overdue: bool,
    /// Due within the configured number of business days.
    pub due_soon: bool,
}

const SUBMIT: &str = "permits.application.submit";
const READ: &str = "permits.application.read";
const UPDATE: &str = "permits.application.update";
const PROCESS: &str = "permits.application.process";
const DECIDE: &str = "permits.application.decide";
const RECORD_CHECK: &str = "permits.check.record";
const PUSH_RECORD: &str = "permits.record.push";
const QUEUE: &str = "permits.queue.read";
/// No policy grants it: events only the service's timers deliver.
const TIMER: &str = "permits.timer.fire";
/// The audit outcome of a submission refused because another account has
/// an open application of its type for the same person.
pub const DUPLICATE_OTHER_ACCOUNT: &str = "refused_duplicate_other_account";

/// The action an event needs.
pub fn action_for(event: &Event) -> &'static str {
    match event {
        Event::Submit => SUBMIT,
        Event::InfoProvided { .. } | Event::Appeal { .. } => UPDATE,
        Event::DocumentsReceived { .. }
        | Event::FingerprintsScheduled { .. }
        | Event::Fingerprinted
        | Event::ReferenceReceived { .. }
        | Event::Interviewed => PROCESS,
        Event::CheckCompleted { .. } => RECORD_CHECK,
        Event::Approve
        | Event::Deny { .. }
        | Event::RequestInfo { .. }
        | Event::AppealDecided { .. }
        | Event::Suspend { .. }
        | Event::Reinstate
        | Event::Revoke { .. } => DECIDE,
        Event::RecordPushed { .. } => PUSH_RECORD,
        Event::DelayedExpired
        | Event::CheckExpired
        | Event::WaitingPeriodEnded
        | Event::DeadlinePassed
        | Event::Expire => TIMER,
    }
}

/// Business days ahead within which a deadline counts as "due soon",
/// unless configured otherwise.
pub const DUE_SOON_BUSINESS_DAYS: u32 = 5;

struct Inner {
    db: Db,
    key: DataKey,
    catalogue: Arc<Catalogue>,
    clock: SharedClock,
    policies: Policies,
    calendar: BusinessCalendar,
    due_soon_days: u32,
    /// Where the applicant's identifiers are sealed as tokens for
    /// background checks; without it, checks are asked for without them
    /// (and the checks service answers Delayed).
    vault: Option<tokens::VaultTokens>,
}

/// The permit applications service.
#[derive(Clone)]
pub struct Applications {
    inner: Arc<Inner>,
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters, on one line"),
        ));
    }
    Ok(v.to_owned())
}

/// Upper case, single spaces: how a name is compared.
fn fold(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

fn applicant_aad(id: &str) -> String {
    format!("permits/applications/{id}/applicant")
}

/// The series part of a permit number: the type id without its
/// jurisdiction prefix, upper case (`il-foid` → `FOID`).
fn series(t: &PermitType) -> String {
    let prefix = t.jurisdiction.id_prefix();
    t.id.strip_prefix(&prefix)
        .unwrap_or(&t.id)
        .to_ascii_uppercase()
}

impl Applications {
    pub fn new(
        db: Db,
        key: DataKey,
        catalogue: Arc<Catalogue>,
        clock: SharedClock,
    ) -> Applications {
        Applications {
            inner: Arc::new(Inner {
                db,
                key,
                catalogue,
                clock,
                policies: Policies::shipped(),
                calendar: BusinessCalendar::federal(),
                due_soon_days: DUE_SOON_BUSINESS_DAYS,
                vault: None,
            }),
        }
    }

    /// A setting changed on the service before it is shared (each clone
    /// keeps the settings it was made with).
    fn with(self, change: impl FnOnce(&mut Inner)) -> Applications {
        let i = &self.inner;
        let mut inner = Inner {
            db: i.db.clone(),
            key: i.key.clone(),
            catalogue: i.catalogue.clone(),
            clock: i.clock.clone(),
            policies: i.policies.clone(),
            calendar: i.calendar.clone(),
            due_soon_days: i.due_soon_days,
            vault: i.vault.clone(),
        };
        change(&mut inner);
        Applications {
            inner: Arc::new(inner),
        }
    }

    /// With the agency's business calendar and "due soon" horizon.
    pub fn with_calendar(self, calendar: BusinessCalendar, due_soon_days: u32) -> Applications {
        self.with(|i| {
            i.calendar = calendar;
            i.due_soon_days = due_soon_days;
        })
    }

    /// With the vault that seals applicants' identifiers for checks.
    pub fn with_vault(self, vault: tokens::VaultTokens) -> Applications {
        self.with(|i| i.vault = Some(vault))
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The permit types in force.
    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.inner.catalogue
    }

    /// The service clock's time, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn today(&self, now_ms: i64) -> Result<Date, Error> {
        self.inner
            .calendar
            .day_of(now_ms)
            .ok_or_else(|| Error::InvalidDate(now_ms.to_string()))
    }

    /// The keyed hash that finds a person's applications and permits.
    pub fn person_index(&self, given: &str, family: &str, birth_date: Date) -> String {
        self.inner
            .key
            .blind(format!("person\n{}\n{}\n{birth_date}", fold(family), fold(given)).as_bytes())
    }

    fn resource<'a>(
        kind: &'a str,
        id: &'a str,
        owner: &'a str,
        jurisdiction: &str,
    ) -> Resource<'a> {
        Resource::new(kind, id)
            .owned_by(owner)
            .in_jurisdiction(jurisdiction, None)
    }

    fn app_resource(app: &Application) -> Resource<'_> {
        Self::resource("PermitApplication", &app.id, &app.owner, &app.jurisdiction)
    }

    fn type_of(&self, app: &Application) -> Result<PermitType, Error> {
        Ok(self
            .inner
            .catalogue
            .current()
            .require(&app.type_id)?
            .clone())
    }

    async fn audit(
        &self,
        tx: &mut Tx,
        actor: &str,
        action: &str,
        app: &Application,
        outcome: &str,
    ) -> Result<(), Error> {
        plaza_audit::trail::record(
            tx,
            crate::SERVICE,
            self.now(),
            plaza_audit::trail::Record {
                actor,
                action,
                resource: &format!("permits/{}", app.id),
                subject: Some(&app.owner),
                purpose: "firearm permit",
                outcome,
            },
        )
        .await?;
        Ok(())
    }

    fn open_applicant(&self, app: &Application) -> Result<Applicant, Error> {
        let text = self
            .inner
            .key
            .decrypt_text(&applicant_aad(&app.id), &app.applicant_sealed)
            .map_err(|e| Error::Corrupt(format!("application {}: applicant: {e}", app.id)))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Corrupt(format!("application {}: applicant: {e}", app.id)))
    }

    async fn view(&self, app: Application) -> Result<View, Error> {
        let timeline = store::timeline(&self.inner.db, &app.id).await?;
        let applicant = self.open_applicant(&app)?;
        Ok(View {
            application: app,
            applicant,
            timeline,
        })
    }

    /// An application with its timeline, for its applicant or for staff
    /// who may read it (each staff read is audited).
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<View, Error> {
        let app = store::get(&self.inner.db, id)
            .await?
            .ok_or(Error::ApplicationNotFound)?;
        self.inner
            .policies
            .require_or_hide(
                caller,
                READ,
                &Self::app_resource(&app),
                Error::ApplicationNotFound.public(),
            )
            .map_err(Error::Denied)?;
        if caller.actor() != app.owner {
            let mut tx = self.inner.db.begin().await?;
            self.audit(&mut tx, &caller.actor(), READ, &app, "ok")
                .await?;
            self.inner.db.commit(tx).await?;
        }
        self.view(app).await
    }

    /// Submits an application, idempotently by `idem_key`: the same key
    /// and body answer the same application; the same key with another
    /// body is refused. Anything malformed is refused and nothing stored.
    pub async fn submit(
        &self,
        caller: &Caller,
        idem_key: &str,
        s: &Submission,
    ) -> Result<View, Error> {
        let idem_key = plaza_kernel::idempotency::validate_key(idem_key)?;
        let owner = caller.actor();
        let hash = plaza_kernel::idempotency::fingerprint(
            &serde_json::to_vec(&(owner.as_str(), s)).expect("JSON"),
        );
        let scoped_key = format!("{owner}\n{idem_key}");
        if let Some((id, stored)) = store::by_key(&self.inner.db, &scoped_key).await? {
            if stored != hash {
                return Err(Error::IdempotencyConflict);
            }
            return self.get(caller, &id).await;
        }
        let set = self.inner.catalogue.current();
        let t = set.require(s.permit_type.trim())?.clone();
        self.inner
            .policies
            .require(
                caller,
                SUBMIT,
                &Self::resource("PermitApplication", "new", &owner, t.jurisdiction.code()),
            )
            .map_err(Error::Denied)?;
        let now = self.now();
        let today = self.today(now)?;
        let a = &s.applicant;
        let given = text("given_name", &a.given_name, 100)?;
        let family = text("family_name", &a.family_name, 100)?;
        let address = text("address", &a.address, 300)?;
        let birth = Date::parse(a.birth_date.trim())?;
        if birth > today {
            return Err(Error::InvalidDate(a.birth_date.chars().take(40).collect()));
        }
        let age = birth.years_until(today);
        if age < t.minimum_age as i32 {
            return Err(Error::NotEligible(format!(
                "the minimum age is {}",
                t.minimum_age
            )));
        }
        if t.fee_for(s.resident).is_none() {
            return Err(Error::NotEligible(format!(
                "only residents of {} may apply",
                t.jurisdiction.name()
            )));
        }
        let person = self.person_index(&given, &family, birth);
        let renews = self
            .check_renewal(&t, s.renews.as_deref(), &person, &owner, today)
            .await?;
        let id = format!("pa_{}", &self.inner.key.blind(scoped_key.as_bytes())[..26]);
        let applicant = Applicant {
            given_name: given,
            family_name: family,
            birth_date: birth.to_string(),
            address,
        };
        let sealed = self.inner.key.encrypt_text(
            &applicant_aad(&id),
            &serde_json::to_string(&applicant).expect("JSON"),
        );
        let open_key = self.open_key(&person, &t.id, renews.as_deref());
        let draft = Progress::new();
        let tr = state::transition_on(&self.inner.calendar, &draft, &Event::Submit, &t, now)?;
        let mut app = Application {
            id: id.clone(),
            owner: owner.clone(),
            type_id: t.id.clone(),
            jurisdiction: t.jurisdiction.code().to_owned(),
            person_blind: person,
            open_key: Some(open_key),
            applicant_sealed: sealed,
            renews,
            progress: tr.next.clone(),
            permit_number: None,
            created_ms: now,
            updated_ms: now,
        };
        let tokens = match &self.inner.vault {
            Some(v) => Some(
                v.subject(
                    caller,
                    &applicant.given_name,
                    &applicant.family_name,
                    &applicant.birth_date,
                )
                .await?,
            ),
            None => None,
        };
        let mut tx = self.inner.db.begin().await?;
        match store::insert(&mut tx, &app, &scoped_key, &hash).await {
            Ok(()) => {
                if let Some(t) = &tokens {
                    store::set_subject_tokens(&mut tx, &app.id, t).await?;
                }
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                if let Some((id, stored)) = store::by_key(&self.inner.db, &scoped_key).await? {
                    if stored != hash {
                        return Err(Error::IdempotencyConflict);
                    }
                    return self.get(caller, &id).await;
                }
                return Err(self.refuse_open_duplicate(&app).await?);
            }
            Err(e) => return Err(e.into()),
        }
        self.effects(&mut tx, &mut app, &t, &tr.effects, now)
            .await?;
        store::add_entry(
            &mut tx,
            &app,
            &Entry {
                at_ms: now,
                from: State::Draft.as_str().into(),
                to: app.state().as_str().into(),
                actor: owner.clone(),
                note: tr.note,
            },
        )
        .await?;
        self.audit(&mut tx, &owner, SUBMIT, &app, "ok").await?;
        self.inner.db.commit(tx).await?;
        self.view(app).await
    }

    /// The answer to a submission for a person who already has an open
    /// application of its type. The submitting account's own application
    /// is named as a duplicate; another account's is not disclosed: the
    /// refusal is neutral, and an audit record tells staff that a duplicate
    /// across accounts was refused.
    async fn refuse_open_duplicate(&self, refused: &Application) -> Result<Error, Error> {
        let open_key = refused.open_key.as_deref().unwrap_or_default();
        let Some(open) = store::by_open_key(&self.inner.db, open_key).await? else {
            // Closed in the meantime: nothing to name, nothing to record.
            return Ok(Error::CannotAccept);
        };
        if open.owner == refused.owner {
            return Ok(Error::Duplicate);
        }
        let mut tx = self.inner.db.begin().await?;
        self.audit(
            &mut tx,
            &refused.owner,
            SUBMIT,
            &open,
            DUPLICATE_OTHER_ACCOUNT,
        )
        .await?;
        self.inner.db.commit(tx).await?;
        Ok(Error::CannotAccept)
    }

    /// For a renewal: the permit it renews, checked (same person, held by
    /// the account that files the renewal, the type it renews, the renewal
    /// window open). Another account's permit is "not found", whoever's
    /// name and birth date it gives.
    async fn check_renewal(
        &self,
        t: &PermitType,
        renews: Option<&str>,
        person: &str,
        owner: &str,
        today: Date,
    ) -> Result<Option<String>, Error> {
        let number = match renews.map(str::trim).filter(|n| !n.is_empty()) {
            None if t.kind.renews().is_some() => {
                return Err(Error::invalid(
                    "renews",
                    "a renewal names the permit it renews",
                ));
            }
            None => return Ok(None),
            Some(n) => text("renews", n, 64)?,
        };
        let permit = store::permit(&self.inner.db, &number)
            .await?
            .filter(|p| p.person_blind == person)
            .ok_or(Error::PermitNotFound)?;
        let renewed_type_id = t.renews.as_deref().unwrap_or(&t.id);
        if permit.type_id != renewed_type_id {
            return Err(Error::invalid(
                "renews",
                format!(
                    "{} does not renew a permit of type {}",
                    t.id, permit.type_id
                ),
            ));
        }
        let held = store::get(&self.inner.db, &permit.application_id)
            .await?
            .filter(|a| a.owner == owner)
            .ok_or(Error::PermitNotFound)?;
        if held.state() != State::Issued {
            return Err(Error::RenewalWindow(format!(
                "the permit is {}",
                held.state()
            )));
        }
        let original = self
            .inner
            .catalogue
            .current()
            .require(&permit.type_id)?
            .clone();
        let Some(window) = original.renewal else {
            return Err(Error::RenewalWindow(
                "this permit is not renewed; apply for a new one".into(),
            ));
        };
        let expires_on = Date::parse(&permit.expires_on)?;
        if !window.is_open(expires_on, today) {
            let opens = expires_on.add_days(-i64::from(window.opens_days_before_expiry));
            let closes = expires_on.add_days(i64::from(window.grace_days_after));
            return Err(Error::RenewalWindow(format!(
                "renewal is open from {opens} to {closes}"
            )));
        }
        Ok(Some(number))
    }

    /// Applies the effects of a transition inside `tx`.
    async fn effects(
        &self,
        tx: &mut Tx,
        app: &mut Application,
        t: &PermitType,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<(), Error> {
        for e in effects {
            match e {
                Effect::Arm { kind, due_ms } => store::arm(tx, &app.id, *kind, *due_ms).await?,
                Effect::Cancel(kind) => store::cancel(tx, &app.id, *kind).await?,
                Effect::RequestCheck => store::request_check(tx, app).await?,
                Effect::MarkOverdue => app.progress.overdue = true,
                Effect::Issue {
                    issued_on,
                    expires_on,
                } => {
                    let prefix = format!(
                        "{}-{}-{:04}",
                        t.jurisdiction.code(),
                        series(t),
                        issued_on.year()
                    );
                    let seq = store::next_number(tx, &prefix).await?;
                    let number = format!("{prefix}-{seq:06}");
                    store::insert_permit(
                        tx,
                        &store::Permit {
                            number: number.clone(),
                            application_id: app.id.clone(),
                            type_id: app.type_id.clone(),
                            jurisdiction: app.jurisdiction.clone(),
                            person_blind: app.person_blind.clone(),
                            issued_on: issued_on.to_string(),
                            expires_on: expires_on.to_string(),
                        },
                    )
                    .await?;
                    app.permit_number = Some(number);
                }
            }
        }
        if !app.state().holds_or_pending() {
            app.open_key = None;
        } else if app.open_key.is_none() {
            // An appeal opens the application again: it holds its place
            // against a second one, unless one was opened meanwhile.
            app.open_key =
                Some(self.open_key(&app.person_blind, &app.type_id, app.renews.as_deref()));
        }
        store::update(tx, app, now_ms).await?;
        Ok(())
    }

    /// The key that holds one open application per person, type and
    /// renewed permit.
    fn open_key(&self, person: &str, type_id: &str, renews: Option<&str>) -> String {
        self.inner
            .key
            .blind(format!("open\n{person}\n{type_id}\n{}", renews.unwrap_or("")).as_bytes())
    }

    /// Whether `event` would be accepted by `app` now (a dry run of the
    /// pure transition).
    pub(crate) fn fits(&self, app: &Application, event: &Event, now_ms: i64) -> bool {
        self.type_of(app).is_ok_and(|t| {
            state::transition_on(&self.inner.calendar, &app.progress, event, &t, now_ms).is_ok()
        })
    }

    /// Applies `event` to application `id` inside `tx` as `actor`; the
    /// application as it now stands.
    pub(crate) async fn transit(
        &self,
        tx: &mut Tx,
        mut app: Application,
        event: &Event,
        actor: &str,
        now_ms: i64,
    ) -> Result<Application, Error> {
        let t = self.type_of(&app)?;
        let from = app.state();
        let tr = state::transition_on(&self.inner.calendar, &app.progress, event, &t, now_ms)?;
        app.progress = tr.next;
        self.effects(tx, &mut app, &t, &tr.effects, now_ms).await?;
        store::add_entry(
            tx,
            &app,
            &Entry {
                at_ms: now_ms,
                from: from.as_str().into(),
                to: app.state().as_str().into(),
                actor: actor.to_owned(),
                note: tr.note,
            },
        )
        .await?;
        self.audit(
            tx,
            actor,
            &format!("permits.application.{}", event.name()),
            &app,
            "ok",
        )
        .await?;
        Ok(app)
    }

    /// Applies an event to an application, if the caller may and the
    /// workflow allows it; otherwise nothing changes.
    pub async fn apply(&self, caller: &Caller, id: &str, event: Event) -> Result<View, Error> {
        let (this, caller, id) = (self.clone(), caller.clone(), id.to_owned());
        let app = self
            .inner
            .db
            .on_writer(async move { this.apply_now(&caller, &id, event).await })
            .await?;
        self.view(app).await
    }

    /// [`Applications::apply`]'s transaction, on the database's writer.
    async fn apply_now(
        &self,
        caller: &Caller,
        id: &str,
        event: Event,
    ) -> Result<Application, Error> {
        let action = action_for(&event);
        let mut tx = self.inner.db.begin().await?;
        let app = store::lock(&self.inner.db, &mut tx, id)
            .await?
            .ok_or(Error::ApplicationNotFound)?;
        self.inner
            .policies
            .require_or_hide(
                caller,
                action,
                &Self::app_resource(&app),
                Error::ApplicationNotFound.public(),
            )
            .map_err(Error::Denied)?;
        let now = self.now();
        let app = self
            .transit(&mut tx, app, &event, &caller.actor(), now)
            .await?;
        self.inner.db.commit(tx).await?;
        Ok(app)
    }

    /// The background check's answer for an application.
    pub async fn check_completed(
        &self,
        caller: &Caller,
        id: &str,
        outcome: CheckOutcome,
        ntn: &str,
        prohibitors: Vec<String>,
    ) -> Result<View, Error> {
        // The same answer again (a retry after a lost reply) changes
        // nothing and answers the application as it is.
        if let Some(app) = store::get(&self.inner.db, id).await?
            && app.progress.check.as_ref().is_some_and(|c| {
                c.ntn == ntn.trim() && c.outcome == outcome && c.prohibitors == prohibitors
            })
        {
            self.inner
                .policies
                .require_or_hide(
                    caller,
                    RECORD_CHECK,
                    &Self::app_resource(&app),
                    Error::ApplicationNotFound.public(),
                )
                .map_err(Error::Denied)?;
            return self.view(app).await;
        }
        self.apply(
            caller,
            id,
            Event::CheckCompleted {
                outcome,
                ntn: ntn.to_owned(),
                prohibitors,
            },
        )
        .await
    }

    /// An officer's work queue at `now_ms`: the applications (and permits
    /// under review) of the jurisdictions the officer may decide in, overdue
    /// first, then by deadline.
    pub async fn queue(&self, caller: &Caller, now_ms: i64) -> Result<Vec<QueueEntry>, Error> {
        let jurisdiction = caller
            .jurisdiction
            .as_deref()
            .filter(|_| caller.has(Role::LicensingOfficer))
            .ok_or_else(|| Error::Denied(plaza_policy::denied(caller)))?;
        // A county officer's state is the part before the county.
        let state_code: String = jurisdiction
            .split(['/', '-'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        self.inner
            .policies
            .require(
                caller,
                QUEUE,
                &Resource::new("PermitQueue", &state_code).in_jurisdiction(&state_code, None),
            )
            .map_err(Error::Denied)?;
        let today = self.today(now_ms)?;
        let rows = store::queue(&self.inner.db, &state_code, 1000).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let resource = Self::resource("PermitApplication", &r.id, &r.owner, &r.jurisdiction);
            if !self
                .inner
                .policies
                .is_permitted(caller, DECIDE, &resource, &[])
            {
                continue;
            }
            let due_on = Date::parse(&r.due_on)?;
            let overdue = r.overdue || today > due_on;
            let due_soon = !overdue
                && self.inner.calendar.business_days_between(today, due_on)
                    <= self.inner.due_soon_days;
            out.push(QueueEntry {
                application_id: r.id,
                type_id: r.type_id,
                state: r.state,
                permit_number: r.permit_number,
                due_on,
                overdue,
                due_soon,
            });
        }
        // Overdue first (raised by the deadline timer or by the date), then
        // by deadline.
        out.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.due_on.cmp(&b.due_on)));
        Ok(out)
    }

    /// Continuous evaluation: a source reports a new record about a person.
    /// Every permit that person holds goes to officer review, once per
    /// record id. Answers the ids of the applications moved.
    pub async fn record_pushed(
        &self,
        caller: &Caller,
        person: &Person,
        record: &PushedRecord,
    ) -> Result<Vec<String>, Error> {
        self.inner
            .policies
            .require(caller, PUSH_RECORD, &Resource::new("PermitHolder", "any"))
            .map_err(Error::Denied)?;
        let given = text("given_name", &person.given_name, 100)?;
        let family = text("family_name", &person.family_name, 100)?;
        let birth = Date::parse(person.birth_date.trim())?;
        let record_id = text("record_id", &record.record_id, 128)?;
        let source = text("source", &record.source, 64)?;
        let summary = text("summary", &record.summary, 2000)?;
        let blind = self.person_index(&given, &family, birth);
        let now = self.now();
        let sealed = self
            .inner
            .key
            .encrypt_text(&format!("permits/pushed/{record_id}"), &summary);
        let mut tx = self.inner.db.begin().await?;
        if !store::insert_pushed(&mut tx, &record_id, &blind, &source, &sealed, now).await? {
            // Seen before: acted on already.
            return Ok(Vec::new());
        }
        let ids = store::permits_of_person(&mut tx, &blind).await?;
        let event = Event::RecordPushed {
            record_id: record_id.clone(),
            source,
        };
        let actor = caller.actor();
        let mut moved = Vec::new();
        for id in ids {
            let Some(app) = store::lock(&self.inner.db, &mut tx, &id).await? else {
                continue;
            };
            let app = self.transit(&mut tx, app, &event, &actor, now).await?;
            moved.push(app.id);
        }
        store::set_pushed_moved(&mut tx, &record_id, moved.len() as i64).await?;
        self.inner.db.commit(tx).await?;
        Ok(moved)
    }

    /// Fires every timer due by `now_ms`, each exactly once (see
    /// [`timers`]). Answers how many fired.
    pub async fn fire_due(&self, now_ms: i64) -> Result<usize, Error> {
        timers::fire_due(self, now_ms).await
    }

    /// Fires due timers every `every` until `shutdown`: the statutory
    /// clocks of a running service. A failed pass is logged and retried at
    /// the next tick (every timer fires exactly once, whenever it runs).
    pub async fn run_timers(
        self,
        every: std::time::Duration,
        mut shutdown: plaza_kernel::shutdown::Shutdown,
    ) {
        loop {
            match self.fire_due(self.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(fired = n, "permit timers fired"),
                Err(e) => {
                    tracing::warn!(error = %plaza_kernel::error::chain(&e), "firing permit timers failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// The timers of an application (for operators and tests).
    pub async fn timers(&self, id: &str) -> Result<Vec<store::Timer>, Error> {
        store::timers(&self.inner.db, id).await
    }
}
