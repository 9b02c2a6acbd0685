//! Hostile tests of packs: a real pack (an RFC 6962 tree built here by an
//! independent implementation, real Ed25519 signatures, entries of every
//! role, a blob) verifies; then every way of changing it we could think of
//! does not, and fails at the step that should catch it.

use std::collections::HashMap;

use evledger_tlog::tlog_proof::TlogProof;
use evledger_tlog::{CheckpointVerifier, Cosigner, LogSigner};
use sha2::{Digest, Sha256};

use crate::container::{self, hostile};
use crate::manifest::{
    blob_path, Manifest, CHECKPOINT_PATH, MANIFEST_PATH, README_PATH, SIGNATURE_PATH, SUMMARY_PATH,
};
use crate::{
    verify_pack, verify_pack_with, EntryInfo, PackBuilder, PackError, Role, Scope, Step,
    MAX_PACK_BLOB_BYTES, MAX_PACK_ENTRIES, MAX_PACK_SIZE, SIGNATURE_CONTEXT,
};

const ORIGIN: &str = "log.example/pack";
const CREATED_AT: &str = "2026-12-02T10:00:00Z";

/// An independent RFC 6962 §2.1 Merkle tree (MTH and PATH), with subtree
/// roots memoised so that large trees stay cheap.
struct Tree {
    leaves: Vec<[u8; 32]>,
    memo: HashMap<(usize, usize), [u8; 32]>,
}

impl Tree {
    fn new(leaves: &[Vec<u8>]) -> Self {
        let leaves = leaves
            .iter()
            .map(|l| {
                let mut h = Sha256::new();
                h.update([0u8]);
                h.update(l);
                h.finalize().into()
            })
            .collect();
        Self {
            leaves,
            memo: HashMap::new(),
        }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH of leaves `start..start + n` (n ≥ 1).
    fn root_of(&mut self, start: usize, n: usize) -> [u8; 32] {
        if n == 1 {
            return self.leaves[start];
        }
        if let Some(h) = self.memo.get(&(start, n)) {
            return *h;
        }
        let k = Self::split(n);
        let (l, r) = (self.root_of(start, k), self.root_of(start + k, n - k));
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        let h: [u8; 32] = h.finalize().into();
        self.memo.insert((start, n), h);
        h
    }

    fn root(&mut self) -> [u8; 32] {
        let n = self.leaves.len();
        self.root_of(0, n)
    }

    /// PATH(m, D[start..start + n]).
    fn path_of(&mut self, m: usize, start: usize, n: usize) -> Vec<[u8; 32]> {
        if n <= 1 {
            return Vec::new();
        }
        let k = Self::split(n);
        let mut path;
        if m < k {
            path = self.path_of(m, start, k);
            path.push(self.root_of(start + k, n - k));
        } else {
            path = self.path_of(m - k, start + k, n - k);
            path.push(self.root_of(start, k));
        }
        path
    }

    fn path(&mut self, m: usize) -> Vec<[u8; 32]> {
        let n = self.leaves.len();
        self.path_of(m, 0, n)
    }
}

/// A log: a signer, its leaves, its tree and a checkpoint of all of them.
struct Log {
    signer: LogSigner,
    leaves: Vec<Vec<u8>>,
    tree: Tree,
    note: String,
}

impl Log {
    fn new(origin: &str, leaves: Vec<Vec<u8>>) -> Self {
        let (signer, _) = LogSigner::generate(origin).expect("a test key");
        let mut tree = Tree::new(&leaves);
        let note = signer
            .sign(leaves.len() as u64, tree.root())
            .expect("signing a checkpoint")
            .note;
        Self {
            signer,
            leaves,
            tree,
            note,
        }
    }

    fn key(&self) -> String {
        self.signer.verifier_key().to_string()
    }

    fn proof(&mut self, index: usize) -> TlogProof {
        TlogProof {
            extra: Some(self.leaves[index].clone()),
            index: index as u64,
            hashes: self.tree.path(index),
            checkpoint: self.note.clone(),
        }
    }

