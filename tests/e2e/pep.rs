//! Personal Eventing Protocol (XEP-0163) with the `plugin-pep` component, driven by tokio-xmpp
//! clients on the built-in defaults.
//!
//! A publish reaches the owner's other session and a contact, never a stranger; OMEMO-style
//! `open` nodes are readable by anyone and publish-options that contradict a node are
//! `precondition-not-met`; `presence` and `whitelist` nodes refuse who they must, with the
//! XEP-0060 application conditions; `max_items` drops the oldest, a retraction and a node
//! deletion are notified; XEP-0402 bookmarks read back as XEP-0048 (PEP and private XML) and
//! the other way round; a contact's session that comes online gets the last item; the account's
//! disco#info is a `pubsub/pep` service and the server's is not; the data goes with the account.

use std::time::Duration;

use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::jid::Jid;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::ping::Ping;
use tessera_tests::parsers::presence::Presence;
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::tokio_xmpp::Stanza;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{ClientOptions, TestClient, TestServer};

use crate::support::{befriend, jid, server_disco};

const PW: &str = "a password for pep";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const NICK: &str = "http://jabber.org/protocol/nick";
const DEVICES: &str = "urn:xmpp:omemo:2:devices";
const BUNDLES: &str = "urn:xmpp:omemo:2:bundles";
const AVATAR_DATA: &str = "urn:xmpp:avatar:data";
const AVATAR_METADATA: &str = "urn:xmpp:avatar:metadata";
const VCARD: &str = "vcard-temp";
/// How long a test waits to show that something does *not* arrive.
const QUIET: Duration = Duration::from_millis(700);

/// An error's defined condition and its `pubsub#errors` element's name.
type Refusal = (DefinedCondition, Option<String>);

async fn iq(
    client: &mut TestClient,
    to: Option<&str>,
    set: bool,
    xml: &str,
) -> anyhow::Result<Result<Option<Element>, Refusal>> {
    let payload: Element = xml.parse()?;
    let request = if set {
        IqRequest::Set(payload)
    } else {
        IqRequest::Get(payload)
    };
    match client.iq(to.map(jid), request).await? {
        IqResponse::Result(payload) => Ok(Ok(payload)),
        IqResponse::Error(e) => Ok(Err((
            e.defined_condition,
            e.other
                .filter(|o| o.ns() == ERRORS)
                .map(|o| o.name().to_owned()),
        ))),
    }
}

fn options(fields: &[(&str, &str)]) -> String {
    let mut x = String::from(
        "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' \
         type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>",
    );
    for (var, value) in fields {
        x.push_str(&format!(
            "<field var='{var}'><value>{value}</value></field>"
        ));
    }
    x.push_str("</x></publish-options>");
    x
}

/// Publishes `payload` as item `id` on the client's own `node`, with publish-options.
async fn publish(
    client: &mut TestClient,
    node: &str,
    id: &str,
    payload: &str,
    opts: &[(&str, &str)],
) -> anyhow::Result<Result<Option<Element>, Refusal>> {
    let opts = if opts.is_empty() {
        String::new()
    } else {
        options(opts)
    };
    let xml = format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='{node}'><item id='{id}'>{payload}</item>\
         </publish>{opts}</pubsub>"
    );
    iq(client, None, true, &xml).await
}

async fn publish_ok(
    client: &mut TestClient,
    node: &str,
    id: &str,
    payload: &str,
    opts: &[(&str, &str)],
) -> anyhow::Result<()> {
    match publish(client, node, id, payload, opts).await? {
        Ok(_) => Ok(()),
        Err(e) => anyhow::bail!("publish to {node} refused: {e:?}"),
    }
}

