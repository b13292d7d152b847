//! The Blocking Command (XEP-0191) with the `plugin-blocking` component, driven by tokio-xmpp
//! clients on a server with the built-in defaults: issue 6 ("What modern and mobile clients
//! need").
//!
//! What a block does to messages in both directions, the push to the user's other resource,
//! unblocking, presence (the blocked contact sees the user go and nothing after; the user sees
//! nothing of the contact), unblock-all, and the list's lifetime: it survives a new login and
//! goes with the account. That something did *not* arrive is shown with a later marker from a
//! third account: the recipient's next stanza among "the forbidden one or the marker" is the
//! marker (one session's queue keeps the server's order).

use tessera_tests::parsers::iq::Iq;
use tessera_tests::parsers::message::MessageType;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Show, Type as PresenceType};
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::tokio_xmpp::jid::Jid;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{TestClient, TestServer};

use crate::support::{bare, befriend, chat, is_message, jid};

const PW: &str = "a password for blocking";
const BLOCKING: &str = "urn:xmpp:blocking";
const ERRORS: &str = "urn:xmpp:blocking:errors";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A server on the built-in defaults (no `[plugins]` table: `blocking` is one of them) with
/// alice, bob and carol.
async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user, PW).await?;
    }
    Ok(server)
}

/// `<name xmlns='urn:xmpp:blocking'>` with an item per JID.
fn items(name: &str, jids: &[&str]) -> anyhow::Result<Element> {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    Ok(format!("<{name} xmlns='{BLOCKING}'>{items}</{name}>").parse()?)
}

/// Sets `<name/>` (block or unblock) and expects an empty result.
async fn change(client: &mut TestClient, name: &str, jids: &[&str]) -> anyhow::Result<()> {
    match client.iq(None, IqRequest::Set(items(name, jids)?)).await? {
        IqResponse::Result(None) => Ok(()),
        other => anyhow::bail!("{name} answered {other:?}"),
    }
}

/// The blocklist, sorted (the resource is interested in pushes from now on).
async fn blocklist(client: &mut TestClient) -> anyhow::Result<Vec<String>> {
    match client
        .iq(None, IqRequest::Get(items("blocklist", &[])?))
        .await?
    {
        IqResponse::Result(Some(list)) if list.is("blocklist", BLOCKING) => {
            let mut jids: Vec<String> = list
                .children()
                .filter_map(|i| i.attr("jid").map(str::to_owned))
                .collect();
            jids.sort();
            Ok(jids)
        }
        other => anyhow::bail!("blocklist answered {other:?}"),
    }
}

/// An error message answering `body`'s message, with its `<error/>`.
fn bounced(stanza: &Stanza, body: &str) -> Option<Element> {
    let Stanza::Message(m) = stanza else {
        return None;
    };
    if m.type_ != MessageType::Error || !m.bodies.values().any(|b| b == body) {
        return None;
    }
    let el = Element::from(m.clone());
    el.get_child("error", "jabber:client").cloned()
}

/// Waits for a message of `body` from `from`, or for `marker` from carol, and says whether the
/// marker came first (the forbidden message never arrived before it).
async fn marker_first(
    client: &mut TestClient,
    forbidden: impl Fn(&Stanza) -> bool,
    marker: &str,
) -> anyhow::Result<bool> {
    let carol = bare("carol@localhost");
    let first = client
        .recv(|s| forbidden(s) || is_message(s, &carol, marker))
        .await?;
    Ok(is_message(&first, &carol, marker))
}

