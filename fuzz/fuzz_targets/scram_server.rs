//! libFuzzer target: see `fuzz/harness.rs` for what `scram_server` checks.
#![no_main]

#[path = "../harness.rs"]
#[expect(dead_code, reason = "each target uses one of the harnesses")]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::scram_server(data);
});
