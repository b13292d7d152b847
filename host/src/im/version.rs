//! XEP-0092 software version, answered only when the operator enables `features.version`
//! (off by default: it tells attackers which bugs to try). No `<os/>` is ever sent.

use minidom::Element;

use crate::ns;

/// Whether `payload` is a version request (`<query xmlns='jabber:iq:version'/>`, XEP-0092 §2).
pub(crate) fn is_version(payload: &Element) -> bool {
    payload.is("query", ns::VERSION)
}

/// The answer: name and version only (XEP-0092 §2: `os` is optional).
pub(crate) fn payload() -> Element {
    let mut name = Element::bare("name", ns::VERSION);
    name.append_text("Tessera");
    let mut version = Element::bare("version", ns::VERSION);
    version.append_text(env!("CARGO_PKG_VERSION"));
    let mut q = Element::bare("query", ns::VERSION);
    q.append_child(name);
    q.append_child(version);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_server_without_os() {
        let q = payload();
        assert!(is_version(&q));
        assert_eq!(
            q.get_child("name", ns::VERSION)
                .map(Element::text)
                .as_deref(),
            Some("Tessera")
        );
        assert_eq!(
            q.get_child("version", ns::VERSION)
                .map(Element::text)
                .as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(!q.has_child("os", ns::VERSION));
    }
}
