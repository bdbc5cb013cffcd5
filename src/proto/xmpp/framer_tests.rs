//! Unit tests for the framer (kept beside `framer.rs` to hold both files under the size
//! limit): chunking invariance, stream restarts, RFC 6120 §11.1 restrictions and the
//! resource limits.

use super::*;
use crate::proto::xmpp::element::parse;
use crate::proto::xmpp::scanner::find_any;

const STREAM: &str = "<?xml version='1.0'?>\
<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
id='s-1&amp;2' from='example.test' version='1.0' xml:lang='en'>\
<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>\
 \n\t \
<message from='a@example.test/r' to='b@example.test' type='chat' id=\"q'>/>\" x='a\"/>b'>\
<body><![CDATA[<not-a-tag/> ]] ]>]]]> &lt;b&gt; &#x263A;</body><thread>t&amp;1</thread></message>\
 <iq type='result' id='r1'/>\n\
<presence from='a@example.test/r'><show>away</show>\
<x xmlns='vcard-temp:x:update'><photo/></x></presence>\
</stream:stream >";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Open,
    Element,
    Close,
}

fn kind(f: &Frame) -> Kind {
    match f {
        Frame::Open { .. } => Kind::Open,
        Frame::Element { .. } => Kind::Element,
        Frame::Close { .. } => Kind::Close,
    }
}

/// Feeds `chunks` and collects every frame; stops at the first error.
fn run<'a>(
    cfg: FramerConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<(Kind, Vec<u8>)>, Option<FrameError>) {
    let mut f = Framer::new(cfg);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = f.feed(chunk) {
            return (out, Some(e));
        }
        loop {
            match f.next_frame() {
                Ok(Some(frame)) => out.push((kind(&frame), frame.raw().to_vec())),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn run_whole(s: &[u8]) -> (Vec<(Kind, Vec<u8>)>, Option<FrameError>) {
    run(FramerConfig::default(), [s])
}

fn expected() -> Vec<(Kind, Vec<u8>)> {
    let s = STREAM;
    let cut = |from: &str, to: &str| {
        let a = s.find(from).unwrap();
        let b = s[a..].find(to).unwrap() + a + to.len();
        s.as_bytes()[a..b].to_vec()
    };
    vec![
        (Kind::Open, cut("<?xml", "xml:lang='en'>")),
        (
            Kind::Element,
            cut("<stream:features>", "</stream:features>"),
        ),
        (Kind::Element, cut("<message", "</message>")),
        (Kind::Element, cut("<iq", "/>")),
        (Kind::Element, cut("<presence", "</presence>")),
        (Kind::Close, cut("</stream:stream", ">")),
    ]
}

#[test]
fn frames_a_realistic_stream_whole() {
    let (frames, err) = run_whole(STREAM.as_bytes());
    assert_eq!(err, None);
    assert_eq!(frames, expected());
}

#[test]
fn every_two_chunk_split_gives_identical_frames() {
    let bytes = STREAM.as_bytes();
    let want = expected();
    for i in 0..=bytes.len() {
        let (frames, err) = run(FramerConfig::default(), [&bytes[..i], &bytes[i..]]);
        assert_eq!(err, None, "split at {i}");
        assert_eq!(frames, want, "split at {i}");
    }
}

#[test]
fn byte_at_a_time_gives_identical_frames() {
    let (frames, err) = run(FramerConfig::default(), STREAM.as_bytes().chunks(1));
    assert_eq!(err, None);
    assert_eq!(frames, expected());
}

#[test]
fn header_and_elements_parse_with_header_context() {
    let mut f = Framer::new(FramerConfig::default());
    f.feed(STREAM.as_bytes()).unwrap();
    let Some(Frame::Open { header, .. }) = f.next_frame().unwrap() else {
        panic!("expected the stream header");
    };
    assert_eq!(header.name, "stream:stream");
    assert_eq!(header.id(), Some("s-1&2"));
    assert_eq!(header.from(), Some("example.test"));
    assert_eq!(header.version(), Some("1.0"));
    assert_eq!(header.lang(), Some("en"));
    assert_eq!(header.attr("xmlns:stream"), Some(ns_stream()));
    let ctx = header.ns_context();
    let features = parse(f.next_frame().unwrap().unwrap().raw(), &ctx).unwrap();
    assert!(features.is("features", ns_stream()));
    let msg = parse(f.next_frame().unwrap().unwrap().raw(), &ctx).unwrap();
    assert_eq!(msg.attr("id"), Some("q'>/>"));
    assert_eq!(msg.attr("x"), Some("a\"/>b"));
    let body = msg.child("body", "jabber:client").unwrap().text();
    assert_eq!(body, "<not-a-tag/> ]] ]>] <b> \u{263A}");
}

fn ns_stream() -> &'static str {
    crate::proto::xmpp::ns::STREAM
}

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

#[test]
fn restart_after_proceed_and_success_in_same_chunk() {
    let mut f = Framer::new(FramerConfig::default());
    let first = format!(
        "{HEADER}<stream:features/><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\
         <?xml version='1.0'?>{HEADER}<stream:features/>"
    );
    f.feed(first.as_bytes()).unwrap();
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Open { .. }))));
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Element { .. }))));
    let proceed = f.next_frame().unwrap().unwrap();
    assert!(proceed.raw().starts_with(b"<proceed"));
    f.restart();
    let open = f.next_frame().unwrap().unwrap();
    assert!(
        open.raw()
            .starts_with(b"<?xml version='1.0'?><stream:stream")
    );
    assert_eq!(
        f.next_frame().unwrap().unwrap().raw(),
        b"<stream:features/>"
    );
    assert!(f.next_frame().unwrap().is_none());

    // SASL success, then the new header without an XML declaration, split mid-tag.
    let second =
        format!("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}<stream:features>");
    let (a, b) = second.split_at(second.len() - 5);
    f.feed(a.as_bytes()).unwrap();
    assert!(
        f.next_frame()
            .unwrap()
            .unwrap()
            .raw()
            .starts_with(b"<success")
    );
    f.restart();
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Open { .. }))));
    let rest = format!("{b}<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
    f.feed(rest.as_bytes()).unwrap();
    let features = f.next_frame().unwrap().unwrap();
    assert!(features.raw().ends_with(b"</stream:features>"));
    assert!(f.next_frame().unwrap().is_none());
}

