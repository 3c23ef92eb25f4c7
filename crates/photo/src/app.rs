//! The photo use cases. Handlers call these; nothing here knows gRPC.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plaza_kernel::auth::Caller;
use plaza_kernel::clock::SharedClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::Db;
use plaza_policy::{Policies, Resource};

use crate::Error;
use crate::checks::{self, Report, Thresholds};
use crate::decode::{self, Limits};
use crate::normalise::{self, CARD_HEIGHT, CARD_WIDTH};
use crate::pool::Pool;
use crate::store::{PhotoStore, SealedPhoto, SqlStore};

/// The service's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What a file may be before decoding (8 MiB, 24 Mpx, 300–8000 px a side).
    pub limits: Limits,
    pub thresholds: Thresholds,
    /// Worker threads for the CPU work. Default 2.
    pub workers: usize,
    /// Jobs that may wait for a worker before `photo.busy`. Default 32: a
    /// check takes 25–50 ms on one worker, so the last job in a full queue
    /// waits well under a second on two, where refusing it would cost the
    /// citizen a retry.
    pub queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            thresholds: Thresholds::default(),
            workers: 2,
            queue: 32,
        }
    }
}

impl Config {
    /// The largest gRPC message the service must accept: the byte limit
    /// plus room for the envelope.
    pub fn max_message_bytes(&self) -> usize {
        self.limits.max_bytes + 64 * 1024
    }
}

/// The outcome of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub report: Report,
    /// Set when the photo was accepted and stored.
    pub photo_id: Option<String>,
}

/// A stored photo, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub id: String,
    /// The normalised JPEG.
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPhoto")
            .field("id", &self.id)
            .field("jpeg", &format_args!("{} bytes", self.jpeg.len()))
            .finish()
    }
}

/// The photo application. Cheap to clone.
#[derive(Clone)]
pub struct Photos {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    store: Box<dyn PhotoStore>,
    key: DataKey,
    clock: SharedClock,
    pool: Pool,
    config: Config,
    policies: Policies,
}

fn aad(id: &str) -> Vec<u8> {
    format!("photo:{id}").into_bytes()
}

fn claimed(content_type: Option<&str>) -> Option<String> {
    content_type
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

impl Photos {
    /// The app over `db` (see [`crate::open_db`]); `key` seals the stored
    /// photos and computes their ids (load it with
    /// `DataKey::load_or_create`). Starts `config.workers` threads.
    pub fn new(db: Db, key: DataKey, clock: SharedClock, config: Config) -> Photos {
        Photos {
            inner: Arc::new(Inner {
                store: Box::new(SqlStore::new(db.clone())),
                db,
                key,
                clock,
                pool: Pool::new(config.workers, config.queue),
                config,
                policies: Policies::shipped(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The worker pool (shared with every clone).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Decides `photo.check`, `photo.submit` or `photo.get` on a photo
    /// (`"*"` before one exists).
    pub fn authorize(&self, caller: &Caller, action: &str, id: &str) -> Result<(), Error> {
        self.inner
            .policies
            .require(caller, action, &Resource::new("Photo", id))
            .map_err(Error::Denied)
    }

    /// Checks a photo; stores nothing. Input errors (`photo.too_large`,
    /// `photo.unreadable`, ...) are `Err`; a readable photo that fails checks
    /// is an `Ok` report with `accepted == false`.
    pub async fn check(&self, image: Vec<u8>, content_type: Option<&str>) -> Result<Report, Error> {
        let limits = self.inner.config.limits;
        let thresholds = self.inner.config.thresholds.clone();
        let claimed = claimed(content_type);
        self.inner
            .pool
            .run(move || {
                let img = decode::decode(&image, claimed.as_deref(), &limits)?;
                Ok(checks::analyse(&img, &thresholds).report)
            })
            .await?
    }

    /// Checks a photo and, when accepted, stores its normalised form once:
    /// the same photo submitted again gets the same id.
    pub async fn submit(
        &self,
        image: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Submitted, Error> {
        let limits = self.inner.config.limits;
        let thresholds = self.inner.config.thresholds.clone();
        let claimed = claimed(content_type);
        let key = self.inner.key.clone();
        let (report, sealed) = self
            .inner
            .pool
            .run(move || -> Result<_, Error> {
                let img = decode::decode(&image, claimed.as_deref(), &limits)?;
                let analysis = checks::analyse(&img, &thresholds);
                let geometry = match analysis.geometry {
                    Some(g) if analysis.report.accepted => g,
                    _ => return Ok((analysis.report, None)),
                };
                let jpeg = normalise::normalise(&img, &geometry)?;
                let id = key.blind(&jpeg);
                let sealed = STANDARD.encode(key.encrypt(&aad(&id), &jpeg));
                Ok((analysis.report, Some((id, sealed))))
            })
            .await??;
        let Some((id, sealed)) = sealed else {
            return Ok(Submitted {
                report,
                photo_id: None,
            });
        };
        let stored = self
            .inner
            .store
            .put(&SealedPhoto {
                id: id.clone(),
                sealed,
                width: CARD_WIDTH,
                height: CARD_HEIGHT,
                created_at: self.inner.clock.now_ms(),
            })
            .await?;
        tracing::info!(photo_id = %id, new = stored, "photo accepted");
        Ok(Submitted {
            report,
            photo_id: Some(id),
        })
    }

    /// A stored photo, decrypted.
    pub async fn get(&self, id: &str) -> Result<StoredPhoto, Error> {
        check_id(id)?;
        let row = self.inner.store.get(id).await?.ok_or(Error::NotFound)?;
        let sealed = STANDARD
            .decode(&row.sealed)
            .map_err(|e| Error::Internal(format!("stored photo is not base64: {e}")))?;
        let jpeg = self.inner.key.decrypt(&aad(&row.id), &sealed)?;
        Ok(StoredPhoto {
            id: row.id,
            jpeg,
            width: row.width,
            height: row.height,
            created_at: row.created_at,
        })
    }

    /// [`Photos::check`] for a caller allowed `photo.check`.
    pub async fn check_as(
        &self,
        caller: &Caller,
        image: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Report, Error> {
        self.authorize(caller, "photo.check", "*")?;
        self.check(image, content_type).await
    }

    /// [`Photos::submit`] for a caller allowed `photo.submit`.
    pub async fn submit_as(
        &self,
        caller: &Caller,
        image: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Submitted, Error> {
        self.authorize(caller, "photo.submit", "*")?;
        self.submit(image, content_type).await
    }

    /// [`Photos::get`] for a caller allowed `photo.get` on this photo.
    pub async fn get_as(&self, caller: &Caller, id: &str) -> Result<StoredPhoto, Error> {
        self.authorize(caller, "photo.get", id)?;
        self.get(id).await
    }

    /// The size of a stored photo, for a caller allowed `photo.get`,
    /// without reading its bytes.
    pub async fn dimensions_as(&self, caller: &Caller, id: &str) -> Result<(u32, u32), Error> {
        self.authorize(caller, "photo.get", id)?;
        check_id(id)?;
        self.inner
            .store
            .dimensions(id)
            .await?
            .ok_or(Error::NotFound)
    }
}

/// Photo ids are content addresses: 64 hex digits.
fn check_id(id: &str) -> Result<(), Error> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}
