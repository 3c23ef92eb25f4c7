//! The `checks` service: background checks for the permits service, and
//! the examiners who resolve the Delayed ones.
//!
//! ```text
//! permits.CheckRequested (vault tokens) ─▶ inbox ─▶ checks row, pending
//! worker: claim (lease) ─▶ vault: detokenise (purpose background_check, audited there)
//!         ─▶ Checker::check ─▶ one transaction: the answer (evidence sealed),
//!            audit records of the check and of every record it matched
//!         ─▶ PermitApplications/CheckCompleted (retried until told)
//! Delayed ─▶ examiners' queue ─▶ Resolve (audited) ─▶ CheckCompleted again
//! ```
//!
//! A check that dies half-way is pending again when its lease runs out and
//! is run again from the start (asking sources twice harms nothing); its
//! answer is written once, because only a pending check takes an answer.
//! Permits accepts the same answer twice, so telling it again is safe.

pub mod grpc;
pub mod store;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use plaza_contracts::permits::v1 as ppb;
use plaza_contracts::permits::v1::permit_applications_client::PermitApplicationsClient;
use plaza_contracts::vault::v1 as vpb;
use plaza_contracts::vault::v1::vault_service_client::VaultServiceClient;
use plaza_kernel::auth::{Caller, CallerSeal, with_sealed_caller};
use plaza_kernel::bus::TxHandler;
use plaza_kernel::bus::{Bus, Durability, Envelope, EventFilter, Handler, HandlerError, Inbox};
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, StorageTarget, Tx};
use plaza_kernel::migrate::{self, Migration};
use plaza_kernel::resilience::{ClientChannel, ClientPolicy, channel};
use plaza_kernel::shutdown::Shutdown;
use plaza_permits::{BusinessCalendar, Catalogue, FederalProhibitor};
use plaza_policy::{Policies, Resource};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use crate::engine::{CheckResult, DelayReason, Outcome, Purpose};
use crate::sources::{Subject, parse_day};
use crate::{Checker, Error};

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "checks";

/// The event the permits service asks for a check with.
pub const CHECK_REQUESTED: &str = "permits.CheckRequested";

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "checks",
        sql: include_str!("../../migrations/0001_checks.sql"),
    },
    Migration {
        version: 2,
        name: "work_indexes",
        sql: include_str!("../../migrations/0002_work_indexes.sql"),
    },
];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}

const READ: &str = "checks.read";
const EVIDENCE: &str = "checks.evidence.read";
const QUEUE: &str = "checks.queue.read";
const RESOLVE: &str = "checks.resolve";
/// Why the service reads the applicant's identifiers from the vault.
pub const PURPOSE: &str = "background_check";

/// How long a worker holds a check before another may take it.
const LEASE_MS: i64 = 30_000;
/// How long to wait before telling permits again after a failure.
const NOTIFY_RETRY_MS: i64 = 5_000;

/// The vault and the permits service, reached over gRPC as the checks
/// service itself.
#[derive(Clone)]
pub struct Peers {
    vault: VaultServiceClient<ClientChannel>,
    permits: PermitApplicationsClient<ClientChannel>,
    seal: CallerSeal,
}

impl Peers {
    pub fn connect(
        vault_url: &str,
        permits_url: &str,
        policy: &ClientPolicy,
        seal: CallerSeal,
    ) -> Result<Peers, plaza_kernel::Error> {
        Ok(Peers {
            vault: VaultServiceClient::new(channel("vault", vault_url, policy)?.0),
            permits: PermitApplicationsClient::new(channel("permits", permits_url, policy)?.0),
            seal,
        })
    }

    async fn as_service<F: Future>(&self, f: F) -> F::Output {
        let caller = Caller::service(SERVICE);
        let sealed: Arc<str> = self
            .seal
            .seal(&caller, plaza_kernel::clock::now_ms())
            .into();
        with_sealed_caller(sealed, f).await
    }
}

/// The applicant's identifiers as the permits service sends them: tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectTokens {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
}

