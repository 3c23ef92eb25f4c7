//! Keys: key-encryption keys (KEKs) that wrap each record's data key, and
//! the key of the blind index. They come from a key manager; the built-in
//! one is a keyring file outside the database, and an agency plugs in its
//! own (an HSM, a cloud KMS) by implementing [`KeyManager`].

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Error;

/// A 256-bit key with its id.
#[derive(Clone)]
pub struct Key {
    pub id: String,
    pub bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, ***)", self.id)
    }
}

/// Where the vault's keys come from.
pub trait KeyManager: Send + Sync {
    /// The KEK new data keys are wrapped with.
    fn current_kek(&self) -> Result<Key, Error>;
    /// A KEK by id, current or retired-but-still-in-use.
    fn kek(&self, id: &str) -> Result<Key, Error>;
    /// The key of the blind index. It never rotates: changing it would
    /// change every blind index (that is a re-index, not a rotation).
    fn index_key(&self) -> Result<Key, Error>;
}

/// A keyring file: one key a line, `kek <id> <64 hex>` or `index <64 hex>`;
/// the last `kek` line is the current one. Created (owner-only) with fresh
/// keys when missing. A running process notices a rotation made by another
/// (the file's modification time changes) and reloads it.
#[derive(Debug)]
pub struct FileKeyring {
    path: PathBuf,
    state: std::sync::RwLock<Ring>,
}

#[derive(Debug, Clone)]
struct Ring {
    modified: Option<std::time::SystemTime>,
    keks: Vec<Key>,
    index: Key,
}

fn new_kek_id() -> String {
    let n: u64 = rand::random();
    format!("kek-{}-{:08x}", plaza_kernel::clock::now_ms(), n as u32)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl FileKeyring {
    pub fn load_or_create(path: &Path) -> Result<FileKeyring, Error> {
        if !path.exists() {
            let text = format!(
                "# Plaza vault keyring: keep it secret, keep it backed up, keep it out of the database.\n\
                 index {}\nkek {} {}\n",
                plaza_kernel::hex::encode(&rand::random::<[u8; 32]>()),
                new_kek_id(),
                plaza_kernel::hex::encode(&rand::random::<[u8; 32]>())
            );
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Keys(format!("{}: {e}", dir.display())))?;
            }
            write_private(path, &text)?;
        }
        let ring = Self::read(path)?;
        Ok(FileKeyring {
            path: path.to_path_buf(),
            state: std::sync::RwLock::new(ring),
        })
    }

    fn read(path: &Path) -> Result<Ring, Error> {
        let modified = modified(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Keys(format!("{}: {e}", path.display())))?;
        let mut keks = Vec::new();
        let mut index = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                Error::Keys(format!(
                    "{}:{}: expected `kek <id> <64 hex>` or `index <64 hex>`",
                    path.display(),
                    n + 1
                ))
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["kek", id, key] => keks.push(Key {
                    id: id.to_string(),
                    bytes: Zeroizing::new(plaza_kernel::hex::decode32(key).ok_or_else(bad)?),
                }),
                ["index", key] => {
                    index = Some(Key {
                        id: "index".into(),
                        bytes: Zeroizing::new(plaza_kernel::hex::decode32(key).ok_or_else(bad)?),
                    })
                }
                _ => return Err(bad()),
            }
        }
        let index =
            index.ok_or_else(|| Error::Keys(format!("{} has no `index` key", path.display())))?;
        if keks.is_empty() {
            return Err(Error::Keys(format!("{} has no `kek` key", path.display())));
        }
        Ok(Ring {
            modified,
            keks,
            index,
        })
    }

    /// Reloads the file if another process changed it.
    fn refresh(&self) -> Result<(), Error> {
        let now = modified(&self.path);
        let stale = self.state.read().map(|r| r.modified != now).unwrap_or(true);
        if stale {
            let ring = Self::read(&self.path)?;
            if let Ok(mut s) = self.state.write() {
                *s = ring;
            }
        }
        Ok(())
    }

    fn ring(&self) -> Result<Ring, Error> {
        self.state
            .read()
            .map(|r| r.clone())
            .map_err(|_| Error::Keys("keyring lock poisoned".into()))
    }

    /// Adds a new current KEK to the file and returns its id. Existing keys
    /// stay: data keys wrapped by them still need them until re-wrapped.
    pub fn add_kek(&self) -> Result<String, Error> {
        // Two rotations at once must not each drop the other's key.
        let lock_path = self.path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::Keys(format!("{}: {e}", lock_path.display())))?;
        lock.lock()
            .map_err(|e| Error::Keys(format!("locking {}: {e}", lock_path.display())))?;
        let id = new_kek_id();
        let mut text = std::fs::read_to_string(&self.path)
            .map_err(|e| Error::Keys(format!("{}: {e}", self.path.display())))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "kek {} {}\n",
            id,
            plaza_kernel::hex::encode(&rand::random::<[u8; 32]>())
        ));
        let tmp = self.path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &text)?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| Error::Keys(format!("{}: {e}", self.path.display())))?;
        // The rename is durable only once the folder is synced.
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        let ring = Self::read(&self.path)?;
        if !ring.keks.iter().any(|k| k.id == id) {
            return Err(Error::Keys(format!(
                "{} does not hold the new key after writing it",
                self.path.display()
            )));
        }

        if let Ok(mut s) = self.state.write() {
            *s = ring;
        }
        Ok(id)
    }

    pub fn kek_ids(&self) -> Vec<String> {
        self.ring()
            .map(|r| r.keks.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default()
    }
}

impl KeyManager for FileKeyring {
    fn current_kek(&self) -> Result<Key, Error> {
        self.refresh()?;
        self.ring()?
            .keks
            .last()
            .cloned()
            .ok_or_else(|| Error::Keys("no key-encryption key".into()))
    }
    fn kek(&self, id: &str) -> Result<Key, Error> {
        if let Some(k) = self.ring()?.keks.iter().find(|k| k.id == id) {
            return Ok(k.clone());
        }
        // Unknown here: another process may have rotated within the same
        // timestamp tick, so read the file whatever its modification time.
        let ring = Self::read(&self.path)?;
        if let Ok(mut s) = self.state.write() {
            *s = ring;
        }
        self.ring()?
            .keks
            .iter()
            .find(|k| k.id == id)
            .cloned()
            .ok_or_else(|| Error::Keys(format!("key-encryption key {id} is not in the keyring")))
    }
    fn index_key(&self) -> Result<Key, Error> {
        Ok(self.ring()?.index)
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    plaza_kernel::files::write_private(path, text)
        .map_err(|e| Error::Keys(format!("{}: {e}", path.display())))
}