/// The items of `owner`'s `node` (`None`: the client's own), or the refusal.
async fn items(
    client: &mut TestClient,
    owner: Option<&str>,
    node: &str,
    extra: &str,
) -> anyhow::Result<Result<Vec<Element>, Refusal>> {
    // `extra`: attributes (` max_items='1'`) or, starting with `>`, the requested items.
    let xml = match extra.strip_prefix('>') {
        Some(body) => {
            format!("<pubsub xmlns='{PUBSUB}'><items node='{node}'>{body}</items></pubsub>")
        }
        None => format!("<pubsub xmlns='{PUBSUB}'><items node='{node}'{extra}/></pubsub>"),
    };
    Ok(iq(client, owner, false, &xml).await?.map(|payload| {
        payload
            .and_then(|p| p.get_child("items", PUBSUB).cloned())
            .map(|i| i.children().cloned().collect())
            .unwrap_or_default()
    }))
}

async fn items_ok(
    client: &mut TestClient,
    owner: Option<&str>,
    node: &str,
) -> anyhow::Result<Vec<Element>> {
    items(client, owner, node, "")
        .await?
        .map_err(|e| anyhow::anyhow!("items of {node} refused: {e:?}"))
}

/// The `<items/>`, `<delete/>`… child of a PEP event message from `from` about `node`.
fn event(stanza: &Stanza, from: &str, node: &str) -> Option<Element> {
    let Stanza::Message(m) = stanza else {
        return None;
    };
    if m.from.as_ref().map(ToString::to_string).as_deref() != Some(from) {
        return None;
    }
    m.payloads
        .iter()
        .find(|p| p.is("event", EVENT))
        .and_then(|e| e.children().find(|c| c.attr("node") == Some(node)).cloned())
}

async fn expect_event(client: &mut TestClient, from: &str, node: &str) -> anyhow::Result<Element> {
    let got = client.recv(|s| event(s, from, node).is_some()).await?;
    Ok(event(&got, from, node).expect("invariant: matched above"))
}

async fn expect_no_event(client: &mut TestClient, from: &str, node: &str) -> anyhow::Result<()> {
    let got = client
        .recv_until(|s| event(s, from, node).is_some(), QUIET)
        .await;
    anyhow::ensure!(got.is_err(), "unexpected event: {got:?}");
    Ok(())
}

fn item_ids(items: &[Element]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.attr("id").map(str::to_owned))
        .collect()
}

async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user, PW).await?;
    }
    Ok(server)
}

/// The nodes whose events the test clients ask for (XEP-0163 §4.3: `<node>+notify` in their
/// XEP-0115 caps, which the host verifies and the plugin filters by).
const NOTIFY: [&str; 8] = [
    NICK,
    AVATAR_METADATA,
    DEVICES,
    BUNDLES,
    "urn:example:mood",
    "urn:example:settings",
    "urn:xmpp:bookmarks:1",
    "storage:bookmarks",
];

/// A client that announces caps with `+notify` for every node in [`NOTIFY`], available, its caps
/// known to the server.
async fn connect(server: &TestServer, user: &str) -> anyhow::Result<TestClient> {
    let mut features = vec![
        "http://jabber.org/protocol/disco#info".to_owned(),
        "http://jabber.org/protocol/caps".to_owned(),
    ];
    features.extend(NOTIFY.iter().map(|n| format!("{n}+notify")));
    connect_announcing(server, user, features).await
}

/// A client that announces `features` in its caps, available, its caps known to the server: it
/// waits for its own presence (answering the server's disco#info query meanwhile), then a ping
/// makes sure the server read the answer (one session's stanzas are handled in order).
async fn connect_announcing(
    server: &TestServer,
    user: &str,
    features: Vec<String>,
) -> anyhow::Result<TestClient> {
    let opts = ClientOptions {
        caps_features: Some(features),
        ..ClientOptions::default()
    };
    let mut c = TestClient::connect_with(server, user, PW, &opts).await?;
    c.send(Presence::available()).await?;
    let own = Jid::from(c.jid().clone());
    c.recv(|s| matches!(s, Stanza::Presence(p) if p.from.as_ref() == Some(&own)))
        .await?;
    c.iq(Some(jid("localhost")), IqRequest::Get(Ping.into()))
        .await?;
    Ok(c)
}