/// What an officer may see of a check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub sources: Vec<SourceLine>,
    pub denials: Vec<DenialLine>,
    /// Why the check was delayed, one line each.
    pub delays: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceLine {
    pub source: String,
    pub status: String,
    pub hits: u32,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialLine {
    pub prohibitor: String,
    pub source: String,
    pub record_id: String,
    pub reason: String,
}

/// A check as the caller may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub check: store::Stored,
    pub summary: Summary,
    /// Examiners only: the subject and the matched records (JSON).
    pub evidence: Option<String>,
}

/// One line of an examiner's or officer's view of a delay.
pub fn delay_line(d: &DelayReason) -> String {
    match d {
        DelayReason::SourceFailed { source, status } => {
            format!("{source}: no usable answer ({status})")
        }
        DelayReason::PossibleMatch {
            source,
            record_id,
            score,
            prohibitor,
        } => format!(
            "{source}: record {record_id} possibly matches the applicant (score {score:.1}) and could establish {prohibitor}"
        ),
        DelayReason::OpenRecord {
            source,
            record_id,
            prohibitor,
            detail,
        } => format!("{source}: record {record_id} could establish {prohibitor}: {detail}"),
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Proceed => "proceed",
        Outcome::Delayed => "delayed",
        Outcome::Denied => "denied",
    }
}

struct Inner {
    db: Db,
    key: DataKey,
    checker: RwLock<Option<Arc<Checker>>>,
    peers: Peers,
    catalogue: Arc<Catalogue>,
    policies: Policies,
    clock: SharedClock,
    calendar: BusinessCalendar,
    wake: Notify,
    slots: Arc<Semaphore>,
    concurrency: u32,
    /// The secret record sources sign their notices with.
    notice_secret: String,
    /// How long a worker holds a check.
    lease_ms: i64,
}

/// The checks service.
#[derive(Clone)]
pub struct Checks {
    inner: Arc<Inner>,
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, Error> {
    let v = value.trim();
    if v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Invalid {
            field,
            reason: format!("at most {max} characters"),
        });
    }
    Ok(v.to_owned())
}

