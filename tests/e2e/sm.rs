//! Issue 6, XEP-0198 stream management: acknowledgements, resumption after a dropped connection
//! (byte-exact with [`RawConn`], and end to end with tokio-xmpp's own resuming client through a
//! [`FlakyLink`]), and what happens to unacknowledged stanzas of a session never resumed.

use tessera_tests::parsers::delay::Delay;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::raw::closes_element;
use tessera_tests::tokio_xmpp::Stanza;
use tessera_tests::{ClientOptions, FlakyLink, RawConn, TestClient, TestServer};

use crate::support::{bare, befriend, chat, is_message, is_presence, jid};

const PW: &str = "a password";

async fn server(extra: &str) -> anyhow::Result<TestServer> {
    let server = TestServer::with_config(extra).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    server.add_user("mallory", PW).await?;
    Ok(server)
}

/// alice, bound as `alice@localhost/phone` on a raw connection with stream management enabled
/// (and resumption asked for); returns the connection and the resumption id.
async fn alice_with_sm(server: &TestServer) -> anyhow::Result<(RawConn, String)> {
    let (mut alice, features) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "alice", PW).await?;
    assert!(
        features.contains("<sm xmlns='urn:xmpp:sm:3'/>"),
        "XEP-0198 is offered after authentication: {features}"
    );
    alice.bind("phone").await?;
    alice
        .send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await?;
    let enabled = alice
        .read_until("enabled", |t| closes_element(t, "enabled"))
        .await?;
    assert!(enabled.contains("resume='true'"), "{enabled}");
    assert!(
        enabled.contains("max='300'"),
        "the default window: {enabled}"
    );
    let id = attr(&enabled, "id").expect("a resumption id");
    Ok((alice, id))
}

/// The value of the first `name='…'` attribute in `text`.
fn attr(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!(" {name}='"))? + name.len() + 3;
    let len = text[start..].find('\'')?;
    Some(text[start..start + len].to_owned())
}

/// How many times `needle` occurs in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[tokio::test]
async fn acks_count_what_the_client_sent_and_resumption_resends_only_the_unacknowledged()
-> anyhow::Result<()> {
    let server = server("").await?;
    let (mut alice, id) = alice_with_sm(&server).await?;

    // Two stanzas handled (two pings to the server): h is 2. The server asks for an ack of its
    // answers (at most one request in flight).
    alice
        .send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    let pongs = alice
        .read_until("pongs and a request", |t| {
            t.contains("id='p2'") && t.contains("<r xmlns='urn:xmpp:sm:3'/>")
        })
        .await?;
    assert_eq!(count(&pongs, "<r xmlns='urn:xmpp:sm:3'/>"), 1, "{pongs}");
    alice.send("<r xmlns='urn:xmpp:sm:3'/>").await?;
    let answer = alice
        .read_until("ack", |t| t.contains("<a xmlns='urn:xmpp:sm:3'"))
        .await?;
    assert!(
        answer.contains("<a xmlns='urn:xmpp:sm:3' h='2'/>"),
        "{answer}"
    );

    // bob sends three messages to alice's full JID; she reads them.
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let to = jid("alice@localhost/phone");
    for n in 1..=3 {
        bob.send(chat(to.clone(), &format!("m{n}"))).await?;
    }
    alice
        .read_until("three messages", |t| t.contains(">m3<"))
        .await?;
    // She acknowledges the pongs and m1 only (h=3 of 5 sent), and the connection drops without
    // a word.
    alice.send("<a xmlns='urn:xmpp:sm:3' h='3'/>").await?;
    drop(alice);

    // Another account cannot take the session over, nor can an unknown id be resumed.
    let (mut mallory, _) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "mallory", PW).await?;
    mallory
        .send(format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='0'/>"
        ))
        .await?;
    let failed = mallory
        .read_until("failed", |t| closes_element(t, "failed"))
        .await?;
    assert!(failed.contains("item-not-found"), "{failed}");
    // …and may still bind a session of its own afterwards.
    mallory.bind("laptop").await?;

    // alice resumes, having processed nothing since her ack.
    let (mut again, _) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "alice", PW).await?;
    again
        .send(format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='3'/>"
        ))
        .await?;
    let resumed = again
        .read_until("resent messages", |t| t.contains(">m3<"))
        .await?;
    assert!(
        resumed.contains(&format!(
            "<resumed xmlns='urn:xmpp:sm:3' previd='{id}' h='2'/>"
        )),
        "{resumed}"
    );
    assert_eq!(count(&resumed, ">m1<"), 0, "m1 was acknowledged: {resumed}");
    assert_eq!(count(&resumed, ">m2<"), 1, "{resumed}");
    assert_eq!(count(&resumed, ">m3<"), 1, "{resumed}");
    // Each resent message says when it was first sent (XEP-0203), from the server.
    assert_eq!(
        count(
            &resumed,
            "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='"
        ),
        2,
        "{resumed}"
    );

    // The session goes on, same full JID, on the new connection.
    bob.send(chat(to.clone(), "m4")).await?;
    let later = again.read_until("m4", |t| t.contains(">m4<")).await?;
    assert!(later.contains("to='alice@localhost/phone'"), "{later}");
    // The resumed session counts on: 2 handled before, one more now.
    again
        .send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")
        .await?;
    let answer = again
        .read_until("ack", |t| t.contains("<a xmlns='urn:xmpp:sm:3'"))
        .await?;
    assert!(
        answer.contains("<a xmlns='urn:xmpp:sm:3' h='3'/>"),
        "{answer}"
    );
    Ok(())
}

