//! RFC 6121 beyond the basics in `im`: roster versioning (§2.6), subscription pre-approval
//! (§3.4), probes and directed presence (§4.3, §4.6), and message routing by priority (§8.5).

use std::time::Duration;

use tessera_tests::parsers::message::{Message, MessageType};
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Show, Type as PresenceType};
use tessera_tests::parsers::roster::{Ask, Item, Roster, Subscription};
use tessera_tests::parsers::stanza_error::{DefinedCondition, StanzaError};
use tessera_tests::tokio_xmpp::jid::{BareJid, Jid};
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{ClientOptions, TestClient, TestServer};

use crate::support::{
    bare, befriend, chat, is_message, is_presence, jid, presence_to, roster_push,
};

/// The core alone (`[plugins]` empty): these tests check RFC 6121's routing and bounces, which
/// the built-in offline plugin would change by storing what no session takes.
async fn server_with(users: &[&str]) -> anyhow::Result<TestServer> {
    let server = TestServer::with_config("[plugins]\n").await?;
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

/// A roster get carrying `ver` (RFC 6121 §2.6.2); `None` asks without versioning.
async fn roster_get_ver(client: &mut TestClient, ver: Option<&str>) -> anyhow::Result<IqResponse> {
    let query = Roster {
        ver: ver.map(str::to_owned),
        items: vec![],
    };
    client.iq(None, IqRequest::Get(Element::from(query))).await
}

/// The full roster: a versioned get's answer must carry a `ver` (RFC 6121 §2.6.3).
async fn full_roster(client: &mut TestClient, ver: Option<&str>) -> anyhow::Result<Roster> {
    match roster_get_ver(client, ver).await? {
        IqResponse::Result(Some(payload)) => Ok(Roster::try_from(payload)?),
        other => anyhow::bail!("roster get: {other:?}"),
    }
}

fn item(contact: &str, subscription: Subscription) -> Item {
    Item {
        jid: bare(contact),
        name: None,
        subscription,
        ask: Ask::None,
        groups: vec![],
        approved: None,
    }
}

async fn roster_set(client: &mut TestClient, items: Vec<Item>) -> anyhow::Result<IqResponse> {
    let set = Roster { ver: None, items };
    client.iq(None, IqRequest::Set(Element::from(set))).await
}

/// Waits for a roster push about `contact` and returns its single item and version.
async fn push_for(
    client: &mut TestClient,
    account: &BareJid,
    contact: &BareJid,
) -> anyhow::Result<(Item, Option<String>)> {
    let about = |s: &Stanza| {
        roster_push(s, account).is_some_and(|(_, r)| r.items.iter().any(|i| i.jid == *contact))
    };
    let push = client.recv(about).await?;
    let (_, mut roster) = roster_push(&push, account).expect("invariant: matched above");
    assert_eq!(roster.items.len(), 1, "a push carries one item: {roster:?}");
    Ok((roster.items.remove(0), roster.ver))
}

/// The stanza error in a message of type error, if it is one.
fn message_error(stanza: &Stanza, from: &Jid) -> Option<StanzaError> {
    let Stanza::Message(m) = stanza else {
        return None;
    };
    if m.type_ != MessageType::Error || m.from.as_ref() != Some(from) {
        return None;
    }
    m.payloads
        .iter()
        .find(|p| p.name() == "error")
        .and_then(|e| StanzaError::try_from(e.clone()).ok())
}

/// Sends available presence with `priority` and waits for the server to reflect it back to the
/// session itself (RFC 6121 §4.2.2, §4.4.2), so that routing afterwards sees it.
async fn available_with(client: &mut TestClient, priority: i8) -> anyhow::Result<()> {
    let me = Jid::from(client.jid().clone());
    client
        .send(Presence::available().with_priority(priority))
        .await?;
    client
        .recv(|s| is_presence(s, &PresenceType::None, &me))
        .await?;
    Ok(())
}

/// Asserts that `client` never got a stanza `unwanted` accepts (`what` names it) from
/// `sender`'s session: a marker sent after it to the client's full JID arrives first, and
/// stanzas are delivered in order (RFC 6120 §10.1), so anything sent before the marker is
/// already in the client's backlog.
async fn never_got_any(
    sender: &mut TestClient,
    client: &mut TestClient,
    what: &str,
    unwanted: impl Fn(&Stanza) -> bool,
) -> anyhow::Result<()> {
    let marker = format!("marker after {what}");
    let from = sender.jid().to_bare();
    sender
        .send(chat(Jid::from(client.jid().clone()), &marker))
        .await?;
    client.recv(|s| is_message(s, &from, &marker)).await?;
    let stray = client.recv_until(unwanted, Duration::ZERO).await;
    assert!(stray.is_err(), "{} got {what}", client.jid());
    Ok(())
}

/// [`never_got_any`] for a message carrying `body` from `sender`.
async fn never_got(
    sender: &mut TestClient,
    client: &mut TestClient,
    body: &str,
) -> anyhow::Result<()> {
    let from = sender.jid().to_bare();
    never_got_any(sender, client, &format!("{body:?}"), |s| {
        is_message(s, &from, body)
    })
    .await
}

/// RFC 6121 §2.6: a get returns a `ver`; a get with the current `ver` gets an empty result; after
/// a change, a get with the old `ver` gets the full roster and a new `ver`. §2.3.3: a set with
/// two items is `bad-request`. §2.5.2: removing an item pushes it with subscription='remove'.
#[tokio::test]
async fn roster_versioning() -> anyhow::Result<()> {
    let server = server_with(&["alice"]).await?;
    let mut alice = login(&server, "alice").await?;
    let account = bare("alice@localhost");
    let carol = bare("carol@localhost");

    let first = full_roster(&mut alice, Some("")).await?;
    assert!(first.items.is_empty(), "{first:?}");
    let v0 = first
        .ver
        .ok_or_else(|| anyhow::anyhow!("no ver on a versioned roster result"))?;
    match roster_get_ver(&mut alice, Some(&v0)).await? {
        IqResponse::Result(None) => {}
        other => anyhow::bail!("a current ver gets an empty result (§2.6.3): {other:?}"),
    }

    match roster_set(
        &mut alice,
        vec![item("carol@localhost", Subscription::None)],
    )
    .await?
    {
        IqResponse::Result(_) => {}
        IqResponse::Error(e) => anyhow::bail!("roster set refused: {e:?}"),
    }
    let (pushed, v1) = push_for(&mut alice, &account, &carol).await?;
    assert_eq!(pushed.subscription, Subscription::None);
    let v1 = v1.ok_or_else(|| anyhow::anyhow!("push without ver (§2.6.3)"))?;
    assert_ne!(v1, v0);

    let after = full_roster(&mut alice, Some(&v0)).await?;
    assert_eq!(after.ver.as_deref(), Some(v1.as_str()));
    assert_eq!(after.items.len(), 1, "{after:?}");
    assert_eq!(after.items[0].jid, carol);
    match roster_get_ver(&mut alice, Some(&v1)).await? {
        IqResponse::Result(None) => {}
        other => anyhow::bail!("the pushed ver is current: {other:?}"),
    }

    let two = vec![
        item("dave@localhost", Subscription::None),
        item("erin@localhost", Subscription::None),
    ];
    match roster_set(&mut alice, two).await? {
        IqResponse::Error(e) => assert_eq!(e.defined_condition, DefinedCondition::BadRequest),
        IqResponse::Result(r) => anyhow::bail!("two-item set accepted: {r:?}"),
    }

    match roster_set(
        &mut alice,
        vec![item("carol@localhost", Subscription::Remove)],
    )
    .await?
    {
        IqResponse::Result(_) => {}
        IqResponse::Error(e) => anyhow::bail!("roster remove refused: {e:?}"),
    }
    let (gone, v2) = push_for(&mut alice, &account, &carol).await?;
    assert_eq!(gone.subscription, Subscription::Remove);
    assert!(v2.is_some_and(|v| v != v1), "remove push needs a new ver");
    let empty = full_roster(&mut alice, None).await?;
    assert!(empty.items.is_empty(), "{empty:?}");
    alice.close().await
}

/// RFC 6121 §3.4: alice pre-approves bob (`subscribed` before any request), her roster shows
/// approved='true'; bob's later request is approved by the server on her behalf, and bob gets
/// `subscribed` and her current presence.
#[tokio::test]
async fn pre_approved_subscription_is_answered_automatically() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut bob = login(&server, "bob").await?;
    let (alice_bare, bob_bare) = (bare("alice@localhost"), bare("bob@localhost"));
    full_roster(&mut alice, None).await?;
    full_roster(&mut bob, None).await?;
    available_with(&mut alice, 0).await?;
    available_with(&mut bob, 0).await?;

    alice
        .send(presence_to(PresenceType::Subscribed, &bob_bare))
        .await?;
    let (approved, _) = push_for(&mut alice, &alice_bare, &bob_bare).await?;
    assert_eq!(approved.approved, Some(true), "{approved:?}");
    assert_eq!(approved.subscription, Subscription::None);

    bob.send(presence_to(PresenceType::Subscribe, &alice_bare))
        .await?;
    let from_alice = Jid::from(alice_bare.clone());
    bob.recv(|s| is_presence(s, &PresenceType::Subscribed, &from_alice))
        .await?;
    let alice_full = Jid::from(alice.jid().clone());
    bob.recv(|s| is_presence(s, &PresenceType::None, &alice_full))
        .await?;
    // §3.4.2 / Appendix A.3.1: the server approved for alice; she is not asked.
    let from_bob = Jid::from(bob_bare.clone());
    never_got_any(&mut bob, &mut alice, "bob's subscribe", |s| {
        is_presence(s, &PresenceType::Subscribe, &from_bob)
    })
    .await?;
    // Both rosters end in the pre-approved state's successor (RFC 6121 Appendix A).
    let (theirs, _) = push_for(&mut alice, &alice_bare, &bob_bare).await?;
    assert_eq!(theirs.subscription, Subscription::From, "{theirs:?}");
    let bobs = full_roster(&mut bob, None).await?;
    assert!(
        bobs.items
            .iter()
            .any(|i| i.jid == alice_bare && i.subscription == Subscription::To),
        "{bobs:?}"
    );
    alice.close().await?;
    bob.close().await
}

