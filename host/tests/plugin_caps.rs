//! `caps` (WIT 0.1.2) with a real component in a real server: XEP-0115 caps a raw client announces
//! in its presence, the server's disco#info query and its verification, and what the `capsy`
//! fixture then reads through `caps.has-feature` and `caps.interested`.
//!
//! Covered: one query for an unknown `ver`, none for a cached one; `session-available` held until
//! the answer (the fixture reports `has-feature` from the event), or until the timeout for a
//! client that never answers; a forged answer from another JID is ignored; an answer whose hash
//! does not match serves only the session that gave it and never enters the cache; a session
//! without caps, or after a presence without caps or going unavailable, has no features;
//! components of 0.1.0, 0.1.1 and 0.1.2 load together.

use anyhow::Context as _;
use base64::Engine as _;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};

mod common;
use common::plugin_server::*;

const CAPSY: &str = "grants = [\"router\", \"caps\"]";
/// The feature the fixture's `session-available` report checks.
const NOTIFY: &str = "urn:tessera:test:caps+notify";
const NODE: &str = "https://tessera.example/test-client";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The `<query/>` a client with `features` answers, and its XEP-0115 SHA-1 `ver` (computed with
/// xmpp-parsers, as a client would).
fn disco(features: &[&str]) -> (String, String) {
    let info = DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("client", "pc", "en", "caps test")],
        features: features.iter().map(|&f| f.to_owned()).collect(),
        extensions: vec![],
    };
    let hash = xmpp_parsers::caps::hash_caps(
        &xmpp_parsers::caps::compute_disco(&info),
        xmpp_parsers::hashes::Algo::Sha_1,
    )
    .expect("sha-1 is supported");
    let ver = base64::engine::general_purpose::STANDARD.encode(hash.hash);
    let mut xml = format!(
        "<query xmlns='{DISCO_INFO}' node='{NODE}#{ver}'>\
         <identity category='client' type='pc' xml:lang='en' name='caps test'/>"
    );
    for f in features {
        xml.push_str(&format!("<feature var='{f}'/>"));
    }
    xml.push_str("</query>");
    (xml, ver)
}

fn caps_presence(ver: &str) -> String {
    format!(
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{NODE}' \
         ver='{ver}'/></presence>"
    )
}

/// A bound session that has not sent presence yet.
async fn bound(server: &TestServer, user: &str) -> anyhow::Result<Client> {
    let mut c = Client::new(tokio::net::TcpStream::connect(server.addr).await?);
    c.open().await?;
    c.login(user, "pw").await?;
    Ok(c)
}

/// A session that sent initial presence without caps, once the fixture's `session-available`
/// report (`online false`) has arrived, so that later answers are not mistaken for it.
async fn without_caps(server: &TestServer, user: &str) -> anyhow::Result<Client> {
    let mut c = bound(server, user).await?;
    c.send("<presence/>").await?;
    assert_eq!(from_capsy(&mut c).await?, "online false");
    Ok(c)
}

/// Waits for the server's disco#info query and checks its addressing; returns its id.
async fn query(client: &mut Client, ver: &str) -> anyhow::Result<String> {
    let iq = client.next_named("iq").await?;
    assert_eq!(iq.attr("type"), Some("get"));
    assert_eq!(iq.attr("from"), Some("localhost"));
    assert_eq!(iq.attr("to"), Some(client.jid.as_str()));
    let q = iq
        .get_child("query", DISCO_INFO)
        .context("a disco#info query")?;
    assert_eq!(q.attr("node"), Some(format!("{NODE}#{ver}").as_str()));
    iq.attr("id").map(str::to_owned).context("an id")
}

async fn answer(client: &mut Client, id: &str, query: &str) -> anyhow::Result<()> {
    client
        .send(&format!(
            "<iq type='result' to='localhost' id='{id}'>{query}</iq>"
        ))
        .await
}

/// The fixture's message to this session, skipping other stanzas.
async fn from_capsy(client: &mut Client) -> anyhow::Result<String> {
    loop {
        let m = client.next_named("message").await?;
        if m.attr("from") == Some("capsy.localhost") {
            return body(&m).context("no body");
        }
    }
}

/// Asks the fixture `command` and returns its answer.
async fn ask(client: &mut Client, command: &str) -> anyhow::Result<String> {
    client.chat("capsy.localhost", command).await?;
    from_capsy(client).await
}

/// Skips stanzas until a presence from `from` of type `ty`.
async fn until_presence(client: &mut Client, from: &str, ty: Option<&str>) -> anyhow::Result<()> {
    loop {
        let p = client.next_named("presence").await?;
        if p.attr("from") == Some(from) && p.attr("type") == ty {
            return Ok(());
        }
    }
}

