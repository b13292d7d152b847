//! carbons: Message Carbons (XEP-0280), so every device of an account sees both sides of every
//! conversation.
//!
//! - The plugin owns the `enable` and `disable` IQs in `urn:xmpp:carbons:2` (the `iq` hook) and
//!   keeps which sessions enabled carbons in `ephemeral` (`enable.rs`); disco#info lists the
//!   feature.
//! - The `outgoing` hook sends a `<sent/>` copy of each eligible message a resource sends to the
//!   account's other carbons-enabled resources (§8); the `incoming` hook sends a `<received/>`
//!   copy of each eligible message the account receives to every carbons-enabled resource the
//!   host will not deliver the original to (§7). Both always answer `pass`: the message itself
//!   goes on untouched. Which messages: `eligible.rs`; the copies: `forward.rs`.
//! - Both hooks run at priority 100, after an archive's (MAM runs at 200 and adds its stanza-id
//!   with a `replace`, which continues the chain): a `<received/>` copy carries the same
//!   stanza-id as the original, so every device can match it against the archive.
//! - Copies are sent by the plugin, and the host runs no hooks for plugin-sent stanzas, so each
//!   message is archived once and a copy is never copied.
//! - Both hooks are narrowed (`scope`) to accounts with a carbons-enabled session: `enable` marks
//!   the account until its last session ends, `disable` of the last enabled session unmarks it,
//!   and the host does not enter the plugin for anyone else's messages.
//!
//! The `<private/>` element (§9) is left in the delivered message (the XEP says the receiving
//! server SHOULD remove it; a `replace` could, and is left for a later version).
//!
//! Grants: `log`, `router` with `router.impersonate` (copies come from the account's bare JID),
//! `ephemeral`, `sessions`. Logs carry metadata only.
//!
//! ## Layout
//! - `eligible`: XEP-0280 §6.
//! - `enable`: §4, §5, the per-session state and its sweep.
//! - `forward`: the copies (§7, §8, XEP-0297) and the host's delivery targets.
//! - `ns`: namespaces.

mod eligible;
mod enable;
mod forward;
mod ns;

use tessera_sdk::{
    Context, Event, EventKind, Hook, Manifest, Plugin, Stanza, StanzaKind, Subscription, Verdict,
    scope, sessions,
};

use forward::Direction;

/// Hook priority: after the archive (200), so copies carry its stanza-id.
const PRIORITY: i32 = 100;
/// The timer that forgets the state of sessions that ended without an event.
const SWEEP: &str = "sweep";
/// Its period.
const SWEEP_SECONDS: u32 = 300;

/// The plugin; it keeps no state of its own (sessions' state is in `ephemeral`).
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Carbons;

impl Plugin for Carbons {
    fn describe(&self) -> Manifest {
        Manifest::new("carbons", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::CARBONS, "enable")
            .iq_handler(ns::CARBONS, "disable")
            .feature(ns::CARBONS)
            .subscribe(Subscription::new(Hook::Outgoing, StanzaKind::Message).priority(PRIORITY))
            .subscribe(Subscription::new(Hook::Incoming, StanzaKind::Message).priority(PRIORITY))
            .on(EventKind::SessionUnavailable)
            .timer(SWEEP, SWEEP_SECONDS)
    }

    fn init(&mut self, _config: &str) -> Result<(), String> {
        // Only accounts with a carbons-enabled session have copies to make (`enable::mark`).
        scope::narrow(&[Hook::Outgoing, Hook::Incoming], &[])
            .map_err(|e| format!("cannot narrow the copying hooks: {e}"))
    }

    fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
        match ctx.hook {
            Hook::Iq => enable::handle_iq(ctx, stanza),
            Hook::Outgoing => {
                if let (Some(account), Some(session)) = (&ctx.account, &ctx.session) {
                    copy_sent(account, session, stanza);
                }
                Verdict::Pass
            }
            Hook::Incoming => {
                if let Some(account) = &ctx.account {
                    copy_received(account, stanza);
                }
                Verdict::Pass
            }
            _ => Verdict::Pass,
        }
    }

    fn on_event(&self, event: &Event) {
        match event {
            Event::SessionUnavailable(session) => {
                enable::forget(session);
                if let Some((account, _)) = session.split_once('/') {
                    enable::unmark_if_none_enabled(account);
                }
            }
            Event::Timer(name) if name == SWEEP => enable::sweep(),
            _ => {}
        }
    }
}

/// §8: a copy to every other carbons-enabled resource of the sender, whether or not the
/// sending one enabled carbons. The resource the message is addressed to (a message to oneself)
/// gets the original and no copy.
fn copy_sent(account: &str, session: &str, stanza: &Stanza) {
    if stanza.kind() != StanzaKind::Message {
        return;
    }
    let targets: Vec<String> = enable::enabled(account)
        .into_iter()
        .filter(|t| t != session && t != stanza.to())
        .collect();
    if targets.is_empty() {
        return;
    }
    let Ok(message) = stanza.element() else {
        return;
    };
    if eligible::eligible(message) {
        forward::send_copies(Direction::Sent, account, &targets, message);
    }
}

/// §7: a copy to every carbons-enabled resource that does not get the original. A message the
/// account sent to itself was copied as `sent` already.
fn copy_received(account: &str, stanza: &Stanza) {
    if stanza.kind() != StanzaKind::Message {
        return;
    }
    let from = stanza.from();
    if from.split_once('/').map_or(from, |(bare, _)| bare) == account {
        return;
    }
    let enabled = enable::enabled(account);
    if enabled.is_empty() {
        return;
    }
    let Ok(message) = stanza.element() else {
        return;
    };
    if !eligible::eligible(message) {
        return;
    }
    let bound = sessions::list(account);
    let original = forward::delivered_to(stanza.to(), &bound);
    let targets: Vec<String> = enabled
        .into_iter()
        .filter(|e| !original.contains(&e.as_str()))
        .collect();
    forward::send_copies(Direction::Received, account, &targets, message);
}

#[cfg(test)]
mod tests;
