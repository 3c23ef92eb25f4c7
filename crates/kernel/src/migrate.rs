//! Forward-only, versioned migrations, one list per component (the kernel's
//! own tables, then each service's).
//!
//! A migration is plain SQL written once for both engines. Two tokens cover
//! what the engines spell differently: `{{id}}` (an auto-increment primary
//! key) and `{{blob}}` (a byte column). Each applied migration's checksum is
//! recorded; a migration edited after it was applied stops the start, since
//! the database no longer matches the code.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::Error;
use crate::db::{Db, Dialect};

/// One migration of one component.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// What `apply` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub applied: Vec<(String, i64, String)>,
    pub already: usize,
}

/// The kernel's own tables: outbox, inbox, idempotency records, saga log.
pub const KERNEL: &[Migration] = &[Migration {
    version: 1,
    name: "kernel",
    sql: include_str!("../migrations/0001_kernel.sql"),
}];

/// Turns a migration's portable SQL into the engine's own.
pub fn render(sql: &str, dialect: Dialect) -> String {
    let (id, blob) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Dialect::Postgres => ("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA"),
    };
    sql.replace("{{id}}", id).replace("{{blob}}", blob)
}

fn checksum(sql: &str) -> String {
    crate::hex::encode(&Sha256::digest(sql.as_bytes()))
}

/// Applies, in order, every migration of every component not applied yet.
pub async fn apply(db: &Db, components: &[(&str, &[Migration])]) -> Result<Applied, Error> {
    let mut tx = db.begin().await?;
    if db.dialect() == Dialect::Postgres {
        // Serialise concurrent starts of the same service.
        sqlx::query("SELECT pg_advisory_xact_lock(7420815)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS plaza_migrations (
            component TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at_ms BIGINT NOT NULL,
            PRIMARY KEY (component, version))",
    )
    .execute(&mut *tx)
    .await?;
    let mut report = Applied::default();
    for (component, migrations) in components {
        let rows = sqlx::query(
            "SELECT version, checksum FROM plaza_migrations WHERE component = $1 ORDER BY version",
        )
        .bind(component.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let applied: Vec<(i64, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for (version, sum) in &applied {
            match migrations.iter().find(|m| m.version == *version) {
                None => {
                    return Err(Error::Migration(format!(
                        "{component}: database has migration {version}, which this build does not know \
                         (was it made by a newer Plaza?)"
                    )));
                }
                Some(m) if checksum(m.sql) != *sum => {
                    return Err(Error::Migration(format!(
                        "{component}: migration {version} ({}) was edited after it was applied; \
                         migrations are forward-only: add a new one instead",
                        m.name
                    )));
                }
                Some(_) => report.already += 1,
            }
        }
        let mut pending: Vec<&Migration> = migrations
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .collect();
        pending.sort_by_key(|m| m.version);
        for m in pending {
            sqlx::raw_sql(sqlx::AssertSqlSafe(render(m.sql, db.dialect())))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    Error::Migration(format!("{component} {} ({}): {e}", m.version, m.name))
                })?;
            sqlx::query(
                "INSERT INTO plaza_migrations (component, version, name, checksum, applied_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(component.to_string())
            .bind(m.version)
            .bind(m.name)
            .bind(checksum(m.sql))
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await?;
            report
                .applied
                .push((component.to_string(), m.version, m.name.to_owned()));
        }
    }
    tx.commit().await?;
    Ok(report)
}
