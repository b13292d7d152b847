//! Stanzas as a plugin sees them: the header fields the host already parsed, the serialised XML,
//! and a [`minidom::Element`] parsed from it on first use, so a plugin that only needs the header
//! never pays for parsing (DESIGN.md, "Plugin model").

use std::cell::OnceCell;
use std::fmt;

use minidom::Element;

use crate::bindings::tessera::plugin::types as wit;
use crate::error::{ParseError, StanzaError};

/// `jabber:client` (RFC 6120 §4.8.3): the namespace of the stanzas this SDK builds.
pub(crate) const NS_CLIENT: &str = "jabber:client";
/// `urn:ietf:params:xml:ns:xmpp-stanzas` (RFC 6120 §8.3.3): stanza error conditions.
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// The three stanza kinds (RFC 6120 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StanzaKind {
    /// `<message/>`.
    Message,
    /// `<presence/>`.
    Presence,
    /// `<iq/>`.
    Iq,
}

impl StanzaKind {
    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "message" => Some(StanzaKind::Message),
            "presence" => Some(StanzaKind::Presence),
            "iq" => Some(StanzaKind::Iq),
            _ => None,
        }
    }
}

impl From<wit::StanzaKind> for StanzaKind {
    fn from(k: wit::StanzaKind) -> Self {
        match k {
            wit::StanzaKind::Message => StanzaKind::Message,
            wit::StanzaKind::Presence => StanzaKind::Presence,
            wit::StanzaKind::Iq => StanzaKind::Iq,
        }
    }
}

impl From<StanzaKind> for wit::StanzaKind {
    fn from(k: StanzaKind) -> Self {
        match k {
            StanzaKind::Message => wit::StanzaKind::Message,
            StanzaKind::Presence => wit::StanzaKind::Presence,
            StanzaKind::Iq => wit::StanzaKind::Iq,
        }
    }
}

/// An element name qualified by its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QName {
    /// The namespace URI, e.g. `urn:xmpp:mam:2`.
    pub namespace: String,
    /// The local name, e.g. `query`.
    pub name: String,
}

impl QName {
    /// A qualified name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl From<wit::Qname> for QName {
    fn from(q: wit::Qname) -> Self {
        Self {
            namespace: q.namespace,
            name: q.name,
        }
    }
}

impl From<QName> for wit::Qname {
    fn from(q: QName) -> Self {
        wit::Qname {
            namespace: q.namespace,
            name: q.name,
        }
    }
}

/// A stanza handed to the plugin. Absent attributes read as empty strings, as on the wire record.
pub struct Stanza {
    kind: StanzaKind,
    type_: String,
    from: String,
    to: String,
    id: String,
    payload: Option<QName>,
    xml: String,
    element: OnceCell<Result<Element, ParseError>>,
}

impl fmt::Debug for Stanza {
    // The XML is left out on purpose: Debug output ends up in logs, and stanza content must not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stanza")
            .field("kind", &self.kind)
            .field("type", &self.type_)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("id", &self.id)
            .field("payload", &self.payload)
            .field("xml_len", &self.xml.len())
            .finish()
    }
}

impl Stanza {
    /// Wraps the record the host sent; nothing is parsed yet.
    pub(crate) fn from_wit(s: wit::Stanza) -> Self {
        Self {
            kind: s.kind.into(),
            type_: s.type_,
            from: s.from,
            to: s.to,
            id: s.id,
            payload: s.payload.map(Into::into),
            xml: s.xml,
            element: OnceCell::new(),
        }
    }

    /// Parses serialised XML and fills the header from it, as the host does: for tests, and for
    /// stanzas a plugin reads back from its own storage.
    ///
    /// # Errors
    ///
    /// The XML does not parse, or its root is not a message, presence or iq.
    pub fn parse(xml: impl Into<String>) -> Result<Self, ParseError> {
        let xml = xml.into();
        let element: Element = xml.parse()?;
        let mut stanza = Self::header_of(&element)?;
        stanza.xml = xml;
        stanza.element = OnceCell::from(Ok(element));
        Ok(stanza)
    }

    /// Builds a stanza from an element (serialising it).
    ///
    /// # Errors
    ///
    /// The root is not a message, presence or iq.
    pub fn from_element(element: Element) -> Result<Self, ParseError> {
        let mut stanza = Self::header_of(&element)?;
        stanza.xml = String::from(&element);
        stanza.element = OnceCell::from(Ok(element));
        Ok(stanza)
    }

