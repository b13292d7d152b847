//! Issue 6, XEP-0388 SASL2 with XEP-0386 Bind 2: one round trip to a bound session with stream
//! management, carbons and client state set inline, inline XEP-0198 resumption after a dropped
//! connection, and the failure and fallback paths. Byte-exact with [`RawConn`] (whose SCRAM is
//! the `sasl` crate's, verifying the server signature), against tokio-xmpp clients on the other
//! side.

use tessera_tests::parsers::presence::{Presence, Show};
use tessera_tests::raw::{closes_element, element_text};
use tessera_tests::{RawConn, TestClient, TestServer, xmppjs};

use crate::support::{befriend, chat, jid};

const PW: &str = "a password";
const AGENT: &str =
    "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>Test</software></user-agent>";

async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    Ok(server)
}

/// A Bind 2 request with `tag` and the inline requests `enable` (serialised).
fn bind(tag: &str, enable: &str) -> String {
    format!("<bind xmlns='urn:xmpp:bind:0'><tag>{tag}</tag>{enable}</bind>")
}

const SM_RESUME: &str = "<enable xmlns='urn:xmpp:sm:3' resume='true'/>";
const CARBONS: &str = "<enable xmlns='urn:xmpp:carbons:2'/>";

/// alice over SASL2 + Bind 2 with `extra`; returns the connection and the `<success/>` text.
async fn alice(server: &TestServer, extra: &str) -> anyhow::Result<(RawConn, String)> {
    let (mut conn, features) =
        RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    assert!(
        features.contains("<authentication xmlns='urn:xmpp:sasl:2'>"),
        "SASL2 is offered: {features}"
    );
    let success = conn.sasl2("alice", PW, extra).await?;
    Ok((conn, success))
}

/// The value of the first `name='…'` attribute in `text`.
fn attr(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!(" {name}='"))? + name.len() + 3;
    let len = text[start..].find('\'')?;
    Some(text[start..start + len].to_owned())
}

#[tokio::test]
async fn the_feature_names_mechanisms_bind2_and_what_it_can_enable() -> anyhow::Result<()> {
    let server = server().await?;
    let (_, features) = RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    let start = features
        .find("<authentication xmlns='urn:xmpp:sasl:2'>")
        .expect("the SASL2 feature");
    let sasl2 = &features[start..features.find("</authentication>").expect("closed")];
    assert!(
        sasl2.contains("<mechanism>SCRAM-SHA-256</mechanism>"),
        "{sasl2}"
    );
    assert!(
        sasl2.contains("<bind xmlns='urn:xmpp:bind:0'><inline>"),
        "{sasl2}"
    );
    for var in ["urn:xmpp:carbons:2", "urn:xmpp:csi:0", "urn:xmpp:sm:3"] {
        assert!(
            sasl2.contains(&format!("<feature var='{var}'/>")),
            "{var}: {sasl2}"
        );
    }
    assert!(
        sasl2.contains("</bind><sm xmlns='urn:xmpp:sm:3'/>"),
        "inline resumption is offered: {sasl2}"
    );
    // The RFC 6120 profile stays for older clients.
    assert!(features.contains("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"));
    Ok(())
}

