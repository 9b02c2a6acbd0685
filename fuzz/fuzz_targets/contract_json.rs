//! Workflow contracts in JSON (`evledger_contract::Contract::parse`).
//!
//! Properties (shared with `contract_yaml`, see `evledger_fuzz::contract`):
//! an accepted contract is at most `MAX_CONTRACT_SIZE` bytes and valid;
//! written back as YAML and as JSON (compact and pretty) it parses to the
//! same contract.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if !data.trim_ascii_start().starts_with(b"{") {
        return;
    }
    evledger_fuzz::contract::check(data);
});
