//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, one message, no challenge.
//!
//! PLAIN sends the password itself, so the host offers it only on TLS-protected streams and
//! checks it with [`verify_password`](crate::verify_password) against the stored SCRAM keys.

use zeroize::Zeroize as _;

use crate::SaslError;
use crate::creds::prep_password;

/// A parsed PLAIN message. The password is wiped from memory on drop and never shown by `Debug`.
#[non_exhaustive]
pub struct PlainRequest {
    /// The authorization identity, if the client asked to act as someone else (a JID in XMPP,
    /// RFC 6120 §6.3.8). Not prepared: the host parses it as a JID.
    pub authzid: Option<String>,
    /// The authentication identity, SASLprep'd (RFC 4616 §2, RFC 4013). The host nodepreps it
    /// and looks the account up.
    pub username: String,
    /// The password, SASLprep'd.
    pub password: String,
}

impl Drop for PlainRequest {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl std::fmt::Debug for PlainRequest {
    // No password; no identities either, which are personal data and do not belong in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainRequest")
            .field("has_authzid", &self.authzid.is_some())
            .finish_non_exhaustive()
    }
}

/// Parses a PLAIN message (RFC 4616 §2).
///
/// # Errors
/// [`SaslError::MalformedRequest`] unless the message is UTF-8 with exactly two NULs and
/// non-empty authcid and password; [`SaslError::Saslprep`] if the authcid or password is
/// refused by SASLprep.
pub fn parse_plain(msg: &[u8]) -> Result<PlainRequest, SaslError> {
    // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, where none of the three
    // may contain NUL, so exactly two NULs split it.
    let text = std::str::from_utf8(msg).map_err(|_| SaslError::malformed("PLAIN is not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::malformed(
            "PLAIN needs exactly two NUL separators",
        ));
    };
    if authcid.is_empty() {
        return Err(SaslError::malformed("PLAIN authcid is empty"));
    }
    if passwd.is_empty() {
        return Err(SaslError::malformed("PLAIN password is empty"));
    }
    let username = stringprep::saslprep(authcid)
        .ok()
        .filter(|u| !u.is_empty())
        .ok_or(SaslError::Saslprep { field: "username" })?
        .into_owned();
    let password = prep_password(passwd)?;
    Ok(PlainRequest {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        username,
        password: password.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MIN_ITERATIONS, derive_credentials, verify_password};

    #[test]
    fn parses_without_authzid() {
        let req = parse_plain(b"\0user\0pencil").unwrap();
        assert_eq!(req.authzid, None);
        assert_eq!(req.username, "user");
        assert_eq!(req.password, "pencil");
    }

    #[test]
    fn parses_with_authzid() {
        let req = parse_plain(b"admin@example.org\0user\0pen cil").unwrap();
        assert_eq!(req.authzid.as_deref(), Some("admin@example.org"));
        assert_eq!(req.username, "user");
        assert_eq!(req.password, "pen cil");
    }

    #[test]
    fn saslprep_applies_to_authcid_and_password() {
        let req = parse_plain("\0u\u{AD}ser\0\u{2168}".as_bytes()).unwrap();
        assert_eq!(req.username, "user");
        assert_eq!(req.password, "IX");
    }

    #[test]
    fn plain_then_verify() {
        let creds = derive_credentials("pencil", MIN_ITERATIONS).unwrap();
        let good = parse_plain(b"\0user\0pencil").unwrap();
        assert!(verify_password(&creds.sha256, &good.password));
        let bad = parse_plain(b"\0user\0pencil2").unwrap();
        assert!(!verify_password(&creds.sha256, &bad.password));
    }

    #[test]
    fn malformed_inputs() {
        let cases: [(&[u8], SaslError); 9] = [
            (
                b"",
                SaslError::malformed("PLAIN needs exactly two NUL separators"),
            ),
            (
                b"userpencil",
                SaslError::malformed("PLAIN needs exactly two NUL separators"),
            ),
            (
                b"\0userpencil",
                SaslError::malformed("PLAIN needs exactly two NUL separators"),
            ),
            (
                b"\0user\0pen\0cil",
                SaslError::malformed("PLAIN needs exactly two NUL separators"),
            ),
            (
                b"\0\0pencil",
                SaslError::malformed("PLAIN authcid is empty"),
            ),
            (b"\0user\0", SaslError::malformed("PLAIN password is empty")),
            (
                b"\0us\xffer\0pencil",
                SaslError::malformed("PLAIN is not UTF-8"),
            ),
            (
                b"\0user\0bell\x07",
                SaslError::Saslprep { field: "password" },
            ),
            (
                "\0\u{AD}\0pencil".as_bytes(),
                SaslError::Saslprep { field: "username" },
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(parse_plain(msg).unwrap_err(), want, "{msg:?}");
        }
        // A soft hyphen alone maps to nothing: an empty password after SASLprep.
        assert_eq!(
            parse_plain("\0user\0\u{AD}".as_bytes()).unwrap_err(),
            SaslError::Saslprep { field: "password" }
        );
        assert_eq!(
            parse_plain(b"\0user\0bell\x07").unwrap_err().condition(),
            "malformed-request"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let req = parse_plain(b"\0user\0hunter2").unwrap();
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("user\""),
            "{shown}"
        );
    }
}
