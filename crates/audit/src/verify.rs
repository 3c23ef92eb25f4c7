//! `plaza audit verify`: recomputes the whole tree from the stored entries
//! and checks it against everything recorded about it — each entry's leaf
//! hash, each stored subtree, each signed tree head and its signature — and
//! says where it differs.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use sqlx::Row;

use crate::error::Error;
use crate::log::{Frontier, key_id, to_hash};
use crate::merkle::{self, Hash, Perfect};

/// Something verification found wrong, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Entries `from..=to` are not there: deleted.
    Missing { from: u64, to: u64 },
    /// The entry's content no longer hashes to the leaf hash recorded with it.
    Edited { seq: u64 },
    /// The entry does not follow the one recorded before it: rows were
    /// reordered, removed or inserted here.
    OutOfOrder { seq: u64 },
    /// The stored subtree over entries `first..=last` is gone.
    SubtreeMissing { first: u64, last: u64 },
    /// The stored subtree over entries `first..=last` differs from the one
    /// recomputed: something in that range changed, hashes and all.
    SubtreeMismatch { first: u64, last: u64 },
    /// The signed tree head of this size does not match the entries.
    HeadMismatch { size: u64 },
    /// A signed tree head covers more entries than the log holds.
    HeadBeyondLog { size: u64, entries: u64 },
    /// A tree head's signature is not valid for a trusted key.
    BadSignature { size: u64, key_id: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Missing { from, to } if from == to => {
                write!(f, "entry {from} is missing (deleted)")
            }
            Finding::Missing { from, to } => {
                write!(f, "entries {from} to {to} are missing (deleted)")
            }
            Finding::Edited { seq } => write!(
                f,
                "entry {seq} was edited: its content does not match its recorded hash"
            ),
            Finding::OutOfOrder { seq } => write!(
                f,
                "entry {seq} does not follow the entry recorded before it: rows were reordered, removed or inserted"
            ),
            Finding::SubtreeMissing { first, last } => {
                write!(
                    f,
                    "the stored subtree over entries {first} to {last} was deleted"
                )
            }
            Finding::SubtreeMismatch { first, last } => {
                write!(
                    f,
                    "entries {first} to {last} differ from the recorded subtree hash: altered together with their hashes"
                )
            }
            Finding::HeadMismatch { size } => write!(
                f,
                "the signed tree head at size {size} does not match the entries"
            ),
            Finding::HeadBeyondLog { size, entries } => {
                write!(
                    f,
                    "a signed tree head covers {size} entries but the log holds {entries}: entries were removed"
                )
            }
            Finding::BadSignature { size, key_id } => {
                write!(
                    f,
                    "the tree head at size {size} is not validly signed by a trusted key (key id {key_id})"
                )
            }
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub heads_checked: u64,
    pub root: Option<Hash>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies the log in `pool` against the `trusted` signing keys. `progress`
/// is told (entries checked, entries in all) as it goes.
pub async fn verify(
    pool: &plaza_kernel::db::Readers,
    trusted: &[VerifyingKey],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Report, Error> {
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let total = total as u64;
    let keys: HashMap<String, VerifyingKey> = trusted.iter().map(|k| (key_id(k), *k)).collect();
    let heads = crate::log::heads(pool).await?;
    let mut stored: HashMap<Perfect, Hash> = HashMap::new();
    for r in sqlx::query("SELECT level, idx, hash FROM audit_nodes")
        .fetch_all(pool)
        .await?
    {
        let p = Perfect {
            level: r.try_get::<i64, _>(0)? as u32,
            index: r.try_get::<i64, _>(1)? as u64,
        };
        stored.insert(p, to_hash(r.try_get(2)?)?);
    }

    let mut report = Report {
        entries: 0,
        ..Report::default()
    };
    for h in &heads {
        let ok = keys.get(&h.key_id).is_some_and(|k| h.verify_signature(k));
        if !ok {
            report.findings.push(Finding::BadSignature {
                size: h.size,
                key_id: h.key_id.clone(),
            });
        }
    }
    let mut next_head = heads.iter().peekable();
    let mut tree = Frontier::default();
    let mut completed = Vec::new();
    let mut expected_seq = 0u64;
    let mut last_recorded: Hash = [0; 32];
    let mut altered: std::collections::HashSet<Perfect> = std::collections::HashSet::new();
    let mut after: i64 = -1;
    loop {
        let rows = sqlx::query(
            "SELECT seq, entry, leaf_hash, prev_leaf_hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 20000",
        )
            .bind(after)
            .fetch_all(pool)
            .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let seq = r.try_get::<i64, _>(0)? as u64;
            after = seq as i64;
            if seq != expected_seq {
                report.findings.push(Finding::Missing {
                    from: expected_seq,
                    to: seq - 1,
                });
            }
            expected_seq = seq + 1;
            let entry: Vec<u8> = r.try_get(1)?;
            let recorded = to_hash(r.try_get(2)?)?;
            let prev = to_hash(r.try_get(3)?)?;
            let leaf = merkle::leaf_hash(&entry);
            if leaf != recorded {
                report.findings.push(Finding::Edited { seq });
            }
            // Each row repeats its predecessor's leaf hash.
            if prev != last_recorded {
                report.findings.push(Finding::OutOfOrder { seq });
            }
            last_recorded = recorded;
            // Push the recomputed leaf onto the recomputed tree; compare each
            // stored subtree it completes (children come before parents).
            tree.push(leaf, &mut completed);
            for (p, h) in completed.drain(..) {
                let first = p.index << p.level;
                let last = first + (1 << p.level) - 1;
                match stored.get(&p) {
                    None => report
                        .findings
                        .push(Finding::SubtreeMissing { first, last }),
                    Some(s) if *s != h => {
                        // Report the smallest altered range only: a parent of
                        // an altered subtree differs too.
                        let children = [
                            Perfect {
                                level: p.level - 1,
                                index: 2 * p.index,
                            },
                            Perfect {
                                level: p.level - 1,
                                index: 2 * p.index + 1,
                            },
                        ];
                        if !children.iter().any(|c| altered.contains(c)) {
                            report
                                .findings
                                .push(Finding::SubtreeMismatch { first, last });
                        }
                        altered.insert(p);
                    }
                    Some(_) => {}
                }
            }
            let size = tree.size();
            while let Some(head) = next_head.peek() {
                if head.size > size {
                    break;
                }
                if head.size == size {
                    report.heads_checked += 1;
                    if tree.root() != head.root {
                        report
                            .findings
                            .push(Finding::HeadMismatch { size: head.size });
                    }
                }
                next_head.next();
            }
        }
        progress(tree.size(), total);
    }
    for head in next_head {
        report.findings.push(Finding::HeadBeyondLog {
            size: head.size,
            entries: tree.size(),
        });
    }
    report.entries = tree.size();
    report.root = Some(tree.root());
    Ok(report)
}
