//! Sending the copies: `<sent/>` for a message a resource sent (XEP-0280 §8), `<received/>` for
//! a message the account received (§7), each wrapping the original in a XEP-0297
//! `<forwarded/>`, from the account's bare JID to one carbons-enabled resource.
//!
//! Copies go through `router.send` as the account (the `router.impersonate` grant). The host
//! runs no hooks for plugin-sent stanzas, so a copy is never archived again or copied again.

use tessera_sdk::minidom::Element;
use tessera_sdk::minidom::rxml::NcName;
use tessera_sdk::sessions::{self, Session};
use tessera_sdk::{HostError, log, router};

use crate::enable;
use crate::ns;

/// Which side of the conversation a copy is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The account sent it from another resource (§8).
    Sent,
    /// The account received it on another resource (§7).
    Received,
}

impl Direction {
    fn element(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// The copy of `original` for `to`, from `account`: same `type` (§7, §8: SHOULD).
pub(crate) fn carbon(direction: Direction, account: &str, to: &str, original: &Element) -> Element {
    let mut builder = Element::builder("message", ns::CLIENT)
        .attr(attr("from"), account)
        .attr(attr("to"), to);
    if let Some(type_) = original.attr("type") {
        builder = builder.attr(attr("type"), type_);
    }
    let forwarded = Element::builder("forwarded", ns::FORWARD)
        .append(original.clone())
        .build();
    builder
        .append(
            Element::builder(direction.element(), ns::CARBONS)
                .append(forwarded)
                .build(),
        )
        .build()
}

fn attr(name: &'static str) -> NcName {
    NcName::try_from(name).expect("invariant: a literal attribute name is a valid NCName")
}

/// The resources the host delivers a message for `to` to, as `host/src/im/message.rs` decides:
/// a full JID with a bound session gets it itself (RFC 6121 §8.5.3.1); otherwise a `chat` or
/// `normal` message (the only eligible types) goes to the available resources with the highest
/// non-negative priority, all of them on a tie (§8.5.2.1.1, §8.5.3.2.1).
pub(crate) fn delivered_to<'a>(to: &str, bound: &'a [Session]) -> Vec<&'a str> {
    if to.contains('/')
        && let Some(s) = bound.iter().find(|s| s.jid == to)
    {
        return vec![s.jid.as_str()];
    }
    sessions::highest_priority(bound)
        .into_iter()
        .map(|s| s.jid.as_str())
        .collect()
}

/// Sends `original` as a copy to each of `targets` (carbons-enabled full JIDs); returns how many
/// went out. A target that has gone is forgotten; any other failure is logged (metadata only).
pub(crate) fn send_copies(
    direction: Direction,
    account: &str,
    targets: &[String],
    original: &Element,
) -> usize {
    let mut sent = 0;
    for target in targets {
        match router::send(&carbon(direction, account, target, original)) {
            Ok(()) => sent += 1,
            Err(HostError::Unavailable(_)) => enable::forget(target),
            Err(e) => log::warn(&format!(
                "could not send a {} carbon to {target}: {e}",
                direction.element()
            )),
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_wraps_the_original_as_xep_0280_shows() {
        let original: Element = "<message xmlns='jabber:client' from='juliet@capulet.example/balcony' \
            to='romeo@montague.example/garden' type='chat'><body>x</body><thread>t</thread></message>"
            .parse()
            .expect("xml");
        let c = carbon(
            Direction::Received,
            "romeo@montague.example",
            "romeo@montague.example/home",
            &original,
        );
        assert_eq!(c.attr("from"), Some("romeo@montague.example"));
        assert_eq!(c.attr("to"), Some("romeo@montague.example/home"));
        assert_eq!(c.attr("type"), Some("chat"));
        let inner = c
            .get_child("received", ns::CARBONS)
            .and_then(|r| r.get_child("forwarded", ns::FORWARD))
            .and_then(|f| f.get_child("message", ns::CLIENT))
            .expect("received/forwarded/message");
        assert_eq!(inner, &original);
        let untyped: Element = "<message xmlns='jabber:client'><body>x</body></message>"
            .parse()
            .expect("xml");
        let c = carbon(Direction::Sent, "a@b", "a@b/c", &untyped);
        assert_eq!(c.attr("type"), None);
        assert!(c.has_child("sent", ns::CARBONS));
    }

    #[test]
    fn delivery_targets_follow_the_hosts_rules() {
        let bound = [
            Session::new("r@l/bound-only", None),
            Session::new("r@l/low", Some(0)),
            Session::new("r@l/high", Some(5)),
            Session::new("r@l/tie", Some(5)),
            Session::new("r@l/hidden", Some(-1)),
        ];
        // A bound full JID gets it, whatever its presence.
        assert_eq!(delivered_to("r@l/bound-only", &bound), ["r@l/bound-only"]);
        assert_eq!(delivered_to("r@l/hidden", &bound), ["r@l/hidden"]);
        // A bare JID, or a full JID with no session: highest priority, ties all.
        assert_eq!(delivered_to("r@l", &bound), ["r@l/high", "r@l/tie"]);
        assert_eq!(delivered_to("r@l/gone", &bound), ["r@l/high", "r@l/tie"]);
        // Nobody available with a non-negative priority: nobody (offline storage takes it).
        assert!(delivered_to("r@l", &bound[4..]).is_empty());
        assert!(delivered_to("r@l", &[]).is_empty());
    }
}
