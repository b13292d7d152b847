//! plugin-blocking: the Blocking Command (XEP-0191, `urn:xmpp:blocking`) as a Tessera plugin.
//!
//! A user blocks JIDs (a contact, one of its resources, a whole domain, or `domain/resource`),
//! sees and lifts the blocks from any client, and the server keeps the blocked entities away:
//!
//! - `<iq type='get'><blocklist xmlns='urn:xmpp:blocking'/></iq>`: the list (§3.2); the resource
//!   then gets a push (an IQ set carrying the change) whenever any resource changes it;
//! - `<iq type='set'><block><item jid='…'/>…</block></iq>`: blocks (§3.3); no item is
//!   `bad-request`, a JID that is none is `jid-malformed`, a list past 1000 items is
//!   `resource-constraint`; a newly blocked contact that sees the user's presence gets unavailable
//!   presence from each of the user's available resources;
//! - `<iq type='set'><unblock><item jid='…'/></unblock></iq>` unblocks those items (§3.4); an
//!   `<unblock/>` without items unblocks everyone (§3.5); an unblocked contact that sees the
//!   user's presence (and no other item still blocks) gets the current presence of each of the
//!   user's available resources, sent by the host (`sessions.send-presence`).
//!
//! What a block does to stanzas is in `enforce`. The host answers disco#info with the
//! `urn:xmpp:blocking` feature from the manifest.
//!
//! Grants: `log`, `router` with `router.impersonate` (answers and pushes from the user's bare
//! JID, unavailable presence from the user's resources, the `<blocked/>` error from the blocked
//! contact's address), `kv` (the list), `ephemeral` (which resources asked for it), `sessions`
//! (where pushes and presence go), `roster` (which blocked contacts see the user's presence).
//!
//! Logs carry accounts and what failed, never a blocked JID or a stanza.
//!
//! ## Layout
//! - this file: the manifest and the dispatch;
//! - `command`: the IQ protocol, pushes and presence on block and unblock;
//! - `blocklist`: storage, limits and JID matching;
//! - `enforce`: the `incoming` and `outgoing` rules;
//! - `ns`: namespaces.

mod blocklist;
mod command;
mod enforce;
mod ns;

use tessera_sdk::{
    Context, DataDeclaration, Event, Hook, Manifest, OwnerKind, Plugin, Stanza, StanzaKind,
    Subscription, Verdict, Visibility, scope,
};

/// Ahead of every other plugin on the same hooks (MAM at 200, carbons at 100): a blocked
/// message is neither archived, copied nor stored offline.
const PRIORITY: i32 = 1000;
/// The timer that forgets the interest of sessions that are gone.
const SWEEP: &str = "sweep";
const SWEEP_SECONDS: u32 = 300;

/// The plugin; it has no settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Blocking;

impl Plugin for Blocking {
    fn describe(&self) -> Manifest {
        let mut m = Manifest::new("blocking", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::BLOCKING, "blocklist")
            .iq_handler(ns::BLOCKING, "block")
            .iq_handler(ns::BLOCKING, "unblock")
            .feature(ns::BLOCKING)
            .timer(SWEEP, SWEEP_SECONDS)
            .data(DataDeclaration::new(
                blocklist::CATEGORY,
                "The addresses you blocked, so that the server keeps them from reaching you and \
                 you from reaching them, kept until you unblock them or your account is removed.",
                OwnerKind::User,
                Visibility::Owner,
            ));
        for hook in [Hook::Incoming, Hook::Outgoing] {
            for kind in [StanzaKind::Message, StanzaKind::Presence, StanzaKind::Iq] {
                m = m.subscribe(Subscription::new(hook, kind).priority(PRIORITY));
            }
        }
        m
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        tessera_sdk::config::no_settings(config, blocklist::CATEGORY)?;
        // Only accounts with a non-empty list have stanzas to stop (`blocklist::add` marks).
        scope::narrow(&[Hook::Outgoing, Hook::Incoming], &[])
            .map_err(|e| format!("cannot narrow the blocking hooks: {e}"))
    }

    fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
        let Some(account) = ctx.account.as_deref() else {
            return Verdict::Pass;
        };
        match ctx.hook {
            Hook::Iq => command::handle(account, ctx.session.as_deref(), stanza),
            Hook::Incoming => enforce::incoming(account, stanza),
            Hook::Outgoing => enforce::outgoing(account, stanza),
            // Not subscribed; `Hook` is non-exhaustive.
            _ => Verdict::Pass,
        }
    }

    fn on_event(&self, event: &Event) {
        if let Event::Timer(name) = event
            && name == SWEEP
        {
            command::sweep();
        }
    }
}

#[cfg(test)]
mod tests;
