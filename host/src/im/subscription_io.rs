//! Drives the subscription state machine (`subscription`) for both sides at once.
//!
//! Both the user and the contact are accounts on this server (there is no s2s yet), so the user's
//! server half (RFC 6121 Appendix A.2) and the contact's server half (A.3) run back to back: load
//! each side's state, apply the pure transition, store it, push changed items to interested
//! resources (§2.1.6), and deliver the stanza with the user's *bare* JID as `from` (§3.1.2).

use jid::BareJid;
use minidom::Element;

use super::error::{Condition, bounce};
use super::roster::{item_element, push};
use super::stanza::{Dest, account, available, client_element, send_bytes, send_to_available};
use super::subscription::{self, Kind, State};
use super::{ImSession, presence};
use crate::server::Shared;
use crate::storage::{RosterItem, StorageError, Subscription};

/// `user`'s state for `contact`: the roster item (if any) and the Pending In flag.
async fn load(
    shared: &Shared,
    user: &str,
    contact: &BareJid,
) -> Result<(Option<RosterItem>, State), StorageError> {
    let item = shared.storage.roster_item(user, contact).await?;
    let pending_in = shared.storage.pending_in(user).await?.contains(contact);
    let state = match &item {
        Some(i) => State {
            sub: i.subscription,
            pending_out: i.ask_out,
            pending_in,
            approved: i.approved,
        },
        None => State {
            pending_in,
            ..State::default()
        },
    };
    Ok((item, state.normalized()))
}

/// Stores `user`'s new state for `contact` and pushes the item if it changed (RFC 6121 §2.1.6).
/// A roster item is created only when there is something to remember beyond Pending In, which is
/// kept apart because a request alone does not make a roster item (§3.1.3).
async fn store(
    shared: &Shared,
    user: &BareJid,
    contact: &BareJid,
    item: Option<RosterItem>,
    old: State,
    new: State,
) -> Result<(), StorageError> {
    let Some(username) = account(user) else {
        return Ok(());
    };
    if new.pending_in != old.pending_in {
        if new.pending_in {
            shared.storage.add_pending_in(username, contact).await?;
        } else {
            shared.storage.remove_pending_in(username, contact).await?;
        }
    }
    let item_changed =
        new.sub != old.sub || new.pending_out != old.pending_out || new.approved != old.approved;
    let needs_item = new.sub != Subscription::None || new.pending_out || new.approved;
    if !item_changed || (item.is_none() && !needs_item) {
        return Ok(());
    }
    let stored = RosterItem {
        subscription: new.sub,
        ask_out: new.pending_out,
        approved: new.approved,
        ..item.unwrap_or(RosterItem {
            jid: contact.clone(),
            name: None,
            groups: Vec::new(),
            subscription: Subscription::None,
            ask_out: false,
            approved: false,
        })
    };
    let ver = shared.storage.put_roster_item(username, &stored).await?;
    push(shared, user, item_element(&stored), ver);
    Ok(())
}

/// A subscription stanza between two bare JIDs, as stamped by the sender's server (§3.1.2).
pub(crate) fn stanza(kind: Kind, from: &BareJid, to: &BareJid) -> Element {
    client_element(
        "presence",
        &[
            ("type", kind.as_str()),
            ("from", from.as_str()),
            ("to", to.as_str()),
        ],
    )
}

/// The user's client sent a subscription stanza (`type` = `kind`) addressed to `dest`.
pub(crate) async fn outbound(
    shared: &Shared,
    session: &ImSession,
    kind: Kind,
    dest: Dest,
    mut presence: Element,
) -> Result<(), StorageError> {
    let contact = match dest {
        // §3.1.1: a subscription request is addressed to the contact's bare JID; the server
        // uses the bare JID even if the client gave a full one (§3.1.2).
        Dest::LocalBare(b) => b,
        Dest::LocalFull(f) => f.to_bare(),
        Dest::Remote => {
            // No s2s yet (RFC 6120 §10.4.3). The roster is left unchanged: a request that can
            // never be answered must not leave a permanent Pending Out behind.
            bounce(
                shared,
                &session.jid,
                presence,
                Condition::RemoteServerNotFound,
            );
            return Ok(());
        }
        // §3.1.1: subscriptions need a contact. The server itself has no presence to share.
        Dest::Absent => {
            bounce(shared, &session.jid, presence, Condition::BadRequest);
            return Ok(());
        }
        Dest::Server | Dest::ServerResource => {
            bounce(
                shared,
                &session.jid,
                presence,
                Condition::ServiceUnavailable,
            );
            return Ok(());
        }
    };
    let user = session.jid.to_bare();
    let Some(username) = account(&user) else {
        return Ok(());
    };
    if contact == user {
        // A user always sees their own presence (§4.2.2); a self-subscription means nothing.
        tracing::debug!("ignoring subscription stanza to self");
        return Ok(());
    }
    let (item, old) = load(shared, username, &contact).await?;
    let effect = subscription::outbound(old, kind);
    store(shared, &user, &contact, item, old, effect.state).await?;
    if effect.route {
        // §3.1.2: stamp the user's bare JID and the contact's bare JID; keep the payload
        // (e.g. a XEP-0172 nick in a request).
        super::stanza::set_attr(&mut presence, "from", user.as_str());
        super::stanza::set_attr(&mut presence, "to", contact.as_str());
        deliver_inbound(shared, &user, &contact, kind, presence).await?;
        if kind == Kind::Unsubscribed && old.has_from() {
            // §3.2.2: the contact no longer sees the user: tell it the user is gone.
            presence::unavailable_from_all(shared, &user, &contact).await;
        }
    }
    Ok(())
}

