//! Small helpers over `minidom` for the elements the plugin builds.

use tessera_sdk::minidom::Element;
use tessera_sdk::minidom::rxml::{Namespace, NcName};

/// An attribute name; only called with literals that are valid names.
fn nc(name: &'static str) -> NcName {
    NcName::try_from(name).expect("invariant: a literal attribute name is a valid NCName")
}

/// Sets attribute `name` (no namespace) to `value`.
pub(crate) fn set(el: &mut Element, name: &'static str, value: impl Into<String>) {
    el.set_attr(Namespace::NONE, nc(name), value.into());
}

/// `<name xmlns='ns'/>` with the attributes `attrs`.
pub(crate) fn el(name: &str, ns: &str, attrs: &[(&'static str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set(&mut el, k, *v);
    }
    el
}

/// `el` with `child` appended.
pub(crate) fn with(mut el: Element, child: Element) -> Element {
    el.append_child(child);
    el
}

/// XEP-0004 §3.3 booleans: `1`/`true` and `0`/`false`.
pub(crate) fn boolean(value: &str) -> Option<bool> {
    match value {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}
