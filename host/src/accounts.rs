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

/// Validates and normalises a username into a JID localpart (nodeprep, RFC 7622 §3.3).
///
/// # Errors
/// [`AccountError::InvalidUsername`] when nodeprep rejects it.
pub fn normalize_username(username: &str) -> Result<String, AccountError> {
    jid::NodePart::new(username.trim())
        .map(|n| n.to_string())
        .map_err(|e| AccountError::InvalidUsername(e.to_string()))
}

/// Derives SCRAM keys for both hashes on a blocking thread: PBKDF2 must not stall async workers.
async fn derive(
    config: &Config,
    password: &str,
) -> Result<tessera_sasl::Credentials, AccountError> {
    if password.is_empty() {
        return Err(AccountError::InvalidPassword("empty".into()));
    }
    let password = password.to_owned();
    let iterations = config.sasl.scram_iterations;
    tokio::task::spawn_blocking(move || tessera_sasl::derive_credentials(&password, iterations))
        .await
        .map_err(|e| AccountError::InvalidPassword(format!("derivation task failed: {e}")))?
        .map_err(|e| AccountError::InvalidPassword(e.to_string()))
}

/// Creates an account.
///
/// # Errors
/// [`AccountError::Exists`] if taken; invalid username or password; storage failure.
pub async fn add(
    storage: &Storage,
    config: &Config,
    username: &str,
    password: &str,
) -> Result<(), AccountError> {
    let user = normalize_username(username)?;
    let creds = derive(config, password).await?;
    let now = chrono::Utc::now().timestamp();
    match storage.create_account(&user, &creds, now).await {
        Ok(()) => Ok(()),
        Err(StorageError::AccountExists) => Err(AccountError::Exists),
        Err(e) => Err(e.into()),
    }
}

/// Changes an account's password. `Ok(false)` if there is no such account.
///
/// # Errors
/// Invalid password; storage failure.
pub async fn set_password(
    storage: &Storage,
    config: &Config,
    username: &str,
    password: &str,
) -> Result<bool, AccountError> {
    let user = normalize_username(username)?;
    let creds = derive(config, password).await?;
    Ok(storage.set_credentials(&user, &creds).await?)
}

/// Removes an account and everything it owns. `Ok(false)` if there is no such account.
///
/// # Errors
/// Invalid username; storage failure.
pub async fn remove(storage: &Storage, username: &str) -> Result<bool, AccountError> {
    let user = normalize_username(username)?;
    Ok(storage.delete_account(&user).await?)
}

/// Lists accounts.
///
/// # Errors
/// Storage failure.
pub async fn list(storage: &Storage) -> Result<Vec<AccountInfo>, AccountError> {
    Ok(storage.list_accounts().await?)
}
