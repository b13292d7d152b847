//! Registered nicknames (XEP-0045 §7.10): a user registers with a room (`jabber:iq:register`)
//! and the nickname is reserved for that user's bare JID; anyone else entering with it gets
//! `conflict`. `<remove/>` unregisters (§7.10 cancel), and disco#info with the node
//! `x-roomuser-item` tells a user its registered nickname (§7.12).
//!
//! Rules (this service's choices where §7.10 leaves them to the room):
//! - only persistent rooms take registrations (a temporary room forgets everything when it
//!   empties, a reservation too): `not-allowed` otherwise;
//! - banned users are `forbidden`; in a members-only room only members, admins and owners may
//!   register (`registration-required` for the rest: membership is the owners' to grant);
//! - in an open room registering makes the user a member (§7.10: a registered user is a member,
//!   as ejabberd and Prosody do); unregistering frees the nickname and leaves the affiliation;
//! - one nickname per user and room; registering another replaces it; a nickname reserved for
//!   someone else is `conflict`.
//!
//! Storage. The registration belongs to the user: `kv` category [`NICKNAMES`], owned by the
//! user, key = room JID, value = nickname, so the host deletes it with the account. The room
//! keeps a reverse index in its own `rooms` records (`nick/<nickname>` → bare JID,
//! `reg/<bare JID>` → nickname) to check a join in one read. The index is cleaned on the
//! `user-removed` event and when the room is destroyed or made temporary; an entry whose user
//! record is gone (an account removed by the CLI, which no event reports) is treated as free and
//! deleted when met.

use tessera_sdk::forms::{self, DataForm, DataFormType, Field, FieldType};
use tessera_sdk::jid::Jid;
use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::Element;
use tessera_sdk::{HostError, Owner, StanzaError};

use crate::config::Settings;
use crate::error;
use crate::room::{Affiliation, Room};
use crate::xml;

/// `jabber:iq:register` (XEP-0077), used by XEP-0045 §7.10.
pub(crate) const NS: &str = "jabber:iq:register";
/// XEP-0045 §15.5.2: the registration form's `FORM_TYPE`.
const FORM_TYPE: &str = "http://jabber.org/protocol/muc#register";
/// The form field with the nickname.
const FIELD: &str = "muc#register_roomnick";
/// XEP-0045 §7.12: the disco node that asks for one's registered nickname.
pub(crate) const NODE: &str = "x-roomuser-item";
/// The `kv` category of registrations, owned by the user.
pub(crate) const NICKNAMES: &str = "nicknames";

fn user_kv(bare: &str) -> Kv {
    Kv::new(NICKNAMES, Owner::user(bare))
}

fn room_kv(room: &str) -> Kv {
    Kv::new(crate::room::ROOMS, Owner::room(room))
}

/// The user's registered nickname in `room`, if the registration stands (both records agree).
///
/// # Errors
///
/// Storage failed.
pub(crate) fn nick_of(room: &Room, bare: &str) -> Result<Option<String>, HostError> {
    if !room.config.persistent {
        return Ok(None);
    }
    let Some(nick) = user_kv(bare).get_string(&room.jid)? else {
        return Ok(None);
    };
    let owner = room_kv(&room.jid).get_string(&format!("nick/{nick}"))?;
    Ok((owner.as_deref() == Some(bare)).then_some(nick))
}

/// Who `nick` is reserved for in `room`, if anyone. A stale index entry (its user record gone
/// or changed) is deleted and counts as free.
///
/// # Errors
///
/// Storage failed.
pub(crate) fn reserved_for(room: &Room, nick: &str) -> Result<Option<String>, HostError> {
    if !room.config.persistent {
        return Ok(None);
    }
    let kv = room_kv(&room.jid);
    let Some(owner) = kv.get_string(&format!("nick/{nick}"))? else {
        return Ok(None);
    };
    if user_kv(&owner).get_string(&room.jid)?.as_deref() == Some(nick) {
        return Ok(Some(owner));
    }
    kv.delete(&format!("nick/{nick}"))?;
    kv.delete(&format!("reg/{owner}"))?;
    Ok(None)
}

/// Deletes `bare`'s registration in `room` (both records).
fn unregister(room: &str, bare: &str) -> Result<(), HostError> {
    let kv = room_kv(room);
    if let Some(nick) = kv.get_string(&format!("reg/{bare}"))?
        && kv.get_string(&format!("nick/{nick}"))?.as_deref() == Some(bare)
    {
        kv.delete(&format!("nick/{nick}"))?;
    }
    kv.delete(&format!("reg/{bare}"))?;
    // The user's record may already be gone with the account, and a failure here leaves only
    // a record no index points to (ignored by `nick_of`, deleted with the account).
    if let Err(e) = user_kv(bare).delete(room) {
        tessera_sdk::log::debug(&format!("a registration record in {room} stays: {e}"));
    }
    Ok(())
}

/// Deletes the user records of every registration in a room that is going away (destroyed,
/// expired or made temporary); the room's own index goes with its records.
///
/// # Errors
///
/// Storage failed.
pub(crate) fn forget_room(room: &str) -> Result<(), HostError> {
    let kv = room_kv(room);
    for key in kv.keys("reg/", 100_001)? {
        if let Some(bare) = key.strip_prefix("reg/")
            && let Err(e) = user_kv(bare).delete(room)
        {
            tessera_sdk::log::debug(&format!("a registration record in {room} stays: {e}"));
        }
    }
    Ok(())
}

