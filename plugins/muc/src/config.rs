//! The operator's settings (`[plugins.muc.config]`), checked in `init`.
//!
//! ```toml
//! [plugins.muc.config]
//! max_rooms = 10000         # rooms the service holds at once (temporary and persistent)
//! max_occupants = 200       # occupants of one room; a room's `maxusers` cannot exceed it
//! max_nick_length = 64      # characters in a room nickname
//! max_affiliations = 1000   # owners, admins, members and outcasts of one room
//! max_subject_length = 1024 # characters in a room subject
//! history = 20              # archived messages sent on entering a logged room, at most
//! max_page = 100            # most results of one archive query page on a room
//! room_expiry = "30d"       # a persistent room unused this long is destroyed with its data
//! ```
//!
//! Everything a peer can make the service hold is bounded here: rooms, occupants per room
//! (each one an `ephemeral` record with its last presence), affiliations per room (each one a
//! `kv` or `ephemeral` record) and the text kept per room. The host bounds the `ephemeral` bytes
//! of the whole plugin (`ephemeral` in `[plugins.muc]`) on top.

/// The validated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Rooms at once.
    pub(crate) max_rooms: u32,
    /// Occupants per room.
    pub(crate) max_occupants: u32,
    /// Characters in a nickname.
    pub(crate) max_nick_length: usize,
    /// Affiliation records per room.
    pub(crate) max_affiliations: u32,
    /// Characters in a subject.
    pub(crate) max_subject_length: usize,
    /// Messages of discussion history sent on entering a logged room (§7.2.14), at most.
    pub(crate) history: u32,
    /// Results per page of an archive query on a room (XEP-0313, XEP-0059 `max`), at most.
    pub(crate) max_page: u32,
    /// Milliseconds without a join or a message after which a persistent room is destroyed.
    pub(crate) room_expiry_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_rooms: 10_000,
            max_occupants: 200,
            max_nick_length: 64,
            max_affiliations: 1000,
            max_subject_length: 1024,
            history: 20,
            max_page: 100,
            room_expiry_ms: 30 * DAY_MS,
        }
    }
}

/// The most `history` may be: one join's history is sent in one call.
const MAX_HISTORY: u32 = 200;
const SECOND_MS: u64 = 1000;
const DAY_MS: u64 = 24 * 3600 * SECOND_MS;

use tessera_sdk::config;
pub(crate) use tessera_sdk::config::ConfigError;

/// A duration such as `"30d"`, from 1 s to 10 years, in ms.
fn duration(key: &str, value: &toml::Value) -> Result<u64, ConfigError> {
    config::duration_ms(key, value, SECOND_MS, 3650 * DAY_MS)
}

fn error(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(key, problem)
}

/// A positive integer no larger than `max`.
fn positive(key: &str, value: &toml::Value, max: u32) -> Result<u32, ConfigError> {
    config::integer(key, value, 1, u64::from(max)).map(|n| u32::try_from(n).unwrap_or(max))
}

impl Settings {
    /// Parses the serialised `[plugins.muc.config]` table (empty: the defaults).
    ///
    /// # Errors
    ///
    /// Not TOML, an unknown key, or a value out of range; the message starts with the key.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let table = config::table(text)?;
        let mut s = Settings::default();
        for (key, value) in &table {
            match key.as_str() {
                "max_rooms" => s.max_rooms = positive(key, value, 1_000_000)?,
                "max_occupants" => s.max_occupants = positive(key, value, 10_000)?,
                // A nickname is a JID resource (RFC 7622 §3.4: at most 1023 bytes).
                "max_nick_length" => s.max_nick_length = positive(key, value, 255)? as usize,
                "max_affiliations" => s.max_affiliations = positive(key, value, 100_000)?,
                "max_subject_length" => {
                    s.max_subject_length = positive(key, value, 65_536)? as usize;
                }
                "history" => {
                    s.history = value
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| *n <= MAX_HISTORY)
                        .ok_or_else(|| {
                            error(key, format!("expected an integer from 0 to {MAX_HISTORY}"))
                        })?;
                }
                "max_page" => s.max_page = positive(key, value, 1000)?,
                "room_expiry" => s.room_expiry_ms = duration(key, value)?,
                other => {
                    return Err(error(
                        "config",
                        format!(
                            "unknown key `{other}` (known: max_rooms, max_occupants, \
                             max_nick_length, max_affiliations, max_subject_length, history, \
                             max_page, room_expiry)"
                        ),
                    ));
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_defaults() {
        assert_eq!(Settings::parse(""), Ok(Settings::default()));
        let s = Settings::parse("max_rooms = 3\nmax_occupants = 2\nmax_nick_length = 5").unwrap();
        assert_eq!((s.max_rooms, s.max_occupants, s.max_nick_length), (3, 2, 5));
        let s = Settings::parse("history = 0\nmax_page = 7\nroom_expiry = \"2h\"").unwrap();
        assert_eq!((s.history, s.max_page, s.room_expiry_ms), (0, 7, 7_200_000));
        assert_eq!(Settings::default().room_expiry_ms, 30 * 86_400_000);
        for (text, ms) in [("3s", 3000), ("45m", 2_700_000), ("1d", 86_400_000)] {
            let s = Settings::parse(&format!("room_expiry = \"{text}\"")).unwrap();
            assert_eq!(s.room_expiry_ms, ms, "{text}");
        }
    }

    #[test]
    fn every_error_names_its_key() {
        for (text, key) in [
            ("max_rooms = 0", "max_rooms: "),
            ("max_occupants = 10001", "max_occupants: "),
            ("max_nick_length = \"long\"", "max_nick_length: "),
            ("max_affiliations = -1", "max_affiliations: "),
            ("max_subject_length = 1.5", "max_subject_length: "),
            ("history = 201", "history: "),
            ("max_page = 0", "max_page: "),
            ("room_expiry = \"30\"", "room_expiry: "),
            ("room_expiry = \"0s\"", "room_expiry: "),
            ("room_expiry = 30", "room_expiry: "),
            ("room_expiry = \"3651d\"", "room_expiry: "),
            ("logging = true", "config: unknown key `logging`"),
            ("max_rooms = ", "config: "),
        ] {
            let err = Settings::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(key), "{text:?}: {err}");
        }
    }
}
