//! Helpers shared by the fuzz targets: fixed test keys (so a target can
//! build inputs that get past signature checks), an independent RFC 9162
//! Merkle tree to check proofs against, and small assertions.
//!
//! Nothing here is used outside `fuzz/`; the keys are public test keys.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

/// Seed of the log key every signature-bearing target signs with.
pub const LOG_SEED: [u8; 32] = [0x4c; 32];
/// Origin (key name) of the fixed test log.
pub const LOG_ORIGIN: &str = "fuzz.example/log";
/// Seed of the fixed test witness.
pub const WITNESS_SEED: [u8; 32] = [0x57; 32];
/// Name of the fixed test witness.
pub const WITNESS_NAME: &str = "fuzz.example/witness";
/// Note signature type byte of Ed25519 keys (C2SP signed-note).
const NOTE_ED25519: u8 = 0x01;
/// Signature type byte of `cosignature/v1` keys (C2SP tlog-cosignature).
const COSIGNATURE_V1: u8 = 0x04;

/// The note signer key string `PRIVATE+KEY+<name>+<id>+<base64(0x01||seed)>`
/// of `seed` under `name`.
pub fn note_signer_key(name: &str, seed: &[u8; 32]) -> String {
    typed_signer_key(name, seed, NOTE_ED25519)
}

/// The note verifier key `<name>+<id>+<base64(0x01||public)>` of `seed`.
pub fn note_verifier_key(name: &str, seed: &[u8; 32]) -> String {
    typed_verifier_key(name, seed, NOTE_ED25519)
}

/// The `cosignature/v1` signer key of `seed` under `name`.
pub fn cosigner_key(name: &str, seed: &[u8; 32]) -> String {
    typed_signer_key(name, seed, COSIGNATURE_V1)
}

/// The `cosignature/v1` verifier key of `seed` under `name`.
pub fn cosignature_verifier_key(name: &str, seed: &[u8; 32]) -> String {
    typed_verifier_key(name, seed, COSIGNATURE_V1)
}

fn typed_public(seed: &[u8; 32], alg: u8) -> Vec<u8> {
    let mut key = vec![alg];
    key.extend_from_slice(SigningKey::from_bytes(seed).verifying_key().as_bytes());
    key
}

fn typed_signer_key(name: &str, seed: &[u8; 32], alg: u8) -> String {
    let id = signed_note::key_id(name, &typed_public(seed, alg));
    let mut private = vec![alg];
    private.extend_from_slice(seed);
    format!("PRIVATE+KEY+{name}+{id:08x}+{}", B64.encode(private))
}

fn typed_verifier_key(name: &str, seed: &[u8; 32], alg: u8) -> String {
    let public = typed_public(seed, alg);
    let id = signed_note::key_id(name, &public);
    format!("{name}+{id:08x}+{}", B64.encode(public))
}

/// A signature line of a key the verifier does not know: name, key ID and
/// signature bytes as given (C2SP signed-note: verifiers ignore it).
pub fn foreign_signature_line(name: &str, id: u32, sig: &[u8]) -> String {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend_from_slice(sig);
    format!("— {name} {}\n", B64.encode(bytes))
}

/// The checkpoint body (C2SP tlog-checkpoint) with extension lines.
pub fn checkpoint_body(origin: &str, size: u64, root: &[u8; 32], extensions: &[String]) -> String {
    let mut body = format!("{origin}\n{size}\n{}\n", B64.encode(root));
    for line in extensions {
        body.push_str(line);
        body.push('\n');
    }
    body
}

/// A key name C2SP signed-note accepts: non-empty, no Unicode space, no `+`.
pub fn is_key_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// An independent RFC 9162 §2.1 Merkle tree over leaf hashes, to check the
/// proofs the crates build and verify against.
pub mod merkle {
    use super::{Digest, Sha256};

    /// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
    pub fn leaf(data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(data);
        h.finalize().into()
    }

