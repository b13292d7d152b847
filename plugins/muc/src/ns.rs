//! The namespaces this plugin speaks.

/// XEP-0045 §19.1: the protocol, and the `<x/>` a client joins with.
pub(crate) const MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045 §19.1: the `<x/>` of occupant presence and status codes.
pub(crate) const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0045 §19.1: role and affiliation changes and lists (§8, §9).
pub(crate) const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// XEP-0045 §19.1: room configuration and destruction (§10).
pub(crate) const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0045 §15.5.3: the room configuration form's `FORM_TYPE`.
pub(crate) const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// XEP-0045 §15.5.4: the extended room information form's `FORM_TYPE` (§6.4).
pub(crate) const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";
/// XEP-0030: service discovery, information.
pub(crate) const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030: service discovery, items.
pub(crate) const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// RFC 6120 §4.9.1.1: the client stream's content namespace.
pub(crate) const CLIENT: &str = "jabber:client";
