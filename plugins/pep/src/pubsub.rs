//! The `http://jabber.org/protocol/pubsub` requests of XEP-0060 a PEP service answers
//! (XEP-0163 §7): publish (with auto-create and publish-options), retract, retrieve items and
//! create; subscriptions are implicit in PEP (XEP-0163 §4.3, presence and `+notify`), so the
//! explicit subscription requests are `feature-not-implemented`.

use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, clock};

use crate::config::Settings;
use crate::error::PubsubError;
use crate::node::{Config, MAX_NAME_BYTES, Node, Store};
use crate::{access, avatar, bookmarks, notify, ns, xml};

/// What a request acts on: `owner`'s service, asked by `requester` (both bare JIDs).
pub(crate) struct Req<'a> {
    pub(crate) owner: &'a str,
    pub(crate) requester: &'a str,
    pub(crate) settings: &'a Settings,
}

impl Req<'_> {
    pub(crate) fn is_owner(&self) -> bool {
        access::same(self.owner, self.requester)
    }

    pub(crate) fn store(&self) -> Store {
        Store::of(self.owner)
    }
}

/// The largest items result the plugin builds, serialised: an answer is a stanza too, under
/// the host's `limits.stanza_bytes` (256 KiB by default). Past it, the oldest of the requested
/// items are left out (XEP-0060 §6.5.7 lets a service return fewer); the newest is always
/// sent.
const RESULT_BUDGET: usize = 200 * 1024;

/// A data form child of `parent`.
pub(crate) fn form(parent: &Element) -> Option<&Element> {
    parent.children().find(|c| c.is("x", ns::DATA_FORMS))
}

/// A form's fields as (var, first value), without `FORM_TYPE`.
pub(crate) fn fields(form: &Element) -> Vec<(String, String)> {
    form.children()
        .filter(|f| f.is("field", ns::DATA_FORMS))
        .filter_map(|f| {
            let var = f.attr("var")?;
            if var == "FORM_TYPE" {
                return None;
            }
            let value = f
                .children()
                .find(|v| v.is("value", ns::DATA_FORMS))
                .map(Element::text)
                .unwrap_or_default();
            Some((var.to_owned(), value))
        })
        .collect()
}

/// A node name from the `node` attribute (XEP-0060 §14.4 `nodeid-required` without one).
pub(crate) fn node_attr(el: &Element) -> Result<&str, PubsubError> {
    match el.attr("node") {
        Some(n) if !n.is_empty() && n.len() <= MAX_NAME_BYTES => Ok(n),
        Some(n) if !n.is_empty() => Err(StanzaError::not_acceptable()
            .with_text("the node name is too long")
            .into()),
        _ => Err(PubsubError::bad_request("nodeid-required")),
    }
}

/// Loads node `name` or answers `item-not-found` (XEP-0060 §6.5.9.11, §7.1.3.3).
pub(crate) fn existing(store: &Store, name: &str) -> Result<Node, PubsubError> {
    store.load(name)?.ok_or_else(PubsubError::item_not_found)
}

/// Publishes `payload` as item `id` (generated when `None`) to `owner`'s node `name`, creating
/// the node with `defaults` and then `options` if it does not exist; checks `options` as
/// preconditions if it does (XEP-0060 §7.1.5). No notification: the caller sends it.
pub(crate) fn publish_item(
    store: &Store,
    settings: &Settings,
    name: &str,
    id: Option<&str>,
    payload: &Element,
    options: &[(String, String)],
    defaults: Config,
) -> Result<(Node, String), PubsubError> {
    let mut node = match store.load(name)? {
        Some(node) => {
            if !options
                .iter()
                .all(|(var, value)| node.config.satisfies(var, value, settings))
            {
                return Err(PubsubError::precondition_not_met());
            }
            node
        }
        None => {
            let mut config = defaults;
            for (var, value) in options {
                config
                    .apply(var, value, settings)
                    .map_err(|_| PubsubError::precondition_not_met())?;
            }
            store.create(name, config, settings)?
        }
    };
    let id = match id {
        Some(id) => id.to_owned(),
        None => node.new_item_id(clock::now_ms()),
    };
    store.put(&mut node, &id, payload)?;
    Ok((node, id))
}

