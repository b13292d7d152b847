//! Operator configuration helpers for `Plugin::init`: the table the host hands over, values
//! checked one by one, and errors that start with the key, as the host's own config errors do
//! (`max_items: expected an integer from 1 to 10000`), which `init` returns to refuse the plugin.
//!
//! ```
//! use tessera_sdk::config::{self, ConfigError};
//!
//! # fn main() -> Result<(), ConfigError> {
//! let table = config::table("max_rooms = 3\nexpiry = \"2h\"")?;
//! assert_eq!(config::integer("max_rooms", &table["max_rooms"], 1, 100)?, 3);
//! assert_eq!(config::duration_ms("expiry", &table["expiry"], 1000, u64::MAX)?, 7_200_000);
//! let err = config::integer("max_rooms", &table["max_rooms"], 5, 100).unwrap_err();
//! assert_eq!(err.to_string(), "max_rooms: expected an integer from 5 to 100");
//! # Ok(())
//! # }
//! ```

use std::fmt;

/// A bad setting: shown as `key: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    problem: String,
}

impl ConfigError {
    /// A problem with the setting `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The setting it is about.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// An unknown key, naming the ones the plugin knows.
    pub fn unknown_key(key: &str, known: &[&str]) -> Self {
        Self::new(
            "config",
            format!("unknown key `{key}` (known: {})", known.join(", ")),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The serialised `[plugins.<name>.config]` table `init` gets (empty: no settings).
///
/// # Errors
/// The text is not a TOML table.
pub fn table(text: &str) -> Result<toml::Table, ConfigError> {
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))
}

/// An integer from `min` to `max`.
///
/// # Errors
/// Not an integer, or out of range.
pub fn integer(key: &str, value: &toml::Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    value
        .as_integer()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError::new(key, format!("expected an integer from {min} to {max}")))
}

/// A duration such as `"30d"`, `"12h"`, `"45m"` or `"10s"`, in milliseconds, from `min_ms` to
/// `max_ms`.
///
/// # Errors
/// Not such a string, or out of range.
pub fn duration_ms(
    key: &str,
    value: &toml::Value,
    min_ms: u64,
    max_ms: u64,
) -> Result<u64, ConfigError> {
    let bad = || {
        ConfigError::new(
            key,
            "expected a duration like \"30d\", \"12h\", \"45m\" or \"10s\"",
        )
    };
    let text = value.as_str().ok_or_else(bad)?.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let unit_ms: u64 = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    n.checked_mul(unit_ms)
        .filter(|ms| (min_ms..=max_ms).contains(ms))
        .ok_or_else(|| {
            ConfigError::new(
                key,
                format!(
                    "expected a duration from {} to {}",
                    written(min_ms),
                    written(max_ms)
                ),
            )
        })
}

/// A duration in milliseconds as a setting would be written: in its largest whole unit.
fn written(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| ms > 0 && ms.is_multiple_of(*unit))
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, name)| format!("{}{name}", ms / unit),
        )
}

/// For a plugin with no settings of its own: accepts the empty table the host hands over when the
/// operator wrote no `[plugins.<name>.config]`, and refuses anything else naming the first key
/// (a plugin's retention is set in `[plugins.<name>.retention.<category>]`, which the host reads,
/// not the plugin). `category` is the plugin's data category, for that hint.
///
/// # Errors
/// The text is not a TOML table, or the table has a key.
pub fn no_settings(config: &str, category: &str) -> Result<(), String> {
    let table: toml::Table = config
        .parse()
        .map_err(|e| format!("config: not a TOML table: {e}"))?;
    match table.keys().next() {
        None => Ok(()),
        Some(key) => Err(format!(
            "config.{key}: unknown key (the plugin has no settings; retention is \
             [plugins.<name>.retention.{category}])"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_empty_table_is_accepted() {
        assert_eq!(no_settings("", "notes"), Ok(()));
        let err = no_settings("max_items = 3", "notes").expect_err("a key");
        assert!(err.starts_with("config.max_items: unknown key"), "{err}");
        assert!(err.contains("[plugins.<name>.retention.notes]"), "{err}");
        let err = no_settings("not toml = = 1", "notes").expect_err("not TOML");
        assert!(err.starts_with("config: not a TOML table"), "{err}");
    }
}
