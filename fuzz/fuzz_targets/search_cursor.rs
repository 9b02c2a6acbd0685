//! Search cursors (`evledger_index_keys::query::{encode_cursor,
//! decode_cursor}`), `base64url("v1:<log index>")`.
//!
//! Properties: a cursor that decodes is at most `MAX_CURSOR_LEN` bytes and
//! is exactly what the server would issue for its position (one spelling
//! per position); every position's cursor decodes back to it.
#![no_main]

use arbitrary::Arbitrary;
use evledger_index_keys::query::{decode_cursor, encode_cursor, MAX_CURSOR_LEN};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Cursor(&'a str),
    Position(u64),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Cursor(cursor) => {
        if let Ok(position) = decode_cursor(cursor) {
            assert!(cursor.len() <= MAX_CURSOR_LEN);
            assert_eq!(encode_cursor(position), cursor, "one spelling per position");
        }
    }
    Input::Position(position) => {
        let cursor = encode_cursor(position);
        assert!(cursor.len() <= MAX_CURSOR_LEN);
        assert_eq!(decode_cursor(&cursor).ok(), Some(position));
    }
});