    fn sign(&self, manifest: &[u8]) -> Result<Vec<u8>, evledger_tlog::CheckpointError> {
        self.signer.sign_payload(SIGNATURE_CONTEXT, manifest)
    }
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!(r#"{{"kind":"dsse","n":{i},"note":"<b>leaf & more</b>"}}"#).into_bytes())
        .collect()
}

const BLOB: &[u8] = b"{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\"}";

fn blob_hex() -> String {
    hex::encode(Sha256::digest(BLOB))
}

fn info(index: u64, role: Role) -> EntryInfo {
    EntryInfo {
        log_index: index,
        role,
        kind: if role == Role::Contract {
            "contract"
        } else {
            "dsse"
        }
        .into(),
        workflow: Some("build".into()),
        subjects: if role == Role::Attestation {
            vec![format!("app@sha256:{}", "ab".repeat(32))]
        } else {
            vec![]
        },
        predicate_type: (role == Role::Attestation)
            .then(|| "https://evledger.dev/attestation/v1".to_string()),
    }
}

fn scope() -> Scope {
    let mut query = serde_json::Map::new();
    query.insert("kind".into(), "dsse".into());
    Scope {
        workflow: Some("build".into()),
        from_index: Some(0),
        to_index: Some(7),
        query: Some(query),
    }
}

/// The pack every test starts from: a tree of 7 leaves; entry 1 a contract
/// revision, 3 and 6 attestations, 4 another entry; one blob.
fn pack(log: &mut Log) -> Vec<u8> {
    let mut builder =
        PackBuilder::new(&log.note, &log.key(), scope(), CREATED_AT.into()).expect("builder");
    // Added out of order: the pack lists them by index.
    for (index, role) in [
        (6, Role::Attestation),
        (1, Role::Contract),
        (3, Role::Attestation),
        (4, Role::Entry),
    ] {
        let proof = log.proof(index);
        builder
            .add_entry(info(index as u64, role), &log.leaves[index].clone(), &proof)
            .expect("a good entry");
    }
    builder.add_blob(&blob_hex(), BLOB).expect("a good blob");
    builder
        .add_blob(&format!("sha256:{}", blob_hex()), BLOB)
        .expect("the same blob again, a no-op");
    builder.finish(|m| log.sign(m)).expect("finishing")
}

fn fixture() -> (Log, Vec<u8>) {
    let mut log = Log::new(ORIGIN, leaves(7));
    let zip = pack(&mut log);
    (log, zip)
}

type Members = Vec<(String, Vec<u8>)>;

fn members(zip: &[u8]) -> Members {
    container::read(zip, usize::MAX)
        .expect("a canonical zip")
        .into_iter()
        .map(|m| (m.name.to_string(), m.data.to_vec()))
        .collect()
}

fn write(members: &Members) -> Vec<u8> {
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    container::write(&refs).expect("writing a test zip")
}

fn manifest_of(members: &Members) -> Manifest {
    let bytes = &members
        .iter()
        .find(|(n, _)| n == MANIFEST_PATH)
        .expect("manifest")
        .1;
    serde_json::from_slice(bytes).expect("a manifest")
}

fn file<'a>(members: &'a mut Members, name: &str) -> &'a mut Vec<u8> {
    &mut members
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

/// A pack the holder of `signer`'s key could make from `zip`: `change`
/// edits the files and the manifest; then the manifest's digests of the
/// files present are brought up to date, and it is signed again.
fn forge(
    zip: &[u8],
    signer: &LogSigner,
    change: impl FnOnce(&mut Members, &mut Manifest),
) -> Vec<u8> {
    let mut members = members(zip);
    let mut manifest = manifest_of(&members);
    change(&mut members, &mut manifest);
    for (name, data) in &members {
        if let Some(digest) = manifest.files.get_mut(name) {
            *digest = hex::encode(Sha256::digest(data));
        }
    }
    let bytes = manifest.to_bytes();
    let sig = signer
        .sign_payload(SIGNATURE_CONTEXT, &bytes)
        .expect("signing");
    *file(&mut members, MANIFEST_PATH) = bytes;
    use base64::Engine;
    *file(&mut members, SIGNATURE_PATH) = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
    .into_bytes();
    write(&members)
}

#[track_caller]
fn fails_at(zip: &[u8], key: &str, step: Step) -> PackError {
    match verify_pack(zip, key) {
        Ok(_) => panic!("a bad pack verified (expected a {step} failure)"),
        Err(e) => {
            assert_eq!(e.step(), Some(step), "{e}");
            e
        }
    }
}

#[test]
fn a_built_pack_verifies_and_says_what_it_holds() {
    let (log, zip) = fixture();
    let report = verify_pack(&zip, &log.key()).expect("the pack verifies");
    let m = &report.manifest;
    assert_eq!(m.origin, ORIGIN);
    assert_eq!(m.tree_size, 7);
    assert_eq!(m.root_hash, hex::encode(Tree::new(&log.leaves).root()));
    assert_eq!(m.created_at, CREATED_AT);
    assert_eq!(m.scope, scope());
    assert_eq!(
        m.entries
            .iter()
            .map(|e| (e.log_index, e.role))
            .collect::<Vec<_>>(),
        vec![
            (1, Role::Contract),
            (3, Role::Attestation),
            (4, Role::Entry),
            (6, Role::Attestation)
        ]
    );
    assert_eq!(report.count(Role::Attestation), 2);
    assert_eq!(report.count(Role::Contract), 1);
    assert_eq!(m.blobs.len(), 1);
    assert_eq!(m.blobs[0].digest, format!("sha256:{}", blob_hex()));
    assert_eq!(m.blobs[0].size, BLOB.len() as u64);
    assert_eq!(report.checkpoint.note, log.note);
    // The leaf hashes are RFC 6962's, computed here independently.
    assert_eq!(
        m.entries[1].leaf_hash,
        hex::encode(Tree::new(&log.leaves[3..4]).root())
    );
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let mut log = Log::new(ORIGIN, leaves(7));
    assert_eq!(pack(&mut log), pack(&mut log));
}

#[test]
fn an_independent_zip_reader_sees_the_layout_and_the_listed_digests() {
    use std::io::Read;
    let (_, zip) = fixture();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).expect("zip crate");
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("member");
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("data");
        files.push((f.name().expect("a name").to_string(), data));
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let hex = blob_hex();
    let blob = blob_path(&hex);
    assert_eq!(
        names,
        vec![
            MANIFEST_PATH,
            SIGNATURE_PATH,
            CHECKPOINT_PATH,
            README_PATH,
            SUMMARY_PATH,
            "entries/1.leaf",
            "entries/1.tlog-proof",
            "entries/3.leaf",
            "entries/3.tlog-proof",
            "entries/4.leaf",
            "entries/4.tlog-proof",
            "entries/6.leaf",
            "entries/6.tlog-proof",
            blob.as_str(),
        ]
    );
    let manifest: Manifest = serde_json::from_slice(&files[0].1).expect("manifest");
    assert_eq!(manifest.files.len(), files.len() - 2);
    for (name, data) in &files[2..] {
        assert_eq!(
            manifest.files[name],
            hex::encode(Sha256::digest(data)),
            "{name}"
        );
    }
    // Each tlog-proof stands alone: it verifies with the log key, outside
    // the pack's verifier.
    let text = std::str::from_utf8(&files[6].1).expect("UTF-8");
    let proof = TlogProof::parse(text).expect("a tlog-proof");
    let verifier = CheckpointVerifier::new(&[manifest.verifier_key.as_str()]).expect("key");
    let (_, leaf) = proof.verify(&verifier, None).expect("verifies alone");
    assert_eq!(leaf, files[5].1);
    let readme = std::str::from_utf8(&files[3].1).expect("UTF-8");
    assert!(readme.contains("evledger verify pack --key"));
    assert!(readme.contains("What it does not prove"));
    let summary = std::str::from_utf8(&files[4].1).expect("UTF-8");
    assert!(summary.contains("@media print"));
    assert!(summary.contains("&lt;b&gt;") || !summary.contains("<b>"));
}