    fn header_of(element: &Element) -> Result<Self, ParseError> {
        let kind = StanzaKind::from_name(element.name())
            .ok_or_else(|| ParseError::new(format!("<{}/> is not a stanza", element.name())))?;
        let attr = |name: &str| element.attr(name).unwrap_or_default().to_owned();
        Ok(Self {
            kind,
            type_: attr("type"),
            from: attr("from"),
            to: attr("to"),
            id: attr("id"),
            payload: element
                .children()
                .next()
                .map(|c| QName::new(c.ns(), c.name())),
            xml: String::new(),
            element: OnceCell::new(),
        })
    }

    /// Message, presence or iq.
    pub fn kind(&self) -> StanzaKind {
        self.kind
    }

    /// The `type` attribute (empty when absent).
    pub fn type_attr(&self) -> &str {
        &self.type_
    }

    /// The `from` attribute, a normalised JID (empty when absent).
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The `to` attribute, a normalised JID (empty when absent).
    pub fn to(&self) -> &str {
        &self.to
    }

    /// The `id` attribute (empty when absent).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The first child element's name and namespace.
    pub fn payload(&self) -> Option<&QName> {
        self.payload.as_ref()
    }

    /// The serialised stanza.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// Whether this is an error stanza (`type='error'`), which must never be answered with an
    /// error (RFC 6120 §8.3.1).
    pub fn is_error(&self) -> bool {
        self.type_ == "error"
    }

    /// The parsed stanza; the XML is parsed on the first call only.
    ///
    /// # Errors
    ///
    /// The XML does not parse (the host only sends well-formed stanzas, so this is a host bug).
    pub fn element(&self) -> Result<&Element, ParseError> {
        self.element
            .get_or_init(|| self.xml.parse().map_err(ParseError::from))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The first payload as a typed `xmpp-parsers` value, e.g. `stanza.parse_payload::<Ping>()`.
    ///
    /// # Errors
    ///
    /// There is no payload, or it is not a valid `T`.
    pub fn parse_payload<T>(&self) -> Result<T, ParseError>
    where
        T: TryFrom<Element>,
        T::Error: fmt::Display,
    {
        let child = self
            .element()?
            .children()
            .next()
            .ok_or_else(|| ParseError::new("the stanza has no payload"))?;
        T::try_from(child.clone()).map_err(|e| ParseError::new(e.to_string()))
    }

    /// A message's `<body/>` text (the first one: RFC 6121 §5.2.3 allows one per language).
    /// Parses the XML. `None` for other kinds, for a message without body, and for XML that does
    /// not parse.
    pub fn body(&self) -> Option<String> {
        if self.kind != StanzaKind::Message {
            return None;
        }
        let element = self.element().ok()?;
        element
            .get_child("body", element.ns().as_str())
            .map(Element::text)
    }

    /// A message answering this one with `body`: from this stanza's `to`, to its `from`, with the
    /// same type. `None` if this is not a message or is an error (RFC 6120 §8.3.1: errors are
    /// never answered).
    pub fn reply_message(&self, body: &str) -> Option<Element> {
        if self.kind != StanzaKind::Message || self.is_error() {
            return None;
        }
        let mut reply = self.reply_header("message", &self.type_);
        reply.append_child(Element::builder("body", NS_CLIENT).append(body).build());
        Some(reply)
    }

    /// The `type='result'` answer to an IQ get or set (RFC 6120 §8.2.3), with an optional payload.
    /// `None` if this is not an IQ get or set.
    pub fn iq_result(&self, payload: Option<Element>) -> Option<Element> {
        if self.kind != StanzaKind::Iq || !matches!(self.type_.as_str(), "get" | "set") {
            return None;
        }
        let mut result = self.reply_header("iq", "result");
        if let Some(payload) = payload {
            result.append_child(payload);
        }
        Some(result)
    }

    /// The address an answer to this request comes from when the plugin answers for `account`
    /// (a bare JID): the request's `to`, or, when it had none, the account's bare JID (RFC 6120
    /// §10.3.3: the server answers on the account's behalf).
    pub fn answering_as<'a>(&'a self, account: &'a str) -> &'a str {
        if self.to.is_empty() {
            account
        } else {
            &self.to
        }
    }

    /// [`Stanza::iq_result`] from `from`: for an IQ the `iq` hook delivers with an empty `to`
    /// (RFC 6120 §10.3.3: the server answers for the account), the answer comes from the
    /// account's bare JID or the server's domain, whichever the plugin answers as.
    pub fn iq_result_from(&self, from: &str, payload: Option<Element>) -> Option<Element> {
        let mut result = self.iq_result(payload)?;
        result
            .attrs_mut()
            .insert(minidom::rxml::Namespace::NONE, nc("from"), from.to_owned());
        Some(result)
    }

    /// The error answer to this stanza (RFC 6120 §8.3.1): same kind and id, addresses swapped,
    /// `type='error'`, with the `<error/>` child. `None` if this stanza is itself an error.
    ///
    /// Returning [`crate::Verdict::Error`] has the host do the same; this is for plugins that
    /// answer later or on another path.
    pub fn error_reply(&self, error: &StanzaError) -> Option<Element> {
        if self.is_error() {
            return None;
        }
        let mut reply = self.reply_header(self.kind.as_str(), "error");
        reply.append_child(error_element(error));
        Some(reply)
    }

    /// A stanza of `kind` from this one's `to` to its `from`, keeping the id (an IQ response must).
    fn reply_header(&self, kind: &str, type_: &str) -> Element {
        let mut builder = Element::builder(kind, NS_CLIENT);
        for (name, value) in [("from", &self.to), ("to", &self.from), ("id", &self.id)] {
            if !value.is_empty() {
                builder = builder.attr(nc(name), value.as_str());
            }
        }
        if !type_.is_empty() {
            builder = builder.attr(nc("type"), type_);
        }
        builder.build()
    }
}

/// The `<error/>` element of RFC 6120 §8.3.2.
pub(crate) fn error_element(error: &StanzaError) -> Element {
    let mut builder = Element::builder("error", NS_CLIENT)
        .attr(nc("type"), error.error_type.as_str())
        .append(Element::bare(error.condition.as_str(), NS_STANZAS));
    if let Some(text) = &error.text {
        builder = builder.append(
            Element::builder("text", NS_STANZAS)
                .append(text.as_str())
                .build(),
        );
    }
    builder.build()
}

/// An attribute name; only called with literals that are valid names.
/// Whether an IQ `account` (a bare JID) sent to `to` is about the account itself: no `to`, the
/// account's own bare JID, or its server's domain (RFC 6120 §10.3.3). That is where the `iq`
/// hook's requests for the account's own data (a blocklist, private storage) come; anything else
/// (another account, a full JID) is not for such a handler.
pub fn addressed_to_account(account: &str, to: &str) -> bool {
    if to.is_empty() {
        return true;
    }
    let (Ok(to), Ok(account)) = (jid::Jid::new(to), jid::BareJid::new(account)) else {
        return false;
    };
    if to.resource().is_some() {
        return false;
    }
    match to.node() {
        Some(_) => to.to_bare() == account,
        None => to.domain() == account.domain(),
    }
}

pub(crate) use crate::xml::attr_name as nc;

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = "<message xmlns='jabber:client' from='juliet@example.com/balcony' \
        to='echo.example.com' type='chat' id='m1'><body>Wherefore art thou?</body></message>";

