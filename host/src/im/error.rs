//! Stanza error replies (RFC 6120 §8.3).
//!
//! A peer fault is a [`Condition`]: it knows its wire name and its error type, so a handler only
//! says *what* went wrong. [`error_reply`] turns the offending stanza itself into the reply —
//! addresses swapped, `type='error'`, the original payload kept (RFC 6120 §8.3.1 rules 2–3) —
//! and refuses to answer an error with an error (§8.3.1 rule 1), which is what stops two entities
//! from bouncing errors at each other forever.

use jid::FullJid;
use minidom::Element;

use super::stanza::{client_element, remove_attr, send, set_attr};
use crate::ns;
use crate::server::Shared;

/// The RFC 6120 §8.3.2 `type` of an error: what the sender should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// Do not retry (the error is unrecoverable).
    Cancel,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after providing credentials.
    Auth,
}

impl ErrorType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Modify => "modify",
            Self::Auth => "auth",
        }
    }
}

/// The stanza error conditions this module sends (RFC 6120 §8.3.3), each with its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Condition {
    /// §8.3.3.1: malformed or unexpected stanza.
    #[error("bad-request")]
    BadRequest,
    /// §8.3.3.5: the sender may not do this.
    #[error("forbidden")]
    Forbidden,
    /// §8.3.3.6: our own fault (storage failure).
    #[error("internal-server-error")]
    InternalServerError,
    /// §8.3.3.7: the addressed item does not exist.
    #[error("item-not-found")]
    ItemNotFound,
    /// §8.3.3.8: the address is not a valid JID.
    #[error("jid-malformed")]
    JidMalformed,
    /// §8.3.3.9: the data violates the server's policy (e.g. a roster name too long).
    #[error("not-acceptable")]
    NotAcceptable,
    /// §8.3.3.16: the remote domain cannot be reached (we have no s2s yet).
    #[error("remote-server-not-found")]
    RemoteServerNotFound,
    /// §8.3.3.19: no such service, or the recipient is unavailable.
    #[error("service-unavailable")]
    ServiceUnavailable,
}

impl Condition {
    /// The element name under `urn:ietf:params:xml:ns:xmpp-stanzas`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Forbidden => "forbidden",
            Self::InternalServerError => "internal-server-error",
            Self::ItemNotFound => "item-not-found",
            Self::JidMalformed => "jid-malformed",
            Self::NotAcceptable => "not-acceptable",
            Self::RemoteServerNotFound => "remote-server-not-found",
            Self::ServiceUnavailable => "service-unavailable",
        }
    }

    /// The error type RFC 6120 §8.3.3 gives for the condition.
    pub(crate) fn error_type(self) -> ErrorType {
        match self {
            Self::BadRequest | Self::JidMalformed | Self::NotAcceptable => ErrorType::Modify,
            Self::Forbidden => ErrorType::Auth,
            Self::InternalServerError
            | Self::ItemNotFound
            | Self::RemoteServerNotFound
            | Self::ServiceUnavailable => ErrorType::Cancel,
        }
    }

    /// The `<error/>` child (RFC 6120 §8.3.2).
    pub(crate) fn element(self) -> Element {
        let mut error = client_element("error", &[("type", self.error_type().as_str())]);
        error.append_child(Element::bare(self.name(), ns::STANZAS));
        error
    }
}

/// Whether a stanza is itself an error, which must never be answered (RFC 6120 §8.3.1 rule 1).
pub(crate) fn is_error(stanza: &Element) -> bool {
    stanza.attr("type") == Some("error")
}

/// Turns `stanza` into its error reply, or `None` if it is an error already.
///
/// Per RFC 6120 §8.3.1: the reply keeps the stanza's name and `id`, swaps `from` and `to` (with no
/// original `to`, the reply has no `from`: it comes from the sender's own server/account), sets
/// `type='error'`, keeps the original payload, and appends the `<error/>` element.
pub(crate) fn error_reply(stanza: Element, condition: Condition) -> Option<Element> {
    error_reply_with(stanza, condition.element())
}

/// plugins: [`error_reply`] with a ready-made `<error/>` element (a plugin's own condition).
pub(crate) fn error_reply_with(mut stanza: Element, error: Element) -> Option<Element> {
    if is_error(&stanza) {
        return None;
    }
    let from = stanza.attr("from").map(str::to_owned);
    let to = stanza.attr("to").map(str::to_owned);
    remove_attr(&mut stanza, "from");
    remove_attr(&mut stanza, "to");
    if let Some(to) = to {
        set_attr(&mut stanza, "from", to);
    }
    if let Some(from) = from {
        set_attr(&mut stanza, "to", from);
    }
    set_attr(&mut stanza, "type", "error");
    stanza.append_child(error);
    Some(stanza)
}

