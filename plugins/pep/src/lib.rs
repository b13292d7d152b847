//! plugin-pep: the Personal Eventing Protocol (XEP-0163) on the essentials of XEP-0060, as a
//! Tessera plugin.
//!
//! Every account is a virtual pubsub service at its bare JID: its clients publish small
//! documents there (OMEMO device lists and bundles, XEP-0084 avatars, XEP-0172 nicknames,
//! XEP-0402 bookmarks, XEP-0223 private settings), and the server pushes each change to the
//! account's own sessions and to the contacts allowed to see it.
//!
//! - Owned IQs (`iq` hook): `{…pubsub}pubsub` and `{…pubsub#owner}pubsub` from the account, with
//!   no `to` or to its own bare JID: publish (auto-create, publish-options), retract, items,
//!   create; configure, default, delete, purge, affiliations. The same payloads addressed to the
//!   server's domain ask a generic pubsub service, which the server is not:
//!   `service-unavailable` (XEP-0060 §4.2: the entity does not offer the namespace).
//! - Another local account's requests to the account's bare JID arrive on the account's
//!   `incoming` hook (as for vCards) and are answered from its bare JID: items, subject to the
//!   node's access model; anything that changes the node is `forbidden`.
//! - Notifications (`notify`): `headline` messages from the owner's bare JID to the available
//!   sessions of the owner and of the local contacts the access model admits, that asked for the
//!   node (`+notify` caps) and that the owner did not block (XEP-0191, the blocklist asked of the
//!   blocking plugin); the last item of each visible node to a session that comes online
//!   (`session-available`).
//! - Bookmarks (`bookmarks`): XEP-0402 kept in step with XEP-0048 over PEP and over XEP-0049
//!   (the `outgoing` hook takes private XML requests for `storage:bookmarks` before the
//!   `private` plugin does).
//! - Avatars (`avatar`, XEP-0398): a published avatar goes into the account's vCard, through the
//!   `vcard` plugin's own IQs (`requests`).
//!
//! Data: the `kv` category `pep`, owned by the account (deleted with it), laid out in `node`.
//! Settings and limits: `config`. Logs carry accounts and what failed, never payloads.
//!
//! Grants: `log`, `router` with `router.impersonate` (answers and notifications come from the
//! account's bare JID), `kv`, `roster` (access model `presence`, notification fan-out),
//! `sessions` (who is online), `caps` (who asked for a node's events), `requests` (the vCard, for
//! XEP-0398, and the blocklist), `clock` (generated item ids).
//!
//! ## Layout
//! - this file: the manifest, addressing and the dispatch of the hooks and events;
//! - `pubsub`, `owner`: the two namespaces' requests;
//! - `node`: storage and node configuration; `access`: who may read, who is notified;
//! - `notify`: event messages, `+notify` (`notify::wants`) and the last items at login;
//! - `bookmarks`: XEP-0402 ↔ XEP-0048; `avatar`: XEP-0084 → vCard (XEP-0398);
//! - `config`, `error`, `ns`, `xml`: the rest.

mod access;
mod avatar;
mod bookmarks;
mod config;
mod error;
mod node;
mod notify;
mod ns;
mod owner;
mod pubsub;
mod xml;

use tessera_sdk::jid::{BareJid, Jid};
use tessera_sdk::minidom::Element;
use tessera_sdk::{
    Context, DataDeclaration, Event, EventKind, Hook, Manifest, OwnerKind, Plugin, Stanza,
    StanzaError, StanzaKind, Subscription, Verdict, Visibility, log, router,
};

use crate::config::Settings;
use crate::pubsub::Req;

/// The plugin, with the operator's settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Pep {
    settings: Settings,
}

/// The pubsub features this service implements (XEP-0060 §10, XEP-0163 §6.1), shown on the
/// account's bare JID.
const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub",
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#config-node",
    "http://jabber.org/protocol/pubsub#create-and-configure",
    "http://jabber.org/protocol/pubsub#create-nodes",
    "http://jabber.org/protocol/pubsub#delete-items",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#item-ids",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#member-affiliation",
    "http://jabber.org/protocol/pubsub#modify-affiliations",
    "http://jabber.org/protocol/pubsub#multi-items",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#presence-notifications",
    "http://jabber.org/protocol/pubsub#publish",
    ns::PUBLISH_OPTIONS,
    "http://jabber.org/protocol/pubsub#purge-nodes",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    "urn:xmpp:bookmarks:1#compat",
    "urn:xmpp:bookmarks:1#compat-pep",
    // XEP-0398 §1: avatars published here go into the vCard (`avatar`), and the `vcard`
    // plugin publishes a vCard photo here.
    "urn:xmpp:pep-vcard-conversion:0",
];

/// The `<pubsub/>` payload of a get or set in either namespace, and whether it is the owner's.
fn pubsub_payload(iq: &Stanza) -> Option<(Element, bool)> {
    let el = iq.element().ok()?;
    let child = el.children().next()?;
    if child.is("pubsub", ns::PUBSUB) {
        Some((child.clone(), false))
    } else if child.is("pubsub", ns::PUBSUB_OWNER) {
        Some((child.clone(), true))
    } else {
        None
    }
}

/// Sends an answer; a failure means the requester went away.
fn send(answer: Option<Element>, to: &str) {
    if let Some(answer) = answer
        && let Err(e) = router::send(&answer)
    {
        log::info(&format!("pubsub answer to {to} undeliverable: {e}"));
    }
}

