//! Building elements with `minidom`: attribute names from literals, attributes without a
//! namespace, and small constructors, so plugins do not each carry their own copies.
//!
//! ```
//! use tessera_sdk::xml;
//!
//! let item = xml::element("item", "urn:xmpp:blocking", &[("jid", "romeo@montague.example")]);
//! let list = xml::with(xml::element("blocklist", "urn:xmpp:blocking", &[]), item);
//! assert_eq!(
//!     String::from(&list),
//!     "<blocklist xmlns='urn:xmpp:blocking'><item jid='romeo@montague.example'/></blocklist>"
//! );
//! ```

use minidom::Element;
use minidom::rxml::{Namespace, NcName};

/// An attribute name from a literal (`"type"`, `"jid"`).
///
/// # Panics
/// On a literal that is not an XML name, which is the calling code's bug, never input's.
pub fn attr_name(name: &'static str) -> NcName {
    NcName::try_from(name).expect("invariant: a literal attribute name is a valid NCName")
}

/// Sets attribute `name` (no namespace) to `value`, replacing any.
pub fn set_attr(el: &mut Element, name: &'static str, value: impl Into<String>) {
    el.set_attr(Namespace::NONE, attr_name(name), value.into());
}

/// `<name xmlns='ns'/>` with the attributes `attrs`.
pub fn element(name: &str, ns: &str, attrs: &[(&'static str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// `el` with `child` appended.
pub fn with(mut el: Element, child: Element) -> Element {
    el.append_child(child);
    el
}
