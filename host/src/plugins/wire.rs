//! Stanzas across the boundary: [`Element`] to the WIT `stanza` record, and serialised stanzas
//! from a plugin back to elements, parsed with the same restricted parser and limits as a
//! client's (no DOCTYPE, PIs, comments or entities; the configured stanza size and depth).

use minidom::Element;
use tessera_xml::{Event, Limits, StreamParser};

use super::bindings::tessera::plugin::types::{Qname, Stanza, StanzaKind};
use crate::config::LimitsConfig;
use crate::ns;

/// The kind of a stanza element, if it is one.
pub(crate) fn kind(el: &Element) -> Option<StanzaKind> {
    if !el.has_ns(ns::JABBER_CLIENT) {
        return None;
    }
    match el.name() {
        "message" => Some(StanzaKind::Message),
        "presence" => Some(StanzaKind::Presence),
        "iq" => Some(StanzaKind::Iq),
        _ => None,
    }
}

/// The first child element (its name and namespace are the stanza's payload qname).
pub(crate) fn payload(el: &Element) -> Option<&Element> {
    el.children().next()
}

/// The WIT record for a stanza element. Its `xml` declares `xmlns='jabber:client'` on the stanza
/// (the WIT promises a self-contained document; on the wire the stream header declares it).
pub(crate) fn to_wit(el: &Element, kind: StanzaKind) -> Stanza {
    // One pass over the attributes rather than a map search for each header field.
    let (mut type_, mut from, mut to, mut id) = ("", "", "", "");
    for ((ns, name), value) in el.attrs() {
        if !ns.is_empty() {
            continue;
        }
        match name.as_str() {
            "type" => type_ = value.as_str(),
            "from" => from = value.as_str(),
            "to" => to = value.as_str(),
            "id" => id = value.as_str(),
            _ => {}
        }
    }
    Stanza {
        kind,
        type_: type_.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        id: id.to_owned(),
        payload: payload(el).map(|c| Qname {
            namespace: c.ns(),
            name: c.name().to_owned(),
        }),
        xml: tessera_xml::serialize_document(el),
    }
}

/// Why a plugin's stanza was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("not well-formed or restricted XML: {0}")]
    Xml(String),
    #[error("not a message, presence or iq in jabber:client")]
    NotAStanza,
    #[error("more than one element")]
    Trailing,
}

const HEADER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Parses one serialised stanza from a plugin.
pub(crate) fn parse(xml: &str, limits: &LimitsConfig) -> Result<Element, WireError> {
    let mut parser = StreamParser::new(Limits {
        max_stanza_bytes: limits.stanza_bytes,
        max_depth: limits.depth,
        max_attributes: limits.attributes,
        max_namespaces: limits.namespaces,
    });
    parser.feed(HEADER);
    parser.feed(xml.as_bytes());
    let err = |e: tessera_xml::XmlError| WireError::Xml(e.to_string());
    let mut stanza = None;
    loop {
        match parser.next_event().map_err(err)? {
            Some(Event::StreamOpen(_)) => {}
            Some(Event::Stanza(el)) => {
                if stanza.replace(el).is_some() {
                    return Err(WireError::Trailing);
                }
            }
            Some(Event::StreamClose) => return Err(WireError::Trailing),
            None => break,
        }
    }
    // Bytes left over (an unclosed element) mean the document was not one whole element.
    if parser.buffered() > 0 {
        return Err(WireError::Xml("incomplete element".to_owned()));
    }
    let stanza = stanza.ok_or_else(|| WireError::Xml("no element".to_owned()))?;
    if kind(&stanza).is_none() {
        return Err(WireError::NotAStanza);
    }
    Ok(stanza)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        crate::Config::from_toml_str("").expect("defaults").limits
    }

    #[test]
    fn round_trip_declares_the_namespace() {
        let el: Element =
            "<message xmlns='jabber:client' to='a@b' type='chat'><body>hi &amp; bye</body></message>"
                .parse()
                .expect("xml");
        let s = to_wit(&el, StanzaKind::Message);
        assert!(
            s.xml.starts_with("<message xmlns='jabber:client'"),
            "{}",
            s.xml
        );
        assert_eq!(s.type_, "chat");
        assert_eq!(s.payload.as_ref().map(|q| q.name.as_str()), Some("body"));
        let back = parse(&s.xml, &limits()).expect("parses");
        assert_eq!(back, el);
    }

    #[test]
    fn refuses_what_a_client_could_not_send() {
        let l = limits();
        assert_eq!(
            parse("<foo xmlns='jabber:client'/>", &l),
            Err(WireError::NotAStanza)
        );
        assert!(matches!(
            parse("<!DOCTYPE x><message xmlns='jabber:client'/>", &l),
            Err(WireError::Xml(_))
        ));
        assert_eq!(
            parse(
                "<message xmlns='jabber:client'/><message xmlns='jabber:client'/>",
                &l
            ),
            Err(WireError::Trailing)
        );
        assert!(parse("<message xmlns='jabber:client'>", &l).is_err());
    }
}
