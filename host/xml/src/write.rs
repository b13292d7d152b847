//! Serialisation for a `jabber:client` stream opened with [`stream_header`].
//!
//! We write XML ourselves instead of using minidom's writer: minidom declares
//! `xmlns='jabber:client'` on every top-level stanza, which is redundant on our stream (RFC 6120
//! §4.8.3 puts the content namespace on the stream header) and costs bytes on every stanza.
//! The rules here are small: an element declares `xmlns` only when its namespace differs from
//! the one in scope; elements in the stream namespace use the `stream:` prefix the header binds;
//! attributes in other namespaces get a generated prefix declared on the same element.
//!
//! Everything is written into a `String` (every piece is a `&str`), so [`serialize_document`]
//! needs no UTF-8 check and the wire functions turn it into `Bytes` without a copy.

use bytes::Bytes;
use minidom::{Element, Node};

use crate::ns;

/// The stream close tag (RFC 6120 §4.4).
pub const STREAM_CLOSE: &[u8] = b"</stream:stream>";

/// Serialises a stanza for a `jabber:client` stream: elements in `jabber:client` carry no
/// `xmlns`, children in other namespaces do, and stream-namespace elements are written as
/// `stream:…` (the header binds that prefix).
pub fn serialize(el: &Element) -> Bytes {
    let mut out = String::with_capacity(256);
    write_element(&mut out, el, ns::JABBER_CLIENT);
    Bytes::from(out.into_bytes())
}

/// Serialises an element as a self-contained document: as [`serialize`], except that the
/// element declares its own namespace (`<message xmlns='jabber:client' …>`), since no stream
/// header is in scope. This is the form a plugin receives (the WIT `stanza.xml`).
pub fn serialize_document(el: &Element) -> String {
    // A typical chat message with its payloads fits; a bigger one grows the buffer once or twice.
    let mut out = String::with_capacity(512);
    if el.has_ns(ns::JABBER_CLIENT) {
        // The common case, without `Element::ns`'s allocation.
        write_parts(
            &mut out,
            el,
            false,
            Some(ns::JABBER_CLIENT),
            ns::JABBER_CLIENT,
        );
    } else {
        // An empty scope: every element in a namespace declares it.
        write_element(&mut out, el, "");
    }
    out
}

/// `<stream:features>…</stream:features>` (RFC 6120 §4.3.2) with `features` inside, each in its
/// own namespace.
pub fn serialize_features(features: &[Element]) -> Bytes {
    let mut out = String::with_capacity(256);
    out.push_str("<stream:features>");
    for feature in features {
        write_element(&mut out, feature, ns::JABBER_CLIENT);
    }
    out.push_str("</stream:features>");
    Bytes::from(out.into_bytes())
}

/// The server's response stream header (RFC 6120 §4.7), preceded by an XML declaration.
/// `to` echoes the initiating entity's `from` when it sent one (RFC 6120 §4.7.2).
pub fn stream_header(from: &str, to: Option<&str>, id: &str, lang: &str) -> Bytes {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?><stream:stream xmlns='");
    out.push_str(ns::JABBER_CLIENT);
    out.push_str("' xmlns:stream='");
    out.push_str(ns::STREAM);
    out.push('\'');
    write_attr(&mut out, "id", id);
    write_attr(&mut out, "from", from);
    if let Some(to) = to {
        write_attr(&mut out, "to", to);
    }
    out.push_str(" version='1.0'");
    write_attr(&mut out, "xml:lang", lang);
    out.push('>');
    Bytes::from(out.into_bytes())
}

/// A stream error (RFC 6120 §4.9) followed by the stream close.
///
/// `condition` is one of the §4.9.3 names, e.g. [`crate::XmlError::condition`]; anything that
/// is not a lowercase, hyphenated name is sent as `undefined-condition` rather than written raw.
pub fn stream_error(condition: &str, text: Option<&str>) -> Bytes {
    let valid = !condition.is_empty()
        && condition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    let condition = if valid {
        condition
    } else {
        "undefined-condition"
    };
    let mut out = String::with_capacity(160);
    out.push_str("<stream:error><");
    out.push_str(condition);
    out.push_str(" xmlns='");
    out.push_str(ns::XMPP_STREAMS);
    out.push_str("'/>");
    if let Some(text) = text {
        out.push_str("<text xmlns='");
        out.push_str(ns::XMPP_STREAMS);
        out.push_str("'>");
        escape(&mut out, text, false);
        out.push_str("</text>");
    }
    out.push_str("</stream:error></stream:stream>");
    Bytes::from(out.into_bytes())
}

/// Writes `el`; `scope_ns` is the default namespace in scope where it appears.
fn write_element(out: &mut String, el: &Element, scope_ns: &str) {
    let stream_ns = el.has_ns(ns::STREAM);
    // `ns()` allocates, so only ask for it when this element changes the default namespace.
    let own_ns = (!stream_ns && !el.has_ns(scope_ns)).then(|| el.ns());
    write_parts(out, el, stream_ns, own_ns.as_deref(), scope_ns);
}

