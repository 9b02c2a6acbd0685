//! Content-addressed storage of material blobs, named by their SHA-256.
//!
//! ```text
//! <dir>/sha256/9f/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! <dir>/sha256/9f/.upload-Xa81kq      an upload in flight (or one a crash cut short)
//! ```
//!
//! Invariants, and the code that keeps them:
//!
//! - **A name points only at bytes that hash to it.** An upload streams
//!   through a [`BlobWriter`], which hashes what it writes;
//!   [`BlobWriter::commit`] compares the digest with the name before
//!   anything becomes visible under the name, and a mismatch leaves nothing
//!   behind.
//! - **A reader never sees part of a blob.** Every upload writes its own
//!   temporary file (a unique name in the blob's shard directory, so the
//!   rename stays within one file system); it is synced, then given its
//!   name by an atomic no-clobber rename (`renameat2(RENAME_NOREPLACE)`, or
//!   link and unlink where that is missing). A named file is never opened
//!   for writing, so concurrent uploads of one blob cannot truncate each
//!   other: the first rename wins, the others find an intact copy and
//!   discard theirs.
//! - **Durable once acknowledged.** The file is fsynced before the rename;
//!   the shard directory, `sha256/` and the CAS root after it, so neither
//!   the name nor a directory created on the way is lost by a power cut.
//! - **Damage is never served.** A blob can still rot on disk or be
//!   overwritten by hand. [`Cas::open`] (used to serve downloads) and
//!   [`Cas::get`] hash the whole file before they hand it out and answer
//!   [`CasError::Corrupt`] when it no longer matches its name. We verify
//!   before serving rather than while streaming: checking while streaming
//!   would find the damage only after the damaged bytes had left, with no
//!   way left to tell the client but a broken body; verifying first costs
//!   one more sequential read at disk speed (bounded by [`MAX_BLOB_SIZE`],
//!   and the second read of a blob just hashed comes from the page cache).
//!   The file handed out is the one verified, and no code writes into a
//!   named file, so what is served is what was checked. The next upload of
//!   the right bytes finds the damaged copy and replaces it atomically
//!   ([`Stored::Repaired`]).
//!
//! A crash during an upload can leave a `.upload-*` file behind; it is
//! never mistaken for a blob (its name is not a digest) and may be removed
//! at any time.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use thiserror::Error;

/// Largest blob stored.
pub const MAX_BLOB_SIZE: usize = 64 * 1024 * 1024;

/// Size of the buffer files are hashed and copied through: what one upload
/// or download holds in memory at a time.
pub const IO_CHUNK: usize = 256 * 1024;

/// Prefix of the temporary file of an upload in flight.
const UPLOAD_PREFIX: &str = ".upload-";

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
    /// The blob exceeds [`MAX_BLOB_SIZE`]; the number is how much had
    /// arrived when that was clear (the announced size, or the limit plus
    /// one).
    #[error("blob of at least {0} bytes exceeds the limit of {MAX_BLOB_SIZE} bytes")]
    TooLarge(u64),
    /// The stored copy no longer hashes to its name (damaged on disk); it
    /// is not served, and the next upload of the right bytes replaces it.
    #[error(
        "the stored copy of sha256:{digest} is damaged ({actual}); upload the blob again to repair it"
    )]
    Corrupt {
        /// The blob's name.
        digest: String,
        /// What the stored bytes hash to, or why they cannot match.
        actual: String,
    },
    /// Reading the upload failed (the client's body broke off).
    #[error("reading the upload: {0}")]
    Upload(std::io::Error),
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

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The blob is new.
    Created,
    /// An intact copy was already there; the upload was discarded.
    Existed,
    /// A damaged copy was there and has been replaced.
    Repaired,
}

impl Stored {
    /// Whether a file was written under the name (created or repaired).
    pub fn wrote(self) -> bool {
        self != Stored::Existed
    }
}

/// A stored blob whose bytes have just been checked against its name.
#[derive(Debug)]
pub struct VerifiedBlob {
    /// The verified file, positioned at its start.
    pub file: File,
    /// Its length in bytes, as verified: serve exactly this many.
    pub len: u64,
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