async fn online(server: &TestServer, user: &str) -> anyhow::Result<TestClient> {
    let mut c = connect(server, user).await?;
    c.send(Presence::available()).await?;
    Ok(c)
}

async fn disco(client: &mut TestClient, to: &str) -> anyhow::Result<DiscoInfoResult> {
    match client
        .iq(
            Some(jid(to)),
            IqRequest::Get(DiscoInfoQuery { node: None }.into()),
        )
        .await?
    {
        IqResponse::Result(Some(payload)) => Ok(DiscoInfoResult::try_from(payload)?),
        other => anyhow::bail!("disco#info: {other:?}"),
    }
}

/// 1. A publish notifies a contact (subscription both) and the owner's other session, not a
/// stranger; the account's disco#info is a PEP service, the server's is not.
#[tokio::test]
async fn a_publish_notifies_contacts_and_own_sessions_only() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let mut laptop = online(&server, "alice").await?;
    let mut carol = online(&server, "carol").await?;

    let info = disco(&mut alice, "alice@localhost").await?;
    assert!(
        info.identities
            .iter()
            .any(|i| i.category == "pubsub" && i.type_ == "pep"),
        "{:?}",
        info.identities
    );
    for f in [
        "http://jabber.org/protocol/pubsub#publish",
        "http://jabber.org/protocol/pubsub#publish-options",
        "urn:xmpp:bookmarks:1#compat",
    ] {
        assert!(info.features.iter().any(|x| x == f), "{f}");
    }
    let server_info = server_disco(&mut alice).await?;
    assert!(
        !server_info
            .identities
            .iter()
            .any(|i| i.category == "pubsub"),
        "the domain is no pubsub service"
    );
    assert!(
        !server_info
            .features
            .iter()
            .any(|f| f.starts_with("http://jabber.org/protocol/pubsub"))
    );
    // Nor does it answer as one.
    let to_domain = iq(
        &mut alice,
        Some("localhost"),
        false,
        &format!("<pubsub xmlns='{PUBSUB}'><items node='{NICK}'/></pubsub>"),
    )
    .await?;
    assert_eq!(
        to_domain.map_err(|e| e.0),
        Err(DefinedCondition::ServiceUnavailable)
    );

    let nick = format!("<nick xmlns='{NICK}'>Alice</nick>");
    publish_ok(&mut alice, NICK, "current", &nick, &[]).await?;
    for client in [&mut bob, &mut laptop, &mut alice] {
        let items = expect_event(client, "alice@localhost", NICK).await?;
        let item = items.get_child("item", EVENT).expect("an item");
        assert_eq!(item.attr("id"), Some("current"));
        assert_eq!(
            item.get_child("nick", NICK).map(Element::text).as_deref(),
            Some("Alice")
        );
    }
    expect_no_event(&mut carol, "alice@localhost", NICK).await?;
    // Bob reads it at alice's bare JID too.
    let read = items_ok(&mut bob, Some("alice@localhost"), NICK).await?;
    assert_eq!(item_ids(&read), ["current"]);
    for c in [alice, bob, laptop, carol] {
        c.close().await?;
    }
    Ok(())
}

