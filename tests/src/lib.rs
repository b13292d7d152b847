//! # tessera-tests
//!
//! The harness for Tessera's end-to-end tests: the real server, started in-process on
//! `127.0.0.1:0` with a throwaway CA, driven by real third-party XMPP clients. No fixed ports and
//! no sleeps: every wait is on an event, bounded by [`TIMEOUT`].
//!
//! ## Layout
//! - [`ca`]: a test CA and a `localhost` server certificate, written as PEM for the server config.
//! - [`server`]: [`TestServer`]: config overlay, bind, `run` in a task, `add_user`, shutdown.
//! - [`client`]: [`TestClient`] over `tokio-xmpp` with our own `ServerConnector` (STARTTLS or
//!   direct TLS, optional `tls-exporter` channel binding), and [`try_login`] for refused logins.
//! - [`slix`]: runs the `slixmpp` scripts in `tests/py/` (a client in another language).
//! - [`link`]: [`FlakyLink`], a TCP relay a test can blackhole and cut (XEP-0198 resumption).
//! - [`raw`]: [`RawConn`], byte-level, for malformed, oversized and hostile input.
//! - [`load`]: the load generator's core (logged-in sessions, 1:1 throughput and latency).
//!
//! The suites themselves are one binary, `e2e/main.rs`.

pub mod ca;
pub mod client;
pub mod link;
pub mod load;
pub mod raw;
mod script;
pub mod server;
pub mod slix;
pub mod xmppjs;

use std::time::Duration;

pub use ca::{DOMAIN, TestCa};
pub use client::{CAPS_NODE, ClientOptions, LoginError, TestClient, Transport, try_login};
pub use link::FlakyLink;
pub use raw::RawConn;
pub use server::TestServer;
pub use tokio_xmpp;
pub use tokio_xmpp::parsers;

/// Where a client connects: implemented by [`TestServer`], and by anything else that speaks XMPP
/// with a certificate from a [`TestCa`] (e.g. a reference server the load generator compares
/// against).
pub trait Endpoint {
    /// The STARTTLS listener (RFC 6120 §5).
    fn c2s_addr(&self) -> std::net::SocketAddr;
    /// The direct-TLS listener (XEP-0368).
    fn direct_tls_addr(&self) -> std::net::SocketAddr;
    /// The CA the server's certificate chains to.
    fn ca(&self) -> &TestCa;
    /// The XMPP domain served.
    fn domain(&self) -> &str;
}

/// The bound on every wait for the server. Generous: CI shares two cores between the build and
/// the tests, and a TLS handshake plus SCRAM with 4096 iterations is not free in a debug build.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Installs a `tracing` subscriber once per test binary, writing through the test harness's
/// capture. Quiet unless `RUST_LOG` asks (`RUST_LOG=tessera=debug cargo test -p tessera-tests`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Err only means another test installed it first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}
