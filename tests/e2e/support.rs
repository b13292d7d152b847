//! Stanza builders and predicates shared by the suites.

use tessera_tests::TestClient;
use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::iq::Iq;
use tessera_tests::parsers::message::{Lang, Message, MessageType};
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::ns;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::parsers::roster::Roster;
use tessera_tests::tokio_xmpp::Stanza;
use tessera_tests::tokio_xmpp::jid::{BareJid, Jid};
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse};

/// The server's disco#info (XEP-0030 §3.1), as `client` gets it.
pub(crate) async fn server_disco(client: &mut TestClient) -> anyhow::Result<DiscoInfoResult> {
    match client
        .iq(
            Some(jid("localhost")),
            IqRequest::Get(DiscoInfoQuery { node: None }.into()),
        )
        .await?
    {
        IqResponse::Result(Some(payload)) => Ok(DiscoInfoResult::try_from(payload)?),
        other => anyhow::bail!("disco#info: {other:?}"),
    }
}

/// Parses a JID the test wrote itself.
pub(crate) fn jid(s: &str) -> Jid {
    Jid::new(s).expect("invariant: test JIDs are valid")
}

/// Parses a bare JID the test wrote itself.
pub(crate) fn bare(s: &str) -> BareJid {
    BareJid::new(s).expect("invariant: test JIDs are valid")
}

/// A chat message with a body.
pub(crate) fn chat(to: Jid, body: &str) -> Message {
    Message::new_with_type(MessageType::Chat, Some(to)).with_body(Lang::new(), body.to_owned())
}

/// A presence of `type_` addressed to `to` (subscription management, RFC 6121 §3).
pub(crate) fn presence_to(type_: PresenceType, to: &BareJid) -> Presence {
    Presence::new(type_).with_to(to.clone())
}

/// A message carrying `body`, sent by an entity whose bare JID is `from`.
pub(crate) fn is_message(stanza: &Stanza, from: &BareJid, body: &str) -> bool {
    matches!(stanza, Stanza::Message(m)
        if m.from.as_ref().is_some_and(|f| f.to_bare() == *from)
            && m.bodies.values().any(|b| b == body))
}

/// A presence of `type_` from exactly `from` (bare or full, as given).
pub(crate) fn is_presence(stanza: &Stanza, type_: &PresenceType, from: &Jid) -> bool {
    matches!(stanza, Stanza::Presence(p) if p.type_ == *type_ && p.from.as_ref() == Some(from))
}

/// A roster push (RFC 6121 §2.1.6): an IQ set with a `jabber:iq:roster` query, from the
/// account itself or no one. Returns the roster if it is one.
pub(crate) fn roster_push(stanza: &Stanza, account: &BareJid) -> Option<(String, Roster)> {
    let Stanza::Iq(Iq::Set {
        from, id, payload, ..
    }) = stanza
    else {
        return None;
    };
    // A push from anyone else is a spoof the client must ignore (RFC 6121 §2.1.6).
    if from
        .as_ref()
        .is_some_and(|f| f.resource().is_some() || f.to_bare() != *account)
    {
        return None;
    }
    if !payload.is("query", ns::ROSTER) {
        return None;
    }
    Roster::try_from(payload.clone())
        .ok()
        .map(|r| (id.clone(), r))
}

/// The roster request (RFC 6121 §2.1.3).
pub(crate) fn roster_get() -> IqRequest {
    IqRequest::Get(Element::from(Roster {
        ver: None,
        items: vec![],
    }))
}

/// Makes `a` and `b` subscribe to each other (RFC 6121 §3.1), each having sent initial presence,
/// and checks each then sees the other's available presence.
pub(crate) async fn befriend(a: &mut TestClient, b: &mut TestClient) -> anyhow::Result<()> {
    a.send(Presence::available()).await?;
    b.send(Presence::available()).await?;
    subscribe(a, b).await?;
    subscribe(b, a).await
}

/// `asker` subscribes to `contact`'s presence and `contact` approves.
async fn subscribe(asker: &mut TestClient, contact: &mut TestClient) -> anyhow::Result<()> {
    let asker_bare = asker.jid().to_bare();
    let contact_full = Jid::from(contact.jid().clone());
    asker
        .send(presence_to(
            PresenceType::Subscribe,
            &contact.jid().to_bare(),
        ))
        .await?;
    // The request is stamped with the asker's bare JID (RFC 6121 §3.1.2).
    let asker_jid = Jid::from(asker_bare.clone());
    contact
        .recv(|s| is_presence(s, &PresenceType::Subscribe, &asker_jid))
        .await?;
    contact
        .send(presence_to(PresenceType::Subscribed, &asker_bare))
        .await?;
    // Approval delivers the contact's current presence to the asker (RFC 6121 §3.1.6).
    asker
        .recv(|s| is_presence(s, &PresenceType::None, &contact_full))
        .await?;
    Ok(())
}
