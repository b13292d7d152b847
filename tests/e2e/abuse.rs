//! Hostile and broken input (RFC 6120 §4.9.3, §11): each gets its stream error and loses only
//! its own stream; every other session and the server carry on.

use tessera_tests::raw::STREAM_HEADER;
use tessera_tests::{RawConn, TestClient, TestServer};

use crate::support::{bare, chat, is_message, jid};

const MALLORY_PW: &str = "mallory's password";

async fn server_with_bob(extra_toml: &str) -> anyhow::Result<(TestServer, TestClient)> {
    let server = TestServer::with_config(extra_toml).await?;
    server.add_user("mallory", MALLORY_PW).await?;
    server.add_user("bob", "bob's password").await?;
    server.add_user("carol", "carol's password").await?;
    let bob = TestClient::connect(&server, "bob", "bob's password").await?;
    Ok((server, bob))
}

async fn mallory(server: &TestServer, resource: &str) -> anyhow::Result<RawConn> {
    let (conn, _) = RawConn::login(
        server.c2s_addr(),
        server.ca.client_config(),
        "mallory",
        MALLORY_PW,
        resource,
    )
    .await?;
    Ok(conn)
}

/// Sends `payload` on `conn` and expects the stream to end with `condition`.
async fn expect_stream_error(
    conn: &mut RawConn,
    payload: &str,
    condition: &str,
) -> anyhow::Result<()> {
    // A server may close before reading everything; what it sent before that is what counts.
    let _ = conn.send(payload).await;
    let text = conn.read_to_close().await?;
    assert!(
        text.contains("<stream:error") || text.contains(":error"),
        "no stream error for {condition}: {text}"
    );
    assert!(
        text.contains(condition),
        "expected {condition}, got: {text}"
    );
    Ok(())
}

/// Another user's session still routes: carol sends bob a message after each attack.
async fn others_carry_on(
    server: &TestServer,
    bob: &mut TestClient,
    tag: &str,
) -> anyhow::Result<()> {
    assert!(server.is_running(), "server stopped after {tag}");
    let mut carol = TestClient::connect(server, "carol", "carol's password").await?;
    let body = format!("still here after {tag}");
    carol.send(chat(jid(&bob.jid().to_string()), &body)).await?;
    bob.recv(|s| is_message(s, &bare("carol@localhost"), &body))
        .await?;
    carol.close().await
}

/// RFC 6120 §4.9.3.13: XML that is not well-formed ends that stream with `not-well-formed`, before
/// and after authentication.
#[tokio::test]
async fn malformed_xml_is_not_well_formed_and_others_carry_on() -> anyhow::Result<()> {
    let (server, mut bob) = server_with_bob("").await?;

    let mut early = RawConn::connect(server.c2s_addr()).await?;
    early.open_stream().await?;
    expect_stream_error(&mut early, "<foo><bar></foo>", "not-well-formed").await?;

    let mut conn = mallory(&server, "broken").await?;
    let broken = "<message to='bob@localhost' type='chat'><body>x</bod></message>";
    expect_stream_error(&mut conn, broken, "not-well-formed").await?;
    others_carry_on(&server, &mut bob, "malformed XML").await?;
    bob.close().await
}

/// RFC 6120 §13.12 and XEP-0478: a stanza over `limits.stanza_bytes` gets `policy-violation`;
/// one under it is delivered.
#[tokio::test]
async fn oversized_stanza_is_policy_violation() -> anyhow::Result<()> {
    const LIMIT: usize = 16 * 1024;
    let (server, mut bob) = server_with_bob(&format!("[limits]\nstanza_bytes = {LIMIT}\n")).await?;
    let mut conn = mallory(&server, "big").await?;

    // Bob's full JID: he sent no presence, so his bare JID has no available resource and a
    // message to it would (rightly, RFC 6121 §8.5.2.2) bounce with service-unavailable.
    let fits = "a".repeat(LIMIT / 2);
    conn.send(format!(
        "<message to='{}' type='chat'><body>{fits}</body></message>",
        bob.jid()
    ))
    .await?;
    bob.recv(|s| is_message(s, &bare("mallory@localhost"), &fits))
        .await?;

    let too_big = "b".repeat(LIMIT + 1024);
    let stanza =
        format!("<message to='bob@localhost' type='chat'><body>{too_big}</body></message>");
    expect_stream_error(&mut conn, &stanza, "policy-violation").await?;
    others_carry_on(&server, &mut bob, "an oversized stanza").await?;
    bob.close().await
}

/// RFC 6120 §11.1: no DTDs, so no entity expansion. The billion-laughs DTD before the stream
/// header gets `restricted-xml` without expanding anything.
#[tokio::test]
async fn billion_laughs_is_restricted_xml() -> anyhow::Result<()> {
    let (server, mut bob) = server_with_bob("").await?;
    let mut dtd = String::from("<!DOCTYPE stream:stream [<!ENTITY lol0 \"lol\">");
    for level in 1..=9 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{level} \"{refs}\">"));
    }
    dtd.push_str("]>");
    let header = STREAM_HEADER.replacen("?>", &format!("?>{dtd}"), 1);

    let mut conn = RawConn::connect(server.c2s_addr()).await?;
    expect_stream_error(
        &mut conn,
        &format!("{header}<presence>&lol9;</presence>"),
        "restricted-xml",
    )
    .await?;
    others_carry_on(&server, &mut bob, "a billion laughs").await?;
    bob.close().await
}

/// RFC 6120 §11.1: comments, processing instructions and entity references other than the five
/// predefined ones are refused with `restricted-xml` inside an authenticated stream too.
#[tokio::test]
async fn restricted_xml_inside_a_session() -> anyhow::Result<()> {
    let (server, mut bob) = server_with_bob("").await?;
    let cases = [
        (
            "entity",
            "<message to='bob@localhost'><body>&lol9;</body></message>",
        ),
        (
            "comment",
            "<message to='bob@localhost'><!-- hi --><body>x</body></message>",
        ),
        (
            "pi",
            "<message to='bob@localhost'><?evil x?><body>x</body></message>",
        ),
    ];
    for (name, payload) in cases {
        let mut conn = mallory(&server, name).await?;
        expect_stream_error(&mut conn, payload, "restricted-xml").await?;
    }
    others_carry_on(&server, &mut bob, "restricted XML").await?;
    bob.close().await
}
