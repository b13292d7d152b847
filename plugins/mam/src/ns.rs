//! The namespaces the plugin reads and writes, each with the spec that defines it.

/// `urn:xmpp:mam:2`: archive queries and metadata (XEP-0313), and preferences (XEP-0441).
pub(crate) const MAM: &str = "urn:xmpp:mam:2";
/// `urn:xmpp:mam:2#extended`: the `before-id`/`after-id`/`ids` fields, `<flip-page/>` and
/// `<metadata/>` (XEP-0313, "Determining support").
pub(crate) const MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// `urn:xmpp:sid:0`: unique and stable stanza ids (XEP-0359 §8).
pub(crate) const SID: &str = "urn:xmpp:sid:0";
/// `urn:xmpp:hints`: message processing hints (XEP-0334 §6).
pub(crate) const HINTS: &str = "urn:xmpp:hints";
/// `urn:xmpp:forward:0`: stanza forwarding (XEP-0297 §4).
pub(crate) const FORWARD: &str = "urn:xmpp:forward:0";
/// `urn:xmpp:delay`: delayed delivery stamps (XEP-0203 §5).
pub(crate) const DELAY: &str = "urn:xmpp:delay";
/// `eu.siacs.conversations.axolotl`: OMEMO as deployed (XEP-0384 0.3, "legacy OMEMO").
pub(crate) const OMEMO_LEGACY: &str = "eu.siacs.conversations.axolotl";
/// `urn:xmpp:omemo:2`: OMEMO encryption (XEP-0384 §7).
pub(crate) const OMEMO: &str = "urn:xmpp:omemo:2";
/// `urn:xmpp:openpgp:0`: OpenPGP for XMPP (XEP-0373 §9).
pub(crate) const OPENPGP: &str = "urn:xmpp:openpgp:0";
/// `jabber:x:encrypted`: legacy OpenPGP (XEP-0027 §2).
pub(crate) const LEGACY_PGP: &str = "jabber:x:encrypted";
