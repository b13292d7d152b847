//! Mediated invitations (XEP-0045 §7.8.2): an occupant asks the room to invite someone, the room
//! sends the invitee the invitation (with the room's password, if any), and the invitee may
//! decline through the room, which tells the inviter.
//!
//! Rules: only occupants invite (`not-acceptable` otherwise, as for groupchat); when the owner
//! turned `muc#roomconfig_allowinvites` off (§10.2: "allow occupants to invite others"), only
//! moderators, admins and owners may, mere occupants (§7) getting `forbidden`; in a members-only
//! room only admins and owners may (§7.8.2: "invitation privileges in members-only rooms SHOULD
//! be restricted to room admins", `forbidden` for the rest), and their invitation makes the
//! invitee a member so that the invitation can be used (§7.8.2 business rule). A banned invitee
//! cannot be invited (`not-allowed`). The invitation names the inviter by bare JID (§7.8.2: the
//! room adds the inviter's address), even in a semi-anonymous room: the invitee must know who asks.
//!
//! A decline is relayed only to someone who invited the decliner to this room and only once, so
//! the room cannot be used to send declines to strangers. Pending invitations are `ephemeral`
//! (`inv/<room>/<invitee bare>/<inviter bare>` → the inviter's full JID), at most
//! [`MAX_PENDING`] per room (the oldest-named go first), deleted with the room, lost at a
//! restart (the invitation itself is still valid; only its decline is no longer relayed). XEP-0249
//! direct invitations go from client to client and never reach the room.

use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, ephemeral};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant::{self, Role};
use crate::room::{Affiliation, Room};
use crate::xml;

/// Invitations in one message, at most.
const MAX_INVITES: usize = 20;
/// Pending invitations remembered per room for their declines.
pub(crate) const MAX_PENDING: u32 = 1000;

fn bare(jid: &str) -> Result<String, StanzaError> {
    Jid::new(jid)
        .map(|j| j.to_bare().to_string())
        .map_err(|_| error::jid_malformed())
}

fn pending_key(room: &str, invitee: &str, inviter: &str) -> String {
    format!("inv/{room}/{invitee}/{inviter}")
}

/// The prefix of a room's pending invitations (cleared with the room).
pub(crate) fn prefix(room: &str) -> String {
    format!("inv/{room}/")
}

/// Whether a `muc#user` `<x/>` holds invitations or a decline: this module's to handle.
pub(crate) fn is_invitation(x: &Element) -> bool {
    x.has_child("invite", ns::MUC_USER) || x.has_child("decline", ns::MUC_USER)
}

fn reason(el: &Element) -> Option<Element> {
    el.get_child("reason", ns::MUC_USER)
        .map(|r| xml::text("reason", ns::MUC_USER, &r.text()))
}

/// A message from `from` to `room` carrying `x` (a `muc#user` `<x/>` with `<invite/>`s or a
/// `<decline/>`).
pub(crate) fn handle(
    s: &Settings,
    room: &Room,
    from: &str,
    x: &Element,
) -> Result<(), StanzaError> {
    if let Some(decline) = x.get_child("decline", ns::MUC_USER) {
        return decline_(room, from, decline);
    }
    let invites: Vec<&Element> = x
        .children()
        .filter(|c| c.is("invite", ns::MUC_USER))
        .collect();
    if invites.len() > MAX_INVITES {
        return Err(StanzaError::not_acceptable().with_text("too many invitations at once"));
    }
    let Some(me) = occupant::by_jid(&room.jid, from) else {
        return Err(StanzaError::not_acceptable().with_text("only occupants may invite"));
    };
    let inviter = bare(from)?;
    let aff = room.affiliation(&inviter).map_err(|e| error::storage(&e))?;
    if room.config.members_only && !aff.is_admin() {
        return Err(StanzaError::forbidden()
            .with_text("only admins and owners invite to a members-only room"));
    }
    if !room.config.allow_invites && me.role != Role::Moderator && !aff.is_admin() {
        // `muc#roomconfig_allowinvites` off: mere occupants (§7) may not invite.
        return Err(StanzaError::forbidden().with_text("only moderators invite to this room"));
    }
    // Check every invitee before sending anything.
    let mut targets = Vec::with_capacity(invites.len());
    for invite in &invites {
        let to = invite.attr("to").ok_or_else(StanzaError::bad_request)?;
        let invitee = bare(to)?;
        let theirs = room.affiliation(&invitee).map_err(|e| error::storage(&e))?;
        if theirs == Affiliation::Outcast {
            return Err(StanzaError::not_allowed().with_text("the invitee is banned"));
        }
        targets.push((to.to_owned(), invitee, theirs, reason(invite)));
    }
    for (to, invitee, theirs, why) in targets {
        if room.config.members_only && theirs < Affiliation::Member {
            let count = room.affiliations().map_err(|e| error::storage(&e))?.len();
            if count >= s.max_affiliations as usize {
                return Err(StanzaError::resource_constraint().with_text("too many affiliations"));
            }
            room.set_affiliation(&invitee, Affiliation::Member)
                .map_err(|e| error::storage(&e))?;
        }
        remember(&room.jid, &invitee, &inviter, from)?;
        xml::send(&invitation(room, &to, &inviter, why));
    }
    Ok(())
}

/// Notes a pending invitation, forgetting others when the room has too many.
fn remember(room: &str, invitee: &str, inviter: &str, from: &str) -> Result<(), StanzaError> {
    let pending = ephemeral::keys(&prefix(room), MAX_PENDING);
    if pending.len() >= MAX_PENDING as usize {
        for key in pending
            .iter()
            .take(pending.len() + 1 - MAX_PENDING as usize)
        {
            ephemeral::delete(key);
        }
    }
    ephemeral::set(&pending_key(room, invitee, inviter), from.as_bytes())
        .map_err(|e| error::storage(&e))
}

/// `<message from='room' to='invitee'><x xmlns='…#user'><invite from='inviter'>
/// <reason/></invite><password/></x></message>` (§7.8.2).
fn invitation(room: &Room, to: &str, inviter: &str, why: Option<Element>) -> Element {
    let mut m = xml::stanza("message", &room.jid, to, None);
    let mut invite = xml::el("invite", ns::MUC_USER, &[("from", inviter)]);
    if let Some(r) = why {
        invite.append_child(r);
    }
    let mut x = Element::bare("x", ns::MUC_USER);
    x.append_child(invite);
    if let Some(pw) = &room.config.password {
        x.append_child(xml::text("password", ns::MUC_USER, pw));
    }
    m.append_child(x);
    m
}

/// §7.8.2: the invitee declines; relayed to the inviter it names, if that one invited it.
fn decline_(room: &Room, from: &str, decline: &Element) -> Result<(), StanzaError> {
    let to = decline.attr("to").ok_or_else(StanzaError::bad_request)?;
    let invitee = bare(from)?;
    let key = pending_key(&room.jid, &invitee, &bare(to)?);
    let Some(inviter) = ephemeral::get(&key).and_then(|v| String::from_utf8(v).ok()) else {
        return Err(StanzaError::not_acceptable().with_text("no invitation to decline"));
    };
    ephemeral::delete(&key);
    let mut m = xml::stanza("message", &room.jid, &inviter, None);
    let mut d = xml::el("decline", ns::MUC_USER, &[("from", &invitee)]);
    if let Some(r) = reason(decline) {
        d.append_child(r);
    }
    let mut x = Element::bare("x", ns::MUC_USER);
    x.append_child(d);
    m.append_child(x);
    xml::send(&m);
    Ok(())
}
