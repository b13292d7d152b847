//! The host's HTTP listener (`[http]`): HTTP/1.1 on loopback by default, so a reverse proxy in
//! front terminates public TLS; optionally HTTPS with the server's own certificate.
//!
//! Every connection is one task (tracked, stopped with the server): an optional TLS handshake,
//! then hyper's HTTP/1 connection with a header-read timeout serving an axum router (`routes`).
//! On shutdown each connection finishes its request in flight and closes (hyper's graceful
//! shutdown). Nothing here logs a client address unless `logging.ips = "always"`, nor a query
//! string or a body.
//!
//! ## Layout
//! - `routes`: the router: the privacy policy, then the plugins' `http-routes`.
//! - `client`: the outbound client behind `http-outbound`.

pub(crate) mod client;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{HttpConfig, IpLogging};
use crate::server::Shared;

/// The bound HTTP sockets, not yet serving.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    plain: Vec<TcpListener>,
    tls: Vec<TcpListener>,
}

impl Listeners {
    /// Binds `http.listen` and `http.listen_tls`.
    ///
    /// # Errors
    /// A socket that cannot be bound, named by its key.
    pub(crate) async fn bind(config: &HttpConfig) -> anyhow::Result<Self> {
        let mut out = Self::default();
        for (addrs, list, key) in [
            (&config.listen, &mut out.plain, "http.listen"),
            (&config.listen_tls, &mut out.tls, "http.listen_tls"),
        ] {
            for a in addrs {
                list.push(
                    TcpListener::bind(a)
                        .await
                        .with_context(|| format!("{key}: cannot listen on {a}"))?,
                );
            }
        }
        Ok(out)
    }

    /// The bound addresses: plain, then TLS.
    pub(crate) fn addrs(&self) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let local = |ls: &[TcpListener]| ls.iter().filter_map(|l| l.local_addr().ok()).collect();
        (local(&self.plain), local(&self.tls))
    }

    /// Starts one accept loop per socket on `tracker`, until `shutdown`.
    pub(crate) fn spawn(
        self,
        shared: &Arc<Shared>,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        // HTTP connections have their own budget, so a flood of them cannot starve XMPP clients.
        let permits = Arc::new(Semaphore::new(shared.config.limits.max_connections));
        let router = routes::router(shared.clone());
        for (listener, tls) in self
            .plain
            .into_iter()
            .map(|l| (l, false))
            .chain(self.tls.into_iter().map(|l| (l, true)))
        {
            tracker.spawn(accept_loop(Accept {
                shared: shared.clone(),
                router: router.clone(),
                listener,
                tls,
                permits: permits.clone(),
                shutdown: shutdown.clone(),
                tracker: tracker.clone(),
            }));
        }
    }
}

/// What one accept loop needs.
struct Accept {
    shared: Arc<Shared>,
    router: axum::Router,
    listener: TcpListener,
    tls: bool,
    permits: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// Accepts until shutdown.
///
/// # Cancel safety
/// Cancel safe: every `select!` arm is (`acquire_owned`, `accept`, `cancelled`).
async fn accept_loop(a: Accept) {
    loop {
        let permit = tokio::select! {
            p = a.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = a.shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            r = a.listener.accept() => r,
            () = a.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                if a.shared.config.logging.ips == IpLogging::Always {
                    tracing::debug!(%peer, tls = a.tls, "HTTP connection");
                }
                let (shared, router, shutdown) =
                    (a.shared.clone(), a.router.clone(), a.shutdown.clone());
                let tls = a.tls;
                a.tracker.spawn(async move {
                    serve(&shared, router, tcp, tls, shutdown).await;
                    drop(permit);
                });
            }
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "HTTP accept failed");
                drop(permit);
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    () = a.shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Serves one connection: TLS first if asked (within `header_timeout`), then HTTP/1.1.
async fn serve(
    shared: &Shared,
    router: axum::Router,
    tcp: TcpStream,
    tls: bool,
    shutdown: CancellationToken,
) {
    let timeout = shared.config.http.header_timeout;
    if tls {
        let acceptor = shared.tls.https_acceptor();
        let handshake = tokio::select! {
            r = tokio::time::timeout(timeout, acceptor.accept(tcp)) => r,
            () = shutdown.cancelled() => return,
        };
        match handshake {
            Ok(Ok(stream)) => http1(timeout, TokioIo::new(stream), router, shutdown).await,
            Ok(Err(error)) => tracing::debug!(%error, "HTTPS handshake failed"),
            Err(_) => tracing::debug!("HTTPS handshake timed out"),
        }
    } else {
        http1(timeout, TokioIo::new(tcp), router, shutdown).await;
    }
}

async fn http1<T>(
    header_timeout: std::time::Duration,
    io: TokioIo<T>,
    router: axum::Router,
    shutdown: CancellationToken,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(io, TowerToHyperService::new(router));
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(error) = r {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
            return;
        }
        () = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    // Let the request in flight finish; the server's shutdown grace bounds this wait.
    if let Err(error) = conn.await {
        tracing::debug!(%error, "HTTP connection ended with an error");
    }
}
