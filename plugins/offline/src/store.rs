//! Which undeliverable messages are kept, and keeping them.
//!
//! RFC 6121 §8.5.2.2.1 lets the server store a `normal` or `chat` message for an account with
//! no available resource instead of answering an error; `headline`, `groupchat` and `error`
//! messages are never stored. XEP-0160 §3 narrows that to messages worth reading later, and
//! XEP-0334 §4 lets the sender decide: `<no-store/>` forbids storage, `<store/>` asks for it
//! even without a body, and `<no-permanent-store/>` only concerns archives, so it does not stop
//! offline storage. End-to-end encrypted messages may carry no `<body/>` (or only a fallback),
//! so their payload counts as content. A chat state alone (XEP-0085) or a receipt alone is not
//! worth keeping.
//!
//! Whatever is not stored is passed back to the host, which answers per RFC 6121 §8.5.2.2.1.

use std::fmt;

use tessera_sdk::archive::{Archive, Query};
use tessera_sdk::minidom::Element;
use tessera_sdk::{HostError, Owner, Stanza, StanzaError, Verdict, log, sessions};

use crate::config::WhenFull;
use crate::ns;

/// The data category (declared in the manifest; the operator's retention table names it).
pub(crate) const CATEGORY: &str = "messages";
/// The one stream per user: the queue.
pub(crate) const STREAM: &str = "queue";

/// `user`'s queue.
pub(crate) fn queue(user: &str) -> Archive {
    Archive::new(CATEGORY, Owner::user(user), STREAM)
}

/// Why a message is not stored (logged at debug level: metadata only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// `headline`, `groupchat` or `error` (RFC 6121 §8.5.2.2.1).
    Type(&'static str),
    /// The sender asked for no storage (XEP-0334 §4.3).
    NoStoreHint,
    /// No body, no `<store/>` hint, no encrypted payload: nothing a user reads later.
    NoContent,
    /// A sender this plugin may not speak for when it redelivers (not our domain): the host
    /// only lets it impersonate local accounts and the server, so it could never deliver it.
    ForeignSender,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Type(t) => write!(f, "type {t} is never stored"),
            Skip::NoStoreHint => f.write_str("no-store hint"),
            Skip::NoContent => {
                f.write_str("nothing to store (no body, store hint or encrypted payload)")
            }
            Skip::ForeignSender => f.write_str("sender outside this server cannot be redelivered"),
        }
    }
}

/// Whether `message` (a `<message/>`, as the host serialised it) is stored for an account of
/// `domain`.
///
/// # Errors
///
/// The reason it is not.
pub(crate) fn storable(message: &Element, from: &str, domain: &str) -> Result<(), Skip> {
    // RFC 6121 §5.2.2: a missing or unknown type is "normal".
    let never = match message.attr("type") {
        Some("headline") => Some("headline"),
        Some("groupchat") => Some("groupchat"),
        Some("error") => Some("error"),
        _ => None,
    };
    if let Some(t) = never {
        return Err(Skip::Type(t));
    }
    if message.has_child("no-store", ns::HINTS) {
        return Err(Skip::NoStoreHint);
    }
    if !is_local(from, domain) {
        return Err(Skip::ForeignSender);
    }
    let content = message.has_child("store", ns::HINTS)
        || message.has_child("body", message.ns().as_str())
        || message.has_child("encrypted", ns::OMEMO_LEGACY)
        || message.has_child("encrypted", ns::OMEMO_2)
        || message.has_child("openpgp", ns::OPENPGP);
    if content {
        Ok(())
    } else {
        Err(Skip::NoContent)
    }
}

/// `jid` is the server itself or an address at it (an account, one of its resources).
fn is_local(jid: &str, domain: &str) -> bool {
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    let host = bare.split_once('@').map_or(bare, |(_, d)| d);
    !domain.is_empty() && host == domain
}

/// Appends `stanza` to `account`'s queue, or refuses it when the queue is full and the operator
/// chose `bounce`.
pub(crate) fn store(when_full: WhenFull, account: &str, stanza: &Stanza) -> Verdict {
    let queue = queue(account);
    if let WhenFull::Bounce { max_messages } = when_full {
        match queue.query(&Query::new(1)) {
            Ok(page) if page.count >= max_messages => {
                log::info(&format!(
                    "offline queue full; refused a message from {} to {}",
                    stanza.from(),
                    account
                ));
                return Verdict::Error(StanzaError::resource_constraint());
            }
            Ok(_) => {}
            Err(e) => return failed(stanza, account, &e),
        }
    }
    match queue.append(stanza.from(), stanza.xml()) {
        Ok(_) => {
            log::debug(&format!(
                "stored a message from {} to {}",
                stanza.from(),
                account
            ));
            // A session may have become available, and its run read the queue, while this
            // message waited for the hook: deliver it now rather than at the next login.
            let available = sessions::list(account)
                .iter()
                .any(|s| s.priority.is_some_and(|p| p >= 0));
            if available {
                crate::delivery::request(account, None);
            }
            Verdict::Handled
        }
        Err(e) => failed(stanza, account, &e),
    }
}