#[test]
fn without_restart_a_second_header_is_an_error() {
    let s = format!("{HEADER}<success xmlns='x'/><?xml version='1.0'?>{HEADER}");
    let (frames, err) = run_whole(s.as_bytes());
    assert_eq!(frames.len(), 2, "frames before the bad bytes are delivered");
    assert!(matches!(err, Some(FrameError::Malformed { .. })));
}

#[test]
fn rejects_doctype_and_entities() {
    let cases: &[(&str, FrameError)] = &[
        ("<!DOCTYPE stream [<!ENTITY x 'y'>]>", FrameError::Doctype),
        ("<?xml version='1.0'?><!doctype x>", FrameError::Doctype),
        ("<!ENTITY x 'y'>", FrameError::Entity),
        ("<message><!DOCTYPE x></message>", FrameError::Doctype),
        ("<message><!ENTITY x 'y'></message>", FrameError::Entity),
        ("<message>&xxe;</message>", FrameError::Entity),
        ("<message a='&xxe;'/>", FrameError::Entity),
        (
            "<message>&averyveryverylongentityname;</message>",
            FrameError::Entity,
        ),
    ];
    for (tail, want) in cases {
        let s = if tail.starts_with("<message") {
            format!("{HEADER}{tail}")
        } else {
            format!("{tail}{HEADER}")
        };
        assert_eq!(run_whole(s.as_bytes()).1.as_ref(), Some(want), "{tail}");
    }
}

#[test]
fn rejects_restricted_xml_constructs() {
    let bad = [
        "<message><!-- c --></message>",
        "<!-- c -->",
        "<message><?pi x?></message>",
        "<message>&#xZZ;</message>",
        "<message>& </message>",
        "<message a='x<y'/>",
        "<message>text</message>hello",
        "<![CDATA[x]]>",
        "</wrong>",
        "<message></message></stream:stream><message/>",
        "<message><!FOO></message>",
        "<message><1/></message>",
    ];
    for tail in bad {
        let s = format!("{HEADER}{tail}");
        let err = run_whole(s.as_bytes()).1;
        assert!(
            matches!(err, Some(FrameError::Malformed { .. })),
            "{tail}: {err:?}"
        );
    }
    for prolog in [
        "<?php x?>",
        "<?xml version='1.0'?><?xml version='1.0'?>",
        "junk",
        "<a/>",
    ] {
        let s = format!("{prolog}{HEADER}");
        assert!(run_whole(s.as_bytes()).1.is_some(), "{prolog}");
    }
}

#[test]
fn accepts_valid_references_and_whitespace_keepalives() {
    let s = format!("  \r\n{HEADER} \n <m a='&lt;&#60;&#x3c;'>&amp;&quot;&apos;&gt;</m>\n \n");
    let (frames, err) = run_whole(s.as_bytes());
    assert_eq!(err, None);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[1].1,
        b"<m a='&lt;&#60;&#x3c;'>&amp;&quot;&apos;&gt;</m>"
    );
}

