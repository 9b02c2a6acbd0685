//! Offline verification of a pack, trusting nothing but the log's verifier
//! key: [`verify_pack`].
//!
//! The checks run in this order, each on what the previous ones vouched for:
//!
//! 1. the zip is in the canonical form ([`crate::container`]), within
//!    [`MAX_PACK_SIZE`] and [`MAX_PACK_FILES`], every CRC-32 right;
//! 2. `manifest.sig` is the log key's signature over `manifest.json`;
//! 3. the manifest parses, is `evledger-pack/v1`, names the key given,
//!    lists entries and blobs in order, within the limits, at their paths;
//! 4. the zip holds exactly `manifest.json`, `manifest.sig` and the files
//!    the manifest lists, in the order the builder writes them, each within
//!    its size limit and with the SHA-256 listed;
//! 5. `checkpoint` is signed by the log key (and the witness policy, if
//!    any), and has the manifest's origin, tree size and root;
//! 6. each entry's leaf has the listed leaf hash, and its tlog-proof
//!    parses, is for its index, carries its leaf, is against `checkpoint`
//!    (byte for byte) and verifies;
//! 7. each blob has the listed digest and size.
//!
//! Step 2 before 3: nothing of the manifest is read before its signature
//! verified. Once step 4 passed, every byte of the pack is covered by that
//! signature.

use std::collections::{BTreeSet, HashMap};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use evledger_tlog::checkpoint::{verify_payload, SignedCheckpoint};
use evledger_tlog::tlog_proof::TlogProof;
use evledger_tlog::{leaf_hash, CheckpointError, CheckpointVerifier};
use sha2::{Digest, Sha256};

use crate::container;
use crate::error::{PackError, Step};
use crate::limits::{
    MAX_CHECKPOINT_FILE_SIZE, MAX_LEAF_SIZE, MAX_MANIFEST_SIZE, MAX_PACK_BLOBS,
    MAX_PACK_BLOB_BYTES, MAX_PACK_ENTRIES, MAX_PACK_FILES, MAX_PACK_SIZE, MAX_PROOF_FILE_SIZE,
    MAX_README_SIZE, MAX_SIGNATURE_FILE_SIZE, MAX_SUMMARY_SIZE,
};
use crate::manifest::{
    blob_path, is_rfc3339_utc, is_sha256_hex, leaf_path, proof_path, Manifest, Role,
    CHECKPOINT_PATH, FORMAT, MANIFEST_PATH, README_PATH, SIGNATURE_CONTEXT, SIGNATURE_PATH,
    SUMMARY_PATH,
};

/// What a verified pack holds.
#[derive(Debug, Clone)]
pub struct PackReport {
    /// The manifest, verified.
    pub manifest: Manifest,
    /// The checkpoint every proof is against, verified (with the witnesses
    /// that cosigned it, if a witness policy was given).
    pub checkpoint: SignedCheckpoint,
}

impl PackReport {
    /// Entries with `role`.
    pub fn count(&self, role: Role) -> usize {
        self.manifest.entries_with(role).count()
    }
}

/// Verifies a pack against the log's verifier key alone.
///
/// # Errors
///
/// [`PackError::Invalid`] naming the file and [`Step`] that failed;
/// [`PackError::Checkpoint`] if `verifier_key` is malformed.
pub fn verify_pack(zip: &[u8], verifier_key: &str) -> Result<PackReport, PackError> {
    let checkpoints = CheckpointVerifier::new(&[verifier_key]).map_err(PackError::Checkpoint)?;
    verify_pack_with(zip, verifier_key, &checkpoints)
}

