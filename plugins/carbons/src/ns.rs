//! The namespaces this plugin reads or writes, each with the specification that defines it.

/// `jabber:client` (RFC 6120 §4.8.3): the stanzas' own namespace.
pub(crate) const CLIENT: &str = "jabber:client";
/// `urn:xmpp:carbons:2`: `enable` and `disable` (XEP-0280 §4, §5), `received` (§7), `sent`
/// (§8), `private` (§9); also the disco#info feature (§3).
pub(crate) const CARBONS: &str = "urn:xmpp:carbons:2";
/// `urn:xmpp:forward:0` (XEP-0297 §3): the `forwarded` wrapper inside a carbon.
pub(crate) const FORWARD: &str = "urn:xmpp:forward:0";
/// `urn:xmpp:hints` (XEP-0334 §4.4): `no-copy`, "do not copy to other resources".
pub(crate) const HINTS: &str = "urn:xmpp:hints";
/// `http://jabber.org/protocol/muc#user` (XEP-0045 §17.2): marks a MUC private message, which
/// is not copied (XEP-0280 §6).
pub(crate) const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
