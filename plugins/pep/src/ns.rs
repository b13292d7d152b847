//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `http://jabber.org/protocol/pubsub`: publish, retract, retrieve items (XEP-0060 §7, §6.5).
pub(crate) const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// `http://jabber.org/protocol/pubsub#owner`: node configuration, deletion, purge and
/// affiliations (XEP-0060 §8).
pub(crate) const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// `http://jabber.org/protocol/pubsub#event`: notifications (XEP-0060 §7.1.2, XEP-0163 §4.3).
pub(crate) const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// `http://jabber.org/protocol/pubsub#errors`: application error conditions (XEP-0060 §14.4).
pub(crate) const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// The `FORM_TYPE` of node configuration forms (XEP-0060 §16.4.4).
pub(crate) const NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
/// The `FORM_TYPE` of publish options (XEP-0060 §7.1.5), also its disco feature.
pub(crate) const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// `jabber:x:data`: data forms (XEP-0004).
pub(crate) const DATA_FORMS: &str = "jabber:x:data";
/// `jabber:client`: the stanzas the plugin sends (RFC 6120 §4.8.3).
pub(crate) const CLIENT: &str = "jabber:client";
/// `jabber:iq:private`: private XML storage (XEP-0049), for its `storage:bookmarks` document.
pub(crate) const PRIVATE: &str = "jabber:iq:private";
/// `urn:xmpp:bookmarks:1`: PEP native bookmarks, node and payload (XEP-0402 §3).
pub(crate) const BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
/// `storage:bookmarks`: the XEP-0048 bookmarks document and its XEP-0223 node (XEP-0048 §3).
pub(crate) const BOOKMARKS: &str = "storage:bookmarks";
/// The plugin's own namespace for what it stores (a node's metadata), never on the wire.
pub(crate) const STORED: &str = "urn:tessera:pep:0";
