//! The real `tessera` binary as an operator runs it: accounts created with `tessera user add`
//! (password on stdin), `tessera run` with logging at `trace`, a login and a message, certificate
//! reload on SIGHUP, and SIGTERM ending every stream with `system-shutdown`.
//!
//! Above all it checks the privacy promise: at the most verbose log level, neither the message
//! body nor any password reaches the log. A second test runs the process with a low
//! file-descriptor limit and floods it with connections: it must stay up and serve again. A
//! third kills it (`kill -9`) right after a flood to an offline account: nothing taken is lost.
//!
//! The client here is deliberately small (our own `tessera-sasl` client and `tessera-xml` parser
//! over tokio-rustls): third-party clients are exercised by the `tessera-tests` crate; this test is
//! about the process, its signals and its log.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use minidom::Element;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};
use tessera_xml::Event;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_rustls::client::TlsStream;

mod common;
use common::client::Client as Conn;

const TIMEOUT: Duration = Duration::from_secs(15);
const BODY: &str = "canary-body-5b1e9f0c";
const ALICE_PW: &str = "alice-pw-93c0d2";
const BOB_PW: &str = "bob-pw-4e77a1";

/// Writes a fresh CA and a `localhost` certificate signed by it to `cert`/`key`; returns the CA.
fn issue(cert: &Path, key: &Path) -> anyhow::Result<CertificateDer<'static>> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&leaf_key, &ca)?;
    std::fs::write(cert, format!("{}{}", leaf.pem(), ca.pem()))?;
    std::fs::write(key, leaf_key.serialize_pem())?;
    Ok(ca.der().clone())
}

fn tls_config(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("generated CA parses");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2/1.3")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The shared minimal client (`common::client`), here over TLS after STARTTLS.
type Client = Conn<TlsStream<TcpStream>>;

/// Opens a stream and negotiates STARTTLS, trusting only `tls`'s roots.
async fn starttls(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<Client> {
    let mut plain = Conn::new(TcpStream::connect(addr).await?);
    let features = plain.open().await?;
    assert!(features.has_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls"));
    plain
        .send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await?;
    assert_eq!(plain.next().await?.name(), "proceed");
    let io = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?, plain.io)
        .await
        .context("TLS handshake")?;
    // A fresh parser: nothing read in plaintext carries over (RFC 6120 §5.4.3.3).
    let mut c = Conn::new(io);
    c.open().await?;
    Ok(c)
}

/// STARTTLS, SCRAM-SHA-256 and bind; returns the client and its bound JID.
async fn login(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    user: &str,
    pw: &str,
) -> anyhow::Result<(Client, String)> {
    let mut c = starttls(addr, tls).await?;
    c.login(user, pw).await?;
    let jid = c.jid.clone();
    Ok((c, jid))
}

/// The server process and everything it wrote to stderr.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    lines: tokio::sync::mpsc::Receiver<String>,
}

impl Server {
    async fn start(config: &Path) -> anyhow::Result<Self> {
        Self::start_with_fd_limit(config, None).await
    }

    /// Starts the server, with its file-descriptor limit lowered to `nofile` if given (through
    /// the shell's `ulimit -n`, as an operator's unit file would set it).
    async fn start_with_fd_limit(config: &Path, nofile: Option<u32>) -> anyhow::Result<Self> {
        let config = config.to_str().context("utf-8 path")?;
        let mut command = match nofile {
            None => Command::new(env!("CARGO_BIN_EXE_tessera")),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    &format!("ulimit -n {n} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_tessera"),
                ]);
                sh
            }
        };
        let mut child = command
            .args(["--config", config, "run"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = tokio::sync::mpsc::channel(4096);
        let sink = log.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = r.next_line().await {
                sink.lock().expect("log lock").push_str(&line);
                sink.lock().expect("log lock").push('\n');
                let _ = tx.try_send(line);
            }
        });
        Ok(Self { child, log, lines })
    }

    /// Waits for a log line containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> anyhow::Result<String> {
        tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Ok(line);
                }
            }
            bail!("server exited before logging {needle:?}")
        })
        .await
        .with_context(|| format!("no log line with {needle:?}"))?
    }

    fn signal(&self, sig: &str) -> anyhow::Result<()> {
        let pid = self.child.id().context("server already exited")?;
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {sig} failed");
        Ok(())
    }
}

