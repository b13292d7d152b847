//! The `accounts` capability: local accounts (registration plugins, admin commands).
//!
//! Users are named by bare JID (`juliet@example.com`). A JID that is not a local account's
//! (another domain, no localpart, or a full JID: pass bare JIDs) is [`HostError::Invalid`] for
//! [`remove`], and simply "no" for [`exists`] and [`is_admin`]. Creating and removing accounts goes through the same rules as
//! `tessera user add` / `user remove`: removal deletes everything the account owned, in every
//! plugin, and the host then delivers `user-removed` to the plugins subscribed to it.
//!
//! A password passed to [`create`] goes straight to the host, which stores only salted SCRAM
//! keys; never log it or keep it.
//!
//! ```
//! use tessera_sdk::accounts;
//!
//! # tessera_sdk::testing::reset();
//! let jid = accounts::create("romeo", "correct horse battery staple")?;
//! assert_eq!(jid, "romeo@localhost");
//! assert!(accounts::exists(&jid)?);
//! assert!(accounts::remove(&jid)?);
//! assert!(!accounts::exists(&jid)?);
//! # Ok::<(), tessera_sdk::HostError>(())
//! ```

use crate::error::HostError;

/// Whether a local account exists; `false` for a JID that cannot be a local account's.
///
/// # Errors
///
/// [`HostError::NotGranted`], or [`HostError::Unavailable`] when storage is down.
pub fn exists(user: &str) -> Result<bool, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::accounts::exists(user).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::account_exists(user);
}

/// Creates the account `username` (a localpart, e.g. `romeo`) with `password`; returns its bare
/// JID.
///
/// # Errors
///
/// [`HostError::Invalid`] when the name is taken or is not a valid localpart (RFC 7622 §3.3), or
/// the password is refused (the text names the rule, never the password);
/// [`HostError::NotGranted`]; [`HostError::Unavailable`] when storage is down.
pub fn create(username: &str, password: &str) -> Result<String, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::accounts::create(username, password)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::account_create(username, password);
}

/// Removes an account and everything it owns; `true` if there was one. Its sessions are closed.
///
/// # Errors
///
/// [`HostError::Invalid`] for a JID that is not a local account's, [`HostError::NotGranted`],
/// [`HostError::Unavailable`] when storage is down.
pub fn remove(user: &str) -> Result<bool, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::accounts::remove(user).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::account_remove(user);
}

/// Whether `user` (a bare JID) is one of the operator's administrators (the `admins` config
/// key). Never an error: without the grant, or for a JID that is not a local account's, the
/// answer is `false`, so a check fails closed.
pub fn is_admin(user: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::accounts::is_admin(user);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::account_is_admin(user);
}
