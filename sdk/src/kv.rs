//! The `kv` capability: persistent key-value storage, scoped by data category and owner, with
//! the lifecycle (retention, deletion with the owner) enforced by the host.

use crate::error::HostError;
use crate::owner::Owner;

/// One category's values for one owner. The category must be declared in the manifest with the
/// owner's kind, or every call fails with [`HostError::UndeclaredCategory`] /
/// [`HostError::WrongOwner`].
///
/// ```
/// use tessera_sdk::{kv::Kv, Owner};
///
/// let prefs = Kv::new("prefs", Owner::user("juliet@example.com"));
/// # tessera_sdk::testing::reset();
/// prefs.set_str("mode", "always").unwrap();
/// assert_eq!(prefs.get_string("mode").unwrap().as_deref(), Some("always"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    category: String,
    owner: Owner,
}

impl Kv {
    /// The values of `category` owned by `owner`.
    pub fn new(category: impl Into<String>, owner: Owner) -> Self {
        Self {
            category: category.into(),
            owner,
        }
    }

    /// The category.
    pub fn category(&self) -> &str {
        &self.category
    }

    /// The owner.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Reads a value.
    ///
    /// # Errors
    ///
    /// The category is undeclared or of another owner kind, or storage is unavailable.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::kv::get(
            &self.category,
            &self.owner.to_wit(),
            key,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::kv_get(&self.category, &self.owner, key);
    }

    /// Reads a UTF-8 value; a value that is not UTF-8 is [`HostError::Invalid`].
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub fn get_string(&self, key: &str) -> Result<Option<String>, HostError> {
        self.get(key)?
            .map(|v| {
                String::from_utf8(v)
                    .map_err(|_| HostError::Invalid(format!("value of {key:?} is not UTF-8")))
            })
            .transpose()
    }

    /// Writes a value kept for the category's retention.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`], and [`HostError::QuotaExceeded`].
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.set_expiring(key, value, None)
    }

    /// Writes a UTF-8 value.
    ///
    /// # Errors
    ///
    /// As [`Kv::set`].
    pub fn set_str(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.set(key, value.as_bytes())
    }

    /// Writes a value that expires at `expires_at_ms` (ms since the epoch) or at the category's
    /// retention, whichever comes first.
    ///
    /// # Errors
    ///
    /// As [`Kv::set`].
    pub fn set_expiring(
        &self,
        key: &str,
        value: &[u8],
        expires_at_ms: Option<u64>,
    ) -> Result<(), HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::kv::set(
            &self.category,
            &self.owner.to_wit(),
            key,
            value,
            expires_at_ms,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::kv_set(
            &self.category,
            &self.owner,
            key,
            value,
            expires_at_ms,
        );
    }

    /// Deletes a value; `true` if there was one.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub fn delete(&self, key: &str) -> Result<bool, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::kv::delete(
            &self.category,
            &self.owner.to_wit(),
            key,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::kv_delete(&self.category, &self.owner, key);
    }

    /// Keys starting with `prefix`, in order, at most `limit`.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub fn keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::tessera::plugin::kv::keys(
            &self.category,
            &self.owner.to_wit(),
            prefix,
            limit,
        )
        .map_err(HostError::from);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::fake::kv_keys(&self.category, &self.owner, prefix, limit);
    }
}
