//! The stored vCard (XEP-0054 §3): one `kv` value per account, the `<vCard/>` element
//! serialised as it was set, and the rules on what may be stored.
//!
//! The host caps neither a `kv` value nor what an account stores, so the size cap is the
//! plugin's own: a vCard of at most [`MAX_VCARD_BYTES`] serialised, refused past that with
//! `not-acceptable`. vCards carry their photo inline, base64-encoded (XEP-0054 §3, `PHOTO/BINVAL`;
//! XEP-0153 §3 asks for avatars under 8 KiB, but clients upload far larger ones), so the cap is
//! generous. It stays below the host's default stanza limit (`limits.stanza_bytes`, 256 KiB), and
//! the reason is the answer: the result that carries a stored vCard back is a stanza too, and the
//! host refuses a plugin's stanza larger than that limit. 64 KiB of headroom holds the IQ's
//! addresses (a JID is at most 3 KiB) and id. An operator who lowers `limits.stanza_bytes` lowers
//! what a client can set with it (a larger set is refused by the host with `policy-violation`
//! before it reaches the plugin).

use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::{Element, Node};
use tessera_sdk::{HostError, Owner, StanzaError, log};

use crate::ns;

/// The `kv` category (declared in the manifest).
pub(crate) const CATEGORY: &str = "vcard";
/// The only key in an account's category: an account has one vCard.
pub(crate) const KEY: &str = "vcard";
/// The largest vCard one account may store, serialised: a photo of about 140 KiB, base64-encoded.
pub(crate) const MAX_VCARD_BYTES: usize = 192 * 1024;

fn store(user: &str) -> Kv {
    Kv::new(CATEGORY, Owner::user(user))
}

/// `<vCard xmlns='vcard-temp'/>`.
pub(crate) fn empty() -> Element {
    Element::bare("vCard", ns::VCARD_TEMP)
}

/// Whether storing `el` is the same as storing nothing: no attributes and nothing but
/// whitespace inside. A get answers such a vCard when none is stored, so the plugin deletes the
/// record instead of keeping it.
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

/// The vCard `user` stored, or the empty `<vCard/>` when there is none.
///
/// XEP-0054 §3.1 lets the server answer a missing vCard with an error (`item-not-found`) or an
/// IQ result carrying an empty `<vCard/>`; the plugin answers the empty element, to the account
/// itself and to anyone else alike, as ejabberd does: clients (Conversations, Gajim, Dino) read
/// it as "no vCard yet" and go on to set one, where some show an error for `item-not-found`.
/// A bare JID of our domain that is no account reads the same way (the plugin holds no
/// `accounts` grant to tell them apart), so the answer does not reveal which accounts exist,
/// as §3.3 asks of the error a server picks there.
///
/// # Errors
///
/// `internal-server-error` when storage fails or the stored value no longer parses.
pub(crate) fn get(user: &str) -> Result<Element, StanzaError> {
    let stored = store(user)
        .get_string(KEY)
        .map_err(|e| internal("read the vCard", user, &e))?;
    let Some(xml) = stored else {
        return Ok(empty());
    };
    match xml.parse::<Element>() {
        Ok(el) if el.is("vCard", ns::VCARD_TEMP) => Ok(el),
        // Never what `set` wrote: the record was damaged outside the plugin. Answering an empty
        // vCard would invite the client to overwrite it, so this is an error.
        _ => {
            log::error(&format!("the stored vCard of {user} does not parse"));
            Err(StanzaError::internal_server_error())
        }
    }
}

/// Replaces the vCard of `user` with `vcard` (XEP-0054 §3.2: a set carries the whole vCard,
/// there are no partial updates); an empty `<vCard/>` deletes it.
///
/// # Errors
///
/// - `not-acceptable`: larger than [`MAX_VCARD_BYTES`]; nothing changes;
/// - `resource-constraint`: the host refused the write for its quota;
/// - `internal-server-error`: storage failed.
pub(crate) fn set(user: &str, vcard: &Element) -> Result<(), StanzaError> {
    let kv = store(user);
    let written = if is_empty(vcard) {
        kv.delete(KEY).map(|_| ())
    } else {
        let xml = String::from(vcard);
        if xml.len() > MAX_VCARD_BYTES {
            log::info(&format!(
                "vCard of {user} refused: {} bytes, over the cap",
                xml.len()
            ));
            return Err(StanzaError::not_acceptable().with_text(format!(
                "a vCard may be at most {} KiB",
                MAX_VCARD_BYTES / 1024
            )));
        }
        kv.set_str(KEY, &xml)
    };
    match written {
        Ok(()) => Ok(()),
        Err(HostError::QuotaExceeded) => {
            Err(StanzaError::resource_constraint()
                .with_text("the server's storage quota is exhausted"))
        }
        Err(e) => Err(internal("store the vCard", user, &e)),
    }
}
