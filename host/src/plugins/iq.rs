//! Owned IQ payloads (`manifest.iq-handlers`) and the plugins' share of the server's disco#info.
//!
//! An IQ get or set whose single payload (RFC 6120 §8.2.3) a plugin owns, and that is addressed
//! to the server's domain, to the sender's own bare JID or carries no `to`, goes to the owner's
//! `on-stanza` with the `iq` hook. These are the addresses at which the server answers on the
//! account's behalf (RFC 6120 §10.3.3, RFC 6121 §8.5.2.1.3), which is where XEP-0313 archives,
//! XEP-0357 push registration and XEP-0191 blocking are asked for; an IQ to another account's
//! bare JID stays with the host, which answers for that account only to its contacts.
//!
//! The owner must answer: `pass` means nobody handled it (`service-unavailable`, RFC 6120 §8.4),
//! `error` is sent as given, and a failed call follows the plugin's fail mode (open is
//! `service-unavailable` too: there is nobody else to ask). This runs before the host's own IQ
//! handling, so the host's namespaces cannot be claimed: that is a load error.
//!
//! Why a hook of its own rather than `service` with an account: a `service` call has no account
//! and its addresses are the plugin's; here the addresses are the server's and the account is
//! who is asking, so a plugin can tell the two apart without parsing addresses.

use jid::FullJid;
use minidom::Element;

use super::bindings::exports::tessera::plugin::handler::{StanzaContext, Verdict};
use super::bindings::tessera::plugin::manifest::Hook;
use super::bindings::tessera::plugin::types::StanzaKind;
use super::dispatch::{Flow, answer, answer_condition, call, error_element, fail_closed};
use super::instance::LoadedPlugin;
use super::{PluginError, Plugins, wire};
use crate::im::error::Condition;
use crate::ns;
use crate::server::Shared;

/// The IQ namespaces the host answers itself (or negotiates on the stream), which no plugin may
/// claim: roster (RFC 6121 §2), bind and session (RFC 6120 §7, RFC 3921 §3), disco (XEP-0030),
/// ping (XEP-0199), time (XEP-0202), version (XEP-0092) and ad-hoc commands (XEP-0050, which
/// plugins join through `commands` in their manifest instead).
pub(crate) const BUILT_IN: [&str; 9] = [
    ns::ROSTER,
    ns::BIND,
    ns::SESSION,
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::TIME,
    ns::VERSION,
    ns::COMMANDS,
];

/// What a manifest may not say about IQs: claim a built-in namespace, or subscribe to the `iq`
/// hook (owning the payload is the subscription).
pub(crate) fn check_manifest(plugin: &LoadedPlugin) -> Result<(), PluginError> {
    let bad = |problem: String| PluginError::Manifest {
        plugin: plugin.name().to_owned(),
        problem,
    };
    let m = &plugin.manifest;
    for q in &m.iq_handlers {
        if BUILT_IN.contains(&q.namespace.as_str()) {
            return Err(bad(format!(
                "claims IQ payload {{{}}}{}, but the server answers the namespace {} itself",
                q.namespace, q.name, q.namespace
            )));
        }
    }
    if m.subscriptions.iter().any(|s| matches!(s.hook, Hook::Iq)) {
        return Err(bad(
            "subscribes to the `iq` hook; list the payload in iq-handlers instead".to_owned(),
        ));
    }
    Ok(())
}

/// Gives an IQ get/set from `sender` (already checked to carry one payload and to be addressed
/// to the server, the sender's bare JID or nobody) to the plugin owning its payload. `Continue`
/// means no plugin owns it.
///
/// # Cancel safety
/// Cancel safe in that nothing is left half done (a cancelled call discards its instance), but
/// the IQ is then unanswered.
pub(crate) async fn owned(shared: &Shared, sender: &FullJid, iq: Element) -> Flow {
    let reg = shared.plugins.registry();
    let Some(plugin) = wire::payload(&iq).and_then(|p| reg.iq_owner(&p.ns(), p.name())) else {
        return Flow::Continue(iq);
    };
    let ctx = StanzaContext {
        hook: Hook::Iq,
        account: Some(sender.to_bare().to_string()),
        session: Some(sender.to_string()),
    };
    let record = wire::to_wit(&iq, StanzaKind::Iq);
    match call(plugin, &ctx, &record).await {
        // The plugin answered (or chose not to; an unanswered IQ is its bug, not ours).
        Ok(Verdict::Handled | Verdict::Drop) => {}
        // RFC 6120 §8.4: nobody else answers this payload. A replacement means nothing here.
        Ok(Verdict::Pass | Verdict::Replace(_)) => {
            answer_condition(shared, iq, Condition::ServiceUnavailable);
        }
        Ok(Verdict::Error(e)) => answer(shared, iq, error_element(&e)),
        Err(failure) => {
            let condition = fail_closed(plugin, failure).unwrap_or(Condition::ServiceUnavailable);
            answer_condition(shared, iq, condition);
        }
    }
    Flow::Stop
}