/// Verifies a pack: the manifest signature with `verifier_key`, the
/// checkpoint with `checkpoints` (a verifier that trusts `verifier_key`,
/// with a witness policy if the auditor wants one).
///
/// # Errors
///
/// [`PackError::Invalid`] naming the file and [`Step`] that failed.
pub fn verify_pack_with(
    zip: &[u8],
    verifier_key: &str,
    checkpoints: &CheckpointVerifier,
) -> Result<PackReport, PackError> {
    let verifier_key = verifier_key.trim();

    // 1. The container.
    if zip.len() > MAX_PACK_SIZE {
        return Err(PackError::invalid(
            "(zip)",
            Step::Limit,
            format!(
                "{} bytes, more than the {MAX_PACK_SIZE} a pack may have",
                zip.len()
            ),
        ));
    }
    let members = container::read(zip, MAX_PACK_FILES).map_err(|e| {
        let step = match e {
            container::ContainerError::TooLarge { .. }
            | container::ContainerError::TooManyMembers { .. } => Step::Limit,
            _ => Step::Zip,
        };
        PackError::invalid("(zip)", step, e.to_string())
    })?;
    let files: HashMap<&str, &[u8]> = members.iter().map(|m| (m.name, m.data)).collect();

    // 2. The signature, before anything of the manifest is believed.
    let manifest_bytes = required(&files, MANIFEST_PATH, MAX_MANIFEST_SIZE)?;
    let signature_file = required(&files, SIGNATURE_PATH, MAX_SIGNATURE_FILE_SIZE)?;
    let signature = decode_signature(signature_file)?;
    verify_payload(verifier_key, SIGNATURE_CONTEXT, manifest_bytes, &signature).map_err(|e| {
        let detail = match e {
            CheckpointError::Unverified(_) => format!(
                "not the signature of the key given over {MANIFEST_PATH} (changed, or signed by another key)"
            ),
            other => other.to_string(),
        };
        PackError::invalid(SIGNATURE_PATH, Step::Signature, detail)
    })?;

    // 3. The manifest.
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| PackError::invalid(MANIFEST_PATH, Step::Manifest, e.to_string()))?;
    check_manifest(&manifest, verifier_key)?;

    // 4. Exactly the files listed, in the builder's order, each as listed.
    // From here on every path of the layout is in `files` and in
    // `manifest.files`, so indexing them cannot fail.
    check_contents(&manifest, &members)?;

    // 5. The checkpoint.
    let note = files[CHECKPOINT_PATH];
    let checkpoint = checkpoints
        .verify(note)
        .map_err(|e| PackError::invalid(CHECKPOINT_PATH, Step::Checkpoint, e.to_string()))?;
    let disagree = |field: &str| {
        PackError::invalid(
            MANIFEST_PATH,
            Step::Checkpoint,
            format!("{field} differs from the checkpoint's"),
        )
    };
    if manifest.origin != checkpoint.origin {
        return Err(disagree("origin"));
    }
    if manifest.tree_size != checkpoint.size {
        return Err(disagree("treeSize"));
    }
    if manifest.root_hash != hex::encode(checkpoint.root) {
        return Err(disagree("rootHash"));
    }

    // 6. The entries.
    for entry in &manifest.entries {
        let leaf = files[entry.leaf.as_str()];
        if hex::encode(leaf_hash(leaf)) != entry.leaf_hash {
            return Err(PackError::invalid(
                &entry.leaf,
                Step::LeafHash,
                "the leaf's RFC 6962 hash is not the manifest's leafHash",
            ));
        }
        check_entry(
            entry.log_index,
            leaf,
            files[entry.proof.as_str()],
            &checkpoint.note,
            checkpoints,
        )?;
    }

    // 7. The blobs. (Their SHA-256 was checked with every file's in step 4;
    // here the digest and size the manifest states for them.)
    for blob in &manifest.blobs {
        let bytes = files[blob.path.as_str()];
        let hex = &blob.digest["sha256:".len()..];
        if manifest.files[&blob.path] != hex {
            return Err(PackError::invalid(
                &blob.path,
                Step::Blob,
                "the blob's digest differs from its file's SHA-256",
            ));
        }
        if bytes.len() as u64 != blob.size {
            return Err(PackError::invalid(
                &blob.path,
                Step::Blob,
                format!(
                    "{} bytes, not the {} the manifest says",
                    bytes.len(),
                    blob.size
                ),
            ));
        }
    }

    Ok(PackReport {
        manifest,
        checkpoint,
    })
}

/// The file at `path`, which must be present and at most `limit` bytes.
fn required<'a>(
    files: &HashMap<&str, &'a [u8]>,
    path: &str,
    limit: usize,
) -> Result<&'a [u8], PackError> {
    let data = files
        .get(path)
        .ok_or_else(|| PackError::invalid(path, Step::Contents, "missing"))?;
    within(path, data, limit)?;
    Ok(data)
}

fn within(path: &str, data: &[u8], limit: usize) -> Result<(), PackError> {
    if data.len() > limit {
        return Err(PackError::invalid(
            path,
            Step::Limit,
            format!("{} bytes, more than the {limit} allowed", data.len()),
        ));
    }
    Ok(())
}

