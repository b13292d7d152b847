//! Rooms: their configuration (XEP-0045 §10.2) and affiliations (§5.2), and where they live.
//!
//! A temporary room lives in `ephemeral` only (it is gone when its last occupant leaves, §10.1,
//! or at a restart); a persistent room's configuration and affiliations are `kv` records owned by
//! the room (`Owner::room`, category [`ROOMS`]), listed in a service-owned directory
//! ([`DIRECTORY`]) so that disco#items and the room count find them.
//!
//! ```text
//! ephemeral  cfg/<room>           RoomConfig (JSON)        temporary rooms
//!            aff/<room>/<bare>    affiliation              temporary rooms
//!            subj/<room>          Subject (JSON)           every room
//!            inv/, voice/, iqr/   pending invitations, voice requests, relayed IQs
//!                                  (`invite`, `voice`, `occupant_iq`)
//! kv rooms (owner room:<room>)    config, aff/<bare>,      persistent rooms
//!                                  active (last activity, ms; `expiry`),
//!                                  nick/<nick>, reg/<bare> (`register`)
//! kv nicknames (owner user)       <room> → nick            registrations (`register`)
//! archive history (owner room)     the log (`mam`)          logged rooms
//! kv directory (owner service)    <room> → ""              persistent rooms
//! ```
//!
//! Writes are last-writer-wins between instances; only occupancy (a nickname) is claimed
//! atomically (`occupant`). Destroying a room deletes every one of its records here.

use serde::{Deserialize, Serialize};
use tessera_sdk::kv::Kv;
use tessera_sdk::{HostError, Owner, ephemeral};

/// The `kv` category of persistent rooms' configuration and affiliations, owned by the room.
pub(crate) const ROOMS: &str = "rooms";
/// The `kv` category listing the persistent rooms, owned by the service.
pub(crate) const DIRECTORY: &str = "directory";

/// Who may see occupants' real JIDs (`muc#roomconfig_whois`, XEP-0045 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Whois {
    /// Semi-anonymous: moderators only.
    #[default]
    Moderators,
    /// Non-anonymous: every occupant.
    Anyone,
}

/// Who may send private messages (`muc#roomconfig_allowpm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AllowPm {
    /// Every occupant.
    #[default]
    Anyone,
    /// Occupants with voice.
    Participants,
    /// Moderators only.
    Moderators,
    /// Nobody.
    None,
}

impl AllowPm {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AllowPm::Anyone => "anyone",
            AllowPm::Participants => "participants",
            AllowPm::Moderators => "moderators",
            AllowPm::None => "none",
        }
    }
}

/// A room's configuration (XEP-0045 §10.2, `muc#roomconfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoomConfig {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) persistent: bool,
    pub(crate) public: bool,
    pub(crate) members_only: bool,
    pub(crate) moderated: bool,
    /// `None`: not password-protected.
    pub(crate) password: Option<String>,
    pub(crate) max_users: u32,
    pub(crate) whois: Whois,
    pub(crate) allow_pm: AllowPm,
    pub(crate) change_subject: bool,
    /// `muc#roomconfig_allowinvites`: any occupant may invite (§7.8.2); when off, only
    /// moderators (admins and owners among them).
    pub(crate) allow_invites: bool,
    /// Logged (§7.2.12): messages go to the room's archive (`mam`).
    pub(crate) logging: bool,
    /// Created with the MUC protocol and not configured yet (§10.1.1): only owners may enter.
    pub(crate) locked: bool,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            persistent: false,
            public: true,
            members_only: false,
            moderated: false,
            password: None,
            max_users: 200,
            whois: Whois::Moderators,
            allow_pm: AllowPm::Anyone,
            change_subject: false,
            allow_invites: true,
            logging: false,
            locked: false,
        }
    }
}

/// A long-lived association with a room (XEP-0045 §5.2), by bare JID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Affiliation {
    Outcast,
    None,
    Member,
    Admin,
    Owner,
}

impl Affiliation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
            Affiliation::Member => "member",
            Affiliation::Admin => "admin",
            Affiliation::Owner => "owner",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "outcast" => Affiliation::Outcast,
            "none" => Affiliation::None,
            "member" => Affiliation::Member,
            "admin" => Affiliation::Admin,
            "owner" => Affiliation::Owner,
            _ => return None,
        })
    }

    /// Admins and owners (§5.2).
    pub(crate) fn is_admin(self) -> bool {
        matches!(self, Affiliation::Admin | Affiliation::Owner)
    }
}

/// The subject (§8.1) and who set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Subject {
    pub(crate) text: String,
    /// The setter's nickname; empty when set by the room itself.
    pub(crate) nick: String,
}