impl Checks {
    /// The service on `db`; `checker` is `None` until the record sources
    /// are known ([`Checks::set_checker`]); checks wait pending until then.
    /// At most `concurrency` checks run at once.
    pub fn new(
        db: Db,
        key: DataKey,
        peers: Peers,
        catalogue: Arc<Catalogue>,
        clock: SharedClock,
        concurrency: usize,
    ) -> Checks {
        Checks {
            inner: Arc::new(Inner {
                db,
                key,
                checker: RwLock::new(None),
                peers,
                catalogue,
                policies: Policies::shipped(),
                clock,
                calendar: BusinessCalendar::federal(),
                wake: Notify::new(),
                slots: Arc::new(Semaphore::new(concurrency.clamp(1, 1 << 16))),
                concurrency: concurrency.clamp(1, 1 << 16) as u32,
                notice_secret: String::new(),
                lease_ms: LEASE_MS,
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Checks {
        let mut inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("settings are made before the service is shared"));
        change(&mut inner);
        Checks {
            inner: Arc::new(inner),
        }
    }

    /// With the secret record sources sign their notices with (without
    /// one, every notice is refused).
    pub fn with_notice_secret(self, secret: &str) -> Checks {
        self.with(|i| i.notice_secret = secret.to_owned())
    }

    /// With the agency's business calendar and local time (for the day a
    /// Delayed check lets an application go on).
    pub fn with_calendar(self, calendar: BusinessCalendar) -> Checks {
        self.with(|i| i.calendar = calendar)
    }

    /// With how long a worker holds a check before another may take it
    /// (30 s by default).
    pub fn with_lease(self, lease: Duration) -> Checks {
        self.with(|i| i.lease_ms = lease.as_millis() as i64)
    }

    /// The sources are known: pending checks start.
    pub fn set_checker(&self, checker: Arc<Checker>) {
        *self.inner.checker.write().expect("checker lock") = Some(checker);
        self.inner.wake.notify_one();
    }

    fn checker(&self) -> Option<Arc<Checker>> {
        self.inner.checker.read().expect("checker lock").clone()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Subscribes to the permits service's requests (one durable consumer
    /// shared by every process hosting `checks`).
    pub async fn subscribe(
        &self,
        bus: &Arc<dyn Bus>,
        shutdown: Shutdown,
    ) -> Result<(), plaza_kernel::Error> {
        let handler = Requested {
            checks: self.clone(),
            inbox: Inbox::new(
                self.inner.db.clone(),
                "checks-requests",
                Record {
                    clock: self.inner.clock.clone(),
                },
            ),
        };
        bus.subscribe(
            "checks-requests",
            EventFilter::event(CHECK_REQUESTED),
            Durability::Durable,
            Arc::new(handler),
            shutdown,
        )
        .await
    }

    /// Records a request for a check (as the permits service's event does)
    /// and wakes the workers: the check's NTN.
    pub async fn request(
        &self,
        application_id: &str,
        state: &str,
        type_id: &str,
        subject: Option<&SubjectTokens>,
    ) -> Result<String, Error> {
        let ntn = crate::engine::new_ntn();
        let request_id = format!("direct/{ntn}");
        let tokens = subject.map(|t| serde_json::to_string(t).expect("JSON"));
        let mut tx = self.inner.db.begin().await?;
        store::insert_request(
            &mut tx,
            &store::Request {
                ntn: &ntn,
                request_id: &request_id,
                application_id,
                state,
                type_id,
                subject_tokens: tokens.as_deref(),
            },
            self.now(),
        )
        .await?;
        self.inner.db.commit(tx).await?;
        self.inner.wake.notify_one();
        Ok(ntn)
    }

    /// Runs pending checks and tells permits their answers, until
    /// `shutdown`: woken by each request, and every `tick` for leases that
    /// ran out and answers still to be told.
    pub async fn run(&self, tick: Duration, mut shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "checks: a pass failed; trying again");
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.wait() => break,
            }
        }
        // Checks in flight finish (or, if the process is stopped first,
        // their leases run out and another worker runs them).
        let _ = self.inner.slots.acquire_many(self.inner.concurrency).await;
    }

    /// Starts what is pending and tells what is untold.
    pub async fn pass(&self) -> Result<(), Error> {
        if let Some(checker) = self.checker() {
            let free = self.inner.slots.available_permits();
            if free > 0 {
                let now = self.now();
                let candidates = store::claimable(&self.inner.db, now, free as i64).await?;
                let claimed =
                    store::claim_all(&self.inner.db, &candidates, now, self.inner.lease_ms).await?;
                for ntn in claimed {
                    let Ok(slot) = self.inner.slots.clone().acquire_owned().await else {
                        break;
                    };
                    let (me, checker) = (self.clone(), checker.clone());
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = me.run_one(&checker, &ntn).await {
                            tracing::warn!(ntn, error = %e, "checks: check not finished; it runs again when its lease ends");
                        }
                        me.inner.wake.notify_one();
                    });
                }
            }
        }
        for c in store::to_notify(&self.inner.db, self.now(), 64).await? {
            self.tell_permits(&c).await;
        }
        Ok(())
    }

    /// The identifiers behind the tokens, read from the vault for the
    /// purpose of a background check (the vault audits each read).
    async fn subject(&self, t: &SubjectTokens) -> Result<Option<Subject>, Error> {
        let mut vault = self.inner.peers.vault.clone();
        let req = vpb::DetokeniseManyRequest {
            tokens: vec![
                t.given_name.clone(),
                t.family_name.clone(),
                t.birth_date.clone(),
            ],
            purpose: PURPOSE.to_owned(),
        };
        let answer = self
            .inner
            .peers
            .as_service(async move { vault.detokenise_many(req).await })
            .await
            .map(|r| r.into_inner().values);
        match answer {
            Ok(values) if values.len() == 3 => Ok(Some(Subject {
                first: Some(values[0].value.clone()),
                last: Some(values[1].value.clone()),
                dob: parse_day(&values[2].value),
                ..Default::default()
            })),
            Ok(values) => Err(Error::Peer(format!(
                "vault: {} values for 3 tokens",
                values.len()
            ))),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                tracing::warn!(code = ?s.code(), "checks: the vault does not know the applicant's tokens");
                Ok(None)
            }
            Err(s) => Err(Error::Peer(format!("vault: {}", s.message()))),
        }
    }

    /// Runs one claimed check to its answer.
    async fn run_one(&self, checker: &Checker, ntn: &str) -> Result<(), Error> {
        let db = &self.inner.db;
        let Some(c) = store::get(db, ntn).await? else {
            return Ok(());
        };
        if c.status != store::PENDING {
            return Ok(());
        }
        let tokens: Option<SubjectTokens> = c
            .subject_tokens
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::Corrupt(format!("subject tokens of {ntn}: {e}")))?;
        let subject = match &tokens {
            Some(t) => self.subject(t).await?,
            None => None,
        };
        let purpose = Purpose::Permit {
            state: c.state.clone(),
        };
        let mut result = match &subject {
            Some(s) => checker.check_numbered(s, purpose, ntn).await,
            None => CheckResult::unidentified(ntn, purpose),
        };
        // The state's rules that are not this permit type's disqualifiers
        // do not count against it.
        result.only_prohibitors(|code| self.citable(&c.type_id, code));
        let now = self.now();
        let outcome = outcome_str(result.outcome);
        let mut prohibitors: Vec<String> =
            result.prohibitors().into_iter().map(canonical).collect();
        prohibitors.sort();
        prohibitors.dedup();
        let summary = Summary {
            sources: result
                .sources
                .iter()
                .map(|s| SourceLine {
                    source: s.source.clone(),
                    status: s.status.as_str().to_owned(),
                    hits: match s.status {
                        crate::engine::SourceStatus::Answered { hits } => hits as u32,
                        _ => 0,
                    },
                    latency_ms: s.latency_ms,
                })
                .collect(),
            denials: result
                .denials
                .iter()
                .map(|d| DenialLine {
                    prohibitor: d.prohibitor.clone(),
                    source: d.source.clone(),
                    record_id: d.record_id.clone(),
                    reason: d.reason.clone(),
                })
                .collect(),
            delays: result.delays.iter().map(delay_line).collect(),
        };
        let evidence = serde_json::json!({
            "subject": subject.as_ref().map(|s| serde_json::json!({
                "given_name": s.first,
                "family_name": s.last,
                "birth_date": s.dob.map(crate::sources::day),
            })),
            "matches": result.matches,
            "delays": result.delays,
            "elapsed_ms": result.elapsed_ms,
        });
        let sealed = self
            .inner
            .key
            .encrypt_text(&evidence_aad(ntn), &evidence.to_string());
        let delayed_until = (result.outcome == Outcome::Delayed).then(|| {
            let today = self
                .inner
                .calendar
                .day_of(now)
                .expect("a date in the calendar's years");
            self.inner
                .calendar
                .nics_delayed_transfer_from(today)
                .to_string()
        });
        let status = if result.outcome == Outcome::Delayed {
            store::REVIEW
        } else {
            store::DECIDED
        };
        let mut tx = db.begin().await?;
        let answered = store::answer(
            &mut tx,
            ntn,
            &store::Answer {
                status,
                outcome,
                prohibitors: &prohibitors,
                summary: &serde_json::to_string(&summary).expect("JSON"),
                evidence_sealed: &sealed,
                delayed_until: delayed_until.as_deref(),
            },
            now,
            now + NOTIFY_RETRY_MS,
        )
        .await?;
        if !answered {
            // Another worker answered first.
            return Ok(());
        }
        let subject_ref = tokens.as_ref().map(subject_reference);
        let audit = |action: &'static str, resource: String, outcome: &'static str| {
            (action, resource, outcome)
        };
        let mut entries = vec![audit("checks.run", format!("check/{ntn}"), outcome)];
        for m in &result.matches {
            entries.push(audit(
                "checks.record_matched",
                format!("record/{}/{}", m.source, m.record_id),
                m.decision,
            ));
        }
        let events = entries
            .iter()
            .map(|(action, resource, outcome)| {
                plaza_audit::trail::event(
                    SERVICE,
                    now,
                    plaza_audit::trail::Record {
                        actor: "system:checks",
                        action,
                        resource,
                        subject: subject_ref.as_deref(),
                        purpose: PURPOSE,
                        outcome,
                    },
                )
            })
            .collect();
        plaza_kernel::outbox::enqueue_all(&mut tx, events).await?;
        db.commit(tx).await?;
        if let Some(c) = store::get(db, ntn).await? {
            self.tell_permits(&c).await;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        tx: &mut Tx,
        actor: &str,
        action: &str,
        resource: &str,
        subject: Option<&str>,
        outcome: &str,
        now: i64,
    ) -> Result<(), Error> {
        plaza_audit::trail::record(
            tx,
            SERVICE,
            now,
            plaza_audit::trail::Record {
                actor,
                action,
                resource,
                subject,
                purpose: PURPOSE,
                outcome,
            },
        )
        .await?;
        Ok(())
    }

    /// Tells the permits service the answer `c.notify`. A refusal that
    /// cannot change (the application is gone or past the check) is kept
    /// in `notify_error` and not tried again; anything else is.
    async fn tell_permits(&self, c: &store::Stored) {
        let Some(outcome) = c.notify.clone() else {
            return;
        };
        let req = ppb::CheckCompletedRequest {
            id: c.application_id.clone(),
            outcome: outcome.clone(),
            ntn: c.ntn.clone(),
            prohibitors: if outcome == "denied" {
                c.prohibitors.clone()
            } else {
                Vec::new()
            },
        };
        let mut permits = self.inner.peers.permits.clone();
        let answer = self
            .inner
            .peers
            .as_service(async move { permits.check_completed(req).await })
            .await;
        let now = self.now();
        let stored = match answer {
            Ok(_) => store::notified(&self.inner.db, &c.ntn, &outcome, None, now).await,
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound
                        | tonic::Code::InvalidArgument
                        | tonic::Code::FailedPrecondition
                ) =>
            {
                let refused = plaza_kernel::error::PublicError::from_status(&s, "permits");
                tracing::warn!(ntn = %c.ntn, application = %c.application_id, code = %refused.code, "permits refused the check's answer");
                let why = format!("{}: {}", refused.code, refused.message);
                store::notified(&self.inner.db, &c.ntn, &outcome, Some(&why), now).await
            }
            Err(s) => {
                tracing::info!(ntn = %c.ntn, error = %s.message(), "permits not told yet; trying again");
                store::notify_later(&self.inner.db, &c.ntn, now + NOTIFY_RETRY_MS).await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(ntn = %c.ntn, error = %e, "checks: recording the notification failed");
        }
    }

    fn resource<'a>(c: &'a store::Stored) -> Resource<'a> {
        Resource::new("BackgroundCheck", &c.ntn).in_jurisdiction(&c.state, None)
    }

    fn summary(c: &store::Stored) -> Result<Summary, Error> {
        c.summary
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::Corrupt(format!("summary of {}: {e}", c.ntn)))
            .map(Option::unwrap_or_default)
    }

    /// A check by its NTN, as `caller` may see it. Every read is audited;
    /// an examiner's (with the evidence) in the same transaction that
    /// unseals it.
    pub async fn get(&self, caller: &Caller, ntn: &str) -> Result<View, Error> {
        let ntn = ntn.trim();
        if ntn.is_empty() || ntn.len() > 64 {
            return Err(Error::NotFound);
        }
        let c = store::get(&self.inner.db, ntn)
            .await?
            .ok_or(Error::NotFound)?;
        self.view(caller, c).await
    }

    /// The newest check of an application, as `caller` may see it.
    pub async fn of_application(&self, caller: &Caller, id: &str) -> Result<View, Error> {
        let c = store::of_application(&self.inner.db, id.trim())
            .await?
            .ok_or(Error::NotFound)?;
        self.view(caller, c).await
    }

    async fn view(&self, caller: &Caller, c: store::Stored) -> Result<View, Error> {
        let resource = Self::resource(&c);
        self.inner
            .policies
            .require_or_hide(caller, READ, &resource, Error::NotFound.public())
            .map_err(Error::Denied)?;
        let full = self
            .inner
            .policies
            .is_permitted(caller, EVIDENCE, &resource, &[]);
        let evidence = match (&c.evidence_sealed, full) {
            (Some(sealed), true) => Some(
                self.inner
                    .key
                    .decrypt_text(&evidence_aad(&c.ntn), sealed)
                    .map_err(|e| Error::Corrupt(format!("evidence of {}: {e}", c.ntn)))?,
            ),
            _ => None,
        };
        let tokens: Option<SubjectTokens> = c
            .subject_tokens
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let mut tx = self.inner.db.begin().await?;
        self.audit(
            &mut tx,
            &caller.actor(),
            if evidence.is_some() {
                "checks.evidence_read"
            } else {
                "checks.read"
            },
            &format!("check/{}", c.ntn),
            tokens.as_ref().map(subject_reference).as_deref(),
            "ok",
            self.now(),
        )
        .await?;
        self.inner.db.commit(tx).await?;
        let summary = Self::summary(&c)?;
        Ok(View {
            check: c,
            summary,
            evidence,
        })
    }

    /// The examiners' queue: Delayed checks awaiting a decision, oldest
    /// first.
    pub async fn queue(&self, caller: &Caller) -> Result<Vec<(store::Stored, Summary)>, Error> {
        self.inner
            .policies
            .require(caller, QUEUE, &Resource::new("CheckQueue", "all"))
            .map_err(Error::Denied)?;
        let rows = store::queue(&self.inner.db, 500).await?;
        rows.into_iter()
            .map(|c| {
                let s = Self::summary(&c)?;
                Ok((c, s))
            })
            .collect()
    }

    /// Whether `code` may be cited for a check of permit type `type_id`: a
    /// federal prohibitor, or a disqualifier of that type.
    fn citable(&self, type_id: &str, code: &str) -> bool {
        FederalProhibitor::colliding_with(code).is_some()
            || self
                .inner
                .catalogue
                .current()
                .get(type_id)
                .is_some_and(|t| t.state_disqualifiers.iter().any(|d| d.code == code))
    }

    /// An examiner's decision on a Delayed check. The same decision again
    /// answers the check as it is; a different one is refused.
    pub async fn resolve(
        &self,
        caller: &Caller,
        ntn: &str,
        decision: &str,
        prohibitors: Vec<String>,
        note: &str,
    ) -> Result<View, Error> {
        let outcome = match decision.trim() {
            "proceed" => "proceed",
            "deny" => "denied",
            _ => {
                return Err(Error::Invalid {
                    field: "decision",
                    reason: "proceed or deny".into(),
                });
            }
        };
        let mut prohibitors: Vec<String> =
            prohibitors.iter().map(|p| canonical(p.trim())).collect();
        prohibitors.sort();
        prohibitors.dedup();
        if (outcome == "denied") == prohibitors.is_empty() {
            return Err(Error::Invalid {
                field: "prohibitors",
                reason: "a denial cites at least one prohibitor, and only a denial does".into(),
            });
        }
        let note = text("note", note, 2000)?;
        if note.is_empty() {
            return Err(Error::Invalid {
                field: "note",
                reason: "say what the decision rests on".into(),
            });
        }
        let db = &self.inner.db;
        let mut tx = db.begin().await?;
        let c = store::lock(&mut tx, db, ntn.trim())
            .await?
            .ok_or(Error::NotFound)?;
        self.inner
            .policies
            .require_or_hide(
                caller,
                RESOLVE,
                &Self::resource(&c),
                Error::NotFound.public(),
            )
            .map_err(Error::Denied)?;
        if c.status == store::RESOLVED {
            drop(tx);
            if c.final_outcome.as_deref() == Some(outcome) && c.prohibitors == prohibitors {
                return self.view(caller, c).await;
            }
            return Err(Error::AlreadyResolved);
        }
        if c.status != store::REVIEW {
            return Err(Error::NotInReview(c.status.clone()));
        }
        if let Some(code) = prohibitors.iter().find(|p| !self.citable(&c.type_id, p)) {
            return Err(Error::UnknownProhibitor(code.chars().take(64).collect()));
        }
        let now = self.now();
        let examiner = caller.actor();
        store::resolve(
            &mut tx,
            &c.ntn,
            &store::Resolution {
                outcome,
                prohibitors: &prohibitors,
                examiner: &examiner,
                note: &note,
            },
            now,
            now + NOTIFY_RETRY_MS,
        )
        .await?;
        let tokens: Option<SubjectTokens> = c
            .subject_tokens
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        self.audit(
            &mut tx,
            &examiner,
            "checks.resolve",
            &format!("check/{}", c.ntn),
            tokens.as_ref().map(subject_reference).as_deref(),
            outcome,
            now,
        )
        .await?;
        db.commit(tx).await?;
        let c = store::get(db, &c.ntn).await?.ok_or(Error::NotFound)?;
        self.tell_permits(&c).await;
        self.view(caller, c).await
    }
}

