//! Append-then-prove, in process: N leaves in sequencer batches (one synced
//! WriteBatch each), then random inclusion proofs against the full tree,
//! each checked. The same workload runs against pymerkle's SQLite tree in
//! the same run (`pymerkle_peer.py`), and the ratio is printed.
//!
//! `cargo bench -p evledger-ledger --bench append_prove`
//! Sizes: EVLEDGER_BENCH_LEAVES (default 100000), EVLEDGER_BENCH_PROOFS
//! (default 10000), EVLEDGER_BENCH_BATCH (default 1000).

use std::time::Instant;

use evledger_ledger::{leaf_hash, BatchPolicy, Ledger, LedgerConfig, LogSigner};
use rand::{Rng, SeedableRng};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run tiny then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        1000
    } else {
        env("EVLEDGER_BENCH_LEAVES", 100_000)
    };
    let proofs = if quick {
        100
    } else {
        env("EVLEDGER_BENCH_PROOFS", 10_000)
    };
    let batch = env("EVLEDGER_BENCH_BATCH", 1000) as usize;

    let dir = tempfile::tempdir().expect("tempdir");
    let (signer, _) = LogSigner::generate("bench.example/log").expect("key");
    let ledger = Ledger::open(LedgerConfig {
        data_dir: dir.path().join("data"),
        signer,
        batch: BatchPolicy {
            max_batch: batch,
            batch_window: std::time::Duration::ZERO,
        },
    })
    .expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let leaves: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("bench-leaf-{i}").into_bytes())
        .collect();

    let started = Instant::now();
    for (c, chunk) in leaves.chunks(batch).enumerate() {
        runtime.block_on(futures::future::join_all(
            chunk.iter().map(|leaf| ledger.append(leaf.clone())),
        ));
        if c % 20 == 0 {
            eprint!("\rappended {}/{n}", (c + 1) * batch);
        }
    }
    let append_s = started.elapsed().as_secs_f64();
    eprintln!();
    let size = ledger.checkpoint().size;
    assert_eq!(size, n);

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let started = Instant::now();
    for _ in 0..proofs {
        let index = rng.gen_range(0..size);
        let proof = ledger.inclusion_proof(index, size).expect("proof");
        proof
            .verify(&leaf_hash(&leaves[index as usize]))
            .expect("verifies");
    }
    let prove_s = started.elapsed().as_secs_f64();
    let ours = (n as f64 / append_s, proofs as f64 / prove_s);
    println!(
        "evledger: append {:.0}/s ({append_s:.2}s), inclusion proof+verify {:.0}/s ({prove_s:.2}s)",
        ours.0, ours.1
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pymerkle_peer.py");
    let db = dir.path().join("pymerkle.db");
    let peer = std::process::Command::new("python3")
        .args([
            script,
            &n.to_string(),
            &proofs.to_string(),
            &batch.to_string(),
        ])
        .arg(&db)
        .output();
    match peer {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("peer prints JSON");
            let append = v["append_per_s"].as_f64().unwrap_or(f64::NAN);
            let prove = v["prove_per_s"].as_f64().unwrap_or(f64::NAN);
            println!(
                "pymerkle (SQLite): append {append:.0}/s, inclusion proof+verify {prove:.0}/s"
            );
            println!(
                "ratio evledger/pymerkle: append {:.1}x, prove {:.1}x",
                ours.0 / append,
                ours.1 / prove
            );
        }
        Ok(out) => println!(
            "pymerkle peer skipped: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("pymerkle peer skipped: {e}"),
    }
}