#[test]
fn every_changed_bit_of_the_zip_is_refused() {
    let (log, zip) = fixture();
    let key = log.key();
    for at in 0..zip.len() {
        for flip in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut bad = zip.clone();
            bad[at] ^= flip;
            assert!(
                verify_pack(&bad, &key).is_err(),
                "byte {at} of {} ^ {flip:#04x} verified",
                zip.len()
            );
        }
    }
}

#[test]
fn every_changed_byte_of_every_file_is_refused_even_with_a_right_crc() {
    // Rewriting the zip around the changed file keeps the container valid,
    // so the manifest's signature or digests must catch each change.
    let (log, zip) = fixture();
    let key = log.key();
    let original = members(&zip);
    for (i, (name, data)) in original.iter().enumerate() {
        let step = match name.as_str() {
            MANIFEST_PATH | SIGNATURE_PATH => Step::Signature,
            _ => Step::Digest,
        };
        for at in 0..data.len() {
            let mut bad = original.clone();
            bad[i].1[at] ^= 0x01;
            let err = fails_at(&write(&bad), &key, step);
            // A changed manifest shows as a signature that does not cover it.
            let blamed = if step == Step::Signature {
                SIGNATURE_PATH
            } else {
                name.as_str()
            };
            assert!(err.to_string().starts_with(blamed), "{name}: {err}");
        }
    }
}

