//! External Service Discovery (XEP-0215) with the `plugin-external-services` component, driven
//! by tokio-xmpp clients: issue 6 ("What modern and mobile clients need"), the STUN and TURN
//! servers a client needs for calls.
//!
//! The TURN credentials the server hands out verify with the shared secret, as the relay
//! (coturn with `use-auth-secret`) checks them, and expire within the configured lifetime; the
//! type filter and the credentials request; a bad config names its key.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use tessera_tests::parsers::date::DateTime;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{TestClient, TestServer};

use crate::support::{jid, server_disco};

const PW: &str = "a password for calls";
const EXTDISCO: &str = "urn:xmpp:extdisco:2";
const SECRET: &str = "shared with the relay, never with clients";
const LIFETIME_SECS: u64 = 2 * 3600;

/// The plugin's table as an operator writes it, with `services` appended.
fn config(services: &str) -> String {
    format!(
        "[plugins.external-services]\npath = {:?}\n\
         grants = [\"log\", \"router\", \"router.impersonate\", \"clock\"]\n\
         [plugins.external-services.config]\nsecret = {SECRET:?}\nlifetime = \"2h\"\n{services}",
        plugins_build::PLUGIN_EXTERNAL_SERVICES
    )
}

const SERVICES: &str = "\
    [[plugins.external-services.config.services]]\n\
    type = \"stun\"\nhost = \"stun.example.org\"\n\
    [[plugins.external-services.config.services]]\n\
    type = \"turn\"\nhost = \"turn.example.org\"\nport = 3478\ntransport = \"udp\"\nname = \"Relay\"\n\
    [[plugins.external-services.config.services]]\n\
    type = \"turn\"\nhost = \"turn.example.org\"\nport = 3478\ntransport = \"tcp\"\n\
    [[plugins.external-services.config.services]]\n\
    type = \"turns\"\nhost = \"turn.example.org\"\n";

async fn setup() -> anyhow::Result<(TestServer, TestClient)> {
    let server = TestServer::with_config(&config(SERVICES)).await?;
    server.add_user("alice", PW).await?;
    let alice = TestClient::connect(&server, "alice", PW).await?;
    Ok((server, alice))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sends a get of `payload` to `to`; the result's payload, or the error's condition.
async fn get(
    client: &mut TestClient,
    to: Option<&str>,
    payload: &str,
) -> anyhow::Result<Result<Element, DefinedCondition>> {
    match client
        .iq(to.map(jid), IqRequest::Get(payload.parse()?))
        .await?
    {
        IqResponse::Result(Some(p)) => Ok(Ok(p)),
        IqResponse::Error(e) => Ok(Err(e.defined_condition)),
        other => anyhow::bail!("answered {other:?}"),
    }
}

/// (type, host, port, transport) of each `<service/>` in `list`.
fn summary(list: &Element) -> Vec<(String, String, String, String)> {
    list.children()
        .filter(|s| s.is("service", EXTDISCO))
        .map(|s| {
            let a = |n: &str| s.attr(n).unwrap_or_default().to_owned();
            (a("type"), a("host"), a("port"), a("transport"))
        })
        .collect()
}

/// Checks a restricted service's credentials as the relay does (coturn's TURN REST scheme):
/// the username is `<expiry>:<bare JID>`, the expiry lies ahead within the lifetime, the
/// password is base64(HMAC-SHA1(secret, username)), and `expires` (XEP-0082) is the same instant.
fn assert_relay_accepts(service: &Element, user: &str, asked_at: u64) -> anyhow::Result<()> {
    let username = service
        .attr("username")
        .ok_or_else(|| anyhow::anyhow!("no username"))?;
    let password = service
        .attr("password")
        .ok_or_else(|| anyhow::anyhow!("no password"))?;
    let (expiry, who) = username
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("username {username:?} is not <expiry>:<user>"))?;
    assert_eq!(who, user);
    let expiry: u64 = expiry.parse()?;
    let answered_by = now_secs();
    assert!(
        expiry >= asked_at + LIFETIME_SECS && expiry <= answered_by + LIFETIME_SECS,
        "expiry {expiry} is the lifetime ahead of the request ({asked_at}..={answered_by})"
    );
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes())?;
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(password, expected, "the relay would refuse this password");
    let expires = DateTime::from_str(
        service
            .attr("expires")
            .ok_or_else(|| anyhow::anyhow!("no expires"))?,
    )?;
    assert_eq!(u64::try_from(expires.0.timestamp())?, expiry);
    assert_eq!(service.attr("restricted"), Some("1"));
    Ok(())
}

