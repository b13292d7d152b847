//! plugin-muc: Multi-User Chat (XEP-0045) as a Tessera plugin, serving the `conference`
//! service (`conference.<domain>`; the operator may rename the label).
//!
//! Everything arrives on the `service` hook, addressed to the service, a room
//! (`room@conference.<domain>`) or an occupant (`room@conference.<domain>/nick`):
//!
//! - presence: entering a room, creating it when it does not exist (§7.2, §10.1), presence and
//!   nickname changes (§7.6, §7.7), leaving (§7.14). A session that vanishes without leaving is
//!   removed when the host retracts its directed presence (RFC 6121 §4.6.3): the host remembers
//!   presence sent to a plugin's service and sends it `unavailable` when the session ends;
//! - messages: groupchat fan-out from occupants with voice (§7.4), the subject (§8.1),
//!   private messages between occupants (§7.5), invitations (§7.8.2), voice requests (§7.13);
//! - IQs: disco (§6), the admin namespace (roles and affiliations, §8, §9, §10.3–§10.8), the
//!   owner namespace (configuration, instant rooms, destruction, §10), and XEP-0313 queries on
//!   a logged room's archive.
//!
//! A room whose owner enables logging (§7.2.12) archives its messages (`mam`), sends newcomers
//! the last of them (§7.2.14, `history`) and says so with status 170; an unlogged room keeps no
//! message anywhere. Persistent rooms unused for `room_expiry` are destroyed by a timer
//! (`expiry`).
//!
//! State: occupants in `ephemeral` (shared by every instance, lost at a restart with the
//! sessions themselves), rooms' configuration and affiliations in `ephemeral` for temporary
//! rooms and in `kv`, owned by the room, for persistent ones (`room` has the layout). Settings
//! and bounds: `config`. Logs never carry message bodies, subjects, passwords or XML.
//!
//! Also: XEP-0410 self-ping (`ping`), XEP-0421 occupant ids (`occupant_id`), mediated
//! invitations (§7.8.2, `invite`) and registered nicknames (§7.10, `register`).
//!
//! Voice requests (§7.13, §8.6, `voice`) and IQs relayed between occupants (`occupant_iq`)
//! complete the occupant side.
//!
//! Not yet: the `#extended` archive query fields and archive metadata on rooms.
//!
//! Grants: `log`, `router` (everything is sent from the service's own addresses), `kv`,
//! `ephemeral`, `archive` (room logs), `clock` (history `seconds`, activity times).
//!
//! ## Layout
//! - this file: the manifest and the dispatch by kind and address;
//! - `presence`: entering, leaving, nickname changes, removing occupants;
//! - `message`: groupchat, subject, private messages;
//! - `admin`, `owner`: the two IQ namespaces; `disco`: service discovery;
//! - `ping`, `occupant_id`, `invite`, `register`, `voice`: XEP-0410, XEP-0421, §7.8.2, §7.10,
//!   §7.13 and §8.6;
//! - `occupant_iq`: IQs relayed between occupants;
//! - `mam`: room archives and their queries; `history`: history on entering; `expiry`: idle
//!   persistent rooms;
//! - `room`, `occupant`: the records and where they live;
//! - `config`, `error`, `ns`, `xml`: the rest.

mod admin;
mod config;
mod disco;
mod error;
mod expiry;
mod history;
mod invite;
mod mam;
mod message;
mod ns;
mod occupant;
mod occupant_id;
mod occupant_iq;
mod owner;
mod ping;
mod presence;
mod register;
mod room;
mod voice;
mod xml;

use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::Element;
use tessera_sdk::{
    DataDeclaration, Event, EventKind, Hook, Manifest, OwnerKind, Plugin, Stanza, StanzaError,
    StanzaKind, Subscription, Verdict, Visibility,
};

use crate::config::Settings;
use crate::room::Room;

/// The plugin, with the operator's settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Muc {
    settings: Settings,
}

/// The single payload of an IQ, if it has exactly one child.
fn payload(iq: &Element) -> Option<&Element> {
    let mut children = iq.children();
    let first = children.next()?;
    children.next().is_none().then_some(first)
}