#[test]
fn a_file_cut_short_or_grown_is_refused() {
    let (log, zip) = fixture();
    let original = members(&zip);
    for i in 0..original.len() {
        let mut shorter = original.clone();
        shorter[i].1.pop();
        assert!(verify_pack(&write(&shorter), &log.key()).is_err());
        let mut longer = original.clone();
        longer[i].1.push(b'\n');
        assert!(verify_pack(&write(&longer), &log.key()).is_err());
    }
}

#[test]
fn swapped_proofs_are_refused() {
    let (log, zip) = fixture();
    let swap = |members: &mut Members| {
        let a = file(members, "entries/3.tlog-proof").clone();
        let b = file(members, "entries/6.tlog-proof").clone();
        *file(members, "entries/3.tlog-proof") = b;
        *file(members, "entries/6.tlog-proof") = a;
    };
    let mut swapped = members(&zip);
    swap(&mut swapped);
    fails_at(&write(&swapped), &log.key(), Step::Digest);
    // Even signed by the log's own key, a proof of another entry is refused.
    let forged = forge(&zip, &log.signer, |m, _| swap(m));
    let err = fails_at(&forged, &log.key(), Step::ProofIndex);
    assert!(err.to_string().starts_with("entries/3.tlog-proof"), "{err}");
}

#[test]
fn swapped_leaves_are_refused_even_signed_by_the_log() {
    let (log, zip) = fixture();
    let forged = forge(&zip, &log.signer, |m, _| {
        let a = file(m, "entries/3.leaf").clone();
        *file(m, "entries/3.leaf") = file(m, "entries/6.leaf").clone();
        *file(m, "entries/6.leaf") = a;
    });
    let err = fails_at(&forged, &log.key(), Step::LeafHash);
    assert!(err.to_string().starts_with("entries/3.leaf"), "{err}");
    // And with the leaf hashes made to match, the proofs' extra disagrees.
    let forged = forge(&zip, &log.signer, |m, manifest| {
        let a = file(m, "entries/3.leaf").clone();
        *file(m, "entries/3.leaf") = file(m, "entries/6.leaf").clone();
        *file(m, "entries/6.leaf") = a;
        let (x, y) = (
            manifest.entries[1].leaf_hash.clone(),
            manifest.entries[3].leaf_hash.clone(),
        );
        manifest.entries[1].leaf_hash = y;
        manifest.entries[3].leaf_hash = x;
    });
    fails_at(&forged, &log.key(), Step::ProofEntry);
}

#[test]
fn a_proof_that_does_not_lead_to_the_root_is_refused_even_signed_by_the_log() {
    let (log, zip) = fixture();
    let forged = forge(&zip, &log.signer, |m, _| {
        let text = String::from_utf8(file(m, "entries/4.tlog-proof").clone()).expect("UTF-8");
        let mut proof = TlogProof::parse(&text).expect("parses");
        proof.hashes[0][0] ^= 1;
        *file(m, "entries/4.tlog-proof") = proof.to_text().into_bytes();
    });
    fails_at(&forged, &log.key(), Step::Inclusion);
    // A proof of an entry past the tree size.
    let forged = forge(&zip, &log.signer, |m, manifest| {
        let text = String::from_utf8(file(m, "entries/6.tlog-proof").clone()).expect("UTF-8");
        let mut proof = TlogProof::parse(&text).expect("parses");
        proof.index = 7;
        let renamed = |name: &mut String| *name = name.replace("entries/6.", "entries/7.");
        for (name, _) in m.iter_mut() {
            renamed(name);
        }
        *file(m, "entries/7.tlog-proof") = proof.to_text().into_bytes();
        let entry = &mut manifest.entries[3];
        entry.log_index = 7;
        renamed(&mut entry.leaf);
        renamed(&mut entry.proof);
        manifest.files = std::mem::take(&mut manifest.files)
            .into_iter()
            .map(|(mut k, v)| {
                renamed(&mut k);
                (k, v)
            })
            .collect();
    });
    fails_at(&forged, &log.key(), Step::Inclusion);
}

#[test]
fn a_proof_against_another_checkpoint_is_refused_even_signed_by_the_log() {
    let (mut log, zip) = fixture();
    // A genuine proof of entry 3 in the tree of the first 5 leaves.
    let mut small = Tree::new(&log.leaves[..5]);
    let old = log.signer.sign(5, small.root()).expect("signing").note;
    let proof = TlogProof {
        hashes: small.path(3),
        checkpoint: old,
        ..log.proof(3)
    };
    let forged = forge(&zip, &log.signer, |m, _| {
        *file(m, "entries/3.tlog-proof") = proof.to_text().into_bytes();
    });
    fails_at(&forged, &log.key(), Step::ProofCheckpoint);
}

