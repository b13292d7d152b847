//! XEP-0402 bookmarks kept in sync with XEP-0048 ones (XEP-0402 §5.3, `#compat` and
//! `#compat-pep`):
//!
//! - the PEP node `urn:xmpp:bookmarks:1` holds one item per room (id = room JID,
//!   `<conference xmlns='urn:xmpp:bookmarks:1'/>`) and is the reference;
//! - the PEP node `storage:bookmarks` (item `current`, XEP-0048 §3 over XEP-0223) and the
//!   private XML document `<storage xmlns='storage:bookmarks'/>` (XEP-0048 over XEP-0049) are
//!   the same list in the old format. The private document is not stored by the `private`
//!   plugin: this plugin answers those requests on the `outgoing` hook, ahead of it, from the
//!   `storage:bookmarks` node, so there is one copy.
//!
//! After a change to the native node, the plugin collates its items into a `<storage/>`
//! ("casting them into the 'storage:bookmarks' namespace and setting the jid attribute to the
//! item id", XEP-0402 §5.3.1), keeping the `<url/>` bookmarks of the previous document (XEP-0402
//! has none, and dropping them would lose what old clients stored), and publishes it as
//! `storage:bookmarks`'s `current` item. After a new `<storage/>` (published or set as private
//! XML), it updates the native items one by one, publishing changed ones and retracting removed
//! ones, with notifications, and none for unchanged items (§5.3.2).
//!
//! Conversion: `<conference jid name autojoin><nick/><password/>…</conference>` (0048) ↔
//! `<item id=jid><conference name autojoin><nick/><password/><extensions>…</extensions>
//! </conference></item>` (0402). `autojoin` is an `xs:boolean` in both ("true"/"1"), written
//! `true` when set and left out otherwise; a 0048 conference's unknown children go to
//! `<extensions/>` and back.

use tessera_sdk::jid::BareJid;
use tessera_sdk::log;
use tessera_sdk::minidom::Element;

use crate::config::Settings;
use crate::error::PubsubError;
use crate::node::{Access, Config, SendLast, Store};
use crate::pubsub::{Req, publish_item};
use crate::{notify, ns, xml};

/// The item id of the XEP-0048 node's one item (XEP-0048 §3, XEP-0223 §3).
const CURRENT: &str = "current";

/// The configuration the two bookmark nodes get when the plugin creates them (XEP-0402 §3,
/// XEP-0048 §3: XEP-0223's persistent private storage); clients' publish-options match it.
pub(crate) fn defaults(name: &str, settings: &Settings) -> Option<Config> {
    let max_items = match name {
        ns::BOOKMARKS2 => settings.max_items,
        ns::BOOKMARKS => 1,
        _ => return None,
    };
    Some(Config {
        access: Access::Whitelist,
        max_items,
        persist_items: true,
        send_last: SendLast::Never,
        notify_retract: true,
        notify_delete: true,
        title: None,
    })
}

fn autojoin(el: &Element) -> bool {
    el.attr("autojoin").and_then(xml::boolean) == Some(true)
}

fn text_child(el: &Element, name: &str, namespace: &str) -> Option<String> {
    el.get_child(name, namespace).map(Element::text)
}

/// A 0402 `<conference/>` in one canonical form (for comparison and storage).
fn native(
    name: Option<&str>,
    join: bool,
    nick: Option<String>,
    password: Option<String>,
    extensions: Vec<Element>,
) -> Element {
    let mut c = Element::bare("conference", ns::BOOKMARKS2);
    if let Some(name) = name {
        xml::set(&mut c, "name", name);
    }
    if join {
        xml::set(&mut c, "autojoin", "true");
    }
    for (tag, value) in [("nick", nick), ("password", password)] {
        if let Some(v) = value {
            let mut e = Element::bare(tag, ns::BOOKMARKS2);
            e.append_text_node(v);
            c.append_child(e);
        }
    }
    if !extensions.is_empty() {
        let mut ext = Element::bare("extensions", ns::BOOKMARKS2);
        for e in extensions {
            ext.append_child(e);
        }
        c.append_child(ext);
    }
    c
}

