//! The admin namespace (XEP-0045 §8, §9, §10.3–§10.8): role changes by nickname (kick, voice,
//! moderator) and affiliation changes by bare JID (ban, member, admin, owner), and their lists.
//!
//! A set's items are all checked before any is applied, so a request is done whole or refused
//! whole. Errors: an occupant without the needed role or affiliation gets `forbidden`; a change
//! aimed at someone the actor may not touch (a moderator kicking an admin, an admin banning an
//! owner) gets `not-allowed` (§8.2, §9.1); removing the last owner gets `conflict` (§10.7).

use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::Element;
use tessera_sdk::{HostError, StanzaError};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant::{self, Occupant, Role};
use crate::presence::{self, sees_jids};
use crate::room::{Affiliation, Room};
use crate::xml::{self, Extra};

/// One requested change.
enum Change {
    Role {
        target: Occupant,
        role: Role,
        reason: Option<String>,
    },
    Affiliation {
        jid: String,
        aff: Affiliation,
        reason: Option<String>,
    },
}

/// The actor: the requesting session's occupant record, if any, and its affiliation.
struct Actor {
    occupant: Option<Occupant>,
    aff: Affiliation,
}

impl Actor {
    fn role(&self) -> Role {
        self.occupant.as_ref().map_or(Role::None, |o| o.role)
    }
}

fn actor(room: &Room, from: &str) -> Result<Actor, StanzaError> {
    let bare = Jid::new(from)
        .map(|j| j.to_bare().to_string())
        .map_err(|_| StanzaError::bad_request())?;
    Ok(Actor {
        occupant: occupant::by_jid(&room.jid, from),
        aff: room.affiliation(&bare).map_err(|e| error::storage(&e))?,
    })
}

/// A `get` (lists) or `set` (changes) of `<query xmlns='…muc#admin'/>`; the result payload.
pub(crate) fn handle(
    s: &Settings,
    room: &Room,
    from: &str,
    set: bool,
    query: &Element,
) -> Result<Option<Element>, StanzaError> {
    let actor = actor(room, from)?;
    let items: Vec<&Element> = query
        .children()
        .filter(|c| c.is("item", ns::MUC_ADMIN))
        .collect();
    if items.is_empty() {
        return Err(StanzaError::bad_request());
    }
    if !set {
        let [item] = items.as_slice() else {
            return Err(StanzaError::bad_request());
        };
        return list(s, room, &actor, item).map(Some);
    }
    let mut changes = Vec::with_capacity(items.len());
    for item in items {
        changes.push(check(s, room, &actor, item)?);
    }
    let actor_nick = actor.occupant.as_ref().map(|o| o.nick.clone());
    for change in changes {
        apply(s, room, actor_nick.as_deref(), change).map_err(|e| error::storage(&e))?;
    }
    Ok(None)
}

/// §9.5, §10.5, §10.8 (affiliation lists) and §8.5, §9.8 (role lists).
fn list(s: &Settings, room: &Room, actor: &Actor, item: &Element) -> Result<Element, StanzaError> {
    let mut out = Element::bare("query", ns::MUC_ADMIN);
    if let Some(aff) = item.attr("affiliation") {
        let aff = Affiliation::parse(aff).ok_or_else(StanzaError::bad_request)?;
        let allowed = match aff {
            Affiliation::Owner | Affiliation::Admin => actor.aff == Affiliation::Owner,
            Affiliation::Member | Affiliation::Outcast => actor.aff.is_admin(),
            Affiliation::None => false,
        };
        if !allowed {
            return Err(StanzaError::forbidden());
        }
        let mut entries = room.affiliations().map_err(|e| error::storage(&e))?;
        entries.sort();
        for (jid, a) in entries.into_iter().filter(|(_, a)| *a == aff) {
            out.append_child(xml::el(
                "item",
                ns::MUC_ADMIN,
                &[("affiliation", a.as_str()), ("jid", jid.as_str())],
            ));
        }
        return Ok(out);
    }
    let role = item
        .attr("role")
        .and_then(Role::parse)
        .filter(|r| matches!(r, Role::Moderator | Role::Participant | Role::Visitor))
        .ok_or_else(StanzaError::bad_request)?;
    if actor.role() != Role::Moderator {
        return Err(StanzaError::forbidden());
    }
    for o in occupant::all(room, s.max_occupants + 1)
        .into_iter()
        .filter(|o| o.role == role)
    {
        let mut el = xml::el(
            "item",
            ns::MUC_ADMIN,
            &[
                ("affiliation", o.affiliation.as_str()),
                ("nick", o.nick.as_str()),
                ("role", o.role.as_str()),
            ],
        );
        if sees_jids(room, actor.role()) {
            xml::set(&mut el, "jid", o.jid.as_str());
        }
        out.append_child(el);
    }
    Ok(out)
}