#[test]
fn a_missing_file_is_refused() {
    let (log, zip) = fixture();
    for name in [
        CHECKPOINT_PATH,
        README_PATH,
        SUMMARY_PATH,
        "entries/4.leaf",
        "entries/6.tlog-proof",
        &blob_path(&blob_hex()),
    ] {
        let mut dropped = members(&zip);
        dropped.retain(|(n, _)| n != name);
        let err = fails_at(&write(&dropped), &log.key(), Step::Contents);
        assert!(err.to_string().starts_with(name), "{err}");
        // Dropped from the listing too, and signed again: the layout still
        // needs it (every entry has its two files; a pack has its five).
        let forged = forge(&zip, &log.signer, |m, manifest| {
            m.retain(|(n, _)| n != name);
            manifest.files.remove(name);
        });
        fails_at(&forged, &log.key(), Step::Manifest);
    }
    for name in [MANIFEST_PATH, SIGNATURE_PATH] {
        let mut dropped = members(&zip);
        dropped.retain(|(n, _)| n != name);
        fails_at(&write(&dropped), &log.key(), Step::Contents);
    }
}

#[test]
fn an_extra_file_is_refused() {
    let (log, zip) = fixture();
    for (name, at_end) in [
        ("notes.txt", true),
        ("entries/2.leaf", false),
        ("blobs/sha256/x", true),
    ] {
        let mut extra = members(&zip);
        let item = (name.to_string(), b"hello".to_vec());
        if at_end {
            extra.push(item);
        } else {
            extra.insert(5, item);
        }
        let err = fails_at(&write(&extra), &log.key(), Step::Contents);
        assert!(err.to_string().starts_with(name), "{err}");
        // Listed in a manifest signed by the log, it is still no file of a pack.
        let forged = forge(&zip, &log.signer, |m, manifest| {
            m.push((name.to_string(), b"hello".to_vec()));
            manifest.files.insert(name.to_string(), String::new());
        });
        fails_at(&forged, &log.key(), Step::Manifest);
    }
}

#[test]
fn files_out_of_order_are_refused() {
    let (log, zip) = fixture();
    let mut moved = members(&zip);
    moved.swap(5, 7);
    fails_at(&write(&moved), &log.key(), Step::Contents);
    // Entries listed out of order, or twice, in a signed manifest.
    let forged = forge(&zip, &log.signer, |_, manifest| manifest.entries.swap(0, 1));
    fails_at(&forged, &log.key(), Step::Manifest);
    let forged = forge(&zip, &log.signer, |_, manifest| {
        let first = manifest.entries[0].clone();
        manifest.entries.insert(0, first);
    });
    fails_at(&forged, &log.key(), Step::Manifest);
}

#[test]
fn a_manifest_signed_by_another_key_is_refused() {
    let (log, zip) = fixture();
    let (other, _) = LogSigner::generate(ORIGIN).expect("another key, same name");
    let forged = forge(&zip, &other, |_, _| {});
    fails_at(&forged, &log.key(), Step::Signature);
    // A signature over the manifest in another context (a fan-out event,
    // say) is not a pack signature.
    let mut members = members(&zip);
    let manifest = file(&mut members, MANIFEST_PATH).clone();
    let sig = log
        .signer
        .sign_payload("evledger-event/v1", &manifest)
        .expect("sign");
    use base64::Engine;
    *file(&mut members, SIGNATURE_PATH) = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
    .into_bytes();
    fails_at(&write(&members), &log.key(), Step::Signature);
}

#[test]
fn a_signature_file_in_another_spelling_is_refused() {
    let (log, zip) = fixture();
    let original = members(&zip);
    let sig = original[1].1.clone();
    let text = std::str::from_utf8(&sig)
        .expect("base64")
        .trim_end()
        .to_string();
    for spelling in [
        text.clone(),
        format!("{text}\r\n"),
        format!(" {text}\n"),
        format!("{text}\n\n"),
        format!("{}\n", text.trim_end_matches('=')),
    ] {
        let mut m = original.clone();
        m[1].1 = spelling.into_bytes();
        fails_at(&write(&m), &log.key(), Step::Signature);
    }
}

