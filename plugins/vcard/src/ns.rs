//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `vcard-temp`: vCards (XEP-0054 §3), the `<vCard/>` element an account stores and others read.
pub(crate) const VCARD_TEMP: &str = "vcard-temp";
