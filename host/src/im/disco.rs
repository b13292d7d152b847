//! XEP-0030 service discovery for the server and for accounts.
//!
//! Only features the server actually implements are advertised: a client that trusts disco must
//! not be sent to a namespace that answers `service-unavailable`.

use minidom::Element;

use super::error::Condition;
use super::stanza::set_attr;
use crate::ns;
use crate::plugins::iq::DiscoIdentity;

fn identity(category: &str, ty: &str) -> Element {
    let mut el = Element::bare("identity", ns::DISCO_INFO);
    set_attr(&mut el, "category", category);
    set_attr(&mut el, "type", ty);
    el
}

fn named_identity(i: &DiscoIdentity) -> Element {
    let mut el = identity(&i.category, &i.type_);
    if let Some(name) = &i.name {
        set_attr(&mut el, "name", name.as_str());
    }
    el
}

fn feature(var: &str) -> Element {
    let mut el = Element::bare("feature", ns::DISCO_INFO);
    set_attr(&mut el, "var", var);
    el
}

/// XEP-0030 §3.1/§3.2: a request for a node we do not have is `item-not-found`.
fn no_node(query: &Element) -> Result<(), Condition> {
    match query.attr("node") {
        None => Ok(()),
        Some(_) => Err(Condition::ItemNotFound),
    }
}

/// The features the server itself answers (the IQ namespaces handled in `iq`).
pub(crate) fn server_features(version: bool) -> Vec<&'static str> {
    let mut features = vec![
        ns::COMMANDS,
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
        ns::PING,
        ns::TIME,
    ];
    if version {
        features.push(ns::VERSION);
    }
    features
}

/// disco#info of the server: identity server/im (XEP-0030 §3.1, Registrar "server") and the
/// server's features, with the plugins' identities and features merged in. Identities are
/// unique by category, type and name and features by `var` (XEP-0030 §3.1: "MUST NOT" repeat),
/// both sorted, so the answer is stable (as XEP-0115 hashing wants).
pub(crate) fn server_info(
    query: &Element,
    version: bool,
    plugin_features: &[String],
    plugin_identities: &[DiscoIdentity],
) -> Result<Element, Condition> {
    no_node(query)?;
    let mut identities = vec![DiscoIdentity {
        category: "server".to_owned(),
        type_: "im".to_owned(),
        name: None,
    }];
    identities.extend_from_slice(plugin_identities);
    identities.sort();
    identities.dedup();
    let mut features: Vec<&str> = server_features(version);
    features.extend(plugin_features.iter().map(String::as_str));
    features.sort_unstable();
    features.dedup();
    let mut q = Element::bare("query", ns::DISCO_INFO);
    for i in &identities {
        q.append_child(named_identity(i));
    }
    for var in features {
        q.append_child(feature(var));
    }
    Ok(q)
}

/// disco#info of an account, answered by its server (XEP-0030 §3.1 "account/registered"). The
/// account's own IQ features are disco#info and ping, both answered by the server, plus `extra`:
/// for the owner asking, the features of the plugins serving IQs on its bare JID (MAM); for
/// anybody else, none.
pub(crate) fn account_info(query: &Element, extra: &[String]) -> Result<Element, Condition> {
    no_node(query)?;
    let mut q = Element::bare("query", ns::DISCO_INFO);
    q.append_child(identity("account", "registered"));
    q.append_child(feature(ns::DISCO_INFO));
    q.append_child(feature(ns::PING));
    for f in extra {
        if f != ns::DISCO_INFO && f != ns::PING {
            q.append_child(feature(f));
        }
    }
    Ok(q)
}