/// 2. OMEMO: device list and bundle with `access_model=open` are readable by a contact and by a
/// stranger; a publish whose options contradict the node is `precondition-not-met`.
#[tokio::test]
async fn omemo_open_nodes_and_publish_options() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let mut carol = connect(&server, "carol").await?;

    let open = [("pubsub#access_model", "open"), ("pubsub#max_items", "max")];
    let devices = "<devices xmlns='urn:xmpp:omemo:2'><device id='12345'/></devices>";
    publish_ok(&mut alice, DEVICES, "current", devices, &open).await?;
    let bundle = "<bundle xmlns='urn:xmpp:omemo:2'><spk id='1'>AAAA</spk><ik>BBBB</ik>\
        <prekeys><pk id='1'>CCCC</pk></prekeys></bundle>";
    publish_ok(&mut alice, BUNDLES, "12345", bundle, &open).await?;
    // Same options again: they hold.
    publish_ok(&mut alice, DEVICES, "current", devices, &open).await?;

    for reader in [&mut bob, &mut carol] {
        let list = items_ok(reader, Some("alice@localhost"), DEVICES).await?;
        assert_eq!(item_ids(&list), ["current"]);
        assert!(list[0].get_child("devices", "urn:xmpp:omemo:2").is_some());
        let b = items(
            reader,
            Some("alice@localhost"),
            BUNDLES,
            "><item id='12345'/>",
        )
        .await?;
        let b = b.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(item_ids(&b), ["12345"]);
    }

    let refused = publish(
        &mut alice,
        DEVICES,
        "current",
        devices,
        &[("pubsub#access_model", "presence")],
    )
    .await?;
    assert_eq!(
        refused,
        Err((
            DefinedCondition::Conflict,
            Some("precondition-not-met".to_owned())
        ))
    );
    for c in [alice, bob, carol] {
        c.close().await?;
    }
    Ok(())
}

/// 3. `presence` (the default) refuses a stranger with `presence-subscription-required`; an
/// XEP-0223 `whitelist` node is the owner's alone.
#[tokio::test]
async fn presence_and_whitelist_access() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let mut carol = connect(&server, "carol").await?;

    publish_ok(
        &mut alice,
        NICK,
        "current",
        &format!("<nick xmlns='{NICK}'>A</nick>"),
        &[],
    )
    .await?;
    assert_eq!(
        item_ids(&items_ok(&mut bob, Some("alice@localhost"), NICK).await?),
        ["current"]
    );
    assert_eq!(
        items(&mut carol, Some("alice@localhost"), NICK, "").await?,
        Err((
            DefinedCondition::NotAuthorized,
            Some("presence-subscription-required".to_owned())
        ))
    );

    let private = [
        ("pubsub#persist_items", "true"),
        ("pubsub#access_model", "whitelist"),
    ];
    publish_ok(
        &mut alice,
        "urn:example:settings",
        "current",
        "<settings xmlns='urn:example:settings'><theme>dark</theme></settings>",
        &private,
    )
    .await?;
    assert_eq!(
        item_ids(&items_ok(&mut alice, None, "urn:example:settings").await?),
        ["current"]
    );
    for other in [&mut bob, &mut carol] {
        assert_eq!(
            items(other, Some("alice@localhost"), "urn:example:settings", "").await?,
            Err((DefinedCondition::NotAllowed, Some("closed-node".to_owned())))
        );
    }
    // Nobody else publishes on alice's service.
    let forged = iq(
        &mut bob,
        Some("alice@localhost"),
        true,
        &format!(
            "<pubsub xmlns='{PUBSUB}'><publish node='{NICK}'><item id='current'>\
             <nick xmlns='{NICK}'>Mallory</nick></item></publish></pubsub>"
        ),
    )
    .await?;
    assert_eq!(forged.map_err(|e| e.0), Err(DefinedCondition::Forbidden));
    for c in [alice, bob, carol] {
        c.close().await?;
    }
    Ok(())
}