/// Sends an IQ's answer.
fn answer(iq: &Stanza, payload: Option<Element>) -> Verdict {
    if let Some(result) = iq.iq_result(payload) {
        xml::send(&result);
    }
    Verdict::Handled
}

impl Muc {
    /// An IQ to the service itself (§6.1, §6.3).
    fn service_iq(&self, iq: &Stanza, el: &Element) -> Verdict {
        let Some(q) = payload(el) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        if iq.type_attr() != "get" || q.attr("node").is_some() {
            return Verdict::Error(StanzaError::service_unavailable());
        }
        if q.is("query", ns::DISCO_INFO) {
            answer(iq, Some(disco::service_info()))
        } else if q.is("query", ns::DISCO_ITEMS) {
            match disco::service_items(&self.settings) {
                Ok(items) => answer(iq, Some(items)),
                Err(e) => Verdict::Error(e),
            }
        } else {
            Verdict::Error(StanzaError::service_unavailable())
        }
    }

    /// An IQ to a room (§6.4, §8–§10).
    fn room_iq(&self, room_jid: &str, iq: &Stanza, el: &Element) -> Verdict {
        let Some(q) = payload(el) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        let set = iq.type_attr() == "set";
        let Ok(bare) = Jid::new(iq.from()).map(|j| j.to_bare().to_string()) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        let room = match Room::load(room_jid) {
            Ok(Some(room)) => room,
            Ok(None) => return Verdict::Error(StanzaError::item_not_found()),
            Err(e) => return Verdict::Error(error::storage(&e)),
        };
        if room.config.locked && room.affiliation(&bare).ok() != Some(room::Affiliation::Owner) {
            // §10.1.1: a locked room is not there for anyone but its owners.
            return Verdict::Error(StanzaError::item_not_found());
        }
        let outcome = if q.is("query", ns::DISCO_INFO) && !set && q.attr("node").is_none() {
            Ok(Some(disco::room_info(&self.settings, &room)))
        } else if q.is("query", ns::DISCO_INFO) && !set && q.attr("node") == Some(register::NODE) {
            register::roomuser_item(&room, iq.from()).map(Some)
        } else if q.is("query", register::NS) {
            register::handle(&self.settings, &room, iq.from(), set, q)
        } else if q.is("query", ns::DISCO_ITEMS) && !set && q.attr("node").is_none() {
            // §6.5: the occupant list is not revealed to outsiders; an empty list is allowed.
            Ok(Some(Element::bare("query", ns::DISCO_ITEMS)))
        } else if q.is("query", ns::MUC_ADMIN) {
            admin::handle(&self.settings, &room, iq.from(), set, q)
        } else if q.is("query", ns::MUC_OWNER) {
            owner::handle(&self.settings, room, &bare, set, q)
        } else if q.is("query", ns::MAM) {
            mam::handle(&self.settings, &room, iq.from(), set, q)
        } else {
            Err(StanzaError::service_unavailable())
        };
        match outcome {
            Ok(payload) => answer(iq, payload),
            Err(e) => Verdict::Error(e),
        }
    }
}

