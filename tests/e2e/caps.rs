//! XEP-0115 entity capabilities of client sessions, with tokio-xmpp: a client announcing caps in
//! its presence is asked by the server for its disco#info (the harness client answers, as real
//! clients do: `ClientOptions::caps_features`), the server verifies the answer, and the `capsy`
//! test fixture (plugin API 0.1.2, `caps` granted) sees the client's features through
//! `caps.has-feature` and `caps.interested` — already from the client's `session-available`
//! event, which the server holds until the features are known.

use tessera_tests::parsers::presence::Presence;
use tessera_tests::tokio_xmpp::Stanza;
use tessera_tests::{ClientOptions, TestClient, TestServer};

use crate::support::{bare, chat, is_message, jid};

const PW: &str = "caps password";
/// The feature the fixture's `session-available` report checks (XEP-0163 §4.3 style).
const NOTIFY: &str = "urn:tessera:test:caps+notify";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

fn capsy_config() -> String {
    format!(
        "[plugins.capsy]\npath = {:?}\ngrants = [\"router\", \"caps\"]\n",
        fixtures_build::path("capsy").expect("the capsy fixture is built")
    )
}

fn from_capsy(body: &'static str) -> impl Fn(&Stanza) -> bool {
    move |s| is_message(s, &bare("capsy.localhost"), body)
}

/// Asks the fixture `command` and waits for `expected`.
async fn expect(client: &mut TestClient, command: &str, expected: &str) -> anyhow::Result<()> {
    client.send(chat(jid("capsy.localhost"), command)).await?;
    let expected = expected.to_owned();
    client
        .recv(move |s| is_message(s, &bare("capsy.localhost"), &expected))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_real_client_s_verified_caps_reach_a_plugin() -> anyhow::Result<()> {
    let server = TestServer::with_config(&capsy_config()).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;

    let opts = ClientOptions {
        caps_features: Some(vec![DISCO_INFO.to_owned(), NOTIFY.to_owned()]),
        ..Default::default()
    };
    let mut alice = TestClient::connect_with(&server, "alice", PW, &opts).await?;
    let caps = alice.caps().expect("caps_features were given");
    alice
        .send(Presence::available().with_payloads(vec![caps]))
        .await?;
    // The server asks alice's client (which answers while this waits), verifies the answer, and
    // only then tells the plugin she is online: its report already sees the feature.
    alice.recv(from_capsy("online true")).await?;

    // bob announces no caps: his report says so, and he has no features.
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    bob.send(Presence::available()).await?;
    bob.recv(from_capsy("online false")).await?;

    let alice_jid = alice.jid().to_string();
    let bob_jid = bob.jid().to_string();
    expect(&mut bob, &format!("has {alice_jid} {NOTIFY}"), "true").await?;
    expect(&mut bob, &format!("has {alice_jid} {DISCO_INFO}"), "true").await?;
    expect(
        &mut bob,
        &format!("has {alice_jid} urn:other+notify"),
        "false",
    )
    .await?;
    expect(&mut bob, &format!("has {bob_jid} {DISCO_INFO}"), "false").await?;
    expect(
        &mut bob,
        &format!("interested alice@localhost {NOTIFY}"),
        &alice_jid,
    )
    .await?;
    expect(
        &mut bob,
        &format!("interested bob@localhost {NOTIFY}"),
        "none",
    )
    .await?;

    // Going unavailable forgets them.
    alice
        .send(Presence::new(
            tessera_tests::parsers::presence::Type::Unavailable,
        ))
        .await?;
    expect(&mut alice, &format!("has {alice_jid} {NOTIFY}"), "false").await?;
    alice.close().await?;
    bob.close().await
}
