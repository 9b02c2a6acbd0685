//! [`PackBuilder`]: what a log server uses to write a pack. It takes the
//! checkpoint first, then entries with their proofs against it and blobs,
//! checking each as it comes, and writes the zip with the manifest signed.
//!
//! Invariant: every entry is checked when added by the very function the
//! verifier runs on it ([`crate::verify`]'s step 6), every limit of
//! [`crate::limits`] is kept, and the signature is checked against the
//! verifier key before the zip is written; so [`PackBuilder::finish`]
//! returns a pack that [`crate::verify_pack`] accepts, or an error.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use evledger_tlog::checkpoint::{verify_payload, SignedCheckpoint};
use evledger_tlog::tlog_proof::TlogProof;
use evledger_tlog::{leaf_hash, CheckpointVerifier};
use sha2::{Digest, Sha256};

use crate::container;
use crate::error::PackError;
use crate::limits::{
    MAX_MANIFEST_SIZE, MAX_PACK_BLOBS, MAX_PACK_BLOB_BYTES, MAX_PACK_ENTRIES, MAX_PACK_SIZE,
    MAX_README_SIZE, MAX_SUMMARY_SIZE,
};
use crate::manifest::{
    blob_path, is_rfc3339_utc, is_sha256_hex, leaf_path, proof_path, Manifest, ManifestBlob,
    ManifestEntry, Role, Scope, CHECKPOINT_PATH, FORMAT, MANIFEST_PATH, README_PATH,
    SIGNATURE_CONTEXT, SIGNATURE_PATH, SUMMARY_PATH,
};
use crate::verify::check_entry;
use crate::{readme, summary};

/// What the log knows about an entry beyond its bytes: why it is in the
/// pack and how the log reads it. Goes into the manifest as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Index of the entry in the log.
    pub log_index: u64,
    /// Why it is in the pack.
    pub role: Role,
    /// The entry kind (`dsse`, `contract`, ...).
    pub kind: String,
    /// The workflow it belongs to, if any.
    pub workflow: Option<String>,
    /// The attested subjects, `name@sha256:<hex>`.
    pub subjects: Vec<String>,
    /// The in-toto predicate type, if any.
    pub predicate_type: Option<String>,
}

/// An entry as added: its manifest line and its two files.
struct PackedEntry {
    manifest: ManifestEntry,
    leaf: Vec<u8>,
    proof: String,
}

/// Builds one pack against one checkpoint.
pub struct PackBuilder {
    checkpoint: SignedCheckpoint,
    verifier_key: String,
    verifier: CheckpointVerifier,
    scope: Scope,
    created_at: String,
    /// By log index: the manifest lists entries in this order.
    entries: BTreeMap<u64, PackedEntry>,
    /// By hex digest: the manifest lists blobs in this order.
    blobs: BTreeMap<String, Vec<u8>>,
    blob_bytes: u64,
    blob_limit: u64,
    /// Bytes of leaves, proofs and blobs so far, to refuse early a pack
    /// that could not fit [`MAX_PACK_SIZE`].
    data_bytes: usize,
}

impl std::fmt::Debug for PackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackBuilder")
            .field("origin", &self.checkpoint.origin)
            .field("tree_size", &self.checkpoint.size)
            .field("entries", &self.entries.len())
            .field("blobs", &self.blobs.len())
            .finish_non_exhaustive()
    }
}

impl PackBuilder {
    /// A pack against the signed checkpoint `checkpoint_note`, which must
    /// verify with the log's `verifier_key`; `created_at` is an RFC 3339
    /// UTC time (the caller's clock: the same inputs give the same bytes).
    ///
    /// # Errors
    ///
    /// [`PackError::Checkpoint`] for a malformed key or a checkpoint it did
    /// not sign, [`PackError::CreatedAt`].
    pub fn new(
        checkpoint_note: &str,
        verifier_key: &str,
        scope: Scope,
        created_at: String,
    ) -> Result<Self, PackError> {
        let verifier_key = verifier_key.trim().to_string();
        let verifier = CheckpointVerifier::new(&[&verifier_key]).map_err(PackError::Checkpoint)?;
        let checkpoint = verifier
            .verify(checkpoint_note.as_bytes())
            .map_err(PackError::Checkpoint)?;
        if !is_rfc3339_utc(&created_at) {
            return Err(PackError::CreatedAt(created_at));
        }
        Ok(Self {
            checkpoint,
            verifier_key,
            verifier,
            scope,
            created_at,
            entries: BTreeMap::new(),
            blobs: BTreeMap::new(),
            blob_bytes: 0,
            blob_limit: MAX_PACK_BLOB_BYTES,
            data_bytes: 0,
        })
    }