#[test]
fn a_pack_of_another_log_key_is_refused() {
    // A whole pack, checkpoint and manifest, by another key of the same name.
    let (log, _) = fixture();
    let mut impostor = Log::new(ORIGIN, log.leaves.clone());
    let zip = pack(&mut impostor);
    assert!(verify_pack(&zip, &impostor.key()).is_ok());
    fails_at(&zip, &log.key(), Step::Signature);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused_even_in_a_manifest_signed_by_the_log() {
    let (log, zip) = fixture();
    let mut impostor = Log::new(ORIGIN, log.leaves.clone());
    // The impostor's checkpoint, for the same tree, and its proofs.
    let proofs: Vec<(String, Vec<u8>)> = [3usize, 4, 6, 1]
        .iter()
        .map(|&i| {
            (
                format!("entries/{i}.tlog-proof"),
                impostor.proof(i).to_text().into_bytes(),
            )
        })
        .collect();
    let forged = forge(&zip, &log.signer, |m, _| {
        *file(m, CHECKPOINT_PATH) = impostor.note.clone().into_bytes();
        for (name, text) in &proofs {
            *file(m, name) = text.clone();
        }
    });
    let err = fails_at(&forged, &log.key(), Step::Checkpoint);
    assert!(err.to_string().starts_with(CHECKPOINT_PATH), "{err}");
}

#[test]
fn a_manifest_that_disagrees_with_the_checkpoint_is_refused() {
    let (log, zip) = fixture();
    let changes: [fn(&mut Manifest); 4] = [
        |m| m.tree_size += 1,
        |m| m.root_hash = "00".repeat(32),
        |m| m.origin = "log.example/other".into(),
        |m| m.verifier_key.push('x'),
    ];
    for (i, change) in changes.into_iter().enumerate() {
        let forged = forge(&zip, &log.signer, |_, m| change(m));
        let step = if i == 3 {
            Step::Manifest
        } else {
            Step::Checkpoint
        };
        fails_at(&forged, &log.key(), step);
    }
    for bad in [
        |m: &mut Manifest| m.format = "evledger-pack/v2".into(),
        |m: &mut Manifest| m.created_at = "yesterday".into(),
    ] {
        let forged = forge(&zip, &log.signer, |_, m| bad(m));
        fails_at(&forged, &log.key(), Step::Manifest);
    }
}

#[test]
fn a_blob_that_is_not_its_digest_is_refused_even_signed_by_the_log() {
    let (log, zip) = fixture();
    let path = blob_path(&blob_hex());
    let forged = forge(&zip, &log.signer, |m, _| file(m, &path).push(b' '));
    fails_at(&forged, &log.key(), Step::Blob);
    let forged = forge(&zip, &log.signer, |_, manifest| manifest.blobs[0].size += 1);
    fails_at(&forged, &log.key(), Step::Blob);
}

#[test]
fn path_traversal_names_are_refused() {
    let (log, zip) = fixture();
    // Rename README.md to ../README in both headers (same length, so the
    // offsets stay right): the container refuses the name itself.
    for name in [&b"../README"[..], b"/tmp/READ", b"READ\\E.md", b"a//ME.md."] {
        let mut bad = zip.clone();
        hostile::rename(&mut bad, 3, name);
        fails_at(&bad, &log.key(), Step::Zip);
    }
}

#[test]
fn a_zip_bomb_is_refused_without_inflating_it() {
    let (log, zip) = fixture();
    // summary.html replaced by 64 MiB of zeros deflated to some 64 KiB,
    // declared to inflate to 1 KiB.
    let mut m = members(&zip);
    m[4].1 = hostile::deflate_bomb(64);
    let mut bomb = write(&m);
    hostile::declare_deflated(&mut bomb, 4, 1024);
    let started = std::time::Instant::now();
    let err = fails_at(&bomb, &log.key(), Step::Zip);
    assert!(err.to_string().contains("compression method"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // The pack re-zipped by a standard tool (deflated) is no pack either.
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members(&zip) {
        writer.start_file(name, options).expect("start");
        writer.write_all(&data).expect("write");
    }
    let rezipped = writer.finish().expect("finish").into_inner();
    fails_at(&rezipped, &log.key(), Step::Zip);
}

#[test]
fn oversized_inputs_are_refused_before_they_are_read() {
    let (log, zip) = fixture();
    // Larger than any pack: refused on its length alone.
    let huge = vec![0u8; MAX_PACK_SIZE + 1];
    fails_at(&huge, &log.key(), Step::Limit);
    // A README over its limit, in a manifest signed by the log.
    let forged = forge(&zip, &log.signer, |m, _| {
        *file(m, README_PATH) = vec![b'a'; crate::limits::MAX_README_SIZE + 1];
    });
    let err = fails_at(&forged, &log.key(), Step::Limit);
    assert!(err.to_string().starts_with(README_PATH), "{err}");
    // More entries than a pack may hold, listed in a signed manifest.
    let forged = forge(&zip, &log.signer, |_, manifest| {
        let one = manifest.entries[0].clone();
        manifest.entries = (0..=MAX_PACK_ENTRIES as u64)
            .map(|i| crate::ManifestEntry {
                log_index: i,
                leaf: crate::manifest::leaf_path(i),
                proof: crate::manifest::proof_path(i),
                ..one.clone()
            })
            .collect();
    });
    fails_at(&forged, &log.key(), Step::Limit);
}

#[test]
fn garbage_is_refused() {
    let (log, zip) = fixture();
    for bad in [&b""[..], b"PK", &[0u8; 22], &zip[..zip.len() / 2]] {
        assert!(verify_pack(bad, &log.key()).is_err());
    }
    assert!(matches!(
        verify_pack(&zip, "not a key"),
        Err(PackError::Checkpoint(_))
    ));
}

#[test]
fn a_witness_policy_is_applied_to_the_checkpoint() {
    let mut log = Log::new(ORIGIN, leaves(7));
    let (witness, _) = Cosigner::generate("witness.example/w").expect("witness");
    let (stranger, _) = Cosigner::generate("witness.example/x").expect("witness");
    let body = log.note[..log.note.find("\n\n").expect("note") + 1].to_string();
    log.note
        .push_str(&witness.cosign(body.as_bytes(), 1_700_000_000));
    let zip = pack(&mut log);
    let key = log.key();
    let with = |w: &Cosigner| {
        CheckpointVerifier::new(&[key.as_str()])
            .expect("key")
            .with_witnesses(&[w.verifier_key()], 1)
            .expect("policy")
    };
    let report = verify_pack_with(&zip, &key, &with(&witness)).expect("cosigned");
    assert_eq!(
        report.checkpoint.cosigners,
        vec!["witness.example/w".to_string()]
    );
    let err = verify_pack_with(&zip, &key, &with(&stranger)).expect_err("not cosigned by x");
    assert_eq!(err.step(), Some(Step::Checkpoint), "{err}");
}

mod builder {
    use super::*;

    fn builder(log: &Log) -> PackBuilder {
        PackBuilder::new(&log.note, &log.key(), Scope::default(), CREATED_AT.into())
            .expect("builder")
    }

    #[test]
    fn a_checkpoint_the_key_did_not_sign_is_refused() {
        let log = Log::new(ORIGIN, leaves(3));
        let other = Log::new(ORIGIN, leaves(3));
        assert!(matches!(
            PackBuilder::new(&log.note, &other.key(), Scope::default(), CREATED_AT.into()),
            Err(PackError::Checkpoint(_))
        ));
        assert!(matches!(
            PackBuilder::new(&log.note, &log.key(), Scope::default(), "now".into()),
            Err(PackError::CreatedAt(_))
        ));
    }

    #[test]
    fn entries_whose_proof_would_not_verify_are_refused() {
        let mut log = Log::new(ORIGIN, leaves(5));
        let mut b = builder(&log);
        let leaf = log.leaves[2].clone();
        let good = log.proof(2);
        let cases: Vec<(EntryInfo, Vec<u8>, TlogProof, Step)> = vec![
            (
                info(3, Role::Entry),
                leaf.clone(),
                good.clone(),
                Step::ProofIndex,
            ),
            (
                info(2, Role::Entry),
                b"other".to_vec(),
                good.clone(),
                Step::ProofEntry,
            ),
            (
                info(2, Role::Entry),
                leaf.clone(),
                TlogProof {
                    extra: None,
                    ..good.clone()
                },
                Step::ProofEntry,
            ),
            (
                info(2, Role::Entry),
                leaf.clone(),
                TlogProof {
                    checkpoint: log.signer.sign(5, [0; 32]).expect("sign").note,
                    ..good.clone()
                },
                Step::ProofCheckpoint,
            ),
            (
                info(2, Role::Entry),
                leaf.clone(),
                TlogProof {
                    hashes: good.hashes[1..].to_vec(),
                    ..good.clone()
                },
                Step::Inclusion,
            ),
            (
                info(2, Role::Entry),
                leaf.clone(),
                TlogProof {
                    hashes: vec![[0; 32]; 64],
                    ..good.clone()
                },
                Step::ProofSyntax,
            ),
        ];
        for (info, leaf, proof, step) in cases {
            let err = b.add_entry(info, &leaf, &proof).expect_err("refused");
            assert_eq!(err.step(), Some(step), "{err}");
        }
        assert_eq!(b.entry_count(), 0);
        b.add_entry(info(2, Role::Entry), &leaf, &good)
            .expect("the good one");
        assert!(b.has_entry(2));
        assert!(matches!(
            b.add_entry(info(2, Role::Entry), &leaf, &good),
            Err(PackError::DuplicateEntry(2))
        ));
        let zip = b.finish(|m| log.sign(m)).expect("finish");
        verify_pack(&zip, &log.key()).expect("verifies");
    }

    #[test]
    fn an_empty_pack_verifies() {
        let log = Log::new(ORIGIN, leaves(1));
        let zip = builder(&log).finish(|m| log.sign(m)).expect("finish");
        let report = verify_pack(&zip, &log.key()).expect("verifies");
        assert!(report.manifest.entries.is_empty());
    }

    #[test]
    fn blobs_must_be_their_digest_and_within_the_limits() {
        let log = Log::new(ORIGIN, leaves(1));
        let mut b = builder(&log).with_blob_limit(BLOB.len() as u64 + 3);
        assert!(matches!(
            b.add_blob(&"00".repeat(32), BLOB),
            Err(PackError::BadBlob { .. })
        ));
        assert!(matches!(
            b.add_blob(&blob_hex().to_uppercase(), BLOB),
            Err(PackError::BadBlob { .. })
        ));
        assert!(matches!(
            b.add_blob("sha256:xyz", BLOB),
            Err(PackError::BadBlob { .. })
        ));
        b.add_blob(&blob_hex(), BLOB).expect("fits");
        b.add_blob(&blob_hex(), BLOB).expect("again: a no-op");
        assert_eq!(b.blob_bytes(), BLOB.len() as u64);
        assert!(b.has_blob(&format!("sha256:{}", blob_hex())));
        let more = b"more";
        let err = b
            .add_blob(&hex::encode(Sha256::digest(more)), more)
            .expect_err("past the limit");
        assert!(
            matches!(err, PackError::BlobBytes { needed, limit } if needed == BLOB.len() as u64 + 4 && limit == BLOB.len() as u64 + 3),
            "{err}"
        );
    }

    #[test]
    fn the_blob_byte_limit_holds_at_its_maximum() {
        let log = Log::new(ORIGIN, leaves(1));
        // The limit can be lowered, never raised.
        let mut b = builder(&log).with_blob_limit(u64::MAX);
        let big = vec![7u8; MAX_PACK_BLOB_BYTES as usize];
        b.add_blob(&hex::encode(Sha256::digest(&big)), &big)
            .expect("exactly the limit");
        let one = b"x";
        assert!(matches!(
            b.add_blob(&hex::encode(Sha256::digest(one)), one),
            Err(PackError::BlobBytes { .. })
        ));
        let zip = b.finish(|m| log.sign(m)).expect("finish");
        verify_pack(&zip, &log.key()).expect("verifies");
    }

    #[test]
    fn at_most_max_pack_entries_are_taken() {
        let mut log = Log::new(ORIGIN, leaves(MAX_PACK_ENTRIES + 1));
        let mut b = builder(&log);
        for i in 0..MAX_PACK_ENTRIES {
            let proof = log.proof(i);
            b.add_entry(info(i as u64, Role::Entry), &log.leaves[i].clone(), &proof)
                .expect("within the limit");
        }
        let proof = log.proof(MAX_PACK_ENTRIES);
        let err = b
            .add_entry(
                info(MAX_PACK_ENTRIES as u64, Role::Entry),
                &log.leaves[MAX_PACK_ENTRIES].clone(),
                &proof,
            )
            .expect_err("one too many");
        assert!(matches!(err, PackError::TooManyEntries { limit } if limit == MAX_PACK_ENTRIES));
        let zip = b.finish(|m| log.sign(m)).expect("finish");
        let report = verify_pack(&zip, &log.key()).expect("the largest pack verifies");
        assert_eq!(report.manifest.entries.len(), MAX_PACK_ENTRIES);
    }

    #[test]
    fn a_signer_that_fails_or_signs_with_another_key_is_refused() {
        let log = Log::new(ORIGIN, leaves(1));
        let other = Log::new(ORIGIN, leaves(1));
        assert!(matches!(
            builder(&log).finish(|m| other.sign(m)),
            Err(PackError::WrongSigner)
        ));
        assert!(matches!(
            builder(&log).finish(|m| log.signer.sign_payload("another/context", m)),
            Err(PackError::WrongSigner)
        ));
        assert!(matches!(
            builder(&log).finish(|_| Err::<Vec<u8>, _>(std::io::Error::other("HSM down"))),
            Err(PackError::Signing(_))
        ));
    }
}
