//! Oracles of `catalogue::sip_proxy`: what the devices of an address-of-record received
//! for one MESSAGE.

use super::oracle::{Judgement, Violation};

/// RFC 3261 §16.6: every registered device (`want`) received the MESSAGE (`got`).
pub fn forked_to_every_contact(want: &[String], got: &[String]) -> Judgement {
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Violation {
        expected: format!("the MESSAGE at every registered device {want:?}"),
        actual: format!("not received by {missing:?} before the delivery timeout"),
    })
}

/// RFC 3261 §16.6 step 1: the body arrives exactly as sent.
pub fn body_unmodified(sent: &[u8], received: &[u8]) -> Judgement {
    if sent == received {
        return Ok(());
    }
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
    Err(Violation {
        expected: format!("body {:?} ({} bytes)", show(sent), sent.len()),
        actual: format!("body {:?} ({} bytes)", show(received), received.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sip::Message;

    const DELIVERED: &[u8] = b"MESSAGE sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy1\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKua1;rport=5071\r\n\
        From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n\
        Call-ID: c1@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 69\r\n\
        Content-Type: text/plain\r\nContent-Length: 20\r\n\r\n\
        impress-7 hello [ad]";

    #[test]
    fn every_device_must_get_a_copy() {
        let want = vec!["bob/phone".to_string(), "bob/laptop".to_string()];
        assert!(forked_to_every_contact(&want, &want).is_ok());
        let v = forked_to_every_contact(&want, &want[..1]).expect_err("one copy only");
        assert!(v.actual.contains("bob/laptop"), "{v:?}");
    }

    /// A proxy that appends an advertisement to the body (recorded bytes) fails.
    #[test]
    fn a_proxy_that_rewrites_the_body_fails() {
        let m = Message::parse(DELIVERED).expect("parse");
        assert!(body_unmodified(b"impress-7 hello [ad]", m.body()).is_ok());
        let v = body_unmodified(b"impress-7 hello", m.body()).expect_err("rewritten");
        assert!(v.actual.contains("[ad]"), "{v:?}");
    }
}
