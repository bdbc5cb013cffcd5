//! Framer tests on hand-written wire bytes: stream framing in every chunking, compact and
//! oddly written Content-Length, keep-alives, size caps without buffering, datagrams.

use super::*;

const OPTIONS: &[u8] = b"OPTIONS sip:kamailio.test SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@kamailio.test>;tag=a1\r\n\
To: <sip:kamailio.test>\r\n\
Call-ID: c1@127.0.0.1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

const MESSAGE: &[u8] = b"MESSAGE sip:bob@kamailio.test SIP/2.0\r\n\
v: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
f: <sip:alice@kamailio.test>;tag=a2\r\n\
t: <sip:bob@kamailio.test>\r\n\
i: c2@127.0.0.1\r\n\
CSeq: 2 MESSAGE\r\n\
c: text/plain\r\n\
L   :   0012\r\n\r\nhello\r\n\r\nbob";

fn frame_all(stream: &[u8], cuts: &[usize], cfg: FramerConfig) -> (Vec<Bytes>, Option<FrameError>) {
    let mut f = Framer::new(cfg);
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([stream.len()].iter()) {
        if let Err(e) = f.feed(&stream[from..to]) {
            while let Ok(Some(m)) = f.next_frame() {
                out.push(m);
            }
            return (out, Some(e));
        }
        from = to;
        while let Some(m) = f.next_frame().expect("no error yet") {
            out.push(m);
        }
    }
    (out, None)
}

#[test]
fn frames_back_to_back_messages_in_every_split() {
    let stream = [b"\r\n\r\n".as_slice(), OPTIONS, b"\r\n", MESSAGE, OPTIONS].concat();
    for cut in 0..=stream.len() {
        let (frames, err) = frame_all(&stream, &[cut], FramerConfig::default());
        assert_eq!(err, None, "cut at {cut}");
        assert_eq!(frames.len(), 3, "cut at {cut}");
        assert_eq!(&frames[0][..], OPTIONS);
        assert_eq!(
            &frames[1][..],
            MESSAGE,
            "body with CRLFCRLF inside is kept whole"
        );
        assert_eq!(&frames[2][..], OPTIONS);
    }
}

