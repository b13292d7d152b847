//! The `scope` interface (plugin API 0.1.1; needs no grant): which accounts the plugin's
//! `outgoing`, `incoming` and `undeliverable` hooks run for.
//!
//! A plugin that acts for few accounts narrows those hooks once, from [`crate::Plugin::init`],
//! and marks the accounts it acts for; the host then skips the call for every other account
//! without entering the plugin, so a message costs nothing in a plugin that has nothing to do
//! with it. A mark is a hint about cost, never a permission: a narrowed hook still checks its own
//! state (preferences, enabled sessions) on every call it gets.
//!
//! ```
//! use tessera_sdk::{Hook, QName, scope};
//!
//! # tessera_sdk::testing::reset();
//! # tessera_sdk::testing::add_account("juliet@localhost");
//! // From `init`: only accounts that opted in, and stanzas carrying a `<stanza-id/>`.
//! scope::narrow(&[Hook::Incoming], &[QName::new("urn:xmpp:sid:0", "stanza-id")]).unwrap();
//! // When juliet opts in (kept across restarts, deleted with her account):
//! scope::mark("juliet@localhost", scope::Lifetime::Durable).unwrap();
//! assert!(scope::unmark("juliet@localhost").unwrap());
//! ```

use crate::error::HostError;
use crate::manifest::Hook;
use crate::stanza::QName;

/// How long a mark lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifetime {
    /// Until unmarked or the account is removed; the host stores it (owned by the account).
    Durable,
    /// Until unmarked or the account's last session ends; for state of the sessions themselves.
    Online,
}

/// From now on, `hooks` run only for marked accounts, and for any stanza with a direct child
/// named in `unless_child`. Call it from `init` (every instance gets `init`: say the same each
/// time); a later call replaces the earlier one's hooks and children and keeps the marks.
///
/// # Errors
///
/// [`HostError::Invalid`] for a hook other than `outgoing`, `incoming` and `undeliverable`.
pub fn narrow(hooks: &[Hook], unless_child: &[QName]) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    {
        let hooks: Vec<_> = hooks.iter().map(|h| (*h).into()).collect();
        let children: Vec<_> = unless_child.iter().cloned().map(Into::into).collect();
        return crate::bindings::tessera::plugin::scope::narrow(&hooks, &children)
            .map_err(HostError::from);
    }
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::scope_narrow(hooks, unless_child);
}

/// Marks a local account (its bare JID): its narrowed hooks run. A mark with the other lifetime
/// is replaced.
///
/// # Errors
///
/// [`HostError::Invalid`] for a JID that is not a local account's; [`HostError::Unavailable`]
/// for a durable mark before the server runs or when storage fails (the mark is not in force:
/// retry, or refuse what needed it).
pub fn mark(account: &str, lifetime: Lifetime) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::tessera::plugin::scope as wit;
        let lifetime = match lifetime {
            Lifetime::Durable => wit::Lifetime::Durable,
            Lifetime::Online => wit::Lifetime::Online,
        };
        return wit::mark(account, lifetime).map_err(HostError::from);
    }
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::scope_mark(account, lifetime);
}

/// Removes the account's mark; `true` if there was one.
///
/// # Errors
///
/// As [`mark`].
pub fn unmark(account: &str) -> Result<bool, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::scope::unmark(account).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::scope_unmark(account);
}
