//! Driver records: typed values ([`domain`]), sealed storage ([`store`]),
//! the synthetic population ([`seed`]), and the use cases staff and
//! citizens reach through the API ([`Drivers`]).

pub mod domain;
pub mod seed;
pub mod store;

use std::sync::Arc;

use base64::Engine;
use plaza_kernel::auth::Caller;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::Db;
use plaza_policy::{Policies, Resource};

use crate::eligibility::{Decision, RenewalRequest, RuleBook};
use crate::error::Error;
use domain::{Date, Driver, LicenceNumber};
use store::{DriverStore, ListQuery, SqlDriverStore};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

const READ: &str = "renewal.driver.read";
const CLAIM: &str = "renewal.driver.claim";
const CHECK: &str = "renewal.eligibility.check";

/// The driver-record use cases. Every read of a person's record is
/// authorised by the shipped policies and leaves an audit event.
#[derive(Clone)]
pub struct Drivers {
    db: Db,
    key: DataKey,
    store: Arc<dyn DriverStore>,
    clock: SharedClock,
    rules: Arc<RuleBook>,
    policies: Policies,
}

fn resource(d: &Driver) -> Resource<'_> {
    let r = Resource::new("Driver", &d.id).in_jurisdiction(&d.jurisdiction, None);
    match &d.subject {
        Some(owner) => r.owned_by(owner),
        None => r,
    }
}

