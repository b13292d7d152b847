//! TLS: certificates and acceptors.
//!
//! [`TlsState`] holds the server certificate behind a lock-protected cell that both rustls
//! configurations resolve through, so [`TlsState::reload`] (on SIGHUP) swaps it for new
//! handshakes while established sessions keep their keys: nothing is dropped.
//!
//! The certificate is the operator's PEM chain and key (`tls.cert`, `tls.key`) or, when neither is
//! configured, a self-signed one generated for the domain and kept under `data_dir/tls/` so that a
//! client pinning it keeps working across restarts.
//!
//! Only TLS 1.3 and 1.2 are enabled (RFC 9325 §3.1.1: TLS 1.0 and 1.1 MUST NOT be negotiated),
//! with the `ring` provider's default cipher suites, all of them AEAD with forward secrecy.

// `Server::bind` (the lead's) constructs `TlsState`; until it does, nothing in the lib uses it.
#![allow(
    dead_code,
    reason = "wired into Server::bind and the SIGHUP handler by the server module; remove then"
)]

mod cert;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

use cert::CertFiles;

/// The protocol versions offered, newest first. Nothing older than TLS 1.2 (RFC 9325 §3.1.1).
pub(crate) const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ALPN protocol identifier for XMPP client streams over direct TLS (XEP-0368 §3).
pub(crate) const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// Certificates and the acceptors that use them. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct TlsState {
    resolver: Arc<ReloadableCert>,
    starttls: Arc<ServerConfig>,
    direct_tls: Arc<ServerConfig>,
    /// The HTTP listener's `listen_tls` (ALPN `http/1.1`).
    https: Arc<ServerConfig>,
}

impl TlsState {
    /// Loads the configured certificate, or loads or generates the self-signed one.
    ///
    /// # Errors
    /// Unreadable or mismatched PEM files, or a `data_dir` that cannot be written.
    ///
    /// # Cancel safety
    /// Cancel safe in effect: the file work runs on a blocking thread that finishes on its own;
    /// at worst a generated certificate is written and used on the next start.
    pub(crate) async fn load(config: &Config) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let source = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Source::Files(CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            // Validation guarantees both or neither.
            _ => Source::Generated {
                data_dir: config.data_dir.clone(),
                domain: config.domain.clone(),
            },
        };
        let (source, key) = {
            let provider = provider.clone();
            tokio::task::spawn_blocking(move || {
                let key = source.load(&provider)?;
                anyhow::Ok((source, key))
            })
            .await
            .context("certificate loading task failed")??
        };
        Self::new(provider, source, key)
    }

    fn new(
        provider: Arc<CryptoProvider>,
        source: Source,
        key: CertifiedKey,
    ) -> anyhow::Result<Self> {
        let resolver = Arc::new(ReloadableCert {
            provider: provider.clone(),
            source,
            current: RwLock::new(Arc::new(key)),
        });
        let server_config = |alpn: Vec<Vec<u8>>| -> anyhow::Result<Arc<ServerConfig>> {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(PROTOCOL_VERSIONS)
                .context("TLS protocol versions")?
                .with_no_client_auth()
                .with_cert_resolver(resolver.clone());
            config.alpn_protocols = alpn;
            Ok(Arc::new(config))
        };
        Ok(Self {
            // STARTTLS clients rarely send ALPN; offering none means any offer is simply ignored.
            starttls: server_config(Vec::new())?,
            direct_tls: server_config(vec![ALPN_XMPP_CLIENT.to_vec()])?,
            https: server_config(vec![b"http/1.1".to_vec()])?,
            resolver,
        })
    }

    /// Re-reads the certificate files and uses them for every later handshake. On failure the
    /// current certificate stays in use.
    ///
    /// Blocks on file I/O (a few kilobytes); call it from `spawn_blocking` or accept the pause.
    ///
    /// # Errors
    /// The new files are unreadable, malformed, or the key does not match the certificate.
    pub(crate) fn reload(&self) -> anyhow::Result<()> {
        let key = self.resolver.source.reload(&self.resolver.provider)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        tracing::info!("TLS certificate reloaded");
        Ok(())
    }

    /// The acceptor for STARTTLS (RFC 6120 §5.4.3.3): the TLS handshake after `<proceed/>`.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.starttls.clone())
    }

    /// The acceptor for the HTTP listener's TLS sockets: the same certificate, ALPN `http/1.1`.
    pub(crate) fn https_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.https.clone())
    }

    /// The acceptor for direct TLS (XEP-0368), which offers ALPN `xmpp-client`.
    pub(crate) fn direct_tls_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.direct_tls.clone())
    }
}

/// Where the certificate comes from.
#[derive(Debug)]
enum Source {
    /// The operator's files.
    Files(CertFiles),
    /// Our self-signed certificate under `data_dir/tls/`.
    Generated {
        data_dir: std::path::PathBuf,
        domain: String,
    },
}

impl Source {
    fn load(&self, provider: &Arc<CryptoProvider>) -> anyhow::Result<CertifiedKey> {
        match self {
            Self::Files(files) => files.load(provider),
            Self::Generated { data_dir, domain } => {
                cert::load_or_generate(data_dir, domain, provider)
            }
        }
    }

    /// A reload never generates: an operator who replaced the files wants exactly those.
    fn reload(&self, provider: &Arc<CryptoProvider>) -> anyhow::Result<CertifiedKey> {
        match self {
            Self::Files(files) => files.load(provider),
            Self::Generated { data_dir, .. } => CertFiles::generated(data_dir).load(provider),
        }
    }
}

/// The one certificate, swappable under a lock held only to clone an `Arc`.
struct ReloadableCert {
    provider: Arc<CryptoProvider>,
    source: Source,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `CertifiedKey`'s Debug is harmless, but the key has no business in logs at all.
        f.debug_struct("ReloadableCert")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadableCert {
    /// One certificate for every SNI name: the server hosts one domain (and `localhost`).
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests;
