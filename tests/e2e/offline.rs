//! Issue 4, offline messages (XEP-0160) with the real `plugin-offline` component and tokio-xmpp
//! clients: a message to an account with no available resource is delivered once, delay-stamped,
//! at the next login; retention, the cap, `bounce`, `no-store` and account removal.

use std::time::{Duration, SystemTime};

use tessera::storage::{ArchiveQuery, Owner, Storage};
use tessera_tests::parsers::delay::Delay;
use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::message::MessageType;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tessera_tests::tokio_xmpp::jid::{BareJid, Jid};
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{TIMEOUT, TestClient, TestServer};

use crate::support::{bare, befriend, chat, is_presence, jid};

const PW: &str = "a password";

/// The plugin's table with `extra` TOML after it (retention, config).
fn config(extra: &str) -> String {
    format!(
        "[plugins.offline]\npath = {:?}\n\
         grants = [\"log\", \"router\", \"router.impersonate\", \"archive\", \"sessions\", \"ephemeral\", \"clock\"]\n{extra}",
        plugins_build::PLUGIN_OFFLINE
    )
}

/// A server with the plugin, alice and bob; bob is logged in, available and alice's contact.
async fn setup(extra: &str) -> anyhow::Result<(TestServer, TestClient)> {
    let server = TestServer::with_config(&config(extra)).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    befriend(&mut alice, &mut bob).await?;
    log_out(alice, &mut bob).await?;
    Ok((server, bob))
}

/// Closes `alice` and waits until `bob` sees her unavailable: her session is gone from routing.
async fn log_out(alice: TestClient, bob: &mut TestClient) -> anyhow::Result<()> {
    let gone = Jid::from(alice.jid().clone());
    alice.close().await?;
    bob.recv(|s| is_presence(s, &PresenceType::Unavailable, &gone))
        .await?;
    Ok(())
}

/// Logs alice in and sends initial presence, which triggers delivery.
async fn log_in(server: &TestServer) -> anyhow::Result<TestClient> {
    let mut alice = TestClient::connect(server, "alice", PW).await?;
    alice.send(Presence::available()).await?;
    Ok(alice)
}

fn alice() -> Jid {
    jid("alice@localhost")
}

/// A message with a body from `from`; returns the body.
fn body_from(stanza: &Stanza, from: &BareJid) -> Option<String> {
    match stanza {
        Stanza::Message(m) if m.from.as_ref().is_some_and(|f| f.to_bare() == *from) => {
            m.bodies.values().next().cloned()
        }
        _ => None,
    }
}

/// The next message with a body from bob, and its delay stamp if any.
async fn next_from_bob(alice: &mut TestClient) -> anyhow::Result<(String, Option<Delay>)> {
    let bob = bare("bob@localhost");
    let stanza = alice.recv(|s| body_from(s, &bob).is_some()).await?;
    let body = body_from(&stanza, &bob).expect("invariant: matched above");
    let Stanza::Message(m) = stanza else {
        unreachable!("matched a message above")
    };
    let delay = m
        .payloads
        .iter()
        .find(|p| p.is("delay", "urn:xmpp:delay"))
        .map(|p| Delay::try_from(p.clone()))
        .transpose()?;
    Ok((body, delay))
}

/// The stanza error of a bounced message from `from`, if it is one.
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

