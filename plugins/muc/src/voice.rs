//! Voice requests (XEP-0045 §7.13) and their approval by moderators (§8.6).
//!
//! A visitor in a moderated room sends the room a message carrying a `muc#request` form asking
//! for the role `participant`. The room forwards a form to every moderator naming the
//! requester's nickname and, since moderators may always see real JIDs (§4.2, both anonymity
//! modes), its real JID; a moderator who submits that form with `muc#request_allow` true gives
//! the requester voice exactly as the admin item `role='participant'` would (§8.3): the role
//! changes and every occupant gets the new presence, with the moderator as actor.
//!
//! Rules: only occupants ask (`not-acceptable` for others, as for groupchat); a request from an
//! occupant who already has voice is ignored (§7.13 is for visitors); only moderators decide
//! (`forbidden`). Each occupant has at most one pending request: asking again while one is
//! pending forwards nothing. Pending requests are `ephemeral` (`voice/<room>/<nick>` → the
//! requester's full JID), at most [`MAX_PENDING`] per room (when full, stale ones, whose
//! nickname is no longer that session's or which has voice by now, are dropped; if none is, the
//! request gets `resource-constraint`), cleared with the room and by a decision. A
//! decision checks that the nickname still belongs to the requester, so voice never goes to
//! someone who took the nickname afterwards.

use tessera_sdk::forms::{self, DataForm, DataFormType, Field, FieldType};
use tessera_sdk::minidom::Element;
use tessera_sdk::xmpp_parsers::data_forms::Option_;
use tessera_sdk::{StanzaError, ephemeral};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant::{self, Occupant, Role};
use crate::presence::{self, sees_jids};
use crate::room::Room;
use crate::xml::{self, Extra};

/// Pending voice requests per room, at most.
pub(crate) const MAX_PENDING: u32 = 500;

fn pending_key(room: &str, nick: &str) -> String {
    format!("voice/{room}/{nick}")
}

/// The prefix of a room's pending requests (cleared with the room).
pub(crate) fn prefix(room: &str) -> String {
    format!("voice/{room}/")
}

/// The `muc#request` form a message carries, if any.
pub(crate) fn find(message: &Element) -> Option<Result<DataForm, StanzaError>> {
    match forms::find(message, Some(ns::MUC_REQUEST)) {
        Ok(Some(form)) => Some(Ok(form)),
        Ok(None) => None,
        Err(_) => Some(Err(StanzaError::bad_request())),
    }
}

/// A message from `from` to `room` carrying `form`: a request (§7.13) or a moderator's decision
/// (§8.6, the form with `muc#request_allow`).
pub(crate) fn handle(
    s: &Settings,
    room: &Room,
    from: &str,
    form: &DataForm,
) -> Result<(), StanzaError> {
    let Some(me) = occupant::by_jid(&room.jid, from) else {
        return Err(StanzaError::not_acceptable().with_text("not an occupant of this room"));
    };
    if form.type_ != DataFormType::Submit {
        return Err(StanzaError::bad_request());
    }
    if forms::values(form, "muc#request_allow").is_empty() {
        request(s, room, &me, form)
    } else {
        decide(s, room, &me, form)
    }
}

/// §7.13: a visitor asks for voice; every moderator gets the approval form.
fn request(s: &Settings, room: &Room, me: &Occupant, form: &DataForm) -> Result<(), StanzaError> {
    if forms::value(form, "muc#role") != Some("participant") {
        return Err(StanzaError::bad_request().with_text("only the participant role is requested"));
    }
    let key = pending_key(&room.jid, &me.nick);
    if me.role != Role::Visitor {
        // Voice already (given meanwhile by §8.3, perhaps): nothing to ask for, nothing pending.
        ephemeral::delete(&key);
        return Ok(());
    }
    if ephemeral::get(&key).as_deref() == Some(me.jid.as_bytes()) {
        // One pending request per occupant: the moderators have it already.
        return Ok(());
    }
    make_room(&room.jid)?;
    ephemeral::set(&key, me.jid.as_bytes()).map_err(|e| error::storage(&e))?;
    let moderators: Vec<Occupant> = occupant::all(room, s.max_occupants + 1)
        .into_iter()
        .filter(|o| o.role == Role::Moderator)
        .collect();
    for m in moderators {
        let mut msg = xml::stanza("message", &room.jid, &m.jid, None);
        msg.append_child(Element::from(approval_form(room, me, m.role)));
        xml::send(&msg);
    }
    Ok(())
}