    #[test]
    fn parse_fills_the_header() {
        let s = Stanza::parse(CHAT).unwrap();
        assert_eq!(s.kind(), StanzaKind::Message);
        assert_eq!(s.type_attr(), "chat");
        assert_eq!(s.from(), "juliet@example.com/balcony");
        assert_eq!(s.to(), "echo.example.com");
        assert_eq!(s.id(), "m1");
        assert_eq!(s.payload(), Some(&QName::new("jabber:client", "body")));
        assert_eq!(s.body().as_deref(), Some("Wherefore art thou?"));
    }

    #[test]
    fn parse_rejects_a_non_stanza() {
        let err = Stanza::parse("<foo xmlns='jabber:client'/>").unwrap_err();
        assert!(err.to_string().contains("not a stanza"), "{err}");
    }

    #[test]
    fn parse_rejects_malformed_xml() {
        assert!(Stanza::parse("<message xmlns='jabber:client'>").is_err());
    }

    #[test]
    fn header_only_stanza_parses_lazily() {
        let s = Stanza::from_wit(wit::Stanza {
            kind: wit::StanzaKind::Message,
            type_: "chat".into(),
            from: "a@b".into(),
            to: "c@d".into(),
            id: String::new(),
            payload: None,
            xml: "<message xmlns='jabber:client'><body>hi</body></message>".into(),
        });
        assert!(s.element.get().is_none());
        assert_eq!(s.body().as_deref(), Some("hi"));
        assert!(s.element.get().is_some());
    }

