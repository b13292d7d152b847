//! A real server with plugins for the plugin suites (`plugins.rs` and the suites beside it):
//! fixture components from `tests/plugins/*` (built for wasm32-wasip2 once per build by the
//! `fixtures-build` dev-dependency), a server on `127.0.0.1:0` with alice, bob and carol (password `pw`),
//! and the minimal raw client logged in over plain TCP.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use minidom::Element;
use tessera::{Config, Server};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// RFC 6120 stanza error namespace.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

// ---- fixtures ----

/// The path of a fixture component (`tests/plugins/<name>`), built by `fixtures-build`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(
        fixtures_build::path(name).unwrap_or_else(|| panic!("no fixture {name} in tests/plugins")),
    )
}

// ---- server ----

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    /// The HTTP listener (`http.listen`).
    pub http: std::net::SocketAddr,
    pub plugins: tessera::plugins::Plugins,
    pub storage: tessera::storage::Storage,
    pub config: Config,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Kept alive for the server's files (and read by the cache check).
    pub dir: tempfile::TempDir,
}

/// The config for a server on a free port, plaintext (these tests are about plugins, not TLS),
/// with `plugins` appended.
pub fn config(dir: &Path, plugins: &str) -> anyhow::Result<Config> {
    Ok(Config::from_toml_str(&format!(
        "data_dir = {data:?}\n\
         [listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = []\n\
         [tls]\nrequire_encryption = false\n\
         [sasl]\nscram_iterations = 4096\n\
         [http]\nlisten = [\"127.0.0.1:0\"]\n\
         {plugins}",
        data = dir.join("data"),
    ))?)
}

/// `[plugins.NAME]` for a fixture.
pub fn plugin(name: &str, extra: &str) -> String {
    format!("[plugins.{name}]\npath = {:?}\n{extra}\n", fixture(name))
}

impl TestServer {
    pub async fn start(plugins: &str) -> anyhow::Result<Self> {
        Self::start_with(plugins, |_| {}).await
    }

    /// As [`start`](Self::start), with `edit` applied to the config first (for top-level keys
    /// the plugin tables cannot carry).
    pub async fn start_with(plugins: &str, edit: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        // Logs go to the test's captured output (shown for a failing test).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("tessera=info")
            .try_init();
        let dir = tempfile::tempdir()?;
        let mut config = config(dir.path(), plugins)?;
        edit(&mut config);
        let server = Server::bind(config).await?;
        for user in ["alice", "bob", "carol"] {
            tessera::accounts::add(server.storage(), server.config(), user, "pw").await?;
        }
        let addr = *server.addrs().c2s.first().context("no listener")?;
        let http = *server.addrs().http.first().context("no HTTP listener")?;
        let plugins = server.plugins();
        let storage = server.storage().clone();
        let config = server.config().clone();
        let stop = server.shutdown_token();
        let task = tokio::spawn(server.run());
        Ok(Self {
            addr,
            http,
            plugins,
            storage,
            config,
            stop,
            task,
            dir,
        })
    }

    pub async fn login(&self, user: &str) -> anyhow::Result<Client> {
        Client::connect(self.addr, user).await
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}

// ---- client ----

/// The shared minimal client (`common::client`) over plain TCP: these servers do not require TLS.
pub type Client = super::client::Client<TcpStream>;

impl Client {
    /// Logs in (SCRAM-SHA-256, bind) and sends initial presence.
    pub async fn connect(addr: std::net::SocketAddr, user: &str) -> anyhow::Result<Self> {
        let mut c = Self::new(TcpStream::connect(addr).await?);
        c.open().await?;
        c.login(user, "pw").await?;
        c.send("<presence/>").await?;
        // Our own presence comes back (RFC 6121 §4.2.2); nothing else is subscribed.
        c.next_named("presence").await?;
        Ok(c)
    }

    pub async fn chat(&mut self, to: &str, body: &str) -> anyhow::Result<()> {
        self.send(&format!(
            "<message to='{to}' type='chat' id='m'><body>{body}</body></message>"
        ))
        .await
    }
}

pub fn body(el: &Element) -> Option<String> {
    el.get_child("body", "jabber:client").map(Element::text)
}

/// The stanza error condition of an error reply.
pub fn condition(el: &Element) -> Option<String> {
    let error = el.get_child("error", "jabber:client")?;
    error
        .children()
        .find(|c| c.ns() == STANZAS && c.name() != "text")
        .map(|c| c.name().to_owned())
}
