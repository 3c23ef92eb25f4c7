//! The audit log: append-only storage of entries as leaves of an RFC 6962
//! Merkle tree, signed tree heads, and inclusion and consistency proofs.
//!
//! The tree's right edge (one pending perfect subtree per level, the
//! "frontier") is kept in memory, so an append costs its leaf hash and the
//! node hashes it completes. Perfect subtrees of 16 leaves and more are
//! stored (`audit_nodes`), so a proof reads at most a couple of 16-leaf
//! blocks of leaf hashes and a few dozen stored nodes, however large the log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use plaza_kernel::clock::SharedClock;
use plaza_kernel::db::{Db, Tx, param_rows};
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::Mutex;

use crate::error::Error;
use crate::merkle::{self, Hash, Perfect};

/// Levels below this are computed from leaf hashes; from it up, stored.
pub const STORED_LEVEL: u32 = 4;
/// Stored subtrees from this level up (one per 1,024 entries and fewer) are
/// also kept in memory once read: they never change, and every proof needs
/// a few of them.
const CACHED_LEVEL: u32 = 10;
const BLOCK: u64 = 1 << STORED_LEVEL;

/// One audit event. Its canonical form (field order fixed, as below) is the
/// Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// When it happened, ms since the epoch.
    pub at_ms: i64,
    /// The service that recorded it.
    pub service: String,
    /// Who acted: a subject id, or `system:<component>`.
    pub actor: String,
    /// What was done, e.g. `offices.update`, `vault.detokenise`.
    pub action: String,
    /// What it was done to, e.g. `office/0193…`.
    pub resource: String,
    /// The citizen concerned, as a vault token (never clear personal data).
    pub subject: Option<String>,
    /// Why, as stated by the actor.
    pub purpose: String,
    pub correlation_id: String,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
}

impl AuditEvent {
    /// The bytes that are hashed into the tree.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    pub at_ms: i64,
    pub key_id: String,
    pub signature: Vec<u8>,
}

impl TreeHead {
    /// What the signature covers.
    pub fn message(size: u64, root: &Hash, at_ms: i64) -> Vec<u8> {
        format!(
            "plaza-audit-tree-head/v1\n{size}\n{}\n{at_ms}\n",
            merkle::hex(root)
        )
        .into_bytes()
    }

    /// Checks the signature against `key`.
    pub fn verify_signature(&self, key: &VerifyingKey) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&self.signature) else {
            return false;
        };
        key.verify(&Self::message(self.size, &self.root, self.at_ms), &sig)
            .is_ok()
    }
}

/// The key that signs tree heads.
#[derive(Clone)]
pub struct HeadSigner {
    key: Arc<SigningKey>,
    pub key_id: String,
}

impl HeadSigner {
    pub fn from_seed(seed: [u8; 32]) -> HeadSigner {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        HeadSigner {
            key: Arc::new(key),
            key_id,
        }
    }

    /// Reads the seed from `path` (64 hex characters), or makes a new one
    /// there (readable by the owner only) when the file does not exist.
    pub fn load_or_create(path: &std::path::Path) -> Result<HeadSigner, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let seed = merkle::from_hex(text.trim()).ok_or_else(|| {
                    Error::Key(format!(
                        "{} does not hold a 64-hex-digit key",
                        path.display()
                    ))
                })?;
                Ok(HeadSigner::from_seed(seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed: [u8; 32] = rand::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::Key(format!("{}: {e}", dir.display())))?;
                }
                write_private(path, &merkle::hex(&seed))?;
                Ok(HeadSigner::from_seed(seed))
            }
            Err(e) => Err(Error::Key(format!("{}: {e}", path.display()))),
        }
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    fn sign(&self, size: u64, root: &Hash, at_ms: i64) -> TreeHead {
        let signature = self
            .key
            .sign(&TreeHead::message(size, root, at_ms))
            .to_bytes()
            .to_vec();
        TreeHead {
            size,
            root: *root,
            at_ms,
            key_id: self.key_id.clone(),
            signature,
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), Error> {
    plaza_kernel::files::write_private(path, text)
        .map_err(|e| Error::Key(format!("{}: {e}", path.display())))
}

/// A key's id: the first 8 bytes of SHA-256 of the public key, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    plaza_kernel::hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The tree's right edge.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frontier {
    size: u64,
    /// `pending[l]`: the perfect subtree of level `l` waiting for its right
    /// sibling (set exactly where bit `l` of `size` is set).
    pending: Vec<Option<Hash>>,
    /// The newest leaf hash (zeros for the empty log).
    last_leaf: Hash,
}

