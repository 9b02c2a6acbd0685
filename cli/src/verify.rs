//! `evledger verify`: checks inclusion, consistency and tlog-proof bundles,
//! trusting nothing but the log's verifier key. Online variants fetch what
//! they need from the log and check it exactly as the offline ones do.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use clap::{Args, Subcommand};
use evledger_ledger::entry::canonical_json;
use evledger_ledger::tlog_proof::TlogProof;
use evledger_ledger::{
    leaf_hash, CheckpointVerifier, ConsistencyProof, InclusionProof, SignedCheckpoint,
};
use serde_json::Value;
use sha2::Digest;

use crate::client;

#[derive(Subcommand)]
pub enum VerifyCommand {
    /// Check that an entry is in the log: from a saved entry response
    /// (`--entry FILE`) or fetched from `--url` by `--log-index`/`--leaf-hash`.
    Inclusion(InclusionArgs),
    /// Check that a newer checkpoint extends an older one: offline with
    /// `--new` and `--proof`, or against the latest checkpoint at `--url`.
    Consistency(ConsistencyArgs),
    /// Check a C2SP tlog-proof bundle offline.
    Bundle(BundleArgs),
    /// Check a detached signature (`evledger sign`) over a file.
    Blob(BlobArgs),
    /// Check a Sigstore bundle of a Rekor v2 entry offline: checkpoint,
    /// log ID, inclusion, the logged body against the bundle's signature.
    SigstoreBundle(SigstoreBundleArgs),
    /// Check an evidence pack offline: the log's signature over its
    /// manifest, every file's digest, the checkpoint, every entry's
    /// inclusion proof and every blob. Exits non-zero naming the file and
    /// the check that failed.
    Pack(PackArgs),
}

#[derive(Args)]
pub struct PackArgs {
    /// The log's verifier key (`name+id+base64`), or a file holding it
    /// (`@FILE` or a path).
    #[arg(long)]
    key: String,
    /// A trusted witness's cosignature/v1 verifier key, or a file holding
    /// it. Repeat for each witness.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many trusted witnesses must have cosigned the pack's checkpoint.
    #[arg(long, default_value_t = 0)]
    quorum: usize,
    /// The pack (zip).
    pack: PathBuf,
}

#[derive(Args)]
pub struct SigstoreBundleArgs {
    /// The log's verifier key (`name+id+base64`), or a file holding it.
    #[arg(long)]
    key: String,
    /// The signed artifact, to compare with a hashedrekord's digest.
    #[arg(long)]
    artifact: Option<PathBuf>,
    /// The bundle (`?format=sigstore-bundle`, or one a Sigstore client built).
    bundle: PathBuf,
}

#[derive(Args)]
pub struct BlobArgs {
    /// The signer's public key (PEM).
    #[arg(long)]
    public_key: PathBuf,
    /// The signature file (base64); default `<file>.sig`.
    #[arg(long)]
    signature: Option<PathBuf>,
    /// The signed file.
    file: PathBuf,
}

/// Whom to trust for checkpoints: the log's keys, and optionally a witness
/// quorum (C2SP tlog-cosignature).
#[derive(Args)]
pub struct KeyArg {
    /// The log's verifier key (`name+id+base64`), or a file holding it.
    /// Repeat during a key rotation.
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    /// A trusted witness's cosignature/v1 verifier key, or a file holding
    /// it. Repeat for each witness.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many trusted witnesses must have cosigned each checkpoint.
    #[arg(long, default_value_t = 0)]
    quorum: usize,
}

impl KeyArg {
    /// The checkpoint verifier these flags describe.
    pub fn verifier(&self) -> anyhow::Result<CheckpointVerifier> {
        let keys = self
            .keys
            .iter()
            .map(|k| key_or_file(k))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let witnesses = self
            .witnesses
            .iter()
            .map(|k| key_or_file(k))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(CheckpointVerifier::new(&keys)?.with_witnesses(&witnesses, self.quorum)?)
    }
}

/// A verifier key given inline, or the contents of the file it names:
/// `@FILE`, or a path (anything without `+` that exists).
pub(crate) fn key_or_file(key: &str) -> anyhow::Result<String> {
    if let Some(file) = key.strip_prefix('@') {
        return Ok(read(Path::new(file))?.trim().to_string());
    }
    let path = Path::new(key);
    if !key.contains('+') && path.exists() {
        Ok(read(path)?.trim().to_string())
    } else {
        Ok(key.trim().to_string())
    }
}

