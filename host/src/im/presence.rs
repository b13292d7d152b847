//! Presence (RFC 6121 §4): broadcast, probes, directed presence, going offline.
//!
//! A session's broadcast presence is serialised once, with its full JID as `from` and no `to`,
//! and recorded in the router as its `last_presence`. Every delivery — to contacts, to the user's
//! own resources, in answer to a probe — stamps the recipient's `to` into those bytes
//! ([`stamp_to`]) instead of re-serialising the element for each recipient. Presence for another
//! account goes through that account's `incoming` hook first (`inbound`).

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};
use jid::{BareJid, Jid};
use minidom::Element;

use super::error::{Condition, bounce};
use super::inbound::{self, Source};
use super::stanza::{
    Dest, account, available, client_element, remove_attr, send, send_bytes, send_to_available,
    set_attr,
};
use super::subscription::Kind;
use super::{ImSession, subscription_io};
use crate::ns;
use crate::plugins::ServerEvent;
use crate::server::Shared;
use crate::storage::{StorageError, Subscription};

/// Most entities one session remembers having sent directed presence to (RFC 6121 §4.6.3);
/// beyond this, directed presence is still delivered but not retracted on logout.
const DIRECTED_MAX: usize = 1024;

/// Handles a presence stanza from the session; `dest` is its classified `to`.
pub(crate) async fn handle(
    shared: &Shared,
    session: &mut ImSession,
    presence: Element,
    dest: Dest,
) -> Result<(), StorageError> {
    let ty = presence.attr("type").map(str::to_owned);
    match (ty.as_deref(), &dest) {
        // §4.2 initial / §4.4 subsequent presence: no `to` means broadcast.
        (None, Dest::Absent) => broadcast_available(shared, session, presence).await,
        // §4.5: unavailable broadcast.
        (Some("unavailable"), Dest::Absent) => unavailable(shared, session, Some(presence)).await,
        // §4.6: directed presence.
        (None | Some("unavailable"), _) => {
            directed(shared, session, presence, dest).await;
            Ok(())
        }
        (Some("probe"), _) => probe(shared, session, presence, dest).await,
        (Some("error"), _) => {
            route_error(shared, presence, &dest).await;
            Ok(())
        }
        (Some(t), _) => match Kind::parse(t) {
            Some(kind) => subscription_io::outbound(shared, session, kind, dest, presence).await,
            // RFC 6121 §4.7.1 closes the list of presence types; RFC 6120 §8.3.3.1.
            None => {
                bounce(shared, &session.jid, presence, Condition::BadRequest);
                Ok(())
            }
        },
    }
}

/// RFC 6121 §4.7.2.3: `<priority/>` is an integer in -128..=127, 0 when absent. Out-of-range
/// integers are clamped; anything that is not an integer is a bad request.
pub(crate) fn priority(presence: &Element) -> Result<i8, Condition> {
    match presence.get_child("priority", ns::JABBER_CLIENT) {
        None => Ok(0),
        Some(p) => p
            .text()
            .trim()
            .parse::<i64>()
            .map_err(|_| Condition::BadRequest)
            .map(|v| {
                i8::try_from(v.clamp(i8::MIN.into(), i8::MAX.into()))
                    .expect("invariant: clamped into the i8 range")
            }),
    }
}

/// Inserts `to='…'` into a stanza this server serialised without one. Falls back to the bytes
/// unchanged if they do not start as expected (never for our own serialiser's output).
pub(crate) fn stamp_to(bytes: &Bytes, to: &str) -> Bytes {
    const HEAD: &[u8] = b"<presence";
    let Some(rest) = bytes.strip_prefix(HEAD) else {
        return bytes.clone();
    };
    if !rest
        .first()
        .is_some_and(|b| matches!(b, b' ' | b'>' | b'/'))
    {
        return bytes.clone();
    }
    let mut out = BytesMut::with_capacity(bytes.len() + to.len() + 8);
    out.put_slice(HEAD);
    out.put_slice(b" to=\"");
    for c in to.bytes() {
        match c {
            b'&' => out.put_slice(b"&amp;"),
            b'<' => out.put_slice(b"&lt;"),
            b'>' => out.put_slice(b"&gt;"),
            b'"' => out.put_slice(b"&quot;"),
            b'\'' => out.put_slice(b"&apos;"),
            c => out.put_u8(c),
        }
    }
    out.put_u8(b'"');
    out.put_slice(rest);
    out.freeze()
}

