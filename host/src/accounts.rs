//! Account management shared by the CLI (`tessera user …`) and the server.
//!
//! Passwords are turned into salted SCRAM keys (SHA-1 and SHA-256) on a blocking thread and
//! dropped; only the keys are stored.

use crate::config::Config;
use crate::storage::{AccountInfo, Storage, StorageError};

/// Account management failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The username is not a valid JID localpart.
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    /// The password is empty or not valid under SASLprep (RFC 4013).
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    /// The account exists already.
    #[error("account already exists")]
    Exists,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates an account.
///
/// # Errors
/// [`AccountError::Exists`] if taken; invalid username or password; storage failure.
#[allow(clippy::unused_async, unused_variables)] // Skeleton: filled in once SCRAM derivation lands.
pub async fn add(
    storage: &Storage,
    config: &Config,
    username: &str,
    password: &str,
) -> Result<(), AccountError> {
    todo!()
}

/// Changes an account's password. `Ok(false)` if there is no such account.
///
/// # Errors
/// Invalid password; storage failure.
#[allow(clippy::unused_async, unused_variables)]
pub async fn set_password(
    storage: &Storage,
    config: &Config,
    username: &str,
    password: &str,
) -> Result<bool, AccountError> {
    todo!()
}

/// Removes an account and everything it owns. `Ok(false)` if there is no such account.
///
/// # Errors
/// Storage failure.
#[allow(clippy::unused_async, unused_variables)]
pub async fn remove(storage: &Storage, username: &str) -> Result<bool, AccountError> {
    todo!()
}

/// Lists accounts.
///
/// # Errors
/// Storage failure.
pub async fn list(storage: &Storage) -> Result<Vec<AccountInfo>, AccountError> {
    Ok(storage.list_accounts().await?)
}
