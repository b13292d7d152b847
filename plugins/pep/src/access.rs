//! Who may read a node (XEP-0060 §4.5 access models, XEP-0163 §4.1.2.1) and who gets its
//! notifications (XEP-0163 §4.3): one rule for both, so a notification never reaches someone
//! an items request would refuse.

use tessera_sdk::jid::BareJid;
use tessera_sdk::roster;

use crate::error::PubsubError;
use crate::node::{Access, Node};

/// Whether `requester` (a bare JID) may read `owner`'s `node`.
///
/// # Errors
///
/// `not-authorized` + `<presence-subscription-required/>` (presence), `not-allowed` +
/// `<closed-node/>` (whitelist), `internal-server-error` when the roster cannot be read.
pub(crate) fn may_read(owner: &str, requester: &str, node: &Node) -> Result<(), PubsubError> {
    if same(owner, requester) {
        return Ok(());
    }
    match node.config.access {
        Access::Open => Ok(()),
        Access::Presence => {
            let sub = roster::subscription_of(owner, requester)
                .map_err(|e| PubsubError::internal("read the roster", owner, &e))?;
            if sub.has_from() {
                Ok(())
            } else {
                Err(PubsubError::presence_subscription_required())
            }
        }
        Access::Whitelist => {
            if node.members.iter().any(|m| same(m, requester)) {
                Ok(())
            } else {
                Err(PubsubError::closed_node())
            }
        }
    }
}

/// Whether two bare JIDs are the same (case-insensitive where JIDs are).
pub(crate) fn same(a: &str, b: &str) -> bool {
    match (BareJid::new(a), BareJid::new(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The local accounts (bare JIDs) that get `owner`'s notifications for `node`: the owner
/// (XEP-0163 §4.3.1) and those the access model lets read it, on `owner`'s domain (no s2s
/// yet). For `open` and `presence`, the contacts subscribed to the owner's presence
/// (XEP-0163 §4.3: the implicit subscription; `open` nodes have no other subscribers, explicit
/// subscriptions not being supported); for `whitelist`, the members.
pub(crate) fn audience(owner: &str, node: &Node) -> Vec<String> {
    let domain = BareJid::new(owner).map(|j| j.domain().to_string()).ok();
    let local = |jid: &str| {
        BareJid::new(jid)
            .is_ok_and(|j| Some(j.domain().to_string()) == domain && j.node().is_some())
    };
    let mut out = vec![owner.to_owned()];
    let others: Vec<String> = match node.config.access {
        Access::Open | Access::Presence => match roster::items(owner) {
            Ok(items) => items
                .into_iter()
                .filter(|i| i.subscription.has_from())
                .map(|i| i.jid)
                .collect(),
            Err(e) => {
                tessera_sdk::log::warn(&format!(
                    "PEP notifications of {owner} reach only the owner: roster unreadable: {e}"
                ));
                Vec::new()
            }
        },
        Access::Whitelist => node.members.clone(),
    };
    for jid in others {
        if local(&jid) && !out.iter().any(|o| same(o, &jid)) {
            out.push(jid);
        }
    }
    out
}
