//! The namespaces this plugin reads or writes, each with the specification that defines it.

/// `urn:xmpp:delay` (XEP-0203 §3): the delay stamp on a message delivered late.
pub(crate) const DELAY: &str = "urn:xmpp:delay";
/// `urn:xmpp:hints` (XEP-0334 §4): message processing hints (`store`, `no-store`,
/// `no-permanent-store`).
pub(crate) const HINTS: &str = "urn:xmpp:hints";
/// `eu.siacs.conversations.axolotl` (XEP-0384 v0.3): legacy OMEMO `<encrypted/>`.
pub(crate) const OMEMO_LEGACY: &str = "eu.siacs.conversations.axolotl";
/// `urn:xmpp:omemo:2` (XEP-0384 v0.8+ §4.4): OMEMO `<encrypted/>`.
pub(crate) const OMEMO_2: &str = "urn:xmpp:omemo:2";
/// `urn:xmpp:openpgp:0` (XEP-0373 §3.1): an OpenPGP for XMPP `<openpgp/>` element.
pub(crate) const OPENPGP: &str = "urn:xmpp:openpgp:0";
/// The disco#info feature for offline storage: `msgoffline` from the XMPP Registrar's feature
/// registry (XEP-0030 §11.3), as Prosody's, ejabberd's and MongooseIM's `mod_offline` advertise.
pub(crate) const FEATURE_MSGOFFLINE: &str = "msgoffline";