/// The list (XEP-0215 §3.1), asked of the server and with no `to`: every service in the
/// operator's order, STUN open, each TURN service with credentials that verify with the shared
/// secret and expire `lifetime` ahead. disco#info announces the protocol (§5).
#[tokio::test]
async fn turn_credentials_verify_with_the_shared_secret() -> anyhow::Result<()> {
    let (_server, mut alice) = setup().await?;
    for to in [Some("localhost"), None] {
        let asked_at = now_secs();
        let list = get(&mut alice, to, &format!("<services xmlns='{EXTDISCO}'/>"))
            .await?
            .map_err(refused)?;
        assert!(list.is("services", EXTDISCO));
        let s = |t: &str, h: &str, p: &str, tr: &str| (t.into(), h.into(), p.into(), tr.into());
        assert_eq!(
            summary(&list),
            [
                s("stun", "stun.example.org", "3478", "udp"),
                s("turn", "turn.example.org", "3478", "udp"),
                s("turn", "turn.example.org", "3478", "tcp"),
                s("turns", "turn.example.org", "5349", "tcp"),
            ],
            "to {to:?}"
        );
        let services: Vec<&Element> = list.children().collect();
        assert_eq!(
            services[0].attr("password"),
            None,
            "STUN needs no credentials"
        );
        assert_eq!(services[1].attr("name"), Some("Relay"));
        for turn in &services[1..] {
            assert_relay_accepts(turn, "alice@localhost", asked_at)?;
        }
    }

    let info = server_disco(&mut alice).await?;
    assert!(
        info.features.iter().any(|f| f == EXTDISCO),
        "{:?}",
        info.features
    );
    alice.close().await
}

/// §3.2: `type` keeps the services of one type, and the answer echoes it; a type nobody serves
/// is an empty list.
#[tokio::test]
async fn the_type_filter_selects_services() -> anyhow::Result<()> {
    let (_server, mut alice) = setup().await?;
    let stun = get(
        &mut alice,
        Some("localhost"),
        &format!("<services xmlns='{EXTDISCO}' type='stun'/>"),
    )
    .await?
    .map_err(refused)?;
    assert_eq!(stun.attr("type"), Some("stun"));
    assert_eq!(
        summary(&stun),
        [(
            "stun".into(),
            "stun.example.org".into(),
            "3478".into(),
            "udp".into()
        )]
    );
    let asked_at = now_secs();
    let turn = get(
        &mut alice,
        Some("localhost"),
        &format!("<services xmlns='{EXTDISCO}' type='turn'/>"),
    )
    .await?
    .map_err(refused)?;
    assert_eq!(
        summary(&turn)
            .iter()
            .map(|s| s.3.as_str())
            .collect::<Vec<_>>(),
        ["udp", "tcp"]
    );
    for s in turn.children() {
        assert_relay_accepts(s, "alice@localhost", asked_at)?;
    }
    let none = get(
        &mut alice,
        Some("localhost"),
        &format!("<services xmlns='{EXTDISCO}' type='ftp'/>"),
    )
    .await?
    .map_err(refused)?;
    assert_eq!(none.children().count(), 0);
    alice.close().await
}

/// §3.3: a client that knows the relay asks for credentials by host and type and gets fresh
/// ones for every matching service; an unknown service is `item-not-found`, a request without
/// `host` `bad-request`.
#[tokio::test]
async fn credentials_are_issued_on_request() -> anyhow::Result<()> {
    let (server, mut alice) = setup().await?;
    let asked_at = now_secs();
    let creds = get(
        &mut alice,
        Some("localhost"),
        &format!("<credentials xmlns='{EXTDISCO}'><service host='turn.example.org' type='turns'/></credentials>"),
    )
    .await?.map_err(refused)?;
    assert!(creds.is("credentials", EXTDISCO));
    assert_eq!(
        summary(&creds),
        [(
            "turns".into(),
            "turn.example.org".into(),
            "5349".into(),
            "tcp".into()
        )]
    );
    assert_relay_accepts(
        creds.children().next().expect("one service"),
        "alice@localhost",
        asked_at,
    )?;

    let unknown = get(
        &mut alice,
        Some("localhost"),
        &format!("<credentials xmlns='{EXTDISCO}'><service host='relay.example.net' type='turn'/></credentials>"),
    )
    .await?;
    assert_eq!(unknown, Err(DefinedCondition::ItemNotFound));
    let no_host = get(
        &mut alice,
        Some("localhost"),
        &format!("<credentials xmlns='{EXTDISCO}'><service type='turn'/></credentials>"),
    )
    .await?;
    assert_eq!(no_host, Err(DefinedCondition::BadRequest));

    // Each account gets credentials in its own name.
    server.add_user("bob", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let asked_at = now_secs();
    let list = get(
        &mut bob,
        None,
        &format!("<services xmlns='{EXTDISCO}' type='turns'/>"),
    )
    .await?
    .map_err(refused)?;
    assert_relay_accepts(
        list.children().next().expect("one service"),
        "bob@localhost",
        asked_at,
    )?;
    alice.close().await?;
    bob.close().await
}

/// The operator's mistakes stop the server at start-up, naming the key; the secret is never in
/// the message.
#[tokio::test]
async fn a_bad_config_names_its_key() -> anyhow::Result<()> {
    for (services, key) in [
        (
            "[[plugins.external-services.config.services]]\ntype = \"turn\"\nhost = \"t\"\nport = 0\n",
            "services[0].port",
        ),
        (
            "[[plugins.external-services.config.services]]\ntype = \"turn\"\nhots = \"t\"\n",
            "services[0]: unknown field `hots`",
        ),
        ("", "services: "),
    ] {
        let err = match TestServer::with_config(&config(services)).await {
            Ok(_) => anyhow::bail!("{services:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(key), "{services:?}: {err}");
        assert!(!err.contains(SECRET), "{err}");
    }
    Ok(())
}

/// An error answer where a result was expected, for `?`.
fn refused(condition: DefinedCondition) -> anyhow::Error {
    anyhow::anyhow!("the server refused: {condition:?}")
}
