//! XML namespaces the host speaks, each with the specification that defines it.

/// RFC 6120 §4.8.2: default namespace of client-to-server streams.
pub(crate) const JABBER_CLIENT: &str = "jabber:client";
/// RFC 6120 §5.4: STARTTLS.
pub(crate) const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// RFC 6120 §6.4: SASL.
pub(crate) const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// RFC 6120 §7: resource binding.
pub(crate) const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 3921 §3 / draft-cridland-xmpp-session: the legacy session establishment, optional.
pub(crate) const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// RFC 6120 §8.3.2: stanza error conditions.
pub(crate) const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// RFC 6121 §2: roster management.
pub(crate) const ROSTER: &str = "jabber:iq:roster";
/// RFC 6121 §2.6: roster versioning stream feature.
pub(crate) const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
/// RFC 6121 §3.4: subscription pre-approval stream feature.
pub(crate) const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
/// XEP-0388: extensible SASL profile.
pub(crate) const SASL2: &str = "urn:xmpp:sasl:2";
/// XEP-0484: fast authentication streamlining tokens.
pub(crate) const FAST: &str = "urn:xmpp:fast:0";
/// XEP-0386: Bind 2.
pub(crate) const BIND2: &str = "urn:xmpp:bind:0";
/// XEP-0198: stream management.
pub(crate) const SM: &str = "urn:xmpp:sm:3";
/// XEP-0203: delayed delivery.
pub(crate) const DELAY: &str = "urn:xmpp:delay";
/// XEP-0352: client state indication.
pub(crate) const CSI: &str = "urn:xmpp:csi:0";
/// XEP-0280: message carbons (copies the host recognises, never produces).
pub(crate) const CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0313: message archive management (results the host recognises, never produces).
pub(crate) const MAM: &str = "urn:xmpp:mam:2";
/// XEP-0115: entity capabilities.
pub(crate) const CAPS: &str = "http://jabber.org/protocol/caps";
/// XEP-0157 (an XEP-0128 form type): contact addresses.
pub(crate) const SERVER_INFO: &str = "http://jabber.org/network/serverinfo";
/// XEP-0030: service discovery, info.
pub(crate) const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030: service discovery, items.
pub(crate) const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0199: XMPP ping.
pub(crate) const PING: &str = "urn:xmpp:ping";
/// XEP-0202: entity time.
pub(crate) const TIME: &str = "urn:xmpp:time";
/// XEP-0092: software version.
pub(crate) const VERSION: &str = "jabber:iq:version";
/// XEP-0050: ad-hoc commands.
pub(crate) const COMMANDS: &str = "http://jabber.org/protocol/commands";
/// XEP-0004: data forms.
pub(crate) const DATA_FORMS: &str = "jabber:x:data";
