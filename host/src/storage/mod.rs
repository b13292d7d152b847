//! Storage: one facade, two backends.
//!
//! [`Storage`] is a cheap-to-clone handle over SQLite (embedded, WAL, the default) or PostgreSQL
//! (`storage.url`). Both run the same migrations (one directory per backend under
//! `host/migrations/`) and pass the same test suite. Accounts hold salted SCRAM keys only.

mod model;

pub use model::{AccountInfo, RosterItem, Subscription};

use jid::BareJid;
use tessera_sasl::Credentials;

use crate::config::StorageConfig;

/// Storage failures. Callers map them to `internal-server-error` (our fault) except where noted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The account already exists (maps to `conflict`).
    #[error("account already exists")]
    AccountExists,
    /// The backend failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (a bug, or the database was edited by hand).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// The storage handle.
#[derive(Clone)]
pub struct Storage {
    // backend: Backend,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

#[allow(unused_variables, clippy::unused_async)] // Skeleton: the storage helper replaces these bodies.
impl Storage {
    /// Opens (creating if needed) the configured database and runs its migrations.
    pub async fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        todo!()
    }

    /// Creates an account. [`StorageError::AccountExists`] if the username is taken.
    pub async fn create_account(
        &self,
        username: &str,
        creds: &Credentials,
        now: i64,
    ) -> Result<(), StorageError> {
        todo!()
    }

    /// The account's credentials, or `None` if there is no such account.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        todo!()
    }

    /// Replaces the account's credentials; `false` if there is no such account.
    pub async fn set_credentials(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<bool, StorageError> {
        todo!()
    }

    /// Deletes the account and everything it owns (roster, pending requests); `false` if absent.
    pub async fn delete_account(&self, username: &str) -> Result<bool, StorageError> {
        todo!()
    }

    /// Whether the account exists.
    pub async fn account_exists(&self, username: &str) -> Result<bool, StorageError> {
        todo!()
    }

    /// All accounts, ordered by username.
    pub async fn list_accounts(&self) -> Result<Vec<AccountInfo>, StorageError> {
        todo!()
    }

    /// Records a successful login (unix seconds).
    pub async fn record_login(&self, username: &str, at: i64) -> Result<(), StorageError> {
        todo!()
    }

    /// The roster and its version (RFC 6121 §2.6). A user with no roster has version 0.
    pub async fn roster(&self, username: &str) -> Result<(u64, Vec<RosterItem>), StorageError> {
        todo!()
    }

    /// The current roster version.
    pub async fn roster_version(&self, username: &str) -> Result<u64, StorageError> {
        todo!()
    }

    /// One roster item.
    pub async fn roster_item(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<Option<RosterItem>, StorageError> {
        todo!()
    }

    /// Inserts or replaces a roster item; returns the new roster version.
    pub async fn put_roster_item(
        &self,
        username: &str,
        item: &RosterItem,
    ) -> Result<u64, StorageError> {
        todo!()
    }

    /// Removes a roster item; the new roster version, or `None` if there was no such item.
    pub async fn remove_roster_item(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError> {
        todo!()
    }

    /// Contacts whose subscription requests await the user's answer (RFC 6121 §3.1.3).
    pub async fn pending_in(&self, username: &str) -> Result<Vec<BareJid>, StorageError> {
        todo!()
    }

    /// Records a pending inbound subscription request (idempotent).
    pub async fn add_pending_in(&self, username: &str, contact: &BareJid) -> Result<(), StorageError> {
        todo!()
    }

    /// Clears a pending inbound request; `true` if there was one.
    pub async fn remove_pending_in(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<bool, StorageError> {
        todo!()
    }
}