/// `<pubsub xmlns='…pubsub'>{child}</pubsub>`.
fn pubsub(child: Element) -> Element {
    xml::with(Element::bare("pubsub", ns::PUBSUB), child)
}

/// XEP-0060 §7.1: publish an item (owner only, XEP-0163 §7).
fn publish(req: &Req<'_>, ps: &Element, publish: &Element) -> Result<Option<Element>, PubsubError> {
    if !req.is_owner() {
        return Err(PubsubError::forbidden());
    }
    let name = node_attr(publish)?;
    let items: Vec<&Element> = publish
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .collect();
    let item = match items.as_slice() {
        // XEP-0060 §7.1.3.6: a persistent node needs an item.
        [] => return Err(PubsubError::bad_request("item-required")),
        [item] => *item,
        // One item per publish: what every PEP client sends.
        _ => return Err(PubsubError::bad_request("invalid-payload")),
    };
    let payloads: Vec<&Element> = item.children().collect();
    let payload = match payloads.as_slice() {
        [] => return Err(PubsubError::bad_request("payload-required")),
        [payload] => (*payload).clone(),
        // XEP-0060 §7.1.3.5: more than one payload element.
        _ => return Err(PubsubError::bad_request("invalid-payload")),
    };
    if String::from(&payload).len() > req.settings.max_item_bytes {
        return Err(PubsubError::app(
            StanzaError::not_acceptable().with_text(format!(
                "an item may be at most {} KiB",
                req.settings.max_item_bytes / 1024
            )),
            "payload-too-big",
        ));
    }
    let id = item.attr("id").filter(|i| !i.is_empty());
    if id.is_some_and(|i| i.len() > MAX_NAME_BYTES) {
        return Err(StanzaError::not_acceptable()
            .with_text("the item id is too long")
            .into());
    }
    let options = ps
        .get_child("publish-options", ns::PUBSUB)
        .and_then(form)
        .map(fields)
        .unwrap_or_default();
    let store = req.store();
    let defaults = bookmarks::defaults(name, req.settings)
        .unwrap_or_else(|| Config::default_for(req.settings));
    let (node, id) = publish_item(&store, req.settings, name, id, &payload, &options, defaults)?;
    notify::broadcast(
        req.owner,
        &node,
        &notify::items_event(name, &id, Some(&payload)),
    );
    bookmarks::after_publish(req, name, &payload);
    avatar::after_publish(&store, name, &payload);
    let answer = xml::with(
        xml::el("publish", ns::PUBSUB, &[("node", name)]),
        xml::el("item", ns::PUBSUB, &[("id", &id)]),
    );
    Ok(Some(pubsub(answer)))
}

/// XEP-0060 §7.2: delete an item (owner only); notifies when asked (`notify`, §7.2.2.1) or
/// when the node's `pubsub#notify_retract` says so and the request did not say otherwise.
fn retract(req: &Req<'_>, retract: &Element) -> Result<Option<Element>, PubsubError> {
    if !req.is_owner() {
        return Err(PubsubError::forbidden());
    }
    let name = node_attr(retract)?;
    let Some(id) = retract
        .children()
        .find(|c| c.is("item", ns::PUBSUB))
        .and_then(|i| i.attr("id"))
        .filter(|i| !i.is_empty())
    else {
        return Err(PubsubError::bad_request("item-required"));
    };
    let store = req.store();
    let mut node = existing(&store, name)?;
    if !store.remove(&mut node, id)? {
        return Err(PubsubError::item_not_found());
    }
    let notify = match retract.attr("notify").map(xml::boolean) {
        Some(Some(asked)) => asked,
        _ => node.config.notify_retract,
    };
    if notify {
        notify::broadcast(req.owner, &node, &notify::retract_event(name, id));
    }
    bookmarks::after_change(req, name);
    Ok(None)
}

