//! # tessera-sasl
//!
//! Sans-IO SASL (RFC 4422) for XMPP (RFC 6120 §6): the server side the host runs, and a client side
//! used by the load generator and tests.
//!
//! Layout:
//! - [`creds`]: what the account store keeps — salted SCRAM keys for SHA-1 and SHA-256, never a
//!   password — and the PBKDF2 derivation that produces them.
//!
//! Hashing is CPU-bound; callers on an async runtime run it on a blocking thread.

pub mod creds;

pub use creds::{Credentials, HashAlg, ScramKeys};
