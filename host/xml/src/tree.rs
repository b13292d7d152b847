//! Turning one framed, bounded, UTF-8-checked frame into a `minidom::Element` (or a stream
//! header), with quick-xml as the tokeniser and our own namespace resolution.
//!
//! quick-xml's `NsReader` cannot be seeded with the bindings the stream header declared, and
//! those must be in scope for every stanza (RFC 6120 §4.8), so we resolve prefixes ourselves:
//! a small stack of the stanza's own declarations in front of the stream's.

use std::borrow::Cow;
use std::mem;

use minidom::Element;
use minidom::rxml::{Namespace, NcName, NcNameStr};
use quick_xml::Reader;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesRef, BytesStart, Event as QxEvent};

use crate::error::XmlError;
use crate::framer::is_xml_char;
use crate::ns;
use crate::stream::StreamHeader;

/// Namespace bindings, innermost last: `(prefix, namespace)`, `None` being the default namespace.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bindings(Vec<(Option<String>, String)>);

impl Bindings {
    fn lookup(&self, prefix: Option<&str>) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, ns)| ns.as_str())
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The default namespace, if one was declared.
    pub(crate) fn default_ns(&self) -> Option<&str> {
        self.lookup(None).filter(|ns| !ns.is_empty())
    }
}

fn map_qx(err: quick_xml::Error) -> XmlError {
    match err {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(..)) => {
            XmlError::restricted("entity reference")
        }
        quick_xml::Error::Encoding(_) => XmlError::nwf("invalid UTF-8"),
        quick_xml::Error::InvalidAttr(_) => XmlError::nwf("bad attribute syntax"),
        quick_xml::Error::IllFormed(_) | quick_xml::Error::Syntax(_) => {
            XmlError::nwf("malformed markup")
        }
        quick_xml::Error::Escape(_) => XmlError::nwf("invalid reference"),
        quick_xml::Error::Io(_) | quick_xml::Error::Namespace(_) => XmlError::nwf("unreadable XML"),
    }
}

/// Splits `prefix:local`, validating both halves as NCNames (Namespaces in XML 1.0 §4).
fn split_qname(qname: &[u8]) -> Result<(Option<&str>, &str), XmlError> {
    let qname = std::str::from_utf8(qname).map_err(|_| XmlError::nwf("invalid UTF-8"))?;
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    let valid = |s: &str| NcNameStr::from_str(s).is_ok();
    if !valid(local) || !prefix.is_none_or(valid) {
        return Err(XmlError::nwf("invalid name"));
    }
    Ok((prefix, local))
}

/// XML 1.0 §3.3.3 attribute-value normalisation (literal whitespace becomes a space), then
/// reference expansion. The framer already rejected anything but predefined and character refs.
fn attr_value(raw: &[u8]) -> Result<String, XmlError> {
    let raw = std::str::from_utf8(raw).map_err(|_| XmlError::nwf("invalid UTF-8"))?;
    let normalized: Cow<'_, str> = if raw.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        Cow::Owned(raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " "))
    } else {
        Cow::Borrowed(raw)
    };
    let value = quick_xml::escape::unescape(&normalized)
        .map_err(|e| map_qx(quick_xml::Error::Escape(e)))?
        .into_owned();
    if !value.chars().all(is_xml_char) {
        return Err(XmlError::nwf("invalid character reference"));
    }
    Ok(value)
}

/// Pushes the namespace declarations of `tag` onto `out`, checking the reserved prefixes
/// (Namespaces in XML 1.0 §3).
fn push_decls(tag: &BytesStart<'_>, out: &mut Bindings) -> Result<(), XmlError> {
    for attr in tag.attributes() {
        let attr = attr.map_err(|e| map_qx(e.into()))?;
        let key = attr.key.as_ref();
        let prefix = match key {
            b"xmlns" => None,
            [b'x', b'm', b'l', b'n', b's', b':', p @ ..] => Some(split_qname(p)?.1),
            _ => continue,
        };
        let value = attr_value(&attr.value)?;
        let bad = match prefix {
            Some("xml") => value != ns::XML,
            Some("xmlns") => true,
            Some(_) => value.is_empty() || value == ns::XML,
            None => value == ns::XML,
        };
        if bad {
            return Err(XmlError::nwf("illegal namespace declaration"));
        }
        out.0.push((prefix.map(str::to_owned), value));
    }
    Ok(())
}