#[derive(Args)]
pub struct InclusionArgs {
    #[command(flatten)]
    key: KeyArg,
    /// A saved entry response (POST or GET /api/v1/log/entries).
    #[arg(long, conflicts_with = "url")]
    entry: Option<PathBuf>,
    /// Base URL of the log.
    #[arg(long)]
    url: Option<String>,
    /// With --url: the entry's log index.
    #[arg(long, requires = "url")]
    log_index: Option<u64>,
    /// With --url: the entry's leaf hash (hex).
    #[arg(long, requires = "url", conflicts_with = "log_index")]
    leaf_hash: Option<String>,
}

#[derive(Args)]
pub struct ConsistencyArgs {
    #[command(flatten)]
    key: KeyArg,
    /// The older signed checkpoint (file).
    #[arg(long)]
    old: PathBuf,
    /// The newer signed checkpoint (file); with --proof, verifies offline.
    #[arg(long, requires = "proof", conflicts_with = "url")]
    new: Option<PathBuf>,
    /// The consistency proof response (JSON with `hashes`), for offline use.
    #[arg(long, requires = "new")]
    proof: Option<PathBuf>,
    /// Base URL of the log: fetch its latest checkpoint and the proof.
    #[arg(long)]
    url: Option<String>,
    /// Write the newer checkpoint here once it is verified.
    #[arg(long)]
    save: Option<PathBuf>,
}

#[derive(Args)]
pub struct BundleArgs {
    #[command(flatten)]
    key: KeyArg,
    /// The tlog-proof file.
    bundle: PathBuf,
    /// The entry (leaf bytes) to check, if not taken from the bundle.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// A file whose SHA-256 must be a subject of the attested in-toto
    /// statement (repeatable): ties the artifacts in hand to the entry.
    #[arg(long = "artifact")]
    artifacts: Vec<PathBuf>,
}

pub fn run(command: VerifyCommand) -> anyhow::Result<()> {
    match command {
        VerifyCommand::Inclusion(args) => inclusion(args),
        VerifyCommand::Consistency(args) => consistency(args),
        VerifyCommand::Bundle(args) => bundle(args),
        VerifyCommand::Blob(args) => blob(args),
        VerifyCommand::SigstoreBundle(args) => sigstore_bundle(args),
        VerifyCommand::Pack(args) => pack(args),
    }
}