/// An XEP-0030 identity a plugin adds to the server's disco#info.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DiscoIdentity {
    pub(crate) category: String,
    pub(crate) type_: String,
    pub(crate) name: Option<String>,
}

/// Whether an identity belongs on accounts' bare JIDs, not on the server: `pubsub/pep`, the
/// personal eventing service every account is (XEP-0163 §6.1; the server's domain is no pubsub
/// service, and saying so would send clients looking for one there).
fn is_account_identity(category: &str, type_: &str) -> bool {
    category == "pubsub" && type_ == "pep"
}

/// Whether a plugin serves accounts rather than the server: it declares an account identity
/// ([`is_account_identity`]). Its identities and features then show on the account's bare JID
/// (to its owner) and not in the server's disco#info. The manifest has no field for this (WIT
/// 0.1.1 is released), so the identity, which such a plugin must declare anyway, says it.
fn serves_accounts(manifest: &crate::plugins::Manifest) -> bool {
    manifest
        .identities
        .iter()
        .any(|i| is_account_identity(&i.category, &i.type_))
}

impl Plugins {
    /// The features the loaded plugins declare for the server's disco#info, sorted and
    /// deduplicated (not those of plugins that serve accounts, [`serves_accounts`]).
    pub(crate) fn disco_features(&self) -> Vec<String> {
        let mut features: Vec<String> = self
            .registry()
            .plugins
            .iter()
            .filter(|p| !serves_accounts(&p.manifest))
            .flat_map(|p| p.manifest.features.iter().cloned())
            .collect();
        features.sort();
        features.dedup();
        features
    }

    /// The features an account shows its owner in disco#info: those of the plugins that own IQ
    /// payloads, which the `iq` hook serves on the user's bare JID as on the domain (a user's
    /// archive is addressed to its bare JID, XEP-0313 §4, so clients look for `urn:xmpp:mam:2`
    /// there). Sorted, deduplicated.
    pub(crate) fn account_features(&self) -> Vec<String> {
        let mut features: Vec<String> = self
            .registry()
            .plugins
            .iter()
            .filter(|p| !p.manifest.iq_handlers.is_empty())
            .flat_map(|p| p.manifest.features.iter().cloned())
            .collect();
        features.sort();
        features.dedup();
        features
    }

    /// The identities the loaded plugins declare, sorted and unique by category, type and name
    /// (XEP-0030 §3.1; manifests carry no `xml:lang`): for the server (`account = false`), all
    /// but the account identities; for an account's owner, only those.
    fn identities(&self, account: bool) -> Vec<DiscoIdentity> {
        let mut identities: Vec<DiscoIdentity> = self
            .registry()
            .plugins
            .iter()
            .flat_map(|p| p.manifest.identities.iter())
            .filter(|i| is_account_identity(&i.category, &i.type_) == account)
            .map(|i| DiscoIdentity {
                category: i.category.clone(),
                type_: i.type_.clone(),
                name: i.name.clone(),
            })
            .collect();
        identities.sort();
        identities.dedup();
        identities
    }

    /// The identities of the server's disco#info.
    pub(crate) fn disco_identities(&self) -> Vec<DiscoIdentity> {
        self.identities(false)
    }

    /// The identities an account shows its owner in disco#info (`pubsub/pep`).
    pub(crate) fn account_identities(&self) -> Vec<DiscoIdentity> {
        self.identities(true)
    }
}
