//! The `ephemeral` capability: in-memory state shared by all instances of this plugin (MUC
//! occupants, rate counters). Lost on restart; bounded per plugin by the operator's config.

use crate::error::HostError;

/// Reads a value.
pub fn get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::ephemeral::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::eph_get(key);
}

/// Writes a value.
///
/// # Errors
///
/// [`HostError::QuotaExceeded`] past the plugin's bound.
pub fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::ephemeral::set(key, value).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::eph_set(key, value);
}

/// Writes `value` only if the current value equals `expected` (`None`: absent); `true` if written.
///
/// # Errors
///
/// As [`set`].
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    value: &[u8],
) -> Result<bool, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::ephemeral::compare_and_swap(key, expected, value)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::eph_cas(key, expected, value);
}

/// Deletes a value; `true` if there was one.
pub fn delete(key: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::ephemeral::delete(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::eph_delete(key);
}

/// Keys with `prefix`, in order, at most `limit`.
pub fn keys(prefix: &str, limit: u32) -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::ephemeral::keys(prefix, limit);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::eph_keys(prefix, limit);
}
