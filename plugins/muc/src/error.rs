//! The stanza errors of XEP-0045 that the SDK has no constructor for (RFC 6120 §8.3.3).

use tessera_sdk::{ErrorType, StanzaError};

/// `<conflict/>`, cancel: the nickname is taken (§7.2.9), or the last owner would go (§10.7).
pub(crate) fn conflict() -> StanzaError {
    StanzaError::new(ErrorType::Cancel, "conflict")
}

/// `<not-authorized/>`, auth: a missing or wrong room password (§7.2.6).
pub(crate) fn not_authorized() -> StanzaError {
    StanzaError::new(ErrorType::Auth, "not-authorized")
}

/// `<registration-required/>`, auth: a members-only room and no membership (§7.2.7).
pub(crate) fn registration_required() -> StanzaError {
    StanzaError::new(ErrorType::Auth, "registration-required")
}

/// `<jid-malformed/>`, modify: a join without a nickname (§7.2.1).
pub(crate) fn jid_malformed() -> StanzaError {
    StanzaError::new(ErrorType::Modify, "jid-malformed")
}

/// `<service-unavailable/>`, wait: the room is full (§7.2.10).
pub(crate) fn room_full() -> StanzaError {
    StanzaError::new(ErrorType::Wait, "service-unavailable")
}

/// The error for a storage failure: the stanza is refused, nothing half done is kept.
pub(crate) fn storage(e: &tessera_sdk::HostError) -> StanzaError {
    tessera_sdk::log::warn(&format!("storage failed: {e}"));
    match e {
        tessera_sdk::HostError::QuotaExceeded => StanzaError::resource_constraint(),
        _ => StanzaError::internal_server_error(),
    }
}