impl Pep {
    /// Answers `iq` for `owner`'s service, asked by `requester`, from `from`.
    fn answer(&self, owner: &str, requester: &str, from: &str, iq: &Stanza) -> Verdict {
        let set = match iq.type_attr() {
            "get" => false,
            "set" => true,
            _ => return Verdict::Pass,
        };
        let Some((ps, owner_ns)) = pubsub_payload(iq) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        let req = Req {
            owner,
            requester,
            settings: &self.settings,
        };
        let outcome = if owner_ns {
            owner::handle(&req, &ps, set)
        } else {
            pubsub::handle(&req, &ps, set)
        };
        match outcome {
            Ok(payload) => send(iq.iq_result_from(from, payload), iq.from()),
            Err(e) => e.send(iq, from),
        }
        Verdict::Handled
    }

    /// The `iq` hook: the account asks its own service (no `to`, its bare JID) or the domain's.
    fn own(&self, account: &str, iq: &Stanza) -> Verdict {
        let to = iq.to();
        if Jid::new(to).is_ok_and(|j| j.node().is_none()) {
            // The server's domain is no pubsub service (only accounts are, XEP-0163 §1).
            return Verdict::Error(StanzaError::service_unavailable());
        }
        if !tessera_sdk::addressed_to_account(account, to) {
            return Verdict::Error(StanzaError::forbidden());
        }
        self.answer(account, account, iq.answering_as(account), iq)
    }

    /// The `incoming` hook: `account` is the recipient, whose bare JID another local account
    /// asked. Full JIDs, results and errors pass to the recipient's clients.
    fn other(&self, account: &str, iq: &Stanza) -> Verdict {
        let to = iq.to();
        let addressed = Jid::new(to).is_ok_and(|j| {
            j.resource().is_none() && BareJid::new(account).is_ok_and(|a| j.to_bare() == a)
        });
        if !addressed || !matches!(iq.type_attr(), "get" | "set") {
            return Verdict::Pass;
        }
        let Ok(requester) = Jid::new(iq.from()).map(|j| j.to_bare().to_string()) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        self.answer(account, &requester, to, iq)
    }

    /// The `outgoing` hook on `{jabber:iq:private}query`: requests for `storage:bookmarks` are
    /// answered from the bookmark nodes; everything else passes on to the `private` plugin.
    fn private(&self, account: &str, iq: &Stanza) -> Verdict {
        let set = match iq.type_attr() {
            "get" => false,
            "set" => true,
            _ => return Verdict::Pass,
        };
        if !tessera_sdk::addressed_to_account(account, iq.to()) {
            return Verdict::Pass;
        }
        let Ok(el) = iq.element() else {
            return Verdict::Pass;
        };
        let Some(query) = el.children().find(|c| c.is("query", ns::PRIVATE)) else {
            return Verdict::Pass;
        };
        let docs: Vec<&Element> = query.children().collect();
        let [storage] = docs.as_slice() else {
            return Verdict::Pass;
        };
        if !storage.is("storage", ns::BOOKMARKS) {
            return Verdict::Pass;
        }
        let req = Req {
            owner: account,
            requester: account,
            settings: &self.settings,
        };
        let outcome = if set {
            bookmarks::private_set(&req, storage).map(|()| None)
        } else {
            bookmarks::private_get(account)
                .map(|s| Some(xml::with(Element::bare("query", ns::PRIVATE), s)))
        };
        let from = iq.answering_as(account);
        match outcome {
            Ok(payload) => send(iq.iq_result_from(from, payload), iq.from()),
            Err(e) => e.send(iq, from),
        }
        Verdict::Handled
    }
}

impl Plugin for Pep {
    fn describe(&self) -> Manifest {
        let mut m = Manifest::new("pep", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::PUBSUB, "pubsub")
            .iq_handler(ns::PUBSUB_OWNER, "pubsub")
            // XEP-0163 §6.1: the account's bare JID is a pubsub/pep service. The host shows
            // this identity, and then the plugin's features, on accounts only.
            .identity("pubsub", "pep", None)
            .subscribe(
                Subscription::new(Hook::Incoming, StanzaKind::Iq).payload(ns::PUBSUB, "pubsub"),
            )
            .subscribe(
                Subscription::new(Hook::Incoming, StanzaKind::Iq)
                    .payload(ns::PUBSUB_OWNER, "pubsub"),
            )
            // Ahead of the `private` plugin's owned IQ (the host runs `outgoing` first).
            .subscribe(
                Subscription::new(Hook::Outgoing, StanzaKind::Iq)
                    .payload(ns::PRIVATE, "query")
                    .priority(100),
            )
            .on(EventKind::SessionAvailable)
            .data(DataDeclaration::new(
                node::CATEGORY,
                "What your clients publish on your account (encryption public keys, avatar, \
                 nickname, bookmarks, settings), each node readable by whom your client chose \
                 (you only, your contacts, or anyone), kept until your clients delete it or your \
                 account is removed.",
                OwnerKind::User,
                Visibility::Public,
            ));
        for f in FEATURES {
            m = m.feature(*f);
        }
        m
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        self.settings = Settings::parse(config).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_stanza(&self, ctx: &Context, iq: &Stanza) -> Verdict {
        match (ctx.hook, ctx.account.as_deref()) {
            (Hook::Iq, Some(account)) => self.own(account, iq),
            (Hook::Iq, None) => Verdict::Error(StanzaError::bad_request()),
            (Hook::Incoming, Some(account)) => self.other(account, iq),
            (Hook::Outgoing, Some(account)) => self.private(account, iq),
            // Not subscribed; `Hook` is non-exhaustive.
            _ => Verdict::Pass,
        }
    }

    fn on_event(&self, event: &Event) {
        if let Event::SessionAvailable(session) = event {
            notify::session_available(session, self.settings.max_nodes);
        }
    }
}

#[cfg(test)]
mod tests;
