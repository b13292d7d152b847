//! Certificates on disk: the operator's PEM files, or a self-signed one we generate and keep.
//!
//! All functions here block (file I/O, key generation); callers in async code run them on
//! `spawn_blocking`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Where the certificate comes from; `reload` re-reads the same files.
#[derive(Debug, Clone)]
pub(crate) struct CertFiles {
    /// PEM chain, leaf first.
    pub(crate) cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
}

impl CertFiles {
    /// The generated certificate's location under `data_dir`.
    pub(crate) fn generated(data_dir: &Path) -> Self {
        let dir = data_dir.join("tls");
        Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// Reads the chain and key and checks that they belong together.
    ///
    /// # Errors
    /// Unreadable files, bad PEM, an empty chain, or a key that does not match the leaf.
    pub(crate) fn load(&self, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read certificate {}", self.cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("bad PEM in certificate {}", self.cert.display()))?;
        if chain.is_empty() {
            bail!("no certificate in {}", self.cert.display());
        }
        // The key's bytes never reach an error message: only its path does.
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("cannot read private key {}", self.key.display()))?;
        CertifiedKey::from_der(chain, key, provider).with_context(|| {
            format!(
                "private key {} does not match certificate {}",
                self.key.display(),
                self.cert.display()
            )
        })
    }
}

/// Loads the self-signed certificate kept under `data_dir`, or generates and persists a new one
/// when there is none, or when the kept one no longer fits (`domain` changed, or it expired).
///
/// # Errors
/// The directory or files cannot be written, or generation fails.
pub(crate) fn load_or_generate(
    data_dir: &Path,
    domain: &str,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<CertifiedKey> {
    let files = CertFiles::generated(data_dir);
    if files.cert.exists() && files.key.exists() {
        match files.load(provider) {
            Ok(key) if fits(&key, domain, provider) => {
                tracing::info!(path = %files.cert.display(), "using the kept self-signed certificate");
                return Ok(key);
            }
            Ok(_) => tracing::warn!(
                path = %files.cert.display(),
                domain,
                "kept self-signed certificate does not cover the domain or expired; replacing it"
            ),
            Err(e) => tracing::warn!(
                path = %files.cert.display(),
                error = %e,
                "kept self-signed certificate is unusable; replacing it"
            ),
        }
    }
    generate(&files, domain)?;
    tracing::warn!(
        path = %files.cert.display(),
        domain,
        "generated a self-signed certificate; clients will not trust it without configuration"
    );
    files.load(provider)
}

/// Whether a self-signed `key` is valid now for `domain`, checked as a client trusting it would.
fn fits(key: &CertifiedKey, domain: &str, provider: &Arc<CryptoProvider>) -> bool {
    let Some(leaf) = key.end_entity_cert().ok() else {
        return false;
    };
    let mut roots = RootCertStore::empty();
    if roots.add(leaf.clone()).is_err() {
        return false;
    }
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()
    else {
        return false;
    };
    let Ok(name) = ServerName::try_from(domain.to_owned()) else {
        return false;
    };
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        .is_ok()
}

/// Generates a self-signed certificate for `domain` and `localhost` and writes it to `files`,
/// the key with mode 0600. Each file is written to a temporary name and renamed, so a crash
/// never leaves half a key behind.
fn generate(files: &CertFiles, domain: &str) -> anyhow::Result<()> {
    let mut names = vec![domain.to_owned()];
    if domain != "localhost" {
        names.push("localhost".to_owned());
    }
    let mut params = rcgen::CertificateParams::new(names).context("certificate names")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    let key_pair = rcgen::KeyPair::generate().context("generating a key pair")?;
    let cert = params
        .self_signed(&key_pair)
        .context("self-signing the certificate")?;

    let dir = files
        .cert
        .parent()
        .context("invariant: the generated certificate path has a parent")?;
    create_private_dir(dir)?;
    write_file(&files.key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_file(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("pem.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let write = || -> std::io::Result<()> {
        // A stale temporary file keeps its old mode; remove it so the mode above applies.
        let _ = fs::remove_file(&tmp);
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
