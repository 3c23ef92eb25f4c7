//! The reference set in SQL: one row per street within a ZIP code, its
//! delivery points packed in one column. Ten million addresses are about
//! two hundred thousand rows, written in statements of 50 rows (SQLite
//! looks bound parameters up by a linear scan, so long statements bind in
//! quadratic time).

use plaza_kernel::db::{Db, Tx};
use sqlx::Row;

use crate::error::Error;
use crate::reference::{Street, encode_points};

const BATCH: usize = 50;
const COLUMNS: usize = 11;

/// Replaces the whole reference set inside `tx`. `progress` hears the
/// number of streets written.
pub async fn replace_all(
    tx: &mut Tx,
    streets: &[Street],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), Error> {
    sqlx::query("DELETE FROM address_streets")
        .execute(&mut **tx)
        .await?;
    let mut id = 0i64;
    for (n, chunk) in streets.chunks(BATCH).enumerate() {
        let mut sql = String::from(
            "INSERT INTO address_streets (id, zip5, state, city, county, predir, name, suffix, postdir, point_count, points) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..COLUMNS {
                if c > 0 {
                    sql.push(',');
                }
                sql.push('$');
                sql.push_str(&(i * COLUMNS + c + 1).to_string());
            }
            sql.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in chunk {
            id += 1;
            q = q
                .bind(id)
                .bind(s.zip5.clone())
                .bind(s.state.clone())
                .bind(s.city.clone())
                .bind(s.county.clone())
                .bind(s.predir.clone())
                .bind(s.name.clone())
                .bind(s.suffix.clone())
                .bind(s.postdir.clone())
                .bind(s.points.len() as i64)
                .bind(encode_points(&s.points));
        }
        q.execute(&mut **tx).await?;
        if n % 20 == 19 {
            progress(id as u64);
        }
    }
    progress(id as u64);
    Ok(())
}

/// A street as the in-memory index holds it, its points still packed.
#[derive(Debug, Clone)]
pub struct StreetRow {
    pub id: i64,
    pub zip5: String,
    pub state: String,
    pub city: String,
    pub county: String,
    pub predir: String,
    pub name: String,
    pub suffix: String,
    pub postdir: String,
    pub point_count: i64,
    pub points: String,
}

/// Every street.
pub async fn streets(db: &Db) -> Result<Vec<StreetRow>, Error> {
    let rows = sqlx::query(
        "SELECT id, zip5, state, city, county, predir, name, suffix, postdir, point_count, points FROM address_streets ORDER BY id",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StreetRow {
                id: r.try_get(0)?,
                zip5: r.try_get(1)?,
                state: r.try_get(2)?,
                city: r.try_get(3)?,
                county: r.try_get(4)?,
                predir: r.try_get(5)?,
                name: r.try_get(6)?,
                suffix: r.try_get(7)?,
                postdir: r.try_get(8)?,
                point_count: r.try_get(9)?,
                points: r.try_get(10)?,
            })
        })
        .collect()
}

/// The packed points of one street.
pub async fn points(db: &Db, id: i64) -> Result<Option<String>, Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT points FROM address_streets WHERE id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|r| r.0))
}
