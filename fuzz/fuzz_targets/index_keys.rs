//! Index keys of a logged leaf (`evledger_index_keys::keys::index_keys`): what
//! the reconciler derives from every leaf it reads from the log.
//!
//! Properties: the keys are sorted and distinct, each at most
//! `MAX_KEY_LEN` bytes without a NUL; a leaf `parse_logged` reads yields
//! its `kind:` key; one that it does not read yields none; the keys are a
//! function of the leaf (computed twice, equal).
#![no_main]

use evledger_entry::Entry;
use evledger_index_keys::keys::{index_keys, MAX_KEY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = index_keys(data);
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    for key in &keys {
        assert!(key.len() <= MAX_KEY_LEN && !key.contains('\0'), "{key:?}");
    }
    match Entry::parse_logged(data) {
        Ok(entry) => assert!(keys.contains(&format!("kind:{}", entry.kind))),
        Err(_) => assert!(keys.is_empty()),
    }
    assert_eq!(index_keys(data), keys);
});
