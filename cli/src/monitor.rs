//! `evledger monitor`: watches a log for misbehaviour and for entries of
//! interest.
//!
//! Each round fetches `/checkpoint`, verifies its signature (and witness
//! quorum), and checks it against the last verified checkpoint in the
//! state file: a smaller size is a rollback, the same size with another
//! root a fork, a larger size must come with a consistency proof that
//! verifies (fetched from evledger's API, or built from hash tiles alone
//! with `--tiles-only`, which works for any C2SP tlog-tiles log). Only then
//! is the new checkpoint saved, atomically. Watched keys and subjects are
//! matched against the new entries read from entry bundles, each entry
//! authenticated through tiles, so a broken or lying index cannot hide one.
//!
//! Exit status: 0 when all is well (`--once`), 1 when the log could not be
//! checked (unreachable, a reset connection, a timeout, an error status
//! such as a 5xx, a missing tile, an answer over the size cap: nothing
//! the log signed is wrong, so nothing is evidence), 3 on misbehaviour,
//! after printing the evidence: only data that fails verification (a bad
//! signature, a rollback, a fork, a proof or entry that does not verify).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use evledger_indexer::keys::{hash_key, index_keys, key_key};
use evledger_ledger::entry::keys::PublicKey;
use evledger_ledger::{leaf_hash, CheckpointError, CheckpointVerifier, SignedCheckpoint};
use evledger_reconciler::{ReconcileError, TlogClient};
use serde::{Deserialize, Serialize};

use crate::verify::KeyArg;

/// Exit status of `evledger monitor` when the log misbehaved.
pub const MISBEHAVIOUR_EXIT: u8 = 3;

/// Entries read per entry bundle request.
const BUNDLE: usize = 256;

#[derive(Args)]
pub struct MonitorArgs {
    /// Base URL of the log (where `/checkpoint` and `/tile/...` are).
    #[arg(long)]
    log: String,
    #[command(flatten)]
    key: KeyArg,
    /// File holding the last verified checkpoint; created on first run.
    #[arg(long)]
    state: PathBuf,
    /// Build consistency proofs from the log's hash tiles instead of asking
    /// its API: works against any C2SP tlog-tiles log.
    #[arg(long)]
    tiles_only: bool,
    /// Check once and exit (for cron).
    #[arg(long)]
    once: bool,
    /// Seconds between checks when not --once.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Report new entries signed by this key: a SHA-256 SPKI fingerprint
    /// (hex) or a PEM public key file. Repeatable.
    #[arg(long = "watch-key", value_name = "FINGERPRINT|PEM")]
    watch_keys: Vec<String>,
    /// Report new entries about this subject digest (`sha256:<hex>`). Repeatable.
    #[arg(long = "watch-subject", value_name = "ALG:HEX")]
    watch_subjects: Vec<String>,
    /// POST a JSON alert here on misbehaviour and on watched entries.
    #[arg(long)]
    alert_url: Option<String>,
    /// Output: text, or json (one JSON object per event on stdout).
    #[arg(short = 'o', long, default_value = "text")]
    output: String,
}

/// What the state file holds: the last checkpoint verified.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MonitorState {
    log: String,
    origin: String,
    tree_size: u64,
    root_hash: String,
    checkpoint: String,
}

/// The log misbehaved; the evidence has been printed.
#[derive(Debug)]
pub struct Misbehaviour(pub String);

impl std::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the log misbehaved: {}", self.0)
    }
}

impl std::error::Error for Misbehaviour {}

pub fn run(args: MonitorArgs) -> anyhow::Result<()> {
    crate::runtime::init_tracing("text");
    anyhow::ensure!(
        args.output == "text" || args.output == "json",
        "--output must be text or json"
    );
    let verifier = args.key.verifier()?;
    let watch = watch_keys(&args.watch_keys, &args.watch_subjects)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client = TlogClient::new(&args.log, runtime.handle().clone())?;
    // The client blocks on the runtime, so the loop runs outside it.
    let monitor = Monitor {
        args: &args,
        verifier,
        client,
        watch,
    };
    loop {
        match monitor.round() {
            Ok(()) => {}
            Err(e) if e.is::<Misbehaviour>() => return Err(e),
            Err(e) if args.once => return Err(e),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "check failed; retrying"),
        }
        if args.once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}

