//! The `router` capability: sending stanzas as the server would.
//!
//! The host checks the `from`: the server's domain, one of the plugin's service domains (or a JID
//! under one), or — with the operator's `router.impersonate` grant — a local account or session.

use minidom::Element;

use crate::error::HostError;

/// Routes a stanza.
///
/// # Errors
///
/// [`HostError::NotGranted`] for a `from` the plugin may not use, [`HostError::Invalid`] for a
/// stanza the host refuses.
pub fn send(stanza: &Element) -> Result<(), HostError> {
    send_xml(&String::from(stanza))
}

/// Routes a serialised stanza.
///
/// # Errors
///
/// As [`send`].
pub fn send_xml(xml: &str) -> Result<(), HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::router::send(xml).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::send(xml);
}
