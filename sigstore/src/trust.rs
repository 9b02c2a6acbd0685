//! The trust material that names this log: a `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`) and a
//! client trust config (`clienttrustconfig.v0.1`) whose signing config
//! sends Rekor v2 writes to this log.
//!
//! Sigstore verifiers find the log of a checkpoint signature by its key
//! hint and require the log's `baseUrl` to contain the key name, so
//! `baseUrl` is the given URL when it does, else `https://<key name>`.

use serde_json::{json, Value};

use crate::{b64, LogKey, SigstoreError};

/// The trusted root's media type.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// The client trust config's media type.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// The signing config's media type.
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// Since when the log key is valid, when nothing says otherwise: the key
/// is this log's only one, so it is valid for all time before now.
pub const VALID_FROM: &str = "1970-01-01T00:00:00Z";

/// The `baseUrl` Sigstore verifiers accept for the log at `url`.
pub fn base_url(key: &LogKey, url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.contains(&key.name) {
        url.to_string()
    } else {
        format!("https://{}", key.name)
    }
}

/// The `trusted_root.json` of this log alone (no CA, CT log or TSA: add
/// them to verify certificate bundles), for the log served at `url`.
///
/// # Errors
///
/// [`SigstoreError::VerifierKey`] if the key is not an Ed25519 point.
pub fn trusted_root(key: &LogKey, url: &str) -> Result<Value, SigstoreError> {
    let key_id = b64(&key.key_id());
    Ok(json!({
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [{
            "baseUrl": base_url(key, url),
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(&key.spki_der()?),
                "keyDetails": "PKIX_ED25519",
                "validFor": {"start": VALID_FROM},
            },
            "logId": {"keyId": key_id},
            "checkpointKeyId": {"keyId": key_id},
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    }))
}

/// A client trust config: [`trusted_root`] and a signing config whose one
/// Rekor v2 log is `url`.
///
/// # Errors
///
/// As [`trusted_root`].
pub fn client_trust_config(key: &LogKey, url: &str) -> Result<Value, SigstoreError> {
    Ok(json!({
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root(key, url)?,
        "signingConfig": {
            "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
            "caUrls": [],
            "oidcUrls": [],
            "rekorTlogUrls": [{
                "url": url.trim_end_matches('/'),
                "majorApiVersion": 2,
                "validFor": {"start": VALID_FROM},
                "operator": "evledger",
            }],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_always_contains_the_key_name() {
        let (signer, _) =
            evledger_tlog::checkpoint::LogSigner::generate("ledger.example/log").expect("key");
        let key = LogKey::from_verifier_key(signer.verifier_key()).expect("key");
        assert_eq!(
            base_url(&key, "http://127.0.0.1:8080/"),
            "https://ledger.example/log"
        );
        assert_eq!(
            base_url(&key, "https://ledger.example/log/"),
            "https://ledger.example/log"
        );
        let root = trusted_root(&key, "http://127.0.0.1:8080").expect("root");
        assert_eq!(root["mediaType"], TRUSTED_ROOT_MEDIA_TYPE);
        let tlog = &root["tlogs"][0];
        assert_eq!(tlog["logId"], tlog["checkpointKeyId"]);
        assert_eq!(tlog["logId"]["keyId"], b64(&key.key_id()));
        let config = client_trust_config(&key, "http://127.0.0.1:8080/").expect("config");
        assert_eq!(
            config["signingConfig"]["rekorTlogUrls"][0]["url"],
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            config["signingConfig"]["rekorTlogUrls"][0]["majorApiVersion"],
            2
        );
        assert_eq!(config["trustedRoot"], root);
    }
}