impl Frontier {
    /// Adds a leaf; returns the stored-level nodes it completed.
    pub(crate) fn push(&mut self, leaf: Hash, completed: &mut Vec<(Perfect, Hash)>) {
        let mut h = leaf;
        let mut level = 0usize;
        loop {
            if self.pending.len() <= level {
                self.pending.resize(level + 1, None);
            }
            match self.pending[level].take() {
                Some(left) => {
                    h = merkle::node_hash(&left, &h);
                    level += 1;
                    if level as u32 >= STORED_LEVEL {
                        let index = (self.size + 1) / (1u64 << level) - 1;
                        completed.push((
                            Perfect {
                                level: level as u32,
                                index,
                            },
                            h,
                        ));
                    }
                }
                None => {
                    self.pending[level] = Some(h);
                    break;
                }
            }
        }
        self.size += 1;
        self.last_leaf = leaf;
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for h in self.pending.iter().flatten() {
            acc = Some(match acc {
                None => *h,
                Some(right) => merkle::node_hash(h, &right),
            });
        }
        acc.unwrap_or_else(merkle::empty_root)
    }
}

/// The audit log of one Plaza installation.
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    frontier: Arc<Mutex<Frontier>>,
    upper: Arc<std::sync::RwLock<HashMap<Perfect, Hash>>>,
    signer: HeadSigner,
    clock: SharedClock,
}

