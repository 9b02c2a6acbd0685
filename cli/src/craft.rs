//! Signing keys and signed entries: `evledger keygen` and `evledger entry dsse`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer as _;
use evledger_ledger::entry::dsse::pae;
use evledger_ledger::entry::intoto::IN_TOTO_PAYLOAD_TYPE;
use evledger_ledger::entry::keys::PublicKey;
use p256::pkcs8::LineEnding;
use serde_json::json;

/// Key algorithms for DSSE signatures.
#[derive(Clone, Copy, ValueEnum)]
pub enum Algorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256 with SHA-256.
    P256,
}

/// A private key that signs DSSE envelopes.
pub enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(algorithm: Algorithm) -> Self {
        let mut rng = rand::rngs::OsRng;
        match algorithm {
            Algorithm::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            Algorithm::P256 => Self::P256(p256::ecdsa::SigningKey::random(&mut rng)),
        }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem) {
            return Ok(Self::Ed25519(key));
        }
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem) {
            return Ok(Self::P256(key));
        }
        bail!(
            "{} is not a PKCS#8 PEM Ed25519 or P-256 private key",
            path.display()
        )
    }

    /// PKCS#8 PEM of the private key.
    pub fn private_pem(&self) -> anyhow::Result<String> {
        let pem = match self {
            Self::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF)?,
            Self::P256(k) => k.to_pkcs8_pem(LineEnding::LF)?,
        };
        Ok(pem.to_string())
    }

    /// PEM SubjectPublicKeyInfo of the public key.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        Ok(match self {
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF)?,
            Self::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF)?,
        })
    }

    /// Signs a message (P-256 signatures are low-S DER, the form the log
    /// stores).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, message);
                let sig = sig.normalize_s().unwrap_or(sig);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The key ID securesystemslib computes for the public key (see
    /// [`PublicKey::keyid`]), which DSSE verifiers match signatures by.
    pub fn keyid(&self) -> String {
        let key = match self {
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Self::P256(k) => PublicKey::P256(*k.verifying_key()),
        };
        key.keyid()
    }
}

/// The submission JSON of a `dsse` entry signed by `key`, in the form the
/// log stores it: the signature's `keyid` is the securesystemslib key ID of
/// the key, so in-toto tooling verifies the envelope with the public key.
pub fn dsse_submission(
    key: &SigningKey,
    public_pem: &str,
    payload_type: &str,
    payload: &[u8],
) -> serde_json::Value {
    let sig = key.sign(&pae(payload_type, payload));
    json!({
        "kind": "dsse",
        "spec": {
            "envelope": {
                "payloadType": payload_type,
                "payload": B64.encode(payload),
                "signatures": [{"keyid": key.keyid(), "sig": B64.encode(sig)}],
            },
            "verifiers": [public_pem],
        }
    })
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: Algorithm,
    /// Private key output (PKCS#8 PEM, mode 0600); the public key goes to <out>.pub.
    #[arg(long)]
    out: PathBuf,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = SigningKey::generate(args.algorithm);
    evledger_ledger::checkpoint::write_private(&args.out, key.private_pem()?.as_bytes())
        .with_context(|| format!("creating {} (it must not exist)", args.out.display()))?;
    let public = PathBuf::from(format!("{}.pub", args.out.display()));
    std::fs::write(&public, key.public_pem()?)
        .with_context(|| format!("writing {}", public.display()))?;
    println!(
        "private key: {}\npublic key:  {}",
        args.out.display(),
        public.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct SignArgs {
    /// PKCS#8 PEM private key (Ed25519 or ECDSA P-256, from `evledger keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Files to sign; each signature goes to `<file>.sig` (base64).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// `evledger sign`: detached signatures over whole files (Ed25519, or
/// ECDSA P-256 with SHA-256, DER), base64 in `<file>.sig`; checked by
/// `evledger verify blob`.
pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let key = SigningKey::from_pem_file(&args.key)?;
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let out = PathBuf::from(format!("{}.sig", file.display()));
        std::fs::write(&out, format!("{}\n", B64.encode(key.sign(&bytes))))
            .with_context(|| format!("writing {}", out.display()))?;
        println!("signed {} -> {}", file.display(), out.display());
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum EntryCommand {
    /// Sign a payload into a DSSE envelope and print the `dsse` submission JSON.
    Dsse(DsseArgs),
}

#[derive(Args)]
pub struct DsseArgs {
    /// PKCS#8 PEM private key (from `evledger keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The payload file (an in-toto statement by default).
    #[arg(long)]
    payload: PathBuf,
    /// DSSE payload type.
    #[arg(long, default_value = IN_TOTO_PAYLOAD_TYPE)]
    payload_type: String,
}

pub fn entry(command: EntryCommand) -> anyhow::Result<()> {
    match command {
        EntryCommand::Dsse(args) => {
            let key = SigningKey::from_pem_file(&args.key)?;
            let payload = std::fs::read(&args.payload)
                .with_context(|| format!("reading {}", args.payload.display()))?;
            let submission =
                dsse_submission(&key, &key.public_pem()?, &args.payload_type, &payload);
            println!("{submission}");
            Ok(())
        }
    }
}
