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

/// Serialises with `xmlns='jabber:client'` declared on the stanza (the WIT promises a
/// self-contained document; on the wire the stream header declares it instead).
pub(crate) fn to_xml(el: &Element) -> String {
    let bytes = tessera_xml::serialize(el);
    let body = String::from_utf8_lossy(&bytes);
    let name_end = 1 + el.name().len();
    let mut out = String::with_capacity(body.len() + 24);
    out.push_str(&body[..name_end]);
    out.push_str(" xmlns='jabber:client'");
    out.push_str(&body[name_end..]);
    out
}

/// The WIT record for a stanza element.
pub(crate) fn to_wit(el: &Element, kind: StanzaKind) -> Stanza {
    let attr = |n| el.attr(n).unwrap_or_default().to_owned();
    Stanza {
        kind,
        type_: attr("type"),
        from: attr("from"),
        to: attr("to"),
        id: attr("id"),
        payload: payload(el).map(|c| Qname {
            namespace: c.ns(),
            name: c.name().to_owned(),
        }),
        xml: to_xml(el),
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
