//! Why a connection ends.

use tessera_xml::XmlError;

/// A condition that ends the stream. Peer faults carry their RFC 6120 §4.9.3 condition; our own
/// faults are logged and sent as `internal-server-error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The peer closed the TCP connection (or TLS) without closing the stream.
    #[error("connection closed by peer")]
    Eof,
    /// The peer closed the stream with `</stream:stream>`.
    #[error("stream closed by peer")]
    PeerClosed,
    /// I/O failed (reset, broken pipe).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent bad XML or broke a limit.
    #[error("xml: {0}")]
    Xml(#[from] XmlError),
    /// A protocol violation with its stream error condition.
    #[error("{condition}: {reason}")]
    Stream {
        /// RFC 6120 §4.9.3 condition name.
        condition: &'static str,
        /// Why, for the log (never peer content).
        reason: &'static str,
    },
    /// A deadline passed (handshake, idle ping, write).
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// A XEP-0198 stream management violation (its stream error carries XEP-0198's element).
    #[error("stream management: {0}")]
    SmProtocol(#[from] super::sm::SmError),
    /// Our fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl ConnError {
    pub(crate) fn stream(condition: &'static str, reason: &'static str) -> Self {
        Self::Stream { condition, reason }
    }

    /// The stream error to send before closing, if the transport can still carry one.
    pub(crate) fn condition(&self) -> Option<&'static str> {
        match self {
            Self::Eof | Self::PeerClosed | Self::Io(_) => None,
            Self::Xml(e) => Some(e.condition()),
            Self::Stream { condition, .. } => Some(condition),
            Self::Timeout(_) => Some("connection-timeout"),
            Self::SmProtocol(e) => Some(e.stream_error().0),
            Self::Internal(_) => Some("internal-server-error"),
        }
    }

    /// An application-specific condition element to send with the stream error (RFC 6120
    /// §4.9.4), serialised.
    pub(crate) fn application_condition(&self) -> Option<String> {
        match self {
            Self::SmProtocol(e) => e.stream_error().1,
            _ => None,
        }
    }
}
