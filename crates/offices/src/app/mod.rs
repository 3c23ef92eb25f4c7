//! The offices use cases. Handlers call these; nothing here knows gRPC.

pub mod import;
mod nearest;

use std::sync::Arc;

use plaza_kernel::auth::Caller;
use plaza_policy::{Policies, Resource};

use base64::Engine;
use plaza_kernel::cache::Cache;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::db::Db;
use plaza_kernel::idempotency;
use plaza_kernel::outbox::{self, NewEvent};
use prost::Message;

use crate::domain::{Office, OfficeFields, OfficeKind};
use crate::error::Error;
use crate::store::{self, ListQuery, OfficeReader, SqlStore};
use plaza_contracts::offices::v1 as pb;

pub use import::{ImportReport, parse_csv};
pub use nearest::Snapshot;

/// The event type every office change publishes.
pub const OFFICE_CHANGED: &str = "offices.OfficeChanged";

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

/// The offices application.
#[derive(Clone)]
pub struct Offices {
    db: Db,
    store: Arc<dyn OfficeReader>,
    cache: Cache,
    clock: SharedClock,
    snapshot: Arc<nearest::SnapshotCell>,
    policies: Policies,
}

/// A mutating request's idempotency: the key and a fingerprint of the request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

impl Offices {
    pub fn new(db: Db, cache: Cache, clock: SharedClock) -> Offices {
        Offices {
            store: Arc::new(SqlStore::new(db.clone())),
            db,
            cache,
            clock,
            snapshot: Default::default(),
            policies: Policies::shipped(),
        }
    }

    /// Decides a read (`offices.list`, `offices.get`, `offices.nearest`).
    pub fn authorize_read(&self, caller: &Caller, action: &str) -> Result<(), Error> {
        self.policies
            .require(caller, action, &Resource::new("Office", "*"))
            .map_err(Error::Denied)
    }

    /// Decides a change to an office with these fields.
    fn authorize_change(
        &self,
        caller: &Caller,
        action: &str,
        id: &str,
        fields: &OfficeFields,
    ) -> Result<(), Error> {
        let resource =
            Resource::new("Office", id).in_jurisdiction(&fields.state, Some(&fields.county));
        self.policies
            .require(caller, action, &resource)
            .map_err(Error::Denied)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn get(&self, id: &str) -> Result<Office, Error> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// A page of offices, filtered, in id order. Returns the next cursor when
    /// more may follow.
    pub async fn list(
        &self,
        kind: Option<OfficeKind>,
        county: Option<String>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(Vec<Office>, Option<String>), Error> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::Invalid {
                field: "limit",
                reason: format!("must be between 1 and {MAX_PAGE}"),
            });
        }
        let after = cursor.map(decode_cursor).transpose()?;
        let q = ListQuery {
            kind,
            county,
            after,
            limit: limit + 1,
        };
        let mut page = self.store.list(&q).await?;
        let next = if page.len() as i64 > limit {
            page.truncate(limit as usize);
            page.last().map(|o| encode_cursor(&o.id))
        } else {
            None
        };
        Ok((page, next))
    }

    pub async fn create(
        &self,
        caller: &Caller,
        idem: &Idempotency,
        fields: OfficeFields,
    ) -> Result<Office, Error> {
        self.authorize_change(caller, "offices.create", "new", &fields)?;
        let actor = &caller.actor();
        let mut tx = self.db.begin().await?;
        if let Some(previous) =
            idempotency::lookup(&mut tx, "offices.create", &idem.key, &idem.fingerprint).await?
        {
            return decode_office(&previous);
        }
        if store::find_by_code(&mut tx, &fields.code).await?.is_some() {
            return Err(Error::DuplicateCode(fields.code));
        }
        let office = Office {
            id: uuid::Uuid::now_v7().to_string(),
            fields,
            version: 1,
            updated_at_ms: self.clock.now_ms(),
        };
        store::insert(&mut tx, &office).await?;
        publish_change(&mut tx, &office, "created", actor).await?;
        idempotency::record(
            &mut tx,
            "offices.create",
            &idem.key,
            &idem.fingerprint,
            &office.to_pb().encode_to_vec(),
        )
        .await?;
        self.db.commit(tx).await?;
        Ok(office)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        idem: &Idempotency,
        id: &str,
        fields: OfficeFields,
        expected_version: Option<i64>,
    ) -> Result<Office, Error> {
        let mut tx = self.db.begin().await?;
        if let Some(previous) =
            idempotency::lookup(&mut tx, "offices.update", &idem.key, &idem.fingerprint).await?
        {
            return decode_office(&previous);
        }
        let current = store::find_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        // Both where the office is and where the change would put it must
        // be the caller's to change.
        self.authorize_change(caller, "offices.update", id, &current.fields)?;
        self.authorize_change(caller, "offices.update", id, &fields)?;
        let actor = &caller.actor();
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(Error::VersionConflict {
                id: id.to_owned(),
                expected,
                actual: current.version,
            });
        }
        if fields.code != current.fields.code
            && store::find_by_code(&mut tx, &fields.code).await?.is_some()
        {
            return Err(Error::DuplicateCode(fields.code));
        }
        let office = Office {
            id: current.id.clone(),
            fields,
            version: current.version + 1,
            updated_at_ms: self.clock.now_ms(),
        };
        store::update(&mut tx, &office).await?;
        publish_change(&mut tx, &office, "updated", actor).await?;
        idempotency::record(
            &mut tx,
            "offices.update",
            &idem.key,
            &idem.fingerprint,
            &office.to_pb().encode_to_vec(),
        )
        .await?;
        self.db.commit(tx).await?;
        Ok(office)
    }

    /// Drops everything cached about offices. Called for every office event.
    pub async fn invalidate(&self) {
        self.snapshot.invalidate().await;
        if let Err(e) = self.cache.invalidate_all().await {
            tracing::warn!(error = %e, "could not invalidate the offices cache");
        }
    }

    pub async fn count(&self) -> Result<i64, Error> {
        store::count(&self.db).await
    }
}

