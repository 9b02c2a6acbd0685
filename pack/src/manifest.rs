//! `manifest.json`, the table of contents of a pack (format
//! `evledger-pack/v1`), and where each file of a pack lives.
//!
//! ```json
//! {
//!   "format": "evledger-pack/v1",
//!   "origin": "log.example/evidence",
//!   "verifierKey": "log.example/evidence+8a1b2c3d+AQ...",
//!   "treeSize": 123,
//!   "rootHash": "5f0c...",
//!   "createdAt": "2026-12-02T10:00:00Z",
//!   "scope": {"workflow": "build", "fromIndex": 0, "toIndex": 100, "query": null},
//!   "entries": [{"logIndex": 5, "leafHash": "9a4e...", "role": "attestation",
//!                "kind": "dsse", "workflow": "build", "subjects": ["app@sha256:ab..."],
//!                "predicateType": "https://evledger.dev/attestation/v1",
//!                "leaf": "entries/5.leaf", "proof": "entries/5.tlog-proof"}],
//!   "blobs": [{"digest": "sha256:ab...", "size": 10, "path": "blobs/sha256/ab..."}],
//!   "files": {"README.md": "<sha256 hex>", "checkpoint": "<sha256 hex>", ...}
//! }
//! ```
//!
//! The log signs the manifest's bytes (`manifest.sig`, see [`SIGNATURE_CONTEXT`]);
//! `files` gives the SHA-256 of every other file, so that signature covers
//! the whole pack. Each path is a function of what it holds (`entries/<index>.leaf`,
//! `blobs/sha256/<hex>`): one spelling per file.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The `format` of every manifest this crate writes and reads.
pub const FORMAT: &str = "evledger-pack/v1";
/// The context line of the log's signature over `manifest.json`
/// (`LogSigner::sign_payload`), so it never passes for another payload's.
pub const SIGNATURE_CONTEXT: &str = "evledger-pack/v1";

/// Path of the manifest.
pub const MANIFEST_PATH: &str = "manifest.json";
/// Path of the log's signature over the manifest (base64, one line).
pub const SIGNATURE_PATH: &str = "manifest.sig";
/// Path of the signed checkpoint every proof is against.
pub const CHECKPOINT_PATH: &str = "checkpoint";
/// Path of the instructions for auditors.
pub const README_PATH: &str = "README.md";
/// Path of the printable summary.
pub const SUMMARY_PATH: &str = "summary.html";

/// Path of entry `index`'s leaf bytes.
pub fn leaf_path(index: u64) -> String {
    format!("entries/{index}.leaf")
}

/// Path of entry `index`'s C2SP tlog-proof.
pub fn proof_path(index: u64) -> String {
    format!("entries/{index}.tlog-proof")
}

/// Path of the blob whose SHA-256 is `hex` (64 lowercase hex digits).
pub fn blob_path(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

/// Whether `s` is 64 lowercase hex digits: the one spelling of a SHA-256
/// this format uses.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `s` is an RFC 3339 UTC time, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`
/// (fields in range; the fraction 1 to 9 digits).
pub fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .and_then(|d| d.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
        || b[b.len() - 1] != b'Z'
    {
        return false;
    }
    let fraction = &b[19..b.len() - 1];
    let fraction_ok = fraction.is_empty()
        || (fraction[0] == b'.'
            && (2..=10).contains(&fraction.len())
            && fraction[1..].iter().all(u8::is_ascii_digit));
    fraction_ok
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) <= 23
        && num(14..16) <= 59
        // 60: a leap second.
        && num(17..19) <= 60
}

/// What part of the log a pack covers, as the log was asked for it. The
/// log signs it with the rest of the manifest; that the pack holds *every*
/// entry of the scope is the log's statement, not something the pack proves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// The workflow whose entries were packed.
    pub workflow: Option<String>,
    /// The first log index considered.
    pub from_index: Option<u64>,
    /// The log index where the range stops (exclusive).
    pub to_index: Option<u64>,
    /// The search criteria that selected the entries (the search API's
    /// field names: `hash`, `predicateType`, `operator`, ...), as a JSON object.
    pub query: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why an entry is in the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An evledger attestation of the scope.
    Attestation,
    /// A contract revision in force for an attestation of the scope.
    Contract,
    /// Any other log entry of the scope.
    Entry,
}

impl Role {
    /// The name the manifest uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Attestation => "attestation",
            Role::Contract => "contract",
            Role::Entry => "entry",
        }
    }
}

