//! What goes into an archive (XEP-0313 "What To Store", XEP-0334 hints) and the XEP-0359 stanza-ids.
//!
//! Both copies of a 1:1 message are archived where the server sees them: the sender's on the
//! `outgoing` hook (`with` = the recipient), the recipient's on the `incoming` hook (`with` = the
//! sender). A message to oneself is seen by both hooks and archived once, on `incoming`.
//!
//! On `incoming` the recipient's server is the authority for `<stanza-id by='recipient'/>`
//! (XEP-0359, "Security Considerations"): any such element the sender put there is stripped before the message is
//! stored or delivered, and when the message is archived the archive id is added under that
//! `by`, so the recipient can later page the archive from it. Both edits go through the
//! `replace` verdict, which keeps the addresses; delivery (and offline storage) then go on.

use tessera_sdk::minidom::{Element, Node};
use tessera_sdk::xmpp_parsers::mam_prefs::DefaultPrefs;
use tessera_sdk::xmpp_parsers::stanza_id::StanzaId;
use tessera_sdk::{Context, Stanza, StanzaKind, Verdict, log};

use crate::{archive_of, bare, ns, prefs};

/// Whether a message is one XEP-0313 ("What To Store", user archives) asks to archive: type
/// `chat` or `normal` (an unknown or missing type is `normal`, RFC 6121 §5.2.2), not marked
/// `no-store` or `no-permanent-store` (XEP-0334), and with something a user would want back: a
/// body, an end-to-end encrypted payload (OMEMO, OpenPGP) or an explicit XEP-0334 `<store/>`
/// hint. Groupchat belongs to the room's archive, headlines are ephemeral, errors are no
/// conversation.
pub(crate) fn archivable(message: &Element) -> bool {
    if matches!(
        message.attr("type"),
        Some("groupchat" | "headline" | "error")
    ) {
        return false;
    }
    if message.has_child("no-store", ns::HINTS)
        || message.has_child("no-permanent-store", ns::HINTS)
    {
        return false;
    }
    message.has_child("body", message.ns().as_str())
        || message.has_child("store", ns::HINTS)
        || message.has_child("encrypted", ns::OMEMO_LEGACY)
        || message.has_child("encrypted", ns::OMEMO)
        || message.has_child("openpgp", ns::OPENPGP)
        || message.has_child("x", ns::LEGACY_PGP)
}

/// Removes every `<stanza-id xmlns='urn:xmpp:sid:0'/>` claiming to be by `owner` (XEP-0359,
/// "Security Considerations": only the owner's server may set those; a sender could otherwise
/// plant an id that points anywhere in the archive). Returns whether any was removed.
pub(crate) fn strip_stanza_ids(message: &mut Element, owner: &str) -> bool {
    let nodes = message.take_nodes();
    let before = nodes.len();
    for node in nodes {
        let spoofed = match &node {
            Node::Element(e) => {
                e.is("stanza-id", ns::SID) && e.attr("by").is_some_and(|by| bare(by) == owner)
            }
            _ => false,
        };
        if !spoofed {
            message.append_node(node);
        }
    }
    message.nodes().count() != before
}

/// The `<stanza-id/>` for an archived message.
fn stanza_id(id: String, owner: &str) -> Option<Element> {
    let by = owner.parse().ok()?;
    Some(StanzaId { id, by }.into())
}

/// Whether `user`'s preferences archive messages with `with`. A failure is logged and counts as
/// "no": an archive that silently grows against the user's wishes is worse than a gap.
fn wanted(default: &DefaultPrefs, user: &str, with: &str) -> bool {
    let decision = prefs::load(user, default)
        .and_then(|p| prefs::allows(&p, with, |contact| prefs::in_roster(user, contact)));
    decision.unwrap_or_else(|e| {
        log::warn(&format!(
            "archiving preferences unavailable for {user}: {e}"
        ));
        false
    })
}

/// Appends `message` to `owner`'s archive; the archive id, or `None` (logged) on failure.
fn append(owner: &str, with: &str, message: &Element) -> Option<String> {
    match archive_of(owner).append(with, &String::from(message)) {
        Ok(id) => Some(id),
        Err(e) => {
            // Metadata only: who and why, never the content.
            log::warn(&format!(
                "could not archive a message for {owner} with {with}: {e}"
            ));
            None
        }
    }
}

/// Whether the message's type is one XEP-0313 archives (the first test of [`archivable`], read
/// from the stanza's header without parsing it).
fn archivable_type(stanza: &Stanza) -> bool {
    !matches!(stanza.type_attr(), "groupchat" | "headline" | "error")
}

/// Whether the stanza may hold a `<stanza-id/>` to strip. The host hands plugins its own
/// serialisation, where a namespace is written out verbatim (`:` is never escaped), so a stanza
/// without the namespace's text has no such element; one with it (in a body, say) is parsed.
fn may_carry_stanza_id(stanza: &Stanza) -> bool {
    stanza.xml().contains(ns::SID)
}

