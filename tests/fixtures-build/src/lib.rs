//! Paths to the test fixture components (`tests/plugins/*`), built for `wasm32-wasip2` by this
//! crate's build script once per build: a dev-dependency of the suites that load them.
//!
//! `fixtures_build::path("echo")` is the absolute path of `fixture_echo.wasm`.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
