//! Occupants (XEP-0045 §5.1): who is in a room under which nickname, in the plugin's shared
//! `ephemeral` state, so every instance agrees and a restart empties the rooms as it ends the
//! sessions.
//!
//! ```text
//! occ/<room>/<nick>        Occupant (JSON): real full JID, role, affiliation, presence
//! who/<room>/<full JID>    nick: the reverse index (is this session in the room?)
//! ```
//!
//! A nickname is claimed with `compare_and_swap` on its key, so two sessions racing for one
//! nickname on two instances cannot both win (§7.2.9).

use serde::{Deserialize, Serialize};
use tessera_sdk::{HostError, ephemeral};

use crate::room::{Affiliation, Room};

/// A temporary position in a room (XEP-0045 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    None,
    Visitor,
    Participant,
    Moderator,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Visitor => "visitor",
            Role::Participant => "participant",
            Role::Moderator => "moderator",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Role::None,
            "visitor" => Role::Visitor,
            "participant" => Role::Participant,
            "moderator" => Role::Moderator,
            _ => return None,
        })
    }

    /// The default role for an affiliation on entering (§5.1.2 table).
    pub(crate) fn default_for(aff: Affiliation, moderated: bool) -> Role {
        match aff {
            Affiliation::Owner | Affiliation::Admin => Role::Moderator,
            Affiliation::Member => Role::Participant,
            Affiliation::None if moderated => Role::Visitor,
            Affiliation::None => Role::Participant,
            Affiliation::Outcast => Role::None,
        }
    }

    /// Has voice (§5.1.1).
    pub(crate) fn has_voice(self) -> bool {
        self >= Role::Participant
    }
}

/// One occupant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Occupant {
    pub(crate) nick: String,
    /// The real full JID.
    pub(crate) jid: String,
    pub(crate) role: Role,
    pub(crate) affiliation: Affiliation,
    /// The children of the occupant's last available presence (show, status, caps…), minus
    /// the MUC `<x/>`, serialised; broadcast with each presence of the occupant.
    pub(crate) presence: String,
    /// The XEP-0421 occupant id of the real bare JID in this room (`occupant_id`); empty for
    /// a record written before ids existed or when the secret was unavailable.
    #[serde(default)]
    pub(crate) occupant_id: String,
}

impl Occupant {
    /// The bare part of the real JID.
    pub(crate) fn bare(&self) -> &str {
        self.jid.split_once('/').map_or(&self.jid, |(b, _)| b)
    }
}

fn occ_key(room: &str, nick: &str) -> String {
    format!("occ/{room}/{nick}")
}

fn who_key(room: &str, jid: &str) -> String {
    format!("who/{room}/{jid}")
}

fn encode(o: &Occupant) -> Vec<u8> {
    serde_json::to_vec(o).expect("invariant: plain structs serialise")
}

/// The occupant under `nick`.
pub(crate) fn by_nick(room: &str, nick: &str) -> Option<Occupant> {
    ephemeral::get(&occ_key(room, nick)).and_then(|v| serde_json::from_slice(&v).ok())
}

/// The occupant that is the session `jid`.
pub(crate) fn by_jid(room: &str, jid: &str) -> Option<Occupant> {
    let nick = ephemeral::get(&who_key(room, jid)).and_then(|v| String::from_utf8(v).ok())?;
    by_nick(room, &nick).filter(|o| o.jid == jid)
}

/// Every occupant, in nickname order, at most `limit`.
pub(crate) fn all(room: &Room, limit: u32) -> Vec<Occupant> {
    let prefix = format!("occ/{}/", room.jid);
    ephemeral::keys(&prefix, limit)
        .into_iter()
        .filter_map(|k| ephemeral::get(&k))
        .filter_map(|v| serde_json::from_slice(&v).ok())
        .collect()
}

/// How many occupants, counting up to `limit`.
pub(crate) fn count(room: &str, limit: u32) -> usize {
    ephemeral::keys(&format!("occ/{room}/"), limit).len()
}

/// Claims `o.nick` for `o`: `false` if someone holds it.
///
/// # Errors
///
/// The `ephemeral` quota is exhausted.
pub(crate) fn claim(room: &str, o: &Occupant) -> Result<bool, HostError> {
    if !ephemeral::compare_and_swap(&occ_key(room, &o.nick), None, &encode(o))? {
        return Ok(false);
    }
    if let Err(e) = ephemeral::set(&who_key(room, &o.jid), o.nick.as_bytes()) {
        ephemeral::delete(&occ_key(room, &o.nick));
        return Err(e);
    }
    Ok(true)
}

/// Rewrites an occupant's record (role, affiliation or presence changed).
///
/// # Errors
///
/// The `ephemeral` quota is exhausted.
pub(crate) fn update(room: &str, o: &Occupant) -> Result<(), HostError> {
    ephemeral::set(&occ_key(room, &o.nick), &encode(o))
}

/// Removes an occupant.
pub(crate) fn remove(room: &str, o: &Occupant) {
    ephemeral::delete(&occ_key(room, &o.nick));
    // The reverse index may already point at a new nickname of the same session.
    if ephemeral::get(&who_key(room, &o.jid)).as_deref() == Some(o.nick.as_bytes()) {
        ephemeral::delete(&who_key(room, &o.jid));
    }
}

/// Points the session's reverse index at its new nickname (§7.6).
///
/// # Errors
///
/// The `ephemeral` quota is exhausted.
pub(crate) fn rename(room: &str, jid: &str, nick: &str) -> Result<(), HostError> {
    ephemeral::set(&who_key(room, jid), nick.as_bytes())
}