/// Resolves an element or attribute prefix; `xml` is always bound.
fn resolve<'b>(
    prefix: Option<&str>,
    local: &'b Bindings,
    stream: &'b Bindings,
) -> Result<&'b str, XmlError> {
    match prefix {
        Some("xml") => return Ok(ns::XML),
        Some("xmlns") => return Err(XmlError::nwf("reserved prefix 'xmlns'")),
        Some(_) | None => {}
    }
    match local.lookup(prefix).or_else(|| stream.lookup(prefix)) {
        Some(ns) => Ok(ns),
        None if prefix.is_none() => Ok(""),
        None => Err(XmlError::BadNamespacePrefix),
    }
}

/// Parses the `<stream:stream …>` start tag (RFC 6120 §4.7), storing its namespace bindings in
/// `scope`. Returns the header and its qualified name, which the closing tag must repeat.
pub(crate) fn parse_header(
    frame: &str,
    scope: &mut Bindings,
) -> Result<(StreamHeader, String), XmlError> {
    let mut reader = Reader::from_str(frame);
    let tag = match reader.read_event().map_err(map_qx)? {
        QxEvent::Start(tag) => tag,
        _ => return Err(XmlError::nwf("expected the stream header")),
    };
    scope.clear();
    push_decls(&tag, scope)?;
    let (prefix, local) = split_qname(tag.name().into_inner())?;
    let empty = Bindings::default();
    // RFC 6120 §4.9.3.10: anything but `stream` in the streams namespace is `invalid-namespace`.
    if local != "stream" || resolve(prefix, scope, &empty)? != ns::STREAM {
        return Err(XmlError::InvalidNamespace);
    }
    let mut header = StreamHeader {
        default_ns: scope.default_ns().map(str::to_owned),
        ..StreamHeader::default()
    };
    for attr in tag.attributes() {
        let attr = attr.map_err(|e| map_qx(e.into()))?;
        let slot = match attr.key.as_ref() {
            b"to" => &mut header.to,
            b"from" => &mut header.from,
            b"id" => &mut header.id,
            b"version" => &mut header.version,
            b"xml:lang" => &mut header.lang,
            _ => continue,
        };
        *slot = Some(attr_value(&attr.value)?);
    }
    let qname = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
    Ok((header, qname))
}

/// Checks the XML declaration (XML 1.0 §2.8): version 1.0, and UTF-8 if an encoding is named
/// (RFC 6120 §11.6).
pub(crate) fn check_decl(frame: &str) -> Result<(), XmlError> {
    // quick-xml reports `<?xml-foo?>` as a PI, not a declaration: still restricted.
    let mut reader = Reader::from_str(frame);
    let decl = match reader.read_event().map_err(map_qx)? {
        QxEvent::Decl(decl) => decl,
        _ => return Err(XmlError::restricted("processing instruction")),
    };
    let version = decl.version().map_err(map_qx)?;
    if version.as_ref() != b"1.0" {
        return Err(XmlError::BadFormat {
            reason: "XML version other than 1.0",
        });
    }
    if let Some(enc) = decl.encoding() {
        let enc = enc.map_err(|e| map_qx(e.into()))?;
        if !enc.eq_ignore_ascii_case(b"utf-8") {
            return Err(XmlError::UnsupportedEncoding);
        }
    }
    Ok(())
}

/// Builds the element tree of one stanza frame.
pub(crate) struct TreeBuilder<'s> {
    stream: &'s Bindings,
    local: Bindings,
    /// `local.0.len()` before each open element's declarations.
    marks: Vec<usize>,
    stack: Vec<Element>,
    text: String,
}

impl<'s> TreeBuilder<'s> {
    pub(crate) fn new(stream: &'s Bindings) -> Self {
        TreeBuilder {
            stream,
            local: Bindings::default(),
            marks: Vec::new(),
            stack: Vec::new(),
            text: String::new(),
        }
    }