#[test]
fn errors_stop_at_the_offending_byte() {
    let mut f = Framer::new(FramerConfig::default());
    f.feed(format!("{HEADER}<a/><!-- x").as_bytes()).unwrap();
    assert!(f.next_frame().unwrap().is_some());
    assert!(f.next_frame().unwrap().is_some());
    let err = f.next_frame().unwrap_err();
    assert_eq!(f.next_frame().unwrap_err(), err, "errors are sticky");
    assert_eq!(f.feed(b"more"), Ok(()), "only size errors fail feed");
}

#[test]
fn oversized_stanza_is_rejected_with_bounded_memory() {
    let cfg = FramerConfig {
        max_stanza_bytes: 64 * 1024,
        max_depth: 128,
    };
    let cap = cfg.max_stanza_bytes;
    let mut f = Framer::new(cfg);
    f.feed(format!("{HEADER}<message><body>").as_bytes())
        .unwrap();
    assert!(f.next_frame().unwrap().is_some());
    let chunk = [b'a'; 4096];
    let mut failed = None;
    for i in 0..(10 * 1024 * 1024 / chunk.len()) {
        match f.feed(&chunk) {
            Ok(()) => assert!(f.next_frame().unwrap().is_none()),
            Err(e) => {
                failed.get_or_insert((i, e));
            }
        }
        assert!(
            f.buffered() <= cap + chunk.len(),
            "buffered {}",
            f.buffered()
        );
    }
    let (at, err) = failed.unwrap();
    assert_eq!(err, FrameError::TooLarge { limit: cap });
    assert!(at * chunk.len() <= cap + chunk.len());
    assert_eq!(f.next_frame().unwrap_err(), err);
}

#[test]
fn oversized_single_feed_and_stalled_tail_are_bounded() {
    let cfg = FramerConfig {
        max_stanza_bytes: 1000,
        max_depth: 128,
    };
    let big = format!("{HEADER}<a>{}</a>", "x".repeat(5000));
    let (frames, err) = run(cfg.clone(), [big.as_bytes()]);
    assert_eq!(frames.len(), 0, "size errors are raised by feed");
    assert_eq!(err, Some(FrameError::TooLarge { limit: 1000 }));
    let mut f = Framer::new(cfg);
    f.feed(format!("{HEADER}<!-- stall").as_bytes()).unwrap();
    let grow = f.feed(&[b'x'; 2000]);
    assert_eq!(grow, Err(FrameError::TooLarge { limit: 1000 }));
    assert!(f.buffered() <= 1000);
}

#[test]
fn many_small_stanzas_in_one_chunk_are_not_too_large() {
    let cfg = FramerConfig {
        max_stanza_bytes: 256,
        max_depth: 128,
    };
    let s = format!("{HEADER}{}", "<presence from='a@b/c'/>".repeat(1000));
    let (frames, err) = run(cfg, [s.as_bytes()]);
    assert_eq!(err, None);
    assert_eq!(frames.len(), 1001);
}

#[test]
fn depth_cap_is_enforced() {
    let cfg = FramerConfig {
        max_stanza_bytes: 1024 * 1024,
        max_depth: 4,
    };
    let ok = format!("{HEADER}<a><b><c/></b></a>");
    assert_eq!(run(cfg.clone(), [ok.as_bytes()]).1, None);
    let deep = format!("{HEADER}<a><b><c><d/></c></b></a>");
    assert_eq!(
        run(cfg, [deep.as_bytes()]).1,
        Some(FrameError::TooDeep { limit: 4 })
    );
}

#[test]
fn hundred_thousand_nested_elements_fail_without_stack_overflow() {
    let s = format!("{HEADER}{}", "<a>".repeat(100_000));
    let (frames, err) = run_whole(s.as_bytes());
    assert_eq!(frames.len(), 1);
    assert_eq!(err, Some(FrameError::TooDeep { limit: 128 }));
}

#[test]
fn invalid_utf8_never_panics() {
    let mut s = HEADER.as_bytes().to_vec();
    s.extend_from_slice(b"<m\xff a='\xfe\xc3'>\xc3\x28\xed\xa0\x80</m\xff>");
    let (frames, err) = run_whole(&s);
    assert_eq!(err, None, "framing is byte-level");
    let ctx = NsContext::client();
    assert!(parse(&frames[1].1, &ctx).is_err());
    let bad_header = b"<stream:stream xmlns='jabber:client' id='\xff'>";
    assert!(matches!(
        run_whole(bad_header).1,
        Some(FrameError::Malformed { .. })
    ));
    let bad_name = b"<stream\xff:stream xmlns='jabber:client'>";
    assert!(matches!(
        run_whole(bad_name).1,
        Some(FrameError::Malformed { .. })
    ));
}

