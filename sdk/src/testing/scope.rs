//! The fake host's `scope` (plugin API 0.1.1), with the real host's rules: only the three account
//! hooks can be narrowed, only local accounts marked, and [`super::Harness::stanza`] skips a
//! narrowed hook for an unmarked account exactly as the host does (an `incoming` presence from a
//! marked sender included), so a plugin's tests show that
//! it marks what it needs.

use std::collections::BTreeMap;

use super::{FakeHost, HOST};
use crate::error::HostError;
use crate::manifest::Hook;
use crate::plugin::Context;
use crate::scope::Lifetime;
use crate::stanza::{QName, Stanza};

/// What the plugin narrowed, and its marks.
#[derive(Debug, Default)]
pub(super) struct Scope {
    narrowed: Vec<Hook>,
    unless_child: Vec<QName>,
    pub(super) marks: BTreeMap<String, Lifetime>,
}

impl Scope {
    /// Whether the host would enter the plugin for this call.
    pub(super) fn admits(&self, ctx: &Context, stanza: &Stanza) -> bool {
        if !self.narrowed.contains(&ctx.hook) {
            return true;
        }
        if ctx
            .account
            .as_deref()
            .is_some_and(|a| self.marks.contains_key(a))
        {
            return true;
        }
        // Presence concerns both ends: a narrowed `incoming` hook also runs for presence whose
        // sender is a marked account (its `from`'s bare JID), as on the host.
        if ctx.hook == Hook::Incoming
            && stanza.kind() == crate::stanza::StanzaKind::Presence
            && self.marks.contains_key(super::bare(stanza.from()))
        {
            return true;
        }
        stanza.element().is_ok_and(|el| {
            self.unless_child
                .iter()
                .any(|q| el.has_child(q.name.as_str(), q.namespace.as_str()))
        })
    }
}

fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// The account's mark, if the plugin set one.
pub fn marked(account: &str) -> Option<Lifetime> {
    with(|h| h.scope.marks.get(account).copied())
}

/// The account's last session ended, as the host sees it: its `online` mark goes.
pub fn end_sessions(account: &str) {
    with(|h| {
        if h.scope.marks.get(account) == Some(&Lifetime::Online) {
            h.scope.marks.remove(account);
        }
    });
}

/// The fake's side of the `scope` calls.
pub(super) mod fake {
    use super::*;

    pub(crate) fn scope_narrow(hooks: &[Hook], unless_child: &[QName]) -> Result<(), HostError> {
        if hooks.iter().any(|h| matches!(h, Hook::Service | Hook::Iq)) {
            return Err(HostError::Invalid(
                "only the outgoing, incoming and undeliverable hooks can be narrowed".to_owned(),
            ));
        }
        with(|h| {
            h.scope.narrowed = hooks.to_vec();
            h.scope.unless_child = unless_child.to_vec();
        });
        Ok(())
    }

    pub(crate) fn scope_mark(account: &str, lifetime: Lifetime) -> Result<(), HostError> {
        with(|h| {
            let jid = h.directory.local_user(account)?;
            h.scope.marks.insert(jid, lifetime);
            Ok(())
        })
    }

    pub(crate) fn scope_unmark(account: &str) -> Result<bool, HostError> {
        with(|h| {
            let jid = h.directory.local_user(account)?;
            Ok(h.scope.marks.remove(&jid).is_some())
        })
    }
}
