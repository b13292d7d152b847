//! Errors: stanza errors a plugin sends (RFC 6120 §8.3), errors the host's capability calls
//! return, and XML that does not parse.

use crate::bindings::tessera::plugin::types as wit;

/// Stanza error types (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry.
    Cancel,
    /// Proceed: the condition was only a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting.
    Wait,
}

impl ErrorType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

/// A stanza error to answer with (RFC 6120 §8.3): returned in [`crate::Verdict::Error`] (the
/// host builds the reply) or turned into an error stanza with [`crate::Stanza::error_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// Its type.
    pub error_type: ErrorType,
    /// A defined condition from RFC 6120 §8.3.3, e.g. `service-unavailable`.
    pub condition: String,
    /// Optional human-readable text.
    pub text: Option<String>,
}

macro_rules! conditions {
    ($($(#[$doc:meta])* $fn:ident => $ty:ident, $cond:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn() -> Self {
                Self::new(ErrorType::$ty, $cond)
            }
        )*
    };
}

impl StanzaError {
    /// An error with a defined condition (RFC 6120 §8.3.3) and no text.
    pub fn new(error_type: ErrorType, condition: impl Into<String>) -> Self {
        Self {
            error_type,
            condition: condition.into(),
            text: None,
        }
    }

    /// Adds human-readable text (sent to the peer, never logged).
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    conditions! {
        /// `<bad-request/>`, type `modify` (RFC 6120 §8.3.3.1).
        bad_request => Modify, "bad-request";
        /// `<feature-not-implemented/>`, type `cancel` (RFC 6120 §8.3.3.3).
        feature_not_implemented => Cancel, "feature-not-implemented";
        /// `<forbidden/>`, type `auth` (RFC 6120 §8.3.3.4).
        forbidden => Auth, "forbidden";
        /// `<internal-server-error/>`, type `cancel` (RFC 6120 §8.3.3.6).
        internal_server_error => Cancel, "internal-server-error";
        /// `<item-not-found/>`, type `cancel` (RFC 6120 §8.3.3.7).
        item_not_found => Cancel, "item-not-found";
        /// `<not-acceptable/>`, type `modify` (RFC 6120 §8.3.3.10).
        not_acceptable => Modify, "not-acceptable";
        /// `<not-allowed/>`, type `cancel` (RFC 6120 §8.3.3.11).
        not_allowed => Cancel, "not-allowed";
        /// `<resource-constraint/>`, type `wait` (RFC 6120 §8.3.3.15).
        resource_constraint => Wait, "resource-constraint";
        /// `<service-unavailable/>`, type `cancel` (RFC 6120 §8.3.3.19).
        service_unavailable => Cancel, "service-unavailable";
    }
}

impl From<StanzaError> for wit::StanzaError {
    fn from(e: StanzaError) -> Self {
        wit::StanzaError {
            type_: match e.error_type {
                ErrorType::Auth => wit::ErrorType::Auth,
                ErrorType::Cancel => wit::ErrorType::Cancel,
                ErrorType::Continue => wit::ErrorType::Continue,
                ErrorType::Modify => wit::ErrorType::Modify,
                ErrorType::Wait => wit::ErrorType::Wait,
            },
            condition: e.condition,
            text: e.text,
        }
    }
}

/// What a host capability call can fail with (the WIT `error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The operator did not grant this capability (or this host name, for `http-outbound`).
    #[error("capability not granted")]
    NotGranted,
    /// The data category is not among the plugin's declarations.
    #[error("undeclared data category {0:?}")]
    UndeclaredCategory(String),
    /// The owner kind does not match the category's declaration.
    #[error("owner kind does not match the category's declaration")]
    WrongOwner,
    /// Bad input: a malformed JID, stanza or query.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A size or count limit was reached.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The host could not do it now (storage down, peer unreachable).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<wit::Error> for HostError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::NotGranted => HostError::NotGranted,
            wit::Error::UndeclaredCategory(c) => HostError::UndeclaredCategory(c),
            wit::Error::WrongOwner => HostError::WrongOwner,
            wit::Error::Invalid(s) => HostError::Invalid(s),
            wit::Error::QuotaExceeded => HostError::QuotaExceeded,
            wit::Error::Unavailable(s) => HostError::Unavailable(s),
        }
    }
}

/// XML that did not parse, or parsed into something that is not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub(crate) String);

impl ParseError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

impl From<minidom::Error> for ParseError {
    fn from(e: minidom::Error) -> Self {
        Self(e.to_string())
    }
}