    /// A stand-in leaf hash for position `i`: no leaf hashes to it (it is
    /// not SHA-256 of 0x00 and anything), so it never equals a fuzzed leaf.
    pub fn filler(i: usize) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"evledger-fuzz filler ");
        h.update(i.to_be_bytes());
        h.finalize().into()
    }

    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }

    /// The largest power of two below `n` (`n` ≥ 2).
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]) over leaf hashes (§2.1.1).
    pub fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]), the inclusion proof of leaf `m` (§2.1.3.1).
    pub fn inclusion(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        let mut path;
        if m < k {
            path = inclusion(m, &leaves[..k]);
            path.push(root(&leaves[k..]));
        } else {
            path = inclusion(m - k, &leaves[k..]);
            path.push(root(&leaves[..k]));
        }
        path
    }

    /// The root that `leaf` at `index` and its inclusion `path` lead to in
    /// a tree of `size` leaves (RFC 9162 §2.1.3.2), or `None` if the path
    /// is not one of such a tree.
    pub fn root_from_path(
        index: u64,
        size: u64,
        leaf: [u8; 32],
        path: &[[u8; 32]],
    ) -> Option<[u8; 32]> {
        if index >= size {
            return None;
        }
        let (mut f, mut s) = (index, size - 1);
        let mut r = leaf;
        for p in path {
            if s == 0 {
                return None;
            }
            if f & 1 == 1 || f == s {
                r = node(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        (s == 0).then_some(r)
    }

    /// PROOF(m, D[n]), the consistency proof from size `m` (§2.1.4.1).
    pub fn consistency(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        if m == 0 || m >= leaves.len() {
            return Vec::new();
        }
        subproof(m, leaves, true)
    }

    fn subproof(m: usize, leaves: &[[u8; 32]], whole: bool) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if m == n {
            return if whole {
                Vec::new()
            } else {
                vec![root(leaves)]
            };
        }
        let k = split(n);
        let mut proof;
        if m <= k {
            proof = subproof(m, &leaves[..k], whole);
            proof.push(root(&leaves[k..]));
        } else {
            proof = subproof(m - k, &leaves[k..], false);
            proof.push(root(&leaves[..k]));
        }
        proof
    }
}

/// Re-encodes JSON through `serde_json::Value`, compact or pretty: the same
/// document with other white space and key order.
pub fn reencode_json(value: &serde_json::Value, pretty: bool) -> Vec<u8> {
    // Serialising a parsed `Value` to a Vec cannot fail (no I/O, string keys).
    if pretty {
        serde_json::to_vec_pretty(value).expect("re-encoding parsed JSON")
    } else {
        serde_json::to_vec(value).expect("re-encoding parsed JSON")
    }
}

/// The contract round trip both contract targets check.
pub mod contract {
    use evledger_contract::{Contract, MAX_CONTRACT_SIZE};

    /// Parses `data`; if it is accepted, checks that it is within the limit
    /// and valid, and that YAML and JSON renderings of it (when within the
    /// limit themselves) parse back to the same contract.
    pub fn check(data: &[u8]) {
        let Ok(contract) = Contract::parse(data) else {
            return;
        };
        assert!(data.len() <= MAX_CONTRACT_SIZE);
        assert_eq!(contract.validate(), Ok(()));
        let yaml = serde_yaml_ng::to_string(&contract).expect("a contract renders as YAML");
        let json = serde_json::to_vec(&contract).expect("a contract renders as JSON");
        let pretty = serde_json::to_vec_pretty(&contract).expect("a contract renders as JSON");
        for (form, text) in [
            ("YAML", yaml.as_bytes()),
            ("JSON", &json),
            ("pretty JSON", &pretty),
        ] {
            if text.len() > MAX_CONTRACT_SIZE {
                continue;
            }
            match Contract::parse(text) {
                Ok(again) => assert_eq!(
                    again,
                    contract,
                    "{form} round trip:\n{}",
                    String::from_utf8_lossy(text)
                ),
                Err(e) => panic!(
                    "{form} rendering does not parse: {e}\n{}",
                    String::from_utf8_lossy(text)
                ),
            }
        }
    }
}

/// The checks the material targets share.
pub mod material {
    use evledger_contract::materials::validate_blob;
    use evledger_contract::MaterialType;

    /// Validates `data` as `kind`. For an accepted JSON document: it is a
    /// JSON object carrying `required` (each a string member), and it is
    /// still accepted re-encoded (compact, pretty: other white space, other
    /// key order). Returns whether it was accepted.
    pub fn check_json(kind: MaterialType, data: &[u8], required: &[&str]) -> bool {
        let accepted = validate_blob(kind, data).is_ok();
        assert_eq!(validate_blob(kind, data).is_ok(), accepted, "deterministic");
        if !accepted {
            return false;
        }
        let value: serde_json::Value =
            serde_json::from_slice(data).expect("an accepted document is JSON");
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("accepted a {kind} that is not a JSON object: {value}"));
        for field in required {
            assert!(
                object.get(*field).is_some_and(serde_json::Value::is_string),
                "accepted a {kind} without a string {field:?}"
            );
        }
        for pretty in [false, true] {
            let again = crate::reencode_json(&value, pretty);
            if let Err(e) = validate_blob(kind, &again) {
                panic!(
                    "{kind} accepted, then refused re-encoded: {e}\n{}",
                    String::from_utf8_lossy(&again)
                );
            }
        }
        true
    }
}