async fn has(observer: &mut Client, jid: &str, feature: &str) -> anyhow::Result<bool> {
    Ok(ask(observer, &format!("has {jid} {feature}")).await? == "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_caps_reach_the_plugin_and_are_cached() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("capsy", CAPSY)).await?;
    // bob has no caps: his own session-available report says so.
    let mut bob = without_caps(&server, "bob").await?;
    let bob_jid = bob.jid.clone();

    let (info, ver) = disco(&[DISCO_INFO, NOTIFY]);
    let mut alice = bound(&server, "alice").await?;
    alice.send(&caps_presence(&ver)).await?;
    let id = query(&mut alice, &ver).await?;
    answer(&mut alice, &id, &info).await?;
    // The event was held until the answer: the fixture already sees the feature.
    assert_eq!(from_capsy(&mut alice).await?, "online true");
    let alice_jid = alice.jid.clone();

    assert!(has(&mut bob, &alice_jid, NOTIFY).await?);
    assert!(has(&mut bob, &alice_jid, DISCO_INFO).await?);
    assert!(!has(&mut bob, &alice_jid, "urn:other+notify").await?);
    assert_eq!(
        ask(&mut bob, &format!("interested alice@localhost {NOTIFY}")).await?,
        alice_jid
    );
    // No caps, no features.
    assert!(!has(&mut bob, &bob_jid, DISCO_INFO).await?);
    assert_eq!(
        ask(&mut bob, &format!("interested bob@localhost {NOTIFY}")).await?,
        "none"
    );

    // A second session of alice with the same ver: cached, so no query, and the event at once.
    let mut phone = bound(&server, "alice").await?;
    phone.send(&caps_presence(&ver)).await?;
    loop {
        let el = phone.next().await?;
        assert_ne!(el.name(), "iq", "a cached ver is not asked again");
        if el.name() == "message" && el.attr("from") == Some("capsy.localhost") {
            assert_eq!(body(&el).as_deref(), Some("online true"));
            break;
        }
    }
    let mut both = [alice_jid.clone(), phone.jid.clone()];
    both.sort();
    assert_eq!(
        ask(&mut bob, &format!("interested alice@localhost {NOTIFY}")).await?,
        both.join(" ")
    );

    // A presence without caps forgets them (once alice's own presence is back, the server has
    // handled it); so does going unavailable (alice, still available, is told).
    alice.send("<presence><show>away</show></presence>").await?;
    until_presence(&mut alice, &alice_jid, None).await?;
    assert!(!has(&mut bob, &alice_jid, NOTIFY).await?);
    assert!(has(&mut bob, &phone.jid, NOTIFY).await?);
    phone.send("<presence type='unavailable'/>").await?;
    until_presence(&mut alice, &phone.jid, Some("unavailable")).await?;
    assert!(!has(&mut bob, &phone.jid, NOTIFY).await?);
    assert_eq!(
        ask(&mut bob, &format!("interested alice@localhost {NOTIFY}")).await?,
        "none"
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_mismatching_answers_do_not_enter_the_cache() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("capsy", CAPSY)).await?;
    let mut bob = without_caps(&server, "bob").await?;

    let (info, ver) = disco(&[DISCO_INFO, NOTIFY]);
    let mut alice = bound(&server, "alice").await?;
    alice.send(&caps_presence(&ver)).await?;
    let id = query(&mut alice, &ver).await?;
    // bob answers alice's query, with the right features: not from the JID asked, so ignored
    // (bob's next request is handled after it: the query is still open).
    answer(&mut bob, &id, &info).await?;
    assert!(!has(&mut bob, &alice.jid, NOTIFY).await?);
    // alice answers with one feature more than her ver was computed over: a mismatch.
    let (wrong, _) = disco(&[DISCO_INFO, NOTIFY, "urn:extra"]);
    answer(&mut alice, &id, &wrong).await?;
    // Used for alice herself (it is what her client says of itself)…
    assert_eq!(from_capsy(&mut alice).await?, "online true");
    assert!(has(&mut bob, &alice.jid, "urn:extra").await?);

    // …but neither answer entered the cache: carol, announcing the same ver, is asked again.
    let mut carol = bound(&server, "carol").await?;
    carol.send(&caps_presence(&ver)).await?;
    let id = query(&mut carol, &ver).await?;
    assert!(!has(&mut bob, &carol.jid, NOTIFY).await?, "not known yet");
    answer(&mut carol, &id, &info).await?;
    assert_eq!(from_capsy(&mut carol).await?, "online true");
    assert!(has(&mut bob, &carol.jid, NOTIFY).await?);
    assert!(!has(&mut bob, &carol.jid, "urn:extra").await?);
    // A late second answer to a finished query changes nothing (carol's own request after it
    // shows it was handled).
    answer(&mut carol, &id, &wrong).await?;
    let carol_jid = carol.jid.clone();
    assert!(!has(&mut carol, &carol_jid, "urn:extra").await?);
    assert!(has(&mut carol, &carol_jid, NOTIFY).await?);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_still_comes_online() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("capsy", CAPSY)).await?;
    let (_, ver) = disco(&[NOTIFY]);
    let mut alice = bound(&server, "alice").await?;
    alice.send(&caps_presence(&ver)).await?;
    query(&mut alice, &ver).await?;
    // The held event goes out after the query's timeout (5 s), without the features.
    let started = std::time::Instant::now();
    assert_eq!(from_capsy(&mut alice).await?, "online false");
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_three_api_versions_load_together() -> anyhow::Result<()> {
    let server = TestServer::start(&format!(
        "{}{}{}",
        plugin("capsy", CAPSY),
        plugin("narrow", "grants = [\"router\"]"),
        plugin("echo", "grants = [\"log\", \"router\", \"ephemeral\"]")
    ))
    .await?;
    let capsy = tessera::plugins::inspect(&fixture("capsy")).await?;
    assert_eq!(capsy.api_version, "0.1.2");
    assert!(
        capsy.unknown_imports.is_empty(),
        "{:?}",
        capsy.unknown_imports
    );
    assert_eq!(
        tessera::plugins::inspect(&fixture("narrow"))
            .await?
            .api_version,
        "0.1.1"
    );
    assert_eq!(
        tessera::plugins::inspect(&fixture("echo"))
            .await?
            .api_version,
        "0.1.0"
    );
    let mut alice = without_caps(&server, "alice").await?;
    alice.chat("echo.localhost", "three").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: three"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_without_the_grant_is_refused() -> anyhow::Result<()> {
    let Err(err) = TestServer::start(&plugin("capsy", "grants = [\"router\"]")).await else {
        anyhow::bail!("a plugin importing caps without the grant was loaded");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("add \"caps\" to plugins.capsy.grants"),
        "{msg}"
    );
    Ok(())
}
