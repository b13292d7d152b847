//! # Tessera
//!
//! An XMPP server (RFC 6120/6121) whose features are sandboxed WebAssembly components. This crate is
//! the host: everything that touches bytes, sockets, keys and disks. `main.rs` is a thin CLI over it,
//! so tests link the library and start the real server on `127.0.0.1:0`.
//!
//! ## Layout
//! - [`config`]: the operator's TOML (`deny_unknown_fields`, named defaults), validated into [`Config`].
//! - `tls`: certificates from PEM (reloaded on SIGHUP) or a generated self-signed one.
//! - `stream`: one task per client connection; stream negotiation (STARTTLS, SASL, bind) and the
//!   bound session loop. XML framing lives in the `tessera-xml` crate, SASL in `tessera-sasl`.
//! - `router`: the sharded session registry; delivery by `try_send` into bounded per-session queues.
//! - `im`: RFC 6121 instant messaging — rosters, subscriptions, presence, message routing — and the
//!   server's own IQs (disco, ping, time, version).
//! - [`storage`]: one storage facade over SQLite (default) and PostgreSQL; migrations per backend.
//! - [`accounts`]: account management (add, remove, change password) shared by the CLI and server.
//! - [`plugins`]: the wasmtime plugin runtime: loading with grants, instance pools with limits,
//!   dispatch of stanzas to plugins by hook, reload.
//! - `http`: the HTTP listener (plugins' `http-routes`, `/privacy`) and the `http-outbound` client.
//! - [`policy`]: the published privacy policy, built from the config and the plugins' manifests.
//! - `server`: [`Server`] ties it together: listeners, shared state, graceful shutdown.

pub mod accounts;
#[doc(hidden)]
pub mod bench;
pub mod config;
mod http;
mod im;
mod ns;
pub mod plugins;
pub mod policy;
mod router;
mod server;
pub mod storage;
mod stream;
mod tls;

pub use config::Config;
pub use server::{Server, ServerAddrs};
