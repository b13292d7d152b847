//! Storage: one facade, two backends.
//!
//! [`Storage`] is a cheap-to-clone handle over SQLite (embedded, WAL, the default) or PostgreSQL
//! (`storage.url`). Both run the same migrations (one directory per backend under
//! `host/migrations/`) and pass the same test suite (`host/tests/storage.rs`). Accounts hold
//! salted SCRAM keys only.
//!
//! ## Layout
//! - `model`: the records ([`AccountInfo`], [`RosterItem`], [`Subscription`]).
//! - `sql`: the SQL both dialects accept, and decoding rows into records ([`StorageError::Corrupt`]
//!   on a value that does not fit, never a panic).
//! - `sqlite`, `postgres`: one backend each, the same methods; [`Storage`] dispatches to them.
//! - `plugin_data`: plugin records (the WIT `kv` and `archive`) with their lifecycle: owner,
//!   category, expiry, retention ([`Owner`], [`ArchiveQuery`], [`Page`]); archive appends are
//!   write-behind, committed in batches by one writer task per [`Storage`]
//!   (`plugin_data::writer`).
//! - `blobs`: plugin blobs (the WIT `blobs`), rows here and bytes in files under a directory
//!   given with [`Storage::with_blob_dir`], with the same lifecycle.
//!
//! Every roster change bumps the roster version in its own transaction (RFC 6121 §2.6), and
//! deleting an account deletes everything it owns in one transaction, plugin records included
//! (a blob's file goes after the commit).

mod blobs;
mod model;
mod plugin_data;
mod postgres;
mod queries;
mod sql;
mod sqlite;

pub use blobs::MAX_BLOB_NAME;
pub use model::{AccountInfo, FastToken, RosterItem, Subscription};
pub use plugin_data::{
    ArchiveEntry, ArchiveQuery, InvalidOwner, MAX_ARCHIVE_MS, MAX_IDS, Millis, NewEntry, Owner,
    Page,
};

use std::path::PathBuf;
use std::time::Duration;

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
    /// A roster or pending-request write named an account that does not exist (a caller bug, or
    /// the account was deleted meanwhile: `item-not-found`).
    #[error("no such account")]
    NoSuchAccount,
    /// The SQLite file or its directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The backend failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (a bug, or the database was edited by hand).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A plugin-data request the storage cannot take: text holding NUL, too many ids, a clock
    /// beyond what archive ids encode. The text names the field, never its value; for a guest's
    /// call it maps to the WIT `invalid`.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A blob write would take the plugin past its `blob_quota` (the WIT `quota-exceeded`).
    #[error("blob quota exceeded")]
    QuotaExceeded,
    /// A blob file could not be written, read or listed.
    #[error("blob file {}: {source}", path.display())]
    BlobFile {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A blob call on a storage opened without [`Storage::with_blob_dir`].
    #[error("no blob directory configured")]
    NoBlobDir,
    /// An archive append after [`Storage::close`].
    #[error("storage is closed")]
    Closed,
}

/// The storage handle: a connection pool, cheap to clone and share between tasks.
///
/// # Cancel safety
/// Every method is cancel-safe in the sense that matters for a database: a write that spans
/// several statements runs in one transaction, and dropping the future before it commits rolls
/// the transaction back. A write dropped while its commit is in flight may or may not have been
/// applied, as with any database client; reads have no effect either way.
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
    /// Where blob files live (`with_blob_dir`).
    blobs: Option<std::sync::Arc<blobs::BlobDir>>,
    /// The write-behind archive writer (`plugin_data::writer`), one per opened storage.
    archive: std::sync::Arc<plugin_data::writer::Handle>,
    /// Small `kv` rows read or written lately (`plugin_data::kv_cache`), one per opened storage.
    kv_cache: std::sync::Arc<plugin_data::kv_cache::KvCache>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Storage {
    // Never the PostgreSQL URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Storage")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

/// Calls the same method on whichever backend is open.
macro_rules! dispatch {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Sqlite(db) => db.$method($($arg),*).await,
            Backend::Postgres(db) => db.$method($($arg),*).await,
        }
    };
}

