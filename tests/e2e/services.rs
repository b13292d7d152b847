//! The server as an entity: direct TLS (XEP-0368), ping (XEP-0199), disco#info (XEP-0030) with
//! contact addresses (XEP-0157) and caps (XEP-0115), and graceful shutdown.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tessera_tests::parsers::caps::{Caps, compute_disco, hash_caps};
use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::hashes::Algo;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::ping::Ping;
use tessera_tests::parsers::server_info::ServerInfo;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{ClientOptions, RawConn, TestClient, TestServer, Transport, slix};

use crate::support::jid;

const PW: &str = "alice's password";

async fn server_with_alice() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    Ok(server)
}

/// XEP-0368: TLS from the first byte, ALPN `xmpp-client`, then straight to SASL (no STARTTLS).
#[tokio::test]
async fn direct_tls_listener_works() -> anyhow::Result<()> {
    let server = server_with_alice().await?;

    let mut tls = (*server.ca.client_config()).clone();
    tls.alpn_protocols = vec![b"xmpp-client".to_vec()];
    let mut raw = RawConn::connect_direct_tls(server.direct_tls_addr(), tls.into()).await?;
    assert_eq!(
        raw.alpn().as_deref(),
        Some(&b"xmpp-client"[..]),
        "ALPN not negotiated"
    );
    let features = raw.open_stream().await?;
    assert!(
        !features.contains("<starttls"),
        "STARTTLS offered inside TLS: {features}"
    );
    assert!(
        features.contains("<mechanisms"),
        "no SASL offered: {features}"
    );

    let opts = ClientOptions {
        transport: Transport::DirectTls,
        ..ClientOptions::default()
    };
    let client = TestClient::connect_with(&server, "alice", PW, &opts).await?;
    client.close().await?;

    let args = [
        "--jid",
        "alice@localhost",
        "--password",
        PW,
        "--mech",
        "SCRAM-SHA-256",
        "--direct-tls",
    ];
    if let Some(run) = slix::run_script(&server, "client.py", &args).await? {
        assert_eq!(run.code, Some(0), "slixmpp over direct TLS failed: {run:?}");
    }
    Ok(())
}

/// XEP-0199 §4.2 (to the server) and RFC 6120 §10.3.3 (no `to`: the account answers).
#[tokio::test]
async fn ping_to_the_server_answers() -> anyhow::Result<()> {
    let server = server_with_alice().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    for to in [Some(jid("localhost")), None] {
        match alice
            .iq(to.clone(), IqRequest::Get(Element::from(Ping)))
            .await?
        {
            IqResponse::Result(_) => {}
            IqResponse::Error(e) => anyhow::bail!("ping to {to:?}: {e:?}"),
        }
    }
    alice.close().await
}

/// XEP-0030 §3.1: the server is an `server/im` identity and lists disco#info and ping.
#[tokio::test]
async fn disco_info_to_the_server_answers() -> anyhow::Result<()> {
    let server = server_with_alice().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let query = Element::from(DiscoInfoQuery { node: None });
    let info = match alice
        .iq(Some(jid("localhost")), IqRequest::Get(query))
        .await?
    {
        IqResponse::Result(Some(payload)) => DiscoInfoResult::try_from(payload)?,
        other => anyhow::bail!("disco#info: {other:?}"),
    };
    assert!(
        info.identities
            .iter()
            .any(|i| i.category == "server" && i.type_ == "im"),
        "identities: {:?}",
        info.identities
    );
    for feature in ["http://jabber.org/protocol/disco#info", "urn:xmpp:ping"] {
        assert!(
            info.features.contains(feature),
            "missing {feature}: {:?}",
            info.features
        );
    }
    alice.close().await
}

