//! `evledger`: the one binary of the evidence ledger.

mod att;
mod bench;
mod client;
mod config;
mod craft;
mod index_store;
mod integration;
mod monitor;
mod pack;
mod reconcile;
mod runtime;
mod serve;
mod sigstore;
mod verify;
mod witness;
mod workflow;

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
    /// Watch a log: verify each new checkpoint against the last one (exit
    /// 3 with evidence on a fork, rollback or bad proof) and report new
    /// entries by watched keys or subjects.
    Monitor(monitor::MonitorArgs),
    /// Run a C2SP tlog-witness that cosigns checkpoints of trusted logs.
    Witness(witness::WitnessArgs),
    /// Workflows of the evidence workflow (admin).
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// A workflow's contract: update (admin) and describe.
    #[command(subcommand)]
    Contract(workflow::ContractCommand),
    /// Robot accounts: tokens scoped to one workflow (admin).
    #[command(subcommand, name = "robot-account")]
    RobotAccount(workflow::RobotCommand),
    /// Craft and push an attestation: init, add, status, push.
    #[command(subcommand)]
    Att(att::AttCommand),
    /// Write a consistent copy of a running ledger's log and evidence store
    /// (admin); `serve --data-dir` opens the copy as it is.
    Backup(workflow::BackupArgs),
    /// Integrations: where the fan-out delivers (Kafka, gRPC alert sink,
    /// webhooks), attached to workflows (admin).
    #[command(subcommand)]
    Integration(integration::IntegrationCommand),
    /// A gRPC AlertSink that verifies each event it receives and prints it
    /// as a JSON line: for tests, and a start for your own receiver.
    AlertReceiver(integration::AlertReceiverArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Generate an Ed25519 or ECDSA P-256 signing key (PKCS#8 PEM) and its public key.
    Keygen(craft::KeygenArgs),
    /// Detached signatures over files (`<file>.sig`), checked by `verify blob`.
    Sign(craft::SignArgs),
    /// Build signed entries to submit.
    #[command(subcommand)]
    Entry(craft::EntryCommand),
    /// Sigstore trust material for this log.
    #[command(subcommand)]
    Sigstore(sigstore::SigstoreCommand),
    /// Download an evidence pack (a workflow's entries, or a search's, with
    /// their proofs, contracts and blobs) and check it with `--key`.
    Pack(pack::PackArgs),
}

fn main() -> std::process::ExitCode {
    // A config file fills the environment before the flags are parsed.
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = config::requested(&args) {
        if let Err(e) = config::apply(std::path::Path::new(&path)) {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Verify(cmd) => verify::run(cmd),
        Command::Sigstore(cmd) => sigstore::run(cmd),
        Command::Monitor(args) => monitor::run(args),
        Command::Witness(args) => witness::run(args),
        Command::Workflow(cmd) => workflow::workflow(cmd),
        Command::Contract(cmd) => workflow::contract(cmd),
        Command::RobotAccount(cmd) => workflow::robot(cmd),
        Command::Att(cmd) => att::run(cmd),
        Command::Backup(args) => workflow::backup(args),
        Command::Integration(cmd) => integration::run(cmd),
        Command::AlertReceiver(args) => integration::alert_receiver(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Keygen(args) => craft::keygen(args),
        Command::Sign(args) => craft::sign(args),
        Command::Entry(cmd) => craft::entry(cmd),
        Command::Pack(args) => pack::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<monitor::Misbehaviour>() {
                std::process::ExitCode::from(monitor::MISBEHAVIOUR_EXIT)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_command_line_is_well_formed() {
        // Clap checks flag names, ids and requirements of every subcommand.
        super::Cli::command().debug_assert();
    }
}
