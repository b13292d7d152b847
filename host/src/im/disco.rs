//! XEP-0030 service discovery for the server and for accounts.
//!
//! Only features the server actually implements are advertised: a client that trusts disco must
//! not be sent to a namespace that answers `service-unavailable`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use minidom::Element;
use xmpp_parsers::caps;
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::hashes::Algo;

use super::error::Condition;
use super::stanza::set_attr;
use crate::config::ContactConfig;
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

/// What the server's disco#info is made of: its own features, the loaded plugins' features and
/// identities, and the contact addresses (XEP-0157).
pub(crate) struct ServerInfo<'a> {
    /// `features.version`: XEP-0092 is answered.
    pub(crate) version: bool,
    /// The plugins' features.
    pub(crate) features: &'a [String],
    /// The plugins' identities.
    pub(crate) identities: &'a [DiscoIdentity],
    /// `[contact]`.
    pub(crate) contact: &'a ContactConfig,
}

/// XEP-0115: the node naming this software in the server's caps.
pub(crate) const CAPS_NODE: &str = env!("CARGO_PKG_REPOSITORY");

impl ServerInfo<'_> {
    /// disco#info of the server: identity server/im (XEP-0030 §3.1, Registrar "server") and the
    /// server's features, with the plugins' identities and features merged in, and the contact
    /// addresses as an XEP-0128 form (XEP-0157). Identities are unique by category, type and name
    /// and features by `var` (XEP-0030 §3.1: "MUST NOT" repeat), both sorted, so the answer is
    /// stable (as XEP-0115 hashing wants). `node` is echoed (XEP-0115 §6.2: a query on the caps
    /// node gets the same answer).
    pub(crate) fn query(&self, node: Option<&str>) -> Element {
        let mut identities = vec![DiscoIdentity {
            category: "server".to_owned(),
            type_: "im".to_owned(),
            name: None,
        }];
        identities.extend_from_slice(self.identities);
        identities.sort();
        identities.dedup();
        let mut features: Vec<&str> = server_features(self.version);
        features.extend(self.features.iter().map(String::as_str));
        features.sort_unstable();
        features.dedup();
        let mut q = Element::bare("query", ns::DISCO_INFO);
        if let Some(node) = node {
            set_attr(&mut q, "node", node);
        }
        for i in &identities {
            q.append_child(named_identity(i));
        }
        for var in features {
            q.append_child(feature(var));
        }
        if !self.contact.is_empty() {
            q.append_child(contact_form(self.contact));
        }
        q
    }

    /// The XEP-0115 `ver` of [`ServerInfo::query`] (SHA-1, §5.1), computed by `xmpp-parsers`.
    pub(crate) fn caps_ver(&self) -> Option<String> {
        let info = DiscoInfoResult::try_from(self.query(None)).ok()?;
        let hash = caps::hash_caps(&caps::compute_disco(&info), Algo::Sha_1).ok()?;
        Some(BASE64.encode(hash.hash))
    }

    /// The XEP-0115 stream feature (§6.3): clients that cached this `ver` skip the disco query.
    pub(crate) fn caps_feature(&self) -> Option<String> {
        let ver = self.caps_ver()?;
        Some(format!(
            "<c xmlns='{}' hash='sha-1' node='{CAPS_NODE}' ver='{ver}'/>",
            ns::CAPS
        ))
    }

    /// Whether `node` is our caps node with the current `ver` (`node#ver`, XEP-0115 §6.2).
    pub(crate) fn is_caps_node(&self, node: &str) -> bool {
        node.strip_prefix(CAPS_NODE)
            .and_then(|rest| rest.strip_prefix('#'))
            .is_some_and(|ver| self.caps_ver().as_deref() == Some(ver))
    }
}

/// The XEP-0157 form: `FORM_TYPE` `http://jabber.org/network/serverinfo`, one `list-multi`
/// field per kind of address that has any.
fn contact_form(contact: &ContactConfig) -> Element {
    let mut form = Element::bare("x", ns::DATA_FORMS);
    set_attr(&mut form, "type", "result");
    let field = |var: &str, ty: Option<&str>, values: &[String]| {
        let mut f = Element::bare("field", ns::DATA_FORMS);
        set_attr(&mut f, "var", var);
        if let Some(ty) = ty {
            set_attr(&mut f, "type", ty);
        }
        for v in values {
            let mut value = Element::bare("value", ns::DATA_FORMS);
            value.append_text_node(v.as_str());
            f.append_child(value);
        }
        f
    };
    form.append_child(field(
        "FORM_TYPE",
        Some("hidden"),
        &[ns::SERVER_INFO.to_owned()],
    ));
    for (var, values) in contact.fields().filter(|(_, v)| !v.is_empty()) {
        form.append_child(field(var, Some("list-multi"), values));
    }
    form
}

