//! Notifications (XEP-0163 §4.3, XEP-0060 §7.1.2): event messages to the available sessions of
//! the owner and of the local contacts the node's access model admits, and the last published
//! items a session gets when it comes online (XEP-0163 §4.3.2).
//!
//! Every decision "does this session get events of this node" goes through [`wants`].

use tessera_sdk::jid::BareJid;
use tessera_sdk::minidom::Element;
use tessera_sdk::{blocking, caps, log, roster, router, sessions};

use crate::access;
use crate::node::{Node, SendLast, Store};
use crate::{ns, xml};

/// Whether the session `session` (a full JID) wants notifications of `node`: XEP-0163 §4.3
/// sends them to sessions whose XEP-0115 capabilities include `<node>+notify`, as the host
/// verified them (`caps`). A client that announces no caps gets no notifications; it can still
/// read the node (§4.3: that is what `+notify` is for).
pub(crate) fn wants(session: &str, node: &str) -> bool {
    caps::has_feature(session, &caps::notify(node))
}

/// `<message type='headline' from='owner' to='session'><event>{child}</event></message>`.
fn message(owner: &str, session: &str, child: Element) -> Element {
    let event = xml::with(Element::bare("event", ns::PUBSUB_EVENT), child);
    let mut msg = xml::el(
        "message",
        ns::CLIENT,
        &[("from", owner), ("to", session), ("type", "headline")],
    );
    msg.append_child(event);
    msg
}

/// `<items node='…'><item id='…'>payload</item></items>` in the event namespace.
pub(crate) fn items_event(node: &str, id: &str, payload: Option<&Element>) -> Element {
    let mut item = xml::el("item", ns::PUBSUB_EVENT, &[("id", id)]);
    if let Some(p) = payload {
        item.append_child(p.clone());
    }
    xml::with(xml::el("items", ns::PUBSUB_EVENT, &[("node", node)]), item)
}

/// `<items node='…'><retract id='…'/></items>` (XEP-0060 §7.2.2.1).
pub(crate) fn retract_event(node: &str, id: &str) -> Element {
    xml::with(
        xml::el("items", ns::PUBSUB_EVENT, &[("node", node)]),
        xml::el("retract", ns::PUBSUB_EVENT, &[("id", id)]),
    )
}

/// Sends `child` as an event from `owner` to one session, if it wants the node's events.
fn send_to(owner: &str, session: &str, node: &str, child: &Element) {
    if !wants(session, node) {
        return;
    }
    if let Err(e) = router::send(&message(owner, session, child.clone())) {
        // The session ended meanwhile: nothing to do, it reads the node at its next login.
        log::debug(&format!(
            "PEP notification of {owner} to a session undeliverable: {e}"
        ));
    }
}

/// Sends `child` (an `<items/>`, `<delete/>` or `<purge/>` event) to every available session of
/// the node's audience ([`access::audience`]).
pub(crate) fn broadcast(owner: &str, node: &Node, child: &Element) {
    let blocked = blocked_by(owner);
    for account in access::audience(owner, node) {
        let own = access::same(&account, owner);
        for session in sessions::list(&account) {
            if session.is_available() && (own || !is_blocked(blocked.as_deref(), &session.jid)) {
                send_to(owner, &session.jid, &node.name, child);
            }
        }
    }
}

/// Whom `owner` blocked (XEP-0191, asked of the blocking plugin): what the plugin sends passes
/// no other plugin's hooks, so it keeps the user's notifications from blocked contacts itself.
/// `None` when the list cannot be read: then nobody but the owner is notified (a notification
/// missed is better than one to someone the user blocked).
fn blocked_by(owner: &str) -> Option<Vec<String>> {
    match blocking::blocklist(owner) {
        Ok(list) => Some(list),
        Err(e) => {
            log::warn(&format!(
                "PEP notifications of {owner} held back: the blocklist is unreadable: {e}"
            ));
            None
        }
    }
}

/// Whether `session` is blocked by a list from [`blocked_by`] (an unknown list blocks everyone).
fn is_blocked(list: Option<&[String]>, session: &str) -> bool {
    list.is_none_or(|l| blocking::is_blocked(l, session))
}

/// The last item of `node` as an event for `session`, if the node sends it on presence.
fn send_last(store: &Store, session: &str, node: &Node) {
    if node.config.send_last != SendLast::OnSubAndPresence {
        return;
    }
    let Some(id) = node.last() else { return };
    match store.item(node, id) {
        Ok(Some(payload)) => {
            send_to(
                store.owner(),
                session,
                &node.name,
                &items_event(&node.name, id, Some(&payload)),
            );
        }
        Ok(None) => {}
        Err(_) => {} // logged by the store
    }
}

/// XEP-0163 §4.3.2: `session` came online; it gets the last item of each node it may see, of
/// its own account and of each local contact whose presence it is subscribed to (`to`/`both`).
/// `max_nodes` bounds the nodes listed per account; only the nodes the session asked for
/// (`+notify`) are read.
pub(crate) fn session_available(session: &str, max_nodes: u32) {
    let Some((user, _)) = session.split_once('/') else {
        return;
    };
    let Ok(me) = BareJid::new(user) else { return };
    let mut owners = vec![user.to_owned()];
    match roster::items(user) {
        Ok(items) => owners.extend(
            items
                .into_iter()
                .filter(|i| i.subscription.has_to())
                .map(|i| i.jid)
                .filter(|j| {
                    BareJid::new(j)
                        .is_ok_and(|b| b.domain() == me.domain() && b.node().is_some() && b != me)
                }),
        ),
        Err(e) => log::warn(&format!(
            "PEP last items for a session of {user}: roster unreadable: {e}"
        )),
    }
    for owner in owners {
        let store = Store::of(&owner);
        let Ok(names) = store.names(max_nodes) else {
            continue;
        };
        // Asked about first: one host call, where the node's metadata is a storage read.
        let names: Vec<String> = names.into_iter().filter(|n| wants(session, n)).collect();
        if names.is_empty() {
            continue;
        }
        // A contact the owner blocked gets none of the owner's items (asked only when there is
        // something to send).
        if owner != user && is_blocked(blocked_by(&owner).as_deref(), session) {
            continue;
        }
        for name in names {
            let Ok(Some(node)) = store.load(&name) else {
                continue;
            };
            if access::may_read(&owner, user, &node).is_ok() {
                send_last(&store, session, &node);
            }
        }
    }
}
