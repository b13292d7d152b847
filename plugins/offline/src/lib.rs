//! offline: messages for accounts with no available resource are kept and delivered at the next
//! login (XEP-0160, RFC 6121 §8.5.2.2.1), with a XEP-0203 delay stamp.
//!
//! - The `undeliverable` hook offers every message no session can take now. `chat` and `normal`
//!   messages worth reading later are appended to the recipient's queue (an `archive` stream of
//!   the `messages` category, owned by the recipient, so removing the account removes it) and
//!   the hook answers `handled`; everything else is passed back to the host, which answers per
//!   RFC 6121 §8.5.2.2.1. Rules: `store.rs`.
//! - The `session-available` event delivers the queue, oldest first, to the session that became
//!   available, and deletes each message once the host accepted it. Rules: `delivery.rs`.
//! - Retention is the host's: by default a message waits at most 7 days and a queue keeps the
//!   newest 1000 (the operator overrides both in `[plugins.offline.retention.messages]`). With
//!   `when_full = "bounce"` in `[plugins.offline.config]` a full queue refuses new messages with
//!   `<resource-constraint/>` instead. Settings: `config.rs`.
//!
//! Grants: `log`, `router` with `router.impersonate` (a message is redelivered from its original
//! sender), `archive`, `sessions` (to skip sessions with a negative priority), `ephemeral` and
//! `clock` (one delivery run per account at a time, a lock that goes stale). Logs carry metadata
//! only (from, to, reason), never content.
//!
//! ## Layout
//! - `config`: `[plugins.offline.config]`.
//! - `store`: which messages are stored (XEP-0160 §3, XEP-0334), and the queue.
//! - `delivery`: redelivery with XEP-0203 stamps (XEP-0082 times).
//! - `ns`: namespaces.

mod config;
mod delivery;
mod ns;
mod store;

use tessera_sdk::{
    Context, DataDeclaration, Event, EventKind, Hook, Manifest, OwnerKind, Plugin, Stanza,
    StanzaKind, Subscription, Verdict, Visibility, log,
};

use config::Settings;

/// Seven days: the default age after which the host deletes a stored message.
const DEFAULT_MAX_AGE_SECONDS: u64 = 7 * 24 * 3600;

/// The plugin; its only state is the operator's settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Offline {
    settings: Settings,
}

impl Plugin for Offline {
    fn describe(&self) -> Manifest {
        Manifest::new("offline", env!("CARGO_PKG_VERSION"))
            .subscribe(Subscription::new(Hook::Undeliverable, StanzaKind::Message))
            .on(EventKind::SessionAvailable)
            .feature(ns::FEATURE_MSGOFFLINE)
            .data(
                DataDeclaration::new(
                    store::CATEGORY,
                    "Messages sent to you while you were offline, kept until you next log in.",
                    OwnerKind::User,
                    Visibility::Owner,
                )
                .max_age_seconds(DEFAULT_MAX_AGE_SECONDS)
                .max_items(config::DEFAULT_MAX_MESSAGES),
            )
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        self.settings = Settings::parse(config).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
        if ctx.hook != Hook::Undeliverable || stanza.kind() != StanzaKind::Message {
            return Verdict::Pass;
        }
        let Some(account) = ctx.account.as_deref() else {
            return Verdict::Pass;
        };
        let Ok(element) = stanza.element() else {
            return Verdict::Pass;
        };
        let domain = account.split_once('@').map_or("", |(_, d)| d);
        if let Err(skip) = store::storable(element, stanza.from(), domain) {
            log::debug(&format!(
                "not storing a message from {} to {account}: {skip}",
                stanza.from()
            ));
            return Verdict::Pass;
        }
        store::store(self.settings.when_full, account, stanza)
    }

    fn on_event(&self, event: &Event) {
        if let Event::SessionAvailable(session) = event
            && let Some((bare, _)) = session.split_once('/')
        {
            delivery::request(bare, Some(session));
        }
    }
}

#[cfg(test)]
mod tests;
