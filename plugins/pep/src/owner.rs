//! The `http://jabber.org/protocol/pubsub#owner` requests (XEP-0060 §8) a PEP service answers
//! its owner: configure a node (§8.2) and read the default configuration (§8.3), delete (§8.4)
//! and purge (§8.5) a node, read and set affiliations (§8.9: the whitelist's members).

use tessera_sdk::StanzaError;
use tessera_sdk::jid::BareJid;
use tessera_sdk::minidom::Element;

use crate::error::PubsubError;
use crate::node::{Access, Config};
use crate::pubsub::{Req, existing, fields, form, node_attr};
use crate::{bookmarks, notify, ns, xml};

fn owner_pubsub(child: Element) -> Element {
    xml::with(Element::bare("pubsub", ns::PUBSUB_OWNER), child)
}

/// The `pubsub#node_config` form (`type='form'`) for `config`.
pub(crate) fn config_form(config: &Config) -> Element {
    let mut x = xml::el("x", ns::DATA_FORMS, &[("type", "form")]);
    let field = |var: &str, ty: &str, values: &[String]| {
        let mut f = xml::el("field", ns::DATA_FORMS, &[("var", var), ("type", ty)]);
        for v in values {
            let mut value = Element::bare("value", ns::DATA_FORMS);
            value.append_text_node(v.as_str());
            f.append_child(value);
        }
        f
    };
    x.append_child(field("FORM_TYPE", "hidden", &[ns::NODE_CONFIG.to_owned()]));
    for (var, ty, values) in config.fields() {
        let mut f = field(var, ty, &values);
        if var == "pubsub#access_model" {
            for option in [Access::Open, Access::Presence, Access::Whitelist] {
                let value = xml::with(Element::bare("option", ns::DATA_FORMS), {
                    let mut v = Element::bare("value", ns::DATA_FORMS);
                    v.append_text_node(option.as_str());
                    v
                });
                f.append_child(value);
            }
        }
        x.append_child(f);
    }
    x
}

fn configure(req: &Req<'_>, el: &Element, set: bool) -> Result<Option<Element>, PubsubError> {
    let name = node_attr(el)?;
    let store = req.store();
    let mut node = existing(&store, name)?;
    if !set {
        let configure = xml::with(
            xml::el("configure", ns::PUBSUB_OWNER, &[("node", name)]),
            config_form(&node.config),
        );
        return Ok(Some(owner_pubsub(configure)));
    }
    let Some(x) = form(el) else {
        return Err(StanzaError::bad_request().into());
    };
    // XEP-0060 §8.2.5: a cancelled configuration changes nothing.
    if x.attr("type") == Some("cancel") {
        return Ok(None);
    }
    let mut config = node.config.clone();
    for (var, value) in fields(x) {
        config.apply(&var, &value, req.settings)?;
    }
    node.config = config;
    store.trim(&mut node)?;
    Ok(None)
}

fn delete(req: &Req<'_>, el: &Element) -> Result<Option<Element>, PubsubError> {
    let name = node_attr(el)?;
    let store = req.store();
    let mut node = existing(&store, name)?;
    // The audience is the node's, computed before it goes.
    let notify = node.config.notify_delete;
    let snapshot = node.clone();
    store.delete(&mut node)?;
    if notify {
        notify::broadcast(
            req.owner,
            &snapshot,
            &xml::el("delete", ns::PUBSUB_EVENT, &[("node", name)]),
        );
    }
    bookmarks::after_change(req, name);
    Ok(None)
}

fn purge(req: &Req<'_>, el: &Element) -> Result<Option<Element>, PubsubError> {
    let name = node_attr(el)?;
    let store = req.store();
    let mut node = existing(&store, name)?;
    store.purge(&mut node)?;
    notify::broadcast(
        req.owner,
        &node,
        &xml::el("purge", ns::PUBSUB_EVENT, &[("node", name)]),
    );
    bookmarks::after_change(req, name);
    Ok(None)
}

fn affiliations(req: &Req<'_>, el: &Element, set: bool) -> Result<Option<Element>, PubsubError> {
    let name = node_attr(el)?;
    let store = req.store();
    let mut node = existing(&store, name)?;
    if !set {
        let mut list = xml::el("affiliations", ns::PUBSUB_OWNER, &[("node", name)]);
        list.append_child(xml::el(
            "affiliation",
            ns::PUBSUB_OWNER,
            &[("jid", req.owner), ("affiliation", "owner")],
        ));
        for m in &node.members {
            list.append_child(xml::el(
                "affiliation",
                ns::PUBSUB_OWNER,
                &[("jid", m), ("affiliation", "member")],
            ));
        }
        return Ok(Some(owner_pubsub(list)));
    }
    let mut members = node.members.clone();
    for a in el
        .children()
        .filter(|c| c.is("affiliation", ns::PUBSUB_OWNER))
    {
        let jid = a
            .attr("jid")
            .and_then(|j| BareJid::new(j).ok())
            .ok_or_else(|| PubsubError::from(StanzaError::bad_request()))?
            .to_string();
        if crate::access::same(&jid, req.owner) {
            // The owner stays the owner (XEP-0060 §8.9.2.4 lets a service refuse this).
            return Err(StanzaError::not_acceptable()
                .with_text("the owner's affiliation cannot change")
                .into());
        }
        members.retain(|m| !crate::access::same(m, &jid));
        match a.attr("affiliation") {
            Some("member") => members.push(jid),
            Some("none") => {}
            _ => return Err(PubsubError::unsupported("modify-affiliations")),
        }
    }
    // A whitelist of at most `max_items` members keeps the node's metadata small.
    if members.len() > req.settings.max_items as usize {
        return Err(StanzaError::not_acceptable()
            .with_text("too many members")
            .into());
    }
    node.members = members;
    store.save(&node)?;
    Ok(None)
}

/// Answers a `{…pubsub#owner}pubsub` request from the owner.
pub(crate) fn handle(
    req: &Req<'_>,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    if !req.is_owner() {
        return Err(PubsubError::forbidden());
    }
    let verb = ps
        .children()
        .find(|c| c.ns() == ns::PUBSUB_OWNER)
        .ok_or_else(|| PubsubError::from(StanzaError::bad_request()))?;
    match (set, verb.name()) {
        (_, "configure") => configure(req, verb, set),
        (false, "default") => {
            let default = xml::with(
                Element::bare("default", ns::PUBSUB_OWNER),
                config_form(&Config::default_for(req.settings)),
            );
            Ok(Some(owner_pubsub(default)))
        }
        (true, "delete") => delete(req, verb),
        (true, "purge") => purge(req, verb),
        (_, "affiliations") => affiliations(req, verb, set),
        (_, "subscriptions") => Err(PubsubError::unsupported("manage-subscriptions")),
        _ => Err(StanzaError::bad_request().into()),
    }
}