/// RFC 6121 §4.2.2 / §4.3.2: a user who logs in later gets each contact's current presence
/// (the server answers the probe from the contact's last broadcast).
#[tokio::test]
async fn later_login_gets_contacts_current_presence() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut bob = login(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let bob_full = Jid::from(bob.jid().clone());
    bob.close().await?;
    alice
        .recv(|s| is_presence(s, &PresenceType::Unavailable, &bob_full))
        .await?;

    let mut away = Presence::available().with_show(Show::Away);
    away.set_status("en", "at lunch");
    alice.send(away).await?;
    let alice_full = Jid::from(alice.jid().clone());
    alice
        .recv(|s| matches!(s, Stanza::Presence(p) if p.from.as_ref() == Some(&alice_full) && p.show == Some(Show::Away)))
        .await?;

    let mut bob = login(&server, "bob").await?;
    bob.send(Presence::available()).await?;
    let got = bob
        .recv(|s| is_presence(s, &PresenceType::None, &alice_full))
        .await?;
    let Stanza::Presence(p) = got else {
        unreachable!("matched a presence above");
    };
    assert_eq!(p.show, Some(Show::Away), "{p:?}");
    assert!(
        p.statuses.values().any(|s| s == "at lunch"),
        "{:?}",
        p.statuses
    );
    alice.close().await?;
    bob.close().await
}