/// Sends `bytes` (a presence without `to`; `el` the same as an element) to every available
/// resource of `bare`, through `bare`'s `incoming` hook (`inbound`).
async fn to_available(shared: &Shared, bare: &BareJid, bytes: &Bytes, el: &Element) {
    let sessions = available(shared, bare);
    if sessions.is_empty() {
        return;
    }
    let Some(stamped) =
        inbound::bytes(shared, bare, bare.as_str(), bytes, Source::Element(el)).await
    else {
        return;
    };
    for s in sessions {
        send_bytes(shared, &s.jid, stamped.clone());
    }
}

/// The user's local contacts, split by direction: those who receive the user's presence
/// ("from"/"both", RFC 6121 §4.2.2) and those whose presence the user receives ("to"/"both",
/// §4.3.2). Remote contacts are left out: there is no s2s yet.
async fn contacts(
    shared: &Shared,
    user: &BareJid,
) -> Result<(Vec<BareJid>, Vec<BareJid>), StorageError> {
    let Some(username) = account(user) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let items = shared.storage.roster_subscriptions(username).await?;
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (jid, subscription) in items {
        if jid.domain() != shared.domain.domain() {
            continue;
        }
        let (f, t) = match subscription {
            Subscription::None => (false, false),
            Subscription::To => (false, true),
            Subscription::From => (true, false),
            Subscription::Both => (true, true),
        };
        if t {
            to.push(jid.clone());
        }
        if f {
            from.push(jid);
        }
    }
    Ok((from, to))
}

/// RFC 6121 §4.2.2 (initial) and §4.4.2 (subsequent) available presence.
async fn broadcast_available(
    shared: &Shared,
    session: &mut ImSession,
    mut presence: Element,
) -> Result<(), StorageError> {
    let prio = match priority(&presence) {
        Ok(p) => p,
        Err(c) => {
            bounce(shared, &session.jid, presence, c);
            return Ok(());
        }
    };
    let user = session.jid.to_bare();
    let Some(username) = account(&user) else {
        return Ok(());
    };
    remove_attr(&mut presence, "to");
    set_attr(&mut presence, "from", session.jid.as_str());
    let bytes = tessera_xml::serialize(&presence);
    let initial = !session.available;
    // Recorded first, so that probes racing with this broadcast already see it (§4.3.2); a
    // negative priority still counts as available, it only stops bare-JID messages (§4.7.2.3).
    shared
        .router
        .set_presence(&session.jid, session.id, Some((prio, bytes.clone())));
    session.available = true;
    // XEP-0115: the session's caps, and the plugin event (issue 3), queued and never awaited;
    // `caps` holds it while the session's features are being asked for.
    super::caps::presence(shared, session, &presence, initial);
    let (subscribers, mut sources) = contacts(shared, &user).await?;
    for contact in &subscribers {
        to_available(shared, contact, &bytes, &presence).await;
    }
    // §4.2.2 / §4.4.2: also to all of the user's available resources, this one included.
    to_available(shared, &user, &bytes, &presence).await;
    if !initial {
        return Ok(());
    }
    // §4.2.2 / §4.3.2: the server probes the contacts the user is subscribed to ("to"/"both")
    // and answers from their sessions' last presence; the user's other resources likewise.
    sources.push(user.clone());
    for contact in &sources {
        for s in available(shared, contact) {
            if s.jid == session.jid {
                continue;
            }
            if let Some(last) = s.last_presence
                && let Some(b) =
                    inbound::bytes(shared, &user, user.as_str(), &last, Source::Stored(contact))
                        .await
            {
                send_bytes(shared, &session.jid, b);
            }
        }
    }
    // §3.1.3: requests that arrived while the user was offline are delivered now.
    for contact in shared.storage.pending_in(username).await? {
        let request = subscription_io::stanza(Kind::Subscribe, &contact, &user);
        if let Some(request) = inbound::element(shared, &user, request).await {
            send(shared, &session.jid, &request);
        }
    }
    Ok(())
}