/// 4. `max_items` drops the oldest; a retraction with `notify='true'` and a node deletion reach
/// the contact; the deleted node is gone.
#[tokio::test]
async fn max_items_retract_and_delete() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let node = "urn:example:mood";
    for id in ["a", "b", "c"] {
        publish_ok(
            &mut alice,
            node,
            id,
            &format!("<mood xmlns='{node}'>{id}</mood>"),
            &[("pubsub#max_items", "2")],
        )
        .await?;
        expect_event(&mut bob, "alice@localhost", node).await?;
    }
    assert_eq!(
        item_ids(&items_ok(&mut alice, None, node).await?),
        ["b", "c"]
    );
    let newest = items(&mut bob, Some("alice@localhost"), node, " max_items='1'").await?;
    assert_eq!(newest.map(|i| item_ids(&i)), Ok(vec!["c".to_owned()]));

    let retract = format!(
        "<pubsub xmlns='{PUBSUB}'><retract node='{node}' notify='true'><item id='c'/></retract>\
         </pubsub>"
    );
    assert_eq!(iq(&mut alice, None, true, &retract).await?, Ok(None));
    let ev = expect_event(&mut bob, "alice@localhost", node).await?;
    assert_eq!(
        ev.get_child("retract", EVENT).and_then(|r| r.attr("id")),
        Some("c")
    );
    assert_eq!(item_ids(&items_ok(&mut alice, None, node).await?), ["b"]);
    // Retracting it again: there is no such item.
    assert_eq!(
        iq(&mut alice, None, true, &retract).await?.map_err(|e| e.0),
        Err(DefinedCondition::ItemNotFound)
    );

    let delete = format!(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='{node}'/></pubsub>"
    );
    assert_eq!(iq(&mut alice, None, true, &delete).await?, Ok(None));
    let got = bob
        .recv(|s| {
            let Stanza::Message(m) = s else { return false };
            m.payloads.iter().any(|p| {
                p.is("event", EVENT)
                    && p.get_child("delete", EVENT).and_then(|d| d.attr("node")) == Some(node)
            })
        })
        .await;
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(
        items(&mut alice, None, node, "").await?.map_err(|e| e.0),
        Err(DefinedCondition::ItemNotFound)
    );
    alice.close().await?;
    bob.close().await
}

/// An XEP-0048 conference: jid, name, autojoin, nick.
type Legacy = (String, Option<String>, Option<String>, Option<String>);

fn storage_conferences(storage: &Element) -> Vec<Legacy> {
    storage
        .children()
        .filter(|c| c.is("conference", "storage:bookmarks"))
        .map(|c| {
            (
                c.attr("jid").unwrap_or_default().to_owned(),
                c.attr("name").map(str::to_owned),
                c.attr("autojoin").map(str::to_owned),
                c.get_child("nick", "storage:bookmarks").map(Element::text),
            )
        })
        .collect()
}