#[tokio::test]
async fn a_session_never_resumed_leaves_its_unacknowledged_messages_offline() -> anyhow::Result<()>
{
    let server = server("[sessions]\nresumption_timeout = \"1s\"\n").await?;
    // alice and bob are contacts, so bob sees alice's phone come and go.
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut first = TestClient::connect(&server, "alice", PW).await?;
    befriend(&mut first, &mut bob).await?;
    first.close().await?;

    let (mut alice, _) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "alice", PW).await?;
    alice.bind("phone").await?;
    alice
        .send("<enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>")
        .await?;
    let enabled = alice
        .read_until("enabled", |t| closes_element(t, "enabled"))
        .await?;
    assert!(
        enabled.contains("max='1'"),
        "the server's window caps the client's: {enabled}"
    );
    alice.send("<presence/>").await?;
    let phone = jid("alice@localhost/phone");
    bob.recv(|s| is_presence(s, &PresenceType::None, &phone))
        .await?;

    for n in 1..=2 {
        bob.send(chat(jid("alice@localhost"), &format!("lost {n}")))
            .await?;
    }
    alice
        .read_until("both messages", |t| t.contains(">lost 2<"))
        .await?;
    // Never acknowledged; the connection drops and nobody resumes. When the window has passed
    // the session ends: its unacknowledged messages are handed on before contacts are told.
    drop(alice);
    bob.recv(|s| is_presence(s, &PresenceType::Unavailable, &phone))
        .await?;

    // alice's next login finds them in offline storage (delay-stamped), each exactly once.
    let mut back = TestClient::connect(&server, "alice", PW).await?;
    back.send(Presence::available()).await?;
    for body in ["lost 1", "lost 2"] {
        let got = back
            .recv(|s| is_message(s, &bare("bob@localhost"), body))
            .await?;
        let Stanza::Message(m) = got else {
            unreachable!("is_message matched a message")
        };
        assert!(
            m.payloads
                .iter()
                .any(|p| Delay::try_from(p.clone()).is_ok()),
            "{body} came from offline storage, delay-stamped"
        );
    }
    // Nothing twice: a message sent now is the next one alice gets.
    bob.send(chat(jid("alice@localhost"), "fresh")).await?;
    let next = back.recv(|s| matches!(s, Stanza::Message(_))).await?;
    assert!(
        is_message(&next, &bare("bob@localhost"), "fresh"),
        "a lost message came twice"
    );
    Ok(())
}

