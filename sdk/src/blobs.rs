//! The `blobs` capability: binary objects (uploads, avatars) stored on disk by the host, scoped
//! by data category and owner, with the lifecycle of [`crate::kv`] values (retention, expiry,
//! deletion with the owner) enforced by the host.
//!
//! The category must be declared in the manifest with the owner's kind, or every call fails with
//! [`HostError::UndeclaredCategory`] / [`HostError::WrongOwner`]. The operator caps the size of
//! one blob (`blob_max`) and the plugin's total (`blob_quota`); a write past either is
//! [`HostError::QuotaExceeded`], and a refused replace keeps the old blob. A `name` is only a key:
//! any text works, the host chooses where the bytes go.
//!
//! ```
//! use tessera_sdk::{blobs, Owner};
//!
//! # tessera_sdk::testing::reset();
//! let owner = Owner::user("juliet@example.com");
//! assert_eq!(blobs::put("avatars", &owner, "current", &[0x89, b'P', b'N', b'G'], None), Ok(4));
//! assert_eq!(blobs::get("avatars", &owner, "current").unwrap().map(|b| b.len()), Some(4));
//! assert_eq!(blobs::delete("avatars", &owner, "current"), Ok(true));
//! ```

use crate::error::HostError;
use crate::owner::Owner;

/// Stores `data` under `name`, replacing any blob of that name; returns its size. It expires at
/// `expires_at_ms` (ms since the epoch) or at the category's retention, whichever comes first.
///
/// # Errors
///
/// The category is undeclared or of another owner kind, [`HostError::QuotaExceeded`] past the
/// operator's limits, [`HostError::Invalid`] for a name holding NUL or over 1024 bytes, or
/// storage is unavailable.
pub fn put(
    category: &str,
    owner: &Owner,
    name: &str,
    data: &[u8],
    expires_at_ms: Option<u64>,
) -> Result<u64, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::blobs::put(
        category,
        &owner.to_wit(),
        name,
        data,
        expires_at_ms,
    )
    .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::blob_put(category, owner, name, data, expires_at_ms);
}

/// Reads a blob; `None` if there is none or it expired.
///
/// # Errors
///
/// As [`put`], except the limits.
pub fn get(category: &str, owner: &Owner, name: &str) -> Result<Option<Vec<u8>>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::blobs::get(category, &owner.to_wit(), name)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::blob_get(category, owner, name);
}

/// Deletes a blob; `true` if there was one.
///
/// # Errors
///
/// As [`get`].
pub fn delete(category: &str, owner: &Owner, name: &str) -> Result<bool, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::blobs::delete(category, &owner.to_wit(), name)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::blob_delete(category, owner, name);
}