async fn private_bookmarks(client: &mut TestClient) -> anyhow::Result<Element> {
    let got = iq(
        client,
        None,
        false,
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>",
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    got.and_then(|q| q.get_child("storage", "storage:bookmarks").cloned())
        .ok_or_else(|| anyhow::anyhow!("no storage"))
}

/// 5. XEP-0402 written, XEP-0048 read (PEP and private XML); XEP-0048 written both ways,
/// XEP-0402 read.
#[tokio::test]
async fn bookmarks_in_both_formats() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = online(&server, "alice").await?;
    let opts = [
        ("pubsub#persist_items", "true"),
        ("pubsub#access_model", "whitelist"),
        ("pubsub#max_items", "max"),
        ("pubsub#send_last_published_item", "never"),
    ];
    publish_ok(
        &mut alice,
        "urn:xmpp:bookmarks:1",
        "coven@chat.example.org",
        "<conference xmlns='urn:xmpp:bookmarks:1' name='The Coven' autojoin='1'>\
         <nick>alice</nick></conference>",
        &opts,
    )
    .await?;
    let want = vec![(
        "coven@chat.example.org".to_owned(),
        Some("The Coven".to_owned()),
        Some("true".to_owned()),
        Some("alice".to_owned()),
    )];
    let pep = items_ok(&mut alice, None, "storage:bookmarks").await?;
    assert_eq!(item_ids(&pep), ["current"]);
    let storage = pep[0]
        .get_child("storage", "storage:bookmarks")
        .expect("storage");
    assert_eq!(storage_conferences(storage), want);
    assert_eq!(
        storage_conferences(&private_bookmarks(&mut alice).await?),
        want
    );

    // XEP-0048 through private XML: the coven renamed, a second room; a URL is kept.
    let set = "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
        <conference jid='coven@chat.example.org' name='Witches' autojoin='false'><nick>al</nick></conference>\
        <conference jid='tea@chat.example.org' autojoin='true'/>\
        <url name='Home' url='https://example.org/'/></storage></query>";
    assert_eq!(iq(&mut alice, None, true, set).await?, Ok(None));
    let native = items_ok(&mut alice, None, "urn:xmpp:bookmarks:1").await?;
    let mut ids = item_ids(&native);
    ids.sort();
    assert_eq!(ids, ["coven@chat.example.org", "tea@chat.example.org"]);
    let coven = native
        .iter()
        .find(|i| i.attr("id") == Some("coven@chat.example.org"))
        .and_then(|i| i.get_child("conference", "urn:xmpp:bookmarks:1"))
        .expect("coven");
    assert_eq!(coven.attr("name"), Some("Witches"));
    assert_ne!(coven.attr("autojoin"), Some("true"));
    assert_eq!(
        coven
            .get_child("nick", "urn:xmpp:bookmarks:1")
            .map(Element::text)
            .as_deref(),
        Some("al")
    );
    let again = private_bookmarks(&mut alice).await?;
    assert!(
        again.get_child("url", "storage:bookmarks").is_some(),
        "the URL stays"
    );

    // XEP-0048 over PEP: only the tea room remains.
    publish_ok(
        &mut alice,
        "storage:bookmarks",
        "current",
        "<storage xmlns='storage:bookmarks'><conference jid='tea@chat.example.org' \
         autojoin='true' name='Tea'/></storage>",
        &[("pubsub#access_model", "whitelist")],
    )
    .await?;
    let native = items_ok(&mut alice, None, "urn:xmpp:bookmarks:1").await?;
    assert_eq!(item_ids(&native), ["tea@chat.example.org"]);
    let tea = native[0]
        .get_child("conference", "urn:xmpp:bookmarks:1")
        .expect("tea");
    assert_eq!(
        (tea.attr("name"), tea.attr("autojoin")),
        (Some("Tea"), Some("true"))
    );
    alice.close().await
}

/// 6. A contact's session that comes online gets the last item of alice's nodes it may see.
#[tokio::test]
async fn the_last_item_reaches_a_contact_coming_online() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    bob.close().await?;
    publish_ok(
        &mut alice,
        NICK,
        "current",
        &format!("<nick xmlns='{NICK}'>Late</nick>"),
        &[],
    )
    .await?;
    let mut bob = online(&server, "bob").await?;
    let ev = expect_event(&mut bob, "alice@localhost", NICK).await?;
    assert_eq!(
        ev.get_child("item", EVENT)
            .and_then(|i| i.get_child("nick", NICK))
            .map(Element::text)
            .as_deref(),
        Some("Late")
    );
    alice.close().await?;
    bob.close().await
}

/// 7. Alice's nodes go with her account: an account created again under her name has none.
#[tokio::test]
async fn removing_the_account_deletes_the_nodes() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    publish_ok(
        &mut alice,
        NICK,
        "current",
        &format!("<nick xmlns='{NICK}'>A</nick>"),
        &[],
    )
    .await?;
    alice.close().await?;
    assert!(tessera::accounts::remove(server.storage(), "alice").await?);
    server.add_user("alice", PW).await?;
    let mut alice = connect(&server, "alice").await?;
    assert_eq!(
        items(&mut alice, None, NICK, "").await?.map_err(|e| e.0),
        Err(DefinedCondition::ItemNotFound)
    );
    alice.close().await
}