    /// Starts an upload of the blob named `digest`: a temporary file in its
    /// shard directory. Nothing is visible under the name before
    /// [`BlobWriter::commit`]; dropping the writer removes the temporary file.
    ///
    /// # Errors
    ///
    /// [`CasError::BadDigest`] and I/O errors.
    pub fn writer(&self, digest: &str) -> Result<BlobWriter, CasError> {
        let path = self.path(digest)?;
        let shard = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&shard)?;
        let file = tempfile::Builder::new()
            .prefix(UPLOAD_PREFIX)
            .tempfile_in(&shard)?;
        Ok(BlobWriter {
            digest: digest.to_string(),
            path,
            shard,
            root: self.dir.clone(),
            file,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// Stores what `upload` yields as `digest`, streaming (at most
    /// [`IO_CHUNK`] bytes in memory) and refusing it once it exceeds
    /// [`MAX_BLOB_SIZE`].
    ///
    /// # Errors
    ///
    /// [`CasError::Mismatch`] (nothing stored), [`CasError::TooLarge`],
    /// [`CasError::Upload`] when `upload` fails, and I/O errors.
    pub fn put_reader(&self, digest: &str, mut upload: impl Read) -> Result<Stored, CasError> {
        let mut writer = self.writer(digest)?;
        let mut buf = vec![0u8; IO_CHUNK];
        loop {
            let n = match upload.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CasError::Upload(e)),
            };
            writer.write(&buf[..n])?;
        }
        writer.commit()
    }

    /// Stores `blob` as `digest` if it hashes to it. Returns `false` if an
    /// intact copy was already there.
    ///
    /// # Errors
    ///
    /// [`CasError::Mismatch`] (nothing stored), size and I/O errors.
    pub fn put(&self, digest: &str, blob: &[u8]) -> Result<bool, CasError> {
        if blob.len() > MAX_BLOB_SIZE {
            return Err(CasError::TooLarge(blob.len() as u64));
        }
        Ok(self.put_reader(digest, blob)?.wrote())
    }

    /// The blob named `digest`, verified and ready to stream, if stored.
    ///
    /// # Errors
    ///
    /// [`CasError::Corrupt`] when the stored bytes no longer hash to the
    /// name, [`CasError::BadDigest`] and I/O errors.
    pub fn open(&self, digest: &str) -> Result<Option<VerifiedBlob>, CasError> {
        let mut file = match File::open(self.path(digest)?) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = verify(digest, &mut file)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Some(VerifiedBlob { file, len }))
    }

    /// The blob named `digest`, verified, in memory, if stored.
    ///
    /// # Errors
    ///
    /// [`CasError::Corrupt`] when the stored bytes no longer hash to the
    /// name, [`CasError::BadDigest`] and I/O errors.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, CasError> {
        let blob = match std::fs::read(self.path(digest)?) {
            Ok(blob) => blob,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let actual = sha256_hex(&blob);
        if actual != digest {
            return Err(CasError::Corrupt {
                digest: digest.to_string(),
                actual: format!("it hashes to {actual}"),
            });
        }
        Ok(Some(blob))
    }
}

/// Hashes `file` from where it stands, in [`IO_CHUNK`] pieces, and checks
/// it against `digest`; returns its length. A file longer than
/// [`MAX_BLOB_SIZE`] cannot be a blob: it is refused without reading it all.
fn verify(digest: &str, file: &mut File) -> Result<u64, CasError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; IO_CHUNK];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        len += n as u64;
        if len > MAX_BLOB_SIZE as u64 {
            return Err(CasError::Corrupt {
                digest: digest.to_string(),
                actual: format!("it is longer than the limit of {MAX_BLOB_SIZE} bytes"),
            });
        }
        hasher.update(&buf[..n]);
    }
    let actual = hex::encode(hasher.finalize());
    if actual != digest {
        return Err(CasError::Corrupt {
            digest: digest.to_string(),
            actual: format!("it hashes to {actual}"),
        });
    }
    Ok(len)
}

/// fsyncs a directory, so the entries created in it survive a power cut.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An upload in flight: a temporary file and the running hash of what was
/// written to it. Created by [`Cas::writer`]; dropped without
/// [`BlobWriter::commit`], it leaves nothing behind.
#[derive(Debug)]
pub struct BlobWriter {
    digest: String,
    /// The blob's final path.
    path: PathBuf,
    shard: PathBuf,
    root: PathBuf,
    file: NamedTempFile,
    hasher: Sha256,
    len: u64,
}

