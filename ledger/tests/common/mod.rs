//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use evledger_ledger::{BatchPolicy, Ledger, LedgerConfig, LogSigner};

/// The all-zero-seed test key of `testdata/note_vectors.json`.
pub const TEST_SIGNER_KEY: &str =
    "PRIVATE+KEY+log.example/evidence+aff48047+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Opens a fresh ledger in a temporary directory.
pub fn open_ledger() -> (Ledger, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(LedgerConfig {
        data_dir: dir.path().to_path_buf(),
        signer: LogSigner::from_signer_key(TEST_SIGNER_KEY).expect("test key"),
        batch: BatchPolicy::default(),
    })
    .expect("open ledger");
    (ledger, dir)
}

/// Appends `leaves` in order, submitting each chunk at once so that the
/// sequencer batches them, and returns the assigned indexes.
pub async fn append_in_chunks(ledger: &Ledger, leaves: &[Vec<u8>], chunks: &[usize]) -> Vec<u64> {
    let mut indexes = Vec::new();
    let mut rest = leaves;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(take);
        // join_all polls the futures in order, so they queue in order.
        let answers =
            futures::future::join_all(chunk.iter().map(|leaf| ledger.append(leaf.clone()))).await;
        for answer in answers {
            indexes.push(answer.expect("append").log_index);
        }
        rest = tail;
    }
    indexes
}

/// Decodes a hex hash.
pub fn hash(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}
