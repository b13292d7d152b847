//! The vCard's photo as an avatar: XEP-0153 (its hash in presence) and XEP-0398 (vCard to PEP).
//!
//! - When an account stores a vCard, the SHA-1 of its `<PHOTO/>` (`<BINVAL/>` decoded) is kept
//!   beside it (`kv` key [`HASH_KEY`]), and the account is marked (`scope`, durable) so that the
//!   `outgoing` hook, narrowed to marked accounts, runs for its presence only while it has a photo.
//! - XEP-0398 §3: every available presence the account sends, broadcast or directed (a MUC join),
//!   carries `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>`: added when missing,
//!   filled in when the client sent it without `<photo/>`, left alone when the client sent an
//!   empty `<photo/>` (it says "no avatar here") or a hash of its own.
//! - XEP-0398 §2.2: a new photo is published as the account's XEP-0084 avatar (the data item,
//!   id = its SHA-1, then the metadata), and a photo removed publishes empty metadata (avatar
//!   disabled), through the `pep` plugin's own pubsub IQs (`requests.ask`, granted as
//!   `requests`), never its storage. The other direction is `pep`'s; a conversion started by
//!   the other plugin's request cannot start one back (the host refuses it), so the two never
//!   loop, and an unchanged photo converts nothing.
//!
//! A vCard stored before this existed gets its hash the first time its owner reads or sets it.
//! Failures are logged (accounts and what failed, never the image) and never fail the vCard set.

use tessera_sdk::kv::Kv;
use tessera_sdk::minidom::Element;
use tessera_sdk::scope::{self, Lifetime};
use tessera_sdk::{HostError, Owner, Stanza, Verdict, avatar, log, requests, xml};

use crate::ns;
use crate::store::CATEGORY;

/// The key of the photo's hash, beside the vCard.
pub(crate) const HASH_KEY: &str = "photo-sha1";
/// XEP-0153's presence element.
const UPDATE: &str = "vcard-temp:x:update";
/// XEP-0084's nodes.
const DATA: &str = "urn:xmpp:avatar:data";
const METADATA: &str = "urn:xmpp:avatar:metadata";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";

/// A vCard's photo: its type, the image and its base64 as sent (whitespace removed).
pub(crate) struct Photo {
    mime: String,
    bytes: Vec<u8>,
    b64: String,
}

impl Photo {
    /// The XEP-0153 §4.1 / XEP-0084 §4.2 hash: SHA-1 of the image, lower-case hex.
    pub(crate) fn sha1(&self) -> String {
        avatar::image_id(&self.bytes)
    }
}

/// The inline photo of `vcard` (`PHOTO/BINVAL` with its `TYPE`); none for no photo, an external
/// one (`EXTVAL`) or one that is not base64.
pub(crate) fn photo(vcard: &Element) -> Option<Photo> {
    let photo = vcard.get_child("PHOTO", ns::VCARD_TEMP)?;
    let bytes = avatar::decode_base64(&photo.get_child("BINVAL", ns::VCARD_TEMP)?.text())
        .filter(|b| !b.is_empty())?;
    // Re-encoded: the client's line breaks are not part of the image.
    let b64 = avatar::encode_base64(&bytes);
    let mime = photo
        .get_child("TYPE", ns::VCARD_TEMP)
        .map(|t| t.text().trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "image/png".to_owned());
    Some(Photo { mime, bytes, b64 })
}

fn kv(account: &str) -> Kv {
    Kv::new(CATEGORY, Owner::user(account))
}

/// The hash kept for `account`'s photo.
fn stored_hash(account: &str) -> Option<String> {
    kv(account).get_string(HASH_KEY).ok().flatten()
}

/// Keeps `hash` (none: no photo) for `account` and marks it accordingly; whether it changed.
fn keep_hash(account: &str, hash: Option<&str>) -> bool {
    if stored_hash(account).as_deref() == hash {
        return false;
    }
    let kv = kv(account);
    let written = match hash {
        Some(h) => kv
            .set_str(HASH_KEY, h)
            .and_then(|()| scope::mark(account, Lifetime::Durable)),
        None => kv
            .delete(HASH_KEY)
            .and_then(|_| scope::unmark(account).map(|_| ())),
    };
    if let Err(e) = written {
        log::error(&format!("could not keep the photo hash of {account}: {e}"));
    }
    true
}