/// disco#info of an account, answered by its server (XEP-0030 §3.1 "account/registered"). The
/// account's own IQ features are disco#info and ping, both answered by the server, plus `extra`:
/// for the owner asking, the features of the plugins serving IQs on its bare JID (MAM); for
/// anybody else, none. `identities` follow `account/registered`: for the owner, those of the
/// plugins that serve accounts (`pubsub/pep`, XEP-0163 §6.1).
pub(crate) fn account_info(
    query: &Element,
    extra: &[String],
    identities: &[DiscoIdentity],
) -> Result<Element, Condition> {
    no_node(query)?;
    let mut q = Element::bare("query", ns::DISCO_INFO);
    q.append_child(identity("account", "registered"));
    for i in identities {
        q.append_child(named_identity(i));
    }
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

    fn server_info(
        version: bool,
        features: &[String],
        identities: &[DiscoIdentity],
        contact: &ContactConfig,
    ) -> Element {
        ServerInfo {
            version,
            features,
            identities,
            contact,
        }
        .query(None)
    }

    #[test]
    fn server_info_lists_identity_and_features() {
        let none = ContactConfig::default();
        let info = server_info(false, &[], &[], &none);
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
        let info = server_info(true, &[], &[], &none);
        assert!(vars(&info).iter().any(|v| v == ns::VERSION));
        assert!(
            info.get_child("x", ns::DATA_FORMS).is_none(),
            "no contact form without addresses"
        );
    }

    #[test]
    fn plugin_features_and_identities_merge_sorted_and_unique() {
        let id = |c: &str, t: &str, n: Option<&str>| DiscoIdentity {
            category: c.to_owned(),
            type_: t.to_owned(),
            name: n.map(str::to_owned),
        };
        let info = server_info(
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
            &ContactConfig::default(),
        );
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
        let info = account_info(
            &q(ns::DISCO_INFO, false),
            &["urn:xmpp:mam:2".to_owned()],
            &[],
        )
        .expect("info");
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
    fn contact_addresses_are_an_xep_0157_form_and_change_the_caps() {
        let contact = ContactConfig {
            abuse: vec!["mailto:abuse@example.org".into()],
            support: vec![
                "xmpp:help@example.org".into(),
                "https://example.org/help".into(),
            ],
            ..ContactConfig::default()
        };
        let info = server_info(false, &[], &[], &contact);
        let parsed = DiscoInfoResult::try_from(info).expect("xmpp-parsers reads it");
        let form = parsed.extensions.first().expect("one form");
        let server_info = xmpp_parsers::server_info::ServerInfo::try_from(form.clone())
            .expect("an XEP-0157 form");
        assert_eq!(server_info.abuse, ["mailto:abuse@example.org"]);
        assert_eq!(
            server_info.support,
            ["xmpp:help@example.org", "https://example.org/help"]
        );

        let none = ContactConfig::default();
        let plain = ServerInfo {
            version: false,
            features: &[],
            identities: &[],
            contact: &none,
        };
        let with = ServerInfo {
            contact: &contact,
            ..plain
        };
        let ver = plain.caps_ver().expect("ver");
        assert_ne!(Some(ver.clone()), with.caps_ver(), "the form is hashed");
        assert!(plain.is_caps_node(&format!("{CAPS_NODE}#{ver}")));
        assert!(!plain.is_caps_node(&format!("{CAPS_NODE}#stale")));
        assert!(plain.caps_feature().is_some_and(|f| f.contains(&ver)));
        assert_eq!(
            plain.query(Some("n#v")).attr("node"),
            Some("n#v"),
            "the node is echoed"
        );
    }

    #[test]
    fn caps_ver_matches_the_xep_0115_example() {
        // XEP-0115 §5.2's simple example, through the same hashing (identity, features).
        let info: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='client' name='Exodus 0.9.1' type='pc'/>\
            <feature var='http://jabber.org/protocol/caps'/>\
            <feature var='http://jabber.org/protocol/disco#info'/>\
            <feature var='http://jabber.org/protocol/disco#items'/>\
            <feature var='http://jabber.org/protocol/muc'/></query>"
            .parse()
            .expect("xml");
        let info = DiscoInfoResult::try_from(info).expect("disco");
        let hash = caps::hash_caps(&caps::compute_disco(&info), Algo::Sha_1).expect("hash");
        assert_eq!(BASE64.encode(hash.hash), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn unknown_nodes_are_not_found() {
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
