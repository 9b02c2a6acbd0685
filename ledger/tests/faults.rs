//! Faults below kill -9, through the public `Ledger` API with the
//! `fault-injection` store layer (see `src/faults.rs`): a power cut that
//! loses everything not synced, a synced write that fails, a slow disk.
//!
//! What must hold (invariants 1 and 2 of docs/design.md, and the sequencer's
//! failure rule): every acknowledged entry survives with its leaf hash,
//! every checkpoint published before the fault is consistent with the tree
//! after restart, and after a failed synced write the sequencer stops
//! instead of guessing what is on disk.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TEST_SIGNER_KEY;
use evledger_ledger::faults::Faults;
use evledger_ledger::{
    leaf_hash, BatchPolicy, CheckpointVerifier, ConsistencyProof, Halt, Ledger, LedgerConfig,
    LedgerError, LogSigner, SignedCheckpoint,
};
use rand::{Rng, SeedableRng};

/// Appends one writer tries at most (the power cut normally stops it long before).
const MAX_APPENDS_PER_WRITER: u64 = 20_000;
/// Concurrent writers in the power-cut test.
const WRITERS: usize = 8;
/// Longest a power-cut round may take before the test fails.
const ROUND_DEADLINE: Duration = Duration::from_secs(120);

fn config(dir: &Path) -> LedgerConfig {
    LedgerConfig {
        data_dir: dir.to_path_buf(),
        signer: LogSigner::from_signer_key(TEST_SIGNER_KEY).expect("test key"),
        batch: BatchPolicy {
            max_batch: 16,
            batch_window: Duration::ZERO,
        },
    }
}

fn leaf(tag: &str, n: u64) -> Vec<u8> {
    format!("{{\"tag\":\"{tag}\",\"n\":{n}}}").into_bytes()
}

/// What clients were told before the fault.
#[derive(Default)]
struct Acknowledged {
    /// log index -> leaf hash of every acknowledged append.
    entries: BTreeMap<u64, [u8; 32]>,
    /// Every checkpoint handed out, by size.
    checkpoints: BTreeMap<u64, SignedCheckpoint>,
}

/// Checks the reopened `ledger` against what was acknowledged: every entry
/// at its index with its leaf hash, every checkpoint consistent (a
/// consistency proof from it to the latest one verifies against the roots
/// the clients were given), the latest checkpoint signed by the log key.
fn check_survivors(ledger: &Ledger, acked: &Acknowledged) {
    let latest = ledger.checkpoint();
    let verifier = CheckpointVerifier::new(&[ledger.verifier_key()]).expect("verifier");
    verifier
        .verify(latest.note.as_bytes())
        .expect("the latest checkpoint verifies");
    for (index, hash) in &acked.entries {
        let entry = ledger
            .entry(*index)
            .expect("read entry")
            .unwrap_or_else(|| panic!("acknowledged entry {index} lost"));
        assert_eq!(&leaf_hash(&entry), hash, "entry {index} changed");
    }
    for (size, cp) in &acked.checkpoints {
        assert!(
            *size <= latest.size,
            "checkpoint {size} published, tree now {}",
            latest.size
        );
        let proof = ledger
            .consistency_proof(*size, latest.size)
            .expect("consistency proof");
        ConsistencyProof {
            first_root: cp.root,
            last_root: latest.root,
            ..proof
        }
        .verify()
        .unwrap_or_else(|e| {
            panic!(
                "checkpoint {size} is not consistent with {}: {e}",
                latest.size
            )
        });
    }
}

/// Appends until the ledger refuses; returns whether it was refused as fatal.
async fn write_until_refused(
    ledger: Ledger,
    writer: usize,
    acked: Arc<Mutex<Acknowledged>>,
) -> bool {
    for n in 0..MAX_APPENDS_PER_WRITER {
        let leaf = leaf(&format!("writer-{writer}"), n);
        match ledger.append(leaf.clone()).await {
            Ok(appended) => {
                assert!(!appended.duplicate);
                assert_eq!(appended.leaf_hash, leaf_hash(&leaf));
                let mut acked = acked.lock().expect("lock");
                acked.entries.insert(appended.log_index, appended.leaf_hash);
                acked
                    .checkpoints
                    .insert(appended.checkpoint.size, (*appended.checkpoint).clone());
            }
            Err(LedgerError::Fatal(_)) => return true,
            Err(e) => panic!("writer {writer}: unexpected error {e}"),
        }
    }
    false
}

