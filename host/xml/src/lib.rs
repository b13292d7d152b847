//! # tessera-xml
//!
//! Sans-IO XMPP stream framing and parsing (RFC 6120 §4, §11) for the Tessera host.
//!
//! The connection task reads socket bytes with a cancel-safe `read_buf`, hands them to a
//! [`StreamParser`] and pulls [`Event`]s: the stream header, one [`Element`] per stanza, the
//! stream close. Nothing here awaits, so no XML parser is ever raced in a `select!`.
//!
//! Parsing happens in two steps. A hand-written framer finds where each stanza ends and enforces
//! every [`Limits`] bound and the RFC 6120 §11.1 restrictions on the raw bytes; only then is the
//! bounded frame tokenised by quick-xml and turned into a `minidom::Element`.
//!
//! Layout:
//! - `stream`: [`StreamParser`], [`Event`], [`StreamHeader`], [`Limits`].
//! - `framer`: the resumable byte scanner that delimits frames and checks limits.
//! - `tree`: frame → `Element` with namespace resolution (stream-header prefixes in scope).
//! - `write`: serialising stanzas, stream headers, features and stream errors.
//! - `error`: [`XmlError`] and its RFC 6120 §4.9.3 condition.
//! - `ns`: namespace constants.

mod error;
mod framer;
pub mod ns;
mod stream;
mod tree;
mod write;

pub use error::{LimitKind, XmlError};
pub use minidom::Element;
pub use stream::{Event, Limits, StreamHeader, StreamParser};
pub use write::{
    STREAM_CLOSE, serialize, serialize_document, serialize_features, stream_error, stream_header,
};