/// The `outgoing` hook: the sender's copy.
///
/// Cheapest test first: the preferences (a cached host read) before the stanza is parsed, so a
/// user who does not archive costs no parsing.
pub(crate) fn outgoing(default: &DefaultPrefs, ctx: &Context, stanza: &Stanza) -> Verdict {
    let (Some(sender), StanzaKind::Message) = (ctx.account.as_deref(), stanza.kind()) else {
        return Verdict::Pass;
    };
    let to = stanza.to();
    // No `to` is the sender's own bare JID (RFC 6120 §10.3.3): to oneself, archived on `incoming`.
    if to.is_empty() || bare(to) == sender || !archivable_type(stanza) {
        return Verdict::Pass;
    }
    if !wanted(default, sender, to) {
        return Verdict::Pass;
    }
    let Ok(message) = stanza.element() else {
        return Verdict::Pass;
    };
    if !archivable(message) {
        return Verdict::Pass;
    }
    let mut stored = message.clone();
    strip_stanza_ids(&mut stored, sender);
    append(sender, to, &stored);
    Verdict::Pass
}

/// The `incoming` hook: the recipient's copy, and its stanza-id.
///
/// Most messages are neither archived nor carry a stanza-id: those pass without being parsed.
pub(crate) fn incoming(default: &DefaultPrefs, ctx: &Context, stanza: &Stanza) -> Verdict {
    let (Some(recipient), StanzaKind::Message) = (ctx.account.as_deref(), stanza.kind()) else {
        return Verdict::Pass;
    };
    let from = stanza.from();
    let wants = !from.is_empty() && archivable_type(stanza) && wanted(default, recipient, from);
    if !wants && !may_carry_stanza_id(stanza) {
        return Verdict::Pass;
    }
    let Ok(message) = stanza.element() else {
        return Verdict::Pass;
    };
    let mut message = message.clone();
    let stripped = strip_stanza_ids(&mut message, recipient);
    let archived = if wants && archivable(&message) {
        append(recipient, from, &message)
    } else {
        None
    };
    let added = match archived.and_then(|id| stanza_id(id, recipient)) {
        Some(sid) => {
            message.append_child(sid);
            true
        }
        None => false,
    };
    if stripped || added {
        Verdict::replace(&message)
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    fn msg(type_: &str, payload: &str) -> Element {
        el(&format!(
            "<message xmlns='jabber:client' from='romeo@localhost/o' to='juliet@localhost' {type_}>{payload}</message>"
        ))
    }

    #[test]
    fn archives_chat_and_normal_messages_with_content() {
        assert!(archivable(&msg("type='chat'", "<body>hi</body>")));
        assert!(archivable(&msg("", "<body>hi</body>")));
        assert!(archivable(&msg("type='bogus'", "<body>hi</body>")));
        assert!(archivable(&msg(
            "type='chat'",
            "<encrypted xmlns='eu.siacs.conversations.axolotl'/>"
        )));
        assert!(archivable(&msg(
            "type='chat'",
            "<encrypted xmlns='urn:xmpp:omemo:2'/>"
        )));
        assert!(archivable(&msg(
            "type='chat'",
            "<openpgp xmlns='urn:xmpp:openpgp:0'/>"
        )));
        assert!(archivable(&msg(
            "type='chat'",
            "<received xmlns='urn:xmpp:receipts' id='x'/><store xmlns='urn:xmpp:hints'/>"
        )));
    }

    #[test]
    fn skips_other_types_hints_and_empty_messages() {
        for t in ["groupchat", "headline", "error"] {
            assert!(
                !archivable(&msg(&format!("type='{t}'"), "<body>hi</body>")),
                "{t}"
            );
        }
        assert!(!archivable(&msg(
            "type='chat'",
            "<body>hi</body><no-store xmlns='urn:xmpp:hints'/>"
        )));
        assert!(!archivable(&msg(
            "type='chat'",
            "<body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/><store xmlns='urn:xmpp:hints'/>"
        )));
        assert!(!archivable(&msg(
            "type='chat'",
            "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
        )));
    }

    #[test]
    fn strips_only_stanza_ids_by_the_owner() {
        let mut m = msg(
            "type='chat'",
            "<body>hi</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='juliet@localhost' id='forged'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='juliet@localhost/balcony' id='forged2'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='romeo@localhost' id='theirs'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>",
        );
        assert!(strip_stanza_ids(&mut m, "juliet@localhost"));
        let ids: Vec<_> = m
            .children()
            .filter(|c| c.is("stanza-id", ns::SID))
            .map(|c| c.attr("id").unwrap())
            .collect();
        assert_eq!(ids, ["theirs"]);
        assert!(m.has_child("origin-id", ns::SID));
        assert!(m.has_child("body", "jabber:client"));
        assert!(!strip_stanza_ids(&mut m, "juliet@localhost"));
    }
}
