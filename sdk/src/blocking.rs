//! What XEP-0191 blocking means to a plugin that sends for a user: whom the user blocked, and
//! whether an address is among them.
//!
//! The blocklist belongs to the plugin that serves XEP-0191 (the built-in `blocking`), and what a
//! plugin sends passes no other plugin's hooks: a plugin that sends on a user's behalf to others
//! (PEP notifications) asks for the list ([`blocklist`], through `requests`) and leaves out the
//! addresses it names ([`is_blocked`]), as the blocking plugin does for the user's own stanzas.
//!
//! ```
//! use tessera_sdk::blocking;
//!
//! let list = vec!["romeo@montague.example".to_owned(), "capulet.example".to_owned()];
//! assert!(blocking::is_blocked(&list, "romeo@montague.example/orchard"));
//! assert!(blocking::is_blocked(&list, "nurse@capulet.example/kitchen"));
//! assert!(!blocking::is_blocked(&list, "benvolio@montague.example/square"));
//! ```

use jid::Jid;

use crate::HostError;

/// The blocking namespace (XEP-0191).
const NS: &str = "urn:xmpp:blocking";

/// The forms of `address` a blocklist item can name, most specific first (XEP-0191 §6 defers to
/// XEP-0016 §2.1: `user@domain/resource`, `user@domain`, `domain/resource`, `domain`). An item
/// matches the address if it equals one of them, so blocking `user@domain` blocks every resource
/// of it and blocking `domain` everyone there (and the domain itself). Forms are normalised as the
/// `jid` crate writes JIDs.
pub fn forms(address: &Jid) -> Vec<String> {
    let domain = address.domain().as_str();
    let mut forms = Vec::with_capacity(4);
    if let Some(resource) = address.resource() {
        forms.push(address.to_string());
        if address.node().is_some() {
            forms.push(address.to_bare().to_string());
            forms.push(format!("{domain}/{}", resource.as_str()));
        }
    } else if address.node().is_some() {
        forms.push(address.to_string());
    }
    forms.push(domain.to_owned());
    forms
}

/// Whether `list` (normalised items, as [`blocklist`] returns them) blocks `address`. An address
/// that is no JID is not blocked.
pub fn is_blocked(list: &[String], address: &str) -> bool {
    if list.is_empty() {
        return false;
    }
    Jid::new(address).is_ok_and(|a| forms(&a).iter().any(|f| list.contains(f)))
}

/// The local account `user`'s blocklist, asked of the plugin that serves XEP-0191 (`requests`).
/// Empty when no plugin serves it (or without the `requests` grant, when the host says none does).
///
/// # Errors
/// The blocking plugin could not be asked or failed ([`HostError::Unavailable`]): the caller
/// cannot tell who is blocked.
pub fn blocklist(user: &str) -> Result<Vec<String>, HostError> {
    let iq: minidom::Element = format!(
        "<iq xmlns='jabber:client' type='get' id='blocklist' from='{user}'><blocklist xmlns='{NS}'/></iq>"
    )
    .parse()
    .map_err(|_| HostError::Invalid("not a JID for an attribute".to_owned()))?;
    // Nobody serves XEP-0191: nobody is blocked.
    if !crate::requests::answers(NS, "blocklist") {
        return Ok(Vec::new());
    }
    let answer = crate::requests::ask(&iq)?;
    if answer.attr("type") != Some("result") {
        return Err(HostError::Unavailable(
            "the blocklist could not be read".to_owned(),
        ));
    }
    Ok(answer
        .get_child("blocklist", NS)
        .map(|l| {
            l.children()
                .filter(|i| i.is("item", NS))
                .filter_map(|i| i.attr("jid"))
                .filter_map(|j| Jid::new(j).ok().map(|j| j.to_string()))
                .collect()
        })
        .unwrap_or_default())
}