impl AuditLog {
    /// Opens the log and rebuilds the in-memory right edge from storage.
    pub async fn open(db: Db, signer: HeadSigner, clock: SharedClock) -> Result<AuditLog, Error> {
        let size: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(db.reader())
            .await?
            .try_get(0)?;
        let size = size as u64;
        let mut frontier = Frontier::default();
        // Whole stored subtrees first, then the leaves of the last block.
        let mut start = 0u64;
        let full = size & !(BLOCK - 1);
        for level in (STORED_LEVEL..64).rev() {
            let len = 1u64 << level;
            if full & len != 0 {
                let h = stored_node(
                    db.reader(),
                    Perfect {
                        level,
                        index: start / len,
                    },
                )
                .await?;
                if frontier.pending.len() <= level as usize {
                    frontier.pending.resize(level as usize + 1, None);
                }
                frontier.pending[level as usize] = Some(h);
                start += len;
            }
        }
        frontier.size = start;
        let tail = leaf_hashes(db.reader(), start, size).await?;
        let mut ignored = Vec::new();
        for h in tail {
            frontier.push(h, &mut ignored);
        }
        if size > 0 {
            frontier.last_leaf = leaf_hashes(db.reader(), size - 1, size)
                .await?
                .pop()
                .ok_or_else(|| Error::Corrupt(format!("entry {} is missing", size - 1)))?;
        }
        sqlx::query(
            "INSERT INTO audit_keys (key_id, public_key, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&signer.key_id)
        .bind(signer.public().as_bytes().to_vec())
        .bind(clock.now_ms())
        .execute(db.reader())
        .await?;
        Ok(AuditLog {
            db,
            frontier: Arc::new(Mutex::new(frontier)),
            upper: Default::default(),
            signer,
            clock,
        })
    }

    pub fn signer(&self) -> &HeadSigner {
        &self.signer
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Appends events in one transaction; returns the sequence number of the
    /// first. Either all are appended or none.
    pub async fn append(&self, events: &[AuditEvent]) -> Result<u64, Error> {
        self.append_inner(None, events)
            .await
            .map(|r| r.unwrap_or(0))
    }

    /// Appends events that arrived as bus event `event_id`, recording it in
    /// the consumer's inbox in the same transaction: a redelivery appends
    /// nothing (and returns `None`).
    pub async fn append_delivered(
        &self,
        consumer: &str,
        event_id: &str,
        events: &[AuditEvent],
    ) -> Result<Option<u64>, Error> {
        self.append_inner(Some((consumer, event_id)), events).await
    }

    /// Appends the audit events of several bus events at once, each
    /// recorded in the consumer's inbox, in one transaction: those
    /// delivered before are skipped. Answers, per item, whether it was
    /// appended now.
    pub async fn append_delivered_batch(
        &self,
        consumer: &str,
        items: &[(&str, AuditEvent)],
    ) -> Result<Vec<bool>, Error> {
        let mut frontier = self.frontier.lock().await;
        let mut tx = self.db.begin().await?;
        let ids: Vec<&str> = items.iter().map(|(id, _)| *id).collect();
        let mut new_ids = self.record_deliveries(&mut tx, consumer, &ids).await?;
        let mut fresh = Vec::with_capacity(items.len());
        let mut appended = Vec::with_capacity(items.len());
        for (event_id, ev) in items {
            // `remove`: an event twice in one batch is appended once.
            let new = new_ids.remove(*event_id);
            if new {
                fresh.push(ev);
            }
            appended.push(new);
        }
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(appended);
        }
        let next = self.write(&mut tx, &frontier, &fresh).await?;
        tx.commit().await?;
        *frontier = next;
        Ok(appended)
    }

    async fn append_inner(
        &self,
        delivered: Option<(&str, &str)>,
        events: &[AuditEvent],
    ) -> Result<Option<u64>, Error> {
        let mut frontier = self.frontier.lock().await;
        let first = frontier.size;
        let mut tx = self.db.begin().await?;
        if let Some((consumer, event_id)) = delivered
            && self
                .record_deliveries(&mut tx, consumer, &[event_id])
                .await?
                .is_empty()
        {
            return Ok(None);
        }
        let events: Vec<&AuditEvent> = events.iter().collect();
        let next = self.write(&mut tx, &frontier, &events).await?;
        tx.commit().await?;
        *frontier = next;
        Ok(Some(first))
    }

    /// Records bus events `event_ids` in the consumer's inbox with one
    /// statement (per hundred): the ids not delivered before.
    async fn record_deliveries(
        &self,
        tx: &mut Tx,
        consumer: &str,
        event_ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, Error> {
        let now = self.clock.now_ms();
        let mut fresh = std::collections::HashSet::with_capacity(event_ids.len());
        for chunk in event_ids.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${}, $2)", i + 3))
                .collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO inbox (consumer, event_id, processed_at_ms) VALUES {}
                 ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
                rows.join(", ")
            )))
            .bind(consumer)
            .bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut **tx).await? {
                fresh.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(fresh)
    }

    /// Writes `events` after the tree `frontier` describes, in `tx`: the
    /// tree after them, to install once `tx` commits.
    async fn write(
        &self,
        tx: &mut Tx,
        frontier: &Frontier,
        events: &[&AuditEvent],
    ) -> Result<Frontier, Error> {
        let first = frontier.size;
        let mut next = frontier.clone();
        let mut completed = Vec::new();
        let mut rows = Vec::with_capacity(events.len());
        for ev in events {
            let entry = ev.canonical();
            let leaf = merkle::leaf_hash(&entry);
            let prev = next.last_leaf;
            next.push(leaf, &mut completed);
            rows.push((entry, leaf, prev, ev.at_ms));
        }
        // One writer: if another process appended, this one's view of the
        // tree is stale and appending would corrupt it. The first rows are
        // written only if the log ends where this process expects.
        if !insert_rows(tx, first, rows).await? {
            let max: Option<i64> = sqlx::query("SELECT MAX(seq) FROM audit_log")
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
            return Err(Error::Corrupt(format!(
                "the log holds {} entries but this process expected {first}: another process appended; \
                 run one audit writer per log",
                max.map(|m| m + 1).unwrap_or(0)
            )));
        }
        insert_nodes(tx, &completed).await?;
        Ok(next)
    }

    /// The current size and root.
    pub async fn head(&self) -> (u64, Hash) {
        let f = self.frontier.lock().await;
        (f.size, f.root())
    }

    /// Signs and stores the current tree head if the log grew since the
    /// last one. Returns the newest signed head.
    pub async fn sign_head(&self) -> Result<Option<TreeHead>, Error> {
        let (size, root) = self.head().await;
        let latest = self.latest_head().await?;
        if latest.as_ref().is_some_and(|h| h.size >= size) || size == 0 {
            return Ok(latest);
        }
        let head = self.signer.sign(size, &root, self.clock.now_ms());
        sqlx::query(
            "INSERT INTO audit_tree_heads (size, root, at_ms, key_id, signature) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(head.size as i64)
        .bind(head.root.to_vec())
        .bind(head.at_ms)
        .bind(&head.key_id)
        .bind(head.signature.clone())
        .execute(self.db.reader())
        .await?;
        Ok(Some(head))
    }

    pub async fn latest_head(&self) -> Result<Option<TreeHead>, Error> {
        let row = sqlx::query(
            "SELECT size, root, at_ms, key_id, signature FROM audit_tree_heads ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.db.reader())
        .await?;
        row.map(|r| head_from_row(&r)).transpose()
    }

    /// Every signed tree head, oldest first.
    pub async fn heads(&self) -> Result<Vec<TreeHead>, Error> {
        heads(self.db.reader()).await
    }

    /// The entry at `seq`.
    pub async fn entry(&self, seq: u64) -> Result<AuditEvent, Error> {
        let row = sqlx::query("SELECT entry FROM audit_log WHERE seq = $1")
            .bind(seq as i64)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(Error::NoSuchEntry(seq))?;
        let bytes: Vec<u8> = row.try_get(0)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("entry {seq}: {e}")))
    }

    /// Where the subject index has got to: entries from here on are not
    /// indexed yet.
    async fn indexed_up_to(&self) -> Result<u64, Error> {
        let row = sqlx::query("SELECT next_seq FROM audit_subjects_progress WHERE id = 1")
            .fetch_one(self.db.reader())
            .await?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }

    /// Indexes up to `batch` entries by subject, after the last indexed
    /// one, in one transaction and in subject order. Returns how many
    /// entries it looked at (0: the index has caught up).
    pub async fn index_subjects(&self, batch: u64) -> Result<u64, Error> {
        let from = self.indexed_up_to().await?;
        let rows = self.raw_entries(from, from + batch).await?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(0);
        };
        let mut subjects = Vec::new();
        for (seq, bytes) in &rows {
            let ev: AuditEvent = serde_json::from_slice(bytes)
                .map_err(|e| Error::Corrupt(format!("entry {seq}: {e}")))?;
            if let Some(s) = ev.subject.filter(|s| !s.is_empty()) {
                subjects.push((s, *seq));
            }
        }
        subjects.sort();
        let mut tx = self.db.begin().await?;
        insert_subjects(&mut tx, &subjects).await?;
        // Conditional on where it started: two indexers never both commit.
        let moved = sqlx::query(
            "UPDATE audit_subjects_progress SET next_seq = $1 WHERE id = 1 AND next_seq = $2",
        )
        .bind(last as i64 + 1)
        .bind(from as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(0);
        }
        self.db.commit(tx).await?;
        Ok(rows.len() as u64)
    }

    /// Keeps the subject index caught up until `shutdown`.
    pub async fn index_subjects_periodically(
        &self,
        every: std::time::Duration,
        mut shutdown: plaza_kernel::shutdown::Shutdown,
    ) {
        loop {
            match self.index_subjects(20_000).await {
                // More to do: go on at once.
                Ok(20_000) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %plaza_kernel::error::chain(&e), "indexing audit entries by subject failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => break,
            }
        }
    }

    /// Entries whose subject is one of `subjects`, newest first, before
    /// index `before` (all when `None`), at most `limit`. Entries the
    /// index has not reached yet are read directly, so the answer is
    /// complete.
    pub async fn entries_about(
        &self,
        subjects: &[String],
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, AuditEvent)>, Error> {
        let mut found = Vec::new();
        let indexed = self.indexed_up_to().await?;
        let end = before.unwrap_or(u64::MAX);
        if end > indexed {
            let (size, _) = self.head().await;
            let mut from = indexed;
            while from < end.min(size) {
                let to = (from + 5_000).min(end).min(size);
                for (seq, bytes) in self.raw_entries(from, to).await? {
                    let ev: AuditEvent = serde_json::from_slice(&bytes)
                        .map_err(|e| Error::Corrupt(format!("entry {seq}: {e}")))?;
                    if ev.subject.as_ref().is_some_and(|s| subjects.contains(s)) {
                        found.push((seq, ev));
                    }
                }
                from = to;
            }
        }
        for subject in subjects {
            let rows = sqlx::query(
                "SELECT l.seq, l.entry FROM audit_subjects s JOIN audit_log l ON l.seq = s.seq \
                 WHERE s.subject = $1 AND s.seq < $2 ORDER BY s.seq DESC LIMIT $3",
            )
            .bind(subject)
            .bind(before.map(|b| b as i64).unwrap_or(i64::MAX))
            .bind(limit as i64)
            .fetch_all(self.db.reader())
            .await?;
            for r in rows {
                let seq: i64 = r.try_get(0)?;
                let bytes: Vec<u8> = r.try_get(1)?;
                let ev: AuditEvent = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("entry {seq}: {e}")))?;
                found.push((seq as u64, ev));
            }
        }
        found.sort_by_key(|e| std::cmp::Reverse(e.0));
        found.dedup_by_key(|e| e.0);
        found.truncate(limit as usize);
        Ok(found)
    }

    /// The stored bytes of entries `first..last`, in order.
    pub async fn raw_entries(&self, first: u64, last: u64) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let rows = sqlx::query(
            "SELECT seq, entry FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(first as i64)
        .bind(last as i64)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)? as u64, r.try_get::<Vec<u8>, _>(1)?)))
            .collect()
    }

    /// The leaf hash recorded for entry `index`.
    pub async fn leaf_hash(&self, index: u64) -> Result<Hash, Error> {
        leaf_hashes(self.db.reader(), index, index + 1)
            .await?
            .pop()
            .ok_or(Error::NoSuchEntry(index))
    }

    /// Signs a new tree head every `every` while the log grows, until
    /// `shutdown`; signs a last one on the way out.
    pub async fn sign_periodically(
        &self,
        every: std::time::Duration,
        mut shutdown: plaza_kernel::shutdown::Shutdown,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => break,
            }
            if let Err(e) = self.sign_head().await {
                tracing::error!(error = %plaza_kernel::error::chain(&e), "signing an audit tree head failed");
            }
        }
        if let Err(e) = self.sign_head().await {
            tracing::error!(error = %plaza_kernel::error::chain(&e), "signing the last audit tree head failed");
        }
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let current = self.frontier.lock().await.size;
        if size > current || index >= size {
            return Err(Error::BadRange {
                what: "inclusion",
                a: index,
                b: size,
                size: current,
            });
        }
        self.hashes_of(&merkle::inclusion_ranges(index, size)).await
    }

    /// The consistency proof from the tree of `old` entries to that of `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, Error> {
        let current = self.frontier.lock().await.size;
        if old == 0 || old > new || new > current {
            return Err(Error::BadRange {
                what: "consistency",
                a: old,
                b: new,
                size: current,
            });
        }
        self.hashes_of(&merkle::consistency_ranges(old, new)).await
    }

    /// The root of the tree of the first `size` entries.
    pub async fn root_at(&self, size: u64) -> Result<Hash, Error> {
        Ok(self
            .hashes_of(&[(0, size)])
            .await?
            .pop()
            .unwrap_or_else(merkle::empty_root))
    }

    /// Hashes of leaf ranges, reading each perfect part once.
    async fn hashes_of(&self, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, Error> {
        let mut parts = Vec::new();
        for &(s, l) in ranges {
            merkle::perfect_parts(s, l, &mut parts);
        }
        let mut known: HashMap<Perfect, Hash> = HashMap::new();
        if let Ok(upper) = self.upper.read() {
            for p in parts.iter().filter(|p| p.level >= CACHED_LEVEL) {
                if let Some(h) = upper.get(p) {
                    known.insert(*p, *h);
                }
            }
        }
        let stored: Vec<Perfect> = parts
            .iter()
            .copied()
            .filter(|p| p.level >= STORED_LEVEL && !known.contains_key(p))
            .collect();
        for chunk in stored.chunks(64) {
            let cond = chunk
                .iter()
                .map(|p| format!("(level = {} AND idx = {})", p.level, p.index))
                .collect::<Vec<_>>()
                .join(" OR ");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT level, idx, hash FROM audit_nodes WHERE {cond}"
            )))
            .fetch_all(self.db.reader())
            .await?;
            for r in rows {
                let p = Perfect {
                    level: r.try_get::<i64, _>(0)? as u32,
                    index: r.try_get::<i64, _>(1)? as u64,
                };
                let h = to_hash(r.try_get(2)?)?;
                if p.level >= CACHED_LEVEL
                    && let Ok(mut upper) = self.upper.write()
                {
                    upper.insert(p, h);
                }
                known.insert(p, h);
            }
        }
        if let Some(missing) = stored.iter().find(|p| !known.contains_key(p)) {
            return Err(Error::Corrupt(format!(
                "stored node {missing:?} is missing"
            )));
        }
        let blocks: HashSet<u64> = parts
            .iter()
            .filter(|p| p.level < STORED_LEVEL)
            .map(|p| (p.index << p.level) / BLOCK)
            .collect();
        let mut leaves: HashMap<u64, Hash> = HashMap::new();
        for b in blocks {
            for (i, h) in leaf_hashes(self.db.reader(), b * BLOCK, (b + 1) * BLOCK)
                .await?
                .into_iter()
                .enumerate()
            {
                leaves.insert(b * BLOCK + i as u64, h);
            }
        }
        for p in parts.iter().filter(|p| p.level < STORED_LEVEL) {
            let start = p.index << p.level;
            let hs: Option<Vec<Hash>> = (start..start + (1 << p.level))
                .map(|i| leaves.get(&i).copied())
                .collect();
            let hs = hs.ok_or_else(|| Error::Corrupt(format!("leaves of {p:?} are missing")))?;
            known.insert(*p, merkle::root_of(&hs));
        }
        Ok(ranges
            .iter()
            .map(|&(s, l)| merkle::range_hash(s, l, &|p| known[&p]))
            .collect())
    }
}

