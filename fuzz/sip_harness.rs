//! The SIP fuzz harness, shared by the `sip_message` cargo-fuzz target and the stable
//! in-process loop (`tests/it/fuzz.rs`). Takes arbitrary bytes, must never panic, and
//! asserts the bounds and agreements the SIP codec promises.

use impress::proto::sip::build::response;
use impress::proto::sip::digest::challenge_of;
use impress::proto::sip::transaction::TransactionKey;
use impress::proto::sip::{FrameError, Framer, FramerConfig, Message, Pidf, frame_datagram};

/// What one framing pass saw: every frame, then the error that ended it.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    frames: Vec<Vec<u8>>,
    end: Option<FrameError>,
}

/// Frames `data` as a stream in one piece and in chunks cut at points derived from the
/// data (the limit comes from the first byte: 64 B to 16 KiB); both passes must agree
/// (frames before a size error at least), the framer must stay within twice the limit,
/// and every frame and the datagram reading are parsed and inspected.
pub fn sip_message(data: &[u8]) {
    let Some(first) = data.first() else {
        return;
    };
    let cfg = FramerConfig {
        max_message_bytes: 64 + usize::from(*first) * 64,
    };
    let whole = frame_all(data, &cfg, &[data.len()]);
    let cuts: Vec<usize> = data
        .iter()
        .enumerate()
        .filter(|(i, x)| (usize::from(**x) ^ i) % 5 == 0)
        .map(|(i, _)| i + 1)
        .chain([data.len()])
        .collect();
    let chunked = frame_all(data, &cfg, &cuts);
    let too_large = |f: &Framed| matches!(f.end, Some(FrameError::TooLarge { .. }));
    if too_large(&whole) || too_large(&chunked) {
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
    for f in &whole.frames {
        inspect(f);
    }
    if let Ok(Some(d)) = frame_datagram(data, &cfg) {
        inspect(&d);
    }
}

fn frame_all(data: &[u8], cfg: &FramerConfig, cuts: &[usize]) -> Framed {
    let mut framer = Framer::new(cfg.clone());
    let mut out = Framed {
        frames: Vec::new(),
        end: None,
    };
    let mut from = 0;
    for &to in cuts {
        let to = to.max(from);
        let fed = framer.feed(&data[from..to]);
        from = to;
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => out.frames.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    out.end = Some(e);
                    return out;
                }
            }
        }
        assert!(fed.is_ok(), "feed failed but next_frame did not report it");
        assert!(
            framer.buffered() <= 2 * cfg.max_message_bytes,
            "framer holds {} bytes with a {} byte limit",
            framer.buffered(),
            cfg.max_message_bytes
        );
    }
    out
}

/// Parses one framed message and reads every view a session uses.
fn inspect(frame: &[u8]) {
    let Ok(m) = Message::parse(frame.to_vec()) else {
        return;
    };
    assert_eq!(m.raw().as_ref(), frame, "raw bytes kept unchanged");
    let _ = (
        m.vias(),
        m.contacts(),
        m.record_routes(),
        m.cseq(),
        m.to_tag(),
    );
    let _ = (
        m.event(),
        m.subscription_state(),
        m.expires(),
        m.media_type(),
    );
    let _ = TransactionKey::of(&m);
    if let Some(Ok((_, c))) = challenge_of(&m) {
        let req = impress::proto::sip::digest::RequestInfo {
            method: "REGISTER",
            uri: "sip:kamailio.test",
            body: m.body(),
        };
        let _ = impress::proto::sip::digest::respond(&c, "u", "p", req, "c", 1);
    }
    let _ = Pidf::parse(m.body());
    if m.is_request() {
        let built = response(&m, 200, "OK", Some("fz1")).build();
        assert!(
            built.is_ok(),
            "response to a parsed request must parse: {built:?}"
        );
    }
}
