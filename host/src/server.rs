//! The server: shared state, listeners, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use jid::BareJid;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::plugins::Plugins;
use crate::router::{CloseReason, Router};
use crate::storage::Storage;
use crate::stream::throttle::AuthThrottle;
use crate::tls::TlsState;

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
    /// Certificates and the TLS acceptor (reloadable).
    pub(crate) tls: TlsState,
    /// Failed-login counters.
    pub(crate) throttle: AuthThrottle,
    /// Per-IP connection limits, checked at accept.
    pub(crate) ip_limits: Arc<crate::stream::ip_limit::IpLimits>,
    /// The loaded plugins.
    pub(crate) plugins: Plugins,
    /// Sessions a client may resume (XEP-0198).
    pub(crate) resumptions: crate::stream::resume::Resumptions,
    /// Whose last login is recorded today.
    pub(crate) last_logins: crate::accounts::LastLogins,
    /// XEP-0115 caps of the local sessions, and the cache of verified feature sets.
    pub(crate) caps: crate::im::caps::Caps,
    /// `requests.ask` in flight (WIT 0.1.2): where their answers are caught.
    pub(crate) requests: crate::plugins::request::Requests,
}

/// The addresses the server actually listens on (useful with port 0).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerAddrs {
    /// STARTTLS client listeners (5222).
    pub c2s: Vec<SocketAddr>,
    /// Direct-TLS client listeners (5223, XEP-0368).
    pub c2s_direct_tls: Vec<SocketAddr>,
    /// Plain HTTP listeners (`http.listen`).
    pub http: Vec<SocketAddr>,
    /// HTTPS listeners (`http.listen_tls`).
    pub https: Vec<SocketAddr>,
}

impl ServerAddrs {
    fn of(
        c2s: &[TcpListener],
        c2s_direct_tls: &[TcpListener],
        http: &crate::http::Listeners,
    ) -> Self {
        let local = |ls: &[TcpListener]| ls.iter().filter_map(|l| l.local_addr().ok()).collect();
        let (http, https) = http.addrs();
        Self {
            c2s: local(c2s),
            c2s_direct_tls: local(c2s_direct_tls),
            http,
            https,
        }
    }
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
    shutdown: CancellationToken,
    c2s: Vec<TcpListener>,
    c2s_direct_tls: Vec<TcpListener>,
    http: crate::http::Listeners,
}

async fn bind_all(addrs: &[SocketAddr], key: &str) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for a in addrs {
        out.push(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("listen.{key}: cannot listen on {a}"))?,
        );
    }
    Ok(out)
}

