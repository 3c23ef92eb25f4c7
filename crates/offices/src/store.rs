//! The offices table, behind a reader trait and writer functions that take
//! the caller's transaction (so a change and its event commit together).

use async_trait::async_trait;
use plaza_kernel::db::{Db, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::{Office, OfficeFields, OfficeKind};
use crate::error::Error;

const COLUMNS: &str = "id, code, name, kind, street, city, county, state, zip, latitude, longitude, phone, hours, active, version, updated_at_ms";

/// A page request for [`OfficeReader::list`].
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub kind: Option<OfficeKind>,
    pub county: Option<String>,
    /// Return offices with an id greater than this.
    pub after: Option<String>,
    pub limit: i64,
}

/// Reads offices.
#[async_trait]
pub trait OfficeReader: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Office>, Error>;
    async fn list(&self, q: &ListQuery) -> Result<Vec<Office>, Error>;
    async fn all_active(&self) -> Result<Vec<Office>, Error>;
}

/// The SQL store on a service database.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        SqlStore { db }
    }
}

fn row_to_office(r: &AnyRow) -> Result<Office, Error> {
    let kind: String = r.try_get(3)?;
    Ok(Office {
        id: r.try_get(0)?,
        fields: OfficeFields {
            code: r.try_get(1)?,
            name: r.try_get(2)?,
            kind: OfficeKind::parse(&kind).ok_or(Error::Invalid {
                field: "kind",
                reason: format!("stored kind {kind}"),
            })?,
            street: r.try_get(4)?,
            city: r.try_get(5)?,
            county: r.try_get(6)?,
            state: r.try_get(7)?,
            zip: r.try_get(8)?,
            latitude: r.try_get(9)?,
            longitude: r.try_get(10)?,
            phone: r.try_get(11)?,
            hours: r.try_get(12)?,
            active: r.try_get::<i64, _>(13)? != 0,
        },
        version: r.try_get(14)?,
        updated_at_ms: r.try_get(15)?,
    })
}

#[async_trait]
impl OfficeReader for SqlStore {
    async fn get(&self, id: &str) -> Result<Option<Office>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM offices WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| row_to_office(&r))
            .transpose()
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Office>, Error> {
        // Filters are bound as parameters; only which ones apply varies.
        let mut sql = format!("SELECT {COLUMNS} FROM offices WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if q.kind.is_some() {
            sql.push_str(&format!(" AND kind = ${}", next()));
        }
        if q.county.is_some() {
            sql.push_str(&format!(" AND county = ${}", next()));
        }
        if q.after.is_some() {
            sql.push_str(&format!(" AND id > ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", next()));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(k) = q.kind {
            query = query.bind(k.as_str());
        }
        if let Some(c) = &q.county {
            query = query.bind(c.clone());
        }
        if let Some(a) = &q.after {
            query = query.bind(a.clone());
        }
        query = query.bind(q.limit);
        query
            .fetch_all(self.db.reader())
            .await?
            .iter()
            .map(row_to_office)
            .collect()
    }

    async fn all_active(&self) -> Result<Vec<Office>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM offices WHERE active = 1 ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.db.reader())
            .await?
            .iter()
            .map(row_to_office)
            .collect()
    }
}

/// Looks an office up by code inside a transaction.
pub async fn find_by_code(tx: &mut Tx, code: &str) -> Result<Option<Office>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM offices WHERE code = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row_to_office(&r))
        .transpose()
}

/// Looks an office up by id inside a transaction.
pub async fn find_by_id(tx: &mut Tx, id: &str) -> Result<Option<Office>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM offices WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| row_to_office(&r))
        .transpose()
}

pub async fn insert(tx: &mut Tx, o: &Office) -> Result<(), Error> {
    write(
        tx,
        "INSERT INTO offices (id, code, name, kind, street, city, county, state, zip, latitude, longitude, phone, hours, active, version, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
        o,
    )
    .await
}

pub async fn update(tx: &mut Tx, o: &Office) -> Result<(), Error> {
    write(
        tx,
        "UPDATE offices SET code = $2, name = $3, kind = $4, street = $5, city = $6, county = $7, state = $8, zip = $9,
         latitude = $10, longitude = $11, phone = $12, hours = $13, active = $14, version = $15, updated_at_ms = $16
         WHERE id = $1",
        o,
    )
    .await
}

/// Runs `sql` with the office's columns bound as $1..$16 in table order.
async fn write(tx: &mut Tx, sql: &'static str, o: &Office) -> Result<(), Error> {
    let f = &o.fields;
    sqlx::query(sql)
        .bind(&o.id)
        .bind(&f.code)
        .bind(&f.name)
        .bind(f.kind.as_str())
        .bind(&f.street)
        .bind(&f.city)
        .bind(&f.county)
        .bind(&f.state)
        .bind(&f.zip)
        .bind(f.latitude)
        .bind(f.longitude)
        .bind(&f.phone)
        .bind(&f.hours)
        .bind(f.active as i64)
        .bind(o.version)
        .bind(o.updated_at_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Number of offices stored.
pub async fn count(db: &Db) -> Result<i64, Error> {
    Ok(sqlx::query("SELECT COUNT(*) FROM offices")
        .fetch_one(db.reader())
        .await?
        .try_get(0)?)
}
