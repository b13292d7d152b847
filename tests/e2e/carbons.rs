//! Issue 4, Message Carbons (XEP-0280) with the real `plugin-carbons` component: slixmpp's
//! `xep_0280` on one of alice's resources (`tests/py/carbons.py`), tokio-xmpp for her other
//! resource and for bob; and a tokio-xmpp-only run of the same rules that needs no Python.

use std::process::Stdio;

use anyhow::Context as _;
use tessera_tests::parsers::message::Message;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::Presence;
use tessera_tests::tokio_xmpp::jid::{BareJid, Jid};
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{ClientOptions, TIMEOUT, TestClient, TestServer, slix};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::support::{bare, chat, is_message, jid};

const PW: &str = "a password";
const CARBONS: &str = "urn:xmpp:carbons:2";

fn config() -> String {
    format!(
        "[plugins.carbons]\npath = {:?}\n\
         grants = [\"log\", \"router\", \"router.impersonate\", \"ephemeral\", \"sessions\"]\n",
        plugins_build::PLUGIN_CARBONS
    )
}

async fn setup() -> anyhow::Result<TestServer> {
    let server = TestServer::with_config(&config()).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    Ok(server)
}

async fn resource(server: &TestServer, name: &str) -> anyhow::Result<TestClient> {
    let opts = ClientOptions {
        resource: Some(name.to_owned()),
        ..ClientOptions::default()
    };
    let mut client = TestClient::connect_with(server, "alice", PW, &opts).await?;
    client.send(Presence::available()).await?;
    Ok(client)
}

fn private(mut m: Message) -> Message {
    m.payloads
        .push(Element::builder("private", CARBONS).build());
    m
}

/// The body of the message a `sent` or `received` carbon from `account` forwards.
fn carbon_body(stanza: &Stanza, account: &BareJid, direction: &str) -> Option<String> {
    let Stanza::Message(m) = stanza else {
        return None;
    };
    // XEP-0280 §11: a carbon must come from the account's own bare JID.
    if m.from.as_ref() != Some(&Jid::from(account.clone())) {
        return None;
    }
    let inner = m
        .payloads
        .iter()
        .find(|p| p.is(direction, CARBONS))?
        .get_child("forwarded", "urn:xmpp:forward:0")?
        .get_child("message", "jabber:client")?;
    inner.get_child("body", "jabber:client").map(Element::text)
}

/// tokio-xmpp only: alice's desk enables carbons; a message bob sends to her phone reaches the
/// desk as `received`, one the phone sends to bob as `sent`; a `<private/>` one is not copied
/// (it would arrive before the later `sent` copy, which the desk's first copy must be).
#[tokio::test]
async fn carbons_reach_the_enabled_resource() -> anyhow::Result<()> {
    let server = setup().await?;
    let mut desk = resource(&server, "desk").await?;
    let enable = Element::builder("enable", CARBONS).build();
    match desk.iq(None, IqRequest::Set(enable)).await? {
        IqResponse::Result(_) => {}
        IqResponse::Error(e) => anyhow::bail!("enable refused: {e:?}"),
    }
    let mut phone = resource(&server, "phone").await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    // Available, so messages to his bare JID reach him (RFC 6121 §8.5.2.1).
    bob.send(Presence::available()).await?;
    let alice = bare("alice@localhost");

    bob.send(chat(jid("alice@localhost/phone"), "to the phone"))
        .await?;
    phone
        .recv(|s| is_message(s, &bare("bob@localhost"), "to the phone"))
        .await?;
    let got = desk
        .recv(|s| carbon_body(s, &alice, "received").is_some())
        .await?;
    assert_eq!(
        carbon_body(&got, &alice, "received").as_deref(),
        Some("to the phone")
    );

    phone
        .send(private(chat(jid("bob@localhost"), "private")))
        .await?;
    phone.send(chat(jid("bob@localhost"), "public")).await?;
    for body in ["private", "public"] {
        bob.recv(|s| is_message(s, &alice, body)).await?;
    }
    let got = desk
        .recv(|s| carbon_body(s, &alice, "sent").is_some())
        .await?;
    assert_eq!(
        carbon_body(&got, &alice, "sent").as_deref(),
        Some("public"),
        "the private message was not copied"
    );
    // The phone, which did not enable carbons, got no copy of anything.
    bob.send(chat(jid("alice@localhost/desk"), "to the desk"))
        .await?;
    desk.recv(|s| is_message(s, &bare("bob@localhost"), "to the desk"))
        .await?;
    phone.send(chat(jid("bob@localhost"), "last")).await?;
    bob.recv(|s| is_message(s, &alice, "last")).await?;
    // Any copy for the phone would be routed before bob's marker, sent after "last" arrived.
    bob.send(chat(jid("alice@localhost/phone"), "marker"))
        .await?;
    let own = Jid::from(alice.clone());
    let next = phone
        .recv(|s| {
            matches!(s, Stanza::Message(m) if m.from.as_ref() == Some(&own))
                || is_message(s, &bare("bob@localhost"), "marker")
        })
        .await?;
    assert!(
        is_message(&next, &bare("bob@localhost"), "marker"),
        "the phone never enabled carbons, yet got {next:?}"
    );
    for c in [desk, phone, bob] {
        c.close().await?;
    }
    Ok(())
}

