//! Issue 5, "hardening": per-IP connection limits, the per-session stanza rate, slowloris and
//! handshake timeouts, and a slow reader closed rather than buffered for. Each on the real
//! server with raw sockets (what an abusive peer would use).

use std::time::{Duration, Instant};

use tessera_tests::{RawConn, TestServer};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

const PW: &str = "a password";

/// Whether the server closes `tcp` within `within` (EOF or reset) rather than keeping it open.
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, tcp.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        // The server never speaks first on the STARTTLS port.
        Ok(Ok(_)) => panic!("unexpected data before the client spoke"),
        Err(_) => false,
    }
}

/// Connects, and tells whether the connection was kept (not closed within half a second).
async fn kept(server: &TestServer) -> anyhow::Result<(TcpStream, bool)> {
    let mut tcp = TcpStream::connect(server.c2s_addr()).await?;
    let closed = closed_by_server(&mut tcp, Duration::from_millis(500)).await;
    Ok((tcp, !closed))
}

/// `limits.connections_per_ip`: at most that many at once from one address; a place comes back
/// when a connection closes. (Loopback is exempt by default; the test turns that off.)
#[tokio::test]
async fn connections_per_ip_are_capped() -> anyhow::Result<()> {
    let server = TestServer::with_config(
        "[limits]\nloopback_exempt = false\nconnections_per_ip = 2\nconnect_rate_per_ip = 0\n",
    )
    .await?;
    let (first, first_kept) = kept(&server).await?;
    let (_second, second_kept) = kept(&server).await?;
    let (_third, third_kept) = kept(&server).await?;
    assert!(first_kept && second_kept, "the first two are served");
    assert!(
        !third_kept,
        "the third from the same address is closed at once"
    );
    drop(first);
    // The server sees the close when its read returns; then the place is free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_tcp, ok) = kept(&server).await?;
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place never came back");
    }
    Ok(())
}

/// `limits.connect_rate_per_ip`: new connections per second from one address, with a burst.
#[tokio::test]
async fn connect_rate_per_ip_is_enforced() -> anyhow::Result<()> {
    let server = TestServer::with_config(
        "[limits]\nloopback_exempt = false\nconnections_per_ip = 0\nconnect_rate_per_ip = 1\n",
    )
    .await?;
    let (_a, a_kept) = kept(&server).await?;
    let (_b, b_kept) = kept(&server).await?;
    assert!(a_kept, "the first is served");
    assert!(!b_kept, "a second within the same second is refused");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_c, c_kept) = kept(&server).await?;
    assert!(c_kept, "a second later the bucket has a token again");
    Ok(())
}

/// With the defaults, loopback is exempt: local bots and bridges open as many as they need.
#[tokio::test]
async fn loopback_is_exempt_by_default() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let limit = server
        .config()
        .limits
        .connections_per_ip
        .expect("a default limit");
    let mut held = Vec::new();
    for _ in 0..limit + 10 {
        held.push(TcpStream::connect(server.c2s_addr()).await?);
    }
    for tcp in &mut held {
        assert!(!closed_by_server(tcp, Duration::from_millis(20)).await);
    }
    Ok(())
}