/// RFC 6121 §4.5.2: the session goes unavailable — by sending unavailable presence, or by
/// disconnecting (`presence` is then `None`). Contacts and the user's other resources are told
/// if the session was available; entities it sent directed presence to always are (§4.6.3).
pub(crate) async fn unavailable(
    shared: &Shared,
    session: &mut ImSession,
    presence: Option<Element>,
) -> Result<(), StorageError> {
    let mut presence =
        presence.unwrap_or_else(|| client_element("presence", &[("type", "unavailable")]));
    remove_attr(&mut presence, "to");
    set_attr(&mut presence, "from", session.jid.as_str());
    let bytes = tessera_xml::serialize(&presence);
    let was_available = session.available;
    shared.router.set_presence(&session.jid, session.id, None);
    session.available = false;
    // XEP-0115: its caps are forgotten (and a held `session-available` goes out first).
    super::caps::unavailable(shared, session);
    // Plugin event (issue 3): queued, never awaited.
    if was_available {
        shared
            .plugins
            .emit(&ServerEvent::SessionUnavailable(session.jid.clone()));
    }
    let directed = std::mem::take(&mut session.directed);
    let mut told: HashSet<BareJid> = HashSet::new();
    if was_available {
        let user = session.jid.to_bare();
        let (subscribers, _) = contacts(shared, &user).await?;
        for contact in subscribers {
            to_available(shared, &contact, &bytes, &presence).await;
            told.insert(contact);
        }
        // §4.5.2: the user's other available resources (this one is no longer listed).
        to_available(shared, &user, &bytes, &presence).await;
        told.insert(user);
    }
    for target in directed
        .into_iter()
        .filter(|j| !told.contains(&j.to_bare()))
    {
        // A plugin's service (a MUC room, XEP-0045 §7.14) gets it through the `service` hook,
        // addressed to the JID the session sent its presence to.
        if crate::plugins::is_service(shared, &target) {
            let mut retraction = presence.clone();
            set_attr(&mut retraction, "to", target.as_str());
            let _ = crate::plugins::service(shared, &target, retraction).await;
            continue;
        }
        let recipient = target.to_bare();
        if let Some(b) = inbound::bytes(
            shared,
            &recipient,
            target.as_str(),
            &bytes,
            Source::Element(&presence),
        )
        .await
        {
            deliver(shared, &target, &b);
        }
    }
    Ok(())
}

/// Sends already-addressed bytes to a local JID: a bound full JID, or every available resource
/// of a bare one. Anything else is silently dropped (RFC 6121 §8.5.2.2.2, §8.5.3.2.2). The
/// caller has run the recipient's `incoming` hook (`inbound`).
fn deliver(shared: &Shared, to: &Jid, bytes: &Bytes) {
    match to.try_as_full() {
        Ok(full) => {
            send_bytes(shared, full, bytes.clone());
        }
        Err(bare) => {
            for s in available(shared, bare) {
                send_bytes(shared, &s.jid, bytes.clone());
            }
        }
    }
}

/// RFC 6121 §4.6: presence addressed to one entity, delivered whatever the subscription state,
/// and remembered so that the entity is told when the session goes offline (§4.6.3).
async fn directed(shared: &Shared, session: &mut ImSession, presence: Element, dest: Dest) {
    let target: Jid = match dest {
        Dest::LocalBare(b) => b.into(),
        Dest::LocalFull(f) => f.into(),
        // RFC 6120 §10.4.3: no s2s yet.
        Dest::Remote => {
            bounce(
                shared,
                &session.jid,
                presence,
                Condition::RemoteServerNotFound,
            );
            return;
        }
        // Presence to the server itself carries nothing we act on; ignored.
        Dest::Server | Dest::ServerResource | Dest::Absent => return,
    };
    remember_directed(session, &target, presence.attr("type"));
    // §8.5.1: no account, no delivery; `deliver` finds no session either way.
    if let Some(presence) = inbound::element(shared, &target.to_bare(), presence).await {
        deliver(shared, &target, &tessera_xml::serialize(&presence));
    }
}

/// Remembers (available) or forgets (`unavailable`) that the session sent directed presence to
/// `target` (RFC 6121 §4.6.3); other presence types change nothing.
pub(crate) fn remember_directed(session: &mut ImSession, target: &Jid, type_: Option<&str>) {
    match type_ {
        Some("unavailable") => {
            session.directed.remove(target);
        }
        None if session.directed.len() < DIRECTED_MAX => {
            session.directed.insert(target.clone());
        }
        None => tracing::debug!("directed presence set full; not remembered"),
        Some(_) => {}
    }
}

