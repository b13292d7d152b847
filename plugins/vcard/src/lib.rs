//! plugin-vcard: vcard-temp (XEP-0054) as a Tessera plugin.
//!
//! Each account keeps one vCard on the server (name, nickname, addresses, often a photo), and
//! anyone may read it:
//!
//! - `<iq type='set'><vCard xmlns='vcard-temp'>…</vCard></iq>` with no `to` (or to the account's
//!   own bare JID) replaces the account's vCard (§3.2: the whole vCard, no partial updates); an
//!   empty `<vCard/>` deletes it;
//! - `<iq type='get'><vCard xmlns='vcard-temp'/></iq>` the same way reads it back (§3.1);
//! - a get to another local account's bare JID reads that account's vCard (§3.3): the host runs
//!   the recipient's `incoming` hook for IQs between local accounts, and the plugin answers there
//!   for the recipient, from its bare JID, without bothering its clients (§3.3: the server
//!   answers and does not forward the IQ to a resource);
//! - a get to the server's domain asks for the server's own vCard, which it has none of: the
//!   empty `<vCard/>`.
//!
//! No vCard stored reads as the empty `<vCard/>` (not `item-not-found`, which §3.1 allows too;
//! see `store::get` for why), for the account and for everyone else.
//!
//! Errors: a set to another account's bare JID (or to the server's domain) is `forbidden`
//! (§3.2); a set or get whose payload is not `<vCard xmlns='vcard-temp'/>` is `bad-request`; a
//! vCard over 192 KiB serialised is `not-acceptable` (`store` says why that size). IQs to a full
//! JID are the client's business and pass untouched, as do results and errors.
//!
//! The vCard is a `kv` value of the `vcard` category, owned by the account, so the host deletes
//! it with the account, with `public` visibility (anyone may fetch it) and no default expiry.
//! Logs carry the account, sizes and what failed, never the vCard's content.
//!
//! Avatars (`avatar`): the photo's hash goes into the account's available presence (XEP-0153,
//! as XEP-0398 §3 has the server do it), and a new photo is published as the account's PEP
//! avatar through the `pep` plugin's own IQs (XEP-0398 §2.2); `pep` copies a PEP avatar into
//! the vCard the same way, so both kinds of clients see one avatar.
//!
//! Grants: `log`, `router` with `router.impersonate` (answers come from the account's bare JID,
//! RFC 6120 §10.3.3, or from another account's, §3.3), `kv`, `requests` (the PEP avatar).
//!
//! ## Layout
//! - this file: the manifest, addressing and the dispatch of both hooks;
//! - `store`: the stored vCard, its cap, get and set;
//! - `avatar`: the photo's hash in presence, and the photo as the PEP avatar;
//! - `ns`: namespaces.

mod avatar;
mod ns;
mod store;

use tessera_sdk::jid::{BareJid, Jid};
use tessera_sdk::minidom::Element;
use tessera_sdk::{
    Context, DataDeclaration, Hook, Manifest, OwnerKind, Plugin, Stanza, StanzaError, StanzaKind,
    Subscription, Verdict, Visibility, log, router, scope,
};

/// The plugin; it has no settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Vcard;

/// Whether the IQ's payload is `<vCard xmlns='vcard-temp'/>` (RFC 6120 §8.2.3: a get or set has
/// exactly one child, which the host checks), and that payload.
fn vcard(iq: &Stanza) -> Option<Element> {
    let el = iq.element().ok()?;
    el.children()
        .next()
        .filter(|c| c.is("vCard", ns::VCARD_TEMP))
        .cloned()
}

/// Sends `result` (the answer to a request); a failure means the requester went away.
fn send(account: &str, result: Option<Element>) -> Verdict {
    if let Some(result) = result
        && let Err(e) = router::send(&result)
    {
        log::info(&format!("vCard answer for {account} undeliverable: {e}"));
    }
    Verdict::Handled
}