/// The state part of a staff jurisdiction (`PA`, `PA/Dauphin`, `PA-42`).
fn state_of(jurisdiction: &str) -> String {
    jurisdiction
        .split(['/', '-'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase()
}

impl Drivers {
    pub fn new(db: Db, key: DataKey, clock: SharedClock, rules: Arc<RuleBook>) -> Drivers {
        Drivers {
            store: Arc::new(SqlDriverStore::new(db.clone(), key.clone())),
            db,
            key,
            clock,
            rules,
            policies: Policies::shipped(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    pub fn store(&self) -> &Arc<dyn DriverStore> {
        &self.store
    }

    /// The eligibility rules in force (reload them through this).
    pub fn rules(&self) -> &Arc<RuleBook> {
        &self.rules
    }

    /// Today's date, from the injected clock.
    pub fn today(&self) -> Date {
        Date::from_ms(self.clock.now_ms())
    }

    /// Queues an audit event in its own transaction and commits it.
    async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        subject: Option<&str>,
        purpose: &str,
        outcome: &str,
    ) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        plaza_audit::trail::record(
            &mut tx,
            crate::SERVICE,
            self.clock.now_ms(),
            plaza_audit::trail::Record {
                actor: &caller.actor(),
                action,
                resource,
                subject,
                purpose,
                outcome,
            },
        )
        .await?;
        self.db.commit(tx).await?;
        Ok(())
    }

    /// Loads a record `caller` may see for `action`; someone else's record
    /// is reported as not found, and the refusal is audited.
    async fn load_for(&self, caller: &Caller, action: &str, id: &str) -> Result<Driver, Error> {
        if id.is_empty() || id.len() > 64 {
            return Err(Error::invalid("id", "1 to 64 characters"));
        }
        let driver = self.store.get(id).await?.ok_or(Error::NotFound)?;
        if let Err(denied) = self.policies.require_or_hide(
            caller,
            action,
            &resource(&driver),
            Error::NotFound.public(),
        ) {
            self.audit(
                caller,
                action,
                &format!("driver/{}", driver.id),
                driver.subject.as_deref(),
                "driver record",
                "denied",
            )
            .await?;
            return Err(Error::Denied(denied));
        }
        Ok(driver)
    }

    /// A driver record, for staff of its jurisdiction or the citizen who
    /// claimed it. The read is audited before the record is returned.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Driver, Error> {
        let driver = self.load_for(caller, READ, id).await?;
        self.audit(
            caller,
            READ,
            &format!("driver/{}", driver.id),
            driver.subject.as_deref(),
            "driver record",
            "ok",
        )
        .await?;
        Ok(driver)
    }

    /// A citizen claims their record by licence number and birth date; it
    /// is then linked to their account. A wrong birth date and an unknown
    /// number get the same answer, and every attempt is audited.
    pub async fn claim(
        &self,
        caller: &Caller,
        licence_number: &str,
        birth_date: &str,
    ) -> Result<Driver, Error> {
        self.policies
            .require(caller, CLAIM, &Resource::new("Driver", "claim"))
            .map_err(Error::Denied)?;
        let number = LicenceNumber::parse(licence_number)?;
        let birth = Date::parse(birth_date).map_err(|_| {
            Error::invalid("birth_date", "use the form YYYY-MM-DD with a real date")
        })?;
        let actor = caller.actor();
        let Some(driver) = self.store.find_by_licence(&number).await? else {
            self.audit(
                caller,
                CLAIM,
                "driver/unknown",
                None,
                "claim record",
                "no_match",
            )
            .await?;
            return Err(Error::NotFound);
        };
        let resource_name = format!("driver/{}", driver.id);
        if driver.person.birth_date != birth {
            self.audit(
                caller,
                CLAIM,
                &resource_name,
                None,
                "claim record",
                "no_match",
            )
            .await?;
            return Err(Error::NotFound);
        }
        let mut tx = self.db.begin().await?;
        let now = self.clock.now_ms();
        let linked = self
            .store
            .link_subject(&mut tx, &driver.id, &actor, now)
            .await?;
        plaza_audit::trail::record(
            &mut tx,
            crate::SERVICE,
            now,
            plaza_audit::trail::Record {
                actor: &actor,
                action: CLAIM,
                resource: &resource_name,
                subject: Some(&actor),
                purpose: "claim record",
                outcome: if linked { "ok" } else { "conflict" },
            },
        )
        .await?;
        self.db.commit(tx).await?;
        if !linked {
            return Err(Error::AlreadyClaimed);
        }
        Ok(Driver {
            subject: Some(actor),
            updated_at_ms: now,
            ..driver
        })
    }

    /// Whether the record may be renewed online today, with every rule that
    /// refuses. Audited like a read.
    pub async fn check_eligibility(
        &self,
        caller: &Caller,
        id: &str,
        request: &RenewalRequest,
    ) -> Result<(Driver, Decision), Error> {
        let driver = self.load_for(caller, CHECK, id).await?;
        let decision = self.evaluate(&driver, request);
        self.audit(
            caller,
            CHECK,
            &format!("driver/{}", driver.id),
            driver.subject.as_deref(),
            "online renewal eligibility",
            if decision.eligible() {
                "eligible"
            } else {
                "not_eligible"
            },
        )
        .await?;
        Ok((driver, decision))
    }

    /// The rules in force applied to `driver` today (no authorisation, no
    /// audit: for the renewal saga, which has loaded the record already).
    pub fn evaluate(&self, driver: &Driver, request: &RenewalRequest) -> Decision {
        self.rules.current().evaluate(driver, request, self.today())
    }

    /// A page of the caller's jurisdiction's records, for staff, in id
    /// order, with the cursor of the next page when more may follow.
    pub async fn list(
        &self,
        caller: &Caller,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(Vec<Driver>, Option<String>), Error> {
        let state = caller
            .jurisdiction
            .as_deref()
            .map(state_of)
            .unwrap_or_default();
        self.policies
            .require(
                caller,
                READ,
                &Resource::new("Driver", "*").in_jurisdiction(&state, None),
            )
            .map_err(Error::Denied)?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        let mut page = self
            .store
            .list(&ListQuery {
                jurisdiction: state.clone(),
                after,
                limit: limit + 1,
            })
            .await?;
        let next = if page.len() as i64 > limit {
            page.truncate(limit as usize);
            page.last().map(|d| encode_cursor(&d.id))
        } else {
            None
        };
        self.audit(
            caller,
            "renewal.driver.list",
            &format!("drivers/{state}"),
            None,
            "driver records",
            "ok",
        )
        .await?;
        Ok((page, next))
    }

    pub async fn count(&self) -> Result<i64, Error> {
        store::count(&self.db).await
    }
}

fn encode_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("d1:{id}"))
}

fn decode_cursor(c: &str) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| Error::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadCursor)?;
    let id = text.strip_prefix("d1:").ok_or(Error::BadCursor)?;
    if id.is_empty() || id.len() > 64 {
        return Err(Error::BadCursor);
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor("abc")).unwrap(), "abc");
        assert!(matches!(decode_cursor("%%"), Err(Error::BadCursor)));
        assert_eq!(state_of("pa/Dauphin"), "PA");
        assert_eq!(state_of("PA-42"), "PA");
    }
}
