//! [`TestServer`]: the real server on `127.0.0.1:0`, in a temporary data directory.
//!
//! The configuration is built as TOML and goes through `Config::from_toml_str`, the same path an
//! operator's file takes, so the harness also exercises config validation. A test adds keys with
//! [`TestServer::with_config`]; its tables are merged into the base (`[sasl] mechanisms = [...]`
//! keeps the base's `scram_iterations`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use tempfile::TempDir;
use tessera::Config;
use tessera::storage::Storage;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use toml::{Table, Value};

use crate::ca::TestCa;

/// How long a server gets to drain its sessions when a test ends.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

/// A running server for one test. Shuts down when dropped.
#[derive(Debug)]
pub struct TestServer {
    /// The CA that signed the server's certificate; clients trust only this.
    pub ca: TestCa,
    c2s: SocketAddr,
    direct_tls: SocketAddr,
    config: Config,
    storage: Storage,
    plugins: tessera::plugins::Plugins,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Last: the server's files must outlive the server.
    dir: TempDir,
}

impl TestServer {
    /// Starts a server with the base test configuration.
    ///
    /// # Errors
    /// Certificate generation, config validation, or `Server::bind`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::with_config("").await
    }

    /// Starts a server whose configuration is the base merged with `extra_toml`.
    ///
    /// # Errors
    /// Certificate generation, a bad `extra_toml`, config validation, or `Server::bind`.
    pub async fn with_config(extra_toml: &str) -> anyhow::Result<Self> {
        crate::init_tracing();
        let dir = tempfile::Builder::new().prefix("tessera-e2e-").tempdir()?;
        let ca = TestCa::generate(dir.path())?;
        let mut table = base_config(dir.path(), &ca);
        let extra: Table = extra_toml
            .parse()
            .context("test config overlay is not TOML")?;
        merge(&mut table, extra);
        let text = toml::to_string(&table)?;
        let config = Config::from_toml_str(&text).context("test config rejected")?;

        let server = tessera::Server::bind(config).await?;
        let addrs = server.addrs();
        let c2s = *addrs.c2s.first().context("no c2s listener bound")?;
        let direct_tls = *addrs
            .c2s_direct_tls
            .first()
            .context("no direct-TLS listener bound")?;
        let config = server.config().clone();
        let storage = server.storage().clone();
        let plugins = server.plugins();
        let shutdown = server.shutdown_token();
        let task = tokio::spawn(server.run());
        Ok(Self {
            ca,
            c2s,
            direct_tls,
            config,
            storage,
            plugins,
            shutdown,
            task: Some(task),
            dir,
        })
    }

    /// The STARTTLS listener (RFC 6120 §5).
    pub fn c2s_addr(&self) -> SocketAddr {
        self.c2s
    }

    /// The direct-TLS listener (XEP-0368).
    pub fn direct_tls_addr(&self) -> SocketAddr {
        self.direct_tls
    }

    /// The validated configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The served domain.
    pub fn domain(&self) -> &str {
        &self.config.domain
    }

    /// Creates an account through the same code path as `tessera user add`.
    ///
    /// # Errors
    /// Whatever `tessera::accounts::add` refuses.
    pub async fn add_user(&self, name: &str, password: &str) -> anyhow::Result<()> {
        tessera::accounts::add(&self.storage, &self.config, name, password)
            .await
            .with_context(|| format!("adding user {name}"))
    }

    /// The running server's storage: changes made through it (an account removed as `tessera
    /// user remove` does) reach the server's caches at once, unlike those of a second handle
    /// opened on the same database, which the server sees only when it rereads.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Runs one pass of the plugin data garbage collector now (the server runs one every
    /// minute), so a test of retention need not wait for it; returns how many records went.
    pub async fn run_plugin_gc(&self) -> u64 {
        self.plugins.run_gc_once().await
    }

    /// `false` once `Server::run` has returned (a crash, if the test did not shut it down).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Cancels the server and waits for `run` to return, checking it returned `Ok`.
    ///
    /// # Errors
    /// `run` failed, panicked, or did not drain in time.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().context("server already shut down")?;
        match tokio::time::timeout(SHUTDOWN_WAIT, task).await {
            Ok(joined) => joined.context("server task panicked")?,
            Err(_) => anyhow::bail!("server did not shut down within {SHUTDOWN_WAIT:?}"),
        }
    }
}

impl crate::Endpoint for TestServer {
    fn c2s_addr(&self) -> SocketAddr {
        self.c2s
    }

    fn direct_tls_addr(&self) -> SocketAddr {
        self.direct_tls
    }

    fn ca(&self) -> &TestCa {
        &self.ca
    }

    fn domain(&self) -> &str {
        &self.config.domain
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        // Waiting needs a multi-threaded runtime (the e2e tests use one); elsewhere, abort.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread && !std::thread::panicking() {
            let abort = task.abort_handle();
            tokio::task::block_in_place(|| {
                let handle = tokio::runtime::Handle::current();
                if handle
                    .block_on(tokio::time::timeout(SHUTDOWN_WAIT, task))
                    .is_err()
                {
                    abort.abort();
                }
            });
        } else {
            task.abort();
        }
    }
}

/// The base configuration: loopback listeners on port 0, the test CA's certificate, fast SCRAM.
fn base_config(dir: &Path, ca: &TestCa) -> Table {
    let path = |p: &Path| Value::String(p.display().to_string());
    let loopback = || Value::Array(vec![Value::String("127.0.0.1:0".to_owned())]);

    let mut listen = Table::new();
    listen.insert("c2s".into(), loopback());
    listen.insert("c2s_direct_tls".into(), loopback());

    let mut tls = Table::new();
    tls.insert("cert".into(), path(&ca.cert_path));
    tls.insert("key".into(), path(&ca.key_path));
    tls.insert("require_encryption".into(), Value::Boolean(true));

    let mut sasl = Table::new();
    // RFC 7677 §4's minimum; the default (10 000) only slows the tests down.
    sasl.insert("scram_iterations".into(), Value::Integer(4096));

    // The HTTP listener's default port (5280) would collide between tests running in parallel.
    let mut http = Table::new();
    http.insert("listen".into(), loopback());

    let mut root = Table::new();
    root.insert("domain".into(), Value::String(crate::DOMAIN.to_owned()));
    root.insert("data_dir".into(), path(dir));
    root.insert("listen".into(), Value::Table(listen));
    root.insert("tls".into(), Value::Table(tls));
    root.insert("sasl".into(), Value::Table(sasl));
    root.insert("http".into(), Value::Table(http));
    root
}

/// Merges `overlay` into `base`: tables recursively, everything else replaced.
fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(into)), Value::Table(from)) => merge(into, from),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_merges_tables_and_replaces_values() {
        let mut base: Table = "[sasl]\nscram_iterations = 4096\n[tls]\ncert = \"a\""
            .parse()
            .expect("base");
        let overlay: Table = "[sasl]\nmechanisms = [\"SCRAM-SHA-1\"]\n[tls]\ncert = \"b\""
            .parse()
            .expect("overlay");
        merge(&mut base, overlay);
        let sasl = base["sasl"].as_table().expect("sasl table");
        assert_eq!(sasl["scram_iterations"].as_integer(), Some(4096));
        assert_eq!(sasl["mechanisms"].as_array().map(Vec::len), Some(1));
        assert_eq!(base["tls"]["cert"].as_str(), Some("b"));
    }
}
