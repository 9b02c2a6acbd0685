//! What a sink sends: one log entry as a CloudEvents 1.0 event whose data
//! carries the entry, its log index and leaf hash, its inclusion proof and
//! the signed checkpoint the proof is against. A consumer that holds the
//! log's verifier key needs to trust nothing between the log and itself.
//!
//! | attribute            | value                                        |
//! |----------------------|----------------------------------------------|
//! | `specversion`        | `1.0`                                        |
//! | `type`               | `dev.evledger.entry.v1`                      |
//! | `id`                 | the leaf hash, hex (the dedup key)           |
//! | `source`             | the log origin                               |
//! | `subject`            | the workflow, when the entry names one       |
//! | `datacontenttype`    | `application/json`                           |
//! | `evledgerlogindex`   | the log index (extension)                    |
//! | `evledgerkind`       | the entry kind (extension)                   |
//!
//! The data is the shape of the API's entry answer: `logIndex`, `leafHash`,
//! `entry` (the leaf bytes verbatim: canonical JSON), `checkpoint`,
//! `inclusionProof`.

use std::sync::Arc;

use evledger_ledger::proof::InclusionProofJson;
use evledger_ledger::InclusionProof;
use serde::Serialize;
use serde_json::value::RawValue;

/// The CloudEvents `type` of a log entry.
pub const EVENT_TYPE: &str = "dev.evledger.entry.v1";
/// The CloudEvents spec version.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of the event data.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// Content type of a structured-mode event.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// One entry of the log with the proof of its place.
#[derive(Debug, Clone)]
pub struct EntryEvent {
    /// The log origin (the CloudEvents `source`).
    pub origin: Arc<str>,
    /// Index of the entry.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: [u8; 32],
    /// The leaf bytes: the entry's canonical JSON.
    pub leaf: Vec<u8>,
    /// Entry kind (`dsse`, `contract`).
    pub kind: String,
    /// The workflow the entry belongs to, if it names one.
    pub workflow: Option<String>,
    /// Inclusion proof of the entry in the tree of the checkpoint.
    pub proof: InclusionProof,
    /// The signed checkpoint note the proof is against.
    pub checkpoint: Arc<str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataJson<'a> {
    log_index: u64,
    leaf_hash: String,
    entry: &'a RawValue,
    checkpoint: &'a str,
    inclusion_proof: InclusionProofJson,
}

#[derive(Serialize)]
struct StructuredJson<'a> {
    specversion: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    datacontenttype: &'static str,
    evledgerlogindex: String,
    evledgerkind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliverytime: Option<u64>,
    data: &'a DataJson<'a>,
}

impl EntryEvent {
    /// The CloudEvents `id`: the leaf hash in hex.
    pub fn id(&self) -> String {
        hex::encode(self.leaf_hash)
    }

    /// Runs `f` on the event data. The leaf is canonical JSON written by
    /// the ledger; should it ever not parse, it is carried as a JSON string
    /// rather than dropped.
    fn with_data<R>(&self, f: impl FnOnce(&DataJson<'_>) -> R) -> R {
        let quoted;
        let entry: &RawValue = match serde_json::from_slice::<&RawValue>(&self.leaf) {
            Ok(raw) => raw,
            Err(_) => {
                quoted = serde_json::value::to_raw_value(&String::from_utf8_lossy(&self.leaf))
                    .unwrap_or_else(|_| RawValue::NULL.to_owned());
                &quoted
            }
        };
        f(&DataJson {
            log_index: self.log_index,
            leaf_hash: self.id(),
            entry,
            checkpoint: &self.checkpoint,
            inclusion_proof: InclusionProofJson::from(&self.proof),
        })
    }

    /// The event data (JSON), the payload of binary-mode messages.
    pub fn data_json(&self) -> Vec<u8> {
        self.with_data(|data| serde_json::to_vec(data).unwrap_or_default())
    }

    /// The context attributes, in the order of the table above; binary
    /// modes carry them as headers or metadata.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = vec![
            ("specversion", SPEC_VERSION.to_string()),
            ("type", EVENT_TYPE.to_string()),
            ("id", self.id()),
            ("source", self.origin.to_string()),
        ];
        if let Some(workflow) = &self.workflow {
            attributes.push(("subject", workflow.clone()));
        }
        attributes.push(("datacontenttype", DATA_CONTENT_TYPE.to_string()));
        attributes.push(("evledgerlogindex", self.log_index.to_string()));
        attributes.push(("evledgerkind", self.kind.clone()));
        attributes
    }

    /// The whole event as structured-mode JSON. `delivery_time` (Unix
    /// seconds), when given, is carried as the `deliverytime` extension so
    /// that a signature over the body covers it.
    pub fn structured_json(&self, delivery_time: Option<u64>) -> Vec<u8> {
        self.with_data(|data| {
            serde_json::to_vec(&StructuredJson {
                specversion: SPEC_VERSION,
                kind: EVENT_TYPE,
                id: self.id(),
                source: &self.origin,
                subject: self.workflow.as_deref(),
                datacontenttype: DATA_CONTENT_TYPE,
                evledgerlogindex: self.log_index.to_string(),
                evledgerkind: &self.kind,
                deliverytime: delivery_time,
                data,
            })
            .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EntryEvent {
        let leaf = br#"{"kind":"dsse","spec":{}}"#.to_vec();
        EntryEvent {
            origin: "example.com/log".into(),
            log_index: 7,
            leaf_hash: evledger_ledger::leaf_hash(&leaf),
            leaf,
            kind: "dsse".into(),
            workflow: Some("build".into()),
            proof: InclusionProof {
                log_index: 7,
                tree_size: 8,
                root: [1; 32],
                hashes: vec![[2; 32]],
            },
            checkpoint: "example.com/log\n8\nAQ==\n".into(),
        }
    }

    #[test]
    fn structured_event_carries_entry_verbatim_and_attributes() {
        let e = event();
        let json: serde_json::Value = serde_json::from_slice(&e.structured_json(Some(5))).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], EVENT_TYPE);
        assert_eq!(json["id"], hex::encode(e.leaf_hash));
        assert_eq!(json["subject"], "build");
        assert_eq!(json["evledgerlogindex"], "7");
        assert_eq!(json["deliverytime"], 5);
        assert_eq!(json["data"]["logIndex"], 7);
        assert_eq!(json["data"]["inclusionProof"]["treeSize"], 8);
        let entry = serde_json::to_vec(&json["data"]["entry"]).unwrap();
        assert_eq!(entry, e.leaf, "the entry is the leaf, byte for byte");
    }

    #[test]
    fn subject_is_left_out_without_a_workflow() {
        let mut e = event();
        e.workflow = None;
        let json: serde_json::Value = serde_json::from_slice(&e.structured_json(None)).unwrap();
        assert!(json.get("subject").is_none());
        assert!(json.get("deliverytime").is_none());
        assert!(!e.attributes().iter().any(|(k, _)| *k == "subject"));
    }
}