/// The signature in `manifest.sig`: exactly standard padded base64 and one
/// newline, as the builder writes it (so the file has one spelling).
fn decode_signature(file: &[u8]) -> Result<Vec<u8>, PackError> {
    let bad = |what: &str| PackError::invalid(SIGNATURE_PATH, Step::Signature, what);
    let text = file
        .strip_suffix(b"\n")
        .ok_or_else(|| bad("not one line of base64 ending in a newline"))?;
    let signature = B64
        .decode(text)
        .map_err(|_| bad("not standard padded base64"))?;
    if B64.encode(&signature).as_bytes() != text {
        return Err(bad("not canonical base64"));
    }
    Ok(signature)
}

/// Step 3: the manifest's own rules, before any file is looked at.
fn check_manifest(manifest: &Manifest, verifier_key: &str) -> Result<(), PackError> {
    let bad = |detail: String| PackError::invalid(MANIFEST_PATH, Step::Manifest, detail);
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format {:?} is not {FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.verifier_key != verifier_key {
        return Err(bad(format!(
            "names the verifier key {:?}, not the key given",
            manifest.verifier_key
        )));
    }
    if !is_sha256_hex(&manifest.root_hash) {
        return Err(bad("rootHash is not 64 lowercase hex digits".into()));
    }
    if !is_rfc3339_utc(&manifest.created_at) {
        return Err(bad(format!(
            "createdAt {:?} is not an RFC 3339 UTC time",
            manifest.created_at
        )));
    }
    if manifest.entries.len() > MAX_PACK_ENTRIES {
        return Err(PackError::invalid(
            MANIFEST_PATH,
            Step::Limit,
            format!("more than {MAX_PACK_ENTRIES} entries"),
        ));
    }
    if manifest.blobs.len() > MAX_PACK_BLOBS {
        return Err(PackError::invalid(
            MANIFEST_PATH,
            Step::Limit,
            format!("more than {MAX_PACK_BLOBS} blobs"),
        ));
    }
    let mut previous = None;
    for entry in &manifest.entries {
        let index = entry.log_index;
        if previous.is_some_and(|p| p >= index) {
            return Err(bad(format!(
                "entry {index} is out of order or listed twice (entries go by log index)"
            )));
        }
        previous = Some(index);
        if entry.leaf != leaf_path(index) || entry.proof != proof_path(index) {
            return Err(bad(format!(
                "entry {index}: its files must be {} and {}",
                leaf_path(index),
                proof_path(index)
            )));
        }
        if !is_sha256_hex(&entry.leaf_hash) {
            return Err(bad(format!(
                "entry {index}: leafHash is not 64 lowercase hex digits"
            )));
        }
    }
    let mut previous: Option<&str> = None;
    let mut blob_bytes: u64 = 0;
    for blob in &manifest.blobs {
        let hex = blob
            .digest
            .strip_prefix("sha256:")
            .filter(|h| is_sha256_hex(h))
            .ok_or_else(|| bad(format!("blob digest {:?} is not sha256:<hex>", blob.digest)))?;
        if previous.is_some_and(|p| p >= hex) {
            return Err(bad(format!(
                "blob {} is out of order or listed twice (blobs go by digest)",
                blob.digest
            )));
        }
        previous = Some(hex);
        if blob.path != blob_path(hex) {
            return Err(bad(format!(
                "blob {}: its file must be {}",
                blob.digest,
                blob_path(hex)
            )));
        }
        blob_bytes = blob_bytes.saturating_add(blob.size);
    }
    if blob_bytes > MAX_PACK_BLOB_BYTES {
        return Err(PackError::invalid(
            MANIFEST_PATH,
            Step::Limit,
            format!("blobs of {blob_bytes} bytes, more than {MAX_PACK_BLOB_BYTES}"),
        ));
    }
    if let Some((path, _)) = manifest.files.iter().find(|(_, d)| !is_sha256_hex(d)) {
        return Err(bad(format!(
            "the SHA-256 of {path} is not 64 lowercase hex digits"
        )));
    }
    Ok(())
}

/// The paths of a pack in the order the builder writes them, with the
/// size limit of each.
pub(crate) fn layout(manifest: &Manifest) -> Vec<(String, usize)> {
    let mut paths = vec![
        (MANIFEST_PATH.to_string(), MAX_MANIFEST_SIZE),
        (SIGNATURE_PATH.to_string(), MAX_SIGNATURE_FILE_SIZE),
        (CHECKPOINT_PATH.to_string(), MAX_CHECKPOINT_FILE_SIZE),
        (README_PATH.to_string(), MAX_README_SIZE),
        (SUMMARY_PATH.to_string(), MAX_SUMMARY_SIZE),
    ];
    for entry in &manifest.entries {
        paths.push((entry.leaf.clone(), MAX_LEAF_SIZE));
        paths.push((entry.proof.clone(), MAX_PROOF_FILE_SIZE));
    }
    for blob in &manifest.blobs {
        // A blob is bounded by the blob total, checked in the manifest.
        paths.push((blob.path.clone(), MAX_PACK_BLOB_BYTES as usize));
    }
    paths
}

/// Step 4: the zip holds exactly the manifest, its signature and the files
/// listed, in layout order, each within its limit and with its SHA-256.
fn check_contents(manifest: &Manifest, members: &[container::Member<'_>]) -> Result<(), PackError> {
    let layout = layout(manifest);
    let expected: BTreeSet<&str> = layout.iter().map(|(p, _)| p.as_str()).collect();
    let listed: BTreeSet<&str> = manifest
        .files
        .keys()
        .map(String::as_str)
        .chain([MANIFEST_PATH, SIGNATURE_PATH])
        .collect();
    if let Some(path) = expected.difference(&listed).next() {
        return Err(PackError::invalid(
            MANIFEST_PATH,
            Step::Manifest,
            format!("files does not list {path}"),
        ));
    }
    if let Some(path) = listed.difference(&expected).next() {
        return Err(PackError::invalid(
            MANIFEST_PATH,
            Step::Manifest,
            format!("files lists {path}, which is no file of a pack"),
        ));
    }
    let present: BTreeSet<&str> = members.iter().map(|m| m.name).collect();
    if let Some(path) = expected.difference(&present).next() {
        return Err(PackError::invalid(path, Step::Contents, "missing"));
    }
    if let Some(path) = present.difference(&expected).next() {
        return Err(PackError::invalid(
            path,
            Step::Contents,
            "not listed in the manifest",
        ));
    }
    // Same sets of distinct names, so the same length: compare in order.
    for (member, (path, limit)) in members.iter().zip(&layout) {
        if member.name != path {
            return Err(PackError::invalid(
                member.name,
                Step::Contents,
                format!("out of place: {path} belongs here"),
            ));
        }
        within(path, member.data, *limit)?;
        if let Some(digest) = manifest.files.get(path) {
            if hex::encode(Sha256::digest(member.data)) != *digest {
                return Err(PackError::invalid(
                    path,
                    Step::Digest,
                    "the file's SHA-256 differs from the manifest's",
                ));
            }
        }
    }
    Ok(())
}

/// Checks one entry's files against the pack's checkpoint `note`: the leaf
/// within its limit, and a tlog-proof that parses, is for `index`, carries
/// exactly `leaf`, is against `note` and verifies with `checkpoints`.
/// The builder runs this on every entry it is given, so a pack it builds
/// passes step 6.
pub(crate) fn check_entry(
    index: u64,
    leaf: &[u8],
    proof: &[u8],
    note: &str,
    checkpoints: &CheckpointVerifier,
) -> Result<(), PackError> {
    let leaf_file = leaf_path(index);
    let proof_file = proof_path(index);
    within(&leaf_file, leaf, MAX_LEAF_SIZE)?;
    within(&proof_file, proof, MAX_PROOF_FILE_SIZE)?;
    let fail = |step: Step, detail: String| PackError::invalid(&proof_file, step, detail);
    let text =
        std::str::from_utf8(proof).map_err(|_| fail(Step::ProofSyntax, "not UTF-8".into()))?;
    let parsed = TlogProof::parse(text).map_err(|e| fail(Step::ProofSyntax, e.to_string()))?;
    if parsed.index != index {
        return Err(fail(
            Step::ProofIndex,
            format!("a proof for entry {}, not {index}", parsed.index),
        ));
    }
    if parsed.extra.as_deref() != Some(leaf) {
        return Err(fail(
            Step::ProofEntry,
            format!("its extra is not the leaf in {leaf_file}"),
        ));
    }
    if parsed.checkpoint != note {
        return Err(fail(
            Step::ProofCheckpoint,
            format!("against another checkpoint than {CHECKPOINT_PATH}"),
        ));
    }
    parsed
        .verify(checkpoints, None)
        .map_err(|e| fail(Step::Inclusion, e.to_string()))?;
    Ok(())
}
