//! Account management shared by the CLI (`tessera user …`) and the server.
//!
//! Passwords are turned into salted SCRAM keys (SHA-1 and SHA-256) on a blocking thread and
//! dropped; only the keys are stored.
//!
//! [`add`] and [`remove`] work on storage alone, so the CLI can run them in its own process;
//! they cannot tell a running server's plugins. Inside the server (a plugin's
//! `accounts.create/remove`) `create_live` and `remove_live` wrap them: they also close a
//! removed account's sessions and emit the `user-created` / `user-removed` plugin events.

use jid::BareJid;

use crate::config::Config;
use crate::plugins::ServerEvent;
use crate::router::CloseReason;
use crate::server::Shared;
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
    let nodeprep = |name: &str| {
        jid::NodePart::new(name)
            .map(|n| n.to_string())
            .map_err(|e| AccountError::InvalidUsername(e.to_string()))
    };
    // Nodeprep case-folds before NFKC, so one pass can leave capitals (`\u{32CC}` becomes
    // `Hg`) and name an account no JID reaches, since every parse of `Hg@domain` gives `hg`.
    // Repeat until stable (found by the `jid` fuzz target, issue 5).
    let mut name = nodeprep(username.trim())?;
    for _ in 0..3 {
        let again = nodeprep(&name)?;
        if again == name {
            return Ok(name);
        }
        name = again;
    }
    Err(AccountError::InvalidUsername(
        "nodeprep does not settle".to_owned(),
    ))
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

/// Creates an account on the running server with its SCRAM settings and emits `user-created`.
/// Returns the account's bare JID.
///
/// # Errors
/// As [`add`].
///
/// # Cancel safety
/// Not cancel safe: cancelled after storage committed, the account exists but no event went out.
pub(crate) async fn create_live(
    shared: &Shared,
    username: &str,
    password: &str,
) -> Result<BareJid, AccountError> {
    let user = normalize_username(username)?;
    let jid = BareJid::new(&format!("{user}@{}", shared.domain))
        .map_err(|e| AccountError::InvalidUsername(e.to_string()))?;
    add(&shared.storage, &shared.config, &user, password).await?;
    shared.plugins.emit(&ServerEvent::UserCreated(jid.clone()));
    Ok(jid)
}

/// Removes a local account on the running server with everything it owns, then closes its
/// live sessions (stream error `not-authorized`, RFC 6120 §4.9.3.12) and emits `user-removed`.
/// Storage goes first, so a session racing the removal cannot log in again afterwards.
/// `Ok(false)` if there is no such account.
///
/// # Errors
/// A JID without a localpart; storage failure.
///
/// # Cancel safety
/// Not cancel safe: cancelled after storage committed, the sessions stay until they end.
pub(crate) async fn remove_live(shared: &Shared, user: &BareJid) -> Result<bool, AccountError> {
    let node = user
        .node()
        .ok_or_else(|| AccountError::InvalidUsername("no localpart".to_owned()))?;
    if !remove(&shared.storage, node.as_str()).await? {
        return Ok(false);
    }
    let closed = shared
        .router
        .close_account(user, CloseReason::AccountRemoved);
    tracing::info!(sessions = closed, "account removed on the running server");
    // A new account of the same name records its own first login.
    shared.last_logins.forget(node.as_str());
    shared.plugins.account_removed(user);
    shared.plugins.emit(&ServerEvent::UserRemoved(user.clone()));
    Ok(true)
}

/// Lists accounts.
///
/// # Errors
/// Storage failure.
pub async fn list(storage: &Storage) -> Result<Vec<AccountInfo>, AccountError> {
    Ok(storage.list_accounts().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 5, `jid` fuzz target: U+32CC SQUARE HG nodepreps to `Hg`, and `Hg` to `hg`.
    #[test]
    fn r5_fuzz_username_normalisation_is_a_fixpoint() {
        let name = normalize_username("\u{32CC}").expect("valid username");
        assert_eq!(name, "hg");
        assert_eq!(normalize_username(&name).expect("valid username"), name);
        let account: BareJid = format!("{name}@localhost").parse().expect("jid");
        assert_eq!(account.node().map(jid::NodeRef::as_str), Some("hg"));
    }
}

/// Seconds in a day: the last login is kept to the day.
const DAY: i64 = 86_400;

/// Which accounts had their last login recorded today, so a login writes `last_login_at` only the
/// first time each day. The server keeps only the day (midnight UTC): enough for expiring idle
/// accounts, which policies count in days or months, and nothing about when in the day someone
/// logs in. A login otherwise cost a database write every time (issue 5: the login rate).
#[derive(Debug, Default)]
pub(crate) struct LastLogins {
    // A std Mutex held for one map operation, never across an await.
    days: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

/// Accounts remembered before the map starts over (a missed skip costs one write, nothing more).
const LAST_LOGINS_MAX: usize = 100_000;

impl LastLogins {
    /// The day to record for a login at `now` (Unix seconds) by `user`, or `None` when that day
    /// is already recorded.
    pub(crate) fn to_record(&self, user: &str, now: i64) -> Option<i64> {
        let day = now - now.rem_euclid(DAY);
        let mut days = self
            .days
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if days.get(user) == Some(&day) {
            return None;
        }
        if days.len() >= LAST_LOGINS_MAX {
            days.clear();
        }
        days.insert(user.to_owned(), day);
        Some(day)
    }

    /// Forgets `user` (its write failed, or the account went): the next login writes again.
    pub(crate) fn forget(&self, user: &str) {
        self.days
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(user);
    }
}

#[cfg(test)]
mod last_login_tests {
    use super::*;

    #[test]
    fn one_write_a_day_to_the_day() {
        let l = LastLogins::default();
        let noon = 1_700_000_000 - 1_700_000_000 % DAY + 12 * 3600;
        assert_eq!(l.to_record("alice", noon), Some(noon - 12 * 3600));
        assert_eq!(l.to_record("alice", noon + 3600), None, "same day");
        assert_eq!(
            l.to_record("bob", noon),
            Some(noon - 12 * 3600),
            "per account"
        );
        assert_eq!(
            l.to_record("alice", noon + DAY),
            Some(noon + DAY - 12 * 3600),
            "next day"
        );
        l.forget("alice");
        assert!(l.to_record("alice", noon + DAY).is_some(), "forgotten");
    }
}