/// slixmpp's `xep_0280`: alice/slix lists the feature, enables carbons and gets the `received`
/// copy of bob's message to alice/other and the `sent` copy of alice/other's reply, and no copy
/// of a `<private/>` message.
#[tokio::test]
async fn slixmpp_gets_carbons() -> anyhow::Result<()> {
    if let Some(reason) = slix::skip_reason().await? {
        #[allow(
            clippy::print_stderr,
            reason = "the skip must be visible in the test output"
        )]
        {
            eprintln!("SKIPPED slixmpp_gets_carbons: {reason}");
        }
        return Ok(());
    }
    let server = setup().await?;
    let addr = server.c2s_addr();
    let python = std::env::var("TESSERA_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(python)
        .arg(slix::script_path("carbons.py"))
        .args(["--host", &addr.ip().to_string()])
        .args(["--port", &addr.port().to_string()])
        .arg("--ca")
        .arg(&server.ca.ca_pem_path)
        .args(["--timeout", &TIMEOUT.as_secs().to_string()])
        .args(["--jid", "alice@localhost/slix", "--password", PW])
        .args(["--mech", "SCRAM-SHA-256"])
        .args(["--received-body", "to other", "--sent-body", "from other"])
        .args(["--private-body", "not for carbons"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting carbons.py")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut results = Vec::new();
    // The copies only go to a resource once it enabled carbons: wait for that.
    tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            let done = line == "RESULT: carbons-enabled";
            results.push(line);
            if done {
                return Ok(());
            }
        }
        anyhow::bail!("carbons.py ended before enabling carbons: {results:?}")
    })
    .await
    .context("carbons.py did not enable carbons in time")??;

    let mut other = resource(&server, "other").await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    // Available, so messages to his bare JID reach him (RFC 6121 §8.5.2.1).
    bob.send(Presence::available()).await?;
    let alice = bare("alice@localhost");
    bob.send(chat(jid("alice@localhost/other"), "to other"))
        .await?;
    other
        .recv(|s| is_message(s, &bare("bob@localhost"), "to other"))
        .await?;
    other
        .send(private(chat(jid("bob@localhost"), "not for carbons")))
        .await?;
    other.send(chat(jid("bob@localhost"), "from other")).await?;
    bob.recv(|s| is_message(s, &alice, "from other")).await?;

    let output = tokio::time::timeout(TIMEOUT * 2, async {
        while let Some(line) = lines.next_line().await? {
            results.push(line);
        }
        child.wait_with_output().await
    })
    .await
    .context("carbons.py did not finish")??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let has = |r: &str| {
        results
            .iter()
            .any(|l| l.strip_prefix("RESULT: ") == Some(r))
    };
    assert_eq!(
        output.status.code(),
        Some(0),
        "carbons.py failed: {results:?}\n{stderr}"
    );
    assert!(
        has("feature-listed"),
        "disco#info lists {CARBONS}: {results:?}"
    );
    assert!(has("carbon-received") && has("carbon-sent"), "{results:?}");
    assert!(!has("private-copied"), "{results:?}");
    other.close().await?;
    bob.close().await
}

/// The stanza-id of a message (XEP-0359) set by `by`.
fn stanza_id(message: &Element, by: &str) -> Option<String> {
    message
        .children()
        .find(|c| c.is("stanza-id", "urn:xmpp:sid:0") && c.attr("by") == Some(by))
        .and_then(|c| c.attr("id").map(str::to_owned))
}

/// With MAM archiving (priority 200) before carbons (100): MAM's `replace` adds the stanza-id and
/// the hook chain goes on, so the `received` copy forwards the message as delivered, with the
/// same archive id, and every device can match the copy against the archive.
#[tokio::test]
async fn received_carbons_carry_the_archive_stanza_id() -> anyhow::Result<()> {
    let config = format!(
        "{}[plugins.mam]\npath = {:?}\n\
         grants = [\"log\", \"router.impersonate\", \"kv\", \"archive\", \"roster\"]\n\
         [plugins.mam.config]\ndefault = \"always\"\n",
        config(),
        plugins_build::PLUGIN_MAM
    );
    let server = TestServer::with_config(&config).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let mut desk = resource(&server, "desk").await?;
    let enable = Element::builder("enable", CARBONS).build();
    match desk.iq(None, IqRequest::Set(enable)).await? {
        IqResponse::Result(_) => {}
        IqResponse::Error(e) => anyhow::bail!("enable refused: {e:?}"),
    }
    let mut phone = resource(&server, "phone").await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let alice = bare("alice@localhost");

    bob.send(chat(jid("alice@localhost/phone"), "archived and copied"))
        .await?;
    let delivered = phone
        .recv(|s| is_message(s, &bare("bob@localhost"), "archived and copied"))
        .await?;
    let Stanza::Message(delivered) = delivered else {
        anyhow::bail!("not a message");
    };
    let delivered = Element::from(delivered);
    let id = stanza_id(&delivered, "alice@localhost").context("the original has a stanza-id")?;

    let copy = desk
        .recv(|s| carbon_body(s, &alice, "received").is_some())
        .await?;
    let Stanza::Message(copy) = copy else {
        anyhow::bail!("not a message");
    };
    let copy = Element::from(copy);
    let inner = copy
        .get_child("received", CARBONS)
        .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
        .and_then(|f| f.get_child("message", "jabber:client"))
        .context("a forwarded message")?;
    assert_eq!(stanza_id(inner, "alice@localhost"), Some(id));
    desk.close().await?;
    phone.close().await?;
    bob.close().await
}
