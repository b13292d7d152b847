//! Stanzas a session was given but cannot be shown to have delivered, when it ends for good: those
//! its client never acknowledged (XEP-0198 §5: "the server SHOULD treat unacknowledged stanzas as
//! it would treat stanzas sent to an unavailable resource") and those still queued for it.
//!
//! The session is already unregistered, so each message takes the route a message to a resource
//! that went away takes (RFC 6121 §8.5.3.2.1): the account's other available resources, else
//! the `undeliverable` hook (offline storage), else an error to the sender. An unanswered
//! `get`/`set` IQ gets `service-unavailable` (RFC 6120 §8.3.1 rule 4: every request is
//! answered). Presence is state, not content: it is not replayed (contacts resend theirs, and
//! pending subscription requests are stored apart and redelivered at the next login). Copies of
//! messages that live elsewhere — carbons (XEP-0280) and archive results (XEP-0313) — are left
//! out, as the original is delivered or archived on its own.

use bytes::Bytes;
use jid::{FullJid, Jid};
use minidom::Element;

use super::error::{Condition, error_reply};
use super::message::{self, MessageType};
use super::stanza::send;
use crate::ns;
use crate::server::Shared;

/// Finds another way for `stanzas`, which `session` (now unregistered) did not deliver.
pub(crate) async fn undelivered(shared: &Shared, session: &FullJid, stanzas: Vec<Bytes>) {
    for bytes in stanzas {
        // Our own serialisation of stanzas we routed: a failure here is our bug, not the peer's.
        let stanza = match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|xml| {
                crate::plugins::wire::parse(xml, &shared.config.limits).map_err(|e| e.to_string())
            }) {
            Ok(stanza) => stanza,
            Err(error) => {
                tracing::error!(%error, "could not reparse an undelivered stanza");
                continue;
            }
        };
        match stanza.name() {
            "message" if !is_copy(&stanza) => message(shared, session, stanza).await,
            "iq" if matches!(stanza.attr("type"), Some("get" | "set")) => {
                if let (Some(sender), Some(reply)) = (
                    local_sender(shared, &stanza),
                    error_reply(stanza, Condition::ServiceUnavailable),
                ) {
                    send(shared, &sender, &reply);
                }
            }
            _ => {}
        }
    }
}

/// A message for `session`'s account, as if sent to a resource that is gone.
async fn message(shared: &Shared, session: &FullJid, message: Element) {
    let bare = session.to_bare();
    let ty = MessageType::of(&message);
    let targets = message::bare_targets(&shared.router.sessions(&bare), ty);
    if !targets.is_empty() {
        let bytes = tessera_xml::serialize(&message);
        for jid in &targets {
            super::stanza::send_bytes(shared, jid, bytes.clone());
        }
        return;
    }
    // The error, if any, goes back to a local sender; with no s2s, nobody else can be told.
    let sender = local_sender(shared, &message).unwrap_or_else(|| session.clone());
    if let Err(error) = message::undeliverable_message(shared, &sender, &bare, message, ty).await {
        tracing::error!(%error, "could not hand on an undelivered message");
    }
}

/// The sender, when it is a session of ours (the only kind an error can reach without s2s).
fn local_sender(shared: &Shared, stanza: &Element) -> Option<FullJid> {
    let full = stanza
        .attr("from")?
        .parse::<Jid>()
        .ok()?
        .try_into_full()
        .ok()?;
    (full.domain() == shared.domain.domain()).then_some(full)
}

/// A copy of a message that is delivered or kept elsewhere: a carbon (XEP-0280 §7) or an archive
/// query result (XEP-0313 §4.2).
fn is_copy(message: &Element) -> bool {
    message.has_child("received", ns::CARBONS)
        || message.has_child("sent", ns::CARBONS)
        || message.has_child("result", ns::MAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbons_and_archive_results_are_copies() {
        let parse = |xml: &str| xml.parse::<Element>().expect("element");
        assert!(is_copy(&parse(
            "<message xmlns='jabber:client'><received xmlns='urn:xmpp:carbons:2'/></message>"
        )));
        assert!(is_copy(&parse(
            "<message xmlns='jabber:client'><sent xmlns='urn:xmpp:carbons:2'/></message>"
        )));
        assert!(is_copy(&parse(
            "<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2'/></message>"
        )));
        assert!(!is_copy(&parse(
            "<message xmlns='jabber:client'><body>hi</body></message>"
        )));
    }
}
