//! One file per source: the records, their offsets, and a sorted index of
//! (blocking key, record ordinal) pairs with a sparse fence kept in memory.
//!
//! ```text
//! header (64 bytes)  magic "PLZSRC01", source number, record count,
//!                    and the offsets of the sections below
//! records            each record's compact encoding, back to back
//! offsets            (count + 1) u64: where each record starts, then the end
//! index              u64 entries, key << 32 | ordinal, sorted
//! fence              the key of every FENCE_STEP-th index entry (u32)
//! ```
//!
//! Opening a source reads its header and fence only (about 2 MB for ten
//! million records across the catalogue), so a server starts in
//! milliseconds and its resident memory stays small; lookups read the
//! index blocks and records they need with positioned reads, which the
//! page cache keeps warm. A lookup reads one or two index blocks per key
//! and one record per candidate, whatever the size of the source.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Error;
use super::catalogue::CATALOGUE;
use super::generate::{Shape, generate_record, planted};
use super::keys::{MatchedOn, assess, query_keys, record_keys};
use super::model::{SourceRecord, Subject, record_id};

const MAGIC: &[u8; 8] = b"PLZSRC01";
const HEADER: u64 = 64;
/// Index entries per fence post: one block is 1 KiB.
const FENCE_STEP: u64 = 128;
/// The most candidates one key may contribute (a pathological bucket).
const MAX_PER_KEY: usize = 4_096;
/// The most hits an answer carries.
pub const MAX_HITS: usize = 50;

