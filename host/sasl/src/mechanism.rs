//! Mechanism names (RFC 4422 §3.1) and the base64 framing of SASL data in XMPP (RFC 6120 §6.4.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{HashAlg, SaslError};

/// A SASL mechanism this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// SCRAM-SHA-1-PLUS: SCRAM-SHA-1 with channel binding (RFC 5802 §6, RFC 9266).
    ScramSha1Plus,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-256-PLUS: SCRAM-SHA-256 with channel binding (RFC 7677, RFC 9266).
    ScramSha256Plus,
    /// PLAIN (RFC 4616): the password in clear, for TLS-protected streams only.
    Plain,
}

impl Mechanism {
    /// Every mechanism, strongest first: the order to advertise them in (RFC 6120 §6.3.3 leaves
    /// the order to the server; clients commonly pick the first they support).
    pub const ALL: [Self; 5] = [
        Self::ScramSha256Plus,
        Self::ScramSha1Plus,
        Self::ScramSha256,
        Self::ScramSha1,
        Self::Plain,
    ];

    /// Looks a mechanism up by its registered name. Names are case-sensitive upper case
    /// (RFC 4422 §3.1), so `scram-sha-1` is not SCRAM-SHA-1.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The registered name, as sent in `<mechanism/>` and `<auth mechanism='…'/>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::Plain => "PLAIN",
        }
    }

    /// Whether the mechanism binds to the TLS channel (a -PLUS variant).
    pub fn is_plus(self) -> bool {
        matches!(self, Self::ScramSha1Plus | Self::ScramSha256Plus)
    }

    /// The SCRAM hash, or `None` for PLAIN.
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            Self::ScramSha1 | Self::ScramSha1Plus => Some(HashAlg::Sha1),
            Self::ScramSha256 | Self::ScramSha256Plus => Some(HashAlg::Sha256),
            Self::Plain => None,
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decodes the character data of `<auth/>`, `<challenge/>`, `<response/>` or `<success/>`.
///
/// RFC 6120 §6.4.2: a lone `=` stands for an empty response, as does (for everything but the
/// initial response, which the host tells apart itself) an empty element. Surrounding XML
/// whitespace is tolerated; anything else that is not base64 is refused.
///
/// # Errors
/// [`SaslError::IncorrectEncoding`] if the text is not base64 (RFC 6120 §6.5.4).
pub fn decode_payload(text: &str) -> Result<Vec<u8>, SaslError> {
    let text = text.trim_matches([' ', '\t', '\r', '\n']);
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    STANDARD
        .decode(text)
        .map_err(|_| SaslError::IncorrectEncoding { field: "payload" })
}

/// Encodes SASL data for `<auth/>`, `<challenge/>`, `<response/>` or `<success/>`; empty data
/// becomes `=` (RFC 6120 §6.4.2).
pub fn encode_payload(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_owned()
    } else {
        STANDARD.encode(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
        assert_eq!(Mechanism::from_name(""), None);
    }

    #[test]
    fn properties() {
        assert!(Mechanism::ScramSha256Plus.is_plus());
        assert!(!Mechanism::ScramSha256.is_plus());
        assert!(!Mechanism::Plain.is_plus());
        assert_eq!(Mechanism::ScramSha1Plus.hash(), Some(HashAlg::Sha1));
        assert_eq!(Mechanism::ScramSha256.hash(), Some(HashAlg::Sha256));
        assert_eq!(Mechanism::Plain.hash(), None);
    }

    #[test]
    fn payload_round_trip() {
        assert_eq!(decode_payload("=").unwrap(), b"");
        assert_eq!(decode_payload("").unwrap(), b"");
        assert_eq!(encode_payload(b""), "=");
        let msg = b"n,,n=user,r=abc";
        assert_eq!(decode_payload(&encode_payload(msg)).unwrap(), msg);
        assert_eq!(decode_payload("\n  biws\n").unwrap(), b"n,,");
    }

    #[test]
    fn payload_garbage_is_incorrect_encoding() {
        for bad in ["!!!", "biw", "bi ws", "==", "biws="] {
            let err = decode_payload(bad).unwrap_err();
            assert_eq!(
                err,
                SaslError::IncorrectEncoding { field: "payload" },
                "{bad}"
            );
            assert_eq!(err.condition(), "incorrect-encoding");
        }
    }
}