type AnyQuery = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// Inserts `rows` into `into` (a table and its `cols` columns), a hundred
/// per statement; `bind` binds one row's values.
async fn insert_many<T: Sync>(
    tx: &mut Tx,
    into: &str,
    cols: usize,
    rows: &[T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery + Sync,
) -> Result<(), Error> {
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO {into} VALUES {}",
            param_rows(1, chunk.len(), &vec![None; cols])
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            q = bind(q, row);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Stores the tree nodes a batch completed, many per statement.
async fn insert_nodes(tx: &mut Tx, nodes: &[(Perfect, Hash)]) -> Result<(), Error> {
    insert_many(
        tx,
        "audit_nodes (level, idx, hash)",
        3,
        nodes,
        |q, (p, h)| q.bind(p.level as i64).bind(p.index as i64).bind(h.to_vec()),
    )
    .await
}

/// Indexes entries by subject, many rows per statement.
async fn insert_subjects(tx: &mut Tx, subjects: &[(String, u64)]) -> Result<(), Error> {
    insert_many(
        tx,
        "audit_subjects (subject, seq)",
        2,
        subjects,
        |q, (subject, seq)| q.bind(subject.as_str()).bind(*seq as i64),
    )
    .await
}

/// Writes `rows` from `first` on, the first of them only if the log ends
/// just before `first`: `false`, having written nothing, when it does not.
async fn insert_rows(
    tx: &mut Tx,
    first: u64,
    rows: Vec<(Vec<u8>, Hash, Hash, i64)>,
) -> Result<bool, Error> {
    let mut seq = first;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        // Modest statements: SQLite looks up every parameter by a linear
        // scan, so the cost of binding grows with the square of their number.
        let chunk: Vec<_> = rows.by_ref().take(50).collect();
        let guarded = seq == first;
        let mut sql = format!(
            "INSERT INTO audit_log (seq, entry, leaf_hash, prev_leaf_hash, at_ms) SELECT * FROM (VALUES {}) AS v",
            param_rows(1, chunk.len(), &[None; 5])
        );
        if guarded {
            sql.push_str(&format!(
                " WHERE (SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log) = ${}",
                5 * chunk.len() + 1
            ));
        }
        let n = chunk.len() as u64;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (entry, leaf, prev, at) in chunk {
            q = q
                .bind(seq as i64)
                .bind(entry)
                .bind(leaf.to_vec())
                .bind(prev.to_vec())
                .bind(at);
            seq += 1;
        }
        if guarded {
            q = q.bind(first as i64);
        }
        if q.execute(&mut **tx).await?.rows_affected() != n {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(crate) fn to_hash(bytes: Vec<u8>) -> Result<Hash, Error> {
    bytes
        .try_into()
        .map_err(|_| Error::Corrupt("a stored hash is not 32 bytes".into()))
}

async fn stored_node(pool: &plaza_kernel::db::Readers, p: Perfect) -> Result<Hash, Error> {
    let row = sqlx::query("SELECT hash FROM audit_nodes WHERE level = $1 AND idx = $2")
        .bind(p.level as i64)
        .bind(p.index as i64)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("stored node {p:?} is missing")))?;
    to_hash(row.try_get(0)?)
}

/// Stored leaf hashes of entries `[from, to)`, in order.
async fn leaf_hashes(
    pool: &plaza_kernel::db::Readers,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, Error> {
    let rows =
        sqlx::query("SELECT leaf_hash FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq")
            .bind(from as i64)
            .bind(to as i64)
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(|r| to_hash(r.try_get(0)?)).collect()
}

pub(crate) fn head_from_row(r: &sqlx::any::AnyRow) -> Result<TreeHead, Error> {
    Ok(TreeHead {
        size: r.try_get::<i64, _>(0)? as u64,
        root: to_hash(r.try_get(1)?)?,
        at_ms: r.try_get(2)?,
        key_id: r.try_get(3)?,
        signature: r.try_get(4)?,
    })
}

pub(crate) async fn heads(pool: &plaza_kernel::db::Readers) -> Result<Vec<TreeHead>, Error> {
    let rows = sqlx::query(
        "SELECT size, root, at_ms, key_id, signature FROM audit_tree_heads ORDER BY size",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(head_from_row).collect()
}
