//! Throughput of the sans-io SIP codec in messages per second: stream framing alone, and
//! framing plus parsing into `Message` (header view and `rsip` typed view), over 1000
//! realistic messages (REGISTER 200s, NOTIFYs with PIDF, MESSAGEs, 401 challenges) fed in
//! 4 KiB chunks, the size of a typical socket read.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use impress::proto::sip::{Framer, FramerConfig, Message};

const CHUNK: usize = 4096;
const MESSAGES: usize = 1000;

fn with_length(head: &str, body: &str) -> String {
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
}

/// One of four shapes a presence and messaging client receives most.
fn message(i: usize) -> String {
    let via = format!(
        "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-{i:08x};rport=5070;received=127.0.0.1\r\n"
    );
    match i % 4 {
        0 => with_length(
            &format!(
                "SIP/2.0 200 OK\r\n{via}From: <sip:user{i}@kamailio.test>;tag=f{i}\r\n\
                 To: <sip:user{i}@kamailio.test>;tag=8f3b2d0a\r\nCall-ID: reg-{i}@127.0.0.1\r\n\
                 CSeq: {i} REGISTER\r\nContact: <sip:user{i}@127.0.0.1:5070;transport=tcp>;expires=600\r\n\
                 Server: kamailio (5.6.3 (x86_64/linux))\r\n"
            ),
            "",
        ),
        1 => with_length(
            &format!(
                "NOTIFY sip:user{i}@127.0.0.1:5070;transport=tcp SIP/2.0\r\n{via}Max-Forwards: 70\r\n\
                 From: <sip:friend@kamailio.test>;tag=ps-{i}\r\nTo: <sip:user{i}@kamailio.test>;tag=a{i}\r\n\
                 Call-ID: sub-{i}\r\nCSeq: {i} NOTIFY\r\nContact: <sip:127.0.0.1:5060;transport=tcp>\r\n\
                 Event: presence\r\nSubscription-State: active;expires=3599\r\n\
                 Content-Type: application/pidf+xml\r\n"
            ),
            "<?xml version='1.0' encoding='UTF-8'?>\n<presence xmlns='urn:ietf:params:xml:ns:pidf' \
             entity='sip:friend@kamailio.test'><tuple id='t1'><status><basic>open</basic>\
             </status><note>at my desk</note></tuple></presence>\n",
        ),
        2 => with_length(
            &format!(
                "MESSAGE sip:user{i}@127.0.0.1:5070;transport=tcp SIP/2.0\r\n{via}Max-Forwards: 69\r\n\
                 From: <sip:friend@kamailio.test>;tag=m{i}\r\nTo: <sip:user{i}@kamailio.test>\r\n\
                 Call-ID: msg-{i}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain;charset=utf-8\r\n"
            ),
            "message body of a realistic length, with some text to carry",
        ),
        _ => with_length(
            &format!(
                "SIP/2.0 401 Unauthorized\r\n{via}From: <sip:user{i}@kamailio.test>;tag=f{i}\r\n\
                 To: <sip:user{i}@kamailio.test>;tag=b27e1a1d33761e85846fc98f5f3a7e58.1c5a\r\n\
                 Call-ID: reg-{i}@127.0.0.1\r\nCSeq: {i} REGISTER\r\n\
                 WWW-Authenticate: Digest realm=\"kamailio.test\", nonce=\"ZfA1xGXwNJjeLQv4{i}\", qop=\"auth\"\r\n"
            ),
            "",
        ),
    }
}

fn stream() -> Vec<u8> {
    (0..MESSAGES).map(message).collect::<String>().into_bytes()
}

/// Frames the whole buffer and hands each message to `on_message`; returns the count.
fn run(bytes: &[u8], mut on_message: impl FnMut(bytes::Bytes)) -> usize {
    let mut framer = Framer::new(FramerConfig::default());
    let mut n = 0;
    for chunk in bytes.chunks(CHUNK) {
        framer.feed(chunk).expect("feed");
        while let Some(frame) = framer.next_frame().expect("frame") {
            on_message(frame);
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    assert_eq!(run(&bytes, |_| {}), MESSAGES);
    run(&bytes, |m| {
        assert!(Message::parse(m).expect("parse").typed().is_some());
    });
    let mut group = c.benchmark_group("sip_codec");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("frame", |b| b.iter(|| run(&bytes, |_| {})));
    group.bench_function("frame_and_parse", |b| {
        b.iter(|| {
            run(&bytes, |m| {
                std::hint::black_box(Message::parse(m).expect("parse"));
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
