//! Presence the server delivers to a local account, through the account's `incoming` hook.
//!
//! Messages pass the recipient's `incoming` hook in `message`; presence used to go straight to
//! the recipient's sessions, so a plugin could not keep it from an account (XEP-0191: a blocked
//! contact's presence must not reach the user, and the user's must not reach the contact). Every
//! path that hands presence to another account's sessions now comes here: broadcasts and
//! unavailable broadcasts (RFC 6121 §4.2.2, §4.5.2), answers to probes and the presence sent at
//! login (§4.3.2), directed presence (§4.6), subscription stanzas (§3), presence errors, and the
//! unavailable presence of a cancelled subscription (§3.2.2, §3.3.3).
//!
//! The cost is paid only where someone listens: without a plugin subscribed to incoming presence
//! each path is one index lookup more than before (the bytes are stamped as ever). With one, the
//! element is copied (or parsed back from the stored bytes) only when a subscriber's `scope`
//! admits it, and re-serialised only after the hook ran. Presence between an account's own
//! resources never passes the hook, and the message path is untouched.

use bytes::Bytes;
use jid::BareJid;
use minidom::Element;

use super::presence::stamp_to;
use super::stanza::set_attr;
use crate::plugins::{self, Flow, Hook};
use crate::server::Shared;

/// Whether `el` comes from one of `recipient`'s own resources (or the account itself).
fn own(recipient: &BareJid, el: &Element) -> bool {
    el.attr("from")
        .is_some_and(|f| f.split_once('/').map_or(f, |(bare, _)| bare) == recipient.as_str())
}

/// Runs `recipient`'s `incoming` hook over an addressed presence element: the element to
/// deliver (a plugin may have replaced it), or `None` when a plugin stopped it.
pub(crate) async fn element(shared: &Shared, recipient: &BareJid, el: Element) -> Option<Element> {
    if !plugins::subscribed_to_presence(shared, Hook::Incoming)
        || own(recipient, &el)
        || !plugins::enters(shared, Hook::Incoming, Some(recipient), &el)
    {
        return Some(el);
    }
    match plugins::run_hook(shared, Hook::Incoming, Some(recipient), None, el).await {
        Flow::Continue(el) => Some(el),
        Flow::Stop => None,
    }
}

/// What the caller knows of presence it holds as bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The same presence as an element (a broadcast being made).
    Element(&'a Element),
    /// Only the sender: a session's stored presence (probe answers, presence at login).
    Stored(&'a BareJid),
}

/// The bytes to queue for `to` (one of `recipient`'s addresses): `bytes`, a presence serialised
/// by this server without `to`, stamped with `to` — after `recipient`'s `incoming` hook, which
/// may stop it (`None`). A [`Source::Stored`] presence is parsed back from the bytes only if
/// some plugin might be entered for its sender and `recipient`.
pub(crate) async fn bytes(
    shared: &Shared,
    recipient: &BareJid,
    to: &str,
    bytes: &Bytes,
    source: Source<'_>,
) -> Option<Bytes> {
    let stamped = stamp_to(bytes, to);
    if !plugins::subscribed_to_presence(shared, Hook::Incoming) {
        return Some(stamped);
    }
    let el = match source {
        Source::Element(el) => {
            if own(recipient, el) || !plugins::enters(shared, Hook::Incoming, Some(recipient), el) {
                return Some(stamped);
            }
            let mut el = el.clone();
            set_attr(&mut el, "to", to);
            el
        }
        Source::Stored(sender) => {
            if sender == recipient || !plugins::may_enter_presence(shared, recipient, sender) {
                return Some(stamped);
            }
            let parsed = std::str::from_utf8(&stamped)
                .ok()
                .and_then(|s| plugins::wire::parse(s, &shared.config.limits).ok());
            // Our own serialiser's output always parses back; if it did not, deliver as before.
            let Some(el) = parsed else {
                return Some(stamped);
            };
            if own(recipient, &el) || !plugins::enters(shared, Hook::Incoming, Some(recipient), &el)
            {
                return Some(stamped);
            }
            el
        }
    };
    match plugins::run_hook(shared, Hook::Incoming, Some(recipient), None, el).await {
        Flow::Continue(el) => Some(tessera_xml::serialize(&el)),
        Flow::Stop => None,
    }
}