pub(crate) async fn publish_change(
    tx: &mut plaza_kernel::db::Tx,
    office: &Office,
    change: &str,
    actor: &str,
) -> Result<(), Error> {
    let payload = pb::OfficeChanged {
        office: Some(office.to_pb()),
        change: change.to_owned(),
    }
    .encode_to_vec();
    outbox::enqueue(
        tx,
        NewEvent {
            event_type: OFFICE_CHANGED.to_owned(),
            aggregate_type: "office".to_owned(),
            aggregate_id: office.id.clone(),
            payload,
        },
    )
    .await?;
    // The audit record commits with the change, or neither does.
    let action = match change {
        "created" => "offices.create",
        "updated" => "offices.update",
        _ => "offices.import",
    };
    plaza_audit::trail::record(
        tx,
        crate::SERVICE,
        office.updated_at_ms,
        plaza_audit::trail::Record {
            actor,
            action,
            resource: &format!("office/{}", office.id),
            subject: None,
            purpose: "administration of service locations",
            outcome: "ok",
        },
    )
    .await?;
    Ok(())
}

fn decode_office(bytes: &[u8]) -> Result<Office, Error> {
    let pb = pb::Office::decode(bytes).map_err(|e| plaza_kernel::Error::Encoding(e.to_string()))?;
    Ok(Office {
        id: pb.id.clone(),
        fields: OfficeFields {
            code: pb.code,
            name: pb.name,
            kind: OfficeKind::from_pb(pb.kind).unwrap_or(OfficeKind::DmvOffice),
            street: pb.street,
            city: pb.city,
            county: pb.county,
            state: pb.state,
            zip: pb.zip,
            latitude: pb.latitude,
            longitude: pb.longitude,
            phone: pb.phone,
            hours: pb.hours,
            active: pb.active,
        },
        version: pb.version,
        updated_at_ms: pb.updated_at_ms,
    })
}

fn encode_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o1:{id}"))
}

fn decode_cursor(c: &str) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| Error::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadCursor)?;
    let id = text.strip_prefix("o1:").ok_or(Error::BadCursor)?;
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
        let c = encode_cursor("0193-abc");
        assert_eq!(decode_cursor(&c).unwrap(), "0193-abc");
        assert!(matches!(decode_cursor("!!"), Err(Error::BadCursor)));
        let foreign = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:1");
        assert!(matches!(decode_cursor(&foreign), Err(Error::BadCursor)));
    }
}
