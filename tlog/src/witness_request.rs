//! The body of a C2SP tlog-witness `add-checkpoint` request
//! (<https://c2sp.org/tlog-witness>): the size the client believes the
//! witness holds, a consistency proof from it, and the signed checkpoint.
//!
//! ```text
//! old 3
//! 9wDr4n/6RYl8H2J9WqPLT2XnkzB2cVzbO8bSPeJm3YQ=
//!
//! example.org/log
//! 7
//! 2Z6bhH2mhC9FVo/9NYkEwJ6x2WHeDvgN8p8cv2T3sSw=
//!
//! — example.org/log k4nzVwAAAAB...
//! ```

use base64::prelude::{Engine, BASE64_STANDARD};
use thiserror::Error;

use crate::checkpoint::MAX_CHECKPOINT_SIZE;

/// Most consistency proof lines a request may carry (the spec's bound).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest `add-checkpoint` body: the proof lines and a checkpoint note.
pub const MAX_ADD_CHECKPOINT_SIZE: usize = MAX_CHECKPOINT_SIZE + MAX_PROOF_LINES * 46 + 32;

/// The body is not an `add-checkpoint` request; the message names what is
/// wrong.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct MalformedRequest(pub String);

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// Size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<[u8; 32]>,
    /// The signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses `old <N>\n`, up to [`MAX_PROOF_LINES`] base64 hashes, a blank
    /// line, then the checkpoint.
    ///
    /// # Errors
    ///
    /// [`MalformedRequest`] naming what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedRequest> {
        let bad = |what: &str| MalformedRequest(what.to_string());
        if body.len() > MAX_ADD_CHECKPOINT_SIZE {
            return Err(bad("request too large"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("first line must be `old <size>`"))?;
        let old_size = parse_decimal(old).ok_or_else(|| bad("old size is not a decimal"))?;
        let proof = lines
            .map(|line| {
                BASE64_STANDARD
                    .decode(line)
                    .ok()
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Encodes the request body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64_STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        let mut body = body.into_bytes();
        body.extend_from_slice(&self.checkpoint);
        body
    }
}

/// A decimal without leading zeros (except `0` itself), as the spec writes sizes.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let request = AddCheckpoint {
            old_size: 20_852_014,
            proof: vec![[7; 32], [9; 32]],
            checkpoint: b"log.example\n3\nAAAA\n\n\xe2\x80\x94 log.example AAAA\n".to_vec(),
        };
        assert_eq!(AddCheckpoint::parse(&request.to_body()).ok(), Some(request));
    }

    #[test]
    fn malformed_requests_are_refused() {
        for body in [
            &b"old 01\n\nx\n"[..],
            b"old -1\n\nx\n",
            b"new 1\n\nx\n",
            b"old 1\nnot-base64\n\nx\n",
            b"old 1\nAAAA\n\nx\n",
            b"old 1\n",
        ] {
            assert!(
                matches!(AddCheckpoint::parse(body), Err(MalformedRequest(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
