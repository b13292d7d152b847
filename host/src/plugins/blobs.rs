//! The `blobs` capability: binary objects (uploads, avatars) with the data lifecycle of `kv`
//! (DESIGN.md "Privacy engine"), stored by `storage::blobs` under `<data_dir>/blobs/`.
//!
//! The checks are those of every data call (`HostState::data_scope`: the grant, a declared
//! category, the owner of its declared kind), then the operator's limits: a blob over the
//! plugin's `blob_max` is refused with `quota-exceeded` before a byte is written, and so is a
//! write that would take the plugin's blobs past `blob_quota`. The guest's `name` is a database
//! key only; the file name is the host's. `expires-at` is capped by the category's max age, as
//! for `kv`, and an expired blob reads as absent.

use super::bindings::tessera::plugin::{blobs, types};
use super::caps::guest_try;
use super::data;
use super::instance::HostState;
use crate::config::{Capability, PluginConfig};

type Guest<T> = wasmtime::Result<Result<T, types::Error>>;

/// A plugin's blob limits, from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobLimits {
    /// Largest single blob, in bytes.
    pub(crate) max: u64,
    /// Most bytes all its blobs may total.
    pub(crate) quota: u64,
}

impl BlobLimits {
    pub(crate) fn of(config: &PluginConfig) -> Self {
        Self {
            max: config.blob_max,
            quota: config.blob_quota,
        }
    }

    /// `quota-exceeded` for a blob over `max` (a guest error, never a trap).
    fn check_size(self, len: usize) -> Result<(), types::Error> {
        if u64::try_from(len).map_or(true, |n| n > self.max) {
            Err(types::Error::QuotaExceeded)
        } else {
            Ok(())
        }
    }
}

impl blobs::Host for HostState {
    async fn put(
        &mut self,
        category: String,
        owner: types::Owner,
        name: String,
        data: Vec<u8>,
        expires_at: Option<types::Timestamp>,
    ) -> Guest<u64> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Blobs, &category, &owner));
        let limits = self.plugin.blob_limits;
        guest_try!(limits.check_size(data.len()));
        let now = data::now_ms();
        let expires_at = data::cap_expiry(&c, now, expires_at);
        Ok(shared
            .storage
            .blob_put(
                &self.plugin.name,
                &c.name,
                &owner,
                &name,
                data,
                expires_at,
                Some(limits.quota),
                now,
            )
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn get(
        &mut self,
        category: String,
        owner: types::Owner,
        name: String,
    ) -> Guest<Option<Vec<u8>>> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Blobs, &category, &owner));
        Ok(shared
            .storage
            .blob_get(&self.plugin.name, &c.name, &owner, &name, data::now_ms())
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn delete(&mut self, category: String, owner: types::Owner, name: String) -> Guest<bool> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Blobs, &category, &owner));
        Ok(shared
            .storage
            .blob_delete(&self.plugin.name, &c.name, &owner, &name, data::now_ms())
            .await
            .map_err(|e| self.data_error(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap_is_a_guest_error() {
        let limits = BlobLimits { max: 4, quota: 10 };
        assert!(limits.check_size(4).is_ok());
        assert!(matches!(
            limits.check_size(5),
            Err(types::Error::QuotaExceeded)
        ));
    }
}
