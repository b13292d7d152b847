//! The Hashed Token mechanisms (draft-ietf-kitten-sasl-ht) that XEP-0484 FAST logs in with: a
//! token the server issued earlier stands in for the password, in one round trip.
//!
//! The client's initial response is `authcid NUL HMAC(token, "Initiator" || cb-data)`; the server,
//! holding the token, checks it and answers `HMAC(token, "Responder" || cb-data)` as additional
//! data, which proves to the client that the server knew the token too. `cb-data` is empty for
//! `-NONE` and the RFC 9266 `tls-exporter` value for `-EXPR`, which ties the login to this TLS
//! connection. The HMAC key is the token's bytes as issued (its text, as clients use it).
//!
//! ```
//! use tessera_sasl::ht::{HtMechanism, initiator, parse_initial};
//!
//! # fn main() -> Result<(), tessera_sasl::SaslError> {
//! let token = b"a-token-the-server-issued";
//! let mut msg = b"juliet\0".to_vec();
//! msg.extend_from_slice(&initiator(token, &[]));
//! let req = parse_initial(&msg)?;
//! assert_eq!(req.username(), "juliet");
//! let responder = req.verify(HtMechanism::Sha256None, token, &[]).expect("the right token");
//! assert_eq!(responder.len(), 32);
//! assert!(req.verify(HtMechanism::Sha256None, b"another token", &[]).is_none());
//! # Ok(())
//! # }
//! ```

use subtle::ConstantTimeEq as _;

use crate::{HashAlg, SaslError, hash};

/// A Hashed Token mechanism this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HtMechanism {
    /// HT-SHA-256-EXPR: bound to the TLS connection with `tls-exporter` (RFC 9266).
    Sha256Expr,
    /// HT-SHA-256-NONE: no channel binding.
    Sha256None,
}

impl HtMechanism {
    /// Every mechanism, channel binding first (XEP-0484 §3: clients must prefer it).
    pub const ALL: [Self; 2] = [Self::Sha256Expr, Self::Sha256None];

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256Expr => "HT-SHA-256-EXPR",
            Self::Sha256None => "HT-SHA-256-NONE",
        }
    }

    /// Looks a mechanism up by name (case-sensitive, RFC 4422 §3.1).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether it needs the connection's `tls-exporter` value.
    pub fn binds_channel(self) -> bool {
        matches!(self, Self::Sha256Expr)
    }
}

impl std::fmt::Display for HtMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed initial response. `Debug` leaves the hash out.
pub struct HtRequest {
    username: String,
    initiator: Vec<u8>,
}

impl std::fmt::Debug for HtRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn mac(token: &[u8], label: &[u8], cb: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(label.len() + cb.len());
    data.extend_from_slice(label);
    data.extend_from_slice(cb);
    hash::hmac(HashAlg::Sha256, token, &data)
}

/// The client's proof: `HMAC-SHA-256(token, "Initiator" || cb)`.
pub fn initiator(token: &[u8], cb: &[u8]) -> Vec<u8> {
    mac(token, b"Initiator", cb)
}

/// The server's proof: `HMAC-SHA-256(token, "Responder" || cb)`.
pub fn responder(token: &[u8], cb: &[u8]) -> Vec<u8> {
    mac(token, b"Responder", cb)
}

/// Parses `authcid NUL initiator-hash`.
///
/// # Errors
/// [`SaslError::MalformedRequest`] without a NUL, with an empty or non-UTF-8 authcid, or with a
/// hash that is not 32 bytes.
pub fn parse_initial(msg: &[u8]) -> Result<HtRequest, SaslError> {
    let nul = msg
        .iter()
        .position(|&b| b == 0)
        .ok_or(SaslError::malformed("expected authcid NUL hash"))?;
    let username = std::str::from_utf8(&msg[..nul])
        .map_err(|_| SaslError::malformed("authcid is not UTF-8"))?;
    if username.is_empty() {
        return Err(SaslError::malformed("empty authcid"));
    }
    let initiator = msg[nul + 1..].to_vec();
    if initiator.len() != 32 {
        return Err(SaslError::malformed("hash is not 32 bytes"));
    }
    Ok(HtRequest {
        username: username.to_owned(),
        initiator,
    })
}

impl HtRequest {
    /// The authentication identity as sent (the host normalises it into a localpart).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Checks the client's hash against `token` in constant time; the server's proof when it
    /// matches. `cb` is the `tls-exporter` value for [`HtMechanism::Sha256Expr`], empty otherwise.
    pub fn verify(&self, mech: HtMechanism, token: &[u8], cb: &[u8]) -> Option<Vec<u8>> {
        let cb = if mech.binds_channel() { cb } else { &[] };
        let expected = initiator(token, cb);
        bool::from(expected.ct_eq(&self.initiator)).then(|| responder(token, cb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &[u8], cb: &[u8]) -> Vec<u8> {
        let mut msg = b"user\0".to_vec();
        msg.extend_from_slice(&initiator(token, cb));
        msg
    }

    #[test]
    fn names_round_trip() {
        for m in HtMechanism::ALL {
            assert_eq!(HtMechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(HtMechanism::from_name("HT-SHA-256-UNIQ"), None);
        assert!(HtMechanism::Sha256Expr.binds_channel());
    }

    #[test]
    fn channel_binding_is_part_of_the_proof() {
        let token = b"tok";
        let cb = [7u8; 32];
        let req = parse_initial(&request(token, &cb)).expect("parse");
        let proof = req
            .verify(HtMechanism::Sha256Expr, token, &cb)
            .expect("same channel");
        assert_eq!(proof, responder(token, &cb));
        assert!(
            req.verify(HtMechanism::Sha256Expr, token, &[8u8; 32])
                .is_none(),
            "another connection"
        );
        // Without binding the exporter is ignored, so a bound proof does not verify as NONE.
        assert!(req.verify(HtMechanism::Sha256None, token, &cb).is_none());
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA-256(key = "token", "Initiator"), computed independently.
        let expected = [
            0xd2, 0x4d, 0x95, 0x48, 0x2f, 0x0d, 0x6e, 0x03, 0x5c, 0x56, 0xe7, 0x87, 0xda, 0xc4,
            0xed, 0x83, 0x2b, 0xdd, 0x84, 0xee, 0x3e, 0xa2, 0x42, 0xaa, 0xad, 0xd9, 0x82, 0x27,
            0x0c, 0x33, 0x00, 0x06,
        ];
        assert_eq!(initiator(b"token", &[]), expected);
    }

    #[test]
    fn malformed() {
        assert!(parse_initial(b"no nul").is_err());
        assert!(parse_initial(b"\0aaaa").is_err());
        assert!(parse_initial(b"user\0short").is_err());
        assert!(parse_initial(&[0xff, 0, 1]).is_err());
    }
}