    /// Parses one complete stanza frame.
    pub(crate) fn build(mut self, frame: &str) -> Result<Element, XmlError> {
        let mut reader = Reader::from_str(frame);
        loop {
            match reader.read_event().map_err(map_qx)? {
                QxEvent::Start(tag) => {
                    let el = self.open(&tag)?;
                    self.stack.push(el);
                }
                QxEvent::Empty(tag) => {
                    let el = self.open(&tag)?;
                    if let Some(root) = self.close(el) {
                        return Ok(root);
                    }
                }
                QxEvent::End(_) => {
                    self.flush_text();
                    let el = self.stack.pop().ok_or(XmlError::nwf("unmatched end tag"))?;
                    if let Some(root) = self.close(el) {
                        return Ok(root);
                    }
                }
                QxEvent::Text(text) => {
                    self.text
                        .push_str(&text.xml10_content().map_err(|e| map_qx(e.into()))?);
                }
                QxEvent::CData(text) => {
                    self.text
                        .push_str(&text.xml10_content().map_err(|e| map_qx(e.into()))?);
                }
                QxEvent::GeneralRef(r) => self.text.push(resolve_ref(&r)?),
                QxEvent::Comment(_) => return Err(XmlError::restricted("comment")),
                QxEvent::DocType(_) => {
                    return Err(XmlError::restricted("DTD or markup declaration"));
                }
                QxEvent::PI(_) | QxEvent::Decl(_) => {
                    return Err(XmlError::restricted("processing instruction"));
                }
                QxEvent::Eof => return Err(XmlError::nwf("incomplete stanza")),
            }
        }
    }

    /// Moves pending character data into the innermost open element.
    fn flush_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = mem::take(&mut self.text);
        if let Some(parent) = self.stack.last_mut() {
            parent.append_text_node(text);
        }
    }

    /// Creates the element for a start tag, pushing its namespace scope.
    fn open(&mut self, tag: &BytesStart<'_>) -> Result<Element, XmlError> {
        self.flush_text();
        self.marks.push(self.local.0.len());
        push_decls(tag, &mut self.local)?;
        let (prefix, local) = split_qname(tag.name().into_inner())?;
        let ns = resolve(prefix, &self.local, self.stream)?;
        let mut el = Element::bare(local, ns);
        for attr in tag.attributes() {
            let attr = attr.map_err(|e| map_qx(e.into()))?;
            let key = attr.key.as_ref();
            if key == b"xmlns" || key.starts_with(b"xmlns:") {
                continue;
            }
            let (prefix, name) = split_qname(key)?;
            // Namespaces in XML 1.0 §6.2: unprefixed attributes are in no namespace.
            let ns = match prefix {
                None => Namespace::NONE,
                Some(_) => Namespace::from(resolve(prefix, &self.local, self.stream)?.to_owned()),
            };
            let name = NcName::try_from(name).map_err(|_| XmlError::nwf("invalid name"))?;
            if el.attrs().get(&ns, &name).is_some() {
                return Err(XmlError::nwf("duplicate attribute"));
            }
            el.attrs_mut().insert(ns, name, attr_value(&attr.value)?);
        }
        Ok(el)
    }

    /// Closes `el`: attaches it to its parent, or returns it when it is the stanza root.
    fn close(&mut self, el: Element) -> Option<Element> {
        let mark = self.marks.pop().unwrap_or(0);
        self.local.0.truncate(mark);
        match self.stack.last_mut() {
            Some(parent) => {
                parent.append_child(el);
                None
            }
            None => Some(el),
        }
    }
}

/// Expands a reference in character data: the five predefined entities and character refs.
fn resolve_ref(r: &BytesRef<'_>) -> Result<char, XmlError> {
    let c = match r.as_ref() {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"apos" => '\'',
        b"quot" => '"',
        _ if r.is_char_ref() => r
            .resolve_char_ref()
            .ok()
            .flatten()
            .ok_or(XmlError::nwf("invalid character reference"))?,
        _ => return Err(XmlError::restricted("entity reference")),
    };
    if !is_xml_char(c) {
        return Err(XmlError::nwf("invalid character reference"));
    }
    Ok(c)
}
