//! # tessera-xml
//!
//! Sans-IO XMPP stream framing (RFC 6120 §4, §11) for the Tessera host.
//!
//! Layout:
//! - `write`: serialising stanzas, stream headers and stream errors.

mod write;

pub use minidom::Element;
pub use write::serialize;