/// `user-removed`: the account's records are gone; its entries in every persistent room's index
/// go too (one read per room).
pub(crate) fn user_removed(s: &Settings, bare: &str) {
    let rooms = match Room::persistent(s.max_rooms) {
        Ok(rooms) => rooms,
        Err(e) => {
            tessera_sdk::log::warn(&format!("could not list rooms for a removed user: {e}"));
            return;
        }
    };
    for room in rooms {
        if let Err(e) = unregister(&room, bare) {
            tessera_sdk::log::warn(&format!("could not free a nickname in {room}: {e}"));
        }
    }
}

/// An IQ with `<query xmlns='jabber:iq:register'/>` from `from` (a full JID) to `room`.
pub(crate) fn handle(
    s: &Settings,
    room: &Room,
    from: &str,
    set: bool,
    q: &Element,
) -> Result<Option<Element>, StanzaError> {
    let bare = Jid::new(from)
        .map_err(|_| StanzaError::bad_request())?
        .to_bare()
        .to_string();
    if !room.config.persistent {
        return Err(
            StanzaError::not_allowed().with_text("only persistent rooms register nicknames")
        );
    }
    let aff = room.affiliation(&bare).map_err(|e| error::storage(&e))?;
    if aff == Affiliation::Outcast {
        return Err(StanzaError::forbidden());
    }
    if room.config.members_only && aff < Affiliation::Member {
        return Err(error::registration_required());
    }
    let current = nick_of(room, &bare).map_err(|e| error::storage(&e))?;
    if !set {
        let mut answer = Element::bare("query", NS);
        if let Some(nick) = current {
            // XEP-0077 §3.1: already registered.
            answer.append_child(Element::bare("registered", NS));
            answer.append_child(xml::text("username", NS, &nick));
        } else {
            answer.append_child(xml::text(
                "instructions",
                NS,
                "Choose the nickname to reserve in this room.",
            ));
        }
        answer.append_child(Element::from(form()));
        return Ok(Some(answer));
    }
    if q.has_child("remove", NS) {
        if current.is_none() {
            return Err(StanzaError::item_not_found().with_text("not registered"));
        }
        unregister(&room.jid, &bare).map_err(|e| error::storage(&e))?;
        return Ok(None);
    }
    let submitted = forms::find(q, Some(FORM_TYPE))
        .map_err(|_| StanzaError::bad_request())?
        .filter(|f| f.type_ == DataFormType::Submit)
        .ok_or_else(|| StanzaError::bad_request().with_text("submit the muc#register form"))?;
    let nick = forms::value(&submitted, FIELD)
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| StanzaError::not_acceptable().with_text("no valid nickname"))?;
    if nick.chars().count() > s.max_nick_length
        || Jid::new(&format!("{}/{nick}", room.jid)).is_err()
    {
        return Err(StanzaError::not_acceptable().with_text("nickname not acceptable"));
    }
    match reserved_for(room, nick).map_err(|e| error::storage(&e))? {
        Some(owner) if owner != bare => return Err(error::conflict()),
        _ => {}
    }
    if aff < Affiliation::Member {
        let count = room.affiliations().map_err(|e| error::storage(&e))?.len();
        if count >= s.max_affiliations as usize {
            return Err(StanzaError::resource_constraint().with_text("too many affiliations"));
        }
    }
    // User record first: an index entry without it is stale and ignored, never the reverse.
    if current.is_some() {
        unregister(&room.jid, &bare).map_err(|e| error::storage(&e))?;
    }
    let store = || -> Result<(), HostError> {
        user_kv(&bare).set_str(&room.jid, nick)?;
        let kv = room_kv(&room.jid);
        kv.set_str(&format!("nick/{nick}"), &bare)?;
        kv.set_str(&format!("reg/{bare}"), nick)?;
        if aff < Affiliation::Member {
            room.set_affiliation(&bare, Affiliation::Member)?;
        }
        Ok(())
    };
    store().map_err(|e| error::storage(&e))?;
    Ok(None)
}

/// The registration form (§15.5.2).
fn form() -> DataForm {
    let mut nick = Field::new(FIELD, FieldType::TextSingle);
    nick.label = Some("Desired nickname".to_owned());
    nick.required = true;
    forms::form(
        FORM_TYPE,
        "Nickname registration",
        "Reserve a nickname in this room.",
        vec![nick],
    )
}

/// disco#info on the node `x-roomuser-item` (§7.12): the requester's registered nickname as
/// the identity's name, or no identity.
pub(crate) fn roomuser_item(room: &Room, from: &str) -> Result<Element, StanzaError> {
    let bare = Jid::new(from)
        .map_err(|_| StanzaError::bad_request())?
        .to_bare()
        .to_string();
    let mut q = xml::el("query", crate::ns::DISCO_INFO, &[("node", NODE)]);
    if let Some(nick) = nick_of(room, &bare).map_err(|e| error::storage(&e))? {
        q.append_child(xml::el(
            "identity",
            crate::ns::DISCO_INFO,
            &[
                ("category", "conference"),
                ("type", "text"),
                ("name", &nick),
            ],
        ));
    }
    Ok(q)
}