impl BlobWriter {
    /// Appends `chunk`.
    ///
    /// # Errors
    ///
    /// [`CasError::TooLarge`] once the upload exceeds [`MAX_BLOB_SIZE`]
    /// (nothing of it is kept), and I/O errors.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), CasError> {
        let len = self.len + chunk.len() as u64;
        if len > MAX_BLOB_SIZE as u64 {
            return Err(CasError::TooLarge(len));
        }
        self.hasher.update(chunk);
        self.file.as_file_mut().write_all(chunk)?;
        self.len = len;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks the upload against its name and, if it matches, makes it the
    /// blob: fsync, no-clobber rename, fsync of the directory chain. An
    /// intact copy already there wins (the upload is discarded); a damaged
    /// one is replaced atomically.
    ///
    /// # Errors
    ///
    /// [`CasError::Mismatch`] (nothing stored) and I/O errors.
    pub fn commit(self) -> Result<Stored, CasError> {
        let Self {
            digest,
            path,
            shard,
            root,
            file,
            hasher,
            len: _,
        } = self;
        let actual = hex::encode(hasher.finalize());
        if actual != digest {
            return Err(CasError::Mismatch {
                claimed: digest,
                actual,
            });
        }
        // Durable content before a name points at it.
        file.as_file().sync_all()?;
        let stored = match file.persist_noclobber(&path) {
            Ok(_) => Stored::Created,
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                let existing = File::open(&path).map_err(CasError::from).and_then(|mut f| {
                    verify(&digest, &mut f)?;
                    Ok(())
                });
                match existing {
                    // Someone else's upload (or an earlier one) won; ours
                    // is dropped, which removes its temporary file.
                    Ok(()) => return Ok(Stored::Existed),
                    // Damaged, or gone since the rename failed: replace
                    // the name atomically with our verified copy.
                    Err(CasError::Corrupt { actual, .. }) => {
                        tracing::warn!(%digest, %actual, "repairing a damaged CAS blob");
                        e.file.persist(&path).map_err(|e| e.error)?;
                        Stored::Repaired
                    }
                    Err(CasError::Io(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                        e.file.persist(&path).map_err(|e| e.error)?;
                        Stored::Created
                    }
                    Err(other) => return Err(other),
                }
            }
            Err(e) => return Err(e.error.into()),
        };
        // The name, and every directory on the way to it, survive a power
        // cut: the shard and `sha256/` may have been created by this upload.
        sync_dir(&shard)?;
        if let Some(sha256) = shard.parent() {
            sync_dir(sha256)?;
        }
        sync_dir(&root)?;
        Ok(stored)
    }
}