/// Issue 6: XEP-0157 contact addresses from `[contact]` in the server's disco#info, and the
/// server's XEP-0115 caps in the stream features, which a client verifies by hashing the disco#info
/// it gets for `node#ver` (as clients do before caching).
#[tokio::test]
async fn contact_addresses_and_caps_are_published() -> anyhow::Result<()> {
    let server = TestServer::with_config(
        "[contact]\nabuse = [\"mailto:abuse@example.org\"]\n\
         support = [\"xmpp:help@example.org\", \"https://example.org/help\"]\n",
    )
    .await?;
    server.add_user("alice", PW).await?;

    let (_raw, features) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "alice", PW).await?;
    let start = features
        .find("<c xmlns='http://jabber.org/protocol/caps'")
        .context("caps in the stream features")?;
    let caps: Element =
        features[start..start + features[start..].find("/>").context("end")? + 2].parse()?;
    let caps = Caps::try_from(caps)?;
    assert_eq!(caps.hash, Algo::Sha_1);

    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let node = format!("{}#{}", caps.node, B64.encode(&caps.ver));
    let query = Element::from(DiscoInfoQuery {
        node: Some(node.clone()),
    });
    let info = match alice
        .iq(Some(jid("localhost")), IqRequest::Get(query))
        .await?
    {
        IqResponse::Result(Some(payload)) => DiscoInfoResult::try_from(payload)?,
        other => anyhow::bail!("disco#info on the caps node: {other:?}"),
    };
    assert_eq!(info.node.as_deref(), Some(node.as_str()), "node echoed");
    let computed = hash_caps(&compute_disco(&info), Algo::Sha_1).map_err(anyhow::Error::msg)?;
    assert_eq!(
        computed.hash, caps.ver,
        "the advertised ver is the hash of what disco says"
    );

    let form = info
        .extensions
        .iter()
        .find(|f| f.form_type() == Some("http://jabber.org/network/serverinfo"))
        .context("XEP-0157 form")?;
    let contact = ServerInfo::try_from(form.clone())?;
    assert_eq!(contact.abuse, ["mailto:abuse@example.org"]);
    assert_eq!(
        contact.support,
        ["xmpp:help@example.org", "https://example.org/help"]
    );
    assert!(contact.security.is_empty());
    alice.close().await
}

/// RFC 6120 §4.9.3.17: shutting down tells each session `system-shutdown` and `run` returns.
#[tokio::test]
async fn shutdown_sends_system_shutdown() -> anyhow::Result<()> {
    let server = server_with_alice().await?;
    let (mut raw, _) = RawConn::login(
        server.c2s_addr(),
        server.ca.client_config(),
        "alice",
        PW,
        "r",
    )
    .await?;
    let client_side = async {
        let text = raw.read_until_contains("system-shutdown").await?;
        // Answer the close as a polite client does, so the server need not wait out its grace.
        let _ = raw.send("</stream:stream>").await;
        anyhow::Ok(text)
    };
    let (shutdown, text) = tokio::join!(server.shutdown(), client_side);
    shutdown?;
    assert!(text?.contains("system-shutdown"));
    Ok(())
}

/// A client trying XEP-0368 on the STARTTLS port (as slixmpp does first) sends a TLS ClientHello
/// where XML is expected. The server closes that connection without answering in XML, and the
/// port goes on serving ordinary STARTTLS clients.
#[tokio::test]
async fn tls_client_hello_on_starttls_port_is_closed_quietly() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = server_with_alice().await?;
    let attempt = RawConn::connect_direct_tls(server.c2s_addr(), server.ca.client_config()).await;
    assert!(
        attempt.is_err(),
        "a TLS handshake must not succeed on the STARTTLS port"
    );

    // The start of a TLS handshake record: the server must answer with nothing at all. Closed
    // with the record unread, the socket may end in a reset rather than a FIN (even before our
    // write completes): either way nothing may have been written to us.
    let mut tcp = tokio::net::TcpStream::connect(server.c2s_addr()).await?;
    let mut answer = Vec::new();
    let exchange = async {
        tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])
            .await?;
        tcp.read_to_end(&mut answer).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), exchange).await? {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(e.into()),
    }
    assert!(
        answer.is_empty(),
        "server answered a ClientHello with {answer:?}"
    );

    let mut client = TestClient::connect(&server, "alice", PW).await?;
    let pong = client
        .iq(Some(jid("localhost")), IqRequest::Get(Ping.into()))
        .await?;
    assert!(
        matches!(pong, IqResponse::Result(_)),
        "port still serves: {pong:?}"
    );
    client.close().await
}
