//! The operator's settings (`[plugins.muc.config]`), checked in `init`.
//!
//! ```toml
//! [plugins.muc.config]
//! max_rooms = 10000         # rooms the service holds at once (temporary and persistent)
//! max_occupants = 200       # occupants of one room; a room's `maxusers` cannot exceed it
//! max_nick_length = 64      # characters in a room nickname
//! max_affiliations = 1000   # owners, admins, members and outcasts of one room
//! max_subject_length = 1024 # characters in a room subject
//! ```
//!
//! Everything a peer can make the service hold is bounded here: rooms, occupants per room
//! (each one an `ephemeral` record with its last presence), affiliations per room (each one a
//! `kv` or `ephemeral` record) and the text kept per room. The host bounds the `ephemeral` bytes
//! of the whole plugin (`ephemeral` in `[plugins.muc]`) on top.

use std::fmt;

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_rooms: 10_000,
            max_occupants: 200,
            max_nick_length: 64,
            max_affiliations: 1000,
            max_subject_length: 1024,
        }
    }
}

/// A bad setting; the message starts with the key, as the host's own config errors do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    key: String,
    problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

fn error(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// A positive integer no larger than `max`.
fn positive(key: &str, value: &toml::Value, max: u32) -> Result<u32, ConfigError> {
    value
        .as_integer()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| error(key, format!("expected an integer from 1 to {max}")))
}

impl Settings {
    /// Parses the serialised `[plugins.muc.config]` table (empty: the defaults).
    ///
    /// # Errors
    ///
    /// Not TOML, an unknown key, or a value out of range; the message starts with the key.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| error("config", e.message().to_owned()))?;
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
                other => {
                    return Err(error(
                        "config",
                        format!(
                            "unknown key `{other}` (known: max_rooms, max_occupants, \
                             max_nick_length, max_affiliations, max_subject_length)"
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
    }

    #[test]
    fn every_error_names_its_key() {
        for (text, key) in [
            ("max_rooms = 0", "max_rooms: "),
            ("max_occupants = 10001", "max_occupants: "),
            ("max_nick_length = \"long\"", "max_nick_length: "),
            ("max_affiliations = -1", "max_affiliations: "),
            ("max_subject_length = 1.5", "max_subject_length: "),
            ("history = 20", "config: unknown key `history`"),
            ("max_rooms = ", "config: "),
        ] {
            let err = Settings::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(key), "{text:?}: {err}");
        }
    }
}