/// `addr` from a `c2s=[127.0.0.1:PORT]` log field.
fn addr_field(line: &str, field: &str) -> anyhow::Result<std::net::SocketAddr> {
    let start = line
        .find(&format!("{field}=["))
        .context("address field missing")?
        + field.len()
        + 2;
    let end = start + line[start..].find(']').context("unterminated list")?;
    Ok(line[start..end].parse()?)
}

async fn add_user(config: &Path, user: &str, pw: &str) -> anyhow::Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "--config",
            config.to_str().context("utf-8 path")?,
            "user",
            "add",
            user,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(format!("{pw}\n").as_bytes()).await?;
    drop(stdin);
    anyhow::ensure!(child.wait().await?.success(), "user add {user} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_reloads_and_shuts_down_without_logging_content() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ca1 = issue(&cert, &key)?;
    let config = dir.path().join("tessera.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\
             [listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = [\"127.0.0.1:0\"]\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [sasl]\nscram_iterations = 4096\n\
             [http]\nlisten = [\"127.0.0.1:0\"]\n\
             [logging]\nlevel = \"trace\"\nips = \"never\"\n",
            data = dir.path().join("data"),
        ),
    )?;
    add_user(&config, "alice", ALICE_PW).await?;
    add_user(&config, "bob", BOB_PW).await?;

    // No `[plugins]`: the built-in defaults load, so the no-content check covers them too.
    let mut server = Server::start(&config).await?;
    let started = server.wait_for("server started").await?;
    let addr = addr_field(&started, "c2s")?;

    let (mut alice, _) = login(addr, tls_config(&ca1), "alice", ALICE_PW).await?;
    let (mut bob, bob_jid) = login(addr, tls_config(&ca1), "bob", BOB_PW).await?;
    alice
        .send(&format!(
            "<message to='{bob_jid}' type='chat' id='m1'><body>{BODY}</body></message>"
        ))
        .await?;
    let msg = bob.next().await?;
    assert_eq!(msg.name(), "message");
    assert!(
        msg.attr("from")
            .is_some_and(|f| f.starts_with("alice@localhost/"))
    );
    assert_eq!(
        msg.get_child("body", "jabber:client")
            .map(Element::text)
            .as_deref(),
        Some(BODY)
    );

    // Bob's bare JID has no available resource (he sent no presence): the offline plugin
    // stores this one, and its content must not reach the log either.
    alice
        .send(&format!(
            "<message to='bob@localhost' type='chat' id='m2'><body>{BODY}</body></message>"
        ))
        .await?;

    // SIGHUP: a new certificate from another CA serves new connections; sessions stay up.
    let ca2 = issue(&cert, &key)?;
    server.signal("-HUP")?;
    server.wait_for("certificates reloaded").await?;
    starttls(addr, tls_config(&ca2))
        .await
        .context("new certificate after SIGHUP")?;
    assert!(
        starttls(addr, tls_config(&ca1)).await.is_err(),
        "the old certificate is no longer served"
    );
    alice
        .send(&format!(
            "<message to='{bob_jid}' type='chat'><body>again</body></message>"
        ))
        .await?;
    assert_eq!(
        bob.next().await?.name(),
        "message",
        "sessions survive a reload"
    );

    // SIGTERM: every stream gets system-shutdown and the process exits cleanly.
    server.signal("-TERM")?;
    let mut saw_shutdown = false;
    for _ in 0..4 {
        match bob.event().await {
            Ok(Event::Stanza(el)) if el.name() == "error" => {
                saw_shutdown =
                    el.has_child("system-shutdown", "urn:ietf:params:xml:ns:xmpp-streams");
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert!(saw_shutdown, "bob's stream ends with system-shutdown");
    let status = tokio::time::timeout(TIMEOUT, server.child.wait()).await??;
    assert!(status.success(), "clean exit after SIGTERM: {status}");

    let log = server.log.lock().expect("log lock").clone();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log really was verbose"
    );
    for secret in [BODY, ALICE_PW, BOB_PW, "<body", "<message"] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
    Ok(())
}

/// A fresh CA and certificate in `dir`, and a config there: `data_dir`, the certificate, SCRAM at
/// 4096 iterations, then `rest` (listeners, limits, plugins, logging). Returns the CA and the
/// config's path.
fn setup(dir: &Path, rest: &str) -> anyhow::Result<(CertificateDer<'static>, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ca = issue(&cert, &key)?;
    let config = dir.join("tessera.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [sasl]\nscram_iterations = 4096\n{rest}",
            data = dir.join("data"),
        ),
    )?;
    Ok((ca, config))
}

