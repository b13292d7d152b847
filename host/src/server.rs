//! The server: shared state, listeners, graceful shutdown.

use jid::BareJid;

use crate::config::Config;
use crate::router::Router;
use crate::storage::Storage;

/// State shared by every connection task.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Validated configuration.
    pub(crate) config: Config,
    /// The storage facade.
    pub(crate) storage: Storage,
    /// The session registry.
    pub(crate) router: Router,
    /// The served domain as a JID (`localhost`).
    pub(crate) domain: BareJid,
}

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// The addresses the server actually listens on (useful with port 0).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerAddrs {
    /// STARTTLS client listeners (5222).
    pub c2s: Vec<SocketAddr>,
    /// Direct-TLS client listeners (5223, XEP-0368).
    pub c2s_direct_tls: Vec<SocketAddr>,
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
}

#[allow(clippy::unused_async, unused_variables)] // Skeleton: the listeners are wired in next.
impl Server {
    /// Opens storage, loads or generates the certificate and binds every listener.
    ///
    /// # Errors
    /// Storage, certificate or socket failures, with context.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        todo!()
    }

    /// The bound listener addresses.
    pub fn addrs(&self) -> ServerAddrs {
        todo!()
    }

    /// The storage handle (for account management next to a running server).
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Cancel this token to shut the server down gracefully (SIGTERM does the same in `run`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then sends `system-shutdown` to every session
    /// and drains them within `limits.shutdown_grace`.
    ///
    /// # Errors
    /// Only for failures that stop the whole server.
    pub async fn run(self) -> anyhow::Result<()> {
        todo!()
    }
}
