//! Dialog state (RFC 3261 §12) as a subscriber needs it (RFC 6665 §4.1.2.4, §4.4.1):
//! a SUBSCRIBE dialog is created by the 2xx or by the first NOTIFY (which may arrive
//! first), in-dialog NOTIFYs are matched to it, and refreshes and the unsubscribe are sent
//! in it with the route set and an increasing CSeq.

use super::build::{Local, RequestBuilder};
use super::message::{Message, ParseError};
use super::values::{Method, NameAddr};

/// Why a dialog cannot be formed or a request does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A tag needed for the dialog id is absent.
    #[error("no {0} tag")]
    MissingTag(&'static str),
    /// The message creating the dialog has no Contact (§12.1.1: remote target).
    #[error("no Contact to use as remote target")]
    MissingContact,
    /// A header could not be parsed.
    #[error(transparent)]
    Header(#[from] ParseError),
    /// §12.2.2: a request with a CSeq lower than the remote sequence number (answer 500).
    #[error("CSeq {got} is lower than the last one, {last}")]
    OutOfOrder {
        /// The request's CSeq.
        got: u32,
        /// The remote sequence number.
        last: u32,
    },
}

/// The dialog identifier at this UA (§12): Call-ID, local tag, remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag of our requests).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The id of a request received inside a dialog (UAS view: local = To tag).
    pub fn of_received_request(req: &Message) -> Option<Self> {
        Some(Self {
            call_id: req.call_id().to_owned(),
            local_tag: req.to_tag()?,
            remote_tag: req.from_tag()?,
        })
    }
}

/// A dialog's state (§12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// The id.
    pub id: DialogId,
    /// Our last CSeq number; the next request uses one more.
    pub local_seq: u32,
    /// The peer's last CSeq number, once it has sent a request.
    pub remote_seq: Option<u32>,
    /// Our URI (From of our requests).
    pub local_uri: NameAddr,
    /// The peer's URI (To of our requests).
    pub remote_uri: NameAddr,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: String,
    /// Route set: the name-addr values to put in Route, in order.
    pub route_set: Vec<NameAddr>,
}

fn bare(addr: &NameAddr) -> NameAddr {
    NameAddr {
        display: addr.display.clone(),
        uri: addr.uri.clone(),
        params: Vec::new(),
    }
}

fn first_contact(msg: &Message) -> Result<String, DialogError> {
    let contacts = msg.contacts()?;
    contacts
        .into_iter()
        .next()
        .map(|c| c.uri)
        .ok_or(DialogError::MissingContact)
}

impl Dialog {
    /// The dialog a 2xx response to our `request` creates (UAC, §12.1.2): remote tag from
    /// To, route set = Record-Route reversed, remote target = Contact.
    pub fn from_response(request: &Message, response: &Message) -> Result<Self, DialogError> {
        let mut route_set = response.record_routes()?;
        route_set.reverse();
        Self::build(request, response.to_tag(), response, route_set, None)
    }

    /// The dialog the first NOTIFY for our `subscribe` creates (RFC 6665 §4.1.2.4): remote
    /// tag from the NOTIFY's From, route set = its Record-Route in order (the subscriber
    /// acts as UAS for the NOTIFY, §12.1.1), remote CSeq from it.
    pub fn from_notify(subscribe: &Message, notify: &Message) -> Result<Self, DialogError> {
        let route_set = notify.record_routes()?;
        let remote_seq = Some(notify.cseq()?.seq);
        Self::build(subscribe, notify.from_tag(), notify, route_set, remote_seq)
    }

    fn build(
        request: &Message,
        remote_tag: Option<String>,
        peer_msg: &Message,
        route_set: Vec<NameAddr>,
        remote_seq: Option<u32>,
    ) -> Result<Self, DialogError> {
        let local_tag = request.from_tag().ok_or(DialogError::MissingTag("local"))?;
        let remote_tag = remote_tag.ok_or(DialogError::MissingTag("remote"))?;
        Ok(Self {
            id: DialogId {
                call_id: request.call_id().to_owned(),
                local_tag,
                remote_tag,
            },
            local_seq: request.cseq()?.seq,
            remote_seq,
            local_uri: bare(&request.from()?),
            remote_uri: bare(&request.to()?),
            remote_target: first_contact(peer_msg)?,
            route_set,
        })
    }

