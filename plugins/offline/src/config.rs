//! The operator's settings (`[plugins.offline.config]`), checked in `init`.
//!
//! ```toml
//! [plugins.offline.config]
//! when_full = "bounce"   # or "drop-oldest" (the default)
//! max_messages = 500     # only with "bounce"; default 1000
//! ```
//!
//! Retention itself (how long a message waits, how many the host keeps) is the host's
//! `[plugins.offline.retention.messages]` table, not this one: the host enforces it for every
//! plugin the same way.

use std::fmt;

/// The default cap on one user's queue with `when_full = "bounce"`; the same as the declared
/// default `max_items`, so the two modes differ only in which message loses.
pub(crate) const DEFAULT_MAX_MESSAGES: u64 = 1000;

/// What happens to a new message when the recipient's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Store it; the host's `max_items` retention drops the oldest message (the default).
    DropOldest,
    /// Store nothing once the queue holds `max_messages`, and answer the sender
    /// `<resource-constraint/>` (type `wait`, RFC 6120 §8.3.3.15): the sender learns the message
    /// was not stored and may retry later.
    Bounce {
        /// The cap.
        max_messages: u64,
    },
}

/// The validated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) when_full: WhenFull,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            when_full: WhenFull::DropOldest,
        }
    }
}

/// A bad setting; the message names the key, as the host's own config errors do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    key: &'static str,
    problem: String,
}

impl ConfigError {
    fn new(key: &'static str, problem: impl Into<String>) -> Self {
        Self {
            key,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl Settings {
    /// Parses the serialised `[plugins.offline.config]` table (empty: the defaults).
    ///
    /// # Errors
    ///
    /// Not TOML, an unknown key, a value of the wrong type or out of range, or `max_messages`
    /// without `when_full = "bounce"` (it would silently do nothing).
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))?;
        let mut when_full = None;
        let mut max_messages = None;
        for (key, value) in &table {
            match key.as_str() {
                "when_full" => {
                    when_full = Some(match value.as_str() {
                        Some("drop-oldest") => "drop-oldest",
                        Some("bounce") => "bounce",
                        _ => {
                            return Err(ConfigError::new(
                                "when_full",
                                "expected \"drop-oldest\" or \"bounce\"",
                            ));
                        }
                    });
                }
                "max_messages" => {
                    let n = value
                        .as_integer()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            ConfigError::new("max_messages", "expected a positive integer")
                        })?;
                    max_messages = Some(n);
                }
                other => {
                    return Err(ConfigError::new(
                        "config",
                        format!(
                            "unknown key `{other}` (known: when_full, max_messages; retention is \
                             [plugins.<name>.retention.messages])"
                        ),
                    ));
                }
            }
        }
        let when_full = match (when_full, max_messages) {
            (Some("bounce"), n) => WhenFull::Bounce {
                max_messages: n.unwrap_or(DEFAULT_MAX_MESSAGES),
            },
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    "max_messages",
                    "only used with when_full = \"bounce\"; with \"drop-oldest\" the cap is \
                     [plugins.<name>.retention.messages] max_items",
                ));
            }
            (_, None) => WhenFull::DropOldest,
        };
        Ok(Self { when_full })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_drop_oldest() {
        assert_eq!(Settings::parse(""), Ok(Settings::default()));
        assert_eq!(
            Settings::parse("when_full = \"drop-oldest\"").map(|s| s.when_full),
            Ok(WhenFull::DropOldest)
        );
    }

    #[test]
    fn bounce_defaults_and_overrides_its_cap() {
        assert_eq!(
            Settings::parse("when_full = \"bounce\"").map(|s| s.when_full),
            Ok(WhenFull::Bounce { max_messages: 1000 })
        );
        assert_eq!(
            Settings::parse("when_full = \"bounce\"\nmax_messages = 3").map(|s| s.when_full),
            Ok(WhenFull::Bounce { max_messages: 3 })
        );
    }

    #[test]
    fn every_error_names_its_key() {
        for (text, key) in [
            ("when_full = \"drop-newest\"", "when_full: "),
            ("when_full = 3", "when_full: "),
            ("when_full = \"bounce\"\nmax_messages = 0", "max_messages: "),
            (
                "when_full = \"bounce\"\nmax_messages = -1",
                "max_messages: ",
            ),
            (
                "when_full = \"bounce\"\nmax_messages = \"9\"",
                "max_messages: ",
            ),
            ("max_messages = 5", "max_messages: "),
            ("max_age = \"1d\"", "config: unknown key `max_age`"),
            ("when_full = ", "config: "),
        ] {
            let err = Settings::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(key), "{text:?}: {err}");
        }
    }
}
