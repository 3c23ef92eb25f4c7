//! Nearest offices to a point. All active offices are held in memory (a few
//! thousand rows, a few hundred kilobytes); answers are cached by rounded
//! point, and both are dropped on every office event.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::Offices;
use crate::domain::{Office, OfficeKind, haversine_km};
use crate::error::Error;

/// The active offices, loaded once and kept until an office changes.
pub struct Snapshot {
    pub offices: Vec<Office>,
    by_id: HashMap<String, usize>,
}

/// The current snapshot. Dropping it (on every office event) never waits:
/// the pointer sits behind a plain lock held only to swap it, and loading
/// happens outside that lock, one loader at a time. An event relay that had
/// to wait for loads would fall behind under request load, and every event
/// would then cost a reload (a convoy that the benchmark found).
#[derive(Default)]
pub(crate) struct SnapshotCell {
    current: std::sync::RwLock<Option<Arc<Snapshot>>>,
    loading: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl SnapshotCell {
    pub(crate) async fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut c) = self.current.write() {
            *c = None;
        }
    }

    fn get(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

pub const MAX_NEAREST: u32 = 50;

impl Offices {
    async fn snapshot(&self) -> Result<Arc<Snapshot>, Error> {
        if let Some(s) = self.snapshot.get() {
            return Ok(s);
        }
        let _one_loader = self.snapshot.loading.lock().await;
        if let Some(s) = self.snapshot.get() {
            return Ok(s);
        }
        let generation = self.snapshot.generation.load(Ordering::Acquire);
        let offices = self.store.all_active().await?;
        metrics::counter!("plaza_offices_snapshot_loads_total").increment(1);
        let by_id = offices
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        let snap = Arc::new(Snapshot { offices, by_id });
        // An event that arrived while loading makes this load stale: it
        // answers this request, but is not kept.
        if self.snapshot.generation.load(Ordering::Acquire) == generation
            && let Ok(mut c) = self.snapshot.current.write()
        {
            *c = Some(snap.clone());
        }
        Ok(snap)
    }

    /// The `limit` active offices nearest to a point, nearest first.
    pub async fn nearest(
        &self,
        lat: f64,
        lon: f64,
        kind: Option<OfficeKind>,
        limit: u32,
    ) -> Result<Vec<(Office, f64)>, Error> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::Invalid {
                field: "latitude",
                reason: "must be between -90 and 90".into(),
            });
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::Invalid {
                field: "longitude",
                reason: "must be between -180 and 180".into(),
            });
        }
        if !(1..=MAX_NEAREST).contains(&limit) {
            return Err(Error::Invalid {
                field: "limit",
                reason: format!("must be between 1 and {MAX_NEAREST}"),
            });
        }
        let snap = self.snapshot().await?;
        // About 11 m of rounding: plenty for "which office is nearest".
        let key = format!(
            "near:{lat:.4}:{lon:.4}:{}:{limit}",
            kind.map(|k| k.as_str()).unwrap_or("any")
        );
        if let Some(hit) = self.cache.get(&key).await
            && let Some(found) = decode_hits(&hit, &snap)
        {
            return Ok(found);
        }
        let mut scored: Vec<(usize, f64)> = snap
            .offices
            .iter()
            .enumerate()
            .filter(|(_, o)| kind.is_none_or(|k| o.fields.kind == k))
            .map(|(i, o)| {
                (
                    i,
                    haversine_km(lat, lon, o.fields.latitude, o.fields.longitude),
                )
            })
            .collect();
        let n = (limit as usize).min(scored.len());
        if n < scored.len() {
            scored.select_nth_unstable_by(n, |a, b| a.1.total_cmp(&b.1));
            scored.truncate(n);
        }
        scored.sort_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| snap.offices[a.0].id.cmp(&snap.offices[b.0].id))
        });
        let encoded: String = scored
            .iter()
            .map(|(i, d)| format!("{} {d}", snap.offices[*i].id))
            .collect::<Vec<_>>()
            .join("\n");
        self.cache.put(&key, Bytes::from(encoded)).await;
        Ok(scored
            .into_iter()
            .map(|(i, d)| (snap.offices[i].clone(), d))
            .collect())
    }
}

/// Cached answers are `id distance` lines; an id missing from the snapshot
/// (the cache outlived a change) makes the entry a miss.
fn decode_hits(bytes: &[u8], snap: &Snapshot) -> Option<Vec<(Office, f64)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.lines()
        .map(|line| {
            let (id, d) = line.split_once(' ')?;
            let i = *snap.by_id.get(id)?;
            Some((snap.offices[i].clone(), d.parse().ok()?))
        })
        .collect()
}
