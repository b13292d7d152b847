//! Namespace names used by the stream layer.

/// RFC 6120 §4.8.1: the stream namespace, qualifying `<stream:stream>`, `<stream:features>` and
/// `<stream:error>`.
pub const STREAM: &str = "http://etherx.jabber.org/streams";

/// RFC 6120 §4.8.2: the client-to-server content namespace.
pub const JABBER_CLIENT: &str = "jabber:client";

/// RFC 6120 §4.9.2: stream error conditions.
pub const XMPP_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// Namespaces in XML 1.0 §3: the namespace the `xml:` prefix is bound to, always in scope.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
