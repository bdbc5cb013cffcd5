//! The fuzz harnesses, shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/`) and the
//! stable in-process loop that CI runs (`tests/it/fuzz.rs`). Each takes arbitrary bytes,
//! must never panic, and asserts the bounds the codec promises (README "Limits and
//! safety").

use impress::proto::xmpp::sasl::{Mechanism, SaltedPasswordCache, ScramClient};
use impress::proto::xmpp::stanza::{StanzaError, StreamError, StreamFeatures};
use impress::proto::xmpp::{Frame, FrameError, Framer, FramerConfig, Jid, NsContext, element};
use std::path::Path;
use std::sync::OnceLock;

/// What one framing pass saw: every frame's kind and bytes, then the error that ended it.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    frames: Vec<(u8, Vec<u8>)>,
    end: Option<FrameError>,
}

impl Framed {
    fn too_large(&self) -> bool {
        matches!(self.end, Some(FrameError::TooLarge { .. }))
    }
}

/// The framer and stanza parser. The limits are derived from the first and last bytes
/// (without consuming them, so a recorded stream is a seed as it is). The stream is framed twice, in one piece and in chunks cut at split points
/// derived from the data, and both passes must agree; the framer never holds more than
/// one frame's limit once its frames are taken.
pub fn xmpp_framer(data: &[u8]) {
    let (Some(a), Some(b)) = (data.first(), data.last()) else {
        return;
    };
    let stream = data;
    let cfg = FramerConfig {
        max_stanza_bytes: 64 + usize::from(*a) * 64,
        max_depth: 2 + usize::from(*b % 64),
    };
    let whole = frame_all(stream, &cfg, &[stream.len()]);
    let cuts: Vec<usize> = stream
        .iter()
        .enumerate()
        .filter(|(i, x)| (usize::from(**x) ^ i) % 7 == 0)
        .map(|(i, _)| i + 1)
        .chain([stream.len()])
        .collect();
    let chunked = frame_all(stream, &cfg, &cuts);
    if whole.too_large() || chunked.too_large() {
        // A size error is found wherever the limit is crossed, which depends on where the
        // stream was cut; the frames before it must still agree.
        let n = whole.frames.len().min(chunked.frames.len());
        assert_eq!(
            whole.frames[..n],
            chunked.frames[..n],
            "frames before a size error"
        );
    } else {
        assert_eq!(
            whole, chunked,
            "framing depends on how the stream is chunked"
        );
    }
}

/// Feeds `stream` cut at `cuts` (ascending end offsets), taking every frame after each
/// piece; parses every element as the session would.
fn frame_all(stream: &[u8], cfg: &FramerConfig, cuts: &[usize]) -> Framed {
    let mut framer = Framer::new(cfg.clone());
    let mut ctx = NsContext::client();
    let mut out = Framed {
        frames: Vec::new(),
        end: None,
    };
    let mut from = 0;
    for &to in cuts {
        let piece = &stream[from..to.max(from)];
        from = to.max(from);
        if let Err(e) = framer.feed(piece) {
            out.end = Some(e);
            return out;
        }
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => {
                    let restart = on_frame(&f, &mut ctx);
                    out.frames.push((kind(&f), f.raw().to_vec()));
                    if restart {
                        framer.restart();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.end = Some(e);
                    return out;
                }
            }
        }
        assert!(
            framer.buffered() <= cfg.max_stanza_bytes,
            "framer holds {} bytes with a {} byte limit",
            framer.buffered(),
            cfg.max_stanza_bytes
        );
    }
    out
}

fn kind(f: &Frame) -> u8 {
    match f {
        Frame::Open { .. } => 0,
        Frame::Element { .. } => 1,
        Frame::Close { .. } => 2,
    }
}

/// Parses a frame the way negotiation and the reader task do; true when the session
/// would restart the stream after it (SASL success).
fn on_frame(f: &Frame, ctx: &mut NsContext) -> bool {
    let raw = match f {
        Frame::Open { header, .. } => {
            *ctx = header.ns_context();
            let _ = (header.id(), header.from(), header.version(), header.lang());
            return false;
        }
        Frame::Close { .. } => return false,
        Frame::Element { raw } => raw,
    };
    let Ok(el) = element::parse(raw, ctx) else {
        return false;
    };
    let _ = StreamFeatures::parse(&el);
    let _ = StreamError::parse(&el);
    let _ = StanzaError::from_stanza(&el);
    for k in ["from", "to"] {
        if let Some(j) = el.attr(k).and_then(|v| v.parse::<Jid>().ok()) {
            let _ = (j.bare(), j.to_string());
        }
    }
    let _ = el.text();
    // Serialising then parsing again must give the same tree. Attribute prefixes other
    // than `xml:` are kept as written without their declaration (nothing impress sends
    // echoes a parsed element), so such trees are left out.
    if prefixed_attrs(&el) {
        return el.name == "success";
    }
    let again = element::parse(el.to_xml().as_bytes(), &NsContext::client())
        .unwrap_or_else(|e| panic!("to_xml of a parsed element does not parse: {e}"));
    assert_eq!(again, el, "to_xml round trip changed the element");
    el.name == "success"
}

