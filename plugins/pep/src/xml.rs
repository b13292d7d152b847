//! Small helpers over `minidom` for the elements the plugin builds.

pub(crate) use tessera_sdk::xml::{element as el, set_attr as set, with};

/// XEP-0004 §3.3 booleans: `1`/`true` and `0`/`false`.
pub(crate) fn boolean(value: &str) -> Option<bool> {
    match value {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}