/// RFC 6121 §2.5.2: the user removed `item` from the roster. Cancel the subscriptions in both
/// directions on the contact's side; the caller then deletes the item and pending request.
pub(crate) async fn roster_removed(
    shared: &Shared,
    user: &BareJid,
    item: &RosterItem,
) -> Result<(), StorageError> {
    let Some(username) = account(user) else {
        return Ok(());
    };
    let (_, state) = load(shared, username, &item.jid).await?;
    if state.has_to() || state.pending_out {
        let s = stanza(Kind::Unsubscribe, user, &item.jid);
        deliver_inbound(shared, user, &item.jid, Kind::Unsubscribe, s).await?;
    }
    if state.has_from() || state.pending_in {
        let s = stanza(Kind::Unsubscribed, user, &item.jid);
        deliver_inbound(shared, user, &item.jid, Kind::Unsubscribed, s).await?;
        if state.has_from() {
            presence::unavailable_from_all(shared, user, &item.jid).await;
        }
    }
    Ok(())
}

/// The contact's server half: `kind` from `from` arrives for `to`, and any auto-reply it causes
/// arrives back at `from` the same way. Only local contacts are handled; with no s2s, a remote
/// contact's side is out of reach (the caller already bounced what it could).
async fn deliver_inbound(
    shared: &Shared,
    from: &BareJid,
    to: &BareJid,
    kind: Kind,
    stanza_el: Element,
) -> Result<(), StorageError> {
    let mut next = Some((from.clone(), to.clone(), kind, stanza_el));
    // At most two rounds: an auto-reply (`subscribed`/`unsubscribed`) never causes another.
    while let Some((from, to, kind, el)) = next.take() {
        next = inbound_one(shared, &from, &to, kind, el).await?;
    }
    Ok(())
}

type AutoReply = Option<(BareJid, BareJid, Kind, Element)>;

async fn inbound_one(
    shared: &Shared,
    from: &BareJid,
    to: &BareJid,
    kind: Kind,
    el: Element,
) -> Result<AutoReply, StorageError> {
    if to.domain() != shared.domain.domain() {
        return Ok(None);
    }
    let Some(username) = account(to) else {
        return Ok(None);
    };
    if !shared.storage.account_exists(username).await? {
        // RFC 6121 §8.5.1: a request to a missing account is answered with "unsubscribed" on
        // its behalf; other subscription stanzas are ignored.
        return Ok((kind == Kind::Subscribe).then(|| {
            (
                to.clone(),
                from.clone(),
                Kind::Unsubscribed,
                stanza(Kind::Unsubscribed, to, from),
            )
        }));
    }
    // plugins: the contact's `incoming` hook (XEP-0191: a blocked sender's subscription
    // stanzas are dropped); a stopped stanza never arrived, so the state does not change.
    let Some(el) = super::inbound::element(shared, to, el).await else {
        return Ok(None);
    };
    let (item, old) = load(shared, username, from).await?;
    let effect = subscription::inbound(old, kind);
    store(shared, to, from, item, old, effect.state).await?;
    if effect.deliver {
        // §3.1.3: to every available resource; a request nobody sees now stays Pending In and
        // is delivered on the next initial presence (`presence::initial`).
        send_to_available(shared, to, &el);
    }
    if kind == Kind::Unsubscribe && old.has_from() {
        // §3.3.3: the user no longer receives the contact's presence: say the contact is gone.
        presence::unavailable_from_all(shared, to, from).await;
    }
    if kind == Kind::Subscribed && effect.deliver {
        // §3.1.5 / §4.3.2: the new subscriber gets the contact's current presence right away.
        send_current_presence(shared, from, to).await;
    }
    if effect.auto_subscribed {
        // §3.1.3 (already subscribed) and §3.4.2 (pre-approved): answer for the contact.
        return Ok(Some((
            to.clone(),
            from.clone(),
            Kind::Subscribed,
            stanza(Kind::Subscribed, to, from),
        )));
    }
    Ok(None)
}

/// Sends the last presence of each of `contact`'s available resources to each available resource
/// of `user` (RFC 6121 §4.3.2). The stored bytes already carry the contact's full JID as `from`;
/// each copy gets the recipient's `to`, as on every other presence path.
pub(crate) async fn send_current_presence(shared: &Shared, contact: &BareJid, user: &BareJid) {
    let recipients = available(shared, user);
    if recipients.is_empty() {
        return;
    }
    for s in available(shared, contact) {
        if let Some(bytes) = s.last_presence {
            for r in &recipients {
                if let Some(b) = super::inbound::bytes(
                    shared,
                    user,
                    r.jid.as_str(),
                    &bytes,
                    super::inbound::Source::Stored(contact),
                )
                .await
                {
                    send_bytes(shared, &r.jid, b);
                }
            }
        }
    }
}
