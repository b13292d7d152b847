//! Errors a peer's XML can cause, each mapped to its RFC 6120 §4.9.3 stream error condition.
//!
//! Every variant is the peer's fault: the stream is closed with the condition from
//! [`XmlError::condition`]. The payloads are `&'static str` reasons and numbers only, never
//! bytes from the peer, so an error can be logged without leaking stanza content (privacy rule:
//! no raw XML in logs).

/// Which configured limit a peer exceeded (see [`crate::Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// Raw bytes of one stanza (`max_stanza_bytes`).
    StanzaBytes,
    /// Raw bytes of the stream header or XML declaration.
    HeaderBytes,
    /// Element nesting depth (`max_depth`).
    Depth,
    /// Attributes on one element (`max_attributes`).
    Attributes,
    /// Namespace declarations in one stanza (`max_namespaces`).
    Namespaces,
}

/// A fatal error in the inbound XML stream.
///
/// Errors are final: once [`crate::StreamParser::next_event`] returned one, it keeps returning it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The input is not well-formed XML 1.0 (RFC 6120 §4.9.3.13 `not-well-formed`).
    #[error("not well-formed XML: {reason}")]
    NotWellFormed {
        /// What was wrong, without any peer bytes.
        reason: &'static str,
    },
    /// XML features XMPP forbids (RFC 6120 §11.1, §4.9.3.18 `restricted-xml`): DTDs, comments,
    /// processing instructions and entities other than the five predefined ones.
    #[error("restricted XML: {what}")]
    RestrictedXml {
        /// The forbidden construct.
        what: &'static str,
    },
    /// A configured limit was exceeded (RFC 6120 §4.9.3.15 `policy-violation`).
    #[error("limit exceeded: {kind:?} > {limit}")]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its configured value.
        limit: usize,
    },
    /// The stream root is not `stream` in `http://etherx.jabber.org/streams`
    /// (RFC 6120 §4.9.3.10 `invalid-namespace`).
    #[error("invalid stream namespace or root element")]
    InvalidNamespace,
    /// A prefix was used without being declared (RFC 6120 §4.9.3.2 `bad-namespace-prefix`).
    #[error("undeclared namespace prefix")]
    BadNamespacePrefix,
    /// Well-formed XML that is not a valid XMPP stream (RFC 6120 §4.9.3.1 `bad-format`), e.g.
    /// character data between stanzas.
    #[error("bad format: {reason}")]
    BadFormat {
        /// What was wrong, without any peer bytes.
        reason: &'static str,
    },
    /// The stream is not UTF-8 (RFC 6120 §11.6, §4.9.3.22 `unsupported-encoding`).
    #[error("unsupported encoding")]
    UnsupportedEncoding,
}

impl XmlError {
    /// The RFC 6120 §4.9.3 stream error condition to send before closing the stream.
    pub fn condition(&self) -> &'static str {
        match self {
            XmlError::NotWellFormed { .. } => "not-well-formed",
            XmlError::RestrictedXml { .. } => "restricted-xml",
            XmlError::LimitExceeded { .. } => "policy-violation",
            XmlError::InvalidNamespace => "invalid-namespace",
            XmlError::BadNamespacePrefix => "bad-namespace-prefix",
            XmlError::BadFormat { .. } => "bad-format",
            XmlError::UnsupportedEncoding => "unsupported-encoding",
        }
    }

    pub(crate) const fn nwf(reason: &'static str) -> Self {
        XmlError::NotWellFormed { reason }
    }

    pub(crate) const fn restricted(what: &'static str) -> Self {
        XmlError::RestrictedXml { what }
    }

    pub(crate) const fn limit(kind: LimitKind, limit: usize) -> Self {
        XmlError::LimitExceeded { kind, limit }
    }
}
