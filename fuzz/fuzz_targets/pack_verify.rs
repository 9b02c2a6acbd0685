//! Evidence packs (`evledger_pack::verify_pack`, what `evledger verify
//! pack` runs on a zip from anyone).
//!
//! Properties: verifying any bytes ends in an answer, never a panic; an
//! accepted zip is at most `MAX_PACK_SIZE`, within the entry and blob
//! limits, is in the canonical container form (its members re-encode to
//! it byte for byte), its manifest agrees with its checkpoint, and every
//! entry's index is below the tree size. A pack built over an independent
//! RFC 9162 tree (fuzz-chosen size, leaves, entries and blob) with the
//! fixed test key verifies and reports exactly what was put in; with any
//! one byte changed (fuzz-chosen offset and bits) it does not verify.
#![no_main]

use arbitrary::Arbitrary;
use evledger_fuzz::{note_signer_key, note_verifier_key, pack, LOG_ORIGIN, LOG_SEED};
use evledger_pack::container;
use evledger_pack::{verify_pack, MAX_PACK_BLOBS, MAX_PACK_ENTRIES, MAX_PACK_FILES, MAX_PACK_SIZE};
use evledger_tlog::LogSigner;
use libfuzzer_sys::fuzz_target;

/// Largest tree the structured mode builds.
const MAX_TREE: usize = 64;
/// Most entries the structured mode packs.
const MAX_PICKS: usize = 8;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A zip as an auditor receives it.
    Zip(&'a [u8]),
    /// A pack built and signed here, checked, then changed.
    Built {
        leaves: u8,
        picks: Vec<u8>,
        leaf: &'a [u8],
        blob: Option<&'a [u8]>,
        tamper: (u32, u8),
    },
}

fn key() -> String {
    note_verifier_key(LOG_ORIGIN, &LOG_SEED)
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Zip(zip) => {
        let Ok(report) = verify_pack(zip, &key()) else {
            return;
        };
        assert!(zip.len() <= MAX_PACK_SIZE);
        let m = &report.manifest;
        assert!(m.entries.len() <= MAX_PACK_ENTRIES && m.blobs.len() <= MAX_PACK_BLOBS);
        assert_eq!(
            (m.origin.as_str(), m.tree_size, m.root_hash.clone()),
            (
                report.checkpoint.origin.as_str(),
                report.checkpoint.size,
                hex::encode(report.checkpoint.root)
            )
        );
        assert!(m.entries.iter().all(|e| e.log_index < m.tree_size));
        let members = container::read(zip, MAX_PACK_FILES).expect("an accepted pack's zip reads");
        let pairs: Vec<(&str, &[u8])> = members.iter().map(|m| (m.name, m.data)).collect();
        assert_eq!(
            container::write(&pairs).expect("re-encoding an accepted zip"),
            zip,
            "an accepted pack is in the canonical form"
        );
    }
    Input::Built {
        leaves,
        picks,
        leaf,
        blob,
        tamper,
    } => {
        let signer = LogSigner::from_signer_key(&note_signer_key(LOG_ORIGIN, &LOG_SEED))
            .expect("fixed test key");
        let n = usize::from(leaves) % MAX_TREE + 1;
        let leaves: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut l = leaf.to_vec();
                l.extend_from_slice(&i.to_be_bytes());
                l
            })
            .collect();
        let mut chosen: Vec<usize> = picks
            .iter()
            .take(MAX_PICKS)
            .map(|&p| usize::from(p) % n)
            .collect();
        chosen.sort_unstable();
        chosen.dedup();
        let blobs: Vec<&[u8]> = blob.into_iter().collect();
        let zip = pack::build(&signer, &leaves, &chosen, &blobs);
        let report = verify_pack(&zip, &key()).expect("a built pack verifies");
        let indexes: Vec<u64> = report
            .manifest
            .entries
            .iter()
            .map(|e| e.log_index)
            .collect();
        assert_eq!(
            indexes,
            chosen.iter().map(|&i| i as u64).collect::<Vec<_>>()
        );
        assert_eq!(report.manifest.tree_size, n as u64);
        assert_eq!(report.manifest.blobs.len(), blobs.len());

        let (offset, bits) = tamper;
        let mut bad = zip.clone();
        let at = offset as usize % bad.len();
        bad[at] ^= bits.max(1);
        assert!(
            verify_pack(&bad, &key()).is_err(),
            "byte {at} ^ {:#04x} of a {}-byte pack verified",
            bits.max(1),
            zip.len()
        );
    }
});