/// A blocked contact's messages never arrive (the sender gets `service-unavailable`); the user
/// cannot message the blocked contact (`not-acceptable` with `<blocked/>`); the change is pushed
/// to the user's other resource; unblocking restores delivery.
#[tokio::test]
async fn a_blocked_contacts_messages_never_arrive() -> anyhow::Result<()> {
    let server = server().await?;
    let mut phone = TestClient::connect(&server, "alice", PW).await?;
    let mut laptop = TestClient::connect(&server, "alice", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut carol = TestClient::connect(&server, "carol", PW).await?;
    for c in [&mut phone, &mut laptop, &mut bob, &mut carol] {
        c.send(Presence::available()).await?;
    }
    assert!(blocklist(&mut phone).await?.is_empty());

    change(&mut laptop, "block", &["bob@localhost"]).await?;
    // The phone asked for the list, so it gets the push: an IQ set from alice's bare JID.
    let alice = Jid::from(bare("alice@localhost"));
    let push = phone
        .recv(|s| matches!(s, Stanza::Iq(Iq::Set { payload, .. }) if payload.is("block", BLOCKING)))
        .await?;
    let Stanza::Iq(Iq::Set { from, payload, .. }) = push else {
        unreachable!("matched above")
    };
    assert_eq!(from, Some(alice.clone()), "pushed from the account");
    let pushed: Vec<&str> = payload.children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(pushed, ["bob@localhost"]);
    assert_eq!(blocklist(&mut laptop).await?, ["bob@localhost"]);

    // Bob's message bounces with service-unavailable, and alice never sees it.
    bob.send(chat(alice.clone(), "let me in")).await?;
    let error = bob.recv(|s| bounced(s, "let me in").is_some()).await?;
    let error = bounced(&error, "let me in").expect("matched above");
    assert!(error.has_child("service-unavailable", STANZAS), "{error:?}");
    carol.send(chat(alice.clone(), "marker 1")).await?;
    let from_bob = |s: &Stanza| is_message(s, &bare("bob@localhost"), "let me in");
    assert!(marker_first(&mut phone, from_bob, "marker 1").await?);

    // Alice cannot write to bob: not-acceptable with <blocked/>, from bob's address.
    phone
        .send(chat(jid("bob@localhost"), "still there?"))
        .await?;
    let error = phone.recv(|s| bounced(s, "still there?").is_some()).await?;
    let Stanza::Message(m) = &error else {
        unreachable!("matched above")
    };
    assert_eq!(m.from, Some(jid("bob@localhost")));
    let error = bounced(&error, "still there?").expect("matched above");
    assert!(error.has_child("not-acceptable", STANZAS), "{error:?}");
    assert!(error.has_child("blocked", ERRORS), "{error:?}");
    carol.send(chat(jid("bob@localhost"), "marker 2")).await?;
    let from_alice = |s: &Stanza| is_message(s, &bare("alice@localhost"), "still there?");
    assert!(marker_first(&mut bob, from_alice, "marker 2").await?);

    // Unblocked: delivery is back, and the phone hears of it.
    change(&mut laptop, "unblock", &["bob@localhost"]).await?;
    phone
        .recv(
            |s| matches!(s, Stanza::Iq(Iq::Set { payload, .. }) if payload.is("unblock", BLOCKING)),
        )
        .await?;
    bob.send(chat(alice.clone(), "hello again")).await?;
    phone
        .recv(|s| is_message(s, &bare("bob@localhost"), "hello again"))
        .await?;
    for c in [phone, laptop, bob, carol] {
        c.close().await?;
    }
    Ok(())
}

/// A blocked contact sees the user go unavailable, and none of the user's presence afterwards;
/// the user sees none of the contact's. Unblocking sends the contact the user's current presence
/// and lets presence through again.
#[tokio::test]
async fn a_blocked_contact_sees_the_user_go_and_nothing_after() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut carol = TestClient::connect(&server, "carol", PW).await?;
    befriend(&mut alice, &mut bob).await?;
    let alice_full = Jid::from(alice.jid().clone());
    let bob_full = Jid::from(bob.jid().clone());

    change(&mut alice, "block", &["bob@localhost"]).await?;
    bob.recv(|s| {
        matches!(s, Stanza::Presence(p)
            if p.type_ == PresenceType::Unavailable && p.from.as_ref() == Some(&alice_full))
    })
    .await?;

    // Alice changes status; the round trip proves the server handled it before the marker.
    alice
        .send(Presence::available().with_show(Show::Away))
        .await?;
    blocklist(&mut alice).await?;
    carol.send(chat(jid("bob@localhost"), "marker 1")).await?;
    let alice_presence =
        |s: &Stanza| matches!(s, Stanza::Presence(p) if p.from.as_ref() == Some(&alice_full));
    assert!(marker_first(&mut bob, alice_presence, "marker 1").await?);

    // Bob changes status: alice sees nothing of it.
    bob.send(Presence::available().with_show(Show::Dnd)).await?;
    bob.iq(Some(jid("localhost")), IqRequest::Get(ping()?))
        .await?;
    carol.send(chat(jid("alice@localhost"), "marker 2")).await?;
    let bob_presence =
        |s: &Stanza| matches!(s, Stanza::Presence(p) if p.from.as_ref() == Some(&bob_full));
    assert!(marker_first(&mut alice, bob_presence, "marker 2").await?);

    // Unblocked: bob gets alice's current presence at once (XEP-0191 §3.4: the away she set
    // while he was blocked), and her next change reaches him again.
    change(&mut alice, "unblock", &["bob@localhost"]).await?;
    bob.recv(|s| {
        matches!(s, Stanza::Presence(p)
            if p.from.as_ref() == Some(&alice_full) && p.show == Some(Show::Away))
    })
    .await?;
    alice
        .send(Presence::available().with_show(Show::Chat))
        .await?;
    bob.recv(|s| {
        matches!(s, Stanza::Presence(p)
            if p.from.as_ref() == Some(&alice_full) && p.show == Some(Show::Chat))
    })
    .await?;
    for c in [alice, bob, carol] {
        c.close().await?;
    }
    Ok(())
}

