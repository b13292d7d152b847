//! Stored credentials: salted SCRAM keys (RFC 5802 §3), one set per hash.

/// The hash functions SCRAM is offered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// SHA-1 (RFC 5802), for SCRAM-SHA-1 and SCRAM-SHA-1-PLUS.
    Sha1,
    /// SHA-256 (RFC 7677), for SCRAM-SHA-256 and SCRAM-SHA-256-PLUS.
    Sha256,
}

/// The salted keys that let a server verify a SCRAM (or PLAIN) login without knowing the password.
///
/// `stored_key = H(HMAC(SaltedPassword, "Client Key"))`, `server_key = HMAC(SaltedPassword, "Server Key")`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// Which hash these keys were derived with.
    pub alg: HashAlg,
    /// Random per-account salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count used for `SaltedPassword`.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramKeys {
    // Keys are credentials: never print them, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeys")
            .field("alg", &self.alg)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Everything the account store keeps to authenticate one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Keys for SCRAM-SHA-1(-PLUS).
    pub sha1: ScramKeys,
    /// Keys for SCRAM-SHA-256(-PLUS) and PLAIN.
    pub sha256: ScramKeys,
}