/// Drops stale requests when the room has too many; `resource-constraint` if all are live.
fn make_room(room: &str) -> Result<(), StanzaError> {
    let keys = ephemeral::keys(&prefix(room), MAX_PENDING);
    if keys.len() < MAX_PENDING as usize {
        return Ok(());
    }
    let mut freed = false;
    for key in keys {
        let nick = &key[prefix(room).len()..];
        let jid = ephemeral::get(&key).unwrap_or_default();
        let live = occupant::by_nick(room, nick)
            .is_some_and(|o| o.jid.as_bytes() == jid && o.role == Role::Visitor);
        if !live {
            ephemeral::delete(&key);
            freed = true;
        }
    }
    if freed {
        Ok(())
    } else {
        Err(StanzaError::resource_constraint().with_text("too many pending voice requests"))
    }
}

/// The form a moderator gets (§8.6, the `muc#request` registration of §15.5.2).
fn approval_form(room: &Room, requester: &Occupant, viewer: Role) -> DataForm {
    let mut role = Field::new("muc#role", FieldType::ListSingle).with_value("participant");
    role.label = Some("Requested role".to_owned());
    role.options = vec![Option_ {
        label: Some("Participant".to_owned()),
        value: "participant".to_owned(),
    }];
    let mut nick =
        Field::new("muc#roomnick", FieldType::TextSingle).with_value(requester.nick.as_str());
    nick.label = Some("Nickname".to_owned());
    let mut allow = Field::new("muc#request_allow", FieldType::Boolean).with_value("0");
    allow.label = Some("Grant voice to this person?".to_owned());
    let mut fields = vec![role];
    if sees_jids(room, viewer) {
        let mut jid =
            Field::new("muc#jid", FieldType::JidSingle).with_value(requester.jid.as_str());
        jid.label = Some("User ID".to_owned());
        fields.push(jid);
    }
    fields.push(nick);
    fields.push(allow);
    forms::form(
        ns::MUC_REQUEST,
        "Voice request",
        "To grant voice, check \"Grant voice to this person?\" and submit the form.",
        fields,
    )
}

/// §8.6: a moderator's answer; `muc#request_allow` true gives voice.
fn decide(s: &Settings, room: &Room, me: &Occupant, form: &DataForm) -> Result<(), StanzaError> {
    if me.role != Role::Moderator {
        return Err(StanzaError::forbidden().with_text("only moderators decide voice requests"));
    }
    let allow = forms::boolean(form, "muc#request_allow").ok_or_else(|| {
        StanzaError::not_acceptable().with_text("muc#request_allow: not a boolean")
    })?;
    let nick = forms::value(form, "muc#roomnick").ok_or_else(StanzaError::bad_request)?;
    let key = pending_key(&room.jid, nick);
    let pending = ephemeral::get(&key);
    ephemeral::delete(&key);
    if !allow {
        return Ok(());
    }
    let Some(mut target) = occupant::by_nick(&room.jid, nick) else {
        return Err(StanzaError::item_not_found().with_text("no such occupant"));
    };
    // The nickname must still be the requester's (it may have left and someone else taken it).
    let named = forms::value(form, "muc#jid").map(str::as_bytes);
    if pending
        .as_deref()
        .or(named)
        .is_some_and(|jid| jid != target.jid.as_bytes())
    {
        return Err(StanzaError::item_not_found().with_text("the requester has left"));
    }
    if target.role != Role::Visitor {
        // Voice already (another moderator was quicker, or §8.3 by hand).
        return Ok(());
    }
    target.role = Role::Participant;
    occupant::update(&room.jid, &target).map_err(|e| error::storage(&e))?;
    let extra = Extra {
        actor: Some(&me.nick),
        ..Extra::default()
    };
    presence::broadcast(s, room, &target, false, &extra);
    Ok(())
}
