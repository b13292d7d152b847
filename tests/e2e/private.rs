//! Private XML Storage (XEP-0049) with the `plugin-private` component, driven by tokio-xmpp
//! clients: issue 6 ("What modern and mobile clients need"), the storage older clients keep
//! their bookmarks and settings in.
//!
//! A round trip from one device to another; nothing stored reads as the empty element; another
//! account cannot read it; what an account stored goes with it.

use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{TestClient, TestServer};

use crate::support::{jid, server_disco};

const PW: &str = "a password for private storage";
const PRIVATE: &str = "jabber:iq:private";
const BOOKMARKS: &str = "<storage xmlns='storage:bookmarks'>\
    <conference jid='council@chat.example.org' autojoin='true' name='Council'>\
    <nick>alice</nick></conference></storage>";

/// `<query xmlns='jabber:iq:private'>inner</query>`.
fn query(inner: &str) -> anyhow::Result<Element> {
    Ok(format!("<query xmlns='{PRIVATE}'>{inner}</query>").parse()?)
}

/// Stores `inner` (no `to`: the server answers for the account, RFC 6120 §10.3.3).
async fn store(client: &mut TestClient, inner: &str) -> anyhow::Result<()> {
    match client.iq(None, IqRequest::Set(query(inner)?)).await? {
        IqResponse::Result(None) => Ok(()),
        other => anyhow::bail!("private set answered {other:?}"),
    }
}

/// What the server answers a get of `requested`, sent to `to`: the element in `<query/>`, or
/// the error's condition.
async fn fetch(
    client: &mut TestClient,
    to: Option<&str>,
    requested: &str,
) -> anyhow::Result<Result<Element, DefinedCondition>> {
    match client
        .iq(to.map(jid), IqRequest::Get(query(requested)?))
        .await?
    {
        IqResponse::Result(Some(q)) if q.is("query", PRIVATE) => {
            let mut children = q.children();
            let el = children.next().cloned();
            anyhow::ensure!(children.next().is_none(), "one element per answer");
            el.map(Ok)
                .ok_or_else(|| anyhow::anyhow!("an empty <query/>"))
        }
        IqResponse::Error(e) => Ok(Err(e.defined_condition)),
        other => anyhow::bail!("private get answered {other:?}"),
    }
}

/// A server on the built-in defaults (no `[plugins]` table: `private` is one of them) with
/// alice and bob.
async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    Ok(server)
}

/// With no configuration at all, one device stores bookmarks and another reads them back; a
/// name never stored reads as the empty element (XEP-0049 §2.3), and disco#info says so.
#[tokio::test]
async fn stored_on_one_device_read_on_another() -> anyhow::Result<()> {
    let server = server().await?;
    let mut phone = TestClient::connect(&server, "alice", PW).await?;
    let mut laptop = TestClient::connect(&server, "alice", PW).await?;

    let empty = fetch(&mut phone, None, "<storage xmlns='storage:bookmarks'/>")
        .await?
        .map_err(refused)?;
    assert!(empty.is("storage", "storage:bookmarks"));
    assert_eq!(
        empty.nodes().count(),
        0,
        "nothing stored: the empty element"
    );

    store(&mut phone, BOOKMARKS).await?;
    let expected: Element = BOOKMARKS.parse()?;
    // Asked of the server's domain, as XEP-0049's examples do, or with no `to` at all.
    for to in [None, Some("localhost")] {
        let got = fetch(&mut laptop, to, "<storage xmlns='storage:bookmarks'/>")
            .await?
            .map_err(refused)?;
        assert_eq!(got, expected, "to {to:?}");
    }

    // A reserved namespace is refused (XEP-0049 §2.3), and nothing else changed.
    let refused = fetch(&mut laptop, None, "<vCard xmlns='vcard-temp'/>").await?;
    assert_eq!(refused, Err(DefinedCondition::NotAcceptable));

    let info = server_disco(&mut phone).await?;
    assert!(
        info.features.iter().any(|f| f == PRIVATE),
        "{:?}",
        info.features
    );
    phone.close().await?;
    laptop.close().await
}