/// A storage failure: metadata in the log, an error for the sender (RFC 6120 §8.3.3): the
/// message is not stored, and saying so beats a silent loss.
fn failed(stanza: &Stanza, account: &str, e: &HostError) -> Verdict {
    log::warn(&format!(
        "could not store a message from {} to {}: {e}",
        stanza.from(),
        account
    ));
    match e {
        HostError::QuotaExceeded => Verdict::Error(StanzaError::resource_constraint()),
        _ => Verdict::Error(StanzaError::internal_server_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(type_: Option<&str>, payload: &str) -> Element {
        let type_ = type_.map_or(String::new(), |t| format!(" type='{t}'"));
        format!(
            "<message xmlns='jabber:client' from='romeo@localhost/orchard' to='juliet@localhost'{type_}>{payload}</message>"
        )
        .parse()
        .expect("test XML")
    }

    const ROMEO: &str = "romeo@localhost/orchard";

    fn check(type_: Option<&str>, payload: &str) -> Result<(), Skip> {
        storable(&msg(type_, payload), ROMEO, "localhost")
    }

    #[test]
    fn chat_and_normal_with_a_body_are_stored() {
        for t in [Some("chat"), Some("normal"), None, Some("bogus")] {
            assert_eq!(check(t, "<body>hi</body>"), Ok(()), "{t:?}");
        }
    }

    #[test]
    fn headline_groupchat_and_error_never_are() {
        assert_eq!(
            check(Some("headline"), "<body>x</body>"),
            Err(Skip::Type("headline"))
        );
        assert_eq!(
            check(Some("groupchat"), "<body>x</body>"),
            Err(Skip::Type("groupchat"))
        );
        assert_eq!(
            check(
                Some("error"),
                "<body>x</body><store xmlns='urn:xmpp:hints'/>"
            ),
            Err(Skip::Type("error"))
        );
    }

    #[test]
    fn hints_decide_xep_0334() {
        assert_eq!(
            check(
                Some("chat"),
                "<body>x</body><no-store xmlns='urn:xmpp:hints'/>"
            ),
            Err(Skip::NoStoreHint)
        );
        // §4: no-permanent-store concerns archives, not offline delivery.
        assert_eq!(
            check(
                Some("chat"),
                "<body>x</body><no-permanent-store xmlns='urn:xmpp:hints'/>"
            ),
            Ok(())
        );
        // A receipt alone is dropped, unless the sender asks for it to be stored.
        let receipt = "<received xmlns='urn:xmpp:receipts' id='m1'/>";
        assert_eq!(check(Some("chat"), receipt), Err(Skip::NoContent));
        assert_eq!(
            check(
                Some("chat"),
                &format!("{receipt}<store xmlns='urn:xmpp:hints'/>")
            ),
            Ok(())
        );
    }

    #[test]
    fn encrypted_payloads_count_as_content() {
        for payload in [
            "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>",
            "<encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/></encrypted>",
            "<openpgp xmlns='urn:xmpp:openpgp:0'>BASE64</openpgp>",
        ] {
            assert_eq!(check(Some("chat"), payload), Ok(()), "{payload}");
        }
    }

    #[test]
    fn chat_states_alone_are_not_stored() {
        assert_eq!(
            check(
                Some("chat"),
                "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
            ),
            Err(Skip::NoContent)
        );
        // A body in another namespace is not a body.
        assert_eq!(
            check(Some("chat"), "<body xmlns='urn:x'>x</body>"),
            Err(Skip::NoContent)
        );
    }

    #[test]
    fn only_senders_it_can_speak_for_are_stored() {
        let m = msg(Some("chat"), "<body>x</body>");
        assert_eq!(storable(&m, "localhost", "localhost"), Ok(()));
        assert_eq!(storable(&m, "romeo@localhost", "localhost"), Ok(()));
        assert_eq!(
            storable(&m, "echo.localhost", "localhost"),
            Err(Skip::ForeignSender)
        );
        assert_eq!(
            storable(&m, "room@conference.localhost/nick", "localhost"),
            Err(Skip::ForeignSender)
        );
        assert_eq!(storable(&m, "", "localhost"), Err(Skip::ForeignSender));
    }
}
