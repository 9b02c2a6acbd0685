//! `evledger sigstore`: the trust material Sigstore clients need to verify
//! this log's entries offline, built from the log's verifier key alone (no
//! request to the log: pin the key you obtained out of band).

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum SigstoreCommand {
    /// Print a `trusted_root.json` naming this log (or, with
    /// `--client-trust-config`, a client trust config whose signing config
    /// sends Rekor v2 writes to `--url`).
    TrustedRoot(TrustedRootArgs),
}

#[derive(Args)]
pub struct TrustedRootArgs {
    /// The URL clients reach the log at.
    #[arg(long)]
    url: String,
    /// The log's verifier key (`name+id+base64`).
    #[arg(long)]
    key: String,
    /// Print a client trust config (`clienttrustconfig.v0.1`) instead.
    #[arg(long)]
    client_trust_config: bool,
}

/// Runs a `sigstore` subcommand.
pub fn run(command: SigstoreCommand) -> anyhow::Result<()> {
    match command {
        SigstoreCommand::TrustedRoot(args) => {
            let key = evledger_sigstore::LogKey::from_verifier_key(&args.key)?;
            let document = if args.client_trust_config {
                evledger_sigstore::trust::client_trust_config(&key, &args.url)?
            } else {
                evledger_sigstore::trust::trusted_root(&key, &args.url)?
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&document).context("encoding")?
            );
            Ok(())
        }
    }
}