/// Another account cannot read alice's storage. Asked at alice's bare JID, the server answers
/// for alice and refuses (`service-unavailable`: IQs to another account stay with the host,
/// which XEP-0049 §2.3 allows as well as `forbidden`); asked of the server, bob gets his own,
/// empty storage.
#[tokio::test]
async fn another_account_cannot_read_it() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    store(&mut alice, BOOKMARKS).await?;

    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let at_alice = fetch(
        &mut bob,
        Some("alice@localhost"),
        "<storage xmlns='storage:bookmarks'/>",
    )
    .await?;
    assert_eq!(at_alice, Err(DefinedCondition::ServiceUnavailable));
    let set_at_alice = bob
        .iq(
            Some(jid("alice@localhost")),
            IqRequest::Set(query("<storage xmlns='storage:bookmarks'/>")?),
        )
        .await?;
    assert!(
        matches!(&set_at_alice, IqResponse::Error(e) if e.defined_condition == DefinedCondition::ServiceUnavailable),
        "{set_at_alice:?}"
    );
    let own = fetch(
        &mut bob,
        Some("localhost"),
        "<storage xmlns='storage:bookmarks'/>",
    )
    .await?
    .map_err(refused)?;
    assert_eq!(
        own.nodes().count(),
        0,
        "bob's storage is his own, and empty"
    );

    // Alice's bookmarks are untouched.
    let still = fetch(&mut alice, None, "<storage xmlns='storage:bookmarks'/>")
        .await?
        .map_err(refused)?;
    assert_eq!(still, BOOKMARKS.parse::<Element>()?);
    alice.close().await?;
    bob.close().await
}

/// What alice stored goes with her account (`tessera user remove`'s path on the running
/// server's storage): no record is left, and an account created again under her name starts
/// empty.
#[tokio::test]
async fn removing_the_account_deletes_what_it_stored() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    store(&mut alice, BOOKMARKS).await?;
    store(
        &mut alice,
        "<exodus xmlns='exodus:prefs'><nick>A</nick></exodus>",
    )
    .await?;
    alice.close().await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    store(&mut bob, BOOKMARKS).await?;

    let storage = server.storage();
    // `storage:bookmarks` is kept by the `pep` plugin (XEP-0402 §5.3 compatibility, it answers
    // those requests ahead of `private`), the rest by `private`.
    let keys = |plugin: &'static str, category: &'static str, user: &str| {
        let owner =
            tessera::storage::Owner::User(format!("{user}@localhost").parse().expect("a JID"));
        async move {
            storage
                .kv_keys(plugin, category, &owner, "", 100, now_ms())
                .await
        }
    };
    assert_eq!(keys("private", "private-xml", "alice").await?.len(), 1);
    assert!(!keys("pep", "pep", "alice").await?.is_empty());
    assert!(tessera::accounts::remove(storage, "alice").await?);
    assert!(
        keys("private", "private-xml", "alice").await?.is_empty(),
        "nothing of alice's is left"
    );
    assert!(
        keys("pep", "pep", "alice").await?.is_empty(),
        "nor her bookmarks"
    );
    assert!(
        !keys("pep", "pep", "bob").await?.is_empty(),
        "bob's bookmarks stay"
    );

    server.add_user("alice", PW).await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let fresh = fetch(&mut alice, None, "<storage xmlns='storage:bookmarks'/>")
        .await?
        .map_err(refused)?;
    assert_eq!(fresh.nodes().count(), 0, "the new alice starts empty");
    alice.close().await?;
    bob.close().await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An error answer where a result was expected, for `?`.
fn refused(condition: DefinedCondition) -> anyhow::Error {
    anyhow::anyhow!("the server refused: {condition:?}")
}
