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
/// `urn:xmpp:mam:2`: archive queries (XEP-0313), here on a room.
pub(crate) const MAM: &str = "urn:xmpp:mam:2";
/// `urn:xmpp:sid:0`: unique and stable stanza ids (XEP-0359 §8).
pub(crate) const SID: &str = "urn:xmpp:sid:0";
/// `urn:xmpp:hints`: message processing hints (XEP-0334 §6).
pub(crate) const HINTS: &str = "urn:xmpp:hints";
/// `urn:xmpp:forward:0`: stanza forwarding (XEP-0297 §4).
pub(crate) const FORWARD: &str = "urn:xmpp:forward:0";
/// `urn:xmpp:delay`: delayed delivery stamps (XEP-0203 §5).
pub(crate) const DELAY: &str = "urn:xmpp:delay";
/// `urn:xmpp:ping`: XMPP ping (XEP-0199 §3), answered for an occupant's self-ping (XEP-0410).
pub(crate) const PING: &str = "urn:xmpp:ping";
/// XEP-0410 §5: the room answers an occupant's ping to its own occupant JID itself.
pub(crate) const SELF_PING: &str = "http://jabber.org/protocol/muc#self-ping-optimization";
/// `urn:xmpp:occupant-id:0`: anonymous, stable occupant ids (XEP-0421 §4).
pub(crate) const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// XEP-0045 §15.5.2: the `FORM_TYPE` of voice requests and their approval (§7.13, §8.6).
pub(crate) const MUC_REQUEST: &str = "http://jabber.org/protocol/muc#request";
