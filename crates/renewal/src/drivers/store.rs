//! The drivers table behind a store trait. Rows hold the personal fields
//! sealed with the service's [`DataKey`], each bound to its row and column;
//! the licence number is found by its blind index. Writes take the caller's
//! transaction, so a change and its audit event commit together.

use async_trait::async_trait;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::{Db, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::domain::{
    AddressLines, Codes, Date, Description, Driver, LicenceClass, LicenceNumber, Person,
    PersonName, Status,
};
use crate::error::Error;

const COLUMNS: &str = "id, licence_index, licence_sealed, jurisdiction, class, endorsements, restrictions, issued_on, expires_on, status, real_id, real_id_documents_seen, last_renewal_online, vision_test_on, medical_expires_on, subject, name_sealed, birth_date_sealed, address_sealed, updated_at_ms, description_sealed";
const NCOLS: usize = 21;

/// Rows per INSERT statement. SQLite looks bound parameters up linearly, so
/// bigger statements bind quadratically; about 50 rows of 21 columns is the
/// knee.
pub const ROWS_PER_STATEMENT: usize = 50;

/// Secondary indexes, as the migration creates them. Bulk loads into an
/// empty table drop them and build them once at the end.
pub(crate) const INDEXES: &[(&str, &str)] = &[
    (
        "drivers_licence_index",
        "CREATE UNIQUE INDEX IF NOT EXISTS drivers_licence_index ON drivers (licence_index)",
    ),
    (
        "drivers_subject",
        "CREATE INDEX IF NOT EXISTS drivers_subject ON drivers (subject)",
    ),
];

/// The blind index of a licence number.
pub fn licence_index(key: &DataKey, number: &LicenceNumber) -> String {
    key.blind(format!("renewal/licence/{}", number.as_str()).as_bytes())
}

fn aad(id: &str, column: &str) -> String {
    format!("renewal/drivers/{id}/{column}")
}

/// A driver record as stored: personal fields sealed.
#[derive(Debug, Clone)]
pub struct SealedRow {
    id: String,
    licence_index: String,
    licence_sealed: String,
    jurisdiction: String,
    class: &'static str,
    endorsements: String,
    restrictions: String,
    issued_on: i64,
    expires_on: i64,
    status: &'static str,
    real_id: i64,
    real_id_documents_seen: i64,
    last_renewal_online: i64,
    vision_test_on: Option<i64>,
    medical_expires_on: Option<i64>,
    subject: Option<String>,
    name_sealed: String,
    birth_date_sealed: String,
    address_sealed: String,
    updated_at_ms: i64,
    description_sealed: String,
}

/// Seals a driver record for storage.
pub fn seal(key: &DataKey, d: &Driver) -> SealedRow {
    let p = &d.person;
    SealedRow {
        id: d.id.clone(),
        licence_index: licence_index(key, &d.licence_number),
        licence_sealed: key.encrypt_text(&aad(&d.id, "licence"), d.licence_number.as_str()),
        jurisdiction: d.jurisdiction.clone(),
        class: d.class.as_str(),
        endorsements: d.endorsements.joined(),
        restrictions: d.restrictions.joined(),
        issued_on: d.issued_on.days(),
        expires_on: d.expires_on.days(),
        status: d.status.as_str(),
        real_id: i64::from(d.real_id),
        real_id_documents_seen: i64::from(d.real_id_documents_seen),
        last_renewal_online: i64::from(d.last_renewal_online),
        vision_test_on: d.vision_test_on.map(Date::days),
        medical_expires_on: d.medical_certificate_expires_on.map(Date::days),
        subject: d.subject.clone(),
        name_sealed: key.encrypt_text(&aad(&d.id, "name"), &p.name.to_text()),
        birth_date_sealed: key.encrypt_text(&aad(&d.id, "birth_date"), &p.birth_date.to_string()),
        address_sealed: key.encrypt_text(&aad(&d.id, "address"), &p.address.to_text()),
        updated_at_ms: d.updated_at_ms,
        description_sealed: key.encrypt_text(&aad(&d.id, "description"), &p.description.to_text()),
    }
}

fn stored_date(days: i64, column: &str) -> Result<Date, Error> {
    Date::from_days(days).ok_or_else(|| Error::Corrupt(format!("{column} out of range")))
}

fn open(key: &DataKey, r: &AnyRow) -> Result<Driver, Error> {
    let id: String = r.try_get(0)?;
    let corrupt = |what: &str| {
        let id = id.clone();
        let what = what.to_owned();
        move |e: Error| Error::Corrupt(format!("driver {id}: {what}: {e}"))
    };
    let unseal = |column: &str, idx: usize| -> Result<String, Error> {
        let sealed: String = r.try_get(idx)?;
        key.decrypt_text(&aad(&id, column), &sealed)
            .map_err(|e| Error::Corrupt(format!("driver {id}: {column}: {e}")))
    };
    let licence_number =
        LicenceNumber::parse(&unseal("licence", 2)?).map_err(corrupt("licence"))?;
    let class: String = r.try_get(4)?;
    let status: String = r.try_get(9)?;
    let endorsements: String = r.try_get(5)?;
    let restrictions: String = r.try_get(6)?;
    let vision: Option<i64> = r.try_get(13)?;
    let medical: Option<i64> = r.try_get(14)?;
    let person = Person {
        name: PersonName::from_text(&unseal("name", 16)?).map_err(corrupt("name"))?,
        birth_date: Date::parse(&unseal("birth_date", 17)?).map_err(corrupt("birth_date"))?,
        address: AddressLines::from_text(&unseal("address", 18)?).map_err(corrupt("address"))?,
        description: Description::from_text(&unseal("description", 20)?)
            .map_err(corrupt("description"))?,
    };
    Ok(Driver {
        licence_number,
        jurisdiction: r.try_get(3)?,
        class: LicenceClass::parse(&class).map_err(corrupt("class"))?,
        endorsements: Codes::parse("endorsements", &endorsements)
            .map_err(corrupt("endorsements"))?,
        restrictions: Codes::parse("restrictions", &restrictions)
            .map_err(corrupt("restrictions"))?,
        issued_on: stored_date(r.try_get(7)?, "issued_on")?,
        expires_on: stored_date(r.try_get(8)?, "expires_on")?,
        status: Status::parse(&status).map_err(corrupt("status"))?,
        real_id: r.try_get::<i64, _>(10)? != 0,
        real_id_documents_seen: r.try_get::<i64, _>(11)? != 0,
        last_renewal_online: r.try_get::<i64, _>(12)? != 0,
        vision_test_on: vision
            .map(|d| stored_date(d, "vision_test_on"))
            .transpose()?,
        medical_certificate_expires_on: medical
            .map(|d| stored_date(d, "medical_expires_on"))
            .transpose()?,
        subject: r.try_get(15)?,
        person,
        updated_at_ms: r.try_get(19)?,
        id,
    })
}

/// A page request for [`DriverStore::list`].
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub jurisdiction: String,
    /// Return records with an id greater than this.
    pub after: Option<String>,
    pub limit: i64,
}