struct Monitor<'a> {
    args: &'a MonitorArgs,
    verifier: CheckpointVerifier,
    client: TlogClient,
    watch: Vec<String>,
}

impl Monitor<'_> {
    /// One check: fetch, verify, compare, read new entries, save.
    fn round(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let previous = load_state(&self.args.state)?;
        if let Some(state) = &previous {
            if state.origin != self.verifier.origin() {
                bail!(
                    "{} holds a checkpoint of {:?}, not of {:?}",
                    self.args.state.display(),
                    state.origin,
                    self.verifier.origin()
                );
            }
        }
        let old = previous
            .as_ref()
            .map(|s| self.verifier.verify(s.checkpoint.as_bytes()))
            .transpose()
            .with_context(|| format!("the checkpoint in {}", self.args.state.display()))?;
        let note = self.client.checkpoint_note()?;
        let new = match self.verifier.verify(&note) {
            Ok(new) => new,
            // Too few cosignatures is the witnesses' outage, not the log lying.
            Err(e @ CheckpointError::Quorum { .. }) => {
                bail!("the served checkpoint is not witnessed enough yet: {e}")
            }
            Err(e) => {
                return Err(self.misbehaved(
                    "bad-signature",
                    &format!("the checkpoint does not verify: {e}"),
                    old.as_ref(),
                    &String::from_utf8_lossy(&note),
                ))
            }
        };
        let from = old.as_ref().map_or(0, |o| o.size);
        if let Some(old) = &old {
            if new.size < old.size {
                return Err(self.misbehaved(
                    "rollback",
                    &format!("the log rolled back from size {} to {}", old.size, new.size),
                    Some(old),
                    &new.note,
                ));
            }
            if new.size == old.size && new.root != old.root {
                return Err(self.misbehaved(
                    "fork",
                    &format!("size {} has two different roots", new.size),
                    Some(old),
                    &new.note,
                ));
            }
            if new.size > old.size {
                self.check_consistency(old, &new)?;
            }
        }
        let matches = if self.watch.is_empty() {
            0
        } else {
            self.watch_entries(&new, from)?
        };
        save_state(
            &self.args.state,
            &MonitorState {
                log: self.args.log.clone(),
                origin: new.origin.clone(),
                tree_size: new.size,
                root_hash: hex::encode(new.root),
                checkpoint: new.note.clone(),
            },
        )?;
        self.report(&serde_json::json!({
            "event": "verified",
            "treeSize": new.size,
            "rootHash": hex::encode(new.root),
            "previousSize": old.as_ref().map(|o| o.size),
            "newEntries": new.size - from,
            "cosigners": new.cosigners,
            "watchMatches": matches,
            "seconds": started.elapsed().as_secs_f64(),
        }));
        Ok(())
    }

    fn check_consistency(
        &self,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> anyhow::Result<()> {
        let checked = if self.args.tiles_only {
            self.client.consistency_from_tiles(old, new)
        } else {
            self.client.consistency_from_api(old, new)
        };
        match checked {
            Ok(_) => Ok(()),
            Err(ReconcileError::Untrusted(why)) => {
                Err(self.misbehaved("inconsistent", &why, Some(old), &new.note))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads entries `from..new.size` from tiles and reports those matching
    /// a watched key; returns how many matched.
    fn watch_entries(&self, new: &SignedCheckpoint, from: u64) -> anyhow::Result<u64> {
        let bar = crate::runtime::progress_bar("watch");
        bar.set_length(new.size - from);
        let mut index = from;
        let mut matches = 0;
        while index < new.size {
            let leaves = match self.client.leaves(new, index, BUNDLE) {
                Ok(leaves) => leaves,
                Err(ReconcileError::Untrusted(why)) => {
                    bar.finish_and_clear();
                    return Err(self.misbehaved("bad-entries", &why, None, &new.note));
                }
                Err(e) => return Err(e.into()),
            };
            if leaves.is_empty() {
                bail!("the log served no entries at {index}");
            }
            for leaf in &leaves {
                let keys = index_keys(leaf);
                let hits: Vec<&String> = self.watch.iter().filter(|w| keys.contains(w)).collect();
                if !hits.is_empty() {
                    matches += 1;
                    bar.suspend(|| {
                        self.report(&serde_json::json!({
                            "event": "match",
                            "logIndex": index,
                            "leafHash": hex::encode(leaf_hash(leaf)),
                            "matched": hits,
                            "entry": serde_json::from_slice::<serde_json::Value>(leaf).ok(),
                        }));
                    });
                }
                index += 1;
            }
            bar.set_position(index - from);
        }
        bar.finish_and_clear();
        Ok(matches)
    }

    /// Prints the evidence, alerts, and returns the [`Misbehaviour`].
    fn misbehaved(
        &self,
        kind: &str,
        why: &str,
        old: Option<&SignedCheckpoint>,
        new_note: &str,
    ) -> anyhow::Error {
        let event = serde_json::json!({
            "event": "misbehaviour",
            "kind": kind,
            "log": self.args.log,
            "origin": self.verifier.origin(),
            "message": why,
            "previousCheckpoint": old.map(|o| o.note.clone()),
            "currentCheckpoint": new_note,
        });
        if self.args.output == "json" {
            println!("{event}");
        } else {
            println!("MISBEHAVIOUR ({kind}): {why}");
            println!("log: {}", self.args.log);
            if let Some(old) = old {
                println!(
                    "--- last verified checkpoint (from {}) ---",
                    self.args.state.display()
                );
                print!("{}", old.note);
            }
            println!("--- checkpoint now served ---");
            print!("{new_note}");
            println!("---");
        }
        let _ = std::io::stdout().flush();
        self.alert(&event);
        Misbehaviour(format!("{kind}: {why}")).into()
    }

    /// Prints an event (and posts matches to the alert URL).
    fn report(&self, event: &serde_json::Value) {
        if self.args.output == "json" {
            println!("{event}");
        } else if event["event"] == "match" {
            println!(
                "match: entry {} (leaf {}) matched {}",
                event["logIndex"], event["leafHash"], event["matched"]
            );
        } else {
            println!(
                "verified: tree size {} root {} ({} new entries, {} watched matches, {:.2}s)",
                event["treeSize"],
                event["rootHash"].as_str().unwrap_or_default(),
                event["newEntries"],
                event["watchMatches"],
                event["seconds"].as_f64().unwrap_or_default(),
            );
        }
        if event["event"] == "match" {
            self.alert(event);
        }
    }

    fn alert(&self, event: &serde_json::Value) {
        let Some(url) = &self.args.alert_url else {
            return;
        };
        let sent = crate::client::client().and_then(|c| {
            c.post(url)
                .json(event)
                .send()
                .and_then(reqwest::blocking::Response::error_for_status)
                .map_err(anyhow::Error::from)
        });
        if let Err(e) = sent {
            tracing::error!(url = %url, error = %e, "alert not delivered");
        }
    }
}

/// The index keys the watch flags stand for.
fn watch_keys(keys: &[String], subjects: &[String]) -> anyhow::Result<Vec<String>> {
    let mut watch = Vec::new();
    for key in keys {
        let fingerprint = if Path::new(key).exists() {
            let pem = std::fs::read_to_string(key).with_context(|| format!("reading {key}"))?;
            PublicKey::from_pem(&pem)
                .with_context(|| format!("{key} is not an Ed25519 or P-256 public key PEM"))?
                .fingerprint()
        } else if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            key.to_ascii_lowercase()
        } else {
            bail!("--watch-key {key:?} is neither a PEM file nor a hex SHA-256 fingerprint");
        };
        watch.push(key_key(&fingerprint));
    }
    for subject in subjects {
        let (alg, digest) = subject
            .split_once(':')
            .with_context(|| format!("--watch-subject {subject:?} is not ALG:HEX"))?;
        anyhow::ensure!(
            !digest.is_empty() && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "--watch-subject {subject:?}: the digest is not hex"
        );
        watch.push(hash_key(alg, digest));
    }
    Ok(watch)
}

fn load_state(path: &Path) -> anyhow::Result<Option<MonitorState>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is not a monitor state file", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the state beside the old one, syncs it, renames it over, and
/// syncs the directory: a crash leaves the old state or the new one.
fn save_state(path: &Path, state: &MonitorState) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(state)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}
