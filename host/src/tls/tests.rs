//! TLS tests: real handshakes between our acceptors and a rustls client over an in-memory duplex.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;

/// What a successful handshake negotiated.
#[derive(Debug)]
struct Negotiated {
    version: Option<ProtocolVersion>,
    alpn: Option<Vec<u8>>,
}

/// Handshakes a client that trusts only `trusted` (PEM file) for `name`, offering `versions`
/// and `alpn`. Returns the client's view, or its error as text.
async fn handshake(
    acceptor: TlsAcceptor,
    trusted: &Path,
    name: &str,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Result<Negotiated, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(trusted).expect("readable PEM") {
        roots
            .add(cert.expect("valid PEM"))
            .expect("valid certificate");
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_owned()).expect("valid name");

    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server, client) = tokio::join!(
        acceptor.accept(server_io),
        connector.connect(name, client_io)
    );
    let client = client.map_err(|e| e.to_string())?;
    server.map_err(|e| format!("server: {e}"))?;
    let conn = client.get_ref().1;
    Ok(Negotiated {
        version: conn.protocol_version(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    })
}

const ALL: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

fn generated_cert(dir: &Path) -> std::path::PathBuf {
    dir.join("tls").join("cert.pem")
}

/// Writes a fresh self-signed certificate for `name` to `dir/NAME.{cert,key}.pem`.
fn write_self_signed(
    dir: &Path,
    file: &str,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("rcgen");
    let cert = dir.join(format!("{file}.cert.pem"));
    let key = dir.join(format!("{file}.key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

fn config_with_files(data_dir: &Path, cert: &Path, key: &Path) -> Config {
    let mut config = Config::default_with(data_dir.to_owned());
    config.tls.cert = Some(cert.to_owned());
    config.tls.key = Some(key.to_owned());
    config
}

#[tokio::test]
async fn generates_a_self_signed_certificate_and_reuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::default_with(dir.path().to_owned());

    let tls = TlsState::load(&config).await.expect("generated");
    let cert_path = generated_cert(dir.path());
    let first = std::fs::read(&cert_path).expect("cert.pem written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key_meta = std::fs::metadata(dir.path().join("tls/key.pem")).expect("key.pem written");
        assert_eq!(key_meta.permissions().mode() & 0o777, 0o600);
    }
    let got = handshake(tls.acceptor(), &cert_path, "localhost", ALL, &[]).await;
    assert_eq!(
        got.expect("handshake").version,
        Some(ProtocolVersion::TLSv1_3)
    );

    // A second start finds and uses the same certificate.
    let again = TlsState::load(&config).await.expect("reused");
    assert_eq!(std::fs::read(&cert_path).expect("cert.pem"), first);
    handshake(again.acceptor(), &cert_path, "localhost", ALL, &[])
        .await
        .expect("the kept certificate still verifies");
}

#[tokio::test]
async fn generated_certificate_covers_the_domain_and_follows_a_domain_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default_with(dir.path().to_owned());
    TlsState::load(&config)
        .await
        .expect("generated for localhost");
    let before = std::fs::read(generated_cert(dir.path())).expect("cert.pem");

    config.domain = "chat.example.org".to_owned();
    let tls = TlsState::load(&config).await.expect("regenerated");
    assert_ne!(
        std::fs::read(generated_cert(dir.path())).expect("cert.pem"),
        before
    );
    let cert = generated_cert(dir.path());
    for name in ["chat.example.org", "localhost"] {
        handshake(tls.acceptor(), &cert, name, ALL, &[])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn reload_swaps_the_certificate_for_new_handshakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_cert, a_key) = write_self_signed(dir.path(), "a", "localhost");
    let (b_cert, b_key) = write_self_signed(dir.path(), "b", "localhost");
    let (live_cert, live_key) = (
        dir.path().join("live.cert.pem"),
        dir.path().join("live.key.pem"),
    );
    std::fs::copy(&a_cert, &live_cert).expect("copy");
    std::fs::copy(&a_key, &live_key).expect("copy");

    let tls = TlsState::load(&config_with_files(dir.path(), &live_cert, &live_key))
        .await
        .expect("loads the operator's files");
    handshake(tls.acceptor(), &a_cert, "localhost", ALL, &[])
        .await
        .expect("serves A");

    std::fs::copy(&b_cert, &live_cert).expect("copy");
    std::fs::copy(&b_key, &live_key).expect("copy");
    tls.reload().expect("reload");
    handshake(tls.acceptor(), &b_cert, "localhost", ALL, &[])
        .await
        .expect("serves B after reload");
    handshake(tls.direct_tls_acceptor(), &b_cert, "localhost", ALL, &[])
        .await
        .expect("direct TLS serves B too");
    assert!(
        handshake(tls.acceptor(), &a_cert, "localhost", ALL, &[])
            .await
            .is_err(),
        "A is no longer served"
    );

    // A broken reload (A's key with B's certificate) is refused and B stays in use.
    std::fs::copy(&a_key, &live_key).expect("copy");
    let err = tls.reload().expect_err("mismatched key");
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    handshake(tls.acceptor(), &b_cert, "localhost", ALL, &[])
        .await
        .expect("still serves B");
}

#[tokio::test]
async fn mismatched_or_missing_files_fail_to_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_cert, _) = write_self_signed(dir.path(), "a", "localhost");
    let (_, b_key) = write_self_signed(dir.path(), "b", "localhost");
    let err = TlsState::load(&config_with_files(dir.path(), &a_cert, &b_key))
        .await
        .expect_err("mismatch");
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");

    let missing = dir.path().join("missing.pem");
    let err = TlsState::load(&config_with_files(dir.path(), &missing, &b_key))
        .await
        .expect_err("missing");
    assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_are_offered() {
    let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    );
    assert!(!versions.contains(&ProtocolVersion::TLSv1_1));
    assert!(!versions.contains(&ProtocolVersion::TLSv1_0));

    // A TLS 1.2-only client still gets in.
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = TlsState::load(&Config::default_with(dir.path().to_owned()))
        .await
        .expect("generated");
    let got = handshake(
        tls.acceptor(),
        &generated_cert(dir.path()),
        "localhost",
        &[&rustls::version::TLS12],
        &[],
    )
    .await
    .expect("TLS 1.2 handshake");
    assert_eq!(got.version, Some(ProtocolVersion::TLSv1_2));
}

#[tokio::test]
async fn direct_tls_negotiates_xmpp_client_alpn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = TlsState::load(&Config::default_with(dir.path().to_owned()))
        .await
        .expect("generated");
    let cert = generated_cert(dir.path());
    let got = handshake(
        tls.direct_tls_acceptor(),
        &cert,
        "localhost",
        ALL,
        &[b"xmpp-client"],
    )
    .await
    .expect("direct TLS handshake");
    assert_eq!(got.alpn.as_deref(), Some(ALPN_XMPP_CLIENT));

    // STARTTLS ignores ALPN entirely, so a client offering it is not refused.
    let got = handshake(tls.acceptor(), &cert, "localhost", ALL, &[b"xmpp-client"])
        .await
        .expect("STARTTLS handshake");
    assert_eq!(got.alpn, None);
}