fn canonical(c: &Element) -> Element {
    native(
        c.attr("name"),
        autojoin(c),
        text_child(c, "nick", ns::BOOKMARKS2),
        text_child(c, "password", ns::BOOKMARKS2),
        c.get_child("extensions", ns::BOOKMARKS2)
            .map(|e| e.children().cloned().collect())
            .unwrap_or_default(),
    )
}

/// 0402 item → 0048 `<conference/>`.
pub(crate) fn to_legacy(id: &str, c: &Element) -> Option<Element> {
    if !c.is("conference", ns::BOOKMARKS2) {
        return None;
    }
    let mut out = xml::el("conference", ns::BOOKMARKS, &[("jid", id)]);
    if let Some(name) = c.attr("name") {
        xml::set(&mut out, "name", name);
    }
    xml::set(
        &mut out,
        "autojoin",
        if autojoin(c) { "true" } else { "false" },
    );
    for tag in ["nick", "password"] {
        if let Some(v) = text_child(c, tag, ns::BOOKMARKS2) {
            let mut e = Element::bare(tag, ns::BOOKMARKS);
            e.append_text_node(v);
            out.append_child(e);
        }
    }
    if let Some(ext) = c.get_child("extensions", ns::BOOKMARKS2) {
        for e in ext.children() {
            out.append_child(e.clone());
        }
    }
    Some(out)
}

/// 0048 `<conference/>` → (room JID, 0402 `<conference/>`); `None` without a valid `jid`.
pub(crate) fn from_legacy(c: &Element) -> Option<(String, Element)> {
    let jid = BareJid::new(c.attr("jid")?).ok()?.to_string();
    let extensions = c
        .children()
        .filter(|e| !(e.ns() == ns::BOOKMARKS && matches!(e.name(), "nick" | "password")))
        .cloned()
        .collect();
    Some((
        jid,
        native(
            c.attr("name"),
            autojoin(c),
            text_child(c, "nick", ns::BOOKMARKS),
            text_child(c, "password", ns::BOOKMARKS),
            extensions,
        ),
    ))
}

/// After a publish to `name`: keeps the other format in step.
pub(crate) fn after_publish(req: &Req<'_>, name: &str, payload: &Element) {
    match name {
        ns::BOOKMARKS2 => native_changed(req),
        ns::BOOKMARKS => legacy_changed(req, payload),
        _ => {}
    }
}

/// After a retract, delete or purge on `name`.
pub(crate) fn after_change(req: &Req<'_>, name: &str) {
    if name == ns::BOOKMARKS2 {
        native_changed(req);
    }
}

fn log_failure(owner: &str, what: &str, e: &PubsubError) {
    log::warn(&format!(
        "bookmarks of {owner}: could not {what}: {}",
        e.error.condition
    ));
}

/// The XEP-0048 `<storage/>` the native node amounts to (with the previous `<url/>`s).
fn collate(store: &Store) -> Result<Element, PubsubError> {
    let mut storage = Element::bare("storage", ns::BOOKMARKS);
    if let Some(native) = store.load(ns::BOOKMARKS2)? {
        for id in &native.items {
            if let Some(c) = store.item(&native, id)?.and_then(|c| to_legacy(id, &c)) {
                storage.append_child(c);
            }
        }
    }
    if let Some(old) = legacy(store)? {
        for url in old.children().filter(|c| c.is("url", ns::BOOKMARKS)) {
            storage.append_child(url.clone());
        }
    }
    Ok(storage)
}

/// The stored XEP-0048 document, if any.
fn legacy(store: &Store) -> Result<Option<Element>, PubsubError> {
    let Some(node) = store.load(ns::BOOKMARKS)? else {
        return Ok(None);
    };
    let Some(id) = node.last() else {
        return Ok(None);
    };
    Ok(store
        .item(&node, id)?
        .filter(|s| s.is("storage", ns::BOOKMARKS)))
}

