//! The stored elements (XEP-0049 §2.3): one `kv` value per account and qualified element name,
//! the element serialised as it was set, and the rules on what may be stored.
//!
//! Keys are the element's name in Clark notation, `{namespace}name`. An XML name holds no `}`,
//! so the key is unambiguous even for a namespace that does (the name is what follows the last
//! `}`), and the `{namespace}` prefix keeps an account's keys of one namespace together.
//!
//! The host caps neither a `kv` value nor the number of keys, and a PostgreSQL index entry holds
//! only about 2.7 KB of key, so the limits are the plugin's own: an element of at most
//! [`MAX_ELEMENT_BYTES`] serialised, a namespace of at most [`MAX_NAMESPACE_BYTES`], and at most
//! [`MAX_ELEMENTS`] stored elements per account. Anything past them is refused with a stanza
//! error (`not-acceptable` for one element that is too large, `resource-constraint` for one too
//! many), never a trap. Clients store a few small documents (XEP-0048 bookmarks, XEP-0145
//! annotations, the XEP-0083 roster delimiter, their own settings): a few KiB each.

use std::collections::BTreeSet;

use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::{Element, Node};
use tessera_sdk::{HostError, Owner, StanzaError, log};

use crate::ns;

/// The `kv` category (declared in the manifest).
pub(crate) const CATEGORY: &str = "private-xml";
/// The largest element one account may store, serialised: 64 KiB holds a few hundred bookmarks.
pub(crate) const MAX_ELEMENT_BYTES: usize = 64 * 1024;
/// The most elements one account may keep (an account's worst case is then 6.4 MiB).
pub(crate) const MAX_ELEMENTS: usize = 100;
/// The longest namespace accepted: it is part of the key, and keys are indexed.
pub(crate) const MAX_NAMESPACE_BYTES: usize = 1024;

fn store(user: &str) -> Kv {
    Kv::new(CATEGORY, Owner::user(user))
}

/// The key of the element `name` qualified by `namespace`.
pub(crate) fn key(namespace: &str, name: &str) -> String {
    format!("{{{namespace}}}{name}")
}

/// Whether XEP-0049 §2.3 lets a client store or ask for an element of this namespace: it must
/// have its own ("the root element of that fragment is scoped by its own namespace"; an element
/// without one inherits `jabber:iq:private` from `<query/>`), and reserved ones (those beginning
/// with `jabber:` or `http://jabber.org/`, and `vcard-temp`) are refused with `not-acceptable`,
/// the optional behaviour the XEP describes. It keeps a client from parking, say, a roster or a
/// vCard here where no other protocol would find it.
///
/// # Errors
///
/// `not-acceptable` (type `modify`), with a text saying why.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), StanzaError> {
    let refuse = |why: &str| Err(StanzaError::not_acceptable().with_text(why));
    if namespace.is_empty() {
        return refuse("the element must be qualified by its own namespace");
    }
    if namespace.starts_with("jabber:")
        || namespace.starts_with("http://jabber.org/")
        || namespace == ns::VCARD_TEMP
    {
        return refuse("the namespace is reserved (XEP-0049 §2.3)");
    }
    if namespace.len() > MAX_NAMESPACE_BYTES {
        return refuse("the namespace is too long");
    }
    Ok(())
}

/// Whether storing `el` is the same as storing nothing: no attributes and nothing but
/// whitespace inside. A get answers such an element for a name never stored, so the plugin
/// deletes the record instead of keeping it, which is also how a client frees a slot.
fn is_empty(el: &Element) -> bool {
    el.attrs().is_empty()
        && el.nodes().all(|n| match n {
            Node::Text(t) => t.trim().is_empty(),
            Node::Element(_) => false,
        })
}

/// Our own failure: logged with the account (metadata only), answered `internal-server-error`.
fn internal(doing: &str, user: &str, e: &HostError) -> StanzaError {
    log::error(&format!("could not {doing} of {user}: {e}"));
    StanzaError::internal_server_error()
}