/// What a record notice came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeOutcome {
    pub event_id: String,
    pub record_id: String,
    /// What the record could establish, as permits cites it.
    pub prohibitors: Vec<String>,
    /// The applications (permits) sent to officer review.
    pub moved: Vec<String>,
}

/// How old a notice's signature may be, in seconds.
const NOTICE_TOLERANCE_S: i64 = 300;

#[derive(Deserialize)]
struct Notice {
    event_id: String,
    source: String,
    hit: serde_json::Value,
}

impl Checks {
    /// Continuous evaluation: a source's signed notice of a new record
    /// about a person. A record that could establish a prohibitor (under
    /// federal law or any state's rules) goes to the permits service, which
    /// sends that person's permits to officer review, once per record.
    /// Audited either way.
    pub async fn record_notice(
        &self,
        body: &[u8],
        signature: &str,
    ) -> Result<NoticeOutcome, Error> {
        let now = self.now();
        if self.inner.notice_secret.is_empty() {
            return Err(Error::NoticeSignature("no notice secret is configured"));
        }
        plaza_kernel::webhook::verify(
            &self.inner.notice_secret,
            signature,
            body,
            now.div_euclid(1000),
            NOTICE_TOLERANCE_S,
        )
        .map_err(Error::NoticeSignature)?;
        let invalid = |reason: String| Error::Invalid {
            field: "notice",
            reason,
        };
        let n: Notice =
            serde_json::from_slice(body).map_err(|e| invalid(format!("not a notice: {e}")))?;
        let record = crate::sources::json::parse_hit(&n.hit).map_err(|e| invalid(e.to_string()))?;
        let today = crate::engine::civil_from_days(now.div_euclid(86_400_000));
        let facts = crate::prohibitors::Facts { today };
        let mut findings = crate::prohibitors::assess(&record.content, &facts, None);
        for rule in crate::prohibitors::STATES {
            findings.extend(
                crate::prohibitors::assess(&record.content, &facts, Some(rule.state))
                    .into_iter()
                    .filter(|f| f.code() == rule.rule.code),
            );
        }
        let mut prohibitors: Vec<String> = findings.iter().map(|f| canonical(f.code())).collect();
        prohibitors.sort();
        prohibitors.dedup();
        let mut moved = Vec::new();
        if !prohibitors.is_empty() {
            let s = &record.subject;
            let (Some(first), Some(last), Some(dob)) = (&s.first, &s.last, s.dob) else {
                return Err(invalid(
                    "the record names no person (first and last name, date of birth)".into(),
                ));
            };
            let summary: Vec<String> = findings
                .iter()
                .map(|f| match f {
                    crate::prohibitors::Finding::Prohibits { code, reason }
                    | crate::prohibitors::Finding::Open { code, reason } => {
                        format!("{code}: {reason}")
                    }
                })
                .collect();
            let req = ppb::RecordPushedRequest {
                given_name: first.clone(),
                family_name: last.clone(),
                birth_date: crate::sources::day(dob),
                record_id: record.record_id.clone(),
                source: n.source.clone(),
                summary: summary.join("; ").chars().take(500).collect(),
            };
            let mut permits = self.inner.peers.permits.clone();
            moved = self
                .inner
                .peers
                .as_service(async move { permits.record_pushed(req).await })
                .await
                .map_err(|s| Error::Peer(format!("permits: {}", s.message())))?
                .into_inner()
                .moved;
        }
        let mut tx = self.inner.db.begin().await?;
        self.audit(
            &mut tx,
            &format!("source:{}", n.source),
            "checks.record_notice",
            &format!("record/{}/{}", n.source, record.record_id),
            None,
            if moved.is_empty() {
                "no_permit_to_review"
            } else {
                "permits_to_review"
            },
            now,
        )
        .await?;
        self.inner.db.commit(tx).await?;
        Ok(NoticeOutcome {
            event_id: n.event_id,
            record_id: record.record_id,
            prohibitors,
            moved,
        })
    }
}