/// Answers `stanza` from `sender` with `condition`, unless it was an error itself.
pub(crate) fn bounce(shared: &Shared, sender: &FullJid, stanza: Element, condition: Condition) {
    tracing::debug!(
        stanza = stanza.name(),
        condition = condition.name(),
        "stanza error"
    );
    if let Some(reply) = error_reply(stanza, condition) {
        send(shared, sender, &reply);
    }
}

/// The original stanza's addressing, kept before a handler consumes it, so that a storage failure
/// can still be answered with `internal-server-error` (without the payload, which RFC 6120 §8.3.1
/// only says MAY be included).
#[derive(Debug, Clone)]
pub(crate) struct Header(Element);

impl Header {
    pub(crate) fn of(stanza: &Element) -> Self {
        let mut el = Element::bare(stanza.name(), ns::JABBER_CLIENT);
        for name in ["id", "type", "from", "to"] {
            if let Some(v) = stanza.attr(name) {
                set_attr(&mut el, name, v);
            }
        }
        Self(el)
    }

    /// The stanza's element name.
    pub(crate) fn name(&self) -> &str {
        self.0.name()
    }

    /// The bare error reply for this stanza, if it may be answered.
    pub(crate) fn reply(self, condition: Condition) -> Option<Element> {
        error_reply(self.0, condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Element {
        s.parse().expect("test XML")
    }

    #[test]
    fn reply_swaps_and_keeps_payload() {
        let msg = parse(
            "<message xmlns='jabber:client' type='chat' id='m1' from='a@localhost/r' to='b@example.org'><body>hi</body></message>",
        );
        let reply = error_reply(msg, Condition::RemoteServerNotFound).expect("reply");
        assert_eq!(reply.name(), "message");
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("id"), Some("m1"));
        assert_eq!(reply.attr("from"), Some("b@example.org"));
        assert_eq!(reply.attr("to"), Some("a@localhost/r"));
        assert!(reply.has_child("body", ns::JABBER_CLIENT));
        let error = reply.get_child("error", ns::JABBER_CLIENT).expect("error");
        assert_eq!(error.attr("type"), Some("cancel"));
        assert!(error.has_child("remote-server-not-found", ns::STANZAS));
    }

    #[test]
    fn reply_without_to_has_no_from() {
        let iq = parse(
            "<iq xmlns='jabber:client' type='set' id='1' from='a@localhost/r'><query xmlns='jabber:iq:roster'/></iq>",
        );
        let reply = error_reply(iq, Condition::BadRequest).expect("reply");
        assert_eq!(reply.attr("from"), None);
        assert_eq!(reply.attr("to"), Some("a@localhost/r"));
        let error = reply.get_child("error", ns::JABBER_CLIENT).expect("error");
        assert_eq!(error.attr("type"), Some("modify"));
    }

    #[test]
    fn never_reply_to_an_error() {
        let err = parse("<message xmlns='jabber:client' type='error' from='a@localhost/r'/>");
        assert!(error_reply(err, Condition::ServiceUnavailable).is_none());
        let header = Header::of(&parse(
            "<iq xmlns='jabber:client' type='error' id='x' from='a@localhost/r'/>",
        ));
        assert!(header.reply(Condition::InternalServerError).is_none());
    }

    #[test]
    fn header_reply_drops_payload() {
        let header = Header::of(&parse(
            "<iq xmlns='jabber:client' type='get' id='x' from='a@localhost/r' to='localhost'><query xmlns='jabber:iq:roster'/></iq>",
        ));
        let reply = header.reply(Condition::InternalServerError).expect("reply");
        assert_eq!(reply.children().count(), 1);
        assert_eq!(reply.attr("id"), Some("x"));
        assert_eq!(reply.attr("from"), Some("localhost"));
    }

    #[test]
    fn error_types_follow_rfc6120() {
        assert_eq!(Condition::Forbidden.error_type(), ErrorType::Auth);
        assert_eq!(Condition::NotAcceptable.error_type(), ErrorType::Modify);
        assert_eq!(
            Condition::ServiceUnavailable.error_type(),
            ErrorType::Cancel
        );
        assert_eq!(Condition::ItemNotFound.to_string(), "item-not-found");
    }
}
