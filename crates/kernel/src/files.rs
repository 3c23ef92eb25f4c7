//! Files that hold secrets (signing keys, keyrings).

use std::io::Write;
use std::path::Path;

/// Creates `path` with `text`, readable and writable by the owner only, and
/// syncs it to disk. Fails if the file already exists: a key is never
/// silently replaced.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    #[test]
    fn private_files_are_owner_only_and_never_overwritten() {
        let dir = crate::testing::temp_dir("files");
        let p = dir.join("secret");
        super::write_private(&p, "one").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        assert!(
            super::write_private(&p, "two").is_err(),
            "an existing key is not replaced"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