/// XEP-0163 §4.3: only sessions whose XEP-0115 caps ask for `<node>+notify` get the node's
/// events: a client of bob's that leaves the node out of its caps, and one with no caps at all,
/// get nothing, while his client that asks does.
#[tokio::test]
async fn only_sessions_asking_for_the_node_are_notified() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let mut other = connect_announcing(
        &server,
        "bob",
        vec![
            "http://jabber.org/protocol/disco#info".to_owned(),
            format!("{DEVICES}+notify"),
        ],
    )
    .await?;
    let mut plain = TestClient::connect(&server, "bob", PW).await?;
    plain.send(Presence::available()).await?;

    let nick = format!("<nick xmlns='{NICK}'>Alice</nick>");
    publish_ok(&mut alice, NICK, "current", &nick, &[]).await?;
    expect_event(&mut bob, "alice@localhost", NICK).await?;
    expect_no_event(&mut other, "alice@localhost", NICK).await?;
    expect_no_event(&mut plain, "alice@localhost", NICK).await?;
    // The client that asks for the device list gets that.
    publish_ok(
        &mut alice,
        DEVICES,
        "current",
        &format!("<devices xmlns='{DEVICES}'><device id='1'/></devices>"),
        &[],
    )
    .await?;
    expect_event(&mut other, "alice@localhost", DEVICES).await?;
    for c in [alice, bob, other, plain] {
        c.close().await?;
    }
    Ok(())
}

/// A 1×1 PNG and its SHA-1 (the XEP-0084 item id and XEP-0153 presence hash).
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const PNG_SHA1: &str = "4a5eb7171b58e08a6881721e3b43d5a44419a2be";

/// The `<PHOTO><BINVAL/>` of `owner`'s vCard (`None`: the client's own).
async fn vcard_photo(
    client: &mut TestClient,
    owner: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let card = iq(client, owner, false, &format!("<vCard xmlns='{VCARD}'/>"))
        .await?
        .map_err(|e| anyhow::anyhow!("vCard get refused: {e:?}"))?
        .ok_or_else(|| anyhow::anyhow!("no vCard in the result"))?;
    Ok(card
        .get_child("PHOTO", VCARD)
        .and_then(|p| p.get_child("BINVAL", VCARD))
        .map(|b| b.text().split_whitespace().collect()))
}

