//! Non-INVITE transactions (RFC 3261 §17.1.2, §17.2.2) as pure state machines: time is
//! passed in (`now`), deadlines come out ([`ClientTransaction::poll_timeout`]), and the
//! bytes to (re)send are returned, never sent.
//!
//! Timer values are data ([`Timers`]); transactions are matched by [`TransactionKey`]
//! (top Via branch + method, §17.1.3 / §17.2.3).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::message::Message;
use super::values::Method;

/// RFC 3261 timer values (§17.1.1.1, §17.1.2.2, Table 4) and RFC 6665 Timer N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests (default 4 s).
    pub t2: Duration,
    /// Maximum duration a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// Timer B (INVITE transaction timeout) = 64*T1.
    pub fn timer_b(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer F (non-INVITE transaction timeout) = 64*T1.
    pub fn timer_f(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer J (server non-INVITE wait for retransmissions) = 64*T1 on unreliable
    /// transports, zero on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1 * 64
        }
    }

    /// Timer K (client wait for response retransmissions) = T4 unreliable, zero reliable.
    pub fn timer_k(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer N (RFC 6665 §4.1.2.4: wait for NOTIFY after SUBSCRIBE) = 64*T1.
    pub fn timer_n(&self) -> Duration {
        self.t1 * 64
    }
}

/// Identifies a transaction: the top Via branch and the method (CSeq method for responses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// The branch parameter of the top Via.
    pub branch: String,
    /// The request method.
    pub method: Method,
}

impl TransactionKey {
    /// The key of a message: top Via branch and CSeq method (works for requests and
    /// responses alike). `None` when the branch is absent or the headers are unusable.
    pub fn of(msg: &Message) -> Option<Self> {
        let branch = msg.branch()?;
        let method = msg.cseq().ok()?.method;
        Some(Self { branch, method })
    }
}

/// States of the non-INVITE client transaction (Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Request sent, no response yet.
    Trying,
    /// A provisional response was received.
    Proceeding,
    /// A final response was received; absorbing retransmissions until Timer K.
    Completed,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// What the TU does with a response the client transaction received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseAction {
    /// Pass the response up (first provisional or final response).
    Deliver,
    /// A retransmission, or a response after termination: drop it.
    Absorb,
}

/// What a fired timer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTimeout {
    /// Timer E: send these bytes again.
    Retransmit(Bytes),
    /// Timer F: no final response in 64*T1; tell the TU (treat as 408).
    TimedOut,
    /// Timer K: the transaction is over.
    Terminated,
}

/// A non-INVITE client transaction (§17.1.2.2).
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    key: TransactionKey,
    request: Bytes,
    reliable: bool,
    timers: Timers,
    state: ClientState,
    interval: Duration,
    timer_e: Option<Instant>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientTransaction {
    /// Starts the transaction for `request` (already sent once by the caller at `now`).
    pub fn new(
        key: TransactionKey,
        request: Bytes,
        reliable: bool,
        timers: Timers,
        now: Instant,
    ) -> Self {
        Self {
            key,
            request,
            reliable,
            timers,
            state: ClientState::Trying,
            interval: timers.t1,
            timer_e: (!reliable).then(|| now + timers.t1),
            timer_f: Some(now + timers.timer_f()),
            timer_k: None,
        }
    }

    /// The transaction's key.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The next instant `handle_timeout` must be called, `None` when terminated.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.timer_e, self.timer_f, self.timer_k]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`; at most one action is returned (F wins over E).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ClientTimeout> {
        if self.timer_k.is_some_and(|k| k <= now) {
            self.terminate();
            return Some(ClientTimeout::Terminated);
        }
        if self.timer_f.is_some_and(|f| f <= now) {
            self.terminate();
            return Some(ClientTimeout::TimedOut);
        }
        match self.timer_e {
            Some(e) if e <= now => {
                // Trying doubles up to T2; Proceeding stays at T2 (§17.1.2.2).
                self.interval = match self.state {
                    ClientState::Proceeding => self.timers.t2,
                    _ => (self.interval * 2).min(self.timers.t2),
                };
                self.timer_e = Some(now + self.interval);
                Some(ClientTimeout::Retransmit(self.request.clone()))
            }
            _ => None,
        }
    }

    /// Feeds a response matching this transaction's key.
    pub fn on_response(&mut self, status: u16, now: Instant) -> ResponseAction {
        match (self.state, status) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                if self.timer_e.is_some() {
                    self.interval = self.timers.t2;
                }
                ResponseAction::Deliver
            }
            (ClientState::Trying | ClientState::Proceeding, _) => {
                self.state = ClientState::Completed;
                self.timer_e = None;
                self.timer_f = None;
                self.timer_k = Some(now + self.timers.timer_k(self.reliable));
                ResponseAction::Deliver
            }
            (ClientState::Completed | ClientState::Terminated, _) => ResponseAction::Absorb,
        }
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}