#[tokio::test]
async fn one_round_trip_binds_a_session_with_stream_management_and_it_works() -> anyhow::Result<()>
{
    let server = server().await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let (mut alice, success) = alice(
        &server,
        &format!("{AGENT}{}", bind("Tessera Test", SM_RESUME)),
    )
    .await?;

    // §2.2.1: `tag/identifier`; the authorization identifier is the full JID.
    let authz = element_text(&success, "authorization-identifier").expect("identifier");
    let resource = authz
        .strip_prefix("alice@localhost/Tessera Test/")
        .unwrap_or_else(|| panic!("tag/identifier: {authz}"));
    assert_eq!(resource.len(), 16, "{authz}");
    assert!(
        !authz.contains("d4565fa7"),
        "the user-agent id is never shown: {authz}"
    );
    // XEP-0198 enabled inside `<bound/>`, with resumption; the features after `<success/>`
    // no longer offer it (nor binding).
    assert!(
        success.contains("<bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='"),
        "{success}"
    );
    assert!(success.contains("resume='true'"), "{success}");
    let features = &success[success
        .find("<stream:features>")
        .expect("features after success")..];
    assert!(!features.contains("urn:xmpp:sm:3"), "{features}");
    assert!(!features.contains("xmpp-bind"), "{features}");
    assert!(
        features.contains("<csi xmlns='urn:xmpp:csi:0'/>"),
        "{features}"
    );

    // No restart: stanzas flow at once, and stream management counts them.
    alice
        .send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")
        .await?;
    let answer = alice
        .read_until("pong and ack", |t| {
            t.contains("id='p1'") && t.contains("<a xmlns='urn:xmpp:sm:3'")
        })
        .await?;
    assert!(
        answer.contains("<a xmlns='urn:xmpp:sm:3' h='1'/>"),
        "{answer}"
    );
    bob.send(chat(jid(authz), "over bind 2")).await?;
    alice
        .read_until("bob's message", |t| t.contains(">over bind 2<"))
        .await?;

    // The same client (same user-agent id and tag) logging in again gets the same resource,
    // and its earlier session is replaced (§2.2).
    let (_again, success) =
        self::alice(&server, &format!("{AGENT}{}", bind("Tessera Test", ""))).await?;
    assert_eq!(
        element_text(&success, "authorization-identifier"),
        Some(authz),
        "{success}"
    );
    let closed = alice.read_to_close().await?;
    assert!(
        closed.contains("<conflict"),
        "the old session is replaced: {closed}"
    );
    // Another installation gets another resource.
    let (_other, success) = self::alice(
        &server,
        &format!(
            "<user-agent id='0e5b0c43-6f0a-4b7c-9d3e-2f1a6c9b8e71'/>{}",
            bind("Tessera Test", "")
        ),
    )
    .await?;
    let other = element_text(&success, "authorization-identifier").expect("identifier");
    assert_ne!(other, authz);
    assert!(
        other.starts_with("alice@localhost/Tessera Test/"),
        "{other}"
    );
    Ok(())
}

#[tokio::test]
async fn inline_resumption_after_a_dropped_connection_resends_every_unacked_message_once()
-> anyhow::Result<()> {
    let server = server().await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let (mut alice, success) =
        alice(&server, &format!("{AGENT}{}", bind("phone", SM_RESUME))).await?;
    let full = element_text(&success, "authorization-identifier")
        .expect("identifier")
        .to_owned();
    let previd = attr(&success, "id").expect("a resumption id");
    for n in 1..=3 {
        bob.send(chat(jid(&full), &format!("m{n}"))).await?;
    }
    alice
        .read_until("three messages", |t| t.contains(">m3<"))
        .await?;
    // alice acknowledges m1 only, and the connection drops without a word.
    alice.send("<a xmlns='urn:xmpp:sm:3' h='0'/>").await?;
    drop(alice);

    // She comes back with SASL2, resuming inline; the bind request is ignored (XEP-0386 §2.2).
    let (mut again, resumed) = self::alice(
        &server,
        &format!(
            "{AGENT}<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='1'/>{}",
            bind("phone", SM_RESUME)
        ),
    )
    .await?;
    assert!(
        resumed.contains(&format!(
            "<resumed xmlns='urn:xmpp:sm:3' previd='{previd}' h='0'/>"
        )),
        "{resumed}"
    );
    assert!(!resumed.contains("<bound"), "no new binding: {resumed}");
    assert_eq!(
        element_text(&resumed, "authorization-identifier"),
        Some(full.as_str())
    );
    let rest = if resumed.contains(">m3<") {
        resumed
    } else {
        let more = again
            .read_until("resent messages", |t| t.contains(">m3<"))
            .await?;
        format!("{resumed}{more}")
    };
    assert_eq!(
        rest.matches(">m1<").count(),
        0,
        "m1 was acknowledged: {rest}"
    );
    assert_eq!(rest.matches(">m2<").count(), 1, "{rest}");
    assert_eq!(rest.matches(">m3<").count(), 1, "{rest}");

    // The session goes on over the new connection.
    bob.send(chat(jid(&full), "m4")).await?;
    again.read_until("m4", |t| t.contains(">m4<")).await?;

    // A resumption of an unknown stream fails inside `<success/>`, and binding goes on.
    let (_third, success) = self::alice(
        &server,
        &format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='no-such-stream' h='0'/>{}",
            bind("laptop", "")
        ),
    )
    .await?;
    assert!(
        success.contains("<failed xmlns='urn:xmpp:sm:3'><item-not-found"),
        "{success}"
    );
    assert!(
        success.contains("<bound xmlns='urn:xmpp:bind:0'"),
        "{success}"
    );
    let laptop = element_text(&success, "authorization-identifier").expect("identifier");
    assert!(laptop.starts_with("alice@localhost/laptop/"), "{laptop}");
    Ok(())
}