/// One power cut at a random point under concurrent writers on a slow
/// disk, then a restart on what was durable.
async fn power_cut_round(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::new();
    faults.set_sync_delay(Duration::from_micros(rng.gen_range(200..2000)));
    let ledger = Ledger::open_with_faults(config(dir.path()), faults.clone()).expect("open");
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write_until_refused(ledger.clone(), w, acked.clone())))
        .collect();

    // Cut after a random number of commits, at a random instant after it
    // (often in the middle of the next synced write's delay).
    let commits = rng.gen_range(1..120);
    let started = Instant::now();
    while faults.synced_writes() < commits {
        assert!(
            started.elapsed() < ROUND_DEADLINE,
            "seed {seed}: writers stalled"
        );
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    tokio::time::sleep(Duration::from_micros(rng.gen_range(0..3000))).await;
    faults.power_cut();
    for writer in writers {
        let refused = tokio::time::timeout(ROUND_DEADLINE, writer)
            .await
            .expect("writer finished")
            .expect("writer did not panic");
        assert!(
            refused,
            "seed {seed}: a writer ran out of work before the cut"
        );
    }
    let published = ledger.checkpoint();
    assert!(
        matches!(ledger.halt(), Some(Halt::Fatal { .. })),
        "seed {seed}"
    );
    drop(ledger);

    faults.rebuild_durable(dir.path()).expect("power back on");
    let ledger = Ledger::open(config(dir.path())).expect("reopen after the power cut");
    let mut acked = Arc::try_unwrap(acked)
        .ok()
        .expect("writers are done")
        .into_inner()
        .expect("lock");
    assert!(
        !acked.entries.is_empty(),
        "seed {seed}: nothing acknowledged"
    );
    acked
        .checkpoints
        .insert(published.size, (*published).clone());
    check_survivors(&ledger, &acked);
    // Every commit that succeeded was published, and nothing else is durable.
    assert_eq!(
        (ledger.checkpoint().size, ledger.checkpoint().root),
        (published.size, published.root),
        "seed {seed}: the tree after the cut is not the last published one"
    );
    // The log goes on.
    let next = ledger
        .append(leaf("after", seed))
        .await
        .expect("append after restart");
    assert_eq!(next.log_index, published.size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_under_concurrent_writers_keeps_every_acknowledged_entry() {
    for seed in [1, 2, 3, 4] {
        power_cut_round(seed).await;
    }
}

/// Appends `count` leaves tagged `tag` sequentially, each acknowledged.
async fn append_acknowledged(ledger: &Ledger, tag: &str, count: u64) -> Acknowledged {
    let mut acked = Acknowledged::default();
    for n in 0..count {
        let appended = ledger.append(leaf(tag, n)).await.expect("append");
        acked.entries.insert(appended.log_index, appended.leaf_hash);
        acked
            .checkpoints
            .insert(appended.checkpoint.size, (*appended.checkpoint).clone());
    }
    acked
}

/// Submits `leaves` at once (one batch) and asserts each is refused as fatal.
async fn assert_all_fatal(ledger: &Ledger, leaves: &[Vec<u8>], what: &str) {
    let answers = futures::future::join_all(leaves.iter().map(|l| ledger.append(l.clone()))).await;
    for answer in answers {
        match answer {
            Err(LedgerError::Fatal(reason)) => assert!(reason.contains("fsync failed"), "{reason}"),
            other => panic!("{what}: expected the fatal error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_synced_commit_stops_the_sequencer_until_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::new();
    let ledger = Ledger::open_with_faults(config(dir.path()), faults.clone()).expect("open");
    let acked = append_acknowledged(&ledger, "before", 10).await;
    let before = ledger.checkpoint();

    faults.fail_next_syncs(1);
    let failed: Vec<_> = (0..5).map(|n| leaf("failed", n)).collect();
    assert_all_fatal(&ledger, &failed, "the batch whose sync failed").await;
    let halt = ledger.halt().expect("halted");
    assert_eq!(halt.code(), "sequencer_failed");
    assert!(halt.to_string().contains("fsync failed"), "{halt}");
    // Nothing of the failed batch is published, though it reached the database.
    assert_eq!(*ledger.checkpoint(), *before);
    assert_eq!(ledger.entry(before.size).expect("read"), None);

    // The disk works again, but the sequencer does not guess: a new leaf
    // and a retry of a failed one (whose dedup key may be on disk) are
    // both refused, never appended at or reported beyond the published tree.
    assert_all_fatal(&ledger, &[leaf("later", 0)], "a later append").await;
    assert_all_fatal(&ledger, &failed[..1], "a retried append").await;
    drop(ledger);

    // A restart reads what is really on disk: here the failed batch made
    // it to the database, and is a whole, consistent extension.
    let ledger = Ledger::open(config(dir.path())).expect("restart");
    assert_eq!(ledger.halt(), None);
    assert!(ledger.checkpoint().size >= before.size);
    check_survivors(&ledger, &acked);
    let next = ledger
        .append(leaf("after", 0))
        .await
        .expect("append after restart");
    assert_eq!(next.log_index, ledger.checkpoint().size - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_after_a_failed_sync_loses_only_unacknowledged_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::new();
    let ledger = Ledger::open_with_faults(config(dir.path()), faults.clone()).expect("open");
    let acked = append_acknowledged(&ledger, "before", 10).await;
    let before = ledger.checkpoint();

    faults.fail_next_syncs(1);
    let failed: Vec<_> = (0..5).map(|n| leaf("failed", n)).collect();
    assert_all_fatal(&ledger, &failed, "the batch whose sync failed").await;
    faults.power_cut();
    drop(ledger);

    faults.rebuild_durable(dir.path()).expect("power back on");
    let ledger = Ledger::open(config(dir.path())).expect("restart");
    assert_eq!(
        *ledger.checkpoint(),
        *before,
        "the tree is the last published one"
    );
    check_survivors(&ledger, &acked);
    for l in &failed {
        assert_eq!(ledger.index_of(&leaf_hash(l)).expect("lookup"), None);
    }
    // The refused leaves can be submitted again and land after the tree.
    let again = ledger
        .append(failed[0].clone())
        .await
        .expect("append again");
    assert_eq!((again.log_index, again.duplicate), (before.size, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_batches_waiters_and_acknowledges_only_durable_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::new();
    faults.set_sync_delay(Duration::from_millis(20));
    let ledger = Ledger::open_with_faults(config(dir.path()), faults.clone()).expect("open");
    let leaves: Vec<_> = (0..32).map(|n| leaf("slow", n)).collect();
    let answers = futures::future::join_all(leaves.iter().map(|l| ledger.append(l.clone()))).await;
    let mut acked = Acknowledged::default();
    for answer in answers {
        let appended = answer.expect("append on a slow disk");
        acked.entries.insert(appended.log_index, appended.leaf_hash);
        acked
            .checkpoints
            .insert(appended.checkpoint.size, (*appended.checkpoint).clone());
    }
    // While one commit waits on the disk, the others queue into one batch.
    assert!(
        acked.checkpoints.len() <= 32 / 16 + 2,
        "{} commits for 32 entries",
        acked.checkpoints.len()
    );
    faults.power_cut();
    drop(ledger);
    faults.rebuild_durable(dir.path()).expect("power back on");
    let ledger = Ledger::open(config(dir.path())).expect("restart");
    assert_eq!(ledger.checkpoint().size, 32);
    check_survivors(&ledger, &acked);
}