#[tokio::test]
async fn an_ack_for_stanzas_never_sent_is_a_stream_error() -> anyhow::Result<()> {
    let server = server("").await?;
    let (mut alice, _) = alice_with_sm(&server).await?;
    alice.send("<a xmlns='urn:xmpp:sm:3' h='5'/>").await?;
    let closed = alice.read_to_close().await?;
    assert!(closed.contains("<undefined-condition"), "{closed}");
    assert!(
        closed.contains("<handled-count-too-high xmlns='urn:xmpp:sm:3' h='5' send-count='0'/>"),
        "{closed}"
    );
    Ok(())
}

#[tokio::test]
async fn enable_twice_or_before_bind_fails_and_resume_needs_an_id() -> anyhow::Result<()> {
    let server = server("").await?;
    let (mut early, _) =
        RawConn::authenticated(server.c2s_addr(), server.ca.client_config(), "bob", PW).await?;
    early.send("<enable xmlns='urn:xmpp:sm:3'/>").await?;
    let failed = early
        .read_until("failed", |t| closes_element(t, "failed"))
        .await?;
    assert!(failed.contains("unexpected-request"), "{failed}");
    early
        .send("<resume xmlns='urn:xmpp:sm:3' previd='no-such-id' h='0'/>")
        .await?;
    let failed = early
        .read_until("failed", |t| closes_element(t, "failed"))
        .await?;
    assert!(failed.contains("item-not-found"), "{failed}");
    early.bind("r").await?;

    let (mut alice, _) = alice_with_sm(&server).await?;
    alice.send("<enable xmlns='urn:xmpp:sm:3'/>").await?;
    let failed = alice
        .read_until("failed", |t| closes_element(t, "failed"))
        .await?;
    assert!(failed.contains("unexpected-request"), "{failed}");
    // The stream goes on.
    alice
        .send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    alice.read_until("pong", |t| t.contains("id='p1'")).await?;
    Ok(())
}

/// tokio-xmpp's own client (it enables XEP-0198 with resumption when offered) loses its network:
/// the server's writes vanish, then the connection breaks. It reconnects and resumes by itself,
/// and gets every message exactly once, in order.
#[tokio::test]
async fn a_real_client_resumes_after_its_network_drops_and_gets_everything_once()
-> anyhow::Result<()> {
    let server = server("").await?;
    let link = FlakyLink::start(server.c2s_addr()).await?;
    let opts = ClientOptions {
        via: Some(link.addr()),
        resource: Some("phone".to_owned()),
        ..ClientOptions::default()
    };
    let mut alice = TestClient::connect_with(&server, "alice", PW, &opts).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let to = jid("alice@localhost/phone");
    let from = bare("bob@localhost");

    bob.send(chat(to.clone(), "before")).await?;
    alice.recv(|s| is_message(s, &from, "before")).await?;

    // The network goes: two large messages are written by the server and never arrive.
    link.blackhole();
    let big = |n: u8| format!("{n}{}", "x".repeat(3000));
    bob.send(chat(to.clone(), &big(1))).await?;
    bob.send(chat(to.clone(), &big(2))).await?;
    link.dropped_at_least(6000).await?;
    link.cut();

    // tokio-xmpp reconnects through the link and resumes; the server resends both.
    alice.recv(|s| is_message(s, &from, &big(1))).await?;
    alice.recv(|s| is_message(s, &from, &big(2))).await?;
    bob.send(chat(to.clone(), "after")).await?;
    // The next message alice sees is "after": neither lost message came twice.
    let next = alice.recv(|s| matches!(s, Stanza::Message(_))).await?;
    assert!(
        is_message(&next, &from, "after"),
        "expected \"after\" next, got another message (a duplicate?)"
    );
    assert_eq!(alice.resumptions(), 1, "the same session, resumed once");
    Ok(())
}
