//! The session layer (RFC 6120 §4.6, §7; XEP-0199, XEP-0478) and the server's own IQs
//! (RFC 6120 §8.2.3, §8.4; XEP-0092, XEP-0202): idle pings, resource conflicts, the legacy
//! session request, post-SASL stream features, and account removal.
//!
//! Most of it is driven through [`RawConn`], because what is under test is the exact wire
//! behaviour (a stream error, an IQ error during bind) that a real client hides.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::Type as PresenceType;
use tessera_tests::parsers::sasl::DefinedCondition as SaslCondition;
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::parsers::time::{TimeQuery, TimeResult};
use tessera_tests::parsers::version::{VersionQuery, VersionResult};
use tessera_tests::raw::closes_element;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{ClientOptions, LoginError, RawConn, TestClient, TestServer, try_login};

use crate::support::{bare, befriend, is_message, is_presence, jid};

const PW: &str = "alice's password";

async fn server_with_alice(extra_toml: &str) -> anyhow::Result<TestServer> {
    let server = TestServer::with_config(extra_toml).await?;
    server.add_user("alice", PW).await?;
    Ok(server)
}

/// Negotiates up to (not including) resource binding: STARTTLS, SCRAM-SHA-256, and the restart.
/// Returns the connection and the post-SASL stream features (RFC 6120 §6.4.6).
async fn authenticated(server: &TestServer) -> anyhow::Result<(RawConn, String)> {
    let mut conn = RawConn::connect(server.c2s_addr()).await?;
    conn.open_stream().await?;
    conn.starttls(server.ca.client_config()).await?;
    conn.open_stream().await?;
    conn.authenticate("SCRAM-SHA-256", "alice", PW).await?;
    let features = conn.open_stream().await?;
    Ok((conn, features))
}

/// Sends a bind request for `resource` (RFC 6120 §7.5) and returns the whole answer.
async fn bind_raw(conn: &mut RawConn, resource: &str) -> anyhow::Result<String> {
    conn.send(format!(
        "<iq type='set' id='bind-{resource}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>{resource}</resource></bind></iq>"
    ))
    .await?;
    conn.read_until("bind answer", |t| closes_element(t, "iq"))
        .await
}

/// Logs alice in on a raw socket with `resource`; returns the connection and the bound JID.
async fn raw_login(server: &TestServer, resource: &str) -> anyhow::Result<(RawConn, String)> {
    RawConn::login(
        server.c2s_addr(),
        server.ca.client_config(),
        "alice",
        PW,
        resource,
    )
    .await
}

/// Proves a raw session is still served: a ping to the server is answered (XEP-0199 §4.2).
async fn still_up(conn: &mut RawConn, id: &str) -> anyhow::Result<()> {
    conn.send(format!(
        "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await?;
    let reply = conn
        .read_until("ping answer", |t| t.contains(&format!("id='{id}'")))
        .await?;
    assert!(
        reply.contains("type='result'"),
        "ping not answered: {reply}"
    );
    Ok(())
}

/// The value of `attr` on the first element in `text` that has it (either quote style).
fn attr<'t>(text: &'t str, attr: &str) -> Option<&'t str> {
    ['\'', '"'].into_iter().find_map(|q| {
        let start = text.find(&format!(" {attr}={q}"))? + attr.len() + 3;
        let len = text[start..].find(q)?;
        Some(&text[start..start + len])
    })
}