#[tokio::test]
async fn inline_carbons_and_client_state() -> anyhow::Result<()> {
    let server = server().await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut friend = TestClient::connect(&server, "alice", PW).await?;
    befriend(&mut friend, &mut bob).await?;
    friend.close().await?;

    // Two sessions with carbons enabled inline; the second starts inactive (XEP-0352).
    let (mut phone, success) = alice(&server, &bind("phone", CARBONS)).await?;
    let phone_jid = element_text(&success, "authorization-identifier")
        .unwrap()
        .to_owned();
    let (mut tablet, success) = alice(
        &server,
        &bind(
            "tablet",
            &format!("{CARBONS}<inactive xmlns='urn:xmpp:csi:0'/>"),
        ),
    )
    .await?;
    assert!(
        !success.contains("<iq"),
        "the plugin's answer to the inline enable is not shown: {success}"
    );
    phone.send("<presence/>").await?;
    tablet.send("<presence/>").await?;
    phone
        .read_until("own presence", |t| t.contains("<presence"))
        .await?;

    // bob changes his status twice; then he writes to the phone, and the tablet gets a carbon
    // copy at once (a message that matters). The inactive tablet was spared the first status:
    // what it was held is coalesced to bob's latest, flushed ahead of the copy to keep order.
    bob.send(Presence::available().with_show(Show::Away))
        .await?;
    bob.send(Presence::available().with_show(Show::Dnd)).await?;
    phone
        .read_until("bob's dnd", |t| t.contains("<show>dnd</show>"))
        .await?;
    bob.send(chat(jid(&phone_jid), "carbon me")).await?;
    phone
        .read_until("the original", |t| t.contains(">carbon me<"))
        .await?;
    let copy = tablet
        .read_until("the carbon", |t| t.contains(">carbon me<"))
        .await?;
    assert!(
        copy.contains("<received xmlns='urn:xmpp:carbons:2'>"),
        "{copy}"
    );
    assert!(copy.contains("<show>dnd</show>"), "{copy}");
    assert!(
        !copy.contains("<show>away</show>"),
        "inactive: no presence flood: {copy}"
    );
    assert!(!copy.contains("id='bind2-"), "{copy}");
    Ok(())
}

