//! Stored photos: sealed bytes by content address.

use async_trait::async_trait;
use plaza_kernel::db::Db;

use crate::Error;

/// A stored photo as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPhoto {
    pub id: String,
    /// Base64 of the JPEG encrypted under the service's data key.
    pub sealed: String,
    pub width: u32,
    pub height: u32,
    pub created_at: i64,
}

/// Where photos are kept.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Stores a photo unless one with its id is there; true when stored now.
    async fn put(&self, photo: &SealedPhoto) -> Result<bool, Error>;
    async fn get(&self, id: &str) -> Result<Option<SealedPhoto>, Error>;
    /// The size of a stored photo, without its bytes.
    async fn dimensions(&self, id: &str) -> Result<Option<(u32, u32)>, Error>;
}

/// [`PhotoStore`] on the service's SQL database.
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> SqlStore {
        SqlStore { db }
    }
}

#[async_trait]
impl PhotoStore for SqlStore {
    async fn put(&self, p: &SealedPhoto) -> Result<bool, Error> {
        let mut tx = self.db.begin().await?;
        let done = sqlx::query(
            "INSERT INTO photos (id, sealed, width, height, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.sealed)
        .bind(i64::from(p.width))
        .bind(i64::from(p.height))
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        self.db.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get(&self, id: &str) -> Result<Option<SealedPhoto>, Error> {
        let row: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, sealed, width, height, created_at FROM photos WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        Ok(row.map(|(id, sealed, w, h, created_at)| SealedPhoto {
            id,
            sealed,
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
            created_at,
        }))
    }

    async fn dimensions(&self, id: &str) -> Result<Option<(u32, u32)>, Error> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT width, height FROM photos WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.reader())
                .await?;
        Ok(row.map(|(w, h)| (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0))))
    }
}