fn prefixed_attrs(el: &element::Element) -> bool {
    el.attrs
        .iter()
        .any(|(k, _)| k.contains(':') && !k.starts_with("xml:"))
        || el.children().any(prefixed_attrs)
}

/// Client identities whose recorded or published exchanges are in the seeds, so the
/// fuzzer starts from server messages that verify.
const SCRAM_CLIENTS: [(Mechanism, &str, &str, &str); 4] = [
    // fixtures/xmpp/prosody-login.xml (password `secret`).
    (
        Mechanism::ScramSha1,
        "user1",
        "secret",
        "F587NqOZ3Q/VhPPIjDPZcuwA",
    ),
    // fixtures/xmpp/ejabberd-login.xml.
    (
        Mechanism::ScramSha1,
        "user1",
        "secret",
        "S5JbJYZrRvcL+Yh22Ksly5Vz",
    ),
    // RFC 5802 §5.
    (
        Mechanism::ScramSha1,
        "user",
        "pencil",
        "fyko+d2lbbFgONRv9qkxdawL",
    ),
    // RFC 7677 §3.
    (
        Mechanism::ScramSha256,
        "user",
        "pencil",
        "rOprNGfwEbeRWgbNEkqO",
    ),
];

/// Iteration counts above this are skipped: PBKDF2's cost is bounded by
/// `sasl::MAX_ITERATIONS` by design, and is not what is being fuzzed.
const SCRAM_MAX_FUZZ_ITERATIONS: u64 = 4096;

/// The SCRAM client against server messages: byte 0 picks the client (and so the nonce
/// the server must extend), the rest is `server-first-message LF server-final-message`.
/// Returns whether the exchange verified.
pub fn scram_server(data: &[u8]) -> bool {
    static CACHE: OnceLock<SaltedPasswordCache> = OnceLock::new();
    let [pick, rest @ ..] = data else {
        return false;
    };
    let (first, fin) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    if iterations_over(first, SCRAM_MAX_FUZZ_ITERATIONS) {
        return false;
    }
    let (mech, user, pw, nonce) = SCRAM_CLIENTS[usize::from(*pick) % SCRAM_CLIENTS.len()];
    let mut c = ScramClient::new(mech, user, pw, nonce);
    let _ = c.client_first();
    // Out of order: a final message before the first must be refused, not judged.
    assert!(c.verify_server_final(fin).is_err());
    let cache = CACHE.get_or_init(SaltedPasswordCache::new);
    let Ok(client_final) = c.handle_server_first(first, cache) else {
        return false;
    };
    let text = String::from_utf8(client_final).expect("client-final-message is utf-8");
    assert!(
        text.starts_with("c=biws,r=") && !text.contains(pw),
        "client-final-message: {text}"
    );
    assert!(
        c.handle_server_first(first, cache).is_err(),
        "a second server-first-message is out of sequence"
    );
    c.verify_server_final(fin).is_ok()
}

/// Whether any `i=` attribute of `msg` holds a number above `max`.
fn iterations_over(msg: &[u8], max: u64) -> bool {
    msg.split(|b| *b == b',').any(|attr| {
        attr.strip_prefix(b"i=").is_some_and(|v| {
            let digits: Vec<u8> = v.iter().copied().take_while(u8::is_ascii_digit).collect();
            std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                .is_none_or(|n| n > max)
        })
    })
}

/// Fleet sizes above this are not expanded into users (the loader accepts them; a real
/// run would then hold that many sessions).
const SUITE_MAX_FUZZ_SESSIONS: usize = 10_000;

/// The suite loader, then what a run derives from a valid suite (selected checks, the
/// users); and the target file model.
pub fn suite_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = toml::from_str::<impress::scenario::target::TargetFile>(text);
    let Ok(suite) = impress::scenario::parse_suite(Path::new("fuzz.toml"), text) else {
        return;
    };
    let _ = impress::scenario::selected_checks(&suite);
    let sessions = suite.fleets.iter().try_fold(0usize, |n, f| {
        n.checked_add(f.users.checked_mul(f.resources.len())?)
    });
    if sessions.is_some_and(|n| n <= SUITE_MAX_FUZZ_SESSIONS) {
        let _ = impress::fleet::build_users(&suite, "user{n}", "example.test");
    }
}
