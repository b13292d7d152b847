//! The `clock` capability: wall-clock time from the host.

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::clock::now();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::now();
}
