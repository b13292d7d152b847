//! Which messages are copied (XEP-0280 §6, "Messages Eligible for Carbons Delivery").
//!
//! The XEP leaves the rules to the server and suggests these, which this follows:
//! - `chat` messages are eligible (with or without a body: chat states are copied on purpose,
//!   §10.2);
//! - `normal` messages (or no `type`, RFC 6121 §5.2.2) with a `<body/>` are eligible;
//! - `groupchat` and `headline` are not: a room delivers to every joined resource itself;
//! - `error` messages are not. The XEP allows copying an error that answers an eligible message,
//!   but that needs per-message tracking it calls "unlikely to be generally appropriate", and a
//!   plugin cannot correlate them without storing every message id;
//! - a MUC private message (an `<x xmlns='http://jabber.org/protocol/muc#user'/>`) is not: the
//!   other resources are not in the room;
//! - a message the sender marked `<private xmlns='urn:xmpp:carbons:2'/>` (§9) or
//!   `<no-copy xmlns='urn:xmpp:hints'/>` (XEP-0334 §4.4) is not;
//! - a carbon itself (`<sent/>` or `<received/>`) is not: copies are never copied.

use tessera_sdk::minidom::Element;

use crate::ns;

/// Whether `message` is copied to the account's other carbons-enabled resources.
pub(crate) fn eligible(message: &Element) -> bool {
    if message.name() != "message" {
        return false;
    }
    let typed = match message.attr("type") {
        Some("chat") => true,
        Some("groupchat" | "headline" | "error") => return false,
        // Normal, absent or unknown (RFC 6121 §5.2.2).
        _ => message.has_child("body", message.ns().as_str()),
    };
    typed
        && !message.has_child("private", ns::CARBONS)
        && !message.has_child("no-copy", ns::HINTS)
        && !message.has_child("sent", ns::CARBONS)
        && !message.has_child("received", ns::CARBONS)
        && !message.has_child("x", ns::MUC_USER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(type_: Option<&str>, payload: &str) -> Element {
        let type_ = type_.map_or(String::new(), |t| format!(" type='{t}'"));
        format!("<message xmlns='jabber:client' to='juliet@localhost'{type_}>{payload}</message>")
            .parse()
            .expect("test XML")
    }

    const BODY: &str = "<body>hi</body>";

    #[test]
    fn chat_is_eligible_with_or_without_a_body() {
        assert!(eligible(&msg(Some("chat"), BODY)));
        assert!(eligible(&msg(
            Some("chat"),
            "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
        )));
    }

    #[test]
    fn normal_needs_a_body() {
        assert!(eligible(&msg(Some("normal"), BODY)));
        assert!(eligible(&msg(None, BODY)));
        assert!(eligible(&msg(Some("bogus"), BODY)));
        assert!(!eligible(&msg(
            Some("normal"),
            "<received xmlns='urn:xmpp:receipts' id='1'/>"
        )));
        assert!(!eligible(&msg(
            None,
            "<body xmlns='urn:x'>not a body</body>"
        )));
    }

    #[test]
    fn groupchat_headline_and_error_are_not() {
        for t in ["groupchat", "headline", "error"] {
            assert!(!eligible(&msg(Some(t), BODY)), "{t}");
        }
    }

    #[test]
    fn private_no_copy_and_muc_pms_are_not() {
        for extra in [
            "<private xmlns='urn:xmpp:carbons:2'/>",
            "<no-copy xmlns='urn:xmpp:hints'/>",
            "<x xmlns='http://jabber.org/protocol/muc#user'/>",
        ] {
            assert!(
                !eligible(&msg(Some("chat"), &format!("{BODY}{extra}"))),
                "{extra}"
            );
        }
        // Other hints do not matter here.
        assert!(eligible(&msg(
            Some("chat"),
            &format!("{BODY}<no-store xmlns='urn:xmpp:hints'/>")
        )));
    }

    #[test]
    fn carbons_are_never_copied() {
        for wrapper in ["sent", "received"] {
            let carbon = format!(
                "<{wrapper} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
                 <message xmlns='jabber:client' type='chat'><body>x</body></message>\
                 </forwarded></{wrapper}>"
            );
            assert!(!eligible(&msg(Some("chat"), &carbon)), "{wrapper}");
        }
    }

    #[test]
    fn only_messages() {
        let iq: Element = "<iq xmlns='jabber:client' type='chat'/>"
            .parse()
            .expect("xml");
        assert!(!eligible(&iq));
    }
}
