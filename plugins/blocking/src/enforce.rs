//! Enforcement (XEP-0191 §3.3–§3.4, with XEP-0016's matching): what happens to a stanza between
//! a user and an entity the user blocked.
//!
//! - To the user from a blocked entity (`incoming`, the account is the recipient): messages and
//!   IQ get/set are answered `service-unavailable`, as if the user had no such resource; presence
//!   (notifications, subscriptions, probes), IQ results and errors, and error messages are
//!   dropped silently, so the user looks offline.
//! - From the user to a blocked entity (`outgoing`): refused with `not-acceptable` and
//!   `<blocked xmlns='urn:xmpp:blocking:errors'/>`; an error stanza is dropped.
//! - Presence the user sends or the server sends for the user (broadcast, probe answers) reaches
//!   a blocked local contact only through that contact's `incoming` hook, where the sender's
//!   list is read too: the host runs a narrowed `incoming` hook for presence when the sender is
//!   marked, not only the recipient.
//!
//! Stanzas between an account and itself, and to or from its server, are never blocked: a user
//! who blocks their own domain still reaches the server and their other resources.

use tessera_sdk::jid::{BareJid, Jid};
use tessera_sdk::minidom::Element;
use tessera_sdk::minidom::rxml::{Namespace, NcName};
use tessera_sdk::{ErrorType, HostError, Stanza, StanzaError, StanzaKind, Verdict, log, router};

use crate::{blocklist, ns};

/// Whether `address` is the account itself (any resource) or its server's domain.
fn exempt(account: &BareJid, address: &Jid) -> bool {
    match address.node() {
        Some(_) => address.to_bare() == *account,
        None => address.domain() == account.domain(),
    }
}

/// A failed read: logged with the account only, and the stanza goes on (a broken store must not
/// stop everyone's delivery; blocking resumes with it).
fn unreadable(account: &str, e: &HostError) -> Verdict {
    log::error(&format!("could not read the blocklist of {account}: {e}"));
    Verdict::Pass
}

/// The `incoming` hook: `account` is the recipient.
pub(crate) fn incoming(account: &str, stanza: &Stanza) -> Verdict {
    let (Ok(me), Ok(from)) = (BareJid::new(account), Jid::new(stanza.from())) else {
        return Verdict::Pass;
    };
    if exempt(&me, &from) {
        return Verdict::Pass;
    }
    match blocklist::blocks(account, stanza.from()) {
        Ok(true) => return refuse_inbound(stanza),
        Ok(false) => {}
        Err(e) => return unreadable(account, &e),
    }
    // The other direction, for presence only: the sender blocked the recipient. (Messages and
    // IQs a user sends to someone they blocked stop at the sender's `outgoing` hook.)
    if stanza.kind() != StanzaKind::Presence || from.node().is_none() {
        return Verdict::Pass;
    }
    if from.domain() != me.domain() {
        return Verdict::Pass;
    }
    let sender = from.to_bare().to_string();
    let to = if stanza.to().is_empty() {
        account
    } else {
        stanza.to()
    };
    match blocklist::blocks(&sender, to) {
        Ok(true) => Verdict::Drop,
        Ok(false) => Verdict::Pass,
        // Not an account (any more): nobody's list to read.
        Err(HostError::Invalid(_)) => Verdict::Pass,
        Err(e) => unreadable(&sender, &e),
    }
}

/// XEP-0191 §3.4 (and XEP-0016 §2.13) for a stanza from a blocked entity.
fn refuse_inbound(stanza: &Stanza) -> Verdict {
    match (stanza.kind(), stanza.type_attr()) {
        (StanzaKind::Message, "error") => Verdict::Drop,
        (StanzaKind::Message, _) | (StanzaKind::Iq, "get" | "set") => {
            Verdict::Error(StanzaError::service_unavailable())
        }
        // Presence, IQ results and errors; and any kind a later API adds.
        _ => Verdict::Drop,
    }
}

/// The `outgoing` hook: `account` is the sender.
pub(crate) fn outgoing(account: &str, stanza: &Stanza) -> Verdict {
    let to = stanza.to();
    if to.is_empty() {
        return Verdict::Pass;
    }
    let (Ok(me), Ok(address)) = (BareJid::new(account), Jid::new(to)) else {
        return Verdict::Pass;
    };
    if exempt(&me, &address) {
        return Verdict::Pass;
    }
    match blocklist::blocks(account, to) {
        Ok(true) => refuse_outbound(stanza),
        Ok(false) => Verdict::Pass,
        Err(e) => unreadable(account, &e),
    }
}

/// XEP-0191 §3.3: `not-acceptable` with `<blocked/>`, from the blocked address (so the client
/// matches the answer to its request). The host's own error verdict carries no application
/// condition, so the plugin sends it; where the router refuses that `from` (a remote address),
/// the host answers the plain condition.
fn refuse_outbound(stanza: &Stanza) -> Verdict {
    if stanza.is_error() {
        return Verdict::Drop;
    }
    // XEP-0191 §3.3's example: type `cancel`.
    let error = StanzaError::new(ErrorType::Cancel, "not-acceptable");
    // As the host's own error replies (RFC 6120 §8.3.1): the original with its payload, the
    // addresses swapped, `type='error'` and the `<error/>` (here with `<blocked/>`).
    let (Some(header), Ok(original)) = (stanza.error_reply(&error), stanza.element()) else {
        return Verdict::Drop;
    };
    let mut reply = original.clone();
    for (name, value) in [
        ("from", stanza.to()),
        ("to", stanza.from()),
        ("type", "error"),
    ] {
        let name = NcName::try_from(name).expect("invariant: a literal attribute name");
        reply.set_attr(Namespace::NONE, name, value);
    }
    let Some(mut el) = header.get_child("error", "jabber:client").cloned() else {
        return Verdict::Drop;
    };
    el.append_child(Element::bare("blocked", ns::BLOCKING_ERRORS));
    reply.append_child(el);
    match router::send(&reply) {
        Ok(()) => Verdict::Handled,
        Err(e) => {
            log::debug(&format!("blocked-error reply not sent by the plugin: {e}"));
            Verdict::Error(error)
        }
    }
}
