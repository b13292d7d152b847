//! XEP-0421 occupant ids: an id per room and real bare JID that stays the same across visits
//! and nickname changes and tells nothing about the JID, so clients can tie messages, reactions
//! and moderation to one person in a semi-anonymous room.
//!
//! The id is `base64url(HMAC-SHA-256(secret, room JID ‖ 0x00 ‖ bare JID))`, unpadded (43
//! characters). The secret is 32 random bytes drawn once per service (WASI `random`) and kept in
//! `kv` (category [`SECRETS`], owned by the service), so ids survive restarts and nothing per
//! user is stored; without the secret an id cannot be linked to a JID nor across rooms. Losing the
//! secret (deleting the record) changes every id, nothing else.
//!
//! Instances agree on one secret: the first to find none draws one and publishes it with an
//! `ephemeral` compare-and-swap before storing it; the others take the published one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::{Element, Node};
use tessera_sdk::{HostError, Owner, ephemeral};

use crate::ns;
use crate::xml;

/// The `kv` category of the service's own secrets, owned by the service.
pub(crate) const SECRETS: &str = "secrets";
/// The key of the occupant-id secret in `kv`.
const KEY: &str = "occupant-id";
/// Its copy in `ephemeral`, shared by the instances (the only key under `secret/`).
pub(crate) const CACHED: &str = "secret/occupant-id";

fn secrets() -> Kv {
    Kv::new(SECRETS, Owner::Service)
}

/// The service's secret, drawn and stored on first use.
///
/// # Errors
///
/// Storage failed, or no randomness was available.
fn secret() -> Result<Vec<u8>, HostError> {
    if let Some(s) = ephemeral::get(CACHED) {
        return Ok(s);
    }
    if let Some(stored) = secrets().get(KEY)? {
        // Another instance may have published the same value meanwhile: either is right.
        ephemeral::set(CACHED, &stored)?;
        return Ok(stored);
    }
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| {
        HostError::Invalid(format!("no randomness for the occupant-id secret: {e}"))
    })?;
    if ephemeral::compare_and_swap(CACHED, None, &fresh)? {
        secrets().set(KEY, &fresh)?;
        return Ok(fresh.to_vec());
    }
    ephemeral::get(CACHED).ok_or_else(|| HostError::Invalid("occupant-id secret vanished".into()))
}

/// The occupant id of `bare` in `room`.
///
/// # Errors
///
/// The secret could not be read or made.
pub(crate) fn of(room: &str, bare: &str) -> Result<String, HostError> {
    let key = secret()?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).expect("invariant: HMAC takes keys of any length");
    mac.update(room.as_bytes());
    mac.update(&[0]);
    mac.update(bare.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// `<occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>` (XEP-0421 §4).
pub(crate) fn element(id: &str) -> Element {
    xml::el("occupant-id", ns::OCCUPANT_ID, &[("id", id)])
}

/// Removes every `<occupant-id/>` a client put in a stanza (XEP-0421 §4: the room MUST, or one
/// occupant could pass for another).
pub(crate) fn strip(stanza: &mut Element) {
    for node in stanza.take_nodes() {
        let forged = matches!(&node, Node::Element(e) if e.is("occupant-id", ns::OCCUPANT_ID));
        if !forged {
            stanza.append_node(node);
        }
    }
}

/// Strips any client-sent id from `stanza` and adds `id` (none when it could not be computed,
/// which is logged by the caller's join).
pub(crate) fn stamp(stanza: &mut Element, id: &str) {
    strip(stanza);
    if !id.is_empty() {
        stanza.append_child(element(id));
    }
}
