//! Instant messaging (RFC 6121): subscriptions, presence, messages, roster pushes, disconnects.

use tessera_tests::parsers::iq::Iq;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::parsers::roster::{Ask, Item, Roster, Subscription};
use tessera_tests::tokio_xmpp::jid::Jid;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{ClientOptions, RawConn, TestClient, TestServer, slix};

use crate::support::{bare, befriend, chat, is_message, is_presence, jid, roster_get, roster_push};

async fn server_with(users: &[&str]) -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    for user in users {
        server.add_user(user, &format!("{user}'s password")).await?;
    }
    Ok(server)
}

async fn login(server: &TestServer, user: &str) -> anyhow::Result<TestClient> {
    TestClient::connect(server, user, &format!("{user}'s password")).await
}

async fn login_as(server: &TestServer, user: &str, resource: &str) -> anyhow::Result<TestClient> {
    let opts = ClientOptions {
        resource: Some(resource.to_owned()),
        ..ClientOptions::default()
    };
    TestClient::connect_with(server, user, &format!("{user}'s password"), &opts).await
}

async fn roster_of(client: &mut TestClient) -> anyhow::Result<Roster> {
    match client.iq(None, roster_get()).await? {
        IqResponse::Result(Some(payload)) => Ok(Roster::try_from(payload)?),
        other => anyhow::bail!("roster get: {other:?}"),
    }
}

/// RFC 6121 §3.1 both ways, then presence and messages flow between full JIDs, and both rosters
/// say `both`.
#[tokio::test]
async fn mutual_subscription_presence_and_messages() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut bob = login(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;

    let (alice_full, bob_full) = (Jid::from(alice.jid().clone()), Jid::from(bob.jid().clone()));
    alice.send(chat(bob_full.clone(), "hello bob")).await?;
    let got = bob
        .recv(|s| is_message(s, &bare("alice@localhost"), "hello bob"))
        .await?;
    // The server stamps the sender's full JID (RFC 6120 §8.1.2.1).
    assert!(
        matches!(&got, tessera_tests::tokio_xmpp::Stanza::Message(m) if m.from.as_ref() == Some(&alice_full))
    );
    bob.send(chat(alice_full, "hello alice")).await?;
    alice
        .recv(|s| is_message(s, &bare("bob@localhost"), "hello alice"))
        .await?;
    // A chat to the bare JID reaches the available resource (RFC 6121 §8.5.2.1.1).
    alice
        .send(chat(jid("bob@localhost"), "to your bare jid"))
        .await?;
    bob.recv(|s| is_message(s, &bare("alice@localhost"), "to your bare jid"))
        .await?;

    for (client, contact) in [(&mut alice, "bob@localhost"), (&mut bob, "alice@localhost")] {
        let roster = roster_of(client).await?;
        let item = roster.items.iter().find(|i| i.jid == bare(contact));
        assert!(
            item.is_some_and(|i| i.subscription == Subscription::Both),
            "{}'s roster: {roster:?}",
            client.jid()
        );
    }
    alice.close().await?;
    bob.close().await
}