/// disco#items (XEP-0030 §4.1): `services` are the JIDs listed (plugins' service domains for
/// the server; none for an account).
pub(crate) fn items(query: &Element, services: &[String]) -> Result<Element, Condition> {
    no_node(query)?;
    let mut q = Element::bare("query", ns::DISCO_ITEMS);
    for jid in services {
        let mut item = Element::bare("item", ns::DISCO_ITEMS);
        set_attr(&mut item, "jid", jid.as_str());
        q.append_child(item);
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ns: &str, node: bool) -> Element {
        let mut el = Element::bare("query", ns);
        if node {
            set_attr(&mut el, "node", "x");
        }
        el
    }

    fn vars(el: &Element) -> Vec<String> {
        el.children()
            .filter(|c| c.is("feature", ns::DISCO_INFO))
            .filter_map(|c| c.attr("var").map(str::to_owned))
            .collect()
    }

    #[test]
    fn server_info_lists_identity_and_features() {
        let info = server_info(&q(ns::DISCO_INFO, false), false, &[], &[]).expect("info");
        let id = info
            .get_child("identity", ns::DISCO_INFO)
            .expect("identity");
        assert_eq!(
            (id.attr("category"), id.attr("type")),
            (Some("server"), Some("im"))
        );
        assert_eq!(
            vars(&info),
            [
                ns::COMMANDS,
                ns::DISCO_INFO,
                ns::DISCO_ITEMS,
                ns::PING,
                ns::TIME
            ]
        );
        let info = server_info(&q(ns::DISCO_INFO, false), true, &[], &[]).expect("info");
        assert!(vars(&info).iter().any(|v| v == ns::VERSION));
    }

    #[test]
    fn plugin_features_and_identities_merge_sorted_and_unique() {
        let id = |c: &str, t: &str, n: Option<&str>| DiscoIdentity {
            category: c.to_owned(),
            type_: t.to_owned(),
            name: n.map(str::to_owned),
        };
        let info = server_info(
            &q(ns::DISCO_INFO, false),
            false,
            &[
                "urn:example:b".to_owned(),
                ns::PING.to_owned(),
                "urn:example:b".to_owned(),
            ],
            &[
                id("store", "file", Some("Files")),
                id("server", "im", None),
                id("store", "file", Some("Files")),
                id("store", "file", Some("Other")),
            ],
        )
        .expect("info");
        let v = vars(&info);
        assert_eq!(v.iter().filter(|v| *v == "urn:example:b").count(), 1);
        assert_eq!(v.iter().filter(|v| *v == ns::PING).count(), 1);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(v, sorted);
        let ids: Vec<(Option<&str>, Option<&str>, Option<&str>)> = info
            .children()
            .filter(|c| c.is("identity", ns::DISCO_INFO))
            .map(|c| (c.attr("category"), c.attr("type"), c.attr("name")))
            .collect();
        assert_eq!(
            ids,
            [
                (Some("server"), Some("im"), None),
                (Some("store"), Some("file"), Some("Files")),
                (Some("store"), Some("file"), Some("Other")),
            ]
        );
    }

    #[test]
    fn account_info_identity() {
        let info =
            account_info(&q(ns::DISCO_INFO, false), &["urn:xmpp:mam:2".to_owned()]).expect("info");
        let id = info
            .get_child("identity", ns::DISCO_INFO)
            .expect("identity");
        assert_eq!(
            (id.attr("category"), id.attr("type")),
            (Some("account"), Some("registered"))
        );
        let features: Vec<_> = info
            .children()
            .filter(|c| c.is("feature", ns::DISCO_INFO))
            .filter_map(|c| c.attr("var"))
            .collect();
        assert_eq!(features, [ns::DISCO_INFO, ns::PING, "urn:xmpp:mam:2"]);
    }

    #[test]
    fn unknown_nodes_are_not_found() {
        assert_eq!(
            server_info(&q(ns::DISCO_INFO, true), false, &[], &[]),
            Err(Condition::ItemNotFound)
        );
        assert_eq!(
            items(&q(ns::DISCO_ITEMS, true), &[]),
            Err(Condition::ItemNotFound)
        );
        assert_eq!(
            items(&q(ns::DISCO_ITEMS, false), &[]).map(|e| e.children().count()),
            Ok(0)
        );
    }
}
