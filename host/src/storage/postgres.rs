//! The server backend: PostgreSQL at `storage.url`.
//!
//! The URL may carry a password, so it is never logged and the connect options (whose `Debug`
//! prints it) are never formatted. Reads that must agree with each other (a roster and its
//! version) run in one `REPEATABLE READ` transaction: PostgreSQL's default `READ COMMITTED` takes
//! a fresh snapshot per statement.

use std::str::FromStr as _;
use std::time::Duration;

use jid::BareJid;
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres as Pg, Transaction};
use tessera_sasl::Credentials;

use super::model::{AccountInfo, FastToken, RosterItem};
use super::{StorageError, sql};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 6121 §2.6 needs the version and the items from one snapshot.
const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

#[derive(Clone)]
pub(super) struct Postgres {
    pool: PgPool,
}

impl Postgres {
    /// Connects a pool of `max_connections` (at least one) and migrates.
    pub(super) async fn open(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        tracing::info!(backend = "postgres", max_connections, "storage open");
        Ok(Self { pool })
    }

    /// A read-only transaction with one snapshot for all its statements.
    async fn read_tx(&self) -> Result<Transaction<'static, Pg>, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
        Ok(tx)
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

impl Postgres {
    /// Placeholders of the multi-row statements (the only form PostgreSQL takes).
    const PLACEHOLDERS: super::plugin_data::sql::Placeholders =
        super::plugin_data::sql::Placeholders::Numbered;
}

super::queries::shared_queries!(Postgres);
