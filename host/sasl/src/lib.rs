//! # tessera-sasl
//!
//! Sans-IO SASL (RFC 4422) for XMPP (RFC 6120 §6): the server side the host runs, and a client side
//! used by the load generator and tests. Nothing here touches a socket or logs: the host feeds
//! decoded messages in and sends what comes out, inside `<challenge/>`/`<success/>`/`<failure/>`.
//!
//! Layout:
//! - [`creds`]: what the account store keeps — salted SCRAM keys for SHA-1 and SHA-256, never a
//!   password — and the PBKDF2 derivation that produces them ([`derive_credentials`],
//!   [`derive_keys`], [`verify_password`]).
//! - `mechanism`: [`Mechanism`] names and the base64 framing of RFC 6120 §6.4.2
//!   ([`decode_payload`], [`encode_payload`]).
//! - `scram`: SCRAM-SHA-1/-256 (RFC 5802, RFC 7677) with `tls-exporter` channel binding
//!   (RFC 9266). The server exchange is a typestate, [`ScramServer`] → [`ClientFirst`] →
//!   [`ServerFirst`]; [`ScramClient`] is the other end.
//! - `plain`: PLAIN (RFC 4616), [`parse_plain`], checked against the SCRAM keys.
//! - [`ht`]: the Hashed Token mechanisms (HT-SHA-256-NONE, -EXPR) of XEP-0484 FAST.
//! - `error`: [`SaslError`], each variant mapped to its RFC 6120 §6.5 condition.
//! - `hash`: the RFC 5802 §2.2 primitives behind all of it.
//!
//! Hashing is CPU-bound: [`derive_credentials`], [`verify_password`] and
//! [`ScramClient::handle_server_first`] run PBKDF2, so callers on an async runtime run them on a
//! blocking thread. The server's SCRAM steps only compute a few HMACs.
//!
//! Secrets stay secret: no `Debug` impl here prints a password, key, nonce or binding data, and
//! passwords and salted passwords are wiped from memory when dropped.
//!
//! A whole SCRAM-SHA-256 exchange, both ends in one place:
//!
//! ```
//! use tessera_sasl::{ChannelBinding, HashAlg, Mechanism, ScramClient, ScramServer};
//!
//! # fn main() -> Result<(), tessera_sasl::SaslError> {
//! // At registration (on a blocking thread): keep these, forget the password.
//! let creds = tessera_sasl::derive_credentials("pencil", tessera_sasl::MIN_ITERATIONS)?;
//!
//! let mech = Mechanism::ScramSha256;
//! let mut client = ScramClient::new(mech, "juliet", "pencil", None)?;
//! let cb = ChannelBinding { tls_exporter: None, plus_advertised: false };
//!
//! // <auth mechanism='SCRAM-SHA-256'>client-first</auth>
//! let server = ScramServer::new(mech, cb)?.client_first(&client.client_first())?;
//! // The host looks `server.username()` up; `None` for an unknown account.
//! let (server, challenge) = server.server_first(Some(creds.keys(HashAlg::Sha256)));
//! // <challenge>server-first</challenge>, <response>client-final</response>
//! let response = client.handle_server_first(&challenge)?;
//! let (success, username) = server.client_final(&response)?;
//! // <success>server-final</success>
//! client.verify_server_final(&success)?;
//! assert_eq!(username, "juliet");
//! # Ok(())
//! # }
//! ```

pub mod creds;
mod error;
mod hash;
pub mod ht;
mod mechanism;
mod plain;
mod scram;

pub use creds::{
    Credentials, HashAlg, MIN_ITERATIONS, ScramKeys, derive_credentials, derive_keys,
    verify_password,
};
pub use error::SaslError;
pub use mechanism::{Mechanism, decode_payload, encode_payload};
pub use plain::{PlainRequest, parse_plain};
pub use scram::ChannelBinding;
pub use scram::client::ScramClient;
pub use scram::server::{ClientFirst, ScramServer, ServerFirst};