/// Writes `el`, declaring `declare` as its default namespace if given (which then is the scope
/// of its children) and writing it as `stream:…` if `stream_ns`.
fn write_parts(
    out: &mut String,
    el: &Element,
    stream_ns: bool,
    declare: Option<&str>,
    scope_ns: &str,
) {
    out.push('<');
    if stream_ns {
        out.push_str("stream:");
    }
    out.push_str(el.name());
    if let Some(own) = declare {
        write_attr(out, "xmlns", own);
    }
    for (i, ((attr_ns, name), value)) in el.attrs().iter().enumerate() {
        if attr_ns.is_empty() {
            write_attr(out, name, value);
        } else if attr_ns.as_str() == ns::XML {
            out.push_str(" xml:");
            write_attr_tail(out, name, value);
        } else {
            // Namespaces in XML 1.0 §6.2: a namespaced attribute needs a prefix.
            let prefix = format!("a{i}");
            out.push_str(" xmlns:");
            write_attr_tail(out, &prefix, attr_ns);
            out.push(' ');
            out.push_str(&prefix);
            out.push(':');
            write_attr_tail(out, name, value);
        }
    }
    if el.nodes().len() == 0 {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let child_scope = declare.unwrap_or(scope_ns);
    for node in el.nodes() {
        match node {
            Node::Element(child) => write_element(out, child, child_scope),
            Node::Text(text) => escape(out, text, false),
        }
    }
    out.push_str("</");
    if stream_ns {
        out.push_str("stream:");
    }
    out.push_str(el.name());
    out.push('>');
}

/// ` name='value'`.
fn write_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    write_attr_tail(out, name, value);
}

/// `name='value'`.
fn write_attr_tail(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("='");
    escape(out, value, true);
    out.push('\'');
}

