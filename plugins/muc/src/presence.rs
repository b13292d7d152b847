//! Presence to a room (XEP-0045 §7): entering (§7.2), changing presence or nickname (§7.6,
//! §7.7), leaving (§7.14), and removing an occupant for any reason (kick, ban, destruction).

use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, Verdict};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant::{self, Occupant, Role};
use crate::room::{Affiliation, Room, RoomConfig, Whois};
use crate::xml::{self, Extra};

/// Whether `viewer` may see real JIDs in `room` (§4.2: semi-anonymous rooms show them to
/// moderators only).
pub(crate) fn sees_jids(room: &Room, viewer_role: Role) -> bool {
    room.config.whois == Whois::Anyone || viewer_role == Role::Moderator
}

/// A presence from `from` (a full JID) to `room_jid`, with `nick` its resource, if any.
pub(crate) fn handle(
    s: &Settings,
    room_jid: &str,
    nick: Option<&str>,
    from: &str,
    presence: &Element,
) -> Verdict {
    match presence.attr("type") {
        None => match available(s, room_jid, nick, from, presence) {
            Ok(()) => Verdict::Handled,
            Err(e) => Verdict::Error(e),
        },
        // §7.14: leaving, whatever nickname it is addressed to (the host also sends this when
        // the session ends, RFC 6121 §4.6.3). §17.3 (errors from an occupant's client: it is
        // gone) is treated the same, with status 333.
        Some(t @ ("unavailable" | "error")) => {
            if let Ok(Some(room)) = Room::load(room_jid)
                && let Some(o) = occupant::by_jid(room_jid, from)
            {
                let codes = if t == "error" { vec![333] } else { vec![] };
                remove(
                    s,
                    &room,
                    &o,
                    &Extra {
                        codes,
                        ..Extra::default()
                    },
                );
            }
            Verdict::Drop
        }
        // Subscription requests and probes to a room mean nothing here.
        Some(_) => Verdict::Drop,
    }
}

/// The presence children an occupant's broadcasts carry: all but the MUC `<x/>`.
fn stored_children(presence: &Element) -> String {
    presence
        .children()
        .filter(|c| !c.is("x", ns::MUC) && !c.is("occupant-id", ns::OCCUPANT_ID))
        .map(String::from)
        .collect()
}

fn available(
    s: &Settings,
    room_jid: &str,
    nick: Option<&str>,
    from: &str,
    presence: &Element,
) -> Result<(), StanzaError> {
    // §7.2.1: no nickname, no entry.
    let Some(nick) = nick.filter(|n| !n.is_empty()) else {
        return Err(error::jid_malformed());
    };
    if nick.chars().count() > s.max_nick_length {
        return Err(StanzaError::not_acceptable().with_text("nickname too long"));
    }
    let room = Room::load(room_jid).map_err(|e| error::storage(&e))?;
    if let Some(room) = &room
        && let Some(mut me) = occupant::by_jid(room_jid, from)
    {
        me.presence = stored_children(presence);
        if me.nick == nick {
            // §7.7: a presence change, broadcast to everyone.
            occupant::update(room_jid, &me).map_err(|e| error::storage(&e))?;
            broadcast(s, room, &me, false, &Extra::default());
            return Ok(());
        }
        return change_nick(s, room, me, nick);
    }
    join(s, room, room_jid, nick, from, presence)
}