/// `<iq type='get'>`: the element `user` stored under `requested`'s name and namespace, or that
/// name as an empty element when nothing is stored (XEP-0049 §2.3).
///
/// # Errors
///
/// `not-acceptable` for a reserved or missing namespace, `internal-server-error` when storage
/// fails or a stored value no longer parses.
pub(crate) fn get(user: &str, requested: &Element) -> Result<Element, StanzaError> {
    let namespace = requested.ns();
    check_namespace(&namespace)?;
    let name = requested.name();
    let stored = store(user)
        .get_string(&key(&namespace, name))
        .map_err(|e| internal("read private XML", user, &e))?;
    let Some(xml) = stored else {
        return Ok(Element::builder(name, namespace).build());
    };
    match xml.parse::<Element>() {
        Ok(el) if el.is(name, namespace.as_str()) => Ok(el),
        // Never what `set` wrote: the record was damaged outside the plugin. Saying nothing is
        // stored would invite the client to overwrite it, so this is an error.
        _ => {
            log::error(&format!(
                "a stored private XML element of {user} does not parse"
            ));
            Err(StanzaError::internal_server_error())
        }
    }
}

/// `<iq type='set'>`: stores each element, replacing what was stored under its name; an empty
/// element deletes the record. XEP-0049 §2.3 lets a set carry several elements: all are checked
/// before any is written, so a refused request changes nothing.
///
/// # Errors
///
/// - `not-acceptable`: a reserved or missing namespace, an element larger than
///   [`MAX_ELEMENT_BYTES`];
/// - `bad-request`: the same element twice in one request;
/// - `resource-constraint`: the account would keep more than [`MAX_ELEMENTS`], or the host
///   refused the write for its quota;
/// - `internal-server-error`: storage failed. A failure after the first write leaves the
///   earlier elements of the request stored (`kv` has no transactions).
pub(crate) fn set(user: &str, elements: &[&Element]) -> Result<(), StanzaError> {
    let mut writes: Vec<(String, Option<String>)> = Vec::with_capacity(elements.len());
    for el in elements {
        let namespace = el.ns();
        check_namespace(&namespace)?;
        let key = key(&namespace, el.name());
        if writes.iter().any(|(k, _)| *k == key) {
            return Err(StanzaError::bad_request().with_text("the same element is set twice"));
        }
        let value = if is_empty(el) {
            None
        } else {
            let xml = String::from(*el);
            if xml.len() > MAX_ELEMENT_BYTES {
                return Err(StanzaError::not_acceptable().with_text(format!(
                    "a stored element may be at most {} KiB",
                    MAX_ELEMENT_BYTES / 1024
                )));
            }
            Some(xml)
        };
        writes.push((key, value));
    }
    let kv = store(user);
    check_count(user, &kv, &writes)?;
    for (key, value) in &writes {
        let written = match value {
            Some(xml) => kv.set_str(key, xml),
            None => kv.delete(key).map(|_| ()),
        };
        match written {
            Ok(()) => {}
            Err(HostError::QuotaExceeded) => {
                return Err(StanzaError::resource_constraint()
                    .with_text("the server's storage quota is exhausted"));
            }
            Err(e) => return Err(internal("store private XML", user, &e)),
        }
    }
    Ok(())
}

/// Refuses a request that would leave `user` with more than [`MAX_ELEMENTS`] elements. A
/// request that does not add to the count always passes, so an account over the cap (it was
/// lower once) can still replace and delete.
fn check_count(
    user: &str,
    kv: &Kv,
    writes: &[(String, Option<String>)],
) -> Result<(), StanzaError> {
    if writes.iter().all(|(_, v)| v.is_none()) {
        return Ok(());
    }
    let limit = u32::try_from(MAX_ELEMENTS + 1).unwrap_or(u32::MAX);
    let existing: BTreeSet<String> = kv
        .keys("", limit)
        .map_err(|e| internal("list private XML", user, &e))?
        .into_iter()
        .collect();
    let mut after = existing.clone();
    for (key, value) in writes {
        if value.is_some() {
            after.insert(key.clone());
        } else {
            after.remove(key);
        }
    }
    if after.len() > MAX_ELEMENTS && after.len() > existing.len() {
        return Err(StanzaError::resource_constraint().with_text(format!(
            "at most {MAX_ELEMENTS} elements per account; store an empty element to free one"
        )));
    }
    Ok(())
}