pub fn file_name(source: usize) -> String {
    format!("{}.plzsrc", CATALOGUE[source].id)
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Writes source number `source` of `shape` under `dir`, adding to
/// `progress` as records are made.
pub fn write_source(
    dir: &Path,
    shape: &Shape,
    source: usize,
    progress: &AtomicU64,
) -> Result<u64, Error> {
    let path = dir.join(file_name(source));
    let tmp = path.with_extension("plzsrc.tmp");
    let file = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let werr = io(format!("writing {}", tmp.display()));
    let result = (|| -> std::io::Result<u64> {
        out.write_all(&[0u8; HEADER as usize])?;
        let count = shape.records_in(source);
        let plants = planted(source);
        let mut offsets: Vec<u64> = Vec::with_capacity(count as usize + 1);
        let mut entries: Vec<u64> = Vec::with_capacity(count as usize * 6);
        let mut pos = HEADER;
        let mut buf = Vec::with_capacity(256);
        let mut keys = Vec::with_capacity(16);
        for n in 0..count {
            let r = generate_record(shape, source, &plants, n);
            buf.clear();
            r.encode(&mut buf);
            out.write_all(&buf)?;
            offsets.push(pos);
            pos += buf.len() as u64;
            record_keys(&r.subject, &mut keys);
            entries.extend(keys.iter().map(|&k| (u64::from(k) << 32) | n));
            if n % 4_096 == 4_095 {
                progress.fetch_add(4_096, Ordering::Relaxed);
            }
        }
        progress.fetch_add(count % 4_096, Ordering::Relaxed);
        offsets.push(pos);
        let offsets_off = pos;
        for o in &offsets {
            out.write_all(&o.to_le_bytes())?;
        }
        drop(offsets);
        entries.sort_unstable();
        let index_off = offsets_off + (count + 1) * 8;
        for e in &entries {
            out.write_all(&e.to_le_bytes())?;
        }
        let fence_off = index_off + entries.len() as u64 * 8;
        for e in entries.iter().step_by(FENCE_STEP as usize) {
            out.write_all(&((e >> 32) as u32).to_le_bytes())?;
        }
        let mut header = Vec::with_capacity(HEADER as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(source as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        for v in [
            count,
            HEADER,
            offsets_off,
            index_off,
            entries.len() as u64,
            fence_off,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        out.flush()?;
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header)?;
        file.sync_all()?;
        Ok(count)
    })();
    let count = result.map_err(werr)?;
    std::fs::rename(&tmp, &path).map_err(io(format!("renaming {}", tmp.display())))?;
    Ok(count)
}

/// A hit: a record and how it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub record: SourceRecord,
    pub matched_on: MatchedOn,
}

/// An opened source file.
#[derive(Debug)]
pub struct SourceStore {
    pub source: usize,
    path: PathBuf,
    file: File,
    count: u64,
    offsets_off: u64,
    index_off: u64,
    entries: u64,
    fence: Vec<u32>,
}

impl SourceStore {
    pub fn open(dir: &Path, source: usize) -> Result<SourceStore, Error> {
        let path = dir.join(file_name(source));
        let file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
        let len = file
            .metadata()
            .map_err(io(format!("reading {}", path.display())))?
            .len();
        let corrupt = |detail: &str| Error::Corrupt {
            file: path.clone(),
            detail: detail.to_owned(),
        };
        let mut h = [0u8; HEADER as usize];
        file.read_exact_at(&mut h, 0)
            .map_err(|_| corrupt("shorter than its header"))?;
        if &h[..8] != MAGIC {
            return Err(corrupt("not a plaza-sim source file"));
        }
        let u64_at =
            |i: usize| u64::from_le_bytes(h[16 + i * 8..24 + i * 8].try_into().unwrap_or([0; 8]));
        let stored_source = u32::from_le_bytes(h[8..12].try_into().unwrap_or([0; 4]));
        if stored_source as usize != source {
            return Err(corrupt("holds another source"));
        }
        let (count, records_off, offsets_off, index_off, entries, fence_off) = (
            u64_at(0),
            u64_at(1),
            u64_at(2),
            u64_at(3),
            u64_at(4),
            u64_at(5),
        );
        let fence_len = entries.div_ceil(FENCE_STEP);
        let consistent = records_off == HEADER
            && offsets_off >= records_off
            && index_off == offsets_off + (count + 1) * 8
            && fence_off == index_off + entries * 8
            && len == fence_off + fence_len * 4;
        if !consistent {
            return Err(corrupt("its sections do not add up (a partial write?)"));
        }
        let mut raw = vec![0u8; fence_len as usize * 4];
        file.read_exact_at(&mut raw, fence_off)
            .map_err(io(format!("reading {}", path.display())))?;
        let fence = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(SourceStore {
            source,
            path,
            file,
            count,
            offsets_off,
            index_off,
            entries,
            fence,
        })
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the open store keeps in memory.
    pub fn resident_bytes(&self) -> usize {
        self.fence.len() * 4 + std::mem::size_of::<SourceStore>()
    }

    fn read_err(&self) -> impl FnOnce(std::io::Error) -> Error {
        io(format!("reading {}", self.path.display()))
    }

    /// Ordinals of the records indexed under `key`, appended to `out`.
    fn probe(&self, key: u32, out: &mut Vec<u32>) -> Result<(), Error> {
        let b = self.fence.partition_point(|&f| f < key) as u64;
        let mut block = b.saturating_sub(1);
        let mut buf = vec![0u8; (FENCE_STEP * 8) as usize];
        let mut taken = 0;
        loop {
            let first = block * FENCE_STEP;
            if first >= self.entries {
                return Ok(());
            }
            let n = (self.entries - first).min(FENCE_STEP) as usize;
            self.file
                .read_exact_at(&mut buf[..n * 8], self.index_off + first * 8)
                .map_err(self.read_err())?;
            for c in buf[..n * 8].chunks_exact(8) {
                let e = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                let k = (e >> 32) as u32;
                if k > key {
                    return Ok(());
                }
                if k == key {
                    out.push(e as u32);
                    taken += 1;
                    if taken >= MAX_PER_KEY {
                        return Ok(());
                    }
                }
            }
            block += 1;
        }
    }

    /// Record number `n`.
    pub fn get(&self, n: u64) -> Result<SourceRecord, Error> {
        if n >= self.count {
            return Err(Error::Corrupt {
                file: self.path.clone(),
                detail: format!("record {n} of {} asked for", self.count),
            });
        }
        let mut o = [0u8; 16];
        self.file
            .read_exact_at(&mut o, self.offsets_off + n * 8)
            .map_err(self.read_err())?;
        let start = u64::from_le_bytes(o[..8].try_into().unwrap_or([0; 8]));
        let end = u64::from_le_bytes(o[8..].try_into().unwrap_or([0; 8]));
        if end < start || end - start > 1 << 16 || end > self.offsets_off {
            return Err(Error::Corrupt {
                file: self.path.clone(),
                detail: format!("record {n} has impossible offsets"),
            });
        }
        let mut bytes = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut bytes, start)
            .map_err(self.read_err())?;
        SourceRecord::decode(record_id(CATALOGUE[self.source].id, n), &bytes).map_err(|_| {
            Error::Corrupt {
                file: self.path.clone(),
                detail: format!("record {n} does not decode"),
            }
        })
    }

    /// The records this source would answer to `query`, best first, at
    /// most [`MAX_HITS`].
    pub fn search(&self, query: &Subject) -> Result<Vec<Hit>, Error> {
        let mut candidates = Vec::new();
        for key in query_keys(query) {
            self.probe(key, &mut candidates)?;
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut hits = Vec::new();
        for n in candidates {
            let record = self.get(u64::from(n))?;
            if let Some(matched_on) = assess(query, &record.subject) {
                hits.push(Hit { record, matched_on });
            }
        }
        hits.sort_by(|a, b| {
            a.matched_on
                .cmp(&b.matched_on)
                .then_with(|| a.record.record_id.cmp(&b.record.record_id))
        });
        hits.truncate(MAX_HITS);
        Ok(hits)
    }
}