/// A room that exists, with its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Room {
    /// Its bare JID.
    pub(crate) jid: String,
    pub(crate) config: RoomConfig,
}

fn eph_json<T: for<'de> Deserialize<'de>>(key: &str) -> Option<T> {
    ephemeral::get(key).and_then(|v| serde_json::from_slice(&v).ok())
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("invariant: plain structs serialise")
}

fn rooms_kv(room: &str) -> Kv {
    Kv::new(ROOMS, Owner::room(room))
}

fn directory() -> Kv {
    Kv::new(DIRECTORY, Owner::Service)
}

/// Removes every key of `kv` under `prefix` (a room has at most `max_affiliations` + 1).
fn kv_clear(kv: &Kv, prefix: &str) -> Result<(), HostError> {
    loop {
        let keys = kv.keys(prefix, 256)?;
        if keys.is_empty() {
            return Ok(());
        }
        for k in keys {
            kv.delete(&k)?;
        }
    }
}

fn eph_clear(prefix: &str) {
    loop {
        let keys = ephemeral::keys(prefix, 256);
        if keys.is_empty() {
            return;
        }
        for k in keys {
            ephemeral::delete(&k);
        }
    }
}

impl Room {
    /// The room at `jid`, if it exists: a temporary one in `ephemeral`, else a persistent one.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn load(jid: &str) -> Result<Option<Room>, HostError> {
        if let Some(config) = eph_json::<RoomConfig>(&format!("cfg/{jid}")) {
            return Ok(Some(Room {
                jid: jid.to_owned(),
                config,
            }));
        }
        let Some(bytes) = rooms_kv(jid).get("config")? else {
            return Ok(None);
        };
        let config = serde_json::from_slice(&bytes)
            .map_err(|_| HostError::Invalid(format!("stored config of {jid} unreadable")))?;
        Ok(Some(Room {
            jid: jid.to_owned(),
            config,
        }))
    }

    /// Creates a temporary room, unless another instance just did: `false` then.
    ///
    /// # Errors
    ///
    /// The `ephemeral` quota is exhausted.
    pub(crate) fn create(jid: &str, config: RoomConfig, owner: &str) -> Result<bool, HostError> {
        if !ephemeral::compare_and_swap(&format!("cfg/{jid}"), None, &json(&config))? {
            return Ok(false);
        }
        let room = Room {
            jid: jid.to_owned(),
            config,
        };
        room.set_affiliation(owner, Affiliation::Owner)?;
        Ok(true)
    }

    /// How many rooms exist, counting up to `limit`.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn count(limit: u32) -> Result<usize, HostError> {
        let temporary = ephemeral::keys("cfg/", limit).len();
        let persistent = directory().keys("", limit)?.len();
        Ok(temporary + persistent)
    }

    /// The persistent rooms' JIDs, at most `limit`.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn persistent(limit: u32) -> Result<Vec<String>, HostError> {
        directory().keys("", limit)
    }

    /// When a persistent room was last noted active (ms; `expiry`).
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn last_active(&self) -> Result<Option<u64>, HostError> {
        Ok(rooms_kv(&self.jid)
            .get_string("active")?
            .and_then(|v| v.parse().ok()))
    }

    /// Notes a persistent room active at `ms`.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn set_last_active(&self, ms: u64) -> Result<(), HostError> {
        rooms_kv(&self.jid).set_str("active", &ms.to_string())
    }

    /// Every room's JID (temporary and persistent), at most `limit` of each.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn all(limit: u32) -> Result<Vec<String>, HostError> {
        let mut rooms: Vec<String> = ephemeral::keys("cfg/", limit)
            .into_iter()
            .filter_map(|k| k.strip_prefix("cfg/").map(str::to_owned))
            .collect();
        rooms.extend(directory().keys("", limit)?);
        rooms.sort();
        rooms.dedup();
        Ok(rooms)
    }

    /// Writes the configuration where the room lives, moving the room's records between
    /// `ephemeral` and `kv` when `persistent` changed (new copy first, then the old one goes).
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn save(&mut self, config: RoomConfig) -> Result<(), HostError> {
        let was = self.config.persistent;
        let affiliations = if was == config.persistent {
            Vec::new()
        } else {
            self.affiliations()?
        };
        self.config = config;
        let jid = self.jid.clone();
        if self.config.persistent {
            rooms_kv(&jid).set("config", &json(&self.config))?;
            for (who, aff) in &affiliations {
                rooms_kv(&jid).set_str(&format!("aff/{who}"), aff.as_str())?;
            }
            if !was {
                directory().set(&jid, b"")?;
                eph_clear(&format!("aff/{jid}/"));
                ephemeral::delete(&format!("cfg/{jid}"));
            }
        } else {
            ephemeral::set(&format!("cfg/{jid}"), &json(&self.config))?;
            for (who, aff) in &affiliations {
                ephemeral::set(&format!("aff/{jid}/{who}"), aff.as_str().as_bytes())?;
            }
            if was {
                crate::register::forget_room(&jid)?;
                kv_clear(&rooms_kv(&jid), "")?;
                directory().delete(&jid)?;
            }
        }
        Ok(())
    }

    /// The affiliation of a bare JID (`None` when it has none).
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn affiliation(&self, who: &str) -> Result<Affiliation, HostError> {
        let key = format!("aff/{who}");
        let stored = if self.config.persistent {
            rooms_kv(&self.jid).get_string(&key)?
        } else {
            ephemeral::get(&format!("aff/{}/{who}", self.jid))
                .and_then(|v| String::from_utf8(v).ok())
        };
        Ok(stored
            .as_deref()
            .and_then(Affiliation::parse)
            .unwrap_or(Affiliation::None))
    }

    /// Sets (or, with [`Affiliation::None`], removes) a bare JID's affiliation.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn set_affiliation(&self, who: &str, aff: Affiliation) -> Result<(), HostError> {
        if self.config.persistent {
            let kv = rooms_kv(&self.jid);
            let key = format!("aff/{who}");
            if aff == Affiliation::None {
                kv.delete(&key)?;
            } else {
                kv.set_str(&key, aff.as_str())?;
            }
        } else {
            let key = format!("aff/{}/{who}", self.jid);
            if aff == Affiliation::None {
                ephemeral::delete(&key);
            } else {
                ephemeral::set(&key, aff.as_str().as_bytes())?;
            }
        }
        Ok(())
    }

    /// Every affiliation, by bare JID.
    ///
    /// # Errors
    ///
    /// Storage failed.
    pub(crate) fn affiliations(&self) -> Result<Vec<(String, Affiliation)>, HostError> {
        // Bounded by `max_affiliations` when set; the limit here only guards a runaway list.
        const LIMIT: u32 = 100_001;
        if self.config.persistent {
            let kv = rooms_kv(&self.jid);
            let mut out = Vec::new();
            for key in kv.keys("aff/", LIMIT)? {
                if let (Some(who), Some(aff)) = (
                    key.strip_prefix("aff/"),
                    kv.get_string(&key)?.as_deref().and_then(Affiliation::parse),
                ) {
                    out.push((who.to_owned(), aff));
                }
            }
            Ok(out)
        } else {
            let prefix = format!("aff/{}/", self.jid);
            Ok(ephemeral::keys(&prefix, LIMIT)
                .into_iter()
                .filter_map(|key| {
                    let who = key.strip_prefix(&prefix)?.to_owned();
                    let aff = ephemeral::get(&key)
                        .and_then(|v| String::from_utf8(v).ok())
                        .and_then(|s| Affiliation::parse(&s))?;
                    Some((who, aff))
                })
                .collect())
        }
    }

    /// The subject, if one was set.
    pub(crate) fn subject(&self) -> Option<Subject> {
        eph_json(&format!("subj/{}", self.jid))
    }

    /// Sets the subject.
    ///
    /// # Errors
    ///
    /// The `ephemeral` quota is exhausted.
    pub(crate) fn set_subject(&self, subject: &Subject) -> Result<(), HostError> {
        ephemeral::set(&format!("subj/{}", self.jid), &json(subject))
    }

    /// Deletes every record of the room (configuration, affiliations, subject, activity, its
    /// archive when logged); occupants are `occupant`'s to remove first.
    ///
    /// # Errors
    ///
    /// Storage failed; what was deleted stays deleted.
    pub(crate) fn delete(&self) -> Result<(), HostError> {
        if self.config.logging {
            crate::mam::purge(&self.jid)?;
        }
        ephemeral::delete(&format!("subj/{}", self.jid));
        eph_clear(&crate::invite::prefix(&self.jid));
        eph_clear(&crate::voice::prefix(&self.jid));
        eph_clear(&crate::occupant_iq::prefix(&self.jid));
        eph_clear(&format!("aff/{}/", self.jid));
        ephemeral::delete(&format!("cfg/{}", self.jid));
        if self.config.persistent {
            crate::register::forget_room(&self.jid)?;
            kv_clear(&rooms_kv(&self.jid), "")?;
            directory().delete(&self.jid)?;
        }
        Ok(())
    }
}