impl Cas {
    /// Copies every blob into the CAS directory `to` (hard links where
    /// possible: a named blob file is never written again, a repair
    /// replaces it with a new file); returns how many.
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};

    /// A blob of `len` bytes that differs with `seed`.
    fn blob(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// The names in the shard directory of `digest`.
    fn shard_entries(dir: &Path, digest: &str) -> Vec<String> {
        let shard = dir.join("sha256").join(&digest[..2]);
        let Ok(entries) = std::fs::read_dir(shard) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn stores_only_what_hashes_to_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        let digest = sha256_hex(b"hello");
        let other = sha256_hex(b"other");
        assert!(matches!(
            cas.put(&other, b"hello"),
            Err(CasError::Mismatch { .. })
        ));
        assert_eq!(cas.get(&other).ok(), Some(None));
        assert!(shard_entries(dir.path(), &other).is_empty(), "no leftovers");
        assert!(cas.put(&digest, b"hello").expect("stored"));
        assert!(!cas.put(&digest, b"hello").expect("idempotent"));
        assert_eq!(cas.get(&digest).ok(), Some(Some(b"hello".to_vec())));
        assert_eq!(shard_entries(dir.path(), &digest), vec![digest.clone()]);
        assert!(matches!(
            cas.get("../../etc/passwd"),
            Err(CasError::BadDigest(_))
        ));
        assert!(matches!(
            cas.writer("../../etc/passwd"),
            Err(CasError::BadDigest(_))
        ));
    }

    #[test]
    fn an_upload_over_the_limit_is_refused_while_streaming_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        let digest = sha256_hex(b"whatever");
        let endless = std::io::repeat(0).take(MAX_BLOB_SIZE as u64 + 1);
        assert!(matches!(
            cas.put_reader(&digest, endless),
            Err(CasError::TooLarge(n)) if n > MAX_BLOB_SIZE as u64
        ));
        assert!(shard_entries(dir.path(), &digest).is_empty());
        // Exactly the limit is fine.
        let mut writer = cas.writer(&digest).expect("writer");
        writer.write(&vec![0; MAX_BLOB_SIZE]).expect("at the limit");
        assert!(matches!(writer.write(&[0]), Err(CasError::TooLarge(_))));
        drop(writer);
        assert!(shard_entries(dir.path(), &digest).is_empty());
    }

    #[test]
    fn a_broken_upload_is_an_upload_error_and_leaves_nothing() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("client went away"))
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        let digest = sha256_hex(b"x");
        assert!(matches!(
            cas.put_reader(&digest, Broken),
            Err(CasError::Upload(_))
        ));
        assert!(shard_entries(dir.path(), &digest).is_empty());
    }

    #[test]
    fn concurrent_puts_of_one_blob_never_expose_a_partial_file() {
        const WRITERS: usize = 8;
        const ROUNDS: u8 = 6;
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        for round in 0..ROUNDS {
            let bytes = Arc::new(blob(round, 2 << 20));
            let digest = sha256_hex(&bytes);
            let path = cas.path(&digest).expect("path");
            let start = Arc::new(Barrier::new(WRITERS + 1));
            let done = Arc::new(AtomicBool::new(false));
            // Reads the file behind the name directly, as a backup or a
            // server that does not verify would: never a partial blob.
            let reader = {
                let (bytes, path, start, done) =
                    (bytes.clone(), path.clone(), start.clone(), done.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut seen = 0;
                    for _ in 0..100_000 {
                        let finished = done.load(Ordering::SeqCst);
                        match std::fs::read(&path) {
                            Ok(read) => {
                                assert!(
                                    read == *bytes,
                                    "a reader saw {} of {} bytes",
                                    read.len(),
                                    bytes.len()
                                );
                                seen += 1;
                            }
                            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
                        }
                        if finished {
                            break;
                        }
                    }
                    seen
                })
            };
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| {
                    let (cas, bytes, digest, start) =
                        (cas.clone(), bytes.clone(), digest.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        cas.put_reader(&digest, bytes.as_slice())
                    })
                })
                .collect();
            let results: Vec<_> = writers
                .into_iter()
                .map(|w| w.join().expect("writer thread"))
                .collect();
            done.store(true, Ordering::SeqCst);
            let seen = reader.join().expect("reader saw a partial blob");
            assert!(seen >= 1, "the reader saw the blob at the end");
            let outcomes: Vec<Stored> = results
                .into_iter()
                .map(|r| r.expect("every concurrent put succeeds"))
                .collect();
            assert_eq!(
                outcomes.iter().filter(|s| **s == Stored::Created).count(),
                1,
                "round {round}: {outcomes:?}"
            );
            assert_eq!(cas.get(&digest).expect("get"), Some(bytes.to_vec()));
            assert_eq!(shard_entries(dir.path(), &digest), vec![digest.clone()]);
        }
    }

    #[test]
    fn a_damaged_blob_is_refused_and_repaired_by_the_next_put() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = Cas::new(dir.path());
        let bytes = blob(1, 300_000);
        let digest = sha256_hex(&bytes);
        assert_eq!(
            cas.put_reader(&digest, bytes.as_slice()).expect("put"),
            Stored::Created
        );
        let path = cas.path(&digest).expect("path");
        let mut damaged = bytes.clone();
        damaged[12345] ^= 1;
        std::fs::write(&path, &damaged).expect("damage");

        assert!(matches!(cas.get(&digest), Err(CasError::Corrupt { .. })));
        assert!(matches!(cas.open(&digest), Err(CasError::Corrupt { .. })));
        // Wrong bytes do not repair it.
        assert!(matches!(
            cas.put(&digest, b"wrong"),
            Err(CasError::Mismatch { .. })
        ));
        assert!(matches!(cas.get(&digest), Err(CasError::Corrupt { .. })));
        assert_eq!(
            cas.put_reader(&digest, bytes.as_slice()).expect("repair"),
            Stored::Repaired
        );
        assert_eq!(cas.get(&digest).expect("get"), Some(bytes.clone()));
        let mut opened = cas.open(&digest).expect("open").expect("stored");
        assert_eq!(opened.len, bytes.len() as u64);
        let mut served = Vec::new();
        opened.file.read_to_end(&mut served).expect("read");
        assert_eq!(served, bytes);
        assert_eq!(
            cas.put_reader(&digest, bytes.as_slice()).expect("again"),
            Stored::Existed
        );
        assert_eq!(shard_entries(dir.path(), &digest), vec![digest.clone()]);

        // A file longer than any blob is refused without hashing it all.
        std::fs::write(&path, vec![0u8; MAX_BLOB_SIZE + 1]).expect("grow");
        assert!(matches!(cas.open(&digest), Err(CasError::Corrupt { .. })));
    }
}
