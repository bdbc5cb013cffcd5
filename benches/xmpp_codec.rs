//! Throughput of the sans-io XMPP codec in stanzas per second: framing alone, and framing
//! plus parsing into `Element`s, over ~1000 realistic stanzas fed in 4 KiB chunks (the size
//! of a typical socket read).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use impress::proto::xmpp::{Frame, Framer, FramerConfig, NsContext, element};

const CHUNK: usize = 4096;
const STANZAS: usize = 1000;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='example.test' id='bench' \
    version='1.0' xml:lang='en'>";

/// One of three stanza shapes a loaded server sends most: chat messages, presence
/// broadcasts, IQ results.
fn stanza(i: usize) -> String {
    match i % 3 {
        0 => format!(
            "<message from='user{i}@example.test/impress' to='user{}@example.test/impress' \
             type='chat' id='m{i}' xml:lang='en'><body>message number {i} &amp; some \
             text &lt;escaped&gt; to make the body a realistic length</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='user{i}@example.test' id='s{i}'/>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
            i + 1
        ),
        1 => format!(
            "<presence from='user{i}@example.test/impress' to='user0@example.test/impress'>\
             <show>away</show><status>out for lunch</status><priority>5</priority>\
             <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
             node='https://impress.example' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>"
        ),
        _ => format!(
            "<iq type='result' id='r{i}' from='example.test' to='user{i}@example.test/impress'>\
             <query xmlns='jabber:iq:roster' ver='v{i}'><item jid='friend@example.test' \
             subscription='both' name='Friend'><group>Buddies</group></item></query></iq>\n"
        ),
    }
}

fn stream() -> Vec<u8> {
    let mut s = String::from(HEADER);
    for i in 0..STANZAS {
        s.push_str(&stanza(i));
    }
    s.into_bytes()
}

/// Frames the whole buffer and hands each element to `on_element`; returns the count.
fn run(bytes: &[u8], mut on_element: impl FnMut(&[u8])) -> usize {
    let mut framer = Framer::new(FramerConfig::default());
    let mut n = 0;
    for chunk in bytes.chunks(CHUNK) {
        framer.feed(chunk).expect("feed");
        while let Some(frame) = framer.next_frame().expect("frame") {
            if let Frame::Element { raw } = frame {
                on_element(&raw);
                n += 1;
            }
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    let ctx = NsContext::client();
    assert_eq!(run(&bytes, |_| {}), STANZAS);
    let mut group = c.benchmark_group("xmpp_codec");
    group.throughput(Throughput::Elements(STANZAS as u64));
    group.bench_function("frame", |b| b.iter(|| run(&bytes, |_| {})));
    group.bench_function("frame_and_parse", |b| {
        b.iter(|| {
            run(&bytes, |raw| {
                std::hint::black_box(element::parse(raw, &ctx).expect("parse"));
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
