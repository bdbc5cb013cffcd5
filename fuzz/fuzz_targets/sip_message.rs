//! libFuzzer target: see `fuzz/sip_harness.rs` for what `sip_message` checks.
#![no_main]

#[path = "../sip_harness.rs"]
mod sip_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sip_harness::sip_message(data);
});
