//! Parser tests on hand-written wire bytes: valid oddities (after RFC 4475 §3.1.1) parse
//! with the right values; malformed messages (after RFC 4475 §3.1.2 and §3.3) are clean
//! errors, never panics.

use super::*;

/// A 200 OK to REGISTER as Kamailio's registrar writes it.
pub(crate) const REGISTER_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1;rport=5070;received=127.0.0.1\r\n\
From: <sip:alice@kamailio.test>;tag=f1\r\n\
To: <sip:alice@kamailio.test>;tag=8f3b2d0a\r\n\
Call-ID: reg-1@127.0.0.1\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:alice@127.0.0.1:5070;transport=udp>;expires=600, <sip:alice@127.0.0.1:5071>;expires=3000\r\n\
Server: kamailio (5.6.3 (x86_64/linux))\r\n\
Content-Length: 0\r\n\r\n";

/// RFC 4475 §3.1.1.1 (wsinv) in spirit: folding, whitespace around colons and slashes,
/// compact and mixed-case names, escaped quotes, empty Subject, leading zeros.
const TORTUOUS: &str = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n\
TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n\
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n\
MaX-fOrWaRdS: 0068\r\n\
Call-ID: wsinv.ndaksdj@192.0.2.1\r\n\
Content-Length   : 4\r\n\
cseq: 0009\r\n  INVITE\r\n\
Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n\
s :\r\n\
NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n\
UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n\
Content-Type: application/sdp\r\n\
v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n\
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33\r\n\
\r\nv=0\n";

fn parse(s: &str) -> Result<Message, ParseError> {
    Message::parse(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn kamailio_register_ok_has_typed_view_and_accessors() {
    let m = parse(REGISTER_200).unwrap();
    assert_eq!((m.status(), m.reason()), (Some(200), Some("OK")));
    assert!(m.typed().is_some(), "rsip represents a plain response");
    assert_eq!(m.call_id(), "reg-1@127.0.0.1");
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (2, Method::Register));
    assert_eq!(m.to_tag().as_deref(), Some("8f3b2d0a"));
    assert_eq!(m.branch().as_deref(), Some("z9hG4bK-r1"));
    let contacts = m.contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri, "sip:alice@127.0.0.1:5070;transport=udp");
    assert_eq!(contacts[1].expires(), Some(3000));
    assert_eq!(m.raw().as_ref(), REGISTER_200.as_bytes());
}

