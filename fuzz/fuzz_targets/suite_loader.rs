//! libFuzzer target: see `fuzz/harness.rs` for what `suite_loader` checks.
#![no_main]

#[path = "../harness.rs"]
#[expect(dead_code, reason = "each target uses one of the harnesses")]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::suite_loader(data);
});
