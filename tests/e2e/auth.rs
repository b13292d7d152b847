//! Authentication: TLS before SASL, each SCRAM flavour by a real client, refusals and lockout.
//!
//! Each mechanism test forces the server to offer only that mechanism (`[sasl] mechanisms`), so a
//! successful login proves that mechanism worked. `tokio-xmpp` does SCRAM-SHA-1/256 and, given
//! the `tls-exporter` binding (RFC 9266), SCRAM-*-PLUS; `slixmpp` does SCRAM-SHA-1/256 but not
//! `tls-exporter` (Python's `ssl` has no exporter), so it covers the plain SCRAM flavours.

use base64::Engine as _;
use tessera_tests::parsers::sasl::DefinedCondition;
use tessera_tests::{ClientOptions, LoginError, RawConn, TestClient, TestServer, slix, try_login};

const ALICE_PW: &str = "correct horse battery staple";

async fn server_offering(mechanism: &str) -> anyhow::Result<TestServer> {
    let server =
        TestServer::with_config(&format!("[sasl]\nmechanisms = [\"{mechanism}\"]\n")).await?;
    server.add_user("alice", ALICE_PW).await?;
    Ok(server)
}

/// RFC 6120 §5.3.1 / §6.4.1: with `require_encryption`, the only feature before TLS is a
/// mandatory STARTTLS, and a client that skips it and tries SASL anyway is refused.
#[tokio::test]
async fn client_that_skips_starttls_is_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", ALICE_PW).await?;
    let mut raw = RawConn::connect(server.c2s_addr()).await?;
    let features = raw.open_stream().await?;
    assert!(
        features.contains("<starttls"),
        "no STARTTLS offered: {features}"
    );
    assert!(
        features.contains("<required"),
        "STARTTLS not mandatory: {features}"
    );
    assert!(
        !features.contains("<mechanisms"),
        "SASL offered before TLS: {features}"
    );

    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{ALICE_PW}"));
    raw.send(format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
    ))
    .await?;
    let reply = raw
        .read_until("a refusal", |t| {
            t.contains("encryption-required")
                || t.contains("policy-violation")
                || t.contains("<success")
        })
        .await?;
    assert!(
        !reply.contains("<success"),
        "authenticated without TLS: {reply}"
    );
    Ok(())
}

/// Logs in with slixmpp on a server offering only `mech`; skips (with a printed reason) when
/// slixmpp is absent and not required.
async fn login_with_slixmpp(mech: &str) -> anyhow::Result<()> {
    let server = server_offering(mech).await?;
    let args = [
        "--jid",
        "alice@localhost",
        "--password",
        ALICE_PW,
        "--mech",
        mech,
    ];
    let Some(run) = slix::run_script(&server, "client.py", &args).await? else {
        return Ok(());
    };
    assert_eq!(run.code, Some(0), "slixmpp failed: {run:?}");
    assert!(run.has_result("session-started"), "{run:?}");
    Ok(())
}

/// Logs in with tokio-xmpp on a server offering only `mech`.
async fn login_with_tokio_xmpp(mech: &str) -> anyhow::Result<()> {
    let server = server_offering(mech).await?;
    let client = TestClient::connect(&server, "alice", ALICE_PW).await?;
    assert_eq!(client.jid().to_bare().as_str(), "alice@localhost");
    client.close().await
}

#[tokio::test]
async fn scram_sha1_with_slixmpp() -> anyhow::Result<()> {
    login_with_slixmpp("SCRAM-SHA-1").await
}

#[tokio::test]
async fn scram_sha1_with_tokio_xmpp() -> anyhow::Result<()> {
    login_with_tokio_xmpp("SCRAM-SHA-1").await
}

#[tokio::test]
async fn scram_sha256_with_tokio_xmpp() -> anyhow::Result<()> {
    login_with_tokio_xmpp("SCRAM-SHA-256").await
}

#[tokio::test]
async fn scram_sha256_with_slixmpp() -> anyhow::Result<()> {
    login_with_slixmpp("SCRAM-SHA-256").await
}