fn join(
    s: &Settings,
    existing: Option<Room>,
    room_jid: &str,
    nick: &str,
    from: &str,
    presence: &Element,
) -> Result<(), StanzaError> {
    let muc = presence.get_child("x", ns::MUC);
    let bare = Jid::new(from)
        .map_err(|_| StanzaError::bad_request())?
        .to_bare()
        .to_string();
    let (room, created) = match existing {
        Some(room) => (room, false),
        None => {
            // §10.1.1: the room is created by entering it. Bounded by `max_rooms`.
            let count = Room::count(s.max_rooms + 1).map_err(|e| error::storage(&e))?;
            if count >= s.max_rooms as usize {
                return Err(StanzaError::resource_constraint().with_text("too many rooms"));
            }
            let config = RoomConfig {
                // §10.1.1: a room entered with the MUC protocol is locked until its owner
                // configures it (an instant room: an empty submitted form, §10.1.2); a
                // groupchat 1.0 client (no `<x/>`) gets an instant room at once.
                locked: muc.is_some(),
                max_users: s.max_occupants,
                ..RoomConfig::default()
            };
            let created = Room::create(room_jid, config, &bare).map_err(|e| error::storage(&e))?;
            let room = Room::load(room_jid)
                .map_err(|e| error::storage(&e))?
                .ok_or_else(StanzaError::item_not_found)?;
            (room, created)
        }
    };
    let aff = room.affiliation(&bare).map_err(|e| error::storage(&e))?;
    if aff == Affiliation::Outcast {
        // §7.2.8: banned.
        return Err(StanzaError::forbidden());
    }
    if room.config.locked && aff != Affiliation::Owner {
        // §10.1.1: a locked room does not exist for anyone but its owners.
        return Err(StanzaError::item_not_found());
    }
    if room.config.members_only && aff < Affiliation::Member {
        return Err(error::registration_required());
    }
    if let Some(secret) = &room.config.password {
        let given = muc
            .and_then(|x| x.get_child("password", ns::MUC))
            .map(Element::text);
        if given.as_deref() != Some(secret.as_str()) {
            return Err(error::not_authorized());
        }
    }
    let present = occupant::count(room_jid, s.max_occupants + 1);
    let limit = room.config.max_users.min(s.max_occupants) as usize;
    // §7.2.10: full; admins and owners may still enter up to the service's own bound.
    if present >= s.max_occupants as usize || (present >= limit && !aff.is_admin()) {
        return Err(error::room_full());
    }
    // §7.10: a registered nickname is its owner's.
    if let Some(owner) =
        crate::register::reserved_for(&room, nick).map_err(|e| error::storage(&e))?
        && owner != bare
    {
        return Err(error::conflict());
    }
    let occupant_id = crate::occupant_id::of(room_jid, &bare).unwrap_or_else(|e| {
        tessera_sdk::log::warn(&format!("no occupant id in room {room_jid}: {e}"));
        String::new()
    });
    let me = Occupant {
        nick: nick.to_owned(),
        jid: from.to_owned(),
        role: Role::default_for(aff, room.config.moderated),
        affiliation: aff,
        presence: stored_children(presence),
        occupant_id,
    };
    if occupant::by_nick(room_jid, nick).is_some()
        || !occupant::claim(room_jid, &me).map_err(|e| error::storage(&e))?
    {
        // §7.2.9 (a fresh room whose creator lost the race keeps existing: it has an owner).
        return Err(error::conflict());
    }
    let others: Vec<Occupant> = occupant::all(&room, s.max_occupants + 1)
        .into_iter()
        .filter(|o| o.jid != me.jid)
        .collect();
    // §7.2.3: first the others' presence to the newcomer, then the newcomer's to the others,
    // then the newcomer's own with status 110.
    let mine = sees_jids(&room, me.role);
    for o in &others {
        xml::send(&xml::occupant_presence(
            &room.jid,
            o,
            from,
            false,
            mine,
            &Extra::default(),
        ));
    }
    for o in &others {
        xml::send(&xml::occupant_presence(
            &room.jid,
            &me,
            &o.jid,
            false,
            sees_jids(&room, o.role),
            &Extra::default(),
        ));
    }
    let mut codes = Vec::new();
    if room.config.whois == Whois::Anyone {
        codes.push(100); // §7.2.4: non-anonymous
    }
    if room.config.logging {
        codes.push(170); // §7.2.12: the room is logged
    }
    codes.push(110);
    if created {
        codes.push(201); // §10.1.1: new room
    }
    xml::send(&xml::occupant_presence(
        &room.jid,
        &me,
        from,
        false,
        true,
        &Extra {
            codes,
            ..Extra::default()
        },
    ));
    // §7.2.14: the discussion history, then (§7.2.15) the subject, empty if none.
    crate::history::send(s, &room, from, crate::history::Limits::parse(muc));
    crate::expiry::touch(s, &room);
    let subject = room.subject().unwrap_or_default();
    let sender = if subject.nick.is_empty() {
        room.jid.clone()
    } else {
        format!("{}/{}", room.jid, subject.nick)
    };
    let mut m = xml::stanza("message", &sender, from, Some("groupchat"));
    m.append_child(xml::text("subject", ns::CLIENT, &subject.text));
    xml::send(&m);
    Ok(())
}

