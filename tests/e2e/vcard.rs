//! vcard-temp (XEP-0054) with the `plugin-vcard` component, driven by tokio-xmpp clients.
//!
//! A user sets and reads back their vCard; another user reads it at the owner's bare JID (the
//! recipient's `incoming` hook answers for it) but cannot set it; a vCard over the plugin's cap
//! is refused; the vCard goes with the account; a user the owner blocked cannot read it.

use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::stanza_error::DefinedCondition;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};
use tessera_tests::{TestClient, TestServer};

use crate::support::{jid, server_disco};

const PW: &str = "a password for vcards";
const VCARD: &str = "vcard-temp";
const CARD: &str = "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME>\
    <PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>";

fn empty() -> anyhow::Result<Element> {
    Ok(format!("<vCard xmlns='{VCARD}'/>").parse()?)
}

/// Sets `card` as the client's own vCard (no `to`, XEP-0054 §3.2): `Ok` or the condition.
async fn set(
    client: &mut TestClient,
    to: Option<&str>,
    card: &str,
) -> anyhow::Result<Result<(), DefinedCondition>> {
    match client
        .iq(to.map(jid), IqRequest::Set(card.parse()?))
        .await?
    {
        IqResponse::Result(None) => Ok(Ok(())),
        IqResponse::Error(e) => Ok(Err(e.defined_condition)),
        other => anyhow::bail!("vCard set answered {other:?}"),
    }
}

/// The vCard at `to` (none: the client's own).
async fn get(client: &mut TestClient, to: Option<&str>) -> anyhow::Result<Element> {
    match client.iq(to.map(jid), IqRequest::Get(empty()?)).await? {
        IqResponse::Result(Some(card)) if card.is("vCard", VCARD) => Ok(card),
        other => anyhow::bail!("vCard get answered {other:?}"),
    }
}

/// A server on the built-in defaults (no `[plugins]` table: `vcard` is one of them) with alice
/// and bob.
async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    Ok(server)
}

/// With no configuration, alice reads back what she set, from another device too; bob reads it
/// at her bare JID; a vCard never set (or of no account) reads as the empty `<vCard/>`; and
/// disco#info lists `vcard-temp`.
#[tokio::test]
async fn set_then_get_and_another_user_reads_it() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;

    let none = get(&mut alice, None).await?;
    assert_eq!(none.nodes().count(), 0, "nothing set: the empty vCard");
    assert_eq!(get(&mut bob, Some("alice@localhost")).await?, empty()?);

    set(&mut alice, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;
    let card: Element = CARD.parse()?;
    assert_eq!(get(&mut alice, None).await?, card);
    assert_eq!(get(&mut alice, Some("alice@localhost")).await?, card);
    let mut laptop = TestClient::connect(&server, "alice", PW).await?;
    assert_eq!(get(&mut laptop, None).await?, card);

    assert_eq!(get(&mut bob, Some("alice@localhost")).await?, card);
    // Bob's own is still empty, and so is the vCard of an address that is no account.
    assert_eq!(get(&mut bob, None).await?, empty()?);
    assert_eq!(get(&mut bob, Some("nobody@localhost")).await?, empty()?);

    let info = server_disco(&mut bob).await?;
    assert!(
        info.features.iter().any(|f| f == VCARD),
        "{:?}",
        info.features
    );
    laptop.close().await?;
    alice.close().await?;
    bob.close().await
}

/// XEP-0054 §3.2: a set on another user's vCard is `forbidden`, and changes nothing.
#[tokio::test]
async fn another_user_cannot_set_it() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    set(&mut alice, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;

    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let forged = "<vCard xmlns='vcard-temp'><FN>Not Alice</FN></vCard>";
    assert_eq!(
        set(&mut bob, Some("alice@localhost"), forged).await?,
        Err(DefinedCondition::Forbidden)
    );
    assert_eq!(
        set(
            &mut bob,
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'/>"
        )
        .await?,
        Err(DefinedCondition::Forbidden),
        "nor clear it"
    );
    assert_eq!(get(&mut alice, None).await?, CARD.parse::<Element>()?);
    alice.close().await?;
    bob.close().await
}

/// A vCard over the plugin's 192 KiB cap, in a stanza under the server's 256 KiB limit, is
/// `not-acceptable`; the session goes on and the vCard stored before stays.
#[tokio::test]
async fn an_oversize_vcard_is_refused() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    set(&mut alice, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;
    let big = format!(
        "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>{}</BINVAL></PHOTO></vCard>",
        "A".repeat(200 * 1024)
    );
    assert_eq!(
        set(&mut alice, None, &big).await?,
        Err(DefinedCondition::NotAcceptable)
    );
    assert_eq!(get(&mut alice, None).await?, CARD.parse::<Element>()?);
    alice.close().await
}

/// Alice's vCard goes with her account (`tessera user remove`'s path on the running server's
/// storage): an account created again under her name has an empty one, for her and for bob.
#[tokio::test]
async fn removing_the_account_deletes_the_vcard() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    set(&mut alice, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;
    alice.close().await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    set(&mut bob, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;

    assert!(tessera::accounts::remove(server.storage(), "alice").await?);
    server.add_user("alice", PW).await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    assert_eq!(get(&mut alice, None).await?, empty()?, "the new alice");
    assert_eq!(get(&mut bob, Some("alice@localhost")).await?, empty()?);
    assert_eq!(
        get(&mut bob, None).await?,
        CARD.parse::<Element>()?,
        "bob's stays"
    );
    alice.close().await?;
    bob.close().await
}

/// A user alice blocked (XEP-0191) cannot read her vCard: the blocking plugin runs first on her
/// `incoming` hook and answers `service-unavailable`, as for any request from a blocked address.
#[tokio::test]
async fn a_blocked_user_cannot_read_it() -> anyhow::Result<()> {
    let server = server().await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    set(&mut alice, None, CARD)
        .await?
        .map_err(|c| anyhow::anyhow!("refused: {c:?}"))?;
    let block: Element =
        "<block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block>".parse()?;
    match alice.iq(None, IqRequest::Set(block)).await? {
        IqResponse::Result(_) => {}
        other => anyhow::bail!("block answered {other:?}"),
    }

    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    match bob
        .iq(Some(jid("alice@localhost")), IqRequest::Get(empty()?))
        .await?
    {
        IqResponse::Error(e) => {
            assert_eq!(e.defined_condition, DefinedCondition::ServiceUnavailable);
        }
        other => anyhow::bail!("a blocked user's vCard get answered {other:?}"),
    }
    alice.close().await?;
    bob.close().await
}