impl Plugin for Muc {
    fn describe(&self) -> Manifest {
        Manifest::new("muc", env!("CARGO_PKG_VERSION"))
            .service("conference")
            .subscribe(Subscription::service(StanzaKind::Presence))
            .subscribe(Subscription::service(StanzaKind::Message))
            .subscribe(Subscription::service(StanzaKind::Iq))
            .data(DataDeclaration::new(
                room::ROOMS,
                "The settings of each persistent chat room (name, description, password, who \
                 may enter and speak), its owners, admins, members and banned addresses, by \
                 bare JID, the nicknames registered in it with the bare JID each is reserved \
                 for, and when it was last used (to the hour); kept until the room is \
                 destroyed, made temporary, or unused for the operator's room expiry.",
                OwnerKind::Room,
                Visibility::Occupants,
            ))
            .data(DataDeclaration::new(
                room::DIRECTORY,
                "The address of each persistent chat room, kept until the room is destroyed, \
                 made temporary, or unused for the operator's room expiry.",
                OwnerKind::Service,
                Visibility::Public,
            ))
            .data(
                DataDeclaration::new(
                    mam::HISTORY,
                    "The messages and subject changes of the chat rooms whose owners turned \
                     logging on, as the occupants received them (nickname, not address), for \
                     occupants and members to read back; deleted when logging is turned off or \
                     the room is destroyed or expires. Rooms without logging keep no messages.",
                    OwnerKind::Room,
                    Visibility::Occupants,
                )
                .max_items(mam::DEFAULT_MAX_ITEMS),
            )
            .data(DataDeclaration::new(
                occupant_id::SECRETS,
                "A random key the service draws once to derive each occupant's anonymous \
                 occupant id (XEP-0421) from the room and the occupant's bare JID; nothing per \
                 user is stored. Kept for as long as the service exists.",
                OwnerKind::Service,
                Visibility::Owner,
            ))
            .data(DataDeclaration::new(
                register::NICKNAMES,
                "The nickname each user registered with a chat room (XEP-0045 §7.10), by room \
                 address; kept until the user unregisters, the room is destroyed, made \
                 temporary or expires, or the account is deleted.",
                OwnerKind::User,
                Visibility::Owner,
            ))
            .on(EventKind::UserRemoved)
            .timer(expiry::TIMER, expiry::TIMER_SECONDS)
    }

    fn on_event(&self, event: &Event) {
        match event {
            Event::Timer(name) if name == expiry::TIMER => {
                expiry::sweep(&self.settings);
            }
            // The account's own registrations are gone with it; the rooms' indexes follow.
            Event::UserRemoved(bare) => register::user_removed(&self.settings, bare),
            _ => {}
        }
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        self.settings = Settings::parse(config).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_stanza(&self, ctx: &tessera_sdk::Context, stanza: &Stanza) -> Verdict {
        if ctx.hook != Hook::Service {
            return Verdict::Pass;
        }
        let Ok(to) = Jid::new(stanza.to()) else {
            return Verdict::Error(error::jid_malformed());
        };
        let Ok(el) = stanza.element() else {
            return Verdict::Error(StanzaError::bad_request());
        };
        let from = stanza.from();
        let room_jid = to.to_bare().to_string();
        let nick = to.resource().map(|r| r.as_str());
        match (stanza.kind(), to.node().is_some()) {
            (StanzaKind::Presence, true) => {
                presence::handle(&self.settings, &room_jid, nick, from, el)
            }
            (StanzaKind::Message, true) => {
                message::handle(&self.settings, &room_jid, nick, from, el)
            }
            // An answer to an IQ relayed between occupants goes back; any other answer is to
            // nothing the service asked (RFC 6120 §8.2.3): dropped.
            (StanzaKind::Iq, true) if !matches!(stanza.type_attr(), "get" | "set") => match nick {
                Some(nick) => occupant_iq::response(&room_jid, nick, from, el),
                None => Verdict::Drop,
            },
            (StanzaKind::Iq, false) if !matches!(stanza.type_attr(), "get" | "set") => {
                Verdict::Drop
            }
            (StanzaKind::Iq, false) if nick.is_none() => self.service_iq(stanza, el),
            (StanzaKind::Iq, true) if nick.is_none() => self.room_iq(&room_jid, stanza, el),
            (StanzaKind::Iq, true) => {
                let nick = nick.unwrap_or_default();
                // XEP-0410: an occupant pinging itself is answered by the room.
                if let Some(q) = payload(el)
                    && let Some(v) = ping::handle(&room_jid, nick, stanza, q)
                {
                    return v;
                }
                // Any other IQ goes to the occupant's client (vCards, versions and the like).
                occupant_iq::request(&room_jid, nick, from, el)
            }
            (StanzaKind::Iq, false) => Verdict::Error(StanzaError::service_unavailable()),
            // Presence to the service itself means nothing; a message to it is not for anyone.
            (StanzaKind::Presence, false) => Verdict::Drop,
            _ => Verdict::Error(StanzaError::service_unavailable()),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_logging;
#[cfg(test)]
mod tests_part3;
#[cfg(test)]
mod tests_part4;
