//! Invariants 1 and 2 of docs/design.md under crashes: kill -9 the server while
//! clients append, restart it, and check that every acknowledged entry is
//! still at its index with its leaf hash, that the tree is whole, and that
//! every checkpoint served before the crash is consistent with the one after.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use evledger_ledger::{CheckpointVerifier, ConsistencyProof, SignedCheckpoint};
use rand::Rng;

/// What the clients were told: index -> leaf hash, and every checkpoint seen.
#[derive(Default)]
struct Acknowledged {
    entries: BTreeMap<u64, String>,
    checkpoints: BTreeMap<u64, String>,
}

/// Downloads every entry bundle of the tree and returns the leaf hashes.
fn all_leaf_hashes(server: &Server, size: u64) -> Vec<[u8; 32]> {
    let mut hashes = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let path = if width == 256 {
            format!("/tile/entries/{n:03}")
        } else {
            format!("/tile/entries/{n:03}.p/{width}")
        };
        let (status, bundle) = server.get(&path);
        assert_eq!(status, 200, "{path}");
        let mut rest = &bundle[..];
        while !rest.is_empty() {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let leaf = &rest[2..2 + len];
            hashes.push(proof::leaf_hash(leaf));
            rest = &rest[2 + len..];
        }
    }
    assert_eq!(hashes.len() as u64, size);
    hashes
}

fn check_log(server: &Server, verifier: &CheckpointVerifier, acked: &Acknowledged) {
    let (_, note) = server.get("/checkpoint");
    let latest: SignedCheckpoint = verifier.verify(&note).expect("latest checkpoint verifies");
    let leaf_hashes = all_leaf_hashes(server, latest.size);
    // The RFC 6962 root, computed from scratch as an independent check.
    assert_eq!(
        proof::tree_root(&leaf_hashes),
        latest.root,
        "the tree is not whole"
    );
    for (index, hash) in &acked.entries {
        assert!(*index < latest.size, "acknowledged entry {index} lost");
        assert_eq!(
            &hex::encode(leaf_hashes[*index as usize]),
            hash,
            "entry {index} changed"
        );
    }
    for (size, note) in &acked.checkpoints {
        let old = verifier.verify(note.as_bytes()).expect("old checkpoint");
        let (status, consistency) = server.get_json(&format!(
            "/api/v1/log/proof/consistency?firstSize={size}&lastSize={}",
            latest.size
        ));
        assert_eq!(status, 200);
        let hashes = hex_hashes(&consistency);
        ConsistencyProof {
            first_size: old.size,
            last_size: latest.size,
            first_root: old.root,
            last_root: latest.root,
            hashes,
        }
        .verify()
        .unwrap_or_else(|e| panic!("checkpoint {size} inconsistent with {}: {e}", latest.size));
        // Same size, same root: no fork.
        assert_eq!(
            proof::tree_root(&leaf_hashes[..old.size as usize]),
            old.root
        );
    }
}

#[test]
fn acknowledged_entries_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = Arc::new(TestKey::ed25519());
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut verifier_key = None;
    let mut rng = rand::thread_rng();

    for round in 0..6 {
        let server = Server::start(&data);
        let vkey = verifier_key.get_or_insert_with(|| server.verifier_key.clone());
        assert_eq!(
            &server.verifier_key, vkey,
            "the key changed across restarts"
        );
        let verifier = CheckpointVerifier::new(&[vkey.as_str()]).unwrap();
        check_log(&server, &verifier, &acked.lock().unwrap());

        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for t in 0..8 {
            let (key, acked, stop, url) =
                (key.clone(), acked.clone(), stop.clone(), server.url.clone());
            clients.push(std::thread::spawn(move || {
                let client = http();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = attestation(&key, &format!("round{round}-client{t}-{n}"));
                    let Ok(response) = client
                        .post(format!("{url}/api/v1/log/entries"))
                        .json(&body)
                        .send()
                    else {
                        break; // the server is gone
                    };
                    if response.status() != 201 {
                        continue;
                    }
                    let Ok(answer) = response.json::<serde_json::Value>() else {
                        break;
                    };
                    // The acknowledgement must be for what this client sent.
                    assert_eq!(
                        answer["entry"]["spec"]["envelope"],
                        body["spec"]["envelope"]
                    );
                    let leaf = serde_json::to_vec(&answer["entry"]).unwrap();
                    let hash = answer["leafHash"].as_str().unwrap().to_string();
                    assert_eq!(hash, proof::leaf_hash_hex(&leaf));
                    let index = answer["logIndex"].as_u64().unwrap();
                    let note = answer["checkpoint"].as_str().unwrap().to_string();
                    let size = answer["inclusionProof"]["treeSize"].as_u64().unwrap();
                    let mut acked = acked.lock().unwrap();
                    acked.entries.insert(index, hash);
                    acked.checkpoints.insert(size, note);
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        let acked = acked.lock().unwrap();
        eprintln!(
            "round {round}: killed with {} entries and {} checkpoints acknowledged so far",
            acked.entries.len(),
            acked.checkpoints.len()
        );
    }

    let server = Server::start(&data);
    let verifier = CheckpointVerifier::new(&[server.verifier_key.as_str()]).unwrap();
    let acked = acked.lock().unwrap();
    assert!(
        acked.entries.len() > 50,
        "too few appends to mean anything: {}",
        acked.entries.len()
    );
    check_log(&server, &verifier, &acked);
}

#[test]
fn sigterm_finishes_in_flight_appends() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let key = Arc::new(TestKey::ed25519());
    let acked = Arc::new(Mutex::new(Vec::new()));
    let url = server.url.clone();
    let mut clients = Vec::new();
    for t in 0..4 {
        let (key, acked, url) = (key.clone(), acked.clone(), url.clone());
        clients.push(std::thread::spawn(move || {
            let client = http();
            for n in 0.. {
                let body = attestation(&key, &format!("term-{t}-{n}"));
                let Ok(response) = client
                    .post(format!("{url}/api/v1/log/entries"))
                    .json(&body)
                    .send()
                else {
                    break;
                };
                if response.status() != 201 {
                    break;
                }
                let Ok(answer) = response.json::<serde_json::Value>() else {
                    break;
                };
                assert_eq!(
                    answer["entry"]["spec"]["envelope"],
                    body["spec"]["envelope"]
                );
                acked.lock().unwrap().push((
                    answer["logIndex"].as_u64().unwrap(),
                    answer["leafHash"].as_str().unwrap().to_string(),
                ));
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = server.terminate();
    assert!(status.success(), "evledger exited with {status} on SIGTERM");
    for client in clients {
        client.join().unwrap();
    }
    let server = Server::start(&data);
    let acked = acked.lock().unwrap();
    assert!(!acked.is_empty());
    for (index, hash) in acked.iter() {
        let (status, entry) = server.get_json(&format!("/api/v1/log/entries/{index}"));
        assert_eq!(status, 200);
        assert_eq!(entry["leafHash"].as_str().unwrap(), hash);
    }
}