/// XEP-0199 §4.2 and RFC 6120 §4.6.1 / §4.9.3.4: a silent client is pinged after
/// `idle_timeout`; if it does not answer within `ping_timeout` its stream ends with
/// `connection-timeout`. A client that answers (here with an error: any reply counts) is kept
/// past that deadline and pinged again.
#[tokio::test]
async fn idle_client_is_pinged_then_timed_out() -> anyhow::Result<()> {
    let server =
        server_with_alice("[limits]\nidle_timeout = \"1s\"\nping_timeout = \"1s\"\n").await?;
    // Taken before the login, so the session's timers cannot have started earlier.
    let start = tokio::time::Instant::now();
    let (mut silent, silent_jid) = raw_login(&server, "silent").await?;
    let (mut polite, _) = raw_login(&server, "polite").await?;

    let silent_side = async {
        let ping = silent.read_until_contains("urn:xmpp:ping").await?;
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "pinged before idle_timeout: {:?}",
            start.elapsed()
        );
        assert!(ping.contains("type='get'"), "not a ping request: {ping}");
        assert_eq!(attr(&ping, "to"), Some(silent_jid.as_str()), "{ping}");
        let rest = silent.read_to_close().await?;
        assert!(
            rest.contains("connection-timeout"),
            "expected connection-timeout: {rest}"
        );
        // The close waits out idle_timeout, then ping_timeout.
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "closed before idle_timeout + ping_timeout: {:?}",
            start.elapsed()
        );
        anyhow::Ok(())
    };
    let polite_side = async {
        let ping = polite.read_until_contains("urn:xmpp:ping").await?;
        let id = attr(&ping, "id").map(str::to_owned);
        let id = id.ok_or_else(|| anyhow::anyhow!("ping without id: {ping}"))?;
        polite
            .send(format!(
                "<iq type='error' id='{id}' to='localhost'><error type='cancel'>\
                 <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            ))
            .await?;
        // The next ping comes one idle period after the answer, so after the first ping's
        // deadline: had the answer not counted, the stream would have ended instead.
        let again = polite
            .read_until("second ping or close", |t| {
                t.contains("urn:xmpp:ping") || t.contains("connection-timeout")
            })
            .await?;
        assert!(!again.contains("connection-timeout"), "{again}");
        let id = attr(&again, "id").unwrap_or_default().to_owned();
        polite
            .send(format!("<iq type='result' id='{id}' to='localhost'/>"))
            .await?;
        still_up(&mut polite, "alive").await
    };
    let (silent_side, polite_side) = tokio::join!(silent_side, polite_side);
    silent_side?;
    polite_side?;
    assert!(server.is_running());
    Ok(())
}

/// RFC 6120 §7.7.2.2, policy "kick-old" (the default): the old session ends with a `conflict`
/// stream error and the new one is bound to the same resource.
#[tokio::test]
async fn resource_conflict_kick_old() -> anyhow::Result<()> {
    let server = server_with_alice("").await?;
    let (mut old, old_jid) = raw_login(&server, "desk").await?;
    let (mut new, new_jid) = raw_login(&server, "desk").await?;
    assert_eq!(new_jid, "alice@localhost/desk");
    assert_eq!(old_jid, new_jid);
    let text = old.read_to_close().await?;
    assert!(
        text.contains("<conflict"),
        "old session not closed with conflict: {text}"
    );
    still_up(&mut new, "new-up").await
}

/// RFC 6120 §7.7.2.2, policy "refuse": the new bind gets an IQ error `conflict` and the old
/// session carries on; the refused client may bind another resource on the same stream.
#[tokio::test]
async fn resource_conflict_refuse() -> anyhow::Result<()> {
    let server = server_with_alice("[sessions]\nresource_conflict = \"refuse\"\n").await?;
    let (mut old, _) = raw_login(&server, "desk").await?;
    let (mut new, _) = authenticated(&server).await?;
    let reply = bind_raw(&mut new, "desk").await?;
    assert!(
        reply.contains("type='error'") && reply.contains("<conflict"),
        "{reply}"
    );
    let retry = bind_raw(&mut new, "phone").await?;
    assert!(
        retry.contains("<jid>alice@localhost/phone</jid>"),
        "{retry}"
    );
    still_up(&mut old, "old-up").await?;
    still_up(&mut new, "new-up").await
}

/// RFC 6120 §7.7.2.2, policy "rename": the new session is bound to a different,
/// server-generated resource (§7.6), and the old one carries on.
#[tokio::test]
async fn resource_conflict_rename() -> anyhow::Result<()> {
    let server = server_with_alice("[sessions]\nresource_conflict = \"rename\"\n").await?;
    let (mut old, old_jid) = raw_login(&server, "desk").await?;
    let (mut new, new_jid) = raw_login(&server, "desk").await?;
    assert_eq!(old_jid, "alice@localhost/desk");
    let resource = new_jid
        .strip_prefix("alice@localhost/")
        .ok_or_else(|| anyhow::anyhow!("renamed to another account: {new_jid}"))?;
    assert!(
        !resource.is_empty() && resource != "desk",
        "not renamed: {new_jid}"
    );
    still_up(&mut old, "old-up").await?;
    still_up(&mut new, "new-up").await
}

/// RFC 6120 §7.6.2.1: past `sessions.max_per_account`, a bind gets `resource-constraint`.
#[tokio::test]
async fn too_many_sessions_is_resource_constraint() -> anyhow::Result<()> {
    let server = server_with_alice("[sessions]\nmax_per_account = 2\n").await?;
    let (mut first, _) = raw_login(&server, "one").await?;
    let (_second, _) = raw_login(&server, "two").await?;
    let (mut third, _) = authenticated(&server).await?;
    let reply = bind_raw(&mut third, "three").await?;
    assert!(
        reply.contains("type='error'") && reply.contains("<resource-constraint"),
        "{reply}"
    );
    assert!(
        reply.contains("type='wait'"),
        "RFC 6120 §7.6.2.1 says wait: {reply}"
    );
    still_up(&mut first, "first-up").await
}

/// RFC 6120 §7.4 and §4.3.2: after SASL the features offer bind, the legacy session as
/// `<optional/>`, roster versioning (RFC 6121 §2.6.1), pre-approval (§3.4.1) and the limits of
/// XEP-0478 from the config. The legacy session request is answered with an empty result.
#[tokio::test]
async fn post_sasl_features_and_legacy_session() -> anyhow::Result<()> {
    let server =
        server_with_alice("[limits]\nstanza_bytes = 65536\nidle_timeout = \"90s\"\n").await?;
    let (mut conn, features) = authenticated(&server).await?;
    for needle in [
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'",
        "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>",
        "xmlns='urn:xmpp:features:rosterver'",
        "xmlns='urn:xmpp:features:pre-approval'",
        "<limits xmlns='urn:xmpp:stream-limits:0'>",
        "<max-bytes>65536</max-bytes>",
        "<idle-seconds>90</idle-seconds>",
    ] {
        assert!(features.contains(needle), "missing {needle}: {features}");
    }
    assert!(!features.contains("<mechanisms"), "SASL offered again");

    let bound = bind_raw(&mut conn, "r").await?;
    assert!(bound.contains("<jid>alice@localhost/r</jid>"), "{bound}");
    conn.send(
        "<iq type='set' id='sess-1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
    )
    .await?;
    let reply = conn
        .read_until("session answer", |t| closes_element(t, "iq"))
        .await?;
    assert!(
        reply.contains("type='result'") && reply.contains("id='sess-1'"),
        "{reply}"
    );
    assert!(
        reply.trim_end().ends_with("/>") && !reply.contains("<session"),
        "the result is empty: {reply}"
    );
    still_up(&mut conn, "after-session").await
}

/// XEP-0202 §3: the server answers with `utc` (close to our clock) and `tzo` (always +00:00,
/// so the server's location is not disclosed).
#[tokio::test]
async fn entity_time_has_utc_and_tzo() -> anyhow::Result<()> {
    let server = server_with_alice("").await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let time = match alice
        .iq(Some(jid("localhost")), IqRequest::Get(TimeQuery.into()))
        .await?
    {
        IqResponse::Result(Some(payload)) => TimeResult::try_from(payload)?,
        other => anyhow::bail!("time: {other:?}"),
    };
    assert_eq!(time.tz_offset.local_minus_utc(), 0);
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    assert!(
        (time.utc.timestamp() - now).abs() < 300,
        "server time {} is far from ours ({now})",
        time.utc
    );
    alice.close().await
}

async fn version_of(server: &TestServer) -> anyhow::Result<(IqResponse, DiscoInfoResult)> {
    let mut alice = TestClient::connect(server, "alice", PW).await?;
    let version = alice
        .iq(Some(jid("localhost")), IqRequest::Get(VersionQuery.into()))
        .await?;
    let query = Element::from(DiscoInfoQuery { node: None });
    let info = match alice
        .iq(Some(jid("localhost")), IqRequest::Get(query))
        .await?
    {
        IqResponse::Result(Some(payload)) => DiscoInfoResult::try_from(payload)?,
        other => anyhow::bail!("disco#info: {other:?}"),
    };
    alice.close().await?;
    Ok((version, info))
}

/// XEP-0092 is opt-in: by default a version query is `service-unavailable` (RFC 6120 §8.4) and
/// not advertised; with `features.version = true` the server answers `Tessera`, without `os`.
#[tokio::test]
async fn software_version_is_opt_in() -> anyhow::Result<()> {
    let (off, off_info) = version_of(&server_with_alice("").await?).await?;
    match off {
        IqResponse::Error(e) => {
            assert_eq!(e.defined_condition, DefinedCondition::ServiceUnavailable);
        }
        IqResponse::Result(r) => anyhow::bail!("version answered by default: {r:?}"),
    }
    assert!(!off_info.features.contains("jabber:iq:version"));

    let (on, on_info) =
        version_of(&server_with_alice("[features]\nversion = true\n").await?).await?;
    let version = match on {
        IqResponse::Result(Some(payload)) => VersionResult::try_from(payload)?,
        other => anyhow::bail!("version with features.version: {other:?}"),
    };
    assert_eq!(version.name, "Tessera");
    assert!(!version.version.is_empty());
    assert_eq!(version.os, None, "the OS is nobody's business");
    assert!(on_info.features.contains("jabber:iq:version"));
    Ok(())
}

/// RFC 6120 §8.4: an IQ in a namespace nobody serves is `service-unavailable`; §8.2.3: a get
/// with two children, or a set with none, is `bad-request`. The stream survives each.
#[tokio::test]
async fn unknown_and_malformed_iqs_to_the_server() -> anyhow::Result<()> {
    let server = server_with_alice("").await?;
    let (mut conn, _) = raw_login(&server, "r").await?;
    let cases = [
        (
            "unknown",
            "<iq type='get' id='unknown' to='localhost'><q xmlns='urn:example:nobody'/></iq>",
            "<service-unavailable",
        ),
        (
            "two",
            "<iq type='get' id='two' to='localhost'><ping xmlns='urn:xmpp:ping'/>\
             <time xmlns='urn:xmpp:time'/></iq>",
            "<bad-request",
        ),
        (
            "none",
            "<iq type='set' id='none' to='localhost'/>",
            "<bad-request",
        ),
    ];
    for (id, request, condition) in cases {
        conn.send(request).await?;
        let reply = conn
            .read_until(id, |t| {
                t.contains(&format!("id='{id}'")) && closes_element(t, "iq")
            })
            .await?;
        assert!(
            reply.contains("type='error'") && reply.contains(condition),
            "{id}: expected {condition}: {reply}"
        );
    }
    still_up(&mut conn, "after-errors").await
}

/// `tessera::accounts::remove` (as `tessera user remove` runs it, against the live server's
/// database) deletes the account; a login with the old password then fails with
/// `not-authorized` (RFC 6120 §6.5.10).
#[tokio::test]
async fn removed_account_cannot_log_in() -> anyhow::Result<()> {
    let server = server_with_alice("").await?;
    let opts = ClientOptions::default();
    try_login(&server, "alice", PW, &opts).await?;

    let storage = tessera::storage::Storage::open(&server.config().storage).await?;
    assert!(tessera::accounts::remove(&storage, "alice").await?);
    assert!(!storage.account_exists("alice").await?);
    // Removing it again finds nothing.
    assert!(!tessera::accounts::remove(&storage, "alice").await?);
    storage.close().await;

    match try_login(&server, "alice", PW, &opts).await {
        Err(LoginError::Failed(SaslCondition::NotAuthorized)) => Ok(()),
        other => anyhow::bail!("login after removal: {other:?}"),
    }
}

/// RFC 6120 §7.7.2.2 with RFC 6121 §4.5.2: when a new session takes over a resource, the old
/// session's `unavailable` must not reach contacts after the new session's `available`, or they
/// see an online resource as offline.
#[tokio::test]
async fn kicked_session_unavailable_precedes_new_available() -> anyhow::Result<()> {
    let server = server_with_alice("").await?;
    server.add_user("bob", "bob's password").await?;
    let mut phone = TestClient::connect(&server, "alice", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", "bob's password").await?;
    befriend(&mut phone, &mut bob).await?;
    phone.close().await?;

    let desk = jid("alice@localhost/desk");
    let (mut old, _) = raw_login(&server, "desk").await?;
    old.send("<presence/>").await?;
    bob.recv(|s| is_presence(s, &PresenceType::None, &desk))
        .await?;

    let (mut new, _) = authenticated(&server).await?;
    new.send(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>desk</resource></bind></iq><presence/>",
    )
    .await?;
    let closed = old.read_to_close().await?;
    assert!(closed.contains("<conflict"), "{closed}");
    // The old session's broadcasts are queued before its stream error is written, so a message
    // the new session sends now reaches bob after all of them.
    new.send(format!(
        "<message to='{}' type='chat'><body>marker</body></message>",
        bob.jid()
    ))
    .await?;
    let alice = bare("alice@localhost");
    bob.recv(|s| is_message(s, &alice, "marker")).await?;
    let mut last = None;
    while let Ok(Stanza::Presence(p)) = bob
        .recv_until(
            |s| matches!(s, Stanza::Presence(p) if p.from.as_ref() == Some(&desk)),
            Duration::ZERO,
        )
        .await
    {
        last = Some(p.type_);
    }
    assert_eq!(
        last,
        Some(PresenceType::None),
        "bob last saw desk as {last:?}"
    );
    bob.close().await
}
