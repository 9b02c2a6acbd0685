//! Load generators: `evledger bench append` signs real DSSE envelopes and
//! submits them over HTTP with N concurrent clients; `evledger bench proofs`
//! asks a live log for inclusion and consistency proofs; `evledger bench
//! fanout` measures the Kafka sink against a broker baseline. Each reports
//! rate and latency percentiles, and shows progress on stderr once a second.
//! The load machinery they share is in `load`.

mod append;
mod console;
mod fanout;
mod load;
mod proofs;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Submit signed DSSE entries with concurrent clients.
    Append(append::AppendArgs),
    /// Request inclusion and consistency proofs with concurrent clients.
    Proofs(proofs::ProofsArgs),
    /// Request each page of the console with concurrent clients.
    Console(console::ConsoleArgs),
    /// Fan-out to Kafka: append at a fixed rate with a Kafka sink attached,
    /// consume the topic, and report delivery throughput and the lag from
    /// append to consumer.
    Fanout(fanout::FanoutArgs),
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let runtime = crate::runtime::multi_thread()?;
    match command {
        BenchCommand::Append(args) => runtime.block_on(append::run(args)),
        BenchCommand::Proofs(args) => runtime.block_on(proofs::run(args)),
        BenchCommand::Console(args) => runtime.block_on(console::run(args)),
        BenchCommand::Fanout(args) => runtime.block_on(fanout::run(args)),
    }
}
