//! The `requests` capability (plugin API 0.1.2; the operator grants it as `requests`): asking
//! another plugin's IQ handler on an account's behalf, and getting its answer back.
//!
//! Plugins that keep related data work together through each other's IQs, never each other's
//! storage: `pep` asks `vcard` for the account's vCard to put a new avatar in it (XEP-0398). The
//! IQ is a `get` or `set` from a local account (bare or full JID), to nobody, the account or the
//! server, with one payload that another loaded plugin owns; it runs as if the account had sent
//! it, and the answer (`result` or `error`) comes back instead of going anywhere.
//!
//! A call that a request started may ask in turn, but never a plugin already in that chain
//! ([`HostError::Unavailable`]), so two plugins asking each other cannot loop; a chain is at
//! most 4 plugins long.
//!
//! ```
//! use tessera_sdk::minidom::Element;
//! use tessera_sdk::{requests, testing};
//!
//! # testing::reset();
//! testing::answer_requests(|_| {
//!     Ok("<iq xmlns='jabber:client' type='result' id='v1'><vCard xmlns='vcard-temp'/></iq>".into())
//! });
//! let iq: Element = "<iq xmlns='jabber:client' type='get' id='v1' from='juliet@localhost'>\
//!                    <vCard xmlns='vcard-temp'/></iq>".parse().unwrap();
//! let answer = requests::ask(&iq)?;
//! assert_eq!(answer.attr("type"), Some("result"));
//! # Ok::<(), tessera_sdk::HostError>(())
//! ```

use minidom::Element;

use crate::error::HostError;

/// Asks `iq` (see the module docs) and returns the answer.
///
/// # Errors
/// [`HostError::Invalid`] for an IQ the host refuses, [`HostError::NotGranted`] without the
/// grant, [`HostError::Unavailable`] when no other plugin owns the payload, for a request to a
/// plugin already in the chain of requests (or a chain too long), or when the owner gave no
/// answer; an answer that does not parse is [`HostError::Invalid`].
pub fn ask(iq: &Element) -> Result<Element, HostError> {
    let answer = ask_xml(&String::from(iq))?;
    answer
        .parse()
        .map_err(|e| HostError::Invalid(format!("the answer does not parse: {e}")))
}

/// Whether another loaded plugin owns the payload `{namespace}name`, so [`ask`] can reach it
/// (false without the grant): a plugin that merely works better with another skips asking when
/// it is not there.
pub fn answers(namespace: &str, name: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::requests::answers(namespace, name);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::answers(namespace, name);
}

/// As [`ask`], serialised both ways.
///
/// # Errors
/// As [`ask`], but the answer is not parsed.
pub fn ask_xml(xml: &str) -> Result<String, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::requests::ask(xml).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::ask(xml);
}