    #[test]
    fn reply_message_swaps_addresses_and_keeps_type() {
        let s = Stanza::parse(CHAT).unwrap();
        let reply = Stanza::from_element(s.reply_message("Here").unwrap()).unwrap();
        assert_eq!(reply.from(), "echo.example.com");
        assert_eq!(reply.to(), "juliet@example.com/balcony");
        assert_eq!(reply.type_attr(), "chat");
        assert_eq!(reply.body().as_deref(), Some("Here"));
    }

    #[test]
    fn reply_message_refuses_errors_and_other_kinds() {
        let err =
            Stanza::parse("<message xmlns='jabber:client' type='error' from='a@b'/>").unwrap();
        assert!(err.reply_message("x").is_none());
        let iq = Stanza::parse("<iq xmlns='jabber:client' type='get' id='1'/>").unwrap();
        assert!(iq.reply_message("x").is_none());
    }

    #[test]
    fn iq_result_keeps_the_id() {
        let iq = Stanza::parse(
            "<iq xmlns='jabber:client' type='get' id='p1' from='a@b/c' to='b'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .unwrap();
        let result = Stanza::from_element(iq.iq_result(None).unwrap()).unwrap();
        assert_eq!(
            (result.type_attr(), result.id(), result.to()),
            ("result", "p1", "a@b/c")
        );
        let set_result =
            Stanza::parse("<iq xmlns='jabber:client' type='result' id='p1'/>").unwrap();
        assert!(set_result.iq_result(None).is_none());
    }

    #[test]
    fn error_reply_carries_the_condition() {
        let iq = Stanza::parse("<iq xmlns='jabber:client' type='set' id='x' from='a@b/c' to='b'/>")
            .unwrap();
        let err = StanzaError::item_not_found().with_text("gone");
        let reply = iq.error_reply(&err).unwrap();
        assert_eq!(reply.attr("type"), Some("error"));
        let error = reply.get_child("error", NS_CLIENT).unwrap();
        assert_eq!(error.attr("type"), Some("cancel"));
        assert!(error.has_child("item-not-found", NS_STANZAS));
        assert_eq!(error.get_child("text", NS_STANZAS).unwrap().text(), "gone");
        let error_stanza = Stanza::from_element(reply).unwrap();
        assert!(error_stanza.error_reply(&err).is_none());
    }

    #[test]
    fn parse_payload_reads_a_typed_value() {
        let iq = Stanza::parse(
            "<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .unwrap();
        assert!(iq.parse_payload::<xmpp_parsers::ping::Ping>().is_ok());
        let empty = Stanza::parse("<iq xmlns='jabber:client' type='get' id='p'/>").unwrap();
        assert!(empty.parse_payload::<xmpp_parsers::ping::Ping>().is_err());
    }

    #[test]
    fn debug_leaves_the_xml_out() {
        let s = Stanza::parse(CHAT).unwrap();
        assert!(!format!("{s:?}").contains("Wherefore"));
    }

    #[test]
    fn own_account_addressing() {
        let me = "alice@example.com";
        for to in ["", "alice@example.com", "example.com"] {
            assert!(addressed_to_account(me, to), "{to:?}");
        }
        for to in [
            "bob@example.com",
            "alice@example.com/phone",
            "example.org",
            "example.com/r",
            "not a jid@@",
        ] {
            assert!(!addressed_to_account(me, to), "{to:?}");
        }
    }

    #[test]
    fn an_iq_result_from_the_account() {
        let get = Stanza::parse(
            "<iq xmlns='jabber:client' type='get' id='q1' from='alice@example.com/phone'/>",
        )
        .expect("iq");
        let result = Stanza::from_element(
            get.iq_result_from("alice@example.com", None)
                .expect("a get has a result"),
        )
        .expect("stanza");
        assert_eq!(
            (result.type_attr(), result.id(), result.from(), result.to()),
            (
                "result",
                "q1",
                "alice@example.com",
                "alice@example.com/phone"
            )
        );
        let done = Stanza::parse("<iq xmlns='jabber:client' type='result' id='q1'/>").expect("iq");
        assert!(done.iq_result_from("alice@example.com", None).is_none());
    }

    #[test]
    fn answers_come_from_the_request_s_to_or_the_account() {
        let bare = Stanza::parse("<iq xmlns='jabber:client' type='get' id='1'/>").expect("iq");
        assert_eq!(bare.answering_as("alice@example.com"), "alice@example.com");
        let to_server =
            Stanza::parse("<iq xmlns='jabber:client' type='get' id='1' to='example.com'/>")
                .expect("iq");
        assert_eq!(to_server.answering_as("alice@example.com"), "example.com");
    }
}
