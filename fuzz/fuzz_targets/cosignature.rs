//! Witness cosignatures and note keys (`evledger_tlog::cosignature`,
//! `evledger_tlog::checkpoint::LogSigner`): key strings as configured, and
//! `cosignature/v1` signatures on fuzz-chosen checkpoint bodies and times.
//!
//! Properties: an accepted witness verifier key is its own canonical
//! spelling (name, lowercase key ID, base64 of 0x04 and the key); a
//! cosigner or log signer key that parses yields a verifier key that
//! parses and names the same key; a cosignature verifies over exactly the
//! body and time it was made for (C2SP tlog-cosignature), and fails for
//! any other body, a changed time or signature byte, or a fuzz-made
//! signature.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use evledger_fuzz::{cosigner_key, WITNESS_NAME, WITNESS_SEED};
use evledger_tlog::cosignature::COSIGNATURE_V1_ALG;
use evledger_tlog::{CheckpointVerifier, CosignatureVerifier, Cosigner, LogSigner};
use libfuzzer_sys::fuzz_target;
use signed_note::Verifier;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A witness verifier key as configured.
    WitnessKey(&'a str),
    /// A cosigner signer key as configured.
    CosignerKey(&'a str),
    /// A log signer key as configured.
    LogKey(&'a str),
    /// A cosignature by the fixed witness over a body at a time.
    Cosign {
        body: &'a [u8],
        time: u64,
        other_body: &'a [u8],
        tamper: Option<(u8, u8)>,
        forged: &'a [u8],
    },
}

fn witness() -> &'static (Cosigner, CosignatureVerifier) {
    static WITNESS: OnceLock<(Cosigner, CosignatureVerifier)> = OnceLock::new();
    WITNESS.get_or_init(|| {
        let cosigner = Cosigner::from_signer_key(&cosigner_key(WITNESS_NAME, &WITNESS_SEED))
            .expect("test key");
        let verifier = CosignatureVerifier::new(&cosigner.verifier_key()).expect("test key");
        (cosigner, verifier)
    })
}

fuzz_target!(|input: Input<'_>| match input {
    Input::WitnessKey(key) => {
        if let Ok(verifier) = CosignatureVerifier::new(key) {
            let mut public = vec![COSIGNATURE_V1_ALG];
            public.extend_from_slice(verifier.public_key());
            let canonical = format!(
                "{}+{:08x}+{}",
                verifier.witness_name(),
                verifier.key_id(),
                B64.encode(public)
            );
            assert_eq!(canonical, key.trim(), "an accepted key is canonical");
        }
    }
    Input::CosignerKey(key) => {
        if let Ok(cosigner) = Cosigner::from_signer_key(key) {
            let verifier = CosignatureVerifier::new(&cosigner.verifier_key())
                .expect("a cosigner's verifier key parses");
            assert_eq!(verifier.witness_name(), cosigner.name());
        }
    }
    Input::LogKey(key) => {
        if let Ok(signer) = LogSigner::from_signer_key(key) {
            let verifier = CheckpointVerifier::new(&[signer.verifier_key()])
                .expect("a signer's verifier key parses");
            assert_eq!(verifier.origin(), signer.origin());
            let checkpoint = signer.sign(1, [0; 32]).expect("signing");
            verifier
                .verify(checkpoint.note.as_bytes())
                .expect("a signer's checkpoint verifies with its verifier key");
        }
    }
    Input::Cosign {
        body,
        time,
        other_body,
        tamper,
        forged,
    } => {
        let (cosigner, verifier) = witness();
        let time = time & (i64::MAX as u64);
        let line = cosigner.cosign(body, time);
        let sig = signed_note::Signature::from_bytes(line.trim_end().as_bytes())
            .expect("a cosignature line parses");
        assert_eq!((sig.name(), sig.id()), (WITNESS_NAME, verifier.key_id()));
        let bytes = sig.signature();
        assert_eq!(
            bytes[..8],
            time.to_be_bytes(),
            "the signature starts with the time"
        );
        assert!(verifier.verify(body, bytes), "a cosignature verifies");
        if other_body != body {
            assert!(!verifier.verify(other_body, bytes));
        }
        if let Some((at, bit)) = tamper {
            let mut changed = bytes.to_vec();
            let at = usize::from(at) % changed.len();
            changed[at] ^= 1 << (bit % 8);
            assert!(
                !verifier.verify(body, &changed),
                "a changed cosignature verified"
            );
        }
        if forged != bytes {
            assert!(!verifier.verify(body, forged));
        }
    }
});