/// §7.6: unavailable with 303 and the new nickname from the old one, then available from the
/// new one, to everyone (110 to the occupant itself).
fn change_nick(s: &Settings, room: &Room, me: Occupant, nick: &str) -> Result<(), StanzaError> {
    if let Some(owner) =
        crate::register::reserved_for(room, nick).map_err(|e| error::storage(&e))?
        && owner != me.bare()
    {
        return Err(error::conflict());
    }
    let renamed = Occupant {
        nick: nick.to_owned(),
        ..me.clone()
    };
    if !occupant::claim(&room.jid, &renamed).map_err(|e| error::storage(&e))? {
        return Err(error::conflict());
    }
    let everyone = occupant::all(room, s.max_occupants + 1);
    for o in everyone.iter().filter(|o| o.nick != nick) {
        let own = o.jid == me.jid;
        let mut codes = vec![303];
        if own {
            codes.push(110);
        }
        xml::send(&xml::occupant_presence(
            &room.jid,
            &me,
            &o.jid,
            true,
            sees_jids(room, o.role),
            &Extra {
                codes,
                new_nick: Some(nick),
                ..Extra::default()
            },
        ));
    }
    occupant::remove(&room.jid, &me);
    occupant::rename(&room.jid, &me.jid, nick).map_err(|e| error::storage(&e))?;
    broadcast(s, room, &renamed, false, &Extra::default());
    Ok(())
}

/// Sends `o`'s presence to every occupant (`o` included, with 110 added for it).
pub(crate) fn broadcast(
    s: &Settings,
    room: &Room,
    o: &Occupant,
    unavailable: bool,
    extra: &Extra<'_>,
) {
    for viewer in occupant::all(room, s.max_occupants + 1) {
        send_to(room, o, &viewer, unavailable, extra);
    }
}

fn send_to(room: &Room, o: &Occupant, viewer: &Occupant, unavailable: bool, extra: &Extra<'_>) {
    let own = viewer.jid == o.jid;
    let mut extra = extra.clone();
    if own {
        extra.codes.push(110);
    }
    xml::send(&xml::occupant_presence(
        &room.jid,
        o,
        &viewer.jid,
        unavailable,
        own || sees_jids(room, viewer.role),
        &extra,
    ));
}

/// Removes `o` from the room, telling it (with 110) and everyone left, and deletes a temporary
/// room that is now empty (§10.1: it exists only while occupied).
pub(crate) fn remove(s: &Settings, room: &Room, o: &Occupant, extra: &Extra<'_>) {
    occupant::remove(&room.jid, o);
    send_to(room, o, o, true, extra);
    let rest = occupant::all(room, s.max_occupants + 1);
    for viewer in &rest {
        send_to(room, o, viewer, true, extra);
    }
    if rest.is_empty()
        && !room.config.persistent
        && let Err(e) = room.delete()
    {
        tessera_sdk::log::warn(&format!(
            "could not delete the empty room {}: {e}",
            room.jid
        ));
    }
}
