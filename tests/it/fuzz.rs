//! The stable in-process fuzz loop CI runs (cargo-fuzz needs nightly; see fuzz/README.md):
//! for a bounded time per target, mutate the seed corpus (byte flips, dictionary tokens,
//! splices, truncations, duplicated ranges) and feed the same harnesses as the libFuzzer
//! targets, which assert no panic and bounded framer memory. `IMPRESS_FUZZ_SECS` sets the
//! time per target (default 4), `IMPRESS_FUZZ_SEED` the PRNG seed (default: fixed, so CI is
//! reproducible). A failing input is written to `target/fuzz-crashes/` before the panic.

#[path = "../../fuzz/harness.rs"]
mod harness;

#[path = "../../fuzz/sip_harness.rs"]
mod sip_harness;

use crate::common::root;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Mutants kept to be mutated again, so mutations stack.
const POOL: usize = 512;

/// Largest mutant: stacked repetitions would otherwise grow inputs without end.
const MAX_INPUT: usize = 256 * 1024;

const XMPP_TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"'",
    b"\"",
    b"&",
    b";",
    b"&amp;",
    b"&#x263A;",
    b"&#0;",
    b"&lol;",
    b"<!DOCTYPE x>",
    b"<!ENTITY x 'y'>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"<?xml version='1.0'?>",
    b"<?pi?>",
    b" xmlns='jabber:client'",
    b" xmlns:p='urn:p'",
    b" p:a='1'",
    b" xml:lang='en'",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
    b"</stream:stream>",
    b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
    b"<a><a><a><a><a><a><a><a>",
    b"\xff",
    b"\xc3",
    b"\xef\xbf\xbe",
    b"\0",
    b" \r\n\t",
];

const SCRAM_TOKENS: &[&[u8]] = &[
    b",",
    b"=",
    b"\n",
    b"r=",
    b"s=",
    b"i=",
    b"v=",
    b"e=",
    b"m=",
    b"i=0",
    b"i=4294967296",
    b"i=-1",
    b"==",
    b"=2C",
    b"\xff",
];

const TOML_TOKENS: &[&[u8]] = &[
    b"\n[[step]]\ndo = \"ping\"\n",
    b"\n[[step]]\ndo = \"wait\"\nduration = \"1e400s\"\n",
    b"\n[[fleet]]\nname = \"z\"\nprotocol = \"xmpp\"\nusers = 2\n",
    b"users = 18446744073709551615",
    b"first = 18446744073709551615",
    b"first = 0",
    b"count = 0",
    b"rate = nan",
    b"rate = -1",
    b"every = -1",
    b"duration = 1e300",
    b"max_stanza_bytes = 0",
    b"transcript_frames = 0",
    b"resources = []",
    b"account = \"{n}{n}\"",
    b"fleet = \"nope\"",
    b"step = [{do = \"ping\"}]",
    b"[timeouts]\n",
    b"\"",
    b"'''",
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\n",
    b"\xc3",
];

/// Reads every file of each directory (relative to the crate root) as a seed.
fn seeds(dirs: &[&str], ext: Option<&str>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in dirs {
        let mut files: Vec<_> = std::fs::read_dir(root().join(d))
            .unwrap_or_else(|e| panic!("seed dir {d}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
            .collect();
        files.sort();
        out.extend(files.iter().map(|p| std::fs::read(p).expect("read seed")));
    }
    assert!(!out.is_empty(), "no seeds in {dirs:?}");
    out
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fixed default seed per target (FNV-1a of its name).
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One to four stacked mutations of `input`.
fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=v.len());
        match rng.gen_range(0..8) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = rng.r#gen();
            }
            2 | 3 => {
                let t = tokens[rng.gen_range(0..tokens.len())];
                v.splice(at..at, t.iter().copied());
            }
            4 => v.truncate(at),
            5 if at < v.len() => {
                let end = rng.gen_range(at..=v.len().min(at + 64));
                v.drain(at..end);
            }
            6 if at < v.len() => {
                let end = rng.gen_range(at..=v.len().min(at + 256));
                let copy = v[at..end].to_vec();
                let times = rng.gen_range(1..=8);
                for _ in 0..times {
                    v.splice(end..end, copy.iter().copied());
                }
            }
            _ => {
                let from = rng.gen_range(0..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
        }
    }
    v.truncate(MAX_INPUT);
    v
}

/// Runs `target` on the seeds, then on mutants until the time budget is spent; panics
/// (after saving the input) on the first failure. Returns executions.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, tokens: &[&[u8]], target: impl Fn(&[u8])) -> u64 {
    let budget = Duration::from_secs(env_num("IMPRESS_FUZZ_SECS", 4));
    let seed = env_num("IMPRESS_FUZZ_SEED", fnv1a(name));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool = corpus.clone();
    let t0 = Instant::now();
    let mut execs = 0u64;
    let mut run = |input: &[u8]| {
        execs += 1;
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let dir = root().join("target/fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{execs}"));
            let _ = std::fs::write(&file, input);
            panic!(
                "{name}: failing input saved to {} (seed {seed}): {:?}",
                file.display(),
                String::from_utf8_lossy(input)
            );
        }
    };
    for s in &corpus {
        run(s);
    }
    while t0.elapsed() < budget {
        let a = &pool[rng.gen_range(0..pool.len())];
        let b = &pool[rng.gen_range(0..pool.len())];
        let m = mutate(&mut rng, a, b, tokens);
        run(&m);
        if pool.len() < POOL {
            pool.push(m);
        } else if rng.gen_bool(0.1) {
            let i = rng.gen_range(corpus.len()..POOL);
            pool[i] = m;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {execs} executions in {secs:.1} s ({:.0}/s), seed {seed}, no failure",
        execs as f64 / secs
    );
    execs
}

#[test]
fn fuzz_xmpp_framer() {
    let corpus = [
        seeds(&["fixtures/xmpp"], Some("xml")),
        seeds(&["fuzz/seeds/xmpp_framer"], None),
    ]
    .concat();
    fuzz("xmpp_framer", corpus, XMPP_TOKENS, harness::xmpp_framer);
}

#[test]
fn fuzz_scram_server() {
    let corpus = seeds(&["fuzz/seeds/scram_server"], None);
    // The recorded and published exchanges verify, so mutants start on the deepest path.
    let verified = corpus.iter().filter(|s| harness::scram_server(s)).count();
    assert_eq!(verified, 4, "the four valid SCRAM seeds must verify");
    fuzz("scram_server", corpus, SCRAM_TOKENS, |d| {
        harness::scram_server(d);
    });
}

#[test]
fn fuzz_suite_loader() {
    let corpus = seeds(
        &["suites", "tests/it/data", "fuzz/seeds/suite_loader"],
        Some("toml"),
    );
    fuzz("suite_loader", corpus, TOML_TOKENS, harness::suite_loader);
}

const SIP_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"=",
    b"SIP/2.0",
    b"SIP/2.0 200 OK\r\n",
    b"REGISTER sip:a SIP/2.0\r\n",
    b"Content-Length: 0\r\n",
    b"l: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n",
    b"CSeq: 2147483648 REGISTER\r\n",
    b";tag=",
    b";expires=",
    b"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n",
    b"Subscription-State: terminated;expires=0\r\n",
    b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'>",
    b"%00",
    b"\xff",
    b"\0",
];

#[test]
fn fuzz_sip_message() {
    let corpus = seeds(&["fuzz/seeds/sip_message"], None);
    fuzz("sip_message", corpus, SIP_TOKENS, sip_harness::sip_message);
}