/// `limits.stanza_rate`/`stanza_burst`: a flood is slowed to the rate (the server stops reading),
/// and nothing is dropped: every ping is answered.
#[tokio::test]
async fn stanza_rate_slows_a_flood_without_dropping() -> anyhow::Result<()> {
    let server = TestServer::with_config("[limits]\nstanza_rate = 20\nstanza_burst = 5\n").await?;
    server.add_user("alice", PW).await?;
    let (mut alice, _) = RawConn::login(
        server.c2s_addr(),
        server.ca.client_config(),
        "alice",
        PW,
        "flood",
    )
    .await?;
    const N: usize = 45;
    let flood: String = (0..N)
        .map(|i| {
            format!("<iq type='get' id='p{i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        })
        .collect();
    let start = Instant::now();
    alice.send(flood).await?;
    let last = format!("id='p{}'", N - 1);
    let answers = alice
        .read_until("every ping answered", |t| t.contains(&last))
        .await?;
    let elapsed = start.elapsed();
    for i in 0..N {
        assert!(answers.contains(&format!("id='p{i}'")), "ping {i} lost");
    }
    // 5 at once, then 40 at 20/s: at least 2 s (the bound only the limiter can explain).
    assert!(
        elapsed >= Duration::from_millis(1800),
        "{N} pings answered in {elapsed:?}: not rate limited"
    );
    Ok(())
}

/// `limits.stanza_timeout`: a bound client that starts a stanza and dribbles it (slowloris) is
/// closed with `policy-violation`; whitespace keepalives between stanzas are not a stanza.
#[tokio::test]
async fn an_unfinished_stanza_is_policy_violation() -> anyhow::Result<()> {
    let server = TestServer::with_config("[limits]\nstanza_timeout = \"1s\"\n").await?;
    server.add_user("alice", PW).await?;
    let login = || {
        RawConn::login(
            server.c2s_addr(),
            server.ca.client_config(),
            "alice",
            PW,
            "slow",
        )
    };

    // Keepalives for longer than the timeout: the session stays.
    let (mut alive, _) = login().await?;
    for _ in 0..6 {
        alive.send(" ").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    alive
        .send("<iq type='get' id='still' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    let reply = alive.read_until_contains("id='still'").await?;
    assert!(reply.contains("type='result'"), "{reply}");

    // A stanza dribbled a byte at a time: closed, however active the client looks.
    let (mut slow, _) = login().await?;
    slow.send("<message to='alice@localhost' type='chat'><body>")
        .await?;
    let dribble = async {
        for _ in 0..20 {
            if slow.send("x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slow
    };
    let mut slow = dribble.await;
    let end = slow.read_to_close().await?;
    assert!(end.contains("<policy-violation"), "{end}");
    Ok(())
}

/// `limits.handshake_timeout`: a connection that never finishes negotiating — silent, or
/// dribbling its stream header — is closed.
#[tokio::test]
async fn the_handshake_has_a_deadline() -> anyhow::Result<()> {
    let server = TestServer::with_config("[limits]\nhandshake_timeout = \"1s\"\n").await?;
    let mut silent = TcpStream::connect(server.c2s_addr()).await?;
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await);

    let mut dribbling = RawConn::connect(server.c2s_addr()).await?;
    let header = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
                  xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    for chunk in header.as_bytes().chunks(4).take(12) {
        if dribbling.send(chunk).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start = Instant::now();
    dribbling.read_to_close().await?;
    assert!(start.elapsed() < Duration::from_secs(5));
    Ok(())
}

/// `limits.session_queue`: a client that stops reading is closed once its queue is full (RFC
/// 6120 §4.9.3.15 `resource-constraint`) instead of the server buffering for it without bound;
/// its sender is not slowed, and messages to it then bounce.
#[tokio::test]
async fn a_slow_reader_is_closed_not_buffered_for() -> anyhow::Result<()> {
    let server = TestServer::with_config(
        "[plugins]\n[limits]\nsession_queue = 8\nping_timeout = \"2s\"\nstanza_rate = 0\n",
    )
    .await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let tls = server.ca.client_config();
    let (mut alice, _) =
        RawConn::login(server.c2s_addr(), tls.clone(), "alice", PW, "sender").await?;
    // Bob logs in and then never reads again.
    let (_bob, bob_jid) = RawConn::login(server.c2s_addr(), tls, "bob", PW, "stalled").await?;
    let body = "y".repeat(32 * 1024);
    // 16 MiB in all: more than the kernel's socket buffers on loopback hold, so the server's
    // writes to bob stall and its queue of 8 fills. Headlines: once bob is gone they are
    // dropped, not bounced back (RFC 6121 §8.5.2.2.1), so alice has nothing to wade through.
    for i in 0..512 {
        alice
            .send(format!(
                "<message to='{bob_jid}' type='headline' id='m{i}'><body>{body}</body></message>"
            ))
            .await?;
    }
    // Once bob's session is gone, a message to his full JID has no one to go to: with no
    // offline plugin loaded it bounces (RFC 6121 §8.5.3.2.1, §8.5.2.2.1).
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        alice
            .send(format!(
                "<message to='{bob_jid}' type='chat' id='probe'><body>there?</body></message>"
            ))
            .await?;
        let seen = alice
            .read_until("a bounce or a pause", |t| t.contains("id='probe'"))
            .await;
        if seen.is_ok_and(|t| t.contains("type='error'")) {
            break;
        }
        assert!(Instant::now() < deadline, "bob's session was never closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