impl Server {
    /// Opens storage, loads or generates the certificate and binds every listener.
    ///
    /// # Errors
    /// Storage, certificate or socket failures, with context.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let domain = BareJid::new(&config.domain).context("domain: not a valid JID domain")?;
        let storage = Storage::open(&config.storage)
            .await
            .context("storage: cannot open the database")?
            .with_blob_dir(config.data_dir.join("blobs"));
        let tls = TlsState::load(&config).await.context("tls")?;
        let c2s = bind_all(&config.listen.c2s, "c2s").await?;
        let c2s_direct_tls = bind_all(&config.listen.c2s_direct_tls, "c2s_direct_tls").await?;
        let http = crate::http::Listeners::bind(&config.http).await?;
        let throttle = AuthThrottle::new(
            config.sasl.max_failures_per_ip,
            config.sasl.max_failures_per_account,
            config.sasl.failure_window,
        );
        let plugins = Plugins::load(&config).await.context("plugins")?;
        plugins
            .restore_marks(&storage)
            .await
            .context("plugins: cannot read the stored scope marks")?;
        let ip_limits = Arc::new(crate::stream::ip_limit::IpLimits::new(&config.limits));
        let shared = Arc::new(Shared {
            config,
            storage,
            router: Router::new(),
            domain,
            tls,
            throttle,
            ip_limits,
            plugins,
            resumptions: Default::default(),
            last_logins: Default::default(),
            caps: Default::default(),
            requests: Default::default(),
        });
        shared.plugins.attach(Arc::downgrade(&shared));
        Ok(Self {
            shared,
            shutdown: CancellationToken::new(),
            c2s,
            c2s_direct_tls,
            http,
        })
    }

    /// The bound listener addresses.
    pub fn addrs(&self) -> ServerAddrs {
        ServerAddrs::of(&self.c2s, &self.c2s_direct_tls, &self.http)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The storage handle (for account management next to a running server).
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// The loaded plugins (a handle that stays valid while the server runs, for reloads).
    pub fn plugins(&self) -> Plugins {
        self.shared.plugins.clone()
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Cancel this token to shut the server down gracefully (SIGTERM and SIGINT do the same).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until shutdown (the token, SIGTERM or SIGINT), then sends `system-shutdown` to every
    /// stream and drains them within `limits.shutdown_grace`. SIGHUP reloads the certificate and
    /// every plugin.
    ///
    /// # Errors
    /// Only for failures that stop the whole server (signal handlers cannot be installed).
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            shared,
            shutdown,
            c2s,
            c2s_direct_tls,
            http,
        } = self;
        let addrs = ServerAddrs::of(&c2s, &c2s_direct_tls, &http);
        let tracker = TaskTracker::new();
        let permits = Arc::new(Semaphore::new(shared.config.limits.max_connections));
        let conn_ids = Arc::new(AtomicU64::new(1));
        for (listener, direct_tls) in c2s
            .into_iter()
            .map(|l| (l, false))
            .chain(c2s_direct_tls.into_iter().map(|l| (l, true)))
        {
            tracker.spawn(accept_loop(
                shared.clone(),
                listener,
                direct_tls,
                permits.clone(),
                conn_ids.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        // The HTTP listener: plugin routes and the privacy policy.
        http.spawn(&shared, &shutdown, &tracker);
        // Plugin data retention (DESIGN.md "Privacy engine"), stopped with the server.
        tracker.spawn(shared.plugins.clone().run_gc(shutdown.clone()));
        // XEP-0115: caps queries that were not answered in time, stopped with the server.
        tracker.spawn(crate::im::caps::run_timeouts(
            shared.clone(),
            shutdown.clone(),
        ));
        // Plugin events and timers (`on-event`), stopped with the server.
        tracker.spawn(shared.plugins.clone().run_events(shutdown.clone()));
        tracing::info!(
            domain = %shared.domain,
            c2s = ?addrs.c2s,
            c2s_direct_tls = ?addrs.c2s_direct_tls,
            http = ?addrs.http,
            https = ?addrs.https,
            "server started"
        );

        signals(&shared, &shutdown).await?;

        tracing::info!("shutting down");
        shared.router.close_all(CloseReason::Shutdown);
        tracker.close();
        if tokio::time::timeout(shared.config.limits.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; abandoning remaining connections");
        }
        // Archive appends are write-behind: commit what plugins queued before returning.
        if tokio::time::timeout(
            shared.config.limits.shutdown_grace,
            shared.storage.flush_archive(),
        )
        .await
        .is_err()
        {
            tracing::error!(
                pending = shared.storage.archive_pending(),
                "archive writes not flushed within the shutdown grace period"
            );
        }
        Ok(())
    }
}

/// Waits for the shutdown token or a terminating signal; reloads certificates on SIGHUP.
#[cfg(unix)]
async fn signals(shared: &Shared, shutdown: &CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                match shared.tls.reload() {
                    Ok(()) => tracing::info!("certificates reloaded"),
                    Err(e) => tracing::error!(error = %e, "certificate reload failed; keeping the old one"),
                }
                shared.plugins.reload_all().await;
            }
        }
    }
    shutdown.cancel();
    Ok(())
}

#[cfg(not(unix))]
async fn signals(_shared: &Shared, shutdown: &CancellationToken) -> anyhow::Result<()> {
    tokio::select! {
        () = shutdown.cancelled() => {}
        r = tokio::signal::ctrl_c() => r.context("installing Ctrl-C handler")?,
    }
    shutdown.cancel();
    Ok(())
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    direct_tls: bool,
    permits: Arc<Semaphore>,
    conn_ids: Arc<AtomicU64>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        // Wait for a connection slot first, so a full server stops accepting instead of
        // accepting and dropping.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                // Per-IP limits before the connection costs anything: a refused one is closed
                // at once, and its slot goes back with the permit.
                let slot = match shared.ip_limits.admit(peer.ip()) {
                    Ok(slot) => slot,
                    Err(why) => {
                        if shared.config.logging.ips == crate::config::IpLogging::Always {
                            tracing::info!(peer = %peer, reason = why.as_str(), "connection refused");
                        } else {
                            tracing::info!(reason = why.as_str(), "connection refused");
                        }
                        drop(tcp);
                        continue;
                    }
                };
                let id = conn_ids.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    crate::stream::serve(shared, tcp, peer, direct_tls, id, shutdown).await;
                    drop(slot);
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE/ENFILE and friends: the accept loop must survive running out of file
                // descriptors; back off briefly so we do not spin.
                tracing::warn!(error = %e, "accept failed");
                drop(permit);
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}
