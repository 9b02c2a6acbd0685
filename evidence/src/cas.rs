//! Content-addressed storage of material blobs, named by their SHA-256.
//!
//! ```text
//! <dir>/sha256/9f/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! The server computes the digest of what it receives and stores the blob
//! only if it equals the name the client gave: a client cannot make a name
//! point at other bytes. A blob is written to a temporary file, synced, and
//! renamed into place, so a reader never sees half a blob.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Largest blob stored.
pub const MAX_BLOB_SIZE: usize = 64 * 1024 * 1024;

/// CAS errors.
#[derive(Debug, Error)]
pub enum CasError {
    /// The name is not 64 lowercase hex characters.
    #[error("{0:?} is not a sha256 digest (64 lowercase hex characters)")]
    BadDigest(String),
    /// The content does not hash to its name.
    #[error("content has sha256 {actual}, not {claimed}")]
    Mismatch {
        /// The name the client gave.
        claimed: String,
        /// The digest of what it sent.
        actual: String,
    },
    /// The blob exceeds [`MAX_BLOB_SIZE`].
    #[error("blob of {0} bytes exceeds the limit of {MAX_BLOB_SIZE}")]
    TooLarge(usize),
    /// The file system failed.
    #[error("CAS storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `digest` is a sha256 hex digest.
pub fn is_sha256_hex(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The SHA-256 of `bytes` as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory of blobs.
#[derive(Debug, Clone)]
pub struct Cas {
    dir: PathBuf,
}

impl Cas {
    /// A store under `dir` (created on first write).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, digest: &str) -> Result<PathBuf, CasError> {
        if !is_sha256_hex(digest) {
            return Err(CasError::BadDigest(digest.to_string()));
        }
        Ok(self.dir.join("sha256").join(&digest[..2]).join(digest))
    }

    /// Stores `blob` as `digest` if it hashes to it. Returns `false` if it
    /// was already there.
    ///
    /// # Errors
    ///
    /// [`CasError::Mismatch`] (nothing stored), size and I/O errors.
    pub fn put(&self, digest: &str, blob: &[u8]) -> Result<bool, CasError> {
        let path = self.path(digest)?;
        if blob.len() > MAX_BLOB_SIZE {
            return Err(CasError::TooLarge(blob.len()));
        }
        let actual = sha256_hex(blob);
        if actual != digest {
            return Err(CasError::Mismatch {
                claimed: digest.to_string(),
                actual,
            });
        }
        if path.exists() {
            return Ok(false);
        }
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".{digest}.{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(blob)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(parent)?.sync_all()?;
        Ok(true)
    }

    /// The blob named `digest`, if stored.
    ///
    /// # Errors
    ///
    /// [`CasError::BadDigest`] and I/O errors.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, CasError> {
        match std::fs::read(self.path(digest)?) {
            Ok(blob) => Ok(Some(blob)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Cas {
    /// Copies every blob into the CAS directory `to` (hard links where
    /// possible: blobs never change); returns how many.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn copy_to(&self, to: &Path) -> Result<u64, CasError> {
        let mut copied = 0;
        let root = self.dir.join("sha256");
        let Ok(shards) = std::fs::read_dir(&root) else {
            return Ok(0);
        };
        for shard in shards {
            let shard = shard?;
            for blob in std::fs::read_dir(shard.path())? {
                let blob = blob?;
                let name = blob.file_name();
                let Some(digest) = name.to_str().filter(|n| is_sha256_hex(n)) else {
                    continue; // a temporary file of a write in flight
                };
                let target = to.join("sha256").join(&digest[..2]);
                std::fs::create_dir_all(&target)?;
                let target = target.join(digest);
                if std::fs::hard_link(blob.path(), &target).is_err() {
                    std::fs::copy(blob.path(), &target)?;
                }
                copied += 1;
            }
        }
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_what_hashes_to_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        let digest = sha256_hex(b"hello");
        assert!(matches!(
            cas.put(&sha256_hex(b"other"), b"hello"),
            Err(CasError::Mismatch { .. })
        ));
        assert_eq!(cas.get(&sha256_hex(b"other")).ok(), Some(None));
        assert!(cas.put(&digest, b"hello").expect("stored"));
        assert!(!cas.put(&digest, b"hello").expect("idempotent"));
        assert_eq!(cas.get(&digest).ok(), Some(Some(b"hello".to_vec())));
        assert!(matches!(
            cas.get("../../etc/passwd"),
            Err(CasError::BadDigest(_))
        ));
    }
}