/// RFC 6121 §2.1.6: a roster set from one resource is pushed to every interested resource of the
/// account, the one that made the change included.
#[tokio::test]
async fn roster_push_reaches_every_resource() -> anyhow::Result<()> {
    let server = server_with(&["alice"]).await?;
    let mut phone = login_as(&server, "alice", "phone").await?;
    let mut laptop = login_as(&server, "alice", "laptop").await?;
    assert_eq!(phone.jid().resource().as_str(), "phone");
    // Requesting the roster makes a resource "interested" (RFC 6121 §2.1.3).
    roster_of(&mut phone).await?;
    roster_of(&mut laptop).await?;

    let carol = Item {
        jid: bare("carol@localhost"),
        name: Some("Carol".to_owned()),
        subscription: Subscription::None,
        ask: Ask::None,
        groups: vec![],
        approved: None,
    };
    let set = Roster {
        ver: None,
        items: vec![carol],
    };
    match phone.iq(None, IqRequest::Set(Element::from(set))).await? {
        IqResponse::Result(_) => {}
        IqResponse::Error(e) => anyhow::bail!("roster set refused: {e:?}"),
    }
    let account = bare("alice@localhost");
    for client in [&mut phone, &mut laptop] {
        let push = client.recv(|s| roster_push(s, &account).is_some()).await?;
        let (id, roster) = roster_push(&push, &account).expect("invariant: matched above");
        assert_eq!(roster.items.len(), 1, "a push carries one item: {roster:?}");
        assert_eq!(roster.items[0].jid, bare("carol@localhost"));
        assert_eq!(roster.items[0].name.as_deref(), Some("Carol"));
        // Acknowledge the push, as a client SHOULD.
        client
            .send(Iq::empty_result(Jid::from(account.clone()), id))
            .await?;
    }
    let roster = roster_of(&mut laptop).await?;
    assert!(
        roster
            .items
            .iter()
            .any(|i| i.jid == bare("carol@localhost")),
        "{roster:?}"
    );
    phone.close().await?;
    laptop.close().await
}

/// RFC 6121 §4.5.2 and §4.6.2: a clean close and a dropped TCP connection each broadcast
/// `unavailable` from that full JID to subscribed contacts.
#[tokio::test]
async fn disconnect_broadcasts_unavailable() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut bob = login(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;

    let bob_full = Jid::from(bob.jid().clone());
    bob.close().await?;
    alice
        .recv(|s| is_presence(s, &PresenceType::Unavailable, &bob_full))
        .await?;

    // Bob again, on a raw socket that vanishes without a closing tag.
    let (mut raw, bound) = RawConn::login(
        server.c2s_addr(),
        server.ca.client_config(),
        "bob",
        "bob's password",
        "raw",
    )
    .await?;
    raw.send("<presence/>").await?;
    let raw_full = jid(&bound);
    alice
        .recv(|s| is_presence(s, &PresenceType::None, &raw_full))
        .await?;
    drop(raw);
    alice
        .recv(|s| is_presence(s, &PresenceType::Unavailable, &raw_full))
        .await?;
    alice.close().await
}

/// The same exchange across two client libraries: slixmpp (Python) and tokio-xmpp (Rust).
#[tokio::test]
async fn slixmpp_and_tokio_xmpp_exchange_messages() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    alice.send(Presence::available()).await?;
    let args = [
        "--jid",
        "bob@localhost",
        "--password",
        "bob's password",
        "--mech",
        "SCRAM-SHA-256",
        "--send-to",
        "alice@localhost",
        "--body",
        "hi from slixmpp",
        "--await-from",
        "alice@localhost",
        "--await-body",
        "hi from tokio-xmpp",
    ];
    let script = slix::run_script(&server, "client.py", &args);
    let rust_side = async {
        let got = alice
            .recv(|s| is_message(s, &bare("bob@localhost"), "hi from slixmpp"))
            .await?;
        let tessera_tests::tokio_xmpp::Stanza::Message(m) = got else {
            anyhow::bail!("not a message");
        };
        let from = m
            .from
            .ok_or_else(|| anyhow::anyhow!("message without from"))?;
        alice.send(chat(from, "hi from tokio-xmpp")).await
    };
    // Skipped (no slixmpp): the Rust side would wait in vain, so only the script decides.
    let (run, rust_side) = tokio::join!(script, async {
        match slix::skip_reason().await {
            Ok(None) => rust_side.await,
            _ => Ok(()),
        }
    });
    let Some(run) = run? else {
        return Ok(());
    };
    rust_side?;
    assert_eq!(run.code, Some(0), "slixmpp side failed: {run:?}");
    assert!(run.has_result("received"), "{run:?}");
    alice.close().await
}