fn pack(args: PackArgs) -> anyhow::Result<()> {
    let key = key_or_file(&args.key)?;
    let witnesses = args
        .witnesses
        .iter()
        .map(|k| key_or_file(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let checkpoints = CheckpointVerifier::new(&[&key])?.with_witnesses(&witnesses, args.quorum)?;
    let path = &args.pack;
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    // Refused before it is read: no pack is larger.
    ensure!(
        size <= evledger_pack::MAX_PACK_SIZE as u64,
        "{} is {size} bytes; a pack is at most {}",
        path.display(),
        evledger_pack::MAX_PACK_SIZE
    );
    let zip = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let report = verify_pack_bytes(&zip, &key, &checkpoints)
        .with_context(|| format!("{} does not verify", path.display()))?;
    print_pack_report(&report);
    Ok(())
}

/// Verifies a pack in memory, with a spinner on stderr while it runs.
pub(crate) fn verify_pack_bytes(
    zip: &[u8],
    key: &str,
    checkpoints: &CheckpointVerifier,
) -> Result<evledger_pack::PackReport, evledger_pack::PackError> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("verifying the pack ({} bytes)", zip.len()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = evledger_pack::verify_pack_with(zip, key, checkpoints);
    spinner.finish_and_clear();
    result
}

/// Prints what a verified pack holds and what was checked.
pub(crate) fn print_pack_report(report: &evledger_pack::PackReport) {
    use evledger_pack::Role;
    let m = &report.manifest;
    println!(
        "verified: evidence pack of {} at tree size {} (root {}), made {}",
        m.origin, m.tree_size, m.root_hash, m.created_at
    );
    let cosigned = if report.checkpoint.cosigners.is_empty() {
        String::new()
    } else {
        format!(", cosigned by {}", report.checkpoint.cosigners.join(", "))
    };
    println!("  checkpoint: signed by the log key{cosigned}");
    println!(
        "  manifest: signed by the log key; every file's SHA-256 matches, none missing or extra"
    );
    println!(
        "  entries: {} ({} attestations, {} contract revisions, {} other), each in the checkpoint's tree",
        m.entries.len(),
        report.count(Role::Attestation),
        report.count(Role::Contract),
        report.count(Role::Entry)
    );
    println!(
        "  blobs: {} ({} bytes), each the bytes of its digest",
        m.blobs.len(),
        m.blob_bytes()
    );
    let mut scope = Vec::new();
    if let Some(workflow) = &m.scope.workflow {
        scope.push(format!("workflow {workflow}"));
    }
    match (m.scope.from_index, m.scope.to_index) {
        (Some(from), Some(to)) => scope.push(format!("log indexes {from} to {to} (exclusive)")),
        (Some(from), None) => scope.push(format!("from log index {from}")),
        (None, Some(to)) => scope.push(format!("below log index {to}")),
        (None, None) => {}
    }
    if let Some(query) = &m.scope.query {
        scope.push(format!(
            "search {}",
            serde_json::to_string(query).unwrap_or_default()
        ));
    }
    if !scope.is_empty() {
        println!("  scope (as the log states it): {}", scope.join(", "));
    }
}

fn sigstore_bundle(args: SigstoreBundleArgs) -> anyhow::Result<()> {
    let key = key_or_file(&args.key)?;
    let bundle = std::fs::read(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let artifact = args
        .artifact
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let verified = evledger_sigstore::bundle::verify(&bundle, &key, artifact.as_deref())
        .context("the bundle does not verify")?;
    println!(
        "OK: {} entry {} is in the log at tree size {} (checkpoint signed by the log key), \
         signed by the key with fingerprint {}",
        verified.kind, verified.log_index, verified.tree_size, verified.signer
    );
    for what in verified.unchecked {
        println!("not checked: {what}");
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn hex32(value: &Value, what: &str) -> anyhow::Result<[u8; 32]> {
    let text = value
        .as_str()
        .with_context(|| format!("{what} is missing"))?;
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{what} is not a 32-byte hex hash"))
}

/// Checks an entry response: its checkpoint's signature, the entry's leaf
/// hash, and the inclusion proof against the checkpoint's root.
fn check_entry_response(
    verifier: &CheckpointVerifier,
    response: &Value,
) -> anyhow::Result<(u64, [u8; 32], SignedCheckpoint)> {
    let note = response["checkpoint"]
        .as_str()
        .context("response has no checkpoint")?;
    let checkpoint = verifier.verify(note.as_bytes()).context("checkpoint")?;
    let (index, hash) = check_entry_against(&checkpoint, response)?;
    Ok((index, hash, checkpoint))
}

/// Checks an entry response against its checkpoint, already verified: the
/// entry's leaf hash, and the inclusion proof against the checkpoint's root.
/// Returns the entry's log index and leaf hash.
pub(crate) fn check_entry_against(
    checkpoint: &SignedCheckpoint,
    response: &Value,
) -> anyhow::Result<(u64, [u8; 32])> {
    let leaf = canonical_json(&response["entry"]).context("entry")?;
    let hash = leaf_hash(&leaf);
    if !response["leafHash"].is_null() {
        ensure!(
            hex32(&response["leafHash"], "leafHash")? == hash,
            "leafHash does not match the entry"
        );
    }
    let proof = &response["inclusionProof"];
    let index = proof["logIndex"]
        .as_u64()
        .context("inclusionProof.logIndex is missing")?;
    ensure!(
        proof["treeSize"].as_u64() == Some(checkpoint.size),
        "inclusionProof.treeSize differs from the checkpoint's size {}",
        checkpoint.size
    );
    ensure!(
        hex32(&proof["rootHash"], "inclusionProof.rootHash")? == checkpoint.root,
        "inclusionProof.rootHash differs from the checkpoint's root"
    );
    let hashes = proof["hashes"]
        .as_array()
        .context("inclusionProof.hashes is missing")?
        .iter()
        .map(|h| hex32(h, "proof hash"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    InclusionProof {
        log_index: index,
        tree_size: checkpoint.size,
        root: checkpoint.root,
        hashes,
    }
    .verify(&hash)
    .context("inclusion proof")?;
    Ok((index, hash))
}

fn inclusion(args: InclusionArgs) -> anyhow::Result<()> {
    let verifier = args.key.verifier()?;
    let response: Value = match (&args.entry, &args.url) {
        (Some(path), _) => serde_json::from_str(&read(path)?).context("entry file is not JSON")?,
        (None, Some(url)) => match (args.log_index, &args.leaf_hash) {
            (Some(index), _) => client::get_json(url, &format!("/api/v1/log/entries/{index}"))?,
            (None, Some(hash)) => {
                client::get_json(url, &format!("/api/v1/log/entries?leafHash={hash}"))?
            }
            (None, None) => bail!("--url needs --log-index or --leaf-hash"),
        },
        (None, None) => bail!("give --entry FILE or --url URL"),
    };
    let (index, hash, checkpoint) = check_entry_response(&verifier, &response)?;
    if let Some(expected) = args.log_index {
        ensure!(
            index == expected,
            "the log answered with entry {index}, not {expected}"
        );
    }
    println!(
        "verified: entry {index} (leaf hash {}) is in {} at tree size {}",
        hex::encode(hash),
        checkpoint.origin,
        checkpoint.size
    );
    Ok(())
}

fn consistency(args: ConsistencyArgs) -> anyhow::Result<()> {
    let verifier = args.key.verifier()?;
    let old = verifier
        .verify(read(&args.old)?.as_bytes())
        .context("old checkpoint")?;
    let (new, proof_json) = match (&args.new, &args.proof, &args.url) {
        (Some(new), Some(proof), _) => {
            let new = verifier
                .verify(read(new)?.as_bytes())
                .context("new checkpoint")?;
            let proof: Value =
                serde_json::from_str(&read(proof)?).context("proof file is not JSON")?;
            (new, proof)
        }
        (None, None, Some(url)) => {
            let new = verifier
                .verify(client::get_text(url, "/checkpoint")?.as_bytes())
                .context("the log's latest checkpoint")?;
            ensure!(
                new.size >= old.size,
                "ROLLBACK: the log's checkpoint has size {} < {}\nold:\n{}\nnew:\n{}",
                new.size,
                old.size,
                old.note,
                new.note
            );
            let proof = client::get_json(
                url,
                &format!(
                    "/api/v1/log/proof/consistency?firstSize={}&lastSize={}",
                    old.size, new.size
                ),
            )?;
            (new, proof)
        }
        _ => bail!("give --new FILE --proof FILE, or --url URL"),
    };
    ensure!(
        new.size >= old.size,
        "the new checkpoint ({}) is smaller than the old ({})",
        new.size,
        old.size
    );
    let hashes = proof_json["hashes"]
        .as_array()
        .context("proof has no hashes")?
        .iter()
        .map(|h| hex32(h, "proof hash"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    ConsistencyProof {
        first_size: old.size,
        last_size: new.size,
        first_root: old.root,
        last_root: new.root,
        hashes,
    }
    .verify()
    .map_err(|e| anyhow::anyhow!("INCONSISTENT: {e}\nold:\n{}\nnew:\n{}", old.note, new.note))?;
    if let Some(path) = &args.save {
        std::fs::write(path, &new.note).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "verified: {} at size {} extends size {}",
        new.origin, new.size, old.size
    );
    Ok(())
}

fn bundle(args: BundleArgs) -> anyhow::Result<()> {
    let verifier = args.key.verifier()?;
    let proof = TlogProof::parse(&read(&args.bundle)?)?;
    let entry = match &args.entry {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let (checkpoint, leaf) = proof.verify(&verifier, entry.as_deref())?;
    println!(
        "verified: entry {} (leaf hash {}) is in {} at tree size {}",
        proof.index,
        hex::encode(leaf_hash(&leaf)),
        checkpoint.origin,
        checkpoint.size
    );
    if !args.artifacts.is_empty() {
        let subjects = attested_subjects(&leaf)?;
        for artifact in &args.artifacts {
            let bytes = std::fs::read(artifact)
                .with_context(|| format!("reading {}", artifact.display()))?;
            let digest = hex::encode(sha2::Sha256::digest(&bytes));
            ensure!(
                subjects.contains(&digest),
                "{} (sha256:{digest}) is not a subject of the attested statement",
                artifact.display()
            );
            println!(
                "verified: {} is attested (sha256:{digest})",
                artifact.display()
            );
        }
    }
    Ok(())
}

/// The sha256 subject digests of the in-toto statement in a logged DSSE leaf.
fn attested_subjects(leaf: &[u8]) -> anyhow::Result<Vec<String>> {
    let entry = evledger_ledger::entry::Entry::parse_logged(leaf).context("the bundle's entry")?;
    let evledger_ledger::entry::EntryBody::Dsse(dsse) = entry.body else {
        bail!("the bundle's entry is not an attestation");
    };
    let statement = dsse
        .statement
        .context("the bundle's entry holds no in-toto statement")?;
    Ok(statement
        .subject
        .iter()
        .filter_map(|s| s.digest.get("sha256").cloned())
        .collect())
}

fn blob(args: BlobArgs) -> anyhow::Result<()> {
    let pem = read(&args.public_key)?;
    let key = evledger_ledger::entry::keys::PublicKey::from_pem(&pem)
        .context("--public-key is not an Ed25519 or P-256 PEM public key")?;
    let sig_path = args
        .signature
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.sig", args.file.display())));
    use base64::Engine;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(read(&sig_path)?.trim())
        .with_context(|| format!("{} is not base64", sig_path.display()))?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    ensure!(
        key.verify(&bytes, &signature),
        "the signature in {} does not verify {} with this key",
        sig_path.display(),
        args.file.display()
    );
    println!(
        "verified: {} is signed by key {}",
        args.file.display(),
        key.fingerprint()
    );
    Ok(())
}