#[test]
fn frames_byte_by_byte_and_counts_keepalives() {
    let stream = [b"\r\n\r\n".as_slice(), MESSAGE, b"\r\n"].concat();
    let cuts: Vec<usize> = (1..stream.len()).collect();
    let (frames, err) = frame_all(&stream, &cuts, FramerConfig::default());
    assert_eq!((frames.len(), err), (1, None));
    let mut f = Framer::new(FramerConfig::default());
    f.feed(&stream).unwrap();
    assert_eq!(f.keepalive_bytes(), 6);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn missing_content_length_on_a_stream_is_fatal() {
    let no_cl = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\r\n";
    let stream = [OPTIONS, no_cl.as_slice(), OPTIONS].concat();
    let (frames, err) = frame_all(&stream, &[], FramerConfig::default());
    assert_eq!(frames.len(), 1, "the message before the error is delivered");
    assert_eq!(err, Some(FrameError::MissingContentLength));
}

#[test]
fn bad_content_lengths_are_errors() {
    for (cl, want) in [
        ("Content-Length: -1", "\"-1\""),
        ("Content-Length: ten", "\"ten\""),
        ("Content-Length: 1\r\nl: 1", "repeated"),
        ("l: 184467440737095516160", "too large"),
    ] {
        let msg = format!("OPTIONS sip:a SIP/2.0\r\n{cl}\r\n\r\nx");
        let (_, err) = frame_all(msg.as_bytes(), &[], FramerConfig::default());
        assert_eq!(err, Some(FrameError::BadContentLength(want.into())), "{cl}");
    }
}

#[test]
fn huge_content_length_is_rejected_before_the_body() {
    let cfg = FramerConfig {
        max_message_bytes: 1024,
    };
    let msg = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 10485760\r\n\r\nstart of body";
    let mut f = Framer::new(cfg);
    assert_eq!(
        f.feed(msg),
        Err(FrameError::TooLarge { limit: 1024 }),
        "known from the header block alone"
    );
    assert_eq!(f.buffered(), 0, "the buffer is released");
    assert_eq!(f.feed(b"more"), Err(FrameError::TooLarge { limit: 1024 }));
}

#[test]
fn ten_mebibytes_without_end_of_headers_stay_bounded() {
    let cfg = FramerConfig::default();
    let limit = cfg.max_message_bytes;
    let mut f = Framer::new(cfg);
    let header = b"MESSAGE sip:a SIP/2.0\r\nX-Pad: ";
    f.feed(header).unwrap();
    let chunk = vec![b'a'; 4096];
    let mut result = Ok(());
    let mut fed = header.len();
    while fed < 10 * 1024 * 1024 && result.is_ok() {
        result = f.feed(&chunk);
        fed += chunk.len();
        assert!(f.buffered() <= 2 * limit, "{} buffered", f.buffered());
    }
    assert_eq!(result, Err(FrameError::TooLarge { limit }));
    assert!(
        fed < limit + 2 * chunk.len(),
        "rejected as soon as the cap is crossed"
    );
    // One 10 MiB slice: copied in pieces, rejected after the first.
    let mut g = Framer::new(FramerConfig::default());
    let big = [header.as_slice(), &vec![b'a'; 10 * 1024 * 1024]].concat();
    assert_eq!(g.feed(&big), Err(FrameError::TooLarge { limit }));
    assert_eq!(g.buffered(), 0);
}

#[test]
fn message_at_the_limit_is_accepted() {
    let body = vec![b'x'; 100];
    let head = format!(
        "MESSAGE sip:a SIP/2.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let msg = [head.as_bytes(), &body].concat();
    let cfg = FramerConfig {
        max_message_bytes: msg.len(),
    };
    let (frames, err) = frame_all(&msg, &[10], cfg.clone());
    assert_eq!((frames.len(), err), (1, None));
    let over = FramerConfig {
        max_message_bytes: msg.len() - 1,
    };
    let (_, err) = frame_all(&msg, &[], over);
    assert!(matches!(err, Some(FrameError::TooLarge { .. })));
}

#[test]
fn datagrams_follow_section_18_3() {
    let cfg = FramerConfig::default();
    // RFC 4475 §3.1.1.8 dblreq: trailing octets after Content-Length are discarded.
    let dbl = [OPTIONS, b"INVITE sip:x SIP/2.0\r\n".as_slice()].concat();
    assert_eq!(&frame_datagram(&dbl, &cfg).unwrap().unwrap()[..], OPTIONS);
    // No Content-Length: the body ends with the datagram.
    let no_cl = b"MESSAGE sip:a SIP/2.0\r\nVia: x\r\n\r\nhello";
    assert_eq!(&frame_datagram(no_cl, &cfg).unwrap().unwrap()[..], no_cl);
    // RFC 4475 §3.1.2.2 clerr: Content-Length beyond the datagram.
    let clerr = b"MESSAGE sip:a SIP/2.0\r\nl: 9999\r\n\r\nshort";
    assert_eq!(
        frame_datagram(clerr, &cfg),
        Err(FrameError::Truncated {
            announced: 9999,
            present: 5
        })
    );
    // RFC 4475 §3.1.2.3 ncl: negative Content-Length.
    let ncl = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: -999\r\n\r\n";
    assert!(matches!(
        frame_datagram(ncl, &cfg),
        Err(FrameError::BadContentLength(_))
    ));
    assert_eq!(frame_datagram(b"\r\n\r\n", &cfg), Ok(None));
    assert_eq!(
        frame_datagram(b"garbage", &cfg),
        Err(FrameError::NoHeaderEnd)
    );
    let small = FramerConfig {
        max_message_bytes: 10,
    };
    assert_eq!(
        frame_datagram(OPTIONS, &small),
        Err(FrameError::TooLarge { limit: 10 })
    );
}

#[test]
fn binary_garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 3, 4, 17, 300, 5000] {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 7) as u8 * 37
            })
            .collect();
        let mut f = Framer::new(FramerConfig {
            max_message_bytes: 256,
        });
        let _ = f.feed(&data);
        while let Ok(Some(m)) = f.next_frame() {
            let _ = crate::proto::sip::Message::parse(m);
        }
        let _ = frame_datagram(&data, &FramerConfig::default());
    }
}