/// Waits until alice's queue in the server's database holds `n` messages (the host writes
/// archive entries behind the routing path, so a count read at once may lag).
async fn wait_queued(server: &TestServer, n: u64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let now = queued(server).await?;
        if now == n {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "alice's offline queue holds {now} messages, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Returns once the server has routed everything `bob` sent before: his session's stanzas are
/// handled in order, so a message to himself comes back after them.
async fn sync(bob: &mut TestClient) -> anyhow::Result<()> {
    let me = Jid::from(bob.jid().clone());
    bob.send(chat(me, "sync")).await?;
    let own = bare("bob@localhost");
    bob.recv(|s| body_from(s, &own).as_deref() == Some("sync"))
        .await?;
    Ok(())
}

/// How many messages wait in alice's queue, read from the server's database.
async fn queued(server: &TestServer) -> anyhow::Result<u64> {
    let storage = Storage::open(&server.config().storage).await?;
    let query = ArchiveQuery {
        limit: 10,
        ..ArchiveQuery::default()
    };
    let page = storage
        .archive_query(
            "offline",
            "messages",
            &Owner::User("alice@localhost".parse()?),
            "queue",
            &query,
        )
        .await?;
    storage.close().await;
    Ok(page.count)
}

/// Issue 4: "an offline message arrives once with its delay stamp". The second login gets only
/// what was stored after the first: were the first message still queued, it would come first.
#[tokio::test]
async fn offline_message_arrives_once_with_its_delay_stamp() -> anyhow::Result<()> {
    let (server, mut bob) = setup("").await?;
    let before = SystemTime::now();
    bob.send(chat(alice(), "while you were out")).await?;

    let mut alice1 = log_in(&server).await?;
    let (body, delay) = next_from_bob(&mut alice1).await?;
    assert_eq!(body, "while you were out");
    let delay = delay.expect("XEP-0203 delay stamp");
    assert_eq!(delay.from, Some(jid("localhost")));
    let stamped = SystemTime::from(delay.stamp.0);
    assert!(
        stamped + Duration::from_secs(1) >= before && stamped <= SystemTime::now(),
        "stamp is when it was stored: {:?}",
        delay.stamp
    );
    wait_queued(&server, 0).await?;
    log_out(alice1, &mut bob).await?;

    bob.send(chat(alice(), "second")).await?;
    let mut alice2 = log_in(&server).await?;
    let (body, _) = next_from_bob(&mut alice2).await?;
    assert_eq!(body, "second", "the first message came only once");
    alice2.close().await?;
    bob.close().await
}

/// Issue 4: "an expired one never arrives". Retention of one second, a garbage-collector pass
/// after it passed, then a fresh message: the fresh one is the first to arrive.
#[tokio::test]
async fn expired_offline_message_never_arrives() -> anyhow::Result<()> {
    let (server, mut bob) =
        setup("[plugins.offline.retention.messages]\nmax_age = \"1s\"\n").await?;
    bob.send(chat(alice(), "stale")).await?;
    sync(&mut bob).await?;
    // Wall-clock retention: the host compares stored times with the real clock.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.run_plugin_gc().await >= 1, "the GC deleted it");
    bob.send(chat(alice(), "fresh")).await?;

    let mut alice = log_in(&server).await?;
    let (body, _) = next_from_bob(&mut alice).await?;
    assert_eq!(body, "fresh");
    alice.close().await?;
    bob.close().await
}

/// Issue 4: "the cap drops the oldest": with `max_items = 2`, of three messages the newest two
/// arrive, in order.
#[tokio::test]
async fn the_cap_drops_the_oldest() -> anyhow::Result<()> {
    let (server, mut bob) = setup("[plugins.offline.retention.messages]\nmax_items = 2\n").await?;
    for body in ["one", "two", "three"] {
        bob.send(chat(alice(), body)).await?;
    }
    sync(&mut bob).await?;
    // The host applies max_items when it writes and again at every pass of its collector.
    server.run_plugin_gc().await;
    wait_queued(&server, 2).await?;

    let mut alice = log_in(&server).await?;
    assert_eq!(next_from_bob(&mut alice).await?.0, "two");
    assert_eq!(next_from_bob(&mut alice).await?.0, "three");
    alice.close().await?;
    bob.close().await
}

/// `when_full = "bounce"`: a full queue answers the sender `resource-constraint` (type wait) and
/// keeps what it had.
#[tokio::test]
async fn a_full_queue_bounces_with_resource_constraint() -> anyhow::Result<()> {
    let (server, mut bob) =
        setup("[plugins.offline.config]\nwhen_full = \"bounce\"\nmax_messages = 1\n").await?;
    bob.send(chat(alice(), "fits")).await?;
    bob.send(chat(alice(), "does not fit")).await?;
    let bounced = bob.recv(|s| message_error(s, &alice()).is_some()).await?;
    let error = message_error(&bounced, &alice()).expect("invariant: matched above");
    assert_eq!(
        error.defined_condition,
        DefinedCondition::ResourceConstraint
    );
    assert_eq!(error.type_, ErrorType::Wait);
    wait_queued(&server, 1).await?;
    bob.close().await
}

/// XEP-0334: a `no-store` message is not stored (the sender gets RFC 6121 §8.5.2.2.1's
/// `service-unavailable`), and the next one is the first to arrive.
#[tokio::test]
async fn a_no_store_message_is_not_stored() -> anyhow::Result<()> {
    let (server, mut bob) = setup("").await?;
    let mut no_store = chat(alice(), "ephemeral");
    no_store
        .payloads
        .push(Element::builder("no-store", "urn:xmpp:hints").build());
    bob.send(no_store).await?;
    let bounced = bob.recv(|s| message_error(s, &alice()).is_some()).await?;
    let error = message_error(&bounced, &alice()).expect("invariant: matched above");
    assert_eq!(
        error.defined_condition,
        DefinedCondition::ServiceUnavailable
    );
    assert_eq!(
        queued(&server).await?,
        0,
        "refused before anything was stored"
    );
    bob.send(chat(alice(), "kept")).await?;

    let mut alice = log_in(&server).await?;
    assert_eq!(next_from_bob(&mut alice).await?.0, "kept");
    alice.close().await?;
    bob.close().await
}

/// Issue 4: "a removed account leaves no offline message behind": `tessera user remove`'s path
/// deletes the queue with the account.
#[tokio::test]
async fn a_removed_account_leaves_no_offline_message() -> anyhow::Result<()> {
    let (server, mut bob) = setup("").await?;
    bob.send(chat(alice(), "for the record")).await?;
    bob.send(chat(alice(), "and another")).await?;
    wait_queued(&server, 2).await?;

    let storage = Storage::open(&server.config().storage).await?;
    assert!(tessera::accounts::remove(&storage, "alice").await?);
    storage.close().await;
    assert_eq!(queued(&server).await?, 0, "the queue went with the account");
    bob.close().await
}

/// The built-in defaults (no `[plugins]` table) load offline and carbons: the server's
/// disco#info lists `msgoffline` and `urn:xmpp:carbons:2` (XEP-0030 §3.1, XEP-0280 §3), and a
/// message to an offline account is kept rather than bounced.
#[tokio::test]
async fn the_defaults_load_offline_and_carbons() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let query = Element::from(DiscoInfoQuery { node: None });
    let info = match bob
        .iq(Some(jid("localhost")), IqRequest::Get(query))
        .await?
    {
        IqResponse::Result(Some(payload)) => DiscoInfoResult::try_from(payload)?,
        other => anyhow::bail!("disco#info: {other:?}"),
    };
    let features: Vec<&str> = info.features.iter().map(String::as_str).collect();
    assert!(features.contains(&"msgoffline"), "{features:?}");
    assert!(features.contains(&"urn:xmpp:carbons:2"), "{features:?}");

    bob.send(chat(alice(), "kept by default")).await?;
    // No wait for the message to be stored: it may be queued after alice's login read the queue
    // (the hook then delivers it itself, `delivery::request`) or before; it arrives either way.
    let mut alice = log_in(&server).await?;
    assert_eq!(next_from_bob(&mut alice).await?.0, "kept by default");
    alice.close().await?;
    bob.close().await
}
