//! A throwaway certificate authority for one test server.
//!
//! Each [`TestServer`](crate::TestServer) gets a fresh CA and a server certificate for `localhost`
//! signed by it (RFC 6120 §13.7.1.2: the client checks the certificate against the domain it asked
//! for, not the address it dialled). Clients trust only this CA, so a test proves the server
//! presented the configured chain rather than some certificate a client happened to accept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

/// The XMPP domain every test server hosts and every certificate names.
pub const DOMAIN: &str = "localhost";

/// PEM files written for one test server, and the CA clients should trust.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (PEM), for clients: `--ca` for the Python scripts.
    pub ca_pem_path: PathBuf,
    /// The server certificate chain (PEM): leaf then CA.
    pub cert_path: PathBuf,
    /// The server's private key (PEM).
    pub key_path: PathBuf,
    ca_der: CertificateDer<'static>,
}

impl TestCa {
    /// Generates a CA and a `localhost` server certificate and writes their PEM files into `dir`.
    ///
    /// # Errors
    /// Key generation, signing or file writes.
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tessera test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut leaf = CertificateParams::new(vec![DOMAIN.to_owned()])?;
        leaf.distinguished_name.push(DnType::CommonName, DOMAIN);
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca)?;

        let ca_pem_path = dir.join("ca.pem");
        let cert_path = dir.join("server.pem");
        let key_path = dir.join("server.key");
        std::fs::write(&ca_pem_path, ca.pem()).context("writing ca.pem")?;
        std::fs::write(&cert_path, format!("{}{}", leaf_cert.pem(), ca.pem()))
            .context("writing server.pem")?;
        std::fs::write(&key_path, leaf_key.serialize_pem()).context("writing server.key")?;
        Ok(Self {
            ca_pem_path,
            cert_path,
            key_path,
            ca_der: ca.der().clone(),
        })
    }

    /// A root store holding only this CA.
    ///
    /// # Panics
    /// Never in practice: the certificate was generated above (`expect` documents the invariant).
    pub fn root_store(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("invariant: a freshly generated CA certificate parses");
        Arc::new(roots)
    }

    /// A rustls client configuration (ring, TLS 1.2 and 1.3) that trusts only this CA.
    ///
    /// # Panics
    /// Never in practice: ring supports the default protocol versions.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        // Explicit provider: more than one rustls backend may be compiled into the test binary,
        // and then `ClientConfig::builder()` would panic on the ambiguity.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("invariant: ring supports TLS 1.2 and 1.3")
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// The PEM files work as a server chain, and a client trusting only the CA accepts them for
    /// `localhost` (the same files and trust the e2e tests use).
    #[tokio::test]
    async fn written_chain_is_trusted_for_localhost() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let ca = TestCa::generate(dir.path())?;
        let chain = CertificateDer::pem_file_iter(&ca.cert_path)?.collect::<Result<Vec<_>, _>>()?;
        assert_eq!(chain.len(), 2, "leaf then CA");
        let key = PrivateKeyDer::from_pem_file(&ca.key_path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;

        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let connector = tokio_rustls::TlsConnector::from(ca.client_config());
        let server_side = async {
            let mut tls = acceptor.accept(server_io).await?;
            tls.write_all(b"ok").await?;
            tls.shutdown().await?;
            anyhow::Ok(())
        };
        let client_side = async {
            let name = ServerName::try_from(DOMAIN)?.to_owned();
            let mut tls = connector.connect(name, client_io).await?;
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await?;
            anyhow::Ok(got)
        };
        let (served, got) = tokio::join!(server_side, client_side);
        served?;
        assert_eq!(got?, b"ok");
        Ok(())
    }
}