/// RFC 9266 channel binding over TLS 1.3: the server must verify the `tls-exporter` value.
#[tokio::test]
async fn scram_sha256_plus_with_tokio_xmpp() -> anyhow::Result<()> {
    let server = server_offering("SCRAM-SHA-256-PLUS").await?;
    let opts = ClientOptions {
        channel_binding: true,
        ..ClientOptions::default()
    };
    let client = TestClient::connect_with(&server, "alice", ALICE_PW, &opts).await?;
    client.close().await
}

#[tokio::test]
async fn scram_sha1_plus_with_tokio_xmpp() -> anyhow::Result<()> {
    let server = server_offering("SCRAM-SHA-1-PLUS").await?;
    let opts = ClientOptions {
        channel_binding: true,
        ..ClientOptions::default()
    };
    try_login(&server, "alice", ALICE_PW, &opts).await?;
    Ok(())
}

/// RFC 6120 §6.5.10: a wrong password and an unknown account look the same (`not-authorized`),
/// so logins cannot be used to probe which accounts exist.
#[tokio::test]
async fn wrong_password_and_unknown_user_are_not_authorized() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", ALICE_PW).await?;
    let opts = ClientOptions::default();
    for (user, password) in [("alice", "wrong"), ("nobody", ALICE_PW)] {
        match try_login(&server, user, password, &opts).await {
            Err(LoginError::Failed(DefinedCondition::NotAuthorized)) => {}
            other => panic!("{user}: expected not-authorized, got {other:?}"),
        }
    }
    // And the right password still works afterwards.
    try_login(&server, "alice", ALICE_PW, &opts).await?;
    Ok(())
}

#[tokio::test]
async fn wrong_password_with_slixmpp_is_not_authorized() -> anyhow::Result<()> {
    let server = server_offering("SCRAM-SHA-1").await?;
    let args = [
        "--jid",
        "alice@localhost",
        "--password",
        "wrong",
        "--mech",
        "SCRAM-SHA-1",
        "--expect",
        "failure",
    ];
    let Some(run) = slix::run_script(&server, "client.py", &args).await? else {
        return Ok(());
    };
    assert_eq!(run.code, Some(0), "slixmpp logged in or hung: {run:?}");
    assert!(run.has_result("auth-failed not-authorized"), "{run:?}");
    Ok(())
}

/// RFC 6120 §6.5.12: after repeated failures the server answers `temporary-auth-failure`, and
/// then refuses even the right password until the window passes (otherwise guessing goes on).
#[tokio::test]
async fn repeated_failures_get_temporary_auth_failure() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", ALICE_PW).await?;
    let opts = ClientOptions::default();
    let limit = server
        .config()
        .sasl
        .max_failures_per_account
        .min(server.config().sasl.max_failures_per_ip);
    let mut locked = false;
    for attempt in 1..=limit + 2 {
        match try_login(&server, "alice", "wrong", &opts).await {
            Err(LoginError::Failed(DefinedCondition::NotAuthorized)) if attempt <= limit => {}
            Err(LoginError::Failed(DefinedCondition::TemporaryAuthFailure)) if attempt > 1 => {
                locked = true;
                break;
            }
            other => panic!("attempt {attempt} of {limit}: unexpected {other:?}"),
        }
    }
    assert!(
        locked,
        "no temporary-auth-failure after {} failures",
        limit + 2
    );
    match try_login(&server, "alice", ALICE_PW, &opts).await {
        Err(LoginError::Failed(DefinedCondition::TemporaryAuthFailure)) => Ok(()),
        other => panic!("locked-out account: expected temporary-auth-failure, got {other:?}"),
    }
}

/// The server keeps the day of the last login, not its time (privacy; and a login writes it once
/// a day, issue 5's login rate): after two logins, `last_login_at` is today's midnight UTC.
#[tokio::test]
async fn the_last_login_is_kept_to_the_day() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", "pw alice").await?;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    for _ in 0..2 {
        TestClient::connect(&server, "alice", "pw alice")
            .await?
            .close()
            .await?;
    }
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let accounts = tessera::accounts::list(server.storage()).await?;
    let day = accounts[0].last_login_at.expect("a login was recorded");
    let midnight = |t: u64| i64::try_from(t - t % 86_400).expect("fits");
    assert_eq!(day % 86_400, 0, "a day, not a time: {day}");
    assert!(
        day == midnight(before) || day == midnight(after),
        "today's midnight UTC, not {day}"
    );
    Ok(())
}
