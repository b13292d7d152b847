//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `jabber:iq:private`: private XML storage (XEP-0049 §2).
pub(crate) const PRIVATE: &str = "jabber:iq:private";
/// `vcard-temp`: vCards (XEP-0054), one of the namespaces XEP-0049 §2.3 calls reserved.
pub(crate) const VCARD_TEMP: &str = "vcard-temp";
