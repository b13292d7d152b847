//! Time-limited TURN credentials, in the scheme of the TURN REST API draft
//! (draft-uberti-behave-turn-rest-00 §2.2) that coturn implements with `use-auth-secret` and
//! `static-auth-secret`:
//!
//! - username: `<expiry>:<user>`, the expiry in seconds since the Unix epoch and the user's bare
//!   JID (the relay logs it, so an abused allocation can be traced to an account);
//! - password: `base64(HMAC-SHA1(secret, username))`.
//!
//! The relay recomputes the password from the username and the secret it shares with this
//! server, and refuses a username whose expiry has passed: no per-user state on either side,
//! and nothing stored here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::Secret;

/// One credential for every restricted service a request asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub(crate) username: String,
    pub(crate) password: String,
    /// Seconds since the Unix epoch.
    pub(crate) expires: u64,
}

/// The credential of `user` (a bare JID) that expires at `expires` (seconds since the epoch).
pub(crate) fn issue(secret: &Secret, user: &str, expires: u64) -> Credential {
    let username = format!("{expires}:{user}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose())
        .expect("invariant: HMAC accepts a key of any length");
    mac.update(username.as_bytes());
    let password = STANDARD.encode(mac.finalize().into_bytes());
    Credential {
        username,
        password,
        expires,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        crate::config::Settings::parse(&format!(
            "secret = {s:?}\n[[services]]\ntype = \"turn\"\nhost = \"h\""
        ))
        .unwrap()
        .secret
        .unwrap()
    }

    /// Expected values computed independently, with Python's `hmac` and `base64` modules.
    #[test]
    fn matches_an_independent_hmac_sha1() {
        let c = issue(
            &secret("north-of-the-wall"),
            "juliet@localhost",
            1_700_086_400,
        );
        assert_eq!(c.username, "1700086400:juliet@localhost");
        assert_eq!(c.password, "O/6IceTCsc9QSqN9KHCE1ve07TA=");
        assert_eq!(c.expires, 1_700_086_400);
        let c = issue(&secret("secret"), "alice", 1_433_895_918);
        assert_eq!(c.password, "9FlGeCxuzk5viW4BIqwHUUUEvWw=");
    }
}
