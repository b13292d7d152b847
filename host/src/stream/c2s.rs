//! One client connection from accept to close.

use std::net::SocketAddr;
use std::sync::Arc;

use tessera_xml::{Limits, StreamParser};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::conn::Conn;
use super::error::ConnError;
use super::transport::Transport;
use super::{negotiate, session};
use crate::config::IpLogging;
use crate::server::Shared;

fn parser(shared: &Shared) -> StreamParser {
    let l = &shared.config.limits;
    StreamParser::new(Limits {
        max_stanza_bytes: l.stanza_bytes,
        max_depth: l.depth,
        max_attributes: l.attributes,
        max_namespaces: l.namespaces,
    })
}

/// Serves one accepted TCP connection; `direct_tls` for the XEP-0368 port.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    direct_tls: bool,
    conn_id: u64,
    shutdown: CancellationToken,
) {
    let span = if shared.config.logging.ips == IpLogging::Always {
        tracing::info_span!("c2s", conn_id, peer = %peer, jid = tracing::field::Empty)
    } else {
        tracing::info_span!("c2s", conn_id, jid = tracing::field::Empty)
    };
    async move {
        let _ = tcp.set_nodelay(true);
        let limits = &shared.config.limits;
        let handshake_deadline = tokio::time::Instant::now() + limits.handshake_timeout;
        let transport = if direct_tls {
            let accept = shared.tls.direct_tls_acceptor().accept(tcp);
            match tokio::time::timeout_at(handshake_deadline, accept).await {
                Ok(Ok(tls)) => Transport::Tls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            }
        } else {
            // Clients that try XEP-0368 first (slixmpp, some mobile clients) open the STARTTLS
            // port with a TLS ClientHello (record type 0x16). That is not a peer fault worth an
            // info-level `not-well-formed`: close quietly and let the client fall back.
            let mut first = [0u8; 1];
            match tokio::time::timeout_at(handshake_deadline, tcp.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == 0x16 => {
                    tracing::debug!("TLS ClientHello on a STARTTLS port; closing");
                    return;
                }
                Ok(Ok(0) | Err(_)) => return,
                Err(_) => {
                    tracing::debug!("no data before the handshake deadline");
                    return;
                }
                Ok(Ok(_)) => {}
            }
            Transport::Plain(tcp)
        };
        let mut conn = Conn::new(transport, parser(&shared), limits.ping_timeout);

        let negotiated = tokio::select! {
            // Boxed: negotiation's state (SASL, TLS accept, bind) is only live until the session
            // is bound; inline it would size the connection task for the whole session.
            r = tokio::time::timeout_at(handshake_deadline, Box::pin(negotiate::run(&shared, &mut conn, peer, conn_id))) => {
                r.unwrap_or(Err(ConnError::Timeout("handshake")))
            }
            () = shutdown.cancelled() => Err(ConnError::stream("system-shutdown", "server shutting down")),
        };
        let result = match negotiated {
            // The connection now belongs to the session it resumed, which closes it in time.
            Ok(negotiate::Negotiated::Resumed) => return,
            Ok(negotiate::Negotiated::Bound(bound)) => {
                tracing::Span::current().record("jid", tracing::field::display(&bound.jid));
                tracing::debug!("session bound");
                session::run(&shared, &mut conn, bound, &shutdown).await
            }
            Err(e) => Err(e),
        };
        let err = result.err();
        match &err {
            None | Some(ConnError::PeerClosed | ConnError::Eof) => tracing::debug!("connection closed"),
            Some(ConnError::Internal(msg)) => tracing::error!(error = %msg, "connection failed"),
            Some(e) => tracing::info!(error = %e, "connection closed with error"),
        }
        Box::pin(conn.close(err.as_ref(), shared.domain.as_str())).await;
    }
    .instrument(span)
    .await;
}
