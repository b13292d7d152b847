//! Shared by the storage suites (`storage.rs`, `plugin_data.rs`): a fresh database per test on
//! SQLite (always) and PostgreSQL (when `TESSERA_TEST_POSTGRES_URL` is set; `TESSERA_REQUIRE_POSTGRES=1`
//! makes its absence a failure), one schema per test so reruns never collide.

// Each test binary uses part of this harness.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared test harness; each suite uses part of it"
)]

pub mod client;
pub mod plugin_server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection as _, PgConnection, PgPool, SqlitePool};
use tempfile::TempDir;
use tessera::config::StorageConfig;
use tessera::storage::Storage;

/// A fresh database behind a [`Storage`], plus a raw pool onto the same tables.
pub struct TestDb {
    pub storage: Storage,
    pub raw: Raw,
    // Kept alive for the test: the SQLite file's directory, or the PostgreSQL schema to drop.
    _dir: Option<TempDir>,
    schema: Option<(String, String)>,
}

pub enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // A missing parent directory: `open` must create it.
        let path = dir.path().join("data").join("tessera.db");
        let storage = Storage::open(&StorageConfig::Sqlite { path: path.clone() })
            .await
            .expect("open sqlite");
        let raw = SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("raw sqlite pool");
        Self {
            storage,
            raw: Raw::Sqlite(raw),
            _dir: Some(dir),
            schema: None,
        }
    }

    /// `None` (after saying why) when no PostgreSQL is configured and none is required.
    pub async fn postgres() -> Option<Self> {
        let base = postgres_url()?;
        let schema = fresh_schema_name();
        let mut admin = PgConnection::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.expect("close admin connection");

        // Every connection of the pool starts with this schema first on its search path, so the
        // migrations and all queries land in it.
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options[search_path]={schema}");
        let storage = Storage::open(&StorageConfig::Postgres {
            url: url.clone(),
            max_connections: 4,
        })
        .await
        .expect("open postgres");
        let raw = PgPool::connect(&url).await.expect("raw postgres pool");
        Some(Self {
            storage,
            raw: Raw::Postgres(raw),
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    /// Runs SQL behind the facade's back.
    pub async fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("raw SQL failed: {e}"));
    }

    /// Rows in a plugin-data table, expired or not: what is physically stored.
    pub async fn rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("raw count failed: {e}"))
    }

    /// Closes the pools and drops the PostgreSQL schema.
    pub async fn finish(self) {
        self.storage.close().await;
        match self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
        if let Some((base, schema)) = self.schema {
            let mut admin = PgConnection::connect(&base).await.expect("reconnect");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
    }
}

#[allow(clippy::print_stderr, reason = "tests say why they skip")]
pub fn postgres_url() -> Option<String> {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("TESSERA_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("TESSERA_REQUIRE_POSTGRES=1 but TESSERA_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!(
                "skipping the PostgreSQL run: TESSERA_TEST_POSTGRES_URL is not set \
                 (eval \"$(.ci/postgres.sh)\" starts a throwaway cluster)"
            );
            None
        }
    }
}

/// Unique across tests in this process (the counter) and across runs (pid and clock).
pub fn fresh_schema_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("tessera_test_{}_{nanos}_{n}", std::process::id())
}