/// XEP-0060 §6.5: retrieve items, all, the newest `max_items`, or by id.
fn items(req: &Req<'_>, items: &Element) -> Result<Option<Element>, PubsubError> {
    let name = node_attr(items)?;
    let store = req.store();
    let node = existing(&store, name)?;
    access::may_read(req.owner, req.requester, &node)?;
    let asked: Vec<&str> = items
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .filter_map(|c| c.attr("id"))
        .collect();
    let ids: Vec<&String> = if asked.is_empty() {
        let max = items
            .attr("max_items")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        node.items.iter().rev().take(max).collect()
    } else {
        let found: Vec<&String> = node
            .items
            .iter()
            .rev()
            .filter(|i| asked.contains(&i.as_str()))
            .collect();
        if found.is_empty() {
            return Err(PubsubError::item_not_found());
        }
        found
    };
    // Newest first while the budget lasts, then back to chronological order.
    let mut out = Vec::new();
    let mut size = 0;
    for id in ids {
        let Some(payload) = store.item(&node, id)? else {
            continue;
        };
        let item = xml::with(xml::el("item", ns::PUBSUB, &[("id", id)]), payload);
        size += String::from(&item).len();
        if size > RESULT_BUDGET && !out.is_empty() {
            break;
        }
        out.push(item);
    }
    out.reverse();
    let mut answer = xml::el("items", ns::PUBSUB, &[("node", name)]);
    for item in out {
        answer.append_child(item);
    }
    Ok(Some(pubsub(answer)))
}

/// XEP-0060 §8.1: create a node, optionally configured (§8.1.3); owner only.
fn create(req: &Req<'_>, ps: &Element, create: &Element) -> Result<Option<Element>, PubsubError> {
    if !req.is_owner() {
        return Err(PubsubError::forbidden());
    }
    // XEP-0060 §8.1.2 instant nodes make no sense for PEP, whose nodes are named by namespace.
    let name = create
        .attr("node")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| PubsubError::unsupported("instant-nodes"))?;
    let name = node_attr(create).map(|_| name)?;
    let store = req.store();
    if store.load(name)?.is_some() {
        return Err(StanzaError::new(tessera_sdk::ErrorType::Cancel, "conflict").into());
    }
    let mut config = bookmarks::defaults(name, req.settings)
        .unwrap_or_else(|| Config::default_for(req.settings));
    if let Some(form) = ps.get_child("configure", ns::PUBSUB).and_then(form) {
        for (var, value) in fields(form) {
            config.apply(&var, &value, req.settings)?;
        }
    }
    let node = store.create(name, config, req.settings)?;
    store.save(&node)?;
    Ok(None)
}

/// Answers a `{…pubsub}pubsub` request: `ps` is the `<pubsub/>` element, `set` its IQ type.
pub(crate) fn handle(
    req: &Req<'_>,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    let verb = ps
        .children()
        .find(|c| c.ns() == ns::PUBSUB && !matches!(c.name(), "publish-options" | "configure"))
        .ok_or_else(|| PubsubError::from(StanzaError::bad_request()))?;
    match (set, verb.name()) {
        (true, "publish") => publish(req, ps, verb),
        (true, "retract") => retract(req, verb),
        (false, "items") => items(req, verb),
        (true, "create") => create(req, ps, verb),
        (true, "subscribe" | "unsubscribe") => Err(PubsubError::unsupported("subscribe")),
        (_, "options") => Err(PubsubError::unsupported("subscription-options")),
        (false, "subscriptions") => Err(PubsubError::unsupported("retrieve-subscriptions")),
        (false, "affiliations") => Err(PubsubError::unsupported("retrieve-affiliations")),
        (false, "default") => Err(PubsubError::unsupported("retrieve-default-sub")),
        _ => Err(StanzaError::bad_request().into()),
    }
}