/// A prohibitor as the permits service cites it: a federal one in its
/// short form (`922(g)(1)` is `922g1`), a state's as its catalogue writes it.
pub fn canonical(code: &str) -> String {
    FederalProhibitor::colliding_with(code)
        .map(|p| p.code().to_owned())
        .unwrap_or_else(|| code.to_owned())
}

/// How the audit log names the person a check is about: the tokens of
/// their identifiers, never the values.
fn subject_reference(t: &SubjectTokens) -> String {
    format!("{},{},{}", t.given_name, t.family_name, t.birth_date)
}

fn evidence_aad(ntn: &str) -> String {
    format!("checks/evidence/{ntn}")
}

/// The request event as the permits service writes it.
#[derive(Debug, Deserialize)]
struct CheckRequested {
    application_id: String,
    type_id: String,
    jurisdiction: String,
    subject: Option<SubjectTokens>,
}

/// Records a request in the inbox's transaction.
struct Record {
    clock: SharedClock,
}

#[async_trait]
impl TxHandler for Record {
    async fn apply(&self, tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        let r: CheckRequested = match serde_json::from_slice(&ev.payload) {
            Ok(r) => r,
            Err(e) => {
                // Retrying cannot make it readable: recorded as seen.
                tracing::error!(event = %ev.id, error = %e, "checks: unreadable check request dropped");
                return Ok(());
            }
        };
        let tokens = r
            .subject
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("JSON"));
        let ntn = crate::engine::new_ntn();
        store::insert_request(
            tx,
            &store::Request {
                ntn: &ntn,
                request_id: &ev.id,
                application_id: &r.application_id,
                state: &r.jurisdiction,
                type_id: &r.type_id,
                subject_tokens: tokens.as_deref(),
            },
            self.clock.now_ms(),
        )
        .await?;
        Ok(())
    }
}

/// The consumer: the inbox, then a nudge to the workers.
struct Requested {
    checks: Checks,
    inbox: Inbox<Record>,
}

#[async_trait]
impl Handler for Requested {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        self.inbox.handle(ev).await?;
        self.checks.inner.wake.notify_one();
        Ok(())
    }
}