/// Issue 5, hardening: running out of file descriptors does not stop the accept loop. The
/// server runs with a limit of 128 and is sent 200 connections (it holds ~40 itself): accepts fail
/// (`EMFILE`) and are logged, the process stays up, and once the connections go a client logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_does_not_stop_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ca, config) = setup(
        dir.path(),
        "[listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = []\n[http]\nlisten = []\n\
         [limits]\nmax_connections = 10000\n[plugins]\n[logging]\nlevel = \"info\"\n",
    )?;
    add_user(&config, "alice", ALICE_PW).await?;
    let mut server = Server::start_with_fd_limit(&config, Some(128)).await?;
    let started = addr_field(&server.wait_for("server started").await?, "c2s")?;
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(TcpStream::connect(started).await?);
    }
    server.wait_for("accept failed").await?;
    assert!(
        server.child.try_wait()?.is_none(),
        "the server is still running"
    );
    drop(flood);
    // The freed descriptors serve new clients again.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match login(started, tls_config(&ca), "alice", ALICE_PW).await {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.context("no login after the flood")),
        }
    }
    assert!(server.child.try_wait()?.is_none(), "still running");
    Ok(())
}

/// Issue 5, hardening: `kill -9` during a flood loses no message the server had taken. Alice
/// floods bob, who is offline, so every message goes to the offline plugin's queue (a
/// write-behind archive); a ping after the flood is the acknowledgement (stanzas are handled in
/// order, RFC 6120 §10.1). The server is killed the moment the ping is answered, restarted, and
/// bob must get every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_message_the_offline_store_took() -> anyhow::Result<()> {
    const N: usize = 300;
    let dir = tempfile::tempdir()?;
    // The built-in defaults (offline among them); no stanza rate limit, so the flood is one.
    let (ca, config) = setup(
        dir.path(),
        "[listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = []\n[http]\nlisten = []\n\
         [limits]\nstanza_rate = 0\n[logging]\nlevel = \"info\"\n",
    )?;
    add_user(&config, "alice", ALICE_PW).await?;
    add_user(&config, "bob", BOB_PW).await?;

    let mut server = Server::start(&config).await?;
    let addr = addr_field(&server.wait_for("server started").await?, "c2s")?;
    let (mut alice, _) = login(addr, tls_config(&ca), "alice", ALICE_PW).await?;
    let flood: String = (0..N)
        .map(|i| format!("<message to='bob@localhost' type='chat'><body>m{i}.</body></message>"))
        .collect();
    alice.send(&flood).await?;
    alice
        .send("<iq type='get' id='barrier' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    let answer = alice.next_named("iq").await?;
    assert_eq!(answer.attr("id"), Some("barrier"));
    server.signal("-KILL")?;
    let _ = tokio::time::timeout(TIMEOUT, server.child.wait()).await?;

    let mut server = Server::start(&config).await?;
    let addr = addr_field(&server.wait_for("server started").await?, "c2s")?;
    let (mut bob, _) = login(addr, tls_config(&ca), "bob", BOB_PW).await?;
    bob.send("<presence/>").await?;
    let mut got = std::collections::BTreeSet::new();
    while got.len() < N {
        let el = bob
            .next()
            .await
            .with_context(|| format!("only {} of {N} messages after the restart", got.len()))?;
        if el.name() == "message"
            && let Some(body) = el.get_child("body", "jabber:client")
        {
            got.insert(body.text());
        }
    }
    for i in 0..N {
        assert!(got.contains(&format!("m{i}.")), "message {i} lost");
    }
    Ok(())
}
