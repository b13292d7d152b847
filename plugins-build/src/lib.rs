//! Paths to Tessera's plugin components, built for `wasm32-wasip2` by this crate's build script.
//!
//! Depend on this crate (usually as a dev-dependency, or from the host to embed the defaults) and
//! read the constants: `plugins_build::ECHO_BOT` is the absolute path of `echo_bot.wasm`. Nobody
//! builds plugins by hand; `cargo` rebuilds them when a plugin's sources, the SDK or `wit/` change.
//!
//! Generated items: one `pub const <CRATE_NAME>: &str` per plugin crate, [`ALL`] listing them,
//! [`EMBEDDED`] with every component's bytes (`include_bytes!`, for the host's built-ins), and
//! `foreach_plugin!(mac)` calling `mac!(crate_ident, CONST)` once per plugin, so a test suite
//! can require a test for every plugin at compile time.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
