//! Tessera's end-to-end suites: the real server, real third-party clients (`tokio-xmpp`, and
//! `slixmpp` through `tests/py/`), and raw sockets for hostile input. One binary, one module per
//! area. Every test starts its own server on `127.0.0.1:0`, so they run in parallel.
//!
//! - `auth`: TLS is required before SASL; SCRAM-SHA-1, SCRAM-SHA-256 and SCRAM-*-PLUS logins;
//!   refused and rate-limited logins.
//! - `im`: subscriptions, presence, messages, roster pushes, disconnects (RFC 6121).
//! - `abuse`: malformed XML, oversized stanzas, DTDs and entities (RFC 6120 §11).
//! - `services`: direct TLS (XEP-0368), ping and disco#info to the server, graceful shutdown.
//! - `session`: idle pings and timeouts, resource conflict policies, session limits, post-SASL
//!   features and the legacy session, the server's time/version/unknown IQs, account removal.
//! - `roster`: roster versioning, pre-approval, probes and directed presence, message routing by
//!   priority and bounces (RFC 6121 §2.6, §3.4, §4, §8.5).
//! - `support`: stanza builders and predicates shared by the suites.

mod abuse;
mod auth;
mod im;
mod roster;
mod services;
mod session;
mod support;
