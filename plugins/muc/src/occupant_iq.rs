//! IQs between occupants (XEP-0045: a stanza to an occupant JID reaches that occupant, as
//! private messages do, §7.5; clients ask occupants for vCards and versions this way): an occupant's IQ get or set to `room/nick` goes to the target's real full JID
//! from `room/senderNick`, and the answer back to the requester's real JID from
//! `room/targetNick`, so neither learns the other's address from the exchange.
//!
//! The room rewrites the IQ's id to a random one of its own and keeps what it needs to send
//! the answer back in `ephemeral` (`iqr/<room>/<id>` → [`Pending`]): only a `result` or `error`
//! with that id, from the target's session, to the requester's nickname, is relayed, once; any
//! other answer is a stray and dropped (RFC 6120 §8.2.3), so nobody can inject answers or make
//! the room send IQ answers to strangers. Answers are relayed only while both are still in the
//! room. A room holds at most [`MAX_PENDING`] unanswered IQs: when full, those older than
//! [`STALE_MS`] are dropped (their late answers become strays) and, if none is, the new IQ is
//! refused with `resource-constraint`. Pending IQs go with the room, or at a restart.
//!
//! Errors to the sender: not an occupant, `not-acceptable` (as XEP-0410 §4 expects of pings);
//! no occupant under the nickname, `item-not-found`. A ping to one's own nickname never gets
//! here: the room answers it (`ping`).

use serde::{Deserialize, Serialize};
use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, Verdict, clock, ephemeral};

use crate::error;
use crate::occupant;
use crate::xml;

/// Unanswered relayed IQs per room, at most.
pub(crate) const MAX_PENDING: u32 = 256;
/// How old an unanswered IQ may be dropped to make room (clients give up after 30 to 60 s).
pub(crate) const STALE_MS: u64 = 60_000;

/// A relayed IQ awaiting its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The requester's real full JID and the id it chose.
    requester: String,
    id: String,
    /// The nickname the IQ was sent from (the answer is addressed to it).
    requester_nick: String,
    /// The target's real full JID (the answer must come from it).
    target: String,
    /// When it was relayed (ms).
    at: u64,
}

fn key(room: &str, id: &str) -> String {
    format!("iqr/{room}/{id}")
}

/// The prefix of a room's pending IQs (cleared with the room).
pub(crate) fn prefix(room: &str) -> String {
    format!("iqr/{room}/")
}

/// A fresh id for a relayed IQ: 16 random bytes, hex.
fn fresh_id() -> Result<String, StanzaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| StanzaError::internal_server_error())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An IQ get or set from `from` to `room/nick` (not a self-ping): relayed, or refused.
pub(crate) fn request(room: &str, nick: &str, from: &str, iq: &Element) -> Verdict {
    match relay_request(room, nick, from, iq) {
        Ok(()) => Verdict::Handled,
        Err(e) => Verdict::Error(e),
    }
}

fn relay_request(room: &str, nick: &str, from: &str, iq: &Element) -> Result<(), StanzaError> {
    let Some(me) = occupant::by_jid(room, from) else {
        return Err(StanzaError::not_acceptable().with_text("not an occupant of this room"));
    };
    let Some(target) = occupant::by_nick(room, nick) else {
        return Err(StanzaError::item_not_found());
    };
    let now = clock::now_ms();
    make_room(room, now)?;
    let id = fresh_id()?;
    let pending = Pending {
        requester: me.jid.clone(),
        id: iq.attr("id").unwrap_or_default().to_owned(),
        requester_nick: me.nick.clone(),
        target: target.jid.clone(),
        at: now,
    };
    let value = serde_json::to_vec(&pending).expect("invariant: plain structs serialise");
    ephemeral::set(&key(room, &id), &value).map_err(|e| error::storage(&e))?;
    let mut copy = iq.clone();
    xml::set(&mut copy, "from", format!("{room}/{}", me.nick));
    xml::set(&mut copy, "to", target.jid.as_str());
    xml::set(&mut copy, "id", id);
    xml::send(&copy);
    Ok(())
}

/// Drops stale pending IQs when the room has too many; `resource-constraint` if none is.
fn make_room(room: &str, now: u64) -> Result<(), StanzaError> {
    let keys = ephemeral::keys(&prefix(room), MAX_PENDING);
    if keys.len() < MAX_PENDING as usize {
        return Ok(());
    }
    let mut freed = false;
    for k in keys {
        let stale = ephemeral::get(&k)
            .and_then(|v| serde_json::from_slice::<Pending>(&v).ok())
            .is_none_or(|p| now.saturating_sub(p.at) >= STALE_MS);
        if stale {
            ephemeral::delete(&k);
            freed = true;
        }
    }
    if freed {
        Ok(())
    } else {
        Err(StanzaError::resource_constraint().with_text("too many unanswered IQs in this room"))
    }
}

/// An IQ `result` or `error` from `from` to `room/nick`: relayed back if it answers a pending
/// IQ; dropped otherwise.
pub(crate) fn response(room: &str, nick: &str, from: &str, iq: &Element) -> Verdict {
    let Some(id) = iq.attr("id") else {
        return Verdict::Drop;
    };
    let k = key(room, id);
    let Some(p) = ephemeral::get(&k).and_then(|v| serde_json::from_slice::<Pending>(&v).ok())
    else {
        return Verdict::Drop;
    };
    if p.target != from || p.requester_nick != nick {
        // Not the session asked, or not to the nickname it was asked from: a stray.
        return Verdict::Drop;
    }
    ephemeral::delete(&k);
    // Both must still be in the room; the names are the current ones.
    let (Some(requester), Some(target)) = (
        occupant::by_jid(room, &p.requester),
        occupant::by_jid(room, from),
    ) else {
        return Verdict::Drop;
    };
    let mut copy = iq.clone();
    xml::set(&mut copy, "from", format!("{room}/{}", target.nick));
    xml::set(&mut copy, "to", requester.jid.as_str());
    xml::set(&mut copy, "id", p.id);
    xml::send(&copy);
    Verdict::Handled
}