#[test]
fn tortuous_message_parses() {
    let m = parse(TORTUOUS).unwrap();
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    let from = m.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.cseq().unwrap().seq, 9);
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].sent_by, "192.0.2.2");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(m.header("Subject"), Some(""));
    assert_eq!(
        m.header("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    let contact = &m.contacts().unwrap()[0];
    assert_eq!(contact.param("newparam"), Some("newvalue"));
    assert_eq!(contact.param("q"), Some("0.33"));
    assert_eq!(m.body(), b"v=0\n");
    assert_eq!(m.media_type().as_deref(), Some("application/sdp"));
}

#[test]
fn compact_forms_match_full_names_both_ways() {
    let m = parse(TORTUOUS).unwrap();
    assert_eq!(m.header("m"), m.header("Contact"));
    assert_eq!(m.header("t"), m.header("TO"));
    assert_eq!(m.header("l"), Some("4"));
    assert_eq!(m.header_values("Via").count(), 2, "two Via lines");
    assert_eq!(m.header_list("v").count(), 3, "three Via values");
}

#[test]
fn escaped_uris_and_extension_methods_are_kept_as_written() {
    let esc = "RE%47IST%45R sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n\
To: sip:%75se%72@example.com\r\n\
From: <sip:I%20have%20spaces@example.net>;tag=938\r\n\
Max-Forwards: 87\r\n\
i: esc01.239409asdfakjkn23onasd0-3234\r\n\
CSeq: 234234 RE%47IST%45R\r\n\
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n\
C: application/sdp\r\n\
Contact:\r\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n\
L: 0\r\n\r\n";
    let m = parse(esc).unwrap();
    assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R".into())));
    assert_ne!(
        m.method(),
        Some(&Method::Register),
        "§3.1.1.5: not REGISTER"
    );
    assert_eq!(
        m.request_uri(),
        Some("sip:sips%3Auser%40example.com@example.net")
    );
    assert_eq!(m.to().unwrap().uri, "sip:%75se%72@example.com");
    assert_eq!(m.contacts().unwrap().len(), 1);
    assert!(
        m.typed().is_none(),
        "rsip cannot represent an extension method"
    );
}

#[test]
fn response_with_empty_reason_and_utf8_reason() {
    let base = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let m = parse(&format!("SIP/2.0 100 \r\n{base}")).unwrap();
    assert_eq!((m.status(), m.reason()), (Some(100), Some("")));
    let u = parse(&format!(
        "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять\r\n{base}"
    ))
    .unwrap();
    assert_eq!(u.status(), Some(200));
    assert!(
        u.to_tag().is_none(),
        "a missing To tag parses; the checks judge it"
    );
}

/// A wire message and a test of the error it must give.
type Case = (String, fn(&ParseError) -> bool);

#[test]
fn malformed_messages_are_clean_errors() {
    let ok_headers = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
    let cases: Vec<Case> = vec![
        (format!("OPTIONS  sip:a SIP/2.0\r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::StartLine(_))
        }),
        (format!("OPTIONS sip:a SIP/2.0 \r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::StartLine(_))
        }),
        (format!("OPTIONS sip:a SIP/7.0\r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::Version(_))
        }),
        (
            format!("OPTIONS <sip:a> SIP/2.0\r\n{ok_headers}\r\n"),
            |e| matches!(e, ParseError::StartLine(_)),
        ),
        (format!("SIP/2.0 4294967301 Big\r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::StartLine(_))
        }),
        (format!("SIP/2.0 99 Small\r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::StartLine(_))
        }),
        (
            format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}Content-Length: 5\r\n\r\nab"),
            |e| matches!(e, ParseError::ContentLength(_)),
        ),
        (
            format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}Content-Length: -3\r\n\r\n"),
            |e| matches!(e, ParseError::ContentLength(_)),
        ),
        (
            format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}l: 1\r\nl: 1\r\n\r\nx"),
            |e| matches!(e, ParseError::ContentLength(_)),
        ),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace("CSeq: 1 OPTIONS\r\n", "")
            ),
            |e| *e == ParseError::Missing("CSeq"),
        ),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace("Call-ID: x\r\n", "")
            ),
            |e| *e == ParseError::Missing("Call-ID"),
        ),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace("1 OPTIONS", "1 INVITE")
            ),
            |e| matches!(e, ParseError::CSeqMismatch { .. }),
        ),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace("1 OPTIONS", "4294967297 OPTIONS")
            ),
            |e| matches!(e, ParseError::Header(_)),
        ),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace(
                    "To: <sip:a@b>",
                    "To: \"Mr. J. User <sip:j.user@example.com>"
                )
            ),
            |e| matches!(e, ParseError::Header(_)),
        ),
        (
            format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}Call-ID: y\r\n\r\n"),
            |e| matches!(e, ParseError::Header(_)),
        ),
        (
            format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}no colon here\r\n\r\n"),
            |e| matches!(e, ParseError::Header(_)),
        ),
        (format!(" OPTIONS sip:a SIP/2.0\r\n{ok_headers}\r\n"), |e| {
            matches!(e, ParseError::StartLine(_))
        }),
        (format!("OPTIONS sip:a SIP/2.0\r\n{ok_headers}"), |e| {
            *e == ParseError::NoHeaderEnd
        }),
        (
            format!(
                "OPTIONS sip:a SIP/2.0\r\n{}\r\n",
                ok_headers.replace("SIP/2.0/UDP h", "SIP/2.0/UDP")
            ),
            |e| matches!(e, ParseError::Header(_)),
        ),
    ];
    for (bytes, expected) in cases {
        match parse(&bytes) {
            Err(e) => assert!(expected(&e), "{bytes:?} gave {e:?}"),
            Ok(_) => panic!("{bytes:?} parsed"),
        }
    }
}

#[test]
fn binary_garbage_is_an_error_not_a_panic() {
    for garbage in [
        &b"\xff\xfe\x00\x01\r\n\r\n"[..],
        b"\r\n\r\n",
        b"SIP/2.0\r\n\r\n",
        b"INVITE \xc3 SIP/2.0\r\nVia: \xff\r\n\r\n",
        b"\x00\x00\x00\x00",
    ] {
        assert!(Message::parse(Bytes::copy_from_slice(garbage)).is_err());
    }
}
