//! Transaction state machines driven by injected time, against the timer values of
//! RFC 3261 §17.1.2.2 (500 ms, 1 s, 2 s, 4 s, 4 s, ... then F at 32 s) and §17.2.2.

use super::*;

fn key() -> TransactionKey {
    TransactionKey {
        branch: "z9hG4bK-1".into(),
        method: Method::Register,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn unreliable_client_retransmits_with_doubling_up_to_t2_then_times_out() {
    let t0 = Instant::now();
    let req = Bytes::from_static(b"REGISTER ...");
    let mut t = ClientTransaction::new(key(), req.clone(), false, Timers::default(), t0);
    let mut fired = Vec::new();
    while let Some(at) = t.poll_timeout() {
        match t.handle_timeout(at) {
            Some(ClientTimeout::Retransmit(b)) => {
                assert_eq!(b, req);
                fired.push(at - t0);
            }
            Some(ClientTimeout::TimedOut) => {
                assert_eq!(at - t0, ms(32_000), "Timer F = 64*T1");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<Duration> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(fired, expected);
    assert_eq!(t.state(), ClientState::Terminated);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn reliable_client_never_retransmits() {
    let t0 = Instant::now();
    let mut t = ClientTransaction::new(key(), Bytes::new(), true, Timers::default(), t0);
    assert_eq!(t.poll_timeout(), Some(t0 + ms(32_000)));
    assert_eq!(t.handle_timeout(t0 + ms(31_999)), None);
    assert_eq!(
        t.handle_timeout(t0 + ms(32_000)),
        Some(ClientTimeout::TimedOut)
    );
}

#[test]
fn provisional_slows_to_t2_and_final_completes_with_timer_k() {
    let t0 = Instant::now();
    let mut t = ClientTransaction::new(key(), Bytes::new(), false, Timers::default(), t0);
    assert_eq!(t.on_response(100, t0 + ms(100)), ResponseAction::Deliver);
    assert_eq!(t.state(), ClientState::Proceeding);
    assert!(matches!(
        t.handle_timeout(t0 + ms(500)),
        Some(ClientTimeout::Retransmit(_))
    ));
    assert_eq!(
        t.poll_timeout(),
        Some(t0 + ms(4500)),
        "T2 after a provisional"
    );
    assert_eq!(t.on_response(200, t0 + ms(600)), ResponseAction::Deliver);
    assert_eq!(t.state(), ClientState::Completed);
    assert_eq!(
        t.on_response(200, t0 + ms(700)),
        ResponseAction::Absorb,
        "retransmission"
    );
    assert_eq!(t.poll_timeout(), Some(t0 + ms(5600)), "Timer K = T4");
    assert_eq!(
        t.handle_timeout(t0 + ms(5600)),
        Some(ClientTimeout::Terminated)
    );
    let mut r = ClientTransaction::new(key(), Bytes::new(), true, Timers::default(), t0);
    r.on_response(401, t0);
    assert_eq!(
        r.poll_timeout(),
        Some(t0),
        "Timer K = 0 on reliable transports"
    );
}

#[test]
fn late_poll_fires_one_retransmission_and_reschedules_from_now() {
    let t0 = Instant::now();
    let mut t = ClientTransaction::new(key(), Bytes::new(), false, Timers::default(), t0);
    assert!(matches!(
        t.handle_timeout(t0 + ms(3000)),
        Some(ClientTimeout::Retransmit(_))
    ));
    assert_eq!(t.poll_timeout(), Some(t0 + ms(4000)));
}

#[test]
fn server_absorbs_retransmissions_and_replays_the_last_response() {
    let t0 = Instant::now();
    let mut s = ServerTransaction::new(false, Timers::default());
    assert_eq!(s.on_retransmission(), None, "Trying: discarded");
    assert!(s.send_response(100, Bytes::from_static(b"100"), t0));
    assert_eq!(s.on_retransmission(), Some(Bytes::from_static(b"100")));
    assert!(s.send_response(200, Bytes::from_static(b"200"), t0));
    assert!(
        !s.send_response(500, Bytes::from_static(b"500"), t0),
        "later finals discarded"
    );
    assert_eq!(s.on_retransmission(), Some(Bytes::from_static(b"200")));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(32_000)), "Timer J = 64*T1");
    assert!(!s.handle_timeout(t0 + ms(31_999)));
    assert!(s.handle_timeout(t0 + ms(32_000)));
    assert_eq!(s.state(), ServerState::Terminated);
}

#[test]
fn server_table_matches_by_branch_and_method() {
    let t0 = Instant::now();
    let notify = Message::parse(Bytes::from_static(
        b"NOTIFY sip:alice@127.0.0.1:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1\r\n\
From: <sip:bob@kamailio.test>;tag=b1\r\nTo: <sip:alice@kamailio.test>;tag=a1\r\n\
Call-ID: sub-1\r\nCSeq: 5 NOTIFY\r\nEvent: presence\r\n\
Subscription-State: active;expires=300\r\nContent-Length: 0\r\n\r\n",
    ))
    .unwrap();
    let mut table = ServerTransactions::new(Timers::default());
    let Incoming::New(k) = table.on_request(&notify, false) else {
        panic!("first is new");
    };
    assert_eq!(
        table.on_request(&notify, false),
        Incoming::Retransmission(None)
    );
    assert!(table.respond(&k, 200, Bytes::from_static(b"SIP/2.0 200 OK"), t0));
    assert_eq!(
        table.on_request(&notify, false),
        Incoming::Retransmission(Some(Bytes::from_static(b"SIP/2.0 200 OK")))
    );
    assert_eq!(table.len(), 1);
    table.handle_timeout(t0 + ms(32_000));
    assert!(table.is_empty());
}