/// The owner read its vCard: a vCard stored before hashes were kept gets its hash now.
pub(crate) fn after_get(account: &str, vcard: &Element) {
    if stored_hash(account).is_none()
        && let Some(photo) = photo(vcard)
    {
        keep_hash(account, Some(&photo.sha1()));
    }
}

/// The owner stored `vcard`: keep the photo's hash, and publish a changed photo as the PEP
/// avatar (XEP-0398 §2.2).
pub(crate) fn after_set(account: &str, vcard: &Element) {
    let photo = photo(vcard);
    let hash = photo.as_ref().map(Photo::sha1);
    if !keep_hash(account, hash.as_deref()) {
        return;
    }
    let outcome = match &photo {
        Some(photo) => publish_avatar(account, photo),
        None => publish(account, METADATA, None, Element::bare("metadata", METADATA)),
    };
    if let Err(e) = outcome {
        let text = format!("vCard photo of {account} not published to PEP: {e}");
        match e {
            // No pep plugin, or a conversion the pep plugin itself started.
            HostError::Unavailable(_) => log::debug(&text),
            _ => log::info(&text),
        }
    }
}

/// XEP-0084 §4.1–4.2: the data item, then the metadata naming it.
fn publish_avatar(account: &str, photo: &Photo) -> Result<(), HostError> {
    let id = photo.sha1();
    let mut data = Element::bare("data", DATA);
    data.append_text_node(photo.b64.clone());
    publish(account, DATA, Some(&id), data)?;
    let bytes = photo.bytes.len().to_string();
    let info = xml::element(
        "info",
        METADATA,
        &[("bytes", &bytes), ("id", &id), ("type", &photo.mime)],
    );
    let metadata = xml::with(Element::bare("metadata", METADATA), info);
    publish(account, METADATA, Some(&id), metadata)
}

/// Publishes `payload` as item `id` of `account`'s node `node`, through the pep plugin.
fn publish(account: &str, node: &str, id: Option<&str>, payload: Element) -> Result<(), HostError> {
    let mut item = xml::element("item", PUBSUB, &[]);
    if let Some(id) = id {
        xml::set_attr(&mut item, "id", id);
    }
    let publish = xml::with(
        xml::element("publish", PUBSUB, &[("node", node)]),
        xml::with(item, payload),
    );
    let iq = xml::with(
        xml::element(
            "iq",
            "jabber:client",
            &[("type", "set"), ("id", "vcard-avatar"), ("from", account)],
        ),
        xml::with(Element::bare("pubsub", PUBSUB), publish),
    );
    let answer = requests::ask(&iq)?;
    if answer.attr("type") == Some("result") {
        Ok(())
    } else {
        Err(HostError::Invalid(format!(
            "the PEP service refused {node}"
        )))
    }
}

/// The `outgoing` hook on presence (narrowed to accounts with a photo): XEP-0398 §3.
pub(crate) fn presence(account: &str, stanza: &Stanza) -> Verdict {
    // Available presence only: no type (RFC 6121 §4.7.1).
    if !stanza.type_attr().is_empty() {
        return Verdict::Pass;
    }
    let Some(hash) = stored_hash(account) else {
        return Verdict::Pass;
    };
    let Ok(el) = stanza.element() else {
        return Verdict::Pass;
    };
    let mut el = el.clone();
    match el.get_child_mut("x", UPDATE) {
        Some(x) => match x.get_child("photo", UPDATE) {
            // An empty <photo/> (no avatar to show here) or a hash of the client's own: kept.
            Some(_) => return Verdict::Pass,
            None => {
                x.append_child(photo_element(&hash));
            }
        },
        None => {
            let mut x = Element::bare("x", UPDATE);
            x.append_child(photo_element(&hash));
            el.append_child(x);
        }
    }
    Verdict::Replace(String::from(&el))
}

fn photo_element(hash: &str) -> Element {
    let mut photo = Element::bare("photo", UPDATE);
    photo.append_text_node(hash.to_owned());
    photo
}