/// States of the non-INVITE server transaction (Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Request passed to the TU, no response yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; retransmitted requests get it again until Timer J.
    Completed,
    /// Done.
    Terminated,
}

/// A non-INVITE server transaction (§17.2.2).
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    reliable: bool,
    timers: Timers,
    state: ServerState,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerTransaction {
    /// A transaction for a request just received (state Trying).
    pub fn new(reliable: bool, timers: Timers) -> Self {
        Self {
            reliable,
            timers,
            state: ServerState::Trying,
            last_response: None,
            timer_j: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// A retransmission of the request arrived: the bytes to send again, if any (none in
    /// Trying; the last response in Proceeding and Completed).
    pub fn on_retransmission(&self) -> Option<Bytes> {
        match self.state {
            ServerState::Proceeding | ServerState::Completed => self.last_response.clone(),
            ServerState::Trying | ServerState::Terminated => None,
        }
    }

    /// Records a response the TU sends; returns false (and records nothing) for a final
    /// response after one was already sent, which §17.2.2 discards.
    pub fn send_response(&mut self, status: u16, bytes: Bytes, now: Instant) -> bool {
        match self.state {
            ServerState::Completed | ServerState::Terminated => false,
            _ if status < 200 => {
                self.state = ServerState::Proceeding;
                self.last_response = Some(bytes);
                true
            }
            _ => {
                self.state = ServerState::Completed;
                self.last_response = Some(bytes);
                self.timer_j = Some(now + self.timers.timer_j(self.reliable));
                true
            }
        }
    }

    /// The instant Timer J fires, if set.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer_j
    }

    /// Fires Timer J if due; true when the transaction has terminated.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.timer_j.is_some_and(|j| j <= now) {
            self.state = ServerState::Terminated;
            self.timer_j = None;
            self.last_response = None;
        }
        self.state == ServerState::Terminated
    }
}

/// What [`ServerTransactions::on_request`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new request: pass it to the TU, then answer with [`ServerTransactions::respond`].
    New(TransactionKey),
    /// A retransmission: send these bytes (the last response) or nothing.
    Retransmission(Option<Bytes>),
    /// No usable branch/CSeq: handle statelessly.
    Unkeyed,
}

/// The server transactions of one UA, keyed by [`TransactionKey`]: absorbs retransmitted
/// requests and replays the last response (§17.2.2).
#[derive(Debug, Clone, Default)]
pub struct ServerTransactions {
    timers: Timers,
    table: HashMap<TransactionKey, ServerTransaction>,
}

impl ServerTransactions {
    /// An empty table using `timers`.
    pub fn new(timers: Timers) -> Self {
        Self {
            timers,
            table: HashMap::new(),
        }
    }

    /// Classifies a received request (ACK has no non-INVITE transaction and is `Unkeyed`).
    pub fn on_request(&mut self, req: &Message, reliable: bool) -> Incoming {
        let Some(key) = TransactionKey::of(req).filter(|k| k.method != Method::Ack) else {
            return Incoming::Unkeyed;
        };
        if let Some(t) = self.table.get(&key) {
            return Incoming::Retransmission(t.on_retransmission());
        }
        let txn = ServerTransaction::new(reliable, self.timers);
        self.table.insert(key.clone(), txn);
        Incoming::New(key)
    }

    /// Records the response sent for `key`; false if unknown or already final.
    pub fn respond(
        &mut self,
        key: &TransactionKey,
        status: u16,
        bytes: Bytes,
        now: Instant,
    ) -> bool {
        self.table
            .get_mut(key)
            .is_some_and(|t| t.send_response(status, bytes, now))
    }

    /// The earliest Timer J among the transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.values().filter_map(|t| t.poll_timeout()).min()
    }

    /// Drops the transactions whose Timer J fired.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.retain(|_, t| !t.handle_timeout(now));
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
