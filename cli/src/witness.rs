//! `evledger witness`: a C2SP tlog-witness that cosigns checkpoints of the
//! logs it is told to trust, keeping its own state in RocksDB.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use evledger_ledger::{CheckpointVerifier, Cosigner};
use evledger_witness::Witness;
use tracing::info;

/// Default witness name (the key name on its cosignatures) for a new key.
pub const DEFAULT_NAME: &str = "evledger.local/witness";

#[derive(Args)]
pub struct WitnessArgs {
    /// Directory of the witness state and its generated key.
    #[arg(
        long,
        env = "EVLEDGER_WITNESS_DATA_DIR",
        default_value = "./evledger-witness"
    )]
    data_dir: PathBuf,
    /// Cosigner key file (PRIVATE+KEY+<name>+<id>+base64(0x04||seed)).
    /// Default: <data-dir>/witness.key, generated on first start.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Name of a newly generated key.
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
    /// Verifier key of a log to witness (its origin is the key name).
    /// Repeat for each log, or for each key of one log during a rotation.
    #[arg(long = "log", required_unless_present = "list_evidence")]
    logs: Vec<String>,
    /// Print the evidence of misbehaviour kept in <data-dir> as JSON lines
    /// and exit (works while the witness runs).
    #[arg(long)]
    list_evidence: bool,
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "EVLEDGER_WITNESS_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: SocketAddr,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
}

pub fn run(args: WitnessArgs) -> anyhow::Result<()> {
    if args.list_evidence {
        return list_evidence(&args.data_dir);
    }
    crate::runtime::init_tracing(&args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let key_path = args
        .key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("witness.key"));
    let (cosigner, generated) = Cosigner::load_or_generate(&key_path, &args.name)?;
    if generated {
        info!(path = %key_path.display(), "generated a new witness key");
    }
    // Keys of one origin form one verifier (a rotation); origins are separate logs.
    let mut by_origin: Vec<(String, Vec<String>)> = Vec::new();
    for vkey in &args.logs {
        let origin = CheckpointVerifier::new(&[vkey])?.origin().to_string();
        match by_origin.iter_mut().find(|(o, _)| *o == origin) {
            Some((_, keys)) => keys.push(vkey.clone()),
            None => by_origin.push((origin, vec![vkey.clone()])),
        }
    }
    let logs = by_origin
        .iter()
        .map(|(_, keys)| CheckpointVerifier::new(keys))
        .collect::<Result<Vec<_>, _>>()?;
    let witness = Witness::open(&args.data_dir.join("state"), cosigner, logs)
        .context("opening the witness state (is another witness using this data dir?)")?;
    let verifier_key = witness.verifier_key();
    let runtime = crate::runtime::multi_thread()?;
    runtime.block_on(async move {
        let metrics = evledger_api::metrics::install_recorder();
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        info!(listen = %bound, witness_key = %verifier_key, logs = by_origin.len(), "evledger witness serving");
        println!("witness key: {verifier_key}");
        // Tests and scripts read these two lines; keep their form.
        println!("listening on http://{bound}");
        evledger_api::witness_server::serve(
            listener,
            Arc::new(witness),
            metrics,
            crate::runtime::shutdown_signal(),
        )
        .await
        .context("serving HTTP")
    })
}

/// `--list-evidence`: one JSON object per record, `{origin, reason,
/// request, cosigned}` (the request and the checkpoint as text).
fn list_evidence(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let state = data_dir.join("state");
    let records = evledger_witness::read_evidence(&state)
        .with_context(|| format!("reading the witness state in {}", state.display()))?;
    for (origin, evidence) in records {
        let line = serde_json::json!({
            "origin": origin,
            "reason": evidence.reason,
            "request": String::from_utf8_lossy(&evidence.request),
            "cosigned": evidence.cosigned,
        });
        println!("{line}");
    }
    Ok(())
}
