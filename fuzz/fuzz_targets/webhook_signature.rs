//! The webhook delivery signature a receiver checks
//! (`evledger_fanout_wire::webhook::{signature, verify_signature}`):
//! `X-Evledger-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//!
//! Properties: a signature made for a timestamp and body verifies at that
//! time and returns the timestamp; it fails for another body, another
//! timestamp header, another secret (another HMAC key), a changed signature, or a time
//! outside the tolerance (stale); headers as received (any bytes) get an
//! answer, never a panic, and verify only if they match an HMAC computed
//! here with the `hmac` crate.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use evledger_fanout_wire::webhook::{
    signature, verify_signature, SignatureError, MAX_TIMESTAMP_DIGITS,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    secret: &'a [u8],
    timestamp: u64,
    now_offset: i16,
    tolerance: u16,
    other_timestamp: &'a str,
    other_signature: &'a str,
    other_secret: &'a [u8],
    flip: Option<(u8, u8)>,
    body: &'a [u8],
}

/// The key HMAC-SHA256 really uses (RFC 2104): a key longer than the
/// 64-byte block is hashed, and every key is padded with zeros to the block,
/// so `k` and `k || 0x00` are one key.
fn hmac_key(secret: &[u8]) -> [u8; 64] {
    use sha2::Digest;
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&sha2::Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    key
}

fuzz_target!(|input: Input<'_>| {
    let tolerance = Duration::from_secs(u64::from(input.tolerance));
    let header = input.timestamp.to_string();
    let now = input
        .timestamp
        .saturating_add_signed(i64::from(input.now_offset));
    let sig = signature(input.secret, &header, input.body);
    let result = verify_signature(input.secret, &header, &sig, input.body, now, tolerance);
    if now.abs_diff(input.timestamp) <= tolerance.as_secs() {
        assert_eq!(result, Ok(input.timestamp));
    } else {
        assert!(matches!(result, Err(SignatureError::Stale { .. })));
    }
    let at = |t| verify_signature(input.secret, &header, &sig, input.body, t, tolerance);
    assert_eq!(at(input.timestamp), Ok(input.timestamp));

    let mut body = input.body.to_vec();
    body.push(b'x');
    assert_eq!(
        verify_signature(
            input.secret,
            &header,
            &sig,
            &body,
            input.timestamp,
            tolerance
        ),
        Err(SignatureError::Mismatch)
    );
    if hmac_key(input.other_secret) != hmac_key(input.secret) {
        assert_eq!(
            verify_signature(
                input.other_secret,
                &header,
                &sig,
                input.body,
                input.timestamp,
                tolerance
            ),
            Err(SignatureError::Mismatch)
        );
    }
    if let Some((at, bit)) = input.flip {
        let mut changed = sig.clone().into_bytes();
        let i = "sha256=".len() + usize::from(at) % 64;
        changed[i] ^= 1 << (bit % 8);
        let changed = String::from_utf8_lossy(&changed);
        assert!(
            verify_signature(
                input.secret,
                &header,
                &changed,
                input.body,
                input.timestamp,
                tolerance
            )
            .is_err()
                || changed.eq_ignore_ascii_case(&sig),
            "changed signature verified: {changed}"
        );
    }
    // Headers as received: an answer, and success only for the right MAC.
    let ts = input.other_timestamp;
    let got = verify_signature(
        input.secret,
        ts,
        input.other_signature,
        input.body,
        input.timestamp,
        tolerance,
    );
    let valid_ts = !ts.is_empty()
        && ts.len() <= MAX_TIMESTAMP_DIGITS
        && ts.bytes().all(|b| b.is_ascii_digit());
    if !valid_ts || ts.parse::<u64>().is_err() {
        assert_eq!(got, Err(SignatureError::BadTimestamp));
    }
    if got.is_ok() {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(input.secret).expect("any key");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(input.body);
        let expected = hex::encode(mac.finalize().into_bytes());
        let given = input
            .other_signature
            .strip_prefix("sha256=")
            .expect("prefix");
        assert!(given.eq_ignore_ascii_case(&expected));
    }
});