    /// Lowers the blob-byte limit to `max_bytes` (never above
    /// [`MAX_PACK_BLOB_BYTES`]); [`PackBuilder::add_blob`] refuses a blob
    /// past it.
    pub fn with_blob_limit(mut self, max_bytes: u64) -> Self {
        self.blob_limit = max_bytes.min(MAX_PACK_BLOB_BYTES);
        self
    }

    /// The tree size of the pack's checkpoint: every proof must be for a
    /// tree of this size.
    pub fn tree_size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The checkpoint note proofs must carry, byte for byte.
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint.note
    }

    /// Whether entry `log_index` is in the pack.
    pub fn has_entry(&self, log_index: u64) -> bool {
        self.entries.contains_key(&log_index)
    }

    /// Entries added so far.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Whether the blob with SHA-256 `digest` (hex, or `sha256:<hex>`) is in
    /// the pack.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blobs
            .contains_key(digest.strip_prefix("sha256:").unwrap_or(digest))
    }

    /// Bytes of blobs added so far.
    pub fn blob_bytes(&self) -> u64 {
        self.blob_bytes
    }

    /// Adds an entry: its leaf bytes and its tlog-proof, which must be for
    /// `info.log_index`, carry `leaf` as its extra, carry this pack's
    /// checkpoint note byte for byte, and verify.
    ///
    /// # Errors
    ///
    /// [`PackError::DuplicateEntry`], [`PackError::TooManyEntries`],
    /// [`PackError::TooLarge`], and the [`PackError::Invalid`] the verifier
    /// would report for this entry (file `entries/<index>.tlog-proof`, the
    /// step that failed).
    pub fn add_entry(
        &mut self,
        info: EntryInfo,
        leaf: &[u8],
        proof: &TlogProof,
    ) -> Result<(), PackError> {
        let index = info.log_index;
        if self.entries.contains_key(&index) {
            return Err(PackError::DuplicateEntry(index));
        }
        if self.entries.len() >= MAX_PACK_ENTRIES {
            return Err(PackError::TooManyEntries {
                limit: MAX_PACK_ENTRIES,
            });
        }
        let text = proof.to_text();
        // The verifier's own check of this entry: what passes here passes there.
        check_entry(
            index,
            leaf,
            text.as_bytes(),
            &self.checkpoint.note,
            &self.verifier,
        )?;
        self.grow(leaf.len() + text.len())?;
        self.entries.insert(
            index,
            PackedEntry {
                manifest: ManifestEntry {
                    log_index: index,
                    leaf_hash: hex::encode(leaf_hash(leaf)),
                    role: info.role,
                    kind: info.kind,
                    workflow: info.workflow,
                    subjects: info.subjects,
                    predicate_type: info.predicate_type,
                    leaf: leaf_path(index),
                    proof: proof_path(index),
                },
                leaf: leaf.to_vec(),
                proof: text,
            },
        );
        Ok(())
    }

    /// Adds a CAS blob whose SHA-256 is `digest` (64 lowercase hex digits,
    /// or `sha256:` and those). A blob already in the pack is not added
    /// again (many entries name one blob).
    ///
    /// # Errors
    ///
    /// [`PackError::BadBlob`] if the digest is malformed or not the bytes',
    /// [`PackError::TooManyBlobs`], [`PackError::BlobBytes`] past the
    /// blob-byte limit, [`PackError::TooLarge`].
    pub fn add_blob(&mut self, digest: &str, bytes: &[u8]) -> Result<(), PackError> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let bad = |detail| PackError::BadBlob {
            digest: digest.to_string(),
            detail,
        };
        if !is_sha256_hex(hex) {
            return Err(bad("not 64 lowercase hex digits"));
        }
        if hex::encode(Sha256::digest(bytes)) != hex {
            return Err(bad("not the SHA-256 of the bytes given"));
        }
        if self.blobs.contains_key(hex) {
            return Ok(());
        }
        if self.blobs.len() >= MAX_PACK_BLOBS {
            return Err(PackError::TooManyBlobs {
                limit: MAX_PACK_BLOBS,
            });
        }
        let needed = self.blob_bytes.saturating_add(bytes.len() as u64);
        if needed > self.blob_limit {
            return Err(PackError::BlobBytes {
                needed,
                limit: self.blob_limit,
            });
        }
        self.grow(bytes.len())?;
        self.blob_bytes = needed;
        self.blobs.insert(hex.to_string(), bytes.to_vec());
        Ok(())
    }

    /// Counts `len` more bytes of data, refusing them if the pack could no
    /// longer fit [`MAX_PACK_SIZE`].
    fn grow(&mut self, len: usize) -> Result<(), PackError> {
        let size = self.data_bytes.saturating_add(len);
        if size > MAX_PACK_SIZE {
            return Err(PackError::TooLarge {
                what: "the pack".into(),
                size,
                limit: MAX_PACK_SIZE,
            });
        }
        self.data_bytes = size;
        Ok(())
    }

    /// The manifest of the pack as it stands, without the digests of
    /// `README.md` and `summary.html` (which are written from it): enough
    /// for [`crate::summary_html`], e.g. to show a summary without a zip.
    pub fn manifest(&self) -> Manifest {
        let mut files = BTreeMap::new();
        files.insert(
            CHECKPOINT_PATH.to_string(),
            sha256_hex(self.checkpoint.note.as_bytes()),
        );
        for entry in self.entries.values() {
            files.insert(entry.manifest.leaf.clone(), sha256_hex(&entry.leaf));
            files.insert(
                entry.manifest.proof.clone(),
                sha256_hex(entry.proof.as_bytes()),
            );
        }
        let blobs = self
            .blobs
            .iter()
            .map(|(hex, bytes)| {
                files.insert(blob_path(hex), hex.clone());
                ManifestBlob {
                    digest: format!("sha256:{hex}"),
                    size: bytes.len() as u64,
                    path: blob_path(hex),
                }
            })
            .collect();
        Manifest {
            format: FORMAT.to_string(),
            origin: self.checkpoint.origin.clone(),
            verifier_key: self.verifier_key.clone(),
            tree_size: self.checkpoint.size,
            root_hash: hex::encode(self.checkpoint.root),
            created_at: self.created_at.clone(),
            scope: self.scope.clone(),
            entries: self.entries.values().map(|e| e.manifest.clone()).collect(),
            blobs,
            files,
        }
    }

    /// Writes the pack: the README and summary from the manifest, the
    /// manifest with every file's digest, `sign`'s signature over its bytes
    /// (the log key's `LogSigner::sign_payload(SIGNATURE_CONTEXT, bytes)`),
    /// checked against the verifier key, then the zip.
    ///
    /// # Errors
    ///
    /// [`PackError::Signing`] if `sign` fails, [`PackError::WrongSigner`] if
    /// its signature does not verify, [`PackError::TooLarge`] for a
    /// manifest, summary or pack over its limit.
    pub fn finish<E>(
        self,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, PackError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut manifest = self.manifest();
        // The README and summary do not show `files`, so they can be
        // written before their own digests are listed in it.
        let readme = readme::readme(&manifest);
        let summary = summary::summary_html_with_checkpoint(&manifest, &self.checkpoint.note);
        fit(README_PATH, readme.len(), MAX_README_SIZE)?;
        fit(SUMMARY_PATH, summary.len(), MAX_SUMMARY_SIZE)?;
        manifest
            .files
            .insert(README_PATH.to_string(), sha256_hex(readme.as_bytes()));
        manifest
            .files
            .insert(SUMMARY_PATH.to_string(), sha256_hex(summary.as_bytes()));
        let manifest_bytes = manifest.to_bytes();
        fit(MANIFEST_PATH, manifest_bytes.len(), MAX_MANIFEST_SIZE)?;

        let signature = sign(&manifest_bytes).map_err(|e| PackError::Signing(e.into()))?;
        verify_payload(
            &self.verifier_key,
            SIGNATURE_CONTEXT,
            &manifest_bytes,
            &signature,
        )
        .map_err(|_| PackError::WrongSigner)?;
        let signature_file = format!("{}\n", B64.encode(&signature));

        // The order `verify::layout` expects.
        let mut members: Vec<(&str, &[u8])> = vec![
            (MANIFEST_PATH, &manifest_bytes),
            (SIGNATURE_PATH, signature_file.as_bytes()),
            (CHECKPOINT_PATH, self.checkpoint.note.as_bytes()),
            (README_PATH, readme.as_bytes()),
            (SUMMARY_PATH, summary.as_bytes()),
        ];
        for entry in self.entries.values() {
            members.push((&entry.manifest.leaf, &entry.leaf));
            members.push((&entry.manifest.proof, entry.proof.as_bytes()));
        }
        let blob_paths: Vec<String> = self.blobs.keys().map(|hex| blob_path(hex)).collect();
        for (path, bytes) in blob_paths.iter().zip(self.blobs.values()) {
            members.push((path, bytes));
        }
        debug_assert!(members
            .iter()
            .map(|(p, _)| *p)
            .eq(crate::verify::layout(&manifest)
                .iter()
                .map(|(p, _)| p.as_str())));
        container::write(&members).map_err(|e| match e {
            container::ContainerError::TooLarge { size } => PackError::TooLarge {
                what: "the pack".into(),
                size,
                limit: MAX_PACK_SIZE,
            },
            // Names are the layout's, distinct and valid, and counts are
            // within MAX_PACK_FILES < MAX_MEMBERS: nothing else can fail,
            // but a server should answer an error rather than panic.
            other => PackError::invalid("(zip)", crate::Step::Zip, other.to_string()),
        })
    }
}

fn fit(what: &str, size: usize, limit: usize) -> Result<(), PackError> {
    if size > limit {
        return Err(PackError::TooLarge {
            what: what.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