impl Storage {
    /// Opens (creating if needed) the configured database and runs its migrations.
    ///
    /// SQLite: creates the parent directory (mode 0700) and the file (mode 0600) if missing, and
    /// opens it in WAL mode with `synchronous = NORMAL`, foreign keys on and a busy timeout.
    /// PostgreSQL: connects a pool of `max_connections`; the URL is never logged.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the file cannot be created, [`StorageError::Database`] if the
    /// database cannot be reached, [`StorageError::Migrate`] if its schema cannot be brought
    /// up to date (for instance, it was written by a newer Tessera).
    ///
    /// # Cancel safety
    /// Cancel-safe; a migration interrupted half-way is rolled back by its own transaction.
    pub async fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let backend = match config {
            StorageConfig::Sqlite { path } => Backend::Sqlite(sqlite::Sqlite::open(path).await?),
            StorageConfig::Postgres {
                url,
                max_connections,
            } => Backend::Postgres(postgres::Postgres::open(url, *max_connections).await?),
        };
        let archive = std::sync::Arc::new(plugin_data::writer::Writer::start(backend.clone()));
        Ok(Self {
            backend,
            blobs: None,
            archive,
            kv_cache: std::sync::Arc::default(),
        })
    }

    /// Closes the storage: stops taking archive appends, writes every queued one, then closes
    /// the pool (waiting for checked-out connections to come back). Later calls on any clone fail
    /// with [`StorageError::Closed`] or [`StorageError::Database`].
    ///
    /// # Cancel safety
    /// Cancel-safe: appends stop and the pool is marked closed at the first poll; the queued
    /// appends are still written by the writer task.
    pub async fn close(&self) {
        self.archive.close().await;
        dispatch!(self.close())
    }

    /// Waits until every archive append made before the call is committed (the server's
    /// graceful shutdown; appends are write-behind, see [`archive_append`](Self::archive_append)).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub async fn flush_archive(&self) {
        self.archive.flushed().await;
    }

    /// A mark covering every archive append queued so far, for
    /// [`archive_committed`](Self::archive_committed).
    pub fn archive_mark(&self) -> u64 {
        self.archive.queued_upto()
    }

    /// Waits until every archive append up to `mark` ([`archive_mark`](Self::archive_mark)) is
    /// committed: what makes a write-behind append durable when a caller needs it to be (a
    /// message a plugin took over, see `plugins::dispatch`). A batch that fails is retried, so
    /// this waits through a database outage.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits.
    pub async fn archive_committed(&self, mark: u64) {
        self.archive.committed_upto(mark).await;
    }

    /// Archive appends queued or being written.
    pub fn archive_pending(&self) -> usize {
        self.archive.pending()
    }

    /// Creates an account. [`StorageError::AccountExists`] if the username is taken.
    ///
    /// `username` must already be normalised (nodeprep); `now` is unix seconds.
    ///
    /// # Errors
    /// [`StorageError::AccountExists`], or a database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn create_account(
        &self,
        username: &str,
        creds: &Credentials,
        now: i64,
    ) -> Result<(), StorageError> {
        dispatch!(self.create_account(username, creds, now))
    }

    /// The account's credentials, or `None` if there is no such account.
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for an out-of-range iteration count.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, StorageError> {
        dispatch!(self.credentials(username))
    }

    /// Replaces the account's credentials; `false` if there is no such account.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn set_credentials(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<bool, StorageError> {
        dispatch!(self.set_credentials(username, creds))
    }

    /// Deletes the account and everything it owns (roster, its version, pending requests, and every
    /// plugin's `kv`, `archive` and `blobs` records owned by [`Owner::User`] with this localpart),
    /// in one transaction, then the blobs' files; `false` if absent (the plugin records are
    /// deleted either way).
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One transaction; see [`Storage`]. Cancelled after the commit, blob files are left for
    /// [`sweep_orphan_blobs`](Self::sweep_orphan_blobs).
    pub async fn delete_account(&self, username: &str) -> Result<bool, StorageError> {
        let (lo, hi) = plugin_data::account_owner_range(username);
        let owned = |_: &str, _: &str, owner: &str| lo.as_str() <= owner && owner < hi.as_str();
        let _kv = self.kv_cache.forgetting(&owned);
        let (found, files) = {
            // No archive batch interleaves; the account's queued appends go with it.
            let _commit = self.archive.exclusive().await;
            let deleted = dispatch!(self.delete_account(username))?;
            self.archive
                .drop_owners(|owner| lo.as_str() <= owner && owner < hi.as_str());
            deleted
        };
        self.remove_blob_files(files).await;
        Ok(found)
    }

    /// Whether the account exists.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn account_exists(&self, username: &str) -> Result<bool, StorageError> {
        dispatch!(self.account_exists(username))
    }

    /// All accounts, ordered by username bytewise (code point order, on both backends).
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn list_accounts(&self) -> Result<Vec<AccountInfo>, StorageError> {
        dispatch!(self.list_accounts())
    }

    /// Records a successful login (unix seconds). Does nothing if there is no such account.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn record_login(&self, username: &str, at: i64) -> Result<(), StorageError> {
        dispatch!(self.record_login(username, at))
    }

    /// The unexpired XEP-0484 FAST tokens of one client installation (`agent`), the newer
    /// (issued, not used yet) first.
    pub async fn fast_tokens(
        &self,
        username: &str,
        agent: &str,
        now: i64,
    ) -> Result<Vec<FastToken>, StorageError> {
        dispatch!(self.fast_tokens(username, agent, now))
    }

    /// Stores a newly issued FAST token in the installation's `new` slot, replacing one issued
    /// and never used, and deletes every expired token on the server.
    pub async fn put_fast_token(
        &self,
        username: &str,
        agent: &str,
        mechanism: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StorageError> {
        dispatch!(self.put_fast_token(username, agent, mechanism, token, expires_at, now))
    }

    /// The installation used its `new` token: it becomes the one in use, the older one goes.
    pub async fn promote_fast_token(
        &self,
        username: &str,
        agent: &str,
    ) -> Result<(), StorageError> {
        dispatch!(self.promote_fast_token(username, agent))
    }

    /// Deletes one of the installation's tokens (`newer`: the `new` slot).
    pub async fn delete_fast_token(
        &self,
        username: &str,
        agent: &str,
        newer: bool,
    ) -> Result<(), StorageError> {
        dispatch!(self.delete_fast_token(username, agent, newer))
    }

    /// The roster, ordered by contact, and its version (RFC 6121 §2.6), read from one snapshot so
    /// the version describes exactly these items. A user with no roster has version 0.
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for an undecodable item.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn roster(&self, username: &str) -> Result<(u64, Vec<RosterItem>), StorageError> {
        dispatch!(self.roster(username))
    }

    /// Each roster item's contact and subscription state, unordered: what presence routing
    /// needs at every login and logout, in one statement instead of [`roster`](Self::roster)'s
    /// transaction of three.
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for an undecodable item.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn roster_subscriptions(
        &self,
        username: &str,
    ) -> Result<Vec<(BareJid, Subscription)>, StorageError> {
        dispatch!(self.roster_subscriptions(username))
    }

    /// The current roster version (0 if the roster never changed).
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for a negative stored version.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn roster_version(&self, username: &str) -> Result<u64, StorageError> {
        dispatch!(self.roster_version(username))
    }

    /// One roster item.
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for an undecodable item.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn roster_item(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<Option<RosterItem>, StorageError> {
        dispatch!(self.roster_item(username, contact))
    }

    /// Inserts or replaces a roster item (its groups included); returns the new roster version,
    /// bumped in the same transaction (RFC 6121 §2.6).
    ///
    /// # Errors
    /// [`StorageError::NoSuchAccount`], or a database failure.
    ///
    /// # Cancel safety
    /// One transaction; see [`Storage`].
    pub async fn put_roster_item(
        &self,
        username: &str,
        item: &RosterItem,
    ) -> Result<u64, StorageError> {
        dispatch!(self.put_roster_item(username, item))
    }

    /// Removes a roster item; the new roster version, bumped in the same transaction, or `None`
    /// (and no new version) if there was no such item.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One transaction; see [`Storage`].
    pub async fn remove_roster_item(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError> {
        dispatch!(self.remove_roster_item(username, contact))
    }

    /// Contacts whose subscription requests await the user's answer (RFC 6121 §3.1.3), ordered by
    /// contact.
    ///
    /// # Errors
    /// A database failure, or [`StorageError::Corrupt`] for an undecodable contact.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn pending_in(&self, username: &str) -> Result<Vec<BareJid>, StorageError> {
        dispatch!(self.pending_in(username))
    }

    /// Records a pending inbound subscription request (idempotent).
    ///
    /// # Errors
    /// [`StorageError::NoSuchAccount`], or a database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn add_pending_in(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<(), StorageError> {
        dispatch!(self.add_pending_in(username, contact))
    }

    /// Clears a pending inbound request; `true` if there was one.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn remove_pending_in(
        &self,
        username: &str,
        contact: &BareJid,
    ) -> Result<bool, StorageError> {
        dispatch!(self.remove_pending_in(username, contact))
    }

    // ---- plugin data (WIT `kv` and `archive`; see `plugin_data`) ----

    /// A `kv` value, or `None` if there is none or it expired (`expires_at <= now_ms`).
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL, or a database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn kv_get(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        key: &str,
        now_ms: Millis,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        plugin_data::check_scope(plugin, category, ("key", key))?;
        let cache_key = plugin_data::kv_cache::key(plugin, category, owner, key);
        let row = match self.kv_cache.get(&cache_key) {
            Ok(row) => row,
            Err(ticket) => {
                let row = dispatch!(self.kv_row(plugin, category, owner, key))?;
                self.kv_cache.fill(cache_key, ticket, row.clone());
                row
            }
        };
        Ok(plugin_data::kv_cache::live(row, now_ms))
    }

    /// Writes a `kv` value, replacing any (its age then counts from `now_ms`). `expires_at` is
    /// stored as given: the caller caps it by the category's retention, as the WIT promises.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL, or a database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    #[allow(
        clippy::too_many_arguments,
        reason = "the WIT call plus plugin and clock"
    )]
    pub async fn kv_set(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        key: &str,
        value: &[u8],
        expires_at: Option<Millis>,
        now_ms: Millis,
    ) -> Result<(), StorageError> {
        plugin_data::check_scope(plugin, category, ("key", key))?;
        let change = self
            .kv_cache
            .change(plugin_data::kv_cache::key(plugin, category, owner, key));
        dispatch!(self.kv_set(plugin, category, owner, key, value, expires_at, now_ms))?;
        if value.len() <= plugin_data::kv_cache::MAX_VALUE {
            change.done(Some((value.to_vec(), expires_at)));
        }
        Ok(())
    }

    /// Stores (`on`) or deletes plugin `plugin`'s `scope` mark of a local account (owned by the
    /// account: deleted with it); whether a row changed.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn set_mark(
        &self,
        plugin: &str,
        account: &BareJid,
        on: bool,
    ) -> Result<bool, StorageError> {
        let owner = Owner::User(account.clone());
        dispatch!(self.set_mark(plugin, &owner, on))
    }

    /// Every stored `scope` mark, as (plugin, account); rows whose owner is not an account's
    /// (never written) are skipped.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn marks(&self) -> Result<Vec<(String, String)>, StorageError> {
        let rows = dispatch!(self.marks())?;
        Ok(rows
            .into_iter()
            .filter_map(|(plugin, owner)| {
                owner
                    .strip_prefix("user:")
                    .map(|account| (plugin, account.to_owned()))
            })
            .collect())
    }

    /// Deletes a `kv` value; `true` if there was a live one (an expired one is deleted too, but
    /// was already absent).
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL, or a database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn kv_delete(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        key: &str,
        now_ms: Millis,
    ) -> Result<bool, StorageError> {
        plugin_data::check_scope(plugin, category, ("key", key))?;
        let change = self
            .kv_cache
            .change(plugin_data::kv_cache::key(plugin, category, owner, key));
        let deleted = dispatch!(self.kv_delete(plugin, category, owner, key, now_ms))?;
        change.done(None);
        Ok(deleted)
    }

    /// Live `kv` keys starting with `prefix`, in code point order, at most `limit`.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL, or a database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    #[allow(
        clippy::too_many_arguments,
        reason = "the WIT call plus plugin and clock"
    )]
    pub async fn kv_keys(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        prefix: &str,
        limit: u32,
        now_ms: Millis,
    ) -> Result<Vec<String>, StorageError> {
        dispatch!(self.kv_keys(plugin, category, owner, prefix, limit, now_ms))
    }

    /// Appends an entry to an archive stream; returns its id, unique and time-ordered within the
    /// stream (see `plugin_data` for the id form). As
    /// [`archive_append_capped`](Self::archive_append_capped) without a `max_items`.
    ///
    /// # Errors
    /// As [`archive_append_capped`](Self::archive_append_capped).
    ///
    /// # Cancel safety
    /// As [`archive_append_capped`](Self::archive_append_capped).
    #[allow(
        clippy::too_many_arguments,
        reason = "the WIT call plus plugin and clock"
    )]
    pub async fn archive_append(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        with: Option<&jid::Jid>,
        data: &str,
        now_ms: Millis,
    ) -> Result<String, StorageError> {
        self.archive_append_capped(plugin, category, owner, stream, None, with, data, now_ms)
            .await
    }

    /// Appends an entry to an archive stream, write-behind: the id is handed out and the entry
    /// queued at once, and the archive writer commits it shortly after in a batch, then keeps
    /// only the stream's `max_items` newest entries (the category's retention; `None` keeps
    /// all). Every later [`archive_query`](Self::archive_query) and removal sees it. When the
    /// writer is far behind, waits for room (backpressure: an entry is never dropped).
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL or a clock beyond [`MAX_ARCHIVE_MS`];
    /// [`StorageError::Closed`] after [`close`](Self::close); a database failure reading the
    /// stream's last id (first append to a stream only). A failure to write the batch is the
    /// writer's to retry and log; the caller has its id.
    ///
    /// # Cancel safety
    /// Cancel-safe: cancelled before it returns, nothing was queued.
    #[allow(
        clippy::too_many_arguments,
        reason = "the WIT call plus plugin, retention and clock"
    )]
    pub async fn archive_append_capped(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        max_items: Option<u64>,
        with: Option<&jid::Jid>,
        data: &str,
        now_ms: Millis,
    ) -> Result<String, StorageError> {
        let key = stream_key(plugin, category, owner, stream);
        let (ids, _) = self
            .archive
            .append(key, max_items, &[NewEntry { with, data }], now_ms)
            .await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| StorageError::Corrupt("append returned no id".into()))
    }

    /// Appends entries (an import, or a burst); returns their ids in order once all are
    /// committed. Ids are handed out in runs of consecutive ids, so a stream gets at most 1000
    /// per millisecond before its timestamps run ahead of the clock (see `plugin_data`).
    ///
    /// # Errors
    /// As [`archive_append`](Self::archive_append); on an error nothing more is queued, but
    /// entries queued before it are written.
    ///
    /// # Cancel safety
    /// Not atomic: cancelled part-way, the entries queued so far are written.
    pub async fn archive_append_many(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        entries: &[NewEntry<'_>],
        now_ms: Millis,
    ) -> Result<Vec<String>, StorageError> {
        let mut ids = Vec::with_capacity(entries.len());
        let mut upto = 0;
        for chunk in entries.chunks(plugin_data::writer::BATCH) {
            let key = stream_key(plugin, category, owner, stream);
            let (chunk_ids, seq) = self.archive.append(key, None, chunk, now_ms).await?;
            ids.extend(chunk_ids);
            upto = seq;
        }
        self.archive.committed_upto(upto).await;
        Ok(ids)
    }

    /// Runs an archive query (XEP-0313 filters, XEP-0059 keyset paging): the count and the page
    /// come from one snapshot, taken after every append made before the call is committed.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL or more than [`MAX_IDS`] ids,
    /// [`StorageError::Corrupt`] for an undecodable row, or a database failure.
    ///
    /// # Cancel safety
    /// A read; see [`Storage`].
    pub async fn archive_query(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        query: &ArchiveQuery,
    ) -> Result<Page, StorageError> {
        self.archive
            .flushed_stream(&stream_key(plugin, category, owner, stream))
            .await;
        dispatch!(self.archive_query(plugin, category, owner, stream, query))
    }

    /// Deletes a stream's entries appended in `[start, end]` (ms, both inclusive and optional:
    /// neither deletes them all), every append made before the call included; returns how
    /// many. The stream's ids never go back.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL, or a database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    #[allow(clippy::too_many_arguments, reason = "the WIT call plus the plugin")]
    pub async fn archive_remove(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        start: Option<Millis>,
        end: Option<Millis>,
    ) -> Result<u64, StorageError> {
        let key = stream_key(plugin, category, owner, stream);
        self.archive.flushed_stream(&key).await;
        let _commit = self.archive.exclusive().await;
        dispatch!(self.archive_remove(plugin, category, owner, stream, start, end))
    }

    /// Deletes a stream's entries by id, every append made before the call included; returns
    /// how many there were.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL or more than [`MAX_IDS`] ids, or a
    /// database failure.
    ///
    /// # Cancel safety
    /// One statement; see [`Storage`].
    pub async fn archive_remove_ids(
        &self,
        plugin: &str,
        category: &str,
        owner: &Owner,
        stream: &str,
        ids: &[String],
    ) -> Result<u64, StorageError> {
        let key = stream_key(plugin, category, owner, stream);
        self.archive.flushed_stream(&key).await;
        let _commit = self.archive.exclusive().await;
        dispatch!(self.archive_remove_ids(plugin, category, owner, stream, ids))
    }

    /// Applies a category's retention (the operator's config) to one plugin's records; returns
    /// how many were deleted. `max_age`: `kv` values written and archive entries appended before
    /// `now_ms - max_age` go. `max_items`: only each owner's newest `kv` values and each owner's
    /// stream's newest entries are kept, the oldest dropped first. Both run in one transaction;
    /// blobs follow in a second one (by creation time and per owner, as `kv`), then their files.
    ///
    /// # Errors
    /// [`StorageError::Invalid`] for text holding NUL or a clock beyond [`MAX_ARCHIVE_MS`], or a
    /// database failure.
    ///
    /// # Cancel safety
    /// One transaction; see [`Storage`].
    pub async fn enforce_retention(
        &self,
        plugin: &str,
        category: &str,
        max_age: Option<Duration>,
        max_items: Option<u64>,
        now_ms: Millis,
    ) -> Result<u64, StorageError> {
        let retained = |p: &str, c: &str, _: &str| p == plugin && c == category;
        let _kv = self.kv_cache.forgetting(&retained);
        let records = {
            // Retention covers every entry appended before the call.
            self.archive.flushed().await;
            let _commit = self.archive.exclusive().await;
            dispatch!(self.enforce_retention(plugin, category, max_age, max_items, now_ms))?
        };
        let blobs = self
            .blob_retention(plugin, category, max_age, max_items, now_ms)
            .await?;
        Ok(records + blobs)
    }

    /// Deletes every plugin's `kv` values and blobs whose expiry has come (`expires_at <= now_ms`),
    /// then the blobs' files; returns how many. Until then they already read as absent.
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One statement per table; see [`Storage`].
    pub async fn purge_expired(&self, now_ms: Millis) -> Result<u64, StorageError> {
        let values = dispatch!(self.purge_expired(now_ms))?;
        Ok(values + self.blob_purge(now_ms).await?)
    }

    /// Deletes every record the owner has in every plugin (a destroyed room, a room whose logging
    /// was turned off, a service), in one transaction (blobs in a second one, then their files);
    /// returns how many. An account's records go with [`delete_account`](Self::delete_account).
    ///
    /// # Errors
    /// A database failure.
    ///
    /// # Cancel safety
    /// One transaction; see [`Storage`].
    pub async fn delete_owner(&self, owner: &Owner) -> Result<u64, StorageError> {
        let text = owner.to_string();
        let owned = |_: &str, _: &str, o: &str| o == text;
        let _kv = self.kv_cache.forgetting(&owned);
        let records = {
            // No archive batch interleaves; the owner's queued appends go with it.
            let _commit = self.archive.exclusive().await;
            let deleted = dispatch!(self.delete_owner(owner))?;
            // Appends not written yet were records to the plugin all the same.
            deleted + self.archive.drop_owners(|o| o == text)
        };
        Ok(records + self.blob_remove_owner(owner).await?)
    }
}

/// The writer's key of a stream.
fn stream_key(
    plugin: &str,
    category: &str,
    owner: &Owner,
    stream: &str,
) -> plugin_data::writer::StreamKey {
    plugin_data::writer::StreamKey {
        owner: owner.to_string(),
        plugin: plugin.to_owned(),
        category: category.to_owned(),
        stream: stream.to_owned(),
    }
}