#[test]
fn close_tag_must_match_header() {
    let s = format!("{HEADER}</stream:streams>");
    assert!(matches!(
        run_whole(s.as_bytes()).1,
        Some(FrameError::Malformed { .. })
    ));
    let (frames, err) = run_whole(format!("{HEADER}</stream:stream>\n").as_bytes());
    assert_eq!((frames.len(), err), (2, None));
    let self_closed = run_whole(b"<stream:stream/>").1;
    assert!(matches!(self_closed, Some(FrameError::Malformed { .. })));
}

#[test]
fn keepalive_whitespace_is_not_retained() {
    let mut f = Framer::new(FramerConfig::default());
    f.feed(HEADER.as_bytes()).unwrap();
    assert!(f.next_frame().unwrap().is_some());
    for _ in 0..1000 {
        f.feed(b" \n").unwrap();
        assert!(f.next_frame().unwrap().is_none());
    }
    assert_eq!(f.buffered(), 0);
}

#[test]
fn find_any_matches_a_naive_search() {
    let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
    for start in 0..40 {
        for len in [0, 1, 7, 8, 9, 16, 63, 200] {
            let s = &hay[start..(start + len).min(hay.len())];
            for (a, b, c) in [
                (b'<', b'&', b'<'),
                (0, 0x80, 0xff),
                (37, 74, 111),
                (250, 1, 2),
            ] {
                let naive = s.iter().position(|&x| x == a || x == b || x == c);
                assert_eq!(find_any(s, [a, b, c]), naive, "{start} {len} {a} {b} {c}");
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let alphabet = b"<>/'\"!?[]-&;#x=: \nabCDATA\xff\xc3";
    let mut seed = 0x9e37_79b9_u32;
    for round in 0..300 {
        let mut f = Framer::new(FramerConfig {
            max_stanza_bytes: 512,
            max_depth: 8,
        });
        let _ = f.feed(HEADER.as_bytes());
        for _ in 0..20 {
            let chunk: Vec<u8> = (0..(round % 37))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    alphabet[seed as usize % alphabet.len()]
                })
                .collect();
            let _ = f.feed(&chunk);
            while let Ok(Some(frame)) = f.next_frame() {
                let _ = parse(frame.raw(), &NsContext::client());
            }
            if seed.is_multiple_of(7) {
                f.restart();
            }
        }
    }
}

/// Frames a recorded server-to-client login transcript, restarting after `<proceed/>` and
/// `<success/>` as a client would, and parses every element.
fn replay(bytes: &[u8], chunk: usize) -> Vec<String> {
    let mut f = Framer::new(FramerConfig::default());
    let mut names = Vec::new();
    let mut ctx = NsContext::client();
    for chunk in bytes.chunks(chunk) {
        f.feed(chunk).unwrap();
        while let Some(frame) = f.next_frame().unwrap() {
            let el = match &frame {
                Frame::Open { header, .. } => {
                    ctx = header.ns_context();
                    names.push("open".to_owned());
                    continue;
                }
                Frame::Close { .. } => {
                    names.push("close".to_owned());
                    continue;
                }
                Frame::Element { raw } => parse(raw, &ctx).unwrap(),
            };
            names.push(el.name.clone());
            if el.name == "proceed" || el.name == "success" {
                f.restart();
            }
        }
    }
    names
}

fn check_replay(bytes: &[u8]) {
    let names = replay(bytes, bytes.len());
    assert_eq!(names.first().map(String::as_str), Some("open"));
    assert_eq!(names.last().map(String::as_str), Some("close"));
    for want in [
        "features",
        "challenge",
        "success",
        "iq",
        "enabled",
        "message",
        "a",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    assert_eq!(names.iter().filter(|n| *n == "open").count(), 2);
    for chunk in [1, 2, 7, 97, 4096] {
        assert_eq!(replay(bytes, chunk), names, "chunk size {chunk}");
    }
}

#[test]
fn replays_prosody_login() {
    check_replay(include_bytes!("../../../fixtures/xmpp/prosody-login.xml"));
}

#[test]
fn replays_ejabberd_login() {
    check_replay(include_bytes!("../../../fixtures/xmpp/ejabberd-login.xml"));
}
