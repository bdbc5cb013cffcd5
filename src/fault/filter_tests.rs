//! Unit tests for the stanza filter over recorded server streams (Prosody and ejabberd
//! logins, each with a SASL `<success/>` and a stream restart) and hand-written bytes:
//! whatever the chunking, the output is the input minus exactly the dropped stanzas.

use super::*;

const PROSODY: &[u8] = include_bytes!("../../fixtures/xmpp/prosody-login.xml");
const EJABBERD: &[u8] = include_bytes!("../../fixtures/xmpp/ejabberd-login.xml");

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' from='example.test' id='s1' version='1.0'>";

/// Runs `input` through a filter in chunks of `chunk` bytes, dropping messages whose id is
/// in `drop_ids`; returns the output and the ids dropped, in order.
fn run(input: &[u8], chunk: usize, drop_ids: &[&str]) -> (Vec<u8>, Vec<String>, XmppFilter) {
    let mut f = XmppFilter::new(FramerConfig::default());
    let mut out = BytesMut::new();
    let mut dropped = Vec::new();
    let mut decide = |el: &Element, _raw: &[u8]| {
        let id = el.attr("id").unwrap_or_default().to_owned();
        let hit = drop_ids.contains(&id.as_str());
        if hit {
            dropped.push(id);
        }
        hit
    };
    let mut count = 0;
    for piece in input.chunks(chunk.max(1)) {
        count += f.feed(piece, &mut out, &mut decide);
    }
    assert_eq!(count, dropped.len(), "feed counts what it dropped");
    (out.to_vec(), dropped, f)
}

/// `input` with the byte ranges of `cut` (each the exact text of one stanza) removed.
fn without(input: &[u8], cut: &[&str]) -> Vec<u8> {
    let mut s = String::from_utf8(input.to_vec()).expect("utf-8 sample");
    for c in cut {
        let at = s.find(c).expect("stanza in the sample");
        s.replace_range(at..at + c.len(), "");
    }
    s.into_bytes()
}

fn stanza<'a>(input: &'a [u8], start: &str, end: &str) -> &'a str {
    let s = std::str::from_utf8(input).expect("utf-8 sample");
    let a = s.find(start).expect("start");
    let b = s[a..].find(end).expect("end") + a + end.len();
    &s[a..b]
}

#[test]
fn passes_recorded_streams_unchanged_at_any_chunking() {
    for sample in [PROSODY, EJABBERD] {
        for chunk in [1, 2, 7, 64, 1000, sample.len()] {
            let (out, dropped, f) = run(sample, chunk, &[]);
            assert_eq!(out, sample, "chunk {chunk}");
            assert!(dropped.is_empty());
            assert_eq!(f.bypassed(), None, "followed through the SASL restart");
            assert_eq!(f.buffered(), 0);
        }
    }
}

#[test]
fn drops_the_selected_message_after_the_sasl_restart() {
    for sample in [PROSODY, EJABBERD] {
        let m1 = stanza(sample, "<message", "</message>");
        let want = without(sample, &[m1]);
        for chunk in [1, 3, 50, sample.len()] {
            let (out, dropped, f) = run(sample, chunk, &["m1"]);
            assert_eq!(out, want, "chunk {chunk}");
            assert_eq!(dropped, ["m1"]);
            assert_eq!(f.bypassed(), None);
        }
    }
}

#[test]
fn keeps_whitespace_and_other_stanzas_byte_identical() {
    let body = "<message id='a' to='u@x'><body>one</body></message> \n\
<presence from='v@x/r'/>\t<message id='b'><body>two</body></message>\r\n \
<iq type='result' id='message'/><message id='c'/> <ns:message xmlns:ns='jabber:client' id='d'/>\
<message xmlns='urn:other' id='e'/></stream:stream>";
    let input = format!("{HEADER}{body}");
    let (out, dropped, _) = run(input.as_bytes(), 5, &["b", "c", "d", "e"]);
    let want = without(
        input.as_bytes(),
        &[
            "<message id='b'><body>two</body></message>",
            "<message id='c'/>",
            "<ns:message xmlns:ns='jabber:client' id='d'/>",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&want)
    );
    // `e` is not a stanza (foreign namespace) and is never offered to the callback.
    assert_eq!(dropped, ["b", "c", "d"]);
}

#[test]
fn forwards_keepalive_whitespace_at_once() {
    let mut f = XmppFilter::new(FramerConfig::default());
    let mut out = BytesMut::new();
    let mut never = |_: &Element, _: &[u8]| false;
    f.feed(HEADER.as_bytes(), &mut out, &mut never);
    assert_eq!(&out[..], HEADER.as_bytes());
    out.clear();
    f.feed(b" \n <mess", &mut out, &mut never);
    assert_eq!(
        &out[..],
        b" \n ",
        "whitespace is not held for the next stanza"
    );
    assert_eq!(f.buffered(), 5);
}

#[test]
fn gives_up_on_starttls_and_forwards_the_rest_unchanged() {
    let input = format!(
        "{HEADER}<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01 not xml \
<message id='x'/>"
    );
    let (out, dropped, f) = run(input.as_bytes(), 4, &["x"]);
    assert_eq!(out, input.as_bytes());
    assert!(dropped.is_empty());
    assert_eq!(f.bypassed(), Some(&Bypass::Tls));
}

#[test]
fn gives_up_on_a_malformed_stream_without_losing_bytes() {
    let input = format!("{HEADER}<message id='x'><body>a</body></message><!DOCTYPE x><message/>");
    let (out, dropped, f) = run(input.as_bytes(), 3, &["x"]);
    let want = without(
        input.as_bytes(),
        &["<message id='x'><body>a</body></message>"],
    );
    assert_eq!(out, want, "frames before the error are still filtered");
    assert_eq!(dropped, ["x"]);
    assert!(matches!(f.bypassed(), Some(Bypass::Unframeable(_))));
}

#[test]
fn an_oversized_frame_bypasses_instead_of_buffering() {
    let cfg = FramerConfig {
        max_stanza_bytes: 256,
        ..FramerConfig::default()
    };
    let mut f = XmppFilter::new(cfg);
    let mut out = BytesMut::new();
    let mut always = |_: &Element, _: &[u8]| true;
    let big = format!(
        "{HEADER}<message><body>{}</body></message>",
        "x".repeat(2000)
    );
    for piece in big.as_bytes().chunks(16) {
        f.feed(piece, &mut out, &mut always);
        assert!(f.buffered() <= 256 + 16, "held {} bytes", f.buffered());
    }
    assert_eq!(&out[..], big.as_bytes());
    assert!(matches!(f.bypassed(), Some(Bypass::Unframeable(_))));
}