/// XEP-0398: a PEP avatar goes into the vCard (and its hash into presence, XEP-0153), a vCard
/// photo becomes the PEP avatar, and the account says it converts; through the `pep` and `vcard`
/// plugins asking each other (`requests`), as loaded by default.
#[tokio::test]
async fn avatars_convert_between_pep_and_vcard() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let info = disco(&mut alice, "alice@localhost").await?;
    assert!(
        info.features
            .iter()
            .any(|f| f == "urn:xmpp:pep-vcard-conversion:0"),
        "{:?}",
        info.features
    );

    // alice publishes her avatar the XEP-0084 way; her vCard has it as its photo, for herself
    // and for bob (vCard avatars are public, XEP-0398 §5).
    publish_ok(
        &mut alice,
        AVATAR_DATA,
        PNG_SHA1,
        &format!("<data xmlns='{AVATAR_DATA}'>{PNG_B64}</data>"),
        &[],
    )
    .await?;
    publish_ok(
        &mut alice,
        AVATAR_METADATA,
        PNG_SHA1,
        &format!(
            "<metadata xmlns='{AVATAR_METADATA}'><info id='{PNG_SHA1}' bytes='70' type='image/png'/></metadata>"
        ),
        &[],
    )
    .await?;
    assert_eq!(
        vcard_photo(&mut alice, None).await?.as_deref(),
        Some(PNG_B64)
    );
    assert_eq!(
        vcard_photo(&mut bob, Some("alice@localhost"))
            .await?
            .as_deref(),
        Some(PNG_B64)
    );
    // Her next presence carries the hash (XEP-0153 §4.1, added by the server: XEP-0398 §3).
    alice.send(Presence::available()).await?;
    let got = bob
        .recv(|s| {
            matches!(s, Stanza::Presence(p)
                if p.from.as_ref().is_some_and(|f| f.to_bare().to_string() == "alice@localhost")
                && p.payloads.iter().any(|x| x.is("x", "vcard-temp:x:update")))
        })
        .await?;
    let Stanza::Presence(p) = got else {
        unreachable!("matched above")
    };
    let x = p
        .payloads
        .iter()
        .find(|x| x.is("x", "vcard-temp:x:update"))
        .expect("matched above");
    assert_eq!(
        x.get_child("photo", "vcard-temp:x:update")
            .map(Element::text)
            .as_deref(),
        Some(PNG_SHA1)
    );

    // bob sets a vCard photo the XEP-0054 way: it becomes his PEP avatar, and alice, who asked
    // for avatar metadata in her caps, is notified and can fetch the image.
    let card = format!(
        "<vCard xmlns='{VCARD}'><FN>Bob</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{PNG_B64}</BINVAL></PHOTO></vCard>"
    );
    iq(&mut bob, None, true, &card)
        .await?
        .map_err(|e| anyhow::anyhow!("vCard set refused: {e:?}"))?;
    let ev = expect_event(&mut alice, "bob@localhost", AVATAR_METADATA).await?;
    let info = ev
        .get_child("item", EVENT)
        .and_then(|i| i.get_child("metadata", AVATAR_METADATA))
        .and_then(|m| m.get_child("info", AVATAR_METADATA))
        .expect("the avatar's info");
    assert_eq!(info.attr("id"), Some(PNG_SHA1));
    assert_eq!(info.attr("type"), Some("image/png"));
    assert_eq!(info.attr("bytes"), Some("70"));
    let data = items(
        &mut alice,
        Some("bob@localhost"),
        AVATAR_DATA,
        &format!("><item id='{PNG_SHA1}'/>"),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("avatar data refused: {e:?}"))?;
    assert_eq!(
        data.first()
            .and_then(|i| i.get_child("data", AVATAR_DATA))
            .map(Element::text)
            .as_deref(),
        Some(PNG_B64)
    );
    alice.close().await?;
    bob.close().await
}

/// XEP-0191 with PEP: a contact the user blocked gets none of the user's PEP notifications, nor
/// the last items when it comes online, though still subscribed to the user's presence; after an
/// unblock it gets them again.
#[tokio::test]
async fn a_blocked_contact_gets_no_pep_notifications() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = connect(&server, "alice").await?;
    let mut bob = connect(&server, "bob").await?;
    befriend(&mut alice, &mut bob).await?;
    let block = |verb: &str| {
        format!("<{verb} xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></{verb}>")
    };
    iq(&mut alice, None, true, &block("block"))
        .await?
        .map_err(|e| anyhow::anyhow!("block refused: {e:?}"))?;
    publish_ok(
        &mut alice,
        NICK,
        "current",
        &format!("<nick xmlns='{NICK}'>Secret</nick>"),
        &[],
    )
    .await?;
    expect_no_event(&mut bob, "alice@localhost", NICK).await?;
    // A new session of bob's gets no last item either.
    let mut phone = connect(&server, "bob").await?;
    expect_no_event(&mut phone, "alice@localhost", NICK).await?;

    iq(&mut alice, None, true, &block("unblock"))
        .await?
        .map_err(|e| anyhow::anyhow!("unblock refused: {e:?}"))?;
    publish_ok(
        &mut alice,
        NICK,
        "current",
        &format!("<nick xmlns='{NICK}'>Alice</nick>"),
        &[],
    )
    .await?;
    expect_event(&mut bob, "alice@localhost", NICK).await?;
    for c in [alice, bob, phone] {
        c.close().await?;
    }
    Ok(())
}
