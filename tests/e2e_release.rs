//! The release supply chain: `scripts/release` builds nothing here (it is
//! given the binary under test), writes a CycloneDX SBOM, signs binary and
//! SBOM, and attests all of it into a running evledger under the release
//! workflow's contract; the saved proof and signatures verify offline, and a
//! tampered artifact does not.

mod common;

use std::process::Command;

use common::*;

#[test]
fn a_release_is_attested_and_verifies_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

    // The release workflow, its contract, and a robot token for CI.
    let client = http();
    let r = client
        .post(format!("{}/api/v1/workflows", server.url))
        .json(&serde_json::json!({"name": "release", "project": "evledger"}))
        .send()
        .expect("POST workflow");
    assert_eq!(r.status().as_u16(), 201);
    let contract =
        std::fs::read(format!("{repo}/scripts/release.contract.yaml")).expect("contract");
    let r = client
        .put(format!("{}/api/v1/workflows/release/contract", server.url))
        .body(contract)
        .send()
        .expect("PUT contract");
    assert_eq!(r.status().as_u16(), 201);
    let robot: serde_json::Value = client
        .post(format!(
            "{}/api/v1/workflows/release/robot-accounts",
            server.url
        ))
        .send()
        .expect("POST robot")
        .json()
        .expect("JSON");
    let token = robot["token"].as_str().expect("token");

    let key = dir.path().join("release.pem");
    assert_ok(&cli(&["keygen", "--out", &key.display().to_string()]));
    let dist = dir.path().join("dist");
    let out = Command::new(format!("{repo}/scripts/release"))
        .args(["--url", &server.url, "--token", token, "--bin", binary()])
        .arg("--key")
        .arg(&key)
        .arg("--out")
        .arg(&dist)
        .output()
        .expect("run scripts/release");
    let said = assert_ok(&out);
    assert!(said.contains("attestation logged"), "{said}");

    // On a fresh machine: the log key, the signer's public key, the files.
    let file = |name: &str| dist.join(name).display().to_string();
    let (binary_file, sbom, bundle) = (
        file("evledger"),
        file("evledger.cdx.json"),
        file("evledger.tlog-proof"),
    );
    let pubkey = format!("{}.pub", key.display());
    let verified = assert_ok(&cli(&[
        "verify",
        "bundle",
        "--key",
        &server.verifier_key,
        "--artifact",
        &binary_file,
        "--artifact",
        &sbom,
        &bundle,
    ]));
    assert!(verified.contains("is attested"), "{verified}");
    for signed in [&binary_file, &sbom] {
        assert_ok(&cli(&["verify", "blob", "--public-key", &pubkey, signed]));
    }
    let sbom_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom).expect("sbom")).expect("SBOM JSON");
    assert_eq!(sbom_json["bomFormat"], "CycloneDX");
    assert!(sbom_json["components"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));

    // A tampered binary is caught by both checks.
    let tampered = dir.path().join("evledger-tampered");
    let mut bytes = std::fs::read(&binary_file).expect("binary");
    bytes.push(0);
    std::fs::write(&tampered, bytes).expect("write");
    let tampered = tampered.display().to_string();
    let err = assert_fails(&cli(&[
        "verify",
        "bundle",
        "--key",
        &server.verifier_key,
        "--artifact",
        &tampered,
        &bundle,
    ]));
    assert!(err.contains("is not a subject"), "{err}");
    let sig = format!("{binary_file}.sig");
    assert_fails(&cli(&[
        "verify",
        "blob",
        "--public-key",
        &pubkey,
        "--signature",
        &sig,
        &tampered,
    ]));
}