fn ping() -> anyhow::Result<Element> {
    Ok("<ping xmlns='urn:xmpp:ping'/>".parse()?)
}

/// Errors of the protocol: an empty block is `bad-request`, a malformed JID `jid-malformed`.
#[tokio::test]
async fn bad_requests_are_refused() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let empty = alice.iq(None, IqRequest::Set(items("block", &[])?)).await?;
    assert!(
        matches!(&empty, IqResponse::Error(e) if e.defined_condition == DefinedCondition::BadRequest),
        "{empty:?}"
    );
    let malformed = alice
        .iq(None, IqRequest::Set(items("block", &["a@b@c"])?))
        .await?;
    assert!(
        matches!(&malformed, IqResponse::Error(e) if e.defined_condition == DefinedCondition::JidMalformed),
        "{malformed:?}"
    );
    assert!(blocklist(&mut alice).await?.is_empty());
    alice.close().await
}

/// Unblock-all empties the list; the list survives a new login and is deleted with the account.
#[tokio::test]
async fn the_list_survives_a_login_and_goes_with_the_account() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    change(&mut alice, "block", &["bob@localhost", "spam.example"]).await?;
    alice.close().await?;

    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    assert_eq!(
        blocklist(&mut alice).await?,
        ["bob@localhost", "spam.example"]
    );
    change(&mut alice, "unblock", &[]).await?;
    assert!(blocklist(&mut alice).await?.is_empty(), "unblock-all");
    // Bob's messages arrive again.
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    alice.send(Presence::available()).await?;
    bob.send(chat(jid("alice@localhost"), "back")).await?;
    alice
        .recv(|s| is_message(s, &bare("bob@localhost"), "back"))
        .await?;

    change(&mut alice, "block", &["carol@localhost"]).await?;
    alice.close().await?;
    bob.close().await?;
    let storage = server.storage();
    let owner = tessera::storage::Owner::User(bare("alice@localhost").to_string().parse()?);
    let keys = storage
        .kv_keys("blocking", "blocklist", &owner, "", 100, now_ms())
        .await?;
    assert_eq!(keys, ["carol@localhost"]);
    assert!(tessera::accounts::remove(storage, "alice").await?);
    let keys = storage
        .kv_keys("blocking", "blocklist", &owner, "", 100, now_ms())
        .await?;
    assert!(keys.is_empty(), "deleted with the account");
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