    /// Whether a received request belongs to this dialog (Call-ID, To tag = local tag,
    /// From tag = remote tag).
    pub fn matches(&self, req: &Message) -> bool {
        DialogId::of_received_request(req).is_some_and(|id| id == self.id)
    }

    /// Applies §12.2.2 to a request matched to this dialog: rejects an out-of-order CSeq,
    /// records the remote sequence number, and takes a new remote target from a target
    /// refresh (a NOTIFY or SUBSCRIBE with Contact).
    pub fn on_request(&mut self, req: &Message) -> Result<(), DialogError> {
        let seq = req.cseq()?.seq;
        if let Some(last) = self.remote_seq
            && seq < last
        {
            return Err(DialogError::OutOfOrder { got: seq, last });
        }
        self.remote_seq = Some(seq);
        let refresh = matches!(req.method(), Some(Method::Notify | Method::Subscribe));
        if refresh && let Ok(target) = first_contact(req) {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Takes a new remote target from a 2xx to a target refresh we sent (§12.2.1.2).
    pub fn on_refresh_response(&mut self, resp: &Message) {
        if let Ok(target) = first_contact(resp) {
            self.remote_target = target;
        }
    }

    /// An in-dialog request (§12.2.1.1): Request-URI and Route from the route set (loose
    /// or strict routing), From/To with the dialog tags, Call-ID, the next CSeq.
    pub fn request(&mut self, method: Method, local: &Local, branch: &str) -> RequestBuilder {
        self.local_seq = self.local_seq.saturating_add(1);
        let loose = self.route_set.first().is_none_or(|r| r.uri.contains(";lr"));
        let (uri, routes): (String, Vec<String>) = if loose {
            let routes = self.route_set.iter().map(ToString::to_string).collect();
            (self.remote_target.clone(), routes)
        } else {
            let mut routes: Vec<String> = self.route_set[1..]
                .iter()
                .map(ToString::to_string)
                .collect();
            routes.push(format!("<{}>", self.remote_target));
            (self.route_set[0].uri.clone(), routes)
        };
        let mut b = RequestBuilder::new(method, uri)
            .via(&local.transport, &local.sent_by, branch)
            .header("Max-Forwards", "70")
            .from(&self.local_uri, &self.id.local_tag)
            .to(&self.remote_uri, Some(&self.id.remote_tag))
            .header("Call-ID", self.id.call_id.clone())
            .cseq(self.local_seq);
        for r in routes {
            b = b.header("Route", r);
        }
        b
    }

    /// A refreshing SUBSCRIBE in this dialog (RFC 6665 §4.1.2.2); `expires` 0 unsubscribes
    /// (§4.1.2.3), which the notifier answers with a final NOTIFY.
    pub fn subscribe(
        &mut self,
        local: &Local,
        branch: &str,
        event: &str,
        expires: u32,
    ) -> RequestBuilder {
        self.request(Method::Subscribe, local, branch)
            .header("Contact", local.contact.to_string())
            .header("Event", event)
            .header("Expires", expires.to_string())
    }
}

/// RFC 6665 §4.4.1: does `notify` belong to the subscription `subscribe` created? Same
/// Call-ID, NOTIFY To tag = SUBSCRIBE From tag, same Event package and `id`.
pub fn notify_matches_subscribe(subscribe: &Message, notify: &Message) -> bool {
    let same_call = subscribe.call_id() == notify.call_id();
    let same_tag = subscribe.from_tag().is_some() && subscribe.from_tag() == notify.to_tag();
    let event = |m: &Message| {
        m.event()
            .and_then(Result::ok)
            .map(|e| (e.package.clone(), e.id().map(str::to_owned)))
    };
    same_call && same_tag && event(subscribe).is_some() && event(subscribe) == event(notify)
}

#[cfg(test)]
#[path = "dialog_tests.rs"]
mod tests;
