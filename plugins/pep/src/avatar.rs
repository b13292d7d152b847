//! XEP-0398, PEP to vCard: when an account publishes its avatar's metadata (XEP-0084
//! `urn:xmpp:avatar:metadata`), the image (its `urn:xmpp:avatar:data` item) goes into the
//! account's vCard as its `<PHOTO/>`, so clients that only know vCard avatars (XEP-0153) see it,
//! and an empty metadata (avatar disabled, XEP-0084 §4.6) takes the photo out.
//!
//! The vCard is the `vcard` plugin's: this plugin reads and writes it through that plugin's
//! own `vcard-temp` IQs (`requests.ask`, granted as `requests`), never its storage. The other
//! direction (a vCard photo becoming the PEP avatar) is the `vcard` plugin's, the same way; a
//! conversion started by the other plugin's request cannot start one back (the host refuses a
//! request to a plugin already in the chain of requests), so the two never loop.
//!
//! §2: the info element chosen is the first that does not point to a URL; the image must hash
//! (SHA-1) to its id, or nothing is converted. Failures are logged and never fail the publish:
//! the avatar is published whatever happens to the vCard.

use tessera_sdk::minidom::Element;
use tessera_sdk::{HostError, avatar, log, requests};

use crate::node::Store;
use crate::{ns, xml};

/// XEP-0084's metadata node.
pub(crate) const METADATA: &str = "urn:xmpp:avatar:metadata";
/// XEP-0084's data node.
pub(crate) const DATA: &str = "urn:xmpp:avatar:data";
/// vCard-temp (XEP-0054).
const VCARD: &str = "vcard-temp";

/// After the owner published `payload` to `node`: the vCard follows the avatar.
pub(crate) fn after_publish(store: &Store, node: &str, payload: &Element) {
    if node != METADATA || !payload.is("metadata", METADATA) {
        return;
    }
    let owner = store.owner();
    let photo = match payload
        .children()
        .find(|i| i.is("info", METADATA) && i.attr("url").is_none())
    {
        // §4.6 of XEP-0084: no info, no avatar.
        None => None,
        Some(info) => match image(store, info) {
            Some(photo) => Some(photo),
            None => return,
        },
    };
    if let Err(e) = into_vcard(owner, photo) {
        let text = format!("avatar of {owner} not copied into the vCard: {e}");
        match e {
            // No vcard plugin, or a conversion the vcard plugin itself started.
            HostError::Unavailable(_) => log::debug(&text),
            _ => log::info(&text),
        }
    }
}

/// The `(type, base64)` of the image `info` describes, if its data item is here and hashes to its
/// id (§2: the service SHOULD verify).
fn image(store: &Store, info: &Element) -> Option<(String, String)> {
    let owner = store.owner();
    let id = info.attr("id")?;
    let mime = info.attr("type").unwrap_or("image/png").to_owned();
    let node = store.load(DATA).ok().flatten()?;
    let Some(data) = store.item(&node, id).ok().flatten() else {
        log::debug(&format!(
            "avatar metadata of {owner} names no published image"
        ));
        return None;
    };
    let bytes = avatar::decode_base64(&data.text())?;
    // Re-encoded: a client's line breaks are not part of the image.
    let b64 = avatar::encode_base64(&bytes);
    if avatar::image_id(&bytes) != id.to_ascii_lowercase() {
        log::info(&format!(
            "avatar of {owner} not copied into the vCard: its id is not the image's SHA-1"
        ));
        return None;
    }
    Some((mime, b64))
}

/// Asks the vcard plugin for `owner`'s vCard, and stores it back with `photo` as its `<PHOTO/>`
/// (none: without one). Nothing is written when the photo is already that.
fn into_vcard(owner: &str, photo: Option<(String, String)>) -> Result<(), HostError> {
    let get = iq(owner, "get", Element::bare("vCard", VCARD));
    let answer = requests::ask(&get)?;
    if answer.attr("type") != Some("result") {
        return Err(HostError::Invalid("the vCard could not be read".to_owned()));
    }
    let current = answer
        .get_child("vCard", VCARD)
        .cloned()
        .unwrap_or_else(|| Element::bare("vCard", VCARD));
    let had = current.get_child("PHOTO", VCARD).and_then(|p| {
        p.get_child("BINVAL", VCARD).map(|b| {
            b.text()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect::<String>()
        })
    });
    if had.as_deref() == photo.as_ref().map(|(_, b64)| b64.as_str()) {
        return Ok(());
    }
    let mut vcard = Element::bare("vCard", VCARD);
    for child in current.children().filter(|c| !c.is("PHOTO", VCARD)) {
        vcard.append_child(child.clone());
    }
    if let Some((mime, b64)) = photo {
        let mut type_ = Element::bare("TYPE", VCARD);
        type_.append_text_node(mime);
        let mut binval = Element::bare("BINVAL", VCARD);
        binval.append_text_node(b64);
        let photo = xml::with(xml::with(Element::bare("PHOTO", VCARD), type_), binval);
        vcard.append_child(photo);
    }
    let answer = requests::ask(&iq(owner, "set", vcard))?;
    if answer.attr("type") == Some("result") {
        log::debug(&format!("avatar of {owner} copied into the vCard"));
        Ok(())
    } else {
        Err(HostError::Invalid(
            "the vCard refused the photo (too large?)".to_owned(),
        ))
    }
}

/// `<iq type='{type_}' from='{owner}' id='pep-avatar'>{payload}</iq>`.
fn iq(owner: &str, type_: &str, payload: Element) -> Element {
    xml::with(
        xml::el(
            "iq",
            ns::CLIENT,
            &[("type", type_), ("from", owner), ("id", "pep-avatar")],
        ),
        payload,
    )
}
