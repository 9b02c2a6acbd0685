//! `evledger`: the one binary of the evidence ledger.

mod bench;
mod client;
mod craft;
mod reconcile;
mod serve;
mod verify;

use clap::{Parser, Subcommand};

/// An append-only, transparency-log-backed evidence ledger.
#[derive(Parser)]
#[command(name = "evledger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ledger: sequencer, HTTP API and static tile paths.
    Serve(serve::ServeArgs),
    /// Build and follow the search index of a ledger running elsewhere
    /// (reads its tiles over HTTP, verifying them); --verify/--repair check it.
    Reconcile(reconcile::ReconcileArgs),
    /// Verify proofs offline (from files) or against a live log, trusting
    /// only the verifier key.
    #[command(subcommand)]
    Verify(verify::VerifyCommand),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Generate an Ed25519 or ECDSA P-256 signing key (PKCS#8 PEM) and its public key.
    Keygen(craft::KeygenArgs),
    /// Build signed entries to submit.
    #[command(subcommand)]
    Entry(craft::EntryCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Verify(cmd) => verify::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Keygen(args) => craft::keygen(args),
        Command::Entry(cmd) => craft::entry(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