/// A probe sent by a client (RFC 6121 §4.3). Answered from the router's record of the contact's
/// sessions, but only when the contact lets the user see its presence; otherwise nothing is
/// revealed (§4.3.2).
async fn probe(
    shared: &Shared,
    session: &ImSession,
    presence: Element,
    dest: Dest,
) -> Result<(), StorageError> {
    let (contact, only) = match dest {
        Dest::LocalBare(b) => (b, None),
        Dest::LocalFull(f) => (f.to_bare(), Some(f)),
        Dest::Remote => {
            bounce(
                shared,
                &session.jid,
                presence,
                Condition::RemoteServerNotFound,
            );
            return Ok(());
        }
        Dest::Absent | Dest::Server | Dest::ServerResource => return Ok(()),
    };
    let user = session.jid.to_bare();
    let allowed = contact == user || {
        match account(&contact) {
            Some(name) => shared
                .storage
                .roster_item(name, &user)
                .await?
                .is_some_and(|i| matches!(i.subscription, Subscription::From | Subscription::Both)),
            None => false,
        }
    };
    if !allowed {
        tracing::debug!("probe not authorised; ignored");
        return Ok(());
    }
    for s in available(shared, &contact) {
        if only.as_ref().is_some_and(|f| *f != s.jid) {
            continue;
        }
        if let Some(last) = s.last_presence
            && let Some(b) = inbound::bytes(
                shared,
                &user,
                session.jid.as_str(),
                &last,
                Source::Stored(&contact),
            )
            .await
        {
            send_bytes(shared, &session.jid, b);
        }
    }
    Ok(())
}

/// A presence error from the client goes to its addressee if that is a local entity; it is never
/// answered (RFC 6120 §8.3.1 rule 1).
async fn route_error(shared: &Shared, presence: Element, dest: &Dest) {
    let to: Jid = match dest {
        Dest::LocalBare(b) => b.clone().into(),
        Dest::LocalFull(f) => f.clone().into(),
        _ => return,
    };
    if let Some(presence) = inbound::element(shared, &to.to_bare(), presence).await {
        deliver(shared, &to, &tessera_xml::serialize(&presence));
    }
}

/// Sends `<presence type='unavailable'/>` from each available resource of `owner` to every
/// available resource of `recipient` (RFC 6121 §3.2.2, §3.3.3: a cancelled subscription).
pub(crate) async fn unavailable_from_all(shared: &Shared, owner: &BareJid, recipient: &BareJid) {
    for s in available(shared, owner) {
        let el = client_element(
            "presence",
            &[
                ("type", "unavailable"),
                ("from", s.jid.as_str()),
                ("to", recipient.as_str()),
            ],
        );
        if let Some(el) = inbound::element(shared, recipient, el).await {
            send_to_available(shared, recipient, &el);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Element {
        s.parse().expect("test XML")
    }

    /// Stanzas are serialised for a `jabber:client` stream, so without `xmlns`: re-parse them the
    /// way a client does, inside a stream-like wrapper that declares it.
    fn reparse(bytes: &[u8]) -> Element {
        let s = std::str::from_utf8(bytes).expect("utf-8");
        let wrapped: Element = format!("<wrap xmlns='jabber:client'>{s}</wrap>")
            .parse()
            .expect("still XML");
        wrapped.children().next().cloned().expect("one stanza")
    }

    #[test]
    fn priority_parsing() {
        let p = |x: &str| {
            priority(&parse(&format!(
                "<presence xmlns='jabber:client'>{x}</presence>"
            )))
        };
        assert_eq!(p(""), Ok(0));
        assert_eq!(p("<priority>5</priority>"), Ok(5));
        assert_eq!(p("<priority> -3 </priority>"), Ok(-3));
        assert_eq!(p("<priority>1000</priority>"), Ok(127));
        assert_eq!(p("<priority>-1000</priority>"), Ok(-128));
        assert_eq!(p("<priority>high</priority>"), Err(Condition::BadRequest));
    }

    #[test]
    fn stamped_presence_parses_back() {
        let mut el = parse(
            "<presence xmlns='jabber:client'><show>away</show><status>a &amp; b</status></presence>",
        );
        set_attr(&mut el, "from", "u@localhost/r");
        let bytes = tessera_xml::serialize(&el);
        let stamped = stamp_to(&bytes, "v@localhost/it's <odd> & \"quoted\"");
        let back = reparse(&stamped);
        assert_eq!(back.attr("to"), Some("v@localhost/it's <odd> & \"quoted\""));
        assert_eq!(back.attr("from"), Some("u@localhost/r"));
        assert_eq!(back.ns(), ns::JABBER_CLIENT);
        assert_eq!(
            back.get_child("status", ns::JABBER_CLIENT)
                .map(Element::text)
                .as_deref(),
            Some("a & b")
        );
        let empty = tessera_xml::serialize(&client_element("presence", &[("type", "unavailable")]));
        let back = reparse(&stamp_to(&empty, "a@b"));
        assert_eq!(back.attr("to"), Some("a@b"));
        assert_eq!(back.attr("type"), Some("unavailable"));
    }

    #[test]
    fn stamp_leaves_foreign_bytes_alone() {
        let other = Bytes::from_static(b"<presences/>");
        assert_eq!(stamp_to(&other, "a@b"), other);
    }
}
