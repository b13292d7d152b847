//! The embedded backend: one SQLite file in WAL mode.
//!
//! WAL lets readers run beside the one writer; `synchronous = NORMAL` in WAL mode keeps every
//! committed transaction across a process crash and may lose only the last ones on power loss
//! (<https://www.sqlite.org/pragma.html#pragma_synchronous>), a fair trade for a chat server.
//! Write transactions open with their first write, never a read: a deferred transaction that read
//! first cannot wait for the write lock in WAL mode (`SQLITE_BUSY_SNAPSHOT`), but one that writes
//! first waits out `busy_timeout` like any other writer.

use std::path::Path;
use std::time::Duration;

use jid::BareJid;
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite as SqliteDb, Transaction};
use tessera_sasl::Credentials;

use super::model::{AccountInfo, FastToken, RosterItem};
use super::{StorageError, sql};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another to finish before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB when negative (SQLite's default is 2000 KiB). An archive
/// batch touches a leaf page per owner in each archive index; past the cache, SQLite spills dirty
/// pages into the WAL before the commit and writes them again. 16 MiB holds a full batch to a
/// thousand owners; it grows only as pages are used.
const CACHE_SIZE: &str = "-16384";

/// Connections: SQLite serialises writers anyway, a few readers are plenty for one server.
const POOL_SIZE: u32 = 4;

#[derive(Clone)]
pub(super) struct Sqlite {
    pool: SqlitePool,
}

impl Sqlite {
    /// Creates the file (owner-only) and its directory if missing, connects and migrates.
    pub(super) async fn open(path: &Path) -> Result<Self, StorageError> {
        create_private_file(path).await?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await?;
        migrate(&pool, path).await?;
        tracing::info!(backend = "sqlite", path = %path.display(), "storage open");
        Ok(Self { pool })
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    /// A read transaction: in WAL mode it sees one snapshot from its first read on.
    async fn read_tx(&self) -> Result<Transaction<'static, SqliteDb>, StorageError> {
        Ok(self.pool.begin().await?)
    }
}

impl Sqlite {
    /// Placeholders of the multi-row statements (anonymous: see `Placeholders`).
    const PLACEHOLDERS: super::plugin_data::sql::Placeholders =
        super::plugin_data::sql::Placeholders::Anonymous;
}

super::queries::shared_queries!(Sqlite);

/// Runs the migrations holding an exclusive lock on `<database>.lock` (created owner-only, left
/// in place). sqlx's SQLite migrator takes no lock of its own, so two processes opening a new
/// database at once (`tessera user add` run in parallel, or next to a starting server) would both
/// apply a migration and one would fail on "table already exists". PostgreSQL's migrator takes an
/// advisory lock itself.
///
/// # Cancel safety
/// Cancelled while waiting, the lock is taken and let go on a blocking thread; nothing else.
async fn migrate(pool: &SqlitePool, path: &Path) -> Result<(), StorageError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let io_err = |source| StorageError::Io {
        path: lock_path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(io_err)?;
    // `File::lock` blocks until the other process's migrations are done.
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| io_err(std::io::Error::other(e)))?
        .map_err(io_err)?;
    let result = MIGRATOR.run(pool).await;
    drop(file);
    Ok(result?)
}

/// Creates the database's directory (owner-only) and an empty file readable by its owner alone,
/// if missing: the file holds SCRAM keys and rosters. SQLite gives its `-wal` and `-shm` files the
/// main file's permissions. An empty file is a valid, empty SQLite database.
async fn create_private_file(path: &Path) -> Result<(), StorageError> {
    let io_err = |source| StorageError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir).await.map_err(io_err)?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await.map_err(io_err)?;
    Ok(())
}
