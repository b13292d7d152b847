//! The outbound HTTP client behind `http-outbound`: one HTTP/1.1 request per connection, over
//! TCP or TLS (tokio-rustls with the Mozilla roots from `webpki-roots`), under one timeout, with
//! the response body capped. Redirects are not followed: a `3xx` goes back to the plugin, which
//! may fetch the `Location` if that host is on its allow-list too.
//!
//! Why not reqwest or hyper-util's pooled client: the server already links hyper (for the
//! listener) and tokio-rustls (for XMPP), so this costs two crates of trust roots instead of a
//! second TLS stack, a connection pool and a redirect engine that would all need the allow-list
//! threaded through them. Plugins fetch rarely (push notifications, previews); a connection per
//! fetch is fine at that rate.
//!
//! The caller (`plugins::http`) has already checked the URL against the plugin's allow-list.
//! Plain `http` is only ever permitted for loopback hosts, and is connected only if the name
//! resolves to loopback addresses.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::HttpConfig;
use crate::plugins::HttpRequest as Request;
use crate::plugins::HttpResponse as Response;

/// Why a fetch failed. The texts name no URL: a URL may carry a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum FetchError {
    /// The plugin's request is malformed (method, header).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The host name did not resolve, or to no usable address.
    #[error("cannot resolve the host")]
    Resolve,
    /// No address accepted the connection.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// The response body is larger than `http.outbound_max_body`.
    #[error("response body too large")]
    TooLarge,
    /// `http.outbound_timeout` passed.
    #[error("timed out")]
    Timeout,
}

/// Headers the host sets or that belong to one connection (RFC 9110 §7.6.1), which a plugin
/// may not send and does not get back.
pub(crate) const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "content-length",
];

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
                .expect("invariant: the ring provider supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Performs `req` (already permitted) against `uri` under `config.outbound_timeout`.
///
/// # Errors
/// See [`FetchError`].
///
/// # Cancel safety
/// Cancel safe: dropping it closes the connection.
pub(crate) async fn fetch(
    config: &HttpConfig,
    uri: Uri,
    req: Request,
) -> Result<Response, FetchError> {
    tokio::time::timeout(config.outbound_timeout, exchange(config, uri, req))
        .await
        .map_err(|_| FetchError::Timeout)?
}

async fn connect(host: &str, port: u16, loopback_only: bool) -> Result<TcpStream, FetchError> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| FetchError::Resolve)?
        .filter(|a| !loopback_only || a.ip().is_loopback())
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(FetchError::Resolve, FetchError::Connect))
}

fn request(uri: &Uri, req: Request) -> Result<hyper::Request<Full<Bytes>>, FetchError> {
    let method = hyper::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| FetchError::Invalid(format!("bad method \"{}\"", req.method)))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host);
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FetchError::Invalid(format!("bad header name \"{name}\"")))?;
        if name == hyper::header::HOST || HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| FetchError::Invalid(format!("bad value for header \"{name}\"")))?;
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(req.body)))
        .map_err(|e| FetchError::Invalid(e.to_string()))
}

async fn exchange(config: &HttpConfig, uri: Uri, req: Request) -> Result<Response, FetchError> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default();
    let bare_host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let request = request(&uri, req)?;
    let tcp = connect(&bare_host, port, !https).await?;
    if https {
        let name = rustls_pki_types::ServerName::try_from(bare_host)
            .map_err(|_| FetchError::Invalid("the host is not a valid TLS server name".into()))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(FetchError::Tls)?;
        send(config, TokioIo::new(tls), request).await
    } else {
        send(config, TokioIo::new(tcp), request).await
    }
}

async fn send<T>(
    config: &HttpConfig,
    io: T,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Response, FetchError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| FetchError::Http(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http)?;
    let max = config.outbound_max_body;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(http)?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge
                } else {
                    FetchError::Http(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body.to_vec(),
        })
    };
    // The connection is driven here, beside the exchange, rather than in a detached task: it
    // ends with this call. If it finishes first (the peer closed after the response), the
    // exchange still reads what was received.
    tokio::pin!(exchange, conn);
    tokio::select! {
        biased;
        r = &mut exchange => return r,
        c = &mut conn => c.map_err(http)?,
    }
    exchange.await
}