fn reason(item: &Element) -> Option<String> {
    item.get_child("reason", ns::MUC_ADMIN).map(Element::text)
}

/// Checks one item of a set against the actor's standing.
fn check(s: &Settings, room: &Room, actor: &Actor, item: &Element) -> Result<Change, StanzaError> {
    if let Some(aff) = item.attr("affiliation") {
        let aff = Affiliation::parse(aff).ok_or_else(StanzaError::bad_request)?;
        let jid = item
            .attr("jid")
            .and_then(|j| Jid::new(j).ok())
            .map(|j| j.to_bare().to_string())
            .ok_or_else(StanzaError::bad_request)?;
        if !actor.aff.is_admin() {
            return Err(StanzaError::forbidden());
        }
        let current = room.affiliation(&jid).map_err(|e| error::storage(&e))?;
        // §9.1, §10.3, §10.6: admins manage members and outcasts; owners everything.
        if actor.aff != Affiliation::Owner && (current.is_admin() || aff.is_admin()) {
            return Err(StanzaError::not_allowed());
        }
        if current == Affiliation::Owner && aff != Affiliation::Owner {
            let owners = room
                .affiliations()
                .map_err(|e| error::storage(&e))?
                .into_iter()
                .filter(|(_, a)| *a == Affiliation::Owner)
                .count();
            if owners <= 1 {
                // §10.7: a room keeps at least one owner.
                return Err(error::conflict().with_text("the room's last owner"));
            }
        }
        if current == Affiliation::None && aff != Affiliation::None {
            let stored = room.affiliations().map_err(|e| error::storage(&e))?.len();
            if stored >= s.max_affiliations as usize {
                return Err(StanzaError::resource_constraint().with_text("too many affiliations"));
            }
        }
        return Ok(Change::Affiliation {
            jid,
            aff,
            reason: reason(item),
        });
    }
    let role = item
        .attr("role")
        .and_then(Role::parse)
        .ok_or_else(StanzaError::bad_request)?;
    let nick = item.attr("nick").ok_or_else(StanzaError::bad_request)?;
    if actor.role() != Role::Moderator {
        return Err(StanzaError::forbidden());
    }
    let target = occupant::by_nick(&room.jid, nick).ok_or_else(StanzaError::item_not_found)?;
    // §8.2, §8.4: admins and owners cannot be kicked or silenced (their role follows their
    // affiliation); §9.6, §9.7: granting or revoking moderator is for admins and owners.
    if target.affiliation.is_admin() && role != Role::Moderator {
        return Err(StanzaError::not_allowed());
    }
    if (role == Role::Moderator || target.role == Role::Moderator) && !actor.aff.is_admin() {
        return Err(StanzaError::not_allowed());
    }
    Ok(Change::Role {
        target,
        role,
        reason: reason(item),
    })
}

fn apply(s: &Settings, room: &Room, actor: Option<&str>, change: Change) -> Result<(), HostError> {
    match change {
        Change::Role {
            mut target,
            role,
            reason,
        } => {
            let extra = Extra {
                reason: reason.as_deref(),
                actor,
                ..Extra::default()
            };
            if role == Role::None {
                // §8.2: kicked, status 307.
                presence::remove(
                    s,
                    room,
                    &target,
                    &Extra {
                        codes: vec![307],
                        ..extra
                    },
                );
            } else if target.role != role {
                target.role = role;
                occupant::update(&room.jid, &target)?;
                presence::broadcast(s, room, &target, false, &extra);
            }
        }
        Change::Affiliation { jid, aff, reason } => {
            room.set_affiliation(&jid, aff)?;
            for mut o in occupant::all(room, s.max_occupants + 1)
                .into_iter()
                .filter(|o| o.bare() == jid)
            {
                let extra = Extra {
                    reason: reason.as_deref(),
                    actor,
                    ..Extra::default()
                };
                o.affiliation = aff;
                if aff == Affiliation::Outcast {
                    // §9.1: banned, status 301.
                    presence::remove(
                        s,
                        room,
                        &o,
                        &Extra {
                            codes: vec![301],
                            ..extra
                        },
                    );
                } else if aff == Affiliation::None && room.config.members_only {
                    // §9.4: no longer a member of a members-only room, status 321.
                    presence::remove(
                        s,
                        room,
                        &o,
                        &Extra {
                            codes: vec![321],
                            ..extra
                        },
                    );
                } else {
                    o.role = Role::default_for(aff, room.config.moderated);
                    occupant::update(&room.jid, &o)?;
                    presence::broadcast(s, room, &o, false, &extra);
                }
            }
        }
    }
    Ok(())
}
