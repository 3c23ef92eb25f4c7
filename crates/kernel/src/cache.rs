//! A read-through cache: in-process by default, Redis when configured.
//!
//! Entries live in a namespace (say `offices`). A service's own change
//! events drop its whole namespace at once: locally by bumping a generation
//! number that is part of every key, on Redis by deleting the namespace's
//! hash. Cache failures never fail a request: a Redis error counts as a miss.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::Error;

#[derive(Clone)]
enum Backend {
    Local {
        entries: moka::sync::Cache<(u64, String), Bytes>,
        generation: Arc<AtomicU64>,
    },
    Redis(redis::aio::ConnectionManager),
}

/// One namespace of the cache.
#[derive(Clone)]
pub struct Cache {
    backend: Backend,
    namespace: String,
    ttl: Duration,
}

impl Cache {
    /// An in-process cache holding at most `capacity` entries.
    pub fn local(namespace: &str, capacity: u64, ttl: Duration) -> Cache {
        Cache {
            backend: Backend::Local {
                entries: moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                generation: Arc::new(AtomicU64::new(0)),
            },
            namespace: namespace.to_owned(),
            ttl,
        }
    }

    /// A Redis-backed cache.
    pub async fn redis(url: &str, namespace: &str, ttl: Duration) -> Result<Cache, Error> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Cache(format!("Redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(2);
        let manager = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| Error::Cache(format!("connecting to Redis: {e}")))?;
        Ok(Cache {
            backend: Backend::Redis(manager),
            namespace: namespace.to_owned(),
            ttl,
        })
    }

    /// Local or Redis, by configuration.
    pub async fn open(
        redis_url: Option<&str>,
        namespace: &str,
        ttl: Duration,
    ) -> Result<Cache, Error> {
        match redis_url {
            Some(url) => Cache::redis(url, namespace, ttl).await,
            None => Ok(Cache::local(namespace, 100_000, ttl)),
        }
    }

    fn hash_key(&self) -> String {
        format!("plaza:cache:{}", self.namespace)
    }

    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Local { .. } => "local",
            Backend::Redis(_) => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        let hit = match &self.backend {
            Backend::Local {
                entries,
                generation,
            } => entries.get(&(generation.load(Ordering::Acquire), key.to_owned())),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                match redis::cmd("HGET")
                    .arg(self.hash_key())
                    .arg(key)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
                {
                    Ok(v) => v.map(Bytes::from),
                    Err(e) => {
                        tracing::warn!(namespace = %self.namespace, error = %e, "cache read failed");
                        None
                    }
                }
            }
        };
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("plaza_cache_lookups_total", "namespace" => self.namespace.clone(), "outcome" => outcome)
            .increment(1);
        hit
    }

    pub async fn put(&self, key: &str, value: Bytes) {
        match &self.backend {
            Backend::Local {
                entries,
                generation,
            } => {
                entries.insert((generation.load(Ordering::Acquire), key.to_owned()), value);
            }
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let result = redis::pipe()
                    .cmd("HSET")
                    .arg(self.hash_key())
                    .arg(key)
                    .arg(value.as_ref())
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(self.hash_key())
                    .arg(self.ttl.as_secs().max(1))
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await;
                if let Err(e) = result {
                    tracing::warn!(namespace = %self.namespace, error = %e, "cache write failed");
                }
            }
        }
    }

    /// Drops every entry of the namespace.
    pub async fn invalidate_all(&self) -> Result<(), Error> {
        metrics::counter!("plaza_cache_invalidations_total", "namespace" => self.namespace.clone())
            .increment(1);
        match &self.backend {
            Backend::Local {
                entries,
                generation,
            } => {
                generation.fetch_add(1, Ordering::AcqRel);
                entries.invalidate_all();
                Ok(())
            }
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                redis::cmd("DEL")
                    .arg(self.hash_key())
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| Error::Cache(format!("invalidating {}: {e}", self.namespace)))
            }
        }
    }
}