/// RFC 6121 §4.6: directed presence reaches a non-contact, and when the sender goes offline the
/// server tells that entity with `unavailable` (§4.6.3).
#[tokio::test]
async fn directed_presence_is_retracted_on_logout() -> anyhow::Result<()> {
    let server = server_with(&["alice", "carol"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut carol = login(&server, "carol").await?;
    available_with(&mut carol, 0).await?;

    let alice_full = Jid::from(alice.jid().clone());
    alice
        .send(Presence::available().with_to(jid("carol@localhost")))
        .await?;
    carol
        .recv(|s| is_presence(s, &PresenceType::None, &alice_full))
        .await?;
    alice.close().await?;
    carol
        .recv(|s| is_presence(s, &PresenceType::Unavailable, &alice_full))
        .await?;
    carol.close().await
}

/// RFC 6121 §8.5.2.1.1: a message to the bare JID goes to the highest-priority available
/// resource, to each of them on a tie, and never to one with negative priority (§4.7.2.3); with
/// only those left, it is undeliverable (§8.5.2.2.1, no offline storage yet).
#[tokio::test]
async fn bare_jid_messages_follow_priority() -> anyhow::Result<()> {
    let server = server_with(&["alice", "bob"]).await?;
    let mut alice = login(&server, "alice").await?;
    let mut high = login_as(&server, "bob", "high").await?;
    let mut low = login_as(&server, "bob", "low").await?;
    let mut neg = login_as(&server, "bob", "neg").await?;
    available_with(&mut high, 5).await?;
    available_with(&mut low, 1).await?;
    available_with(&mut neg, -1).await?;
    let (from, bob) = (bare("alice@localhost"), jid("bob@localhost"));

    alice.send(chat(bob.clone(), "to the highest")).await?;
    high.recv(|s| is_message(s, &from, "to the highest"))
        .await?;
    never_got(&mut alice, &mut low, "to the highest").await?;
    never_got(&mut alice, &mut neg, "to the highest").await?;

    available_with(&mut low, 5).await?;
    alice.send(chat(bob.clone(), "to both")).await?;
    high.recv(|s| is_message(s, &from, "to both")).await?;
    low.recv(|s| is_message(s, &from, "to both")).await?;
    never_got(&mut alice, &mut neg, "to both").await?;

    let (high_full, low_full) = (Jid::from(high.jid().clone()), Jid::from(low.jid().clone()));
    high.close().await?;
    low.close().await?;
    for gone in [&high_full, &low_full] {
        neg.recv(|s| is_presence(s, &PresenceType::Unavailable, gone))
            .await?;
    }
    alice.send(chat(bob.clone(), "to nobody")).await?;
    let bounced = alice.recv(|s| message_error(s, &bob).is_some()).await?;
    let error = message_error(&bounced, &bob).expect("invariant: matched above");
    assert_eq!(
        error.defined_condition,
        DefinedCondition::ServiceUnavailable
    );
    never_got(&mut alice, &mut neg, "to nobody").await?;
    alice.close().await?;
    neg.close().await
}

/// RFC 6121 §8.5.1: a message to a local account that does not exist is `service-unavailable`;
/// RFC 6120 §10.4.3: one to another domain (no s2s) is `remote-server-not-found`.
#[tokio::test]
async fn undeliverable_messages_bounce() -> anyhow::Result<()> {
    let server = server_with(&["alice"]).await?;
    let mut alice = login(&server, "alice").await?;
    let cases = [
        ("nobody@localhost", DefinedCondition::ServiceUnavailable),
        (
            "someone@elsewhere.example",
            DefinedCondition::RemoteServerNotFound,
        ),
    ];
    for (to, condition) in cases {
        let to = jid(to);
        alice
            .send(Message::new_with_type(MessageType::Chat, Some(to.clone())))
            .await?;
        let bounced = alice.recv(|s| message_error(s, &to).is_some()).await?;
        let error = message_error(&bounced, &to).expect("invariant: matched above");
        assert_eq!(error.defined_condition, condition, "to {to}");
    }
    alice.close().await
}
