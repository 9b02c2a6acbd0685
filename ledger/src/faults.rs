//! Fault injection below kill -9, for tests (cargo feature `fault-injection`,
//! off by default, never in a release build).
//!
//! kill -9 leaves the page cache intact: a write RocksDB handed to the
//! kernel survives it even if it was never fsynced, so a crash test with
//! real processes cannot tell a synced commit from an unsynced one. This
//! layer sits under every write of the [`Store`](crate::store::Store) and
//! models the disk:
//!
//! - **What is durable.** Every write is journaled in order. A synced
//!   write that succeeds makes the whole journal so far durable (RocksDB's
//!   WAL is one sequential file: its fsync covers every earlier write).
//!   [`Faults::power_cut`] freezes the disk: every later write fails, and
//!   [`Faults::rebuild_durable`] replaces the database with the durable
//!   prefix of the journal only, which is what a machine that lost power
//!   would find. The live database itself is written without fsync (the
//!   model, not the disk, decides what survives).
//! - **A synced write that fails** ([`Faults::fail_next_syncs`]): the batch
//!   reaches the database (the page cache) but is not durable, the worst
//!   case for a caller that guesses: readers of the open database could see
//!   it, a power cut loses it.
//! - **A slow disk** ([`Faults::set_sync_delay`]): every synced write first
//!   sleeps, widening the window in which a power cut lands mid-commit.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::Store;
use crate::LedgerError;

/// The injected faults of one store; share it between the test and the
/// ledger (`Ledger::open_with_faults`).
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every write that reached the database, in order, as raw batches.
    journal: Vec<Vec<u8>>,
    /// Length of the journal prefix that is durable.
    durable: usize,
    /// Synced writes still to fail.
    fail_syncs: u32,
    /// Sleep before every synced write.
    sync_delay: Duration,
    /// Set by a power cut: every write fails from then on.
    cut: bool,
    /// Synced writes that succeeded.
    synced: u64,
}

/// The error of a write refused by an injected fault.
fn injected(what: &str) -> LedgerError {
    LedgerError::Injected(what.to_string())
}

impl Faults {
    /// No faults yet: writes behave, and are journaled.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::default())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test thread that panicked while holding the lock poisons it;
        // the state itself is still whole (every update is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` synced writes fail after reaching the database, without
    /// becoming durable.
    pub fn fail_next_syncs(&self, n: u32) {
        self.state().fail_syncs = n;
    }

    /// Every synced write sleeps `delay` first (a slow disk).
    pub fn set_sync_delay(&self, delay: Duration) {
        self.state().sync_delay = delay;
    }

    /// Cuts the power: every write from now on fails, and what was not
    /// synced before is lost at [`Faults::rebuild_durable`].
    pub fn power_cut(&self) {
        self.state().cut = true;
    }

    /// Synced writes that succeeded so far.
    pub fn synced_writes(&self) -> u64 {
        self.state().synced
    }

    /// Replaces the log database of `data_dir` with what was durable at the
    /// power cut: the journal's durable prefix, replayed into a fresh
    /// database. Call it after the ledger over `data_dir` is dropped.
    ///
    /// # Errors
    ///
    /// I/O and storage errors.
    pub fn rebuild_durable(&self, data_dir: &Path) -> Result<(), LedgerError> {
        let state = self.state();
        let path = &data_dir.join(crate::LOG_DIR);
        std::fs::remove_dir_all(path).map_err(|source| LedgerError::DataDir {
            path: path.to_path_buf(),
            source,
        })?;
        Store::open(path)?.replay(&state.journal[..state.durable])
    }

    /// The one write path of a store with faults: see the module documentation.
    pub(crate) fn write(
        &self,
        db: &rocksdb::DB,
        batch: rocksdb::WriteBatch,
        sync: bool,
    ) -> Result<(), LedgerError> {
        if sync {
            let delay = self.state().sync_delay;
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
        }
        // Under the lock: the journal's order is the database's order.
        let mut state = self.state();
        if state.cut {
            return Err(injected("power cut: the disk is gone"));
        }
        let data = batch.data().to_vec();
        db.write(batch)?;
        if sync && state.fail_syncs > 0 {
            state.fail_syncs -= 1;
            // Reached the page cache, never the disk: not journaled, so a
            // power cut loses it while the open database still holds it.
            return Err(injected("fsync failed"));
        }
        state.journal.push(data);
        if sync {
            state.durable = state.journal.len();
            state.synced += 1;
        }
        Ok(())
    }
}