/// One log entry of the pack.
///
/// `kind`, `workflow`, `subjects` and `predicate_type` are the log's reading
/// of the leaf, for people and tools that sort packs: the leaf bytes are
/// what is proven; these are as trustworthy as the log's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestEntry {
    /// Index of the entry in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the leaf bytes, lowercase hex.
    pub leaf_hash: String,
    /// Why the entry is here.
    pub role: Role,
    /// The entry kind (`dsse`, `contract`, `hashedrekord`, ...).
    pub kind: String,
    /// The workflow the entry belongs to, if any.
    pub workflow: Option<String>,
    /// The attested subjects, `name@sha256:<hex>`.
    pub subjects: Vec<String>,
    /// The in-toto predicate type, if the entry holds a statement.
    pub predicate_type: Option<String>,
    /// Path of the leaf bytes: always [`leaf_path`]`(log_index)`.
    pub leaf: String,
    /// Path of the tlog-proof: always [`proof_path`]`(log_index)`.
    pub proof: String,
}

/// One CAS blob of the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestBlob {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Length of the bytes.
    pub size: u64,
    /// Path of the bytes: always [`blob_path`]`(<hex>)`.
    pub path: String,
}

/// The manifest: what the pack holds and the checkpoint it is against.
/// Entries are in log-index order, blobs in digest order, each at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The log's origin, first line of its checkpoints.
    pub origin: String,
    /// The log's note verifier key, which signs the checkpoint and the manifest.
    pub verifier_key: String,
    /// Tree size of the checkpoint.
    pub tree_size: u64,
    /// Root hash of the checkpoint, lowercase hex.
    pub root_hash: String,
    /// When the pack was made, RFC 3339 UTC.
    pub created_at: String,
    /// What the pack covers.
    pub scope: Scope,
    /// The entries, by log index.
    pub entries: Vec<ManifestEntry>,
    /// The blobs, by digest.
    pub blobs: Vec<ManifestBlob>,
    /// SHA-256 (lowercase hex) of every file of the pack but `manifest.json`
    /// and `manifest.sig`, by path. A path given twice is refused.
    #[serde(deserialize_with = "unique_files")]
    pub files: BTreeMap<String, String>,
}

/// Reads the `files` object, refusing a path given twice (serde would keep
/// the last silently, and a manifest must mean one thing).
fn unique_files<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Files;
    impl<'de> Visitor<'de> for Files {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of path to SHA-256")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut files = BTreeMap::new();
            while let Some((path, digest)) = map.next_entry::<String, String>()? {
                if files.contains_key(&path) {
                    return Err(serde::de::Error::custom(format!(
                        "files lists {path:?} twice"
                    )));
                }
                files.insert(path, digest);
            }
            Ok(files)
        }
    }
    d.deserialize_map(Files)
}

impl Manifest {
    /// The manifest as written to `manifest.json`: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising these types cannot fail: string keys, no I/O, no maps
        // with non-string keys, no floats.
        let mut bytes = serde_json::to_vec_pretty(self).expect("serialising a manifest");
        bytes.push(b'\n');
        bytes
    }

    /// Entries with `role`.
    pub fn entries_with(&self, role: Role) -> impl Iterator<Item = &ManifestEntry> {
        self.entries.iter().filter(move |e| e.role == role)
    }

    /// Sum of the blobs' sizes.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_only() {
        for good in [
            "2026-12-02T10:00:00Z",
            "1970-01-01T00:00:00.5Z",
            "2026-06-30T23:59:60.123456789Z",
        ] {
            assert!(is_rfc3339_utc(good), "{good}");
        }
        for bad in [
            "",
            "2026-12-02",
            "2026-12-02T10:00:00",
            "2026-12-02T10:00:00+01:00",
            "2026-12-02 10:00:00Z",
            "2026-13-02T10:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:00:00.Z",
            "2026-12-02T10:00:00.1234567890Z",
            "2026-12-02T10:00:00zZ",
            "+026-12-02T10:00:00Z",
        ] {
            assert!(!is_rfc3339_utc(bad), "{bad}");
        }
    }

    #[test]
    fn a_path_listed_twice_is_refused() {
        let json = r#"{"format":"evledger-pack/v1","origin":"o","verifierKey":"k","treeSize":1,
            "rootHash":"","createdAt":"","scope":{"workflow":null,"fromIndex":null,"toIndex":null,"query":null},
            "entries":[],"blobs":[],"files":{"a":"1","a":"2"}}"#;
        let err = serde_json::from_str::<Manifest>(json).expect_err("duplicate path");
        assert!(err.to_string().contains("twice"), "{err}");
        let once = json.replace(r#""a":"1","a":"2""#, r#""a":"1""#);
        assert!(serde_json::from_str::<Manifest>(&once).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"workflow":null,"fromIndex":null,"toIndex":null,"query":null,"extra":1}"#;
        assert!(serde_json::from_str::<Scope>(json).is_err());
    }
}