/// Escapes character data (`attr = false`) or an attribute value (`attr = true`).
///
/// Whitespace a parser would normalise (CR everywhere, tab and LF in attributes, XML 1.0
/// §2.11 and §3.3.3) is written as a character reference so it survives the round trip.
/// Characters XML 1.0 cannot carry at all (C0 controls, U+FFFE/U+FFFF; §2.2) become U+FFFD.
///
/// Scans bytes, not chars: every byte that can need attention is ASCII or 0xEF (the lead byte
/// of U+FFFE and U+FFFF), so a run of ordinary text costs one table lookup per byte and is
/// copied in one piece, and every slice boundary below falls on a char boundary.
fn escape(out: &mut String, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        let (rep, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\'' if attr => ("&apos;", 1),
            b'"' if attr => ("&quot;", 1),
            b'\r' => ("&#xD;", 1),
            b'\n' if attr => ("&#xA;", 1),
            b'\t' if attr => ("&#x9;", 1),
            b'\n' | b'\t' | b'\'' | b'"' => {
                i += 1;
                continue;
            }
            0x00..=0x1F => ("\u{FFFD}", 1),
            // U+FFFE is EF BF BE, U+FFFF is EF BF BF; other chars starting 0xEF are fine.
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                ("\u{FFFD}", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        i += len;
        last = i;
    }
    out.push_str(&s[last..]);
}

/// The bytes [`escape`] looks at: markup characters, C0 controls and 0xEF.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || matches!(b as u8, b'&' | b'<' | b'>' | b'\'' | b'"' | 0xEF);
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Limits, StreamParser};
    use minidom::rxml::{Namespace, NcName};

    const HEADER: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams'>";

    /// Parses `stanza` as it would arrive on a `jabber:client` stream.
    fn parse(stanza: &str) -> Element {
        let mut p = StreamParser::new(Limits::default());
        p.feed(HEADER.as_bytes());
        p.feed(stanza.as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        match p.next_event() {
            Ok(Some(Event::Stanza(el))) => el,
            other => panic!("expected a stanza, got {other:?}"),
        }
    }

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn round_trip() {
        for stanza in [
            "<presence/>",
            "<message id='1' to='a@b' type='chat'><body>hi &amp; &lt;3 &gt; \"q\" 'a'</body>\
             <x xmlns='urn:x'><y z='&apos;&quot;&lt;&amp;'/></x></message>",
            "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='c@d'><group>g</group></item>\
             </query></iq>",
            "<message xml:lang='en'><body>line1\nline2&#xD;</body></message>",
            "<message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></message>",
            "<iq type='set'><x xmlns='urn:x'><body xmlns='jabber:client'/></x></iq>",
        ] {
            let el = parse(stanza);
            let out = text(serialize(&el));
            assert_eq!(out, stanza);
            assert_eq!(parse(&out), el);
        }
    }

    #[test]
    fn document_declares_its_own_namespace() {
        let stanza = "<message to='a@b'><body>x &amp; y</body><x xmlns='urn:x'><y/></x></message>";
        let el = parse(stanza);
        let doc = serialize_document(&el);
        assert_eq!(
            doc,
            "<message xmlns='jabber:client' to='a@b'><body>x &amp; y</body>\
             <x xmlns='urn:x'><y/></x></message>"
        );
        // The same bytes as the stream form with the declaration inserted after the name.
        let wire = text(serialize(&el));
        assert_eq!(doc.replacen(" xmlns='jabber:client'", "", 1), wire);
        // Outside jabber:client the root still declares whatever it is in.
        let other = Element::builder("x", "urn:x")
            .append(Element::bare("y", "urn:x"))
            .build();
        assert_eq!(serialize_document(&other), "<x xmlns='urn:x'><y/></x>");
    }

    #[test]
    fn prefixed_input_is_written_with_default_namespaces() {
        let el = parse("<message><p:x xmlns:p='urn:p' p:a='1'><p:y/></p:x></message>");
        let out = text(serialize(&el));
        assert_eq!(
            out,
            "<message><x xmlns='urn:p' xmlns:a0='urn:p' a0:a='1'><y/></x></message>"
        );
        assert_eq!(parse(&out), el);
    }

    #[test]
    fn built_elements_get_no_redundant_xmlns() {
        let el = Element::builder("message", ns::JABBER_CLIENT)
            .attr(NcName::try_from("to").unwrap(), "a@b")
            .attr_ns(
                Namespace::from(ns::XML),
                NcName::try_from("lang").unwrap(),
                "en",
            )
            .append(
                Element::builder("body", ns::JABBER_CLIENT)
                    .append("x\r\t<")
                    .build(),
            )
            .append(Element::bare("no-ns", ""))
            .build();
        assert_eq!(
            text(serialize(&el)),
            "<message to='a@b' xml:lang='en'><body>x&#xD;\t&lt;</body><no-ns xmlns=''/></message>"
        );
    }

    #[test]
    fn attribute_whitespace_and_illegal_chars() {
        let el = Element::builder("m", ns::JABBER_CLIENT)
            .attr(NcName::try_from("a").unwrap(), "1\t2\n3\u{0}")
            .append("bad\u{1}\u{FFFF}")
            .build();
        let out = text(serialize(&el));
        assert_eq!(out, "<m a='1&#x9;2&#xA;3\u{FFFD}'>bad\u{FFFD}\u{FFFD}</m>");
        // U+FFFE/U+FFFF go; other characters encoded with a 0xEF lead byte stay.
        let el = Element::builder("m", ns::JABBER_CLIENT)
            .append("\u{FFFE}\u{FFFD}\u{F000}\u{FFEF}é\u{FFFF}x\u{1F600}")
            .build();
        assert_eq!(
            text(serialize(&el)),
            "<m>\u{FFFD}\u{FFFD}\u{F000}\u{FFEF}é\u{FFFD}x\u{1F600}</m>"
        );
        assert_eq!(parse(&out).attr("a"), Some("1\t2\n3\u{FFFD}"));
    }

    #[test]
    fn stream_header_bytes() {
        assert_eq!(
            text(stream_header(
                "example.org",
                Some("a@example.org"),
                "abc",
                "en"
            )),
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org' \
             to='a@example.org' version='1.0' xml:lang='en'>"
        );
        let header = text(stream_header("ex'ample", None, "i", "en"));
        assert!(header.contains("from='ex&apos;ample'"));
        assert!(!header.contains(" to="));
        // Our own header parses with our own parser.
        let mut p = StreamParser::new(Limits::default());
        p.feed(header.as_bytes());
        let Ok(Some(Event::StreamOpen(h))) = p.next_event() else {
            panic!("no header")
        };
        assert_eq!(h.from.as_deref(), Some("ex'ample"));
        assert_eq!(h.id.as_deref(), Some("i"));
    }

    #[test]
    fn stream_error_bytes() {
        assert_eq!(
            text(stream_error("policy-violation", None)),
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             </stream:error></stream:stream>"
        );
        assert_eq!(
            text(stream_error("conflict", Some("a<b"))),
            "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>a&lt;b</text></stream:error>\
             </stream:stream>"
        );
        assert!(
            text(stream_error("x'/><evil", None))
                .starts_with("<stream:error><undefined-condition ")
        );
    }

    #[test]
    fn features_bytes() {
        let starttls = Element::builder("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
            .append(Element::bare("required", "urn:ietf:params:xml:ns:xmpp-tls"))
            .build();
        let mechs = Element::builder("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
            .append(
                Element::builder("mechanism", "urn:ietf:params:xml:ns:xmpp-sasl")
                    .append("PLAIN")
                    .build(),
            )
            .build();
        assert_eq!(
            text(serialize_features(&[starttls, mechs])),
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>\
             </stream:features>"
        );
        assert_eq!(
            text(serialize_features(&[])),
            "<stream:features></stream:features>"
        );
        assert_eq!(STREAM_CLOSE, b"</stream:stream>");
    }
}
