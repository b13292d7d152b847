//! The operator's settings (`[plugins.pep.config]`), checked in `init`.
//!
//! ```toml
//! [plugins.pep.config]
//! max_items = 256          # items one node keeps; `pubsub#max_items = max` means this
//! max_item_bytes = 196608  # one item, serialised (192 KiB)
//! max_nodes = 256          # nodes one account may have
//! ```
//!
//! The host caps neither a `kv` value nor the number of keys, so these are the plugin's own
//! bounds on what one account stores: at worst `max_nodes × max_items × max_item_bytes`, but in
//! practice a few avatar images and many small items (device lists, bundles, bookmarks, nicks).
//!
//! Why 192 KiB an item: the largest common item is an XEP-0084 avatar (`urn:xmpp:avatar:data`,
//! the image base64-encoded: 192 KiB holds a 140 KiB image, more than clients produce, as
//! Conversations scales to well under 100 KiB). An item travels inside a stanza (the publish,
//! the notification, the items result), which the host refuses past `limits.stanza_bytes`
//! (256 KiB by default), so the cap leaves 64 KiB for the envelope; an operator who raises
//! `limits.stanza_bytes` may raise this too.

/// Default items per node (and what `max` means).
pub(crate) const DEFAULT_MAX_ITEMS: u32 = 256;
/// Default item size, serialised.
pub(crate) const DEFAULT_MAX_ITEM_BYTES: usize = 192 * 1024;
/// Default nodes per account: OMEMO alone makes one bundle node per device, and clients add a
/// dozen more (avatar, nick, bookmarks, device lists, mood, …).
pub(crate) const DEFAULT_MAX_NODES: u32 = 256;

/// The validated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Items one node keeps (the oldest are dropped past it); `pubsub#max_items = max`.
    pub(crate) max_items: u32,
    /// One item's size, serialised.
    pub(crate) max_item_bytes: usize,
    /// Nodes per account.
    pub(crate) max_nodes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_items: DEFAULT_MAX_ITEMS,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            max_nodes: DEFAULT_MAX_NODES,
        }
    }
}

use tessera_sdk::config;
pub(crate) use tessera_sdk::config::ConfigError;

fn error(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(key, problem)
}

/// A positive integer no larger than `max`.
fn positive(key: &str, value: &toml::Value, max: u64) -> Result<u64, ConfigError> {
    config::integer(key, value, 1, max)
}

impl Settings {
    /// Parses the serialised `[plugins.pep.config]` table (empty: the defaults).
    ///
    /// # Errors
    ///
    /// Not TOML, an unknown key, or a value that is not a positive integer in range; the
    /// message starts with the key.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        let table = config::table(text)?;
        let mut settings = Settings::default();
        for (key, value) in &table {
            match key.as_str() {
                "max_items" => {
                    // A node's item list is one `kv` value: bounded so it stays small.
                    settings.max_items = u32::try_from(positive(key, value, 10_000)?)
                        .expect("invariant: at most 10 000");
                }
                "max_item_bytes" => {
                    settings.max_item_bytes = usize::try_from(positive(key, value, 16 << 20)?)
                        .expect("invariant: at most 16 MiB");
                }
                "max_nodes" => {
                    settings.max_nodes = u32::try_from(positive(key, value, 10_000)?)
                        .expect("invariant: at most 10 000");
                }
                other => {
                    return Err(error(
                        "config",
                        format!(
                            "unknown key `{other}` (known: max_items, max_item_bytes, max_nodes)"
                        ),
                    ));
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_defaults() {
        assert_eq!(Settings::parse(""), Ok(Settings::default()));
        let s = Settings::parse("max_items = 10\nmax_item_bytes = 1024\nmax_nodes = 3").unwrap();
        assert_eq!((s.max_items, s.max_item_bytes, s.max_nodes), (10, 1024, 3));
    }

    #[test]
    fn every_error_names_its_key() {
        for (text, key) in [
            ("max_items = 0", "max_items: "),
            ("max_items = \"max\"", "max_items: "),
            ("max_items = 10001", "max_items: "),
            ("max_item_bytes = -1", "max_item_bytes: "),
            ("max_nodes = 1.5", "max_nodes: "),
            ("max_age = 3", "config: unknown key `max_age`"),
            ("max_items = ", "config: "),
        ] {
            let err = Settings::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(key), "{text:?}: {err}");
        }
    }
}
