//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `urn:xmpp:blocking`: the blocklist, block and unblock payloads and the disco feature
/// (XEP-0191 §3, §9.1).
pub(crate) const BLOCKING: &str = "urn:xmpp:blocking";
/// `urn:xmpp:blocking:errors`: the `<blocked/>` application condition a user gets for a stanza
/// to an entity they blocked (XEP-0191 §3.4, §9.1).
pub(crate) const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
