//! Issue 6, XEP-0352 client state indication: an inactive client is spared presence updates
//! (only the newest per contact is kept) until something that matters arrives, which it gets at
//! once with what waited; `<active/>` delivers what was held.

use tessera_tests::parsers::ping::Ping;
use tessera_tests::parsers::presence::{Presence, Show};
use tessera_tests::raw::closes_element;
use tessera_tests::tokio_xmpp::IqRequest;
use tessera_tests::{RawConn, TestClient, TestServer};

use crate::support::{befriend, chat, jid};

const PW: &str = "a password";

fn show(show: Show) -> Presence {
    Presence::available().with_show(show)
}

#[tokio::test]
async fn an_inactive_client_gets_messages_at_once_but_no_presence_flood() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut first = TestClient::connect(&server, "alice", PW).await?;
    befriend(&mut first, &mut bob).await?;
    first.close().await?;

    // alice's phone: bound, available (it gets bob's presence), then inactive.
    let (mut alice, features) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "alice", PW).await?;
    assert!(
        features.contains("<csi xmlns='urn:xmpp:csi:0'/>"),
        "XEP-0352 is offered: {features}"
    );
    alice.bind("phone").await?;
    alice.send("<presence/>").await?;
    alice
        .read_until("bob's presence", |t| {
            t.contains("from='bob@localhost/") && closes_element(t, "presence")
        })
        .await?;
    alice.send("<inactive xmlns='urn:xmpp:csi:0'/>").await?;

    // bob's status changes three times, then he writes.
    for s in [Show::Away, Show::Dnd, Show::Xa] {
        bob.send(show(s)).await?;
    }
    bob.send(chat(jid("alice@localhost"), "wake up")).await?;
    let got = alice
        .read_until("the message", |t| t.contains(">wake up<"))
        .await?;
    let presences = got.matches("<presence").count();
    assert_eq!(presences, 1, "only bob's newest presence came along: {got}");
    assert!(got.contains("<show>xa</show>"), "{got}");
    assert!(
        got.find("<show>xa</show>") < got.find(">wake up<"),
        "what waited comes first: {got}"
    );

    // More status changes wait until alice is active again (bob's ping round trip shows the
    // server routed them: bob's stanzas are handled in order); then only the newest comes.
    bob.send(show(Show::Chat)).await?;
    bob.send(Presence::available()).await?;
    bob.iq(Some(jid("localhost")), IqRequest::Get(Ping.into()))
        .await?;
    alice.send("<active xmlns='urn:xmpp:csi:0'/>").await?;
    let flushed = alice
        .read_until("the held presence", |t| closes_element(t, "presence"))
        .await?;
    assert_eq!(flushed.matches("<presence").count(), 1, "{flushed}");
    assert!(
        !flushed.contains("<show>"),
        "the newest (plain available) only: {flushed}"
    );
    Ok(())
}
