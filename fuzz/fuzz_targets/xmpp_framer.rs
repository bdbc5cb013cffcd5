//! libFuzzer target: see `fuzz/harness.rs` for what `xmpp_framer` checks.
#![no_main]

#[path = "../harness.rs"]
#[expect(dead_code, reason = "each target uses one of the harnesses")]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::xmpp_framer(data);
});
