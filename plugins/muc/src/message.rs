//! Messages to a room (XEP-0045 §7.4, §8.1) and between occupants (§7.5); invitations
//! (§7.8.2, `invite`) and voice requests (§7.13, §8.6, `voice`) are handed on.

use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, Verdict};

use crate::config::Settings;
use crate::error;
use crate::expiry;
use crate::invite;
use crate::mam;
use crate::ns;
use crate::occupant::{self, Role};
use crate::occupant_id;
use crate::room::{AllowPm, Room, Subject};
use crate::voice;
use crate::xml;

/// A message from `from` to `room_jid` (`nick`: to an occupant).
pub(crate) fn handle(
    s: &Settings,
    room_jid: &str,
    nick: Option<&str>,
    from: &str,
    message: &Element,
) -> Verdict {
    let type_ = message.attr("type").unwrap_or("normal");
    if type_ == "error" {
        // An occupant's client bounced something the room sent: nothing to answer.
        return Verdict::Drop;
    }
    let room = match Room::load(room_jid) {
        Ok(Some(room)) if !room.config.locked => room,
        Ok(_) => return Verdict::Error(StanzaError::item_not_found()),
        Err(e) => return Verdict::Error(error::storage(&e)),
    };
    let result = match (nick, type_) {
        (None, "groupchat") => groupchat(s, &room, from, message),
        // §7.5: a private message is never of type groupchat.
        (Some(_), "groupchat") => Err(StanzaError::bad_request()),
        (Some(nick), _) => private(&room, nick, from, message),
        // §7.8.2: mediated invitations and declines; §7.13, §8.6: voice requests.
        (None, _) => match message.get_child("x", ns::MUC_USER) {
            Some(x) if invite::is_invitation(x) => invite::handle(s, &room, from, x),
            _ => match voice::find(message) {
                Some(Ok(form)) => voice::handle(s, &room, from, &form),
                Some(Err(e)) => Err(e),
                None => Err(StanzaError::feature_not_implemented()),
            },
        },
    };
    match result {
        Ok(()) => Verdict::Handled,
        Err(e) => Verdict::Error(e),
    }
}

/// §7.4: from an occupant with voice, reflected to every occupant (the sender included) from
/// `room@service/nick`; a `<subject/>` without a body changes the subject (§8.1).
fn groupchat(s: &Settings, room: &Room, from: &str, message: &Element) -> Result<(), StanzaError> {
    let Some(me) = occupant::by_jid(&room.jid, from) else {
        return Err(StanzaError::not_acceptable().with_text("not an occupant of this room"));
    };
    if !me.role.has_voice() {
        return Err(StanzaError::forbidden().with_text("no voice in this room"));
    }
    let subject = message.get_child("subject", ns::CLIENT);
    if let Some(subject) = subject
        && message.get_child("body", ns::CLIENT).is_none()
    {
        // §8.1: moderators, or everyone with voice when the room allows it.
        if !(me.role == Role::Moderator || room.config.change_subject) {
            return Err(StanzaError::forbidden().with_text("you may not change the subject"));
        }
        let text = subject.text();
        if text.chars().count() > s.max_subject_length {
            return Err(StanzaError::not_acceptable().with_text("subject too long"));
        }
        room.set_subject(&Subject {
            text,
            nick: me.nick.clone(),
        })
        .map_err(|e| error::storage(&e))?;
    }
    let sender = format!("{}/{}", room.jid, me.nick);
    let mut message = message.clone();
    mam::strip_stanza_ids(&mut message, &room.jid);
    // XEP-0421 §4: the room's id replaces any the sender put in, and is archived with it.
    occupant_id::stamp(&mut message, &me.occupant_id);
    xml::set(&mut message, "from", sender.as_str());
    // §7.2.12: a logged room archives it first, so every copy carries its XEP-0359 id.
    if room.config.logging
        && mam::loggable(&message)
        && let Some(id) = mam::append(&room.jid, &sender, &message)
    {
        message.append_child(mam::stanza_id(&id, &room.jid));
    }
    expiry::touch(s, room);
    for o in occupant::all(room, s.max_occupants + 1) {
        let mut copy = message.clone();
        xml::set(&mut copy, "from", sender.as_str());
        xml::set(&mut copy, "to", o.jid.as_str());
        xml::send(&copy);
    }
    Ok(())
}

/// §7.5: from an occupant to another, by nickname, as the room's `allowpm` permits.
fn private(room: &Room, nick: &str, from: &str, message: &Element) -> Result<(), StanzaError> {
    let Some(me) = occupant::by_jid(&room.jid, from) else {
        return Err(StanzaError::not_acceptable().with_text("not an occupant of this room"));
    };
    let allowed = match room.config.allow_pm {
        AllowPm::Anyone => true,
        AllowPm::Participants => me.role.has_voice(),
        AllowPm::Moderators => me.role == Role::Moderator,
        AllowPm::None => false,
    };
    if !allowed {
        return Err(StanzaError::not_allowed().with_text("private messages are not allowed"));
    }
    let Some(target) = occupant::by_nick(&room.jid, nick) else {
        return Err(StanzaError::item_not_found());
    };
    let mut copy = message.clone();
    xml::set(&mut copy, "from", format!("{}/{}", room.jid, me.nick));
    xml::set(&mut copy, "to", target.jid.as_str());
    // §7.5: marked as a MUC private message (XEP-0280 §6 leaves these alone by it).
    if copy.get_child("x", ns::MUC_USER).is_none() {
        copy.append_child(Element::bare("x", ns::MUC_USER));
    }
    occupant_id::stamp(&mut copy, &me.occupant_id);
    xml::send(&copy);
    Ok(())
}