#[tokio::test]
async fn failures_leave_the_stream_as_it_was_and_sasl2_works_without_bind() -> anyhow::Result<()> {
    let server = server().await?;
    let (mut conn, _) = RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    let err = conn
        .sasl2("alice", "wrong", "")
        .await
        .expect_err("wrong password");
    let text = err.to_string();
    assert!(
        text.contains("<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
        "{text}"
    );
    // Same stream, right password, no Bind 2: the bare JID, then the features of the
    // authenticated stream (no restart), where RFC 6120 binding follows.
    let success = conn.sasl2("alice", PW, "").await?;
    assert_eq!(
        element_text(&success, "authorization-identifier"),
        Some("alice@localhost")
    );
    assert!(
        success.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"),
        "{success}"
    );
    let full = conn.bind("desk").await?;
    assert_eq!(full, "alice@localhost/desk");
    // An `upgrade` we never offered fails the attempt (XEP-0388 §2.3).
    let (mut other, _) = RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    other
        .send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256' upgrade='UPGR-SCRAM-SHA-512'><initial-response>biwsbj1hbGljZSxyPWFiYw==</initial-response></authenticate>")
        .await?;
    let failure = other
        .read_until("failure", |t| closes_element(t, "failure"))
        .await?;
    assert!(failure.contains("<invalid-mechanism"), "{failure}");
    Ok(())
}

#[tokio::test]
async fn xmpp_js_logs_in_with_sasl2_and_bind2_and_resumes_inline_after_a_cut() -> anyhow::Result<()>
{
    let server = server().await?;
    let Some(run) = xmppjs::run_script(&server, "sasl2_resume.mjs", &[]).await? else {
        return Ok(());
    };
    let what = format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(0), "{what}");
    for line in [
        "login sasl2",
        "bound tag/identifier",
        "sm enabled-resumable",
        "resumed sasl2 same-jid=true",
        // Each message exactly once: m1 before the cut, m2 and m3 resent on resumption.
        "bodies m1,m2,m3",
        // The password login got a FAST token (XEP-0484), and the reconnection used it.
        "tokens 1",
        "mechanisms SCRAM-SHA-1,HT-SHA-256-NONE",
    ] {
        assert!(run.has_result(line), "{line}: {what}");
    }
    Ok(())
}

const REQUEST_TOKEN: &str = "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>";

/// The token and expiry of the `<token/>` in `success`.
fn token(success: &str) -> Option<(String, String)> {
    let at = success.find("<token xmlns='urn:xmpp:fast:0'")?;
    let el = &success[at..];
    Some((attr(el, "token")?, attr(el, "expiry")?))
}

/// A fresh encrypted connection, as alice's FAST-capable client.
async fn connect(server: &TestServer) -> anyhow::Result<RawConn> {
    Ok(
        RawConn::encrypted(server.c2s_addr(), server.ca.client_config())
            .await?
            .0,
    )
}

