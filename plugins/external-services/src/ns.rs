//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `urn:xmpp:extdisco:2`: external service discovery, services and credentials (XEP-0215 §2,
/// §3.3), and its disco#info feature (XEP-0215 §5).
pub(crate) const EXTDISCO: &str = "urn:xmpp:extdisco:2";