/// Evidence packs built here with the fixed test log key, for the
/// `pack_verify` target and its seeds.
pub mod pack {
    use evledger_pack::{EntryInfo, PackBuilder, Role, Scope, SIGNATURE_CONTEXT};
    use evledger_tlog::tlog_proof::TlogProof;
    use evledger_tlog::LogSigner;

    use crate::merkle;

    /// The `createdAt` of every pack built here.
    pub const CREATED_AT: &str = "2026-12-02T10:00:00Z";

    /// A pack of the entries at `picks` (indexes into `leaves`, each once)
    /// of the tree of `leaves`, every third a contract revision, with
    /// `blobs`, signed by `signer`.
    pub fn build(
        signer: &LogSigner,
        leaves: &[Vec<u8>],
        picks: &[usize],
        blobs: &[&[u8]],
    ) -> Vec<u8> {
        let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| merkle::leaf(l)).collect();
        let checkpoint = signer
            .sign(leaves.len() as u64, merkle::root(&hashes))
            .expect("signing with the test key");
        let mut builder = PackBuilder::new(
            &checkpoint.note,
            signer.verifier_key(),
            Scope {
                workflow: Some("build".into()),
                from_index: Some(0),
                to_index: Some(leaves.len() as u64),
                query: None,
            },
            CREATED_AT.into(),
        )
        .expect("the test key signed the checkpoint");
        for (n, &i) in picks.iter().enumerate() {
            let role = if n % 3 == 2 {
                Role::Contract
            } else {
                Role::Attestation
            };
            let proof = TlogProof {
                extra: Some(leaves[i].clone()),
                index: i as u64,
                hashes: merkle::inclusion(i, &hashes),
                checkpoint: checkpoint.note.clone(),
            };
            let info = EntryInfo {
                log_index: i as u64,
                role,
                kind: "dsse".into(),
                workflow: Some("build".into()),
                subjects: vec![format!("app@sha256:{}", "ab".repeat(32))],
                predicate_type: Some("https://evledger.dev/attestation/v1".into()),
            };
            builder
                .add_entry(info, &leaves[i], &proof)
                .expect("an entry of an independent tree verifies");
        }
        for blob in blobs {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(blob));
            builder
                .add_blob(&digest, blob)
                .expect("a blob under its digest");
        }
        builder
            .finish(|m| signer.sign_payload(SIGNATURE_CONTEXT, m))
            .expect("signing with the test key")
    }
}