/// Driver records.
#[async_trait]
pub trait DriverStore: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Driver>, Error>;
    /// The record with this licence number, found by its blind index.
    async fn find_by_licence(&self, number: &LicenceNumber) -> Result<Option<Driver>, Error>;
    /// A page of a jurisdiction's records in id order.
    async fn list(&self, q: &ListQuery) -> Result<Vec<Driver>, Error>;
    /// Links the record to `subject` if it is not linked to anyone else;
    /// false when it is.
    async fn link_subject(
        &self,
        tx: &mut Tx,
        id: &str,
        subject: &str,
        now_ms: i64,
    ) -> Result<bool, Error>;
    /// Inserts sealed rows, skipping any whose id or licence number is
    /// already stored; returns how many were inserted.
    async fn insert_sealed(&self, tx: &mut Tx, rows: &[SealedRow]) -> Result<u64, Error>;
}

/// The SQL store on the service database.
#[derive(Clone, Debug)]
pub struct SqlDriverStore {
    db: Db,
    key: DataKey,
}

impl SqlDriverStore {
    pub fn new(db: Db, key: DataKey) -> Self {
        SqlDriverStore { db, key }
    }
}

fn insert_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO drivers ({COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..NCOLS {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * NCOLS + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

#[async_trait]
impl DriverStore for SqlDriverStore {
    async fn get(&self, id: &str) -> Result<Option<Driver>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM drivers WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| open(&self.key, &r))
            .transpose()
    }

    async fn find_by_licence(&self, number: &LicenceNumber) -> Result<Option<Driver>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM drivers WHERE licence_index = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(licence_index(&self.key, number))
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| open(&self.key, &r))
            .transpose()
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Driver>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM drivers WHERE jurisdiction = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&q.jurisdiction)
            .bind(q.after.clone().unwrap_or_default())
            .bind(q.limit)
            .fetch_all(self.db.reader())
            .await?
            .iter()
            .map(|r| open(&self.key, r))
            .collect()
    }

    async fn link_subject(
        &self,
        tx: &mut Tx,
        id: &str,
        subject: &str,
        now_ms: i64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE drivers SET subject = $2, updated_at_ms = $3
             WHERE id = $1 AND (subject IS NULL OR subject = $2)",
        )
        .bind(id)
        .bind(subject)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_sealed(&self, tx: &mut Tx, rows: &[SealedRow]) -> Result<u64, Error> {
        let mut inserted = 0;
        let full = insert_sql(ROWS_PER_STATEMENT);
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = if chunk.len() == ROWS_PER_STATEMENT {
                full.clone()
            } else {
                insert_sql(chunk.len())
            };
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(&r.id)
                    .bind(&r.licence_index)
                    .bind(&r.licence_sealed)
                    .bind(&r.jurisdiction)
                    .bind(r.class)
                    .bind(&r.endorsements)
                    .bind(&r.restrictions)
                    .bind(r.issued_on)
                    .bind(r.expires_on)
                    .bind(r.status)
                    .bind(r.real_id)
                    .bind(r.real_id_documents_seen)
                    .bind(r.last_renewal_online)
                    .bind(r.vision_test_on)
                    .bind(r.medical_expires_on)
                    .bind(&r.subject)
                    .bind(&r.name_sealed)
                    .bind(&r.birth_date_sealed)
                    .bind(&r.address_sealed)
                    .bind(r.updated_at_ms)
                    .bind(&r.description_sealed);
            }
            inserted += q.execute(&mut **tx).await?.rows_affected();
        }
        Ok(inserted)
    }
}

/// Number of driver records.
pub async fn count(db: &Db) -> Result<i64, Error> {
    Ok(sqlx::query("SELECT COUNT(*) FROM drivers")
        .fetch_one(db.reader())
        .await?
        .try_get(0)?)
}

/// Builds any secondary index that is missing (after a bulk load, or one
/// that stopped half-way).
pub async fn ensure_indexes(db: &Db) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    for (_, sql) in INDEXES {
        sqlx::query(*sql).execute(&mut *tx).await?;
    }
    db.commit(tx).await?;
    Ok(())
}

/// Drops the secondary indexes before a bulk load into an empty table.
pub(crate) async fn drop_indexes(db: &Db) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    for (name, _) in INDEXES {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
            .execute(&mut *tx)
            .await?;
    }
    db.commit(tx).await?;
    Ok(())
}