#[tokio::test]
async fn fast_tokens_log_in_in_one_round_trip_rotate_and_are_invalidated() -> anyhow::Result<()> {
    // Many refused logins on purpose: the failure throttle (which counts token logins too) must
    // not get in the way.
    let server = TestServer::with_config(
        "[sasl]\nmax_failures_per_ip = 100\nmax_failures_per_account = 100\n",
    )
    .await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let (_, features) = RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    assert!(
        features.contains(
            "<fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-EXPR</mechanism>\
             <mechanism>HT-SHA-256-NONE</mechanism></fast>"
        ),
        "FAST in the SASL2 inline features, channel binding first: {features}"
    );

    // A password login asks for a token (XEP-0484 §5).
    let (_first, success) = alice(
        &server,
        &format!("{AGENT}{REQUEST_TOKEN}{}", bind("fast", "")),
    )
    .await?;
    let (t1, expiry) = token(&success).expect("a token");
    assert!(t1.len() >= 32, "{t1}");
    let expires = chrono::DateTime::parse_from_rfc3339(&expiry)?;
    let days = (expires.to_utc() - chrono::Utc::now()).num_days();
    assert!((13..=14).contains(&days), "the default lifetime: {expiry}");

    // The token logs in, in one round trip, bound with Bind 2 like a password login.
    let mut conn = connect(&server).await?;
    let success = conn
        .sasl2_fast("alice", &t1, "", &format!("{AGENT}{}", bind("fast", "")))
        .await?;
    assert!(
        success.contains("<bound xmlns='urn:xmpp:bind:0'"),
        "{success}"
    );
    assert!(
        token(&success).is_none(),
        "a fresh token is not rotated: {success}"
    );

    // Only for the installation it was issued to, and only the right token.
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast(
            "alice",
            &t1,
            "",
            "<user-agent id='0e5b0c43-6f0a-4b7c-9d3e-2f1a6c9b8e71'/>",
        )
        .await
        .expect_err("another installation");
    assert!(err.to_string().contains("<not-authorized"), "{err}");
    let err = conn
        .sasl2_fast("alice", "not the token", "", AGENT)
        .await
        .expect_err("a wrong token");
    assert!(err.to_string().contains("<not-authorized"), "{err}");
    let err = conn
        .sasl2_fast("bob", &t1, "", AGENT)
        .await
        .expect_err("another account");
    assert!(err.to_string().contains("<not-authorized"), "{err}");

    // Asking again gives a new token; until it is used the old one still works (§6.1)...
    let mut conn = connect(&server).await?;
    let success = conn
        .sasl2_fast("alice", &t1, "", &format!("{AGENT}{REQUEST_TOKEN}"))
        .await?;
    let (t2, _) = token(&success).expect("a new token");
    assert_ne!(t1, t2);
    let mut conn = connect(&server).await?;
    conn.sasl2_fast("alice", &t1, "", AGENT).await?;
    // ...and once it is, the old one is gone.
    let mut conn = connect(&server).await?;
    conn.sasl2_fast("alice", &t2, "", AGENT).await?;
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast("alice", &t1, "", AGENT)
        .await
        .expect_err("retired by the newer token");
    assert!(err.to_string().contains("<not-authorized"), "{err}");

    // A token is bound to the mechanism it was issued for (§4): t2 (NONE) fails with
    // HT-SHA-256-EXPR; one issued for EXPR logs in bound to this TLS connection.
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast_bound("alice", &t2, AGENT)
        .await
        .expect_err("issued for another mechanism");
    assert!(err.to_string().contains("<not-authorized"), "{err}");
    let expr = "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>";
    let (_laptop, success) = alice(
        &server,
        &format!("<user-agent id='5c0d3f4e-9a1b-4c2d-8e7f-0a1b2c3d4e5f'/>{expr}"),
    )
    .await?;
    let (t3, _) = token(&success).expect("an EXPR token");
    let laptop_agent = "<user-agent id='5c0d3f4e-9a1b-4c2d-8e7f-0a1b2c3d4e5f'/>";
    let mut conn = connect(&server).await?;
    conn.sasl2_fast_bound("alice", &t3, laptop_agent).await?;
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast("alice", &t3, "", laptop_agent)
        .await
        .expect_err("an EXPR token without the binding");
    assert!(err.to_string().contains("<not-authorized"), "{err}");

    // Logging out with the token invalidates it (§6.2).
    let mut conn = connect(&server).await?;
    let success = conn
        .sasl2_fast("alice", &t2, " invalidate='true'", AGENT)
        .await?;
    assert!(token(&success).is_none(), "{success}");
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast("alice", &t2, "", AGENT)
        .await
        .expect_err("invalidated");
    assert!(err.to_string().contains("<not-authorized"), "{err}");
    Ok(())
}

#[tokio::test]
async fn fast_can_be_turned_off() -> anyhow::Result<()> {
    let server = TestServer::with_config("[sasl]\nfast_token_lifetime = \"0s\"\n").await?;
    server.add_user("alice", PW).await?;
    let (_, features) = RawConn::encrypted(server.c2s_addr(), server.ca.client_config()).await?;
    assert!(!features.contains("urn:xmpp:fast:0"), "{features}");
    let (_, success) = alice(&server, &format!("{AGENT}{REQUEST_TOKEN}")).await?;
    assert!(token(&success).is_none(), "{success}");
    Ok(())
}

#[tokio::test]
async fn failed_token_logins_count_toward_the_throttle() -> anyhow::Result<()> {
    let server = server().await?;
    let (_first, success) = alice(&server, &format!("{AGENT}{REQUEST_TOKEN}")).await?;
    let (token, _) = token(&success).expect("a token");
    // Five wrong tokens (the default `max_failures_per_account`)...
    for _ in 0..5 {
        let mut conn = connect(&server).await?;
        let err = conn
            .sasl2_fast("alice", "a guessed token", "", AGENT)
            .await
            .expect_err("wrong token");
        assert!(err.to_string().contains("<not-authorized"), "{err}");
    }
    // ...and even the right one waits, as a password would (guessing tokens is no way around it).
    let mut conn = connect(&server).await?;
    let err = conn
        .sasl2_fast("alice", &token, "", AGENT)
        .await
        .expect_err("throttled");
    assert!(err.to_string().contains("<temporary-auth-failure"), "{err}");
    Ok(())
}