/// The `iq` hook: `account` is the sender, asking about its own vCard (no `to`, its bare JID) or
/// the server's (its domain).
fn own(account: &str, iq: &Stanza) -> Verdict {
    let to = iq.to();
    if !tessera_sdk::addressed_to_account(account, to) {
        // The host delivers only IQs to the domain, the sender's own bare JID or without `to`
        // here; anything else is another entity's vCard (§3.2).
        return Verdict::Error(StanzaError::forbidden());
    }
    let Some(payload) = vcard(iq) else {
        return Verdict::Error(StanzaError::bad_request());
    };
    let to_server = Jid::new(to).is_ok_and(|j| j.node().is_none());
    let from = iq.answering_as(account);
    match (iq.type_attr(), to_server) {
        // The server publishes no vCard of its own.
        ("get", true) => send(account, iq.iq_result_from(from, Some(store::empty()))),
        ("set", true) => Verdict::Error(StanzaError::forbidden()),
        ("get", false) => match store::get(account) {
            Ok(stored) => {
                avatar::after_get(account, &stored);
                send(account, iq.iq_result_from(from, Some(stored)))
            }
            Err(e) => Verdict::Error(e),
        },
        ("set", false) => match store::set(account, &payload) {
            Ok(()) => {
                // Answered first: the client's set is done whatever PEP makes of the photo.
                let verdict = send(account, iq.iq_result_from(from, None));
                avatar::after_set(account, &payload);
                verdict
            }
            Err(e) => Verdict::Error(e),
        },
        _ => Verdict::Error(StanzaError::bad_request()),
    }
}

/// The `incoming` hook for an IQ whose payload is a vCard: `account` is the recipient, and the
/// sender another local account. A get or set to the recipient's bare JID is answered here
/// (§3.3); anything else (a full JID, a result or error) passes to the recipient's clients.
fn other(account: &str, iq: &Stanza) -> Verdict {
    let to = iq.to();
    let addressed = Jid::new(to).is_ok_and(|j| {
        j.resource().is_none() && BareJid::new(account).is_ok_and(|a| j.to_bare() == a)
    });
    if !addressed || vcard(iq).is_none() {
        return Verdict::Pass;
    }
    match iq.type_attr() {
        "get" => match store::get(account) {
            Ok(stored) => send(account, iq.iq_result_from(to, Some(stored))),
            Err(e) => Verdict::Error(e),
        },
        // XEP-0054 §3.2: "If a user attempts to perform an IQ set on another user's vCard (i.e.,
        // by setting a 'to' address to a JID other than the sending user's bare JID), the server
        // MUST return a 403 'Forbidden' error."
        "set" => Verdict::Error(StanzaError::forbidden()),
        _ => Verdict::Pass,
    }
}

impl Plugin for Vcard {
    fn describe(&self) -> Manifest {
        Manifest::new("vcard", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::VCARD_TEMP, "vCard")
            .feature(ns::VCARD_TEMP)
            .subscribe(
                Subscription::new(Hook::Incoming, StanzaKind::Iq).payload(ns::VCARD_TEMP, "vCard"),
            )
            // XEP-0398 §3: the photo's hash in the presence of accounts with a photo (narrowed
            // to them in `init`).
            .subscribe(Subscription::new(Hook::Outgoing, StanzaKind::Presence))
            .data(DataDeclaration::new(
                store::CATEGORY,
                "Your vCard (name, nickname, addresses, photo, whatever your client fills in), \
                 which anyone may read, kept until you replace or clear it or your account is \
                 removed.",
                OwnerKind::User,
                Visibility::Public,
            ))
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        tessera_sdk::config::no_settings(config, store::CATEGORY)?;
        // Only accounts whose vCard has a photo have a hash to put in their presence
        // (`avatar`): every other account's presence costs this plugin nothing.
        scope::narrow(&[Hook::Outgoing], &[]).map_err(|e| format!("narrowing the hooks: {e}"))
    }

    fn on_stanza(&self, ctx: &Context, iq: &Stanza) -> Verdict {
        match (ctx.hook, ctx.account.as_deref()) {
            (Hook::Iq, Some(account)) => own(account, iq),
            (Hook::Iq, None) => Verdict::Error(StanzaError::bad_request()),
            (Hook::Incoming, Some(account)) => other(account, iq),
            (Hook::Outgoing, Some(account)) => avatar::presence(account, iq),
            // Not subscribed; `Hook` is non-exhaustive.
            _ => Verdict::Pass,
        }
    }
}

#[cfg(test)]
mod tests;