/// The native node changed: republish `storage:bookmarks` and notify it.
fn native_changed(req: &Req<'_>) {
    let store = req.store();
    let result = collate(&store).and_then(|storage| {
        let defaults = defaults(ns::BOOKMARKS, req.settings).expect("invariant: a bookmark node");
        let (node, _) = publish_item(
            &store,
            req.settings,
            ns::BOOKMARKS,
            Some(CURRENT),
            &storage,
            &[],
            defaults,
        )?;
        notify::broadcast(
            req.owner,
            &node,
            &notify::items_event(ns::BOOKMARKS, CURRENT, Some(&storage)),
        );
        Ok(())
    });
    if let Err(e) = result {
        log_failure(req.owner, "update storage:bookmarks", &e);
    }
}

/// A new XEP-0048 `<storage/>`: update the native items that differ, retract the missing ones.
fn legacy_changed(req: &Req<'_>, storage: &Element) {
    if !storage.is("storage", ns::BOOKMARKS) {
        return;
    }
    let mut wanted: Vec<(String, Element)> = Vec::new();
    for (jid, c) in storage
        .children()
        .filter(|c| c.is("conference", ns::BOOKMARKS))
        .filter_map(from_legacy)
    {
        wanted.retain(|(j, _)| *j != jid);
        wanted.push((jid, c));
    }
    let store = req.store();
    let result = (|| -> Result<(), PubsubError> {
        let mut node = match store.load(ns::BOOKMARKS2)? {
            Some(node) => node,
            None if wanted.is_empty() => return Ok(()),
            None => {
                let config =
                    defaults(ns::BOOKMARKS2, req.settings).expect("invariant: a bookmark node");
                let node = store.create(ns::BOOKMARKS2, config, req.settings)?;
                store.save(&node)?;
                node
            }
        };
        for gone in node.items.clone() {
            if !wanted.iter().any(|(j, _)| *j == gone) && store.remove(&mut node, &gone)? {
                notify::broadcast(
                    req.owner,
                    &node,
                    &notify::retract_event(ns::BOOKMARKS2, &gone),
                );
            }
        }
        for (jid, c) in &wanted {
            let same = store
                .item(&node, jid)?
                .is_some_and(|old| canonical(&old) == *c);
            if !same {
                store.put(&mut node, jid, c)?;
                notify::broadcast(
                    req.owner,
                    &node,
                    &notify::items_event(ns::BOOKMARKS2, jid, Some(c)),
                );
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        log_failure(req.owner, "update urn:xmpp:bookmarks:1", &e);
    }
}

/// XEP-0049 get of `<storage xmlns='storage:bookmarks'/>`: the XEP-0048 document, or an empty
/// one.
pub(crate) fn private_get(owner: &str) -> Result<Element, PubsubError> {
    Ok(legacy(&Store::of(owner))?.unwrap_or_else(|| Element::bare("storage", ns::BOOKMARKS)))
}

/// XEP-0049 set of `<storage xmlns='storage:bookmarks'/>`: stored as the `storage:bookmarks`
/// node's item (notified like a publish) and converted to native items.
pub(crate) fn private_set(req: &Req<'_>, storage: &Element) -> Result<(), PubsubError> {
    if String::from(storage).len() > req.settings.max_item_bytes {
        return Err(tessera_sdk::StanzaError::not_acceptable()
            .with_text("the bookmarks are too large")
            .into());
    }
    let store = req.store();
    let defaults = defaults(ns::BOOKMARKS, req.settings).expect("invariant: a bookmark node");
    let (node, _) = publish_item(
        &store,
        req.settings,
        ns::BOOKMARKS,
        Some(CURRENT),
        storage,
        &[],
        defaults,
    )?;
    notify::broadcast(
        req.owner,
        &node,
        &notify::items_event(ns::BOOKMARKS, CURRENT, Some(storage)),
    );
    legacy_changed(req, storage);
    Ok(())
}
