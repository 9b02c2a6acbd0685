//! Signer keys in the form of Go's sumdb/note, shared by the log's note
//! keys (type 0x01) and the witnesses' cosigner keys (type 0x04): parsing
//! `PRIVATE+KEY+<name>+<key ID hex>+<base64(alg || seed)>`, and key files
//! written once, readable only by their owner. The bottom of the crate:
//! it knows nothing of checkpoints or cosignatures.

use std::path::Path;

/// A signer key that is not `PRIVATE+KEY+<name>+<id>+<base64(alg || seed)>`
/// of the expected type.
#[derive(Debug)]
pub(crate) struct MalformedKey;

/// A key file that could not be read or written.
#[derive(Debug)]
pub(crate) struct KeyFileError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub source: std::io::Error,
}

/// Signature type byte of Ed25519 note keys.
pub(crate) const NOTE_ED25519_ALG: u8 = 0x01;

/// The parts of a signer key `PRIVATE+KEY+<name>+<key ID hex>+<base64(alg || seed)>`,
/// the form of note keys and, by analogy, of cosigner keys.
pub(crate) struct SignerKey<'a> {
    /// Key name.
    pub name: &'a str,
    /// Key ID as written (8 hex digits), for the caller to check.
    pub id: &'a str,
    /// Ed25519 seed.
    pub seed: [u8; 32],
}

impl<'a> SignerKey<'a> {
    /// Splits `skey` and checks the name, the ID's length and the type byte `alg`.
    pub(crate) fn parse(skey: &'a str, alg: u8) -> Result<Self, MalformedKey> {
        use base64::Engine;
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(MalformedKey)?;
        // The base64 key may itself contain '+'.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(MalformedKey);
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| MalformedKey)?;
        let seed = match key.split_first() {
            Some((first, seed)) if *first == alg => seed.try_into().map_err(|_| MalformedKey)?,
            _ => return Err(MalformedKey),
        };
        if !signed_note::is_key_name_valid(name) || id.len() != 8 {
            return Err(MalformedKey);
        }
        Ok(Self { name, id, seed })
    }
}

/// Reads a signer key from `path` with `parse`; if the file does not exist,
/// `generate`s one and writes its key string there (mode 0600). Returns the
/// key and whether it was generated.
pub(crate) fn load_or_create_key<K, E: From<KeyFileError>>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<K, E>,
    generate: impl FnOnce() -> Result<(K, String), E>,
) -> Result<(K, bool), E> {
    let io_err = |source| {
        E::from(KeyFileError {
            path: path.display().to_string(),
            source,
        })
    };
    match std::fs::read_to_string(path) {
        Ok(skey) => Ok((parse(&skey)?, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, skey) = generate()?;
            write_private(path, format!("{skey}\n").as_bytes()).map_err(io_err)?;
            Ok((key, true))
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Creates `path` (it must not exist) readable only by its owner, writes
/// `bytes` and syncs: for key material.
///
/// # Errors
///
/// I/O errors, including an existing file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
