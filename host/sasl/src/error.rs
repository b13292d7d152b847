//! SASL failures, each mapped to its RFC 6120 §6.5 `<failure/>` condition.
//!
//! Variants never carry peer-supplied bytes or secrets: the reasons are static strings, so an error
//! can be logged (at `debug`/`info`) without leaking SASL data.

/// A failed or refused SASL exchange.
///
/// Peer faults map 1:1 to the RFC 6120 §6.5 condition returned by [`SaslError::condition`]. A few
/// variants are never produced by this crate and exist so that the host can report its own
/// refusals (an `<abort/>`, a disabled account, a storage outage) through the same type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The client sent `<abort/>` (RFC 6120 §6.4.4). Raised by the host, or by [`ScramClient`]
    /// failures that make a client give up.
    ///
    /// [`ScramClient`]: crate::ScramClient
    #[error("the exchange was aborted")]
    Aborted,
    /// The account exists but is disabled. Raised by the host.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The credentials have expired. Raised by the host.
    #[error("the credentials have expired")]
    CredentialsExpired,
    /// The mechanism may only be used over an encrypted stream, e.g. PLAIN without TLS. Raised by
    /// the host.
    #[error("the mechanism requires an encrypted stream")]
    EncryptionRequired,
    /// Base64 data, either the `<auth/>`/`<response/>` payload (RFC 6120 §6.4.2) or a SCRAM
    /// attribute, does not decode.
    #[error("incorrect base64 encoding in {field}")]
    IncorrectEncoding {
        /// Which datum failed to decode.
        field: &'static str,
    },
    /// The authorization identity is not acceptable (RFC 6120 §6.4.6). Raised by the host after
    /// checking the authzid against the authenticated account.
    #[error("invalid authorization identity")]
    InvalidAuthzid,
    /// The mechanism is unknown or not offered on this stream (a -PLUS mechanism without
    /// exporter data, PLAIN where SCRAM is required).
    #[error("mechanism not supported or not offered")]
    InvalidMechanism,
    /// The message does not follow the mechanism's grammar (RFC 5802 §7, RFC 4616 §2).
    #[error("malformed SASL message: {reason}")]
    MalformedRequest {
        /// What was wrong, without quoting the peer's data.
        reason: &'static str,
    },
    /// The mechanism is weaker than policy allows; also a SCRAM iteration count below
    /// [`MIN_ITERATIONS`](crate::MIN_ITERATIONS).
    #[error("mechanism too weak")]
    MechanismTooWeak,
    /// Wrong password or unknown account. The two are deliberately indistinguishable.
    #[error("not authorized")]
    NotAuthorized,
    /// The client's `c=` does not match the gs2 header and the TLS exporter we computed (RFC 5802
    /// §6, RFC 9266): a different TLS session sits between us, or the client is broken.
    #[error("channel binding data does not match")]
    ChannelBindingMismatch,
    /// The client sent gs2 flag `y` ("I support channel binding but think you don't") while we
    /// advertised a -PLUS mechanism: someone stripped the -PLUS offer (RFC 5802 §6).
    #[error("channel binding downgrade detected")]
    ChannelBindingDowngrade,
    /// The gs2 channel binding flag does not fit the mechanism: `p=` with a non-PLUS mechanism,
    /// `n`/`y` with a -PLUS one, or a binding type other than `tls-exporter` (RFC 5802 §6,
    /// RFC 9266).
    #[error("unsupported channel binding")]
    UnsupportedChannelBinding,
    /// The message carries the mandatory extension `m=`, which no extension defines (RFC 5802
    /// §5.1).
    #[error("unsupported mandatory SCRAM extension")]
    UnsupportedExtension,
    /// A username or password is empty or not valid under SASLprep (RFC 4013).
    #[error("{field} is empty or not valid under SASLprep")]
    Saslprep {
        /// `"username"`, `"password"` or `"authzid"`.
        field: &'static str,
    },
    /// An iteration count below [`MIN_ITERATIONS`](crate::MIN_ITERATIONS) (RFC 5802 §5.1,
    /// RFC 7677 §4), or above the client's sanity cap.
    #[error("iteration count {iterations} is out of range")]
    IterationsOutOfRange {
        /// The offending count.
        iterations: u32,
    },
    /// Client side: the server ended the exchange with `e=` (RFC 5802 §7 `server-error`).
    #[error("the server rejected the authentication")]
    ServerRejected,
    /// Client side: the server's `v=` does not prove it knows our keys (RFC 5802 §3).
    #[error("the server signature does not verify")]
    ServerSignatureMismatch,
    /// Our own failure (storage down, derivation failed). Raised by the host.
    #[error("temporary authentication failure")]
    TemporaryAuthFailure,
}

impl SaslError {
    /// The RFC 6120 §6.5 condition element to put in `<failure/>`.
    pub fn condition(&self) -> &'static str {
        match self {
            Self::Aborted | Self::ServerRejected | Self::ServerSignatureMismatch => "aborted",
            Self::AccountDisabled => "account-disabled",
            Self::CredentialsExpired => "credentials-expired",
            Self::EncryptionRequired => "encryption-required",
            Self::IncorrectEncoding { .. } => "incorrect-encoding",
            Self::InvalidAuthzid => "invalid-authzid",
            Self::InvalidMechanism => "invalid-mechanism",
            Self::MalformedRequest { .. } | Self::UnsupportedExtension | Self::Saslprep { .. } => {
                "malformed-request"
            }
            Self::MechanismTooWeak | Self::IterationsOutOfRange { .. } => "mechanism-too-weak",
            // RFC 5802 §6: channel binding failures "MUST fail authentication"; RFC 6120 has no
            // finer condition, and not-authorized tells a downgrading attacker nothing new.
            Self::NotAuthorized
            | Self::ChannelBindingMismatch
            | Self::ChannelBindingDowngrade
            | Self::UnsupportedChannelBinding => "not-authorized",
            Self::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }

    pub(crate) const fn malformed(reason: &'static str) -> Self {
        Self::MalformedRequest { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_is_an_rfc6120_condition() {
        // RFC 6120 §6.5 lists exactly these (plus the historic <transition-needed/>, unused).
        const RFC6120: [&str; 11] = [
            "aborted",
            "account-disabled",
            "credentials-expired",
            "encryption-required",
            "incorrect-encoding",
            "invalid-authzid",
            "invalid-mechanism",
            "malformed-request",
            "mechanism-too-weak",
            "not-authorized",
            "temporary-auth-failure",
        ];
        let all = [
            SaslError::Aborted,
            SaslError::AccountDisabled,
            SaslError::CredentialsExpired,
            SaslError::EncryptionRequired,
            SaslError::IncorrectEncoding { field: "proof" },
            SaslError::InvalidAuthzid,
            SaslError::InvalidMechanism,
            SaslError::malformed("x"),
            SaslError::MechanismTooWeak,
            SaslError::NotAuthorized,
            SaslError::ChannelBindingMismatch,
            SaslError::ChannelBindingDowngrade,
            SaslError::UnsupportedChannelBinding,
            SaslError::UnsupportedExtension,
            SaslError::Saslprep { field: "password" },
            SaslError::IterationsOutOfRange { iterations: 1 },
            SaslError::ServerRejected,
            SaslError::ServerSignatureMismatch,
            SaslError::TemporaryAuthFailure,
        ];
        for e in &all {
            assert!(RFC6120.contains(&e.condition()), "{e:?}");
        }
        // Each RFC condition is reachable.
        for c in RFC6120 {
            assert!(all.iter().any(|e| e.condition() == c), "{c}");
        }
    }
}
