//! The sans-IO stream parser the connection task drives: bytes in, [`Event`]s out.

use bytes::{Buf, BytesMut};
use minidom::Element;

use crate::error::XmlError;
use crate::framer::{FrameKind, Framer, ScanCtx};
use crate::tree::{self, Bindings, TreeBuilder};

/// Limits on what a peer may make us buffer and build, counted on raw bytes before a stanza is
/// materialised (STYLE.md §28). Exceeding any of them is a `policy-violation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Raw bytes of one stanza, from its `<` to its last `>` (default 256 KiB, as Prosody).
    pub max_stanza_bytes: usize,
    /// Element nesting depth, the stanza element being depth 1 (default 32).
    pub max_depth: usize,
    /// Attributes on one element, namespace declarations included (default 64).
    pub max_attributes: usize,
    /// Namespace declarations (`xmlns`, `xmlns:p`) in one stanza (default 32).
    pub max_namespaces: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            max_attributes: 64,
            max_namespaces: 32,
        }
    }
}

/// What the parser found in the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The peer opened (or, after a restart, re-opened) the stream (RFC 6120 §4.7).
    StreamOpen(StreamHeader),
    /// One complete top-level element: a stanza or a negotiation element such as `<auth/>`.
    /// Elements in the stream namespace (`<stream:features/>`, `<stream:error/>`) have
    /// namespace `http://etherx.jabber.org/streams`.
    Stanza(Element),
    /// The peer sent `</stream:stream>` (RFC 6120 §4.4). Later bytes are ignored.
    StreamClose,
}

/// The attributes of the peer's stream header (RFC 6120 §4.7). Values are unescaped but not
/// validated: checking `to`, `version` and the content namespace is the stream layer's job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamHeader {
    /// `to` (RFC 6120 §4.7.2).
    pub to: Option<String>,
    /// `from` (RFC 6120 §4.7.1).
    pub from: Option<String>,
    /// `id` (RFC 6120 §4.7.3); a client should not send one.
    pub id: Option<String>,
    /// `version` (RFC 6120 §4.7.5).
    pub version: Option<String>,
    /// `xml:lang` (RFC 6120 §4.7.4).
    pub lang: Option<String>,
    /// The declared default namespace, the content namespace (RFC 6120 §4.8.2), e.g. `jabber:client`.
    pub default_ns: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the stream header; `true` once an XML declaration was seen.
    Header {
        decl_seen: bool,
    },
    Open,
    Closed,
}

/// Incremental XMPP stream parser: feed it socket bytes, pull [`Event`]s.
///
/// It owns a byte buffer that holds at most one partial frame (plus whatever one read added);
/// consumed frames and whitespace keepalives are dropped right away. It never blocks and does no
/// I/O, so the connection task can keep a cancel-safe `read_buf` in its `select!` and feed us the
/// bytes (STYLE.md §18).
#[derive(Debug)]
pub struct StreamParser {
    buf: BytesMut,
    framer: Framer,
    limits: Limits,
    phase: Phase,
    /// Namespace bindings declared on the stream header, in scope for every stanza.
    stream_ns: Bindings,
    /// The header's qualified name, normally `stream:stream`.
    stream_qname: String,
    /// Errors are final.
    failed: Option<XmlError>,
}

impl StreamParser {
    /// A parser waiting for a stream header.
    pub fn new(limits: Limits) -> Self {
        StreamParser {
            // Allocated by the first read: a parser waiting for its peer holds nothing.
            buf: BytesMut::new(),
            framer: Framer::new(),
            limits,
            phase: Phase::Header { decl_seen: false },
            stream_ns: Bindings::default(),
            stream_qname: String::new(),
            failed: None,
        }
    }

    /// Appends bytes read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The internal buffer, for reading straight into it (`read_buf(parser.buffer_mut())`).
    /// Only append to it; call [`next_event`](Self::next_event) until it returns `Ok(None)`
    /// after each read so limits are checked before the next one.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes currently buffered (for tests and metrics).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether part of a stanza is buffered: after [`next_event`](Self::next_event) returned
    /// `Ok(None)`, anything but whitespace (keepalives, RFC 6120 §4.6.1) is a stanza the peer
    /// started and has not finished. What a slowloris timer watches.
    pub fn mid_stanza(&self) -> bool {
        self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// Stream restart (RFC 6120 §5.4.3.3 after STARTTLS, §6.4.6 after SASL success): expect a new
    /// stream header, optionally preceded by an XML declaration.
    ///
    /// `keep_buffered = false` discards everything buffered. That is mandatory after STARTTLS:
    /// plaintext a peer pipelined after `<starttls/>` must never be processed as if it had come
    /// over TLS (CVE-2011-1431). After SASL success, `true` keeps bytes a client pipelined (the
    /// new header). An earlier error stays final.
    pub fn reset(&mut self, keep_buffered: bool) {
        if !keep_buffered {
            self.buf.clear();
        }
        self.framer.reset();
        self.phase = Phase::Header { decl_seen: false };
        self.stream_ns.clear();
        self.stream_qname.clear();
    }

    /// The next complete event, or `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    ///
    /// An [`XmlError`] whose [`condition`](XmlError::condition) is the stream error to send.
    /// Errors are final: the buffer is dropped and every later call returns the same error.
    pub fn next_event(&mut self) -> Result<Option<Event>, XmlError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.next_inner();
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.buf = BytesMut::new();
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<Event>, XmlError> {
        loop {
            let decl_seen = match self.phase {
                Phase::Closed => {
                    self.buf.clear();
                    return Ok(None);
                }
                Phase::Header { decl_seen } => {
                    if !decl_seen && self.framer.at_frame_start() && !self.sniff_encoding()? {
                        return Ok(None);
                    }
                    decl_seen
                }
                Phase::Open => false,
            };
            if self.framer.at_frame_start() {
                // Whitespace between frames is a keepalive (RFC 6120 §4.6.1): drop it now so
                // it never accumulates.
                let ws = self
                    .buf
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
                self.buf.advance(ws);
            }
            let ctx = ScanCtx {
                header: matches!(self.phase, Phase::Header { .. }),
                allow_decl: !decl_seen,
                stream_qname: self.stream_qname.as_bytes(),
                limits: &self.limits,
            };
            let Some((kind, len)) = self.framer.scan(&self.buf, &ctx)? else {
                return Ok(None);
            };
            let frame = frame_str(&self.buf[..len])?;
            let event = match kind {
                FrameKind::Decl => {
                    tree::check_decl(frame)?;
                    None
                }
                FrameKind::Header => {
                    let (header, qname) = tree::parse_header(frame, &mut self.stream_ns)?;
                    self.stream_qname = qname;
                    Some(Event::StreamOpen(header))
                }
                FrameKind::Stanza => Some(Event::Stanza(
                    TreeBuilder::new(&self.stream_ns).build(frame)?,
                )),
                FrameKind::Close => Some(Event::StreamClose),
            };
            self.buf.advance(len);
            self.phase = match kind {
                FrameKind::Decl => Phase::Header { decl_seen: true },
                FrameKind::Header | FrameKind::Stanza => Phase::Open,
                FrameKind::Close => Phase::Closed,
            };
            if event.is_some() {
                return Ok(event);
            }
        }
    }

    /// RFC 6120 §11.6: streams are UTF-8. Skips a UTF-8 byte-order mark and rejects the first
    /// bytes of UTF-16/32. Returns `false` if more bytes are needed to decide.
    fn sniff_encoding(&mut self) -> Result<bool, XmlError> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        match self.buf.first() {
            None => Ok(false),
            Some(0x00 | 0xFE | 0xFF) => Err(XmlError::UnsupportedEncoding),
            Some(b'<') if self.buf.get(1) == Some(&0) => Err(XmlError::UnsupportedEncoding),
            Some(0xEF) if self.buf.starts_with(BOM) => {
                self.buf.advance(BOM.len());
                Ok(!self.buf.is_empty())
            }
            // A partial BOM: wait. Anything else is left to the framer to judge.
            Some(0xEF) => Ok(!BOM.starts_with(&self.buf)),
            Some(_) => Ok(true),
        }
    }
}

/// A frame as text: UTF-8 (RFC 6120 §11.6) with only XML 1.0 §2.2 characters. The framer
/// already rejected C0 controls; U+FFFE and U+FFFF are the remaining non-characters.
fn frame_str(frame: &[u8]) -> Result<&str, XmlError> {
    let s = std::str::from_utf8(frame).map_err(|_| XmlError::nwf("invalid UTF-8"))?;
    if s.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Err(XmlError::nwf("illegal character"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LimitKind;
    use crate::ns;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0' xml:lang='en'>";

    const SAMPLE: &str = "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x' to='example.org' \
        version='1.0' xml:lang='en'> \n\
        <message to='a@b' type='chat' xml:lang='de'><body>h\u{e9} &amp; &lt;3 &#x41;&#66;</body>\
        <x:y a=\"1\" x:b='2'/></message>\n\
        <iq type='get' id='r1'><query xmlns='jabber:iq:roster'><![CDATA[<not> &markup;]]></query></iq>\
        <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>  \
        <presence/></stream:stream>";

    fn parser() -> StreamParser {
        StreamParser::new(Limits::default())
    }

    #[test]
    fn mid_stanza_tells_a_started_stanza_from_keepalives() {
        let mut p = parser();
        p.feed(HEADER.as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        p.feed(b" \n\t ");
        assert!(matches!(p.next_event(), Ok(None)));
        assert!(!p.mid_stanza(), "whitespace keepalives are not a stanza");
        p.feed(b"<message><bo");
        assert!(matches!(p.next_event(), Ok(None)));
        assert!(p.mid_stanza());
        p.feed(b"dy>hi</body></message>");
        assert!(matches!(p.next_event(), Ok(Some(Event::Stanza(_)))));
        assert!(!p.mid_stanza());
    }

    /// Feeds `chunks` one by one, draining events after each.
    fn run<'a>(
        p: &mut StreamParser,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<Event>, XmlError> {
        let mut events = Vec::new();
        for chunk in chunks {
            p.feed(chunk);
            while let Some(ev) = p.next_event()? {
                events.push(ev);
            }
        }
        Ok(events)
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Event>, XmlError> {
        run(&mut parser(), [input])
    }

    /// The condition of the first error `input` causes.
    fn condition(input: &str) -> &'static str {
        let err = parse_all(input.as_bytes()).expect_err("input must be rejected");
        err.condition()
    }

    fn stanza(ev: &Event) -> &Element {
        match ev {
            Event::Stanza(el) => el,
            Event::StreamOpen(_) | Event::StreamClose => panic!("expected a stanza, got {ev:?}"),
        }
    }

    #[test]
    fn sample_stream() {
        let events = parse_all(SAMPLE.as_bytes()).unwrap();
        assert_eq!(events.len(), 6);
        let Event::StreamOpen(header) = &events[0] else {
            panic!("no header")
        };
        assert_eq!(header.to.as_deref(), Some("example.org"));
        assert_eq!(header.version.as_deref(), Some("1.0"));
        assert_eq!(header.lang.as_deref(), Some("en"));
        assert_eq!(header.default_ns.as_deref(), Some(ns::JABBER_CLIENT));
        assert_eq!(header.from, None);

        let msg = stanza(&events[1]);
        assert!(msg.is("message", ns::JABBER_CLIENT));
        assert_eq!(msg.attr("type"), Some("chat"));
        assert_eq!(msg.attr_ns(ns::XML, "lang"), Some("de"));
        let body = msg.get_child("body", ns::JABBER_CLIENT).unwrap();
        assert_eq!(body.text(), "h\u{e9} & <3 AB");
        // `x:` was declared on the stream header.
        let y = msg.get_child("y", "urn:x").unwrap();
        assert_eq!(y.attr("a"), Some("1"));
        assert_eq!(y.attr_ns("urn:x", "b"), Some("2"));

        let iq = stanza(&events[2]);
        let query = iq.get_child("query", "jabber:iq:roster").unwrap();
        assert_eq!(query.text(), "<not> &markup;");

        let features = stanza(&events[3]);
        assert!(features.is("features", ns::STREAM));
        assert!(features.has_child("bind", "urn:ietf:params:xml:ns:xmpp-bind"));

        assert!(stanza(&events[4]).is("presence", ns::JABBER_CLIENT));
        assert_eq!(events[5], Event::StreamClose);
    }

    #[test]
    fn split_at_every_byte() {
        let bytes = SAMPLE.as_bytes();
        let whole = parse_all(bytes).unwrap();
        for i in 0..=bytes.len() {
            let events = run(&mut parser(), [&bytes[..i], &bytes[i..]]).unwrap();
            assert_eq!(events, whole, "split at {i}");
        }
        let one_by_one = run(&mut parser(), bytes.chunks(1)).unwrap();
        assert_eq!(one_by_one, whole);
    }

    #[test]
    fn stanzas_come_one_by_one() {
        let mut p = parser();
        p.feed(format!("{HEADER}<presence/><presence id='2'/>").as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        assert_eq!(stanza(&p.next_event().unwrap().unwrap()).attr("id"), None);
        assert_eq!(
            stanza(&p.next_event().unwrap().unwrap()).attr("id"),
            Some("2")
        );
        assert_eq!(p.next_event(), Ok(None));
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn keepalive_whitespace_is_dropped() {
        let mut p = parser();
        p.feed(HEADER.as_bytes());
        p.next_event().unwrap();
        for _ in 0..1000 {
            p.feed(b" \n\t\r");
            assert_eq!(p.next_event(), Ok(None));
        }
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn partial_stanza_waits() {
        let mut p = parser();
        p.feed(HEADER.as_bytes());
        p.next_event().unwrap();
        p.feed(b"<message><body>hi</body>");
        assert_eq!(p.next_event(), Ok(None));
        p.feed(b"</message>");
        assert!(stanza(&p.next_event().unwrap().unwrap()).is("message", ns::JABBER_CLIENT));
    }

    #[test]
    fn header_without_declaration_and_with_bom() {
        let plain =
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
        assert!(matches!(
            parse_all(plain.as_bytes()).unwrap()[0],
            Event::StreamOpen(_)
        ));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(HEADER.as_bytes());
        assert!(matches!(parse_all(&bom).unwrap()[0], Event::StreamOpen(_)));
        // A BOM split across reads.
        let events = run(&mut parser(), [&bom[..1], &bom[1..2], &bom[2..]]).unwrap();
        assert!(matches!(events[0], Event::StreamOpen(_)));
    }

    #[test]
    fn other_stream_prefix_closes_with_its_own_name() {
        let input = "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>\
            <s:features/></s:stream>";
        let events = parse_all(input.as_bytes()).unwrap();
        assert!(stanza(&events[1]).is("features", ns::STREAM));
        assert_eq!(events[2], Event::StreamClose);
        let wrong = "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'></stream:stream>";
        assert_eq!(condition(wrong), "not-well-formed");
    }

    #[test]
    fn bytes_after_close_are_ignored() {
        let mut p = parser();
        p.feed(format!("{HEADER}</stream:stream><garbage").as_bytes());
        p.next_event().unwrap();
        assert_eq!(p.next_event(), Ok(Some(Event::StreamClose)));
        assert_eq!(p.next_event(), Ok(None));
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn line_endings_are_normalised() {
        let events = parse_all(
            format!("{HEADER}<message a='x\r\ny'><body>1\r\n2\r3</body></message>").as_bytes(),
        )
        .unwrap();
        let msg = stanza(&events[1]);
        assert_eq!(msg.attr("a"), Some("x y"));
        assert_eq!(
            msg.get_child("body", ns::JABBER_CLIENT).unwrap().text(),
            "1\n2\n3"
        );
    }

    fn in_stream(stanza: &str) -> &'static str {
        condition(&format!("{HEADER}{stanza}"))
    }

    #[test]
    fn test_invalid_not_well_formed() {
        for bad in [
            "<message><body></message>",
            "<message to=x/>",
            "<message to='a'from='b'/>",
            "<message to='a' to='b'/>",
            "<message to='a<b'/>",
            "<message to/>",
            "<message/ >",
            "<message>\u{1}</message>",
            "<message>&#0;</message>",
            "<message>&#x1;</message>",
            "<message>&#xFFFE;</message>",
            "<message>& </message>",
            "<message>&;</message>",
            "<message>\u{FFFF}</message>",
            "<1message/>",
            "<a:b:c xmlns:a='urn:a'/>",
            "<message xmlns:p=''/>",
            "<message xmlns:xmlns='urn:a'/>",
            "<message><![CDAT[x]]></message>",
            "</message>",
        ] {
            assert_eq!(in_stream(bad), "not-well-formed", "{bad}");
        }
        let mut invalid_utf8 = HEADER.as_bytes().to_vec();
        invalid_utf8.extend_from_slice(b"<message><body>\xC3\x28</body></message>");
        assert_eq!(
            parse_all(&invalid_utf8).unwrap_err().condition(),
            "not-well-formed"
        );
        assert_eq!(condition("hello<stream:stream>"), "not-well-formed");
    }

    #[test]
    fn test_invalid_restricted_xml() {
        for bad in [
            "<message><!-- hi --></message>",
            "<!-- hi -->",
            "<?pi x?>",
            "<message><?pi x?></message>",
            "<?xml version='1.0'?>",
            "<message>&nbsp;</message>",
            "<message a='&foo;'/>",
        ] {
            assert_eq!(in_stream(bad), "restricted-xml", "{bad}");
        }
        assert_eq!(
            condition("<!DOCTYPE stream><stream:stream>"),
            "restricted-xml"
        );
        assert_eq!(
            condition("<?xml-stylesheet href='x'?><stream:stream>"),
            "restricted-xml"
        );
        assert_eq!(
            condition("<?xml version='1.0'?><?xml version='1.0'?>"),
            "restricted-xml"
        );
    }

    #[test]
    fn billion_laughs_fails_at_the_doctype() {
        let mut doc = String::from("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            doc.push_str(&format!(
                "<!ENTITY lol{i} '{}'>",
                format!("&{prev};").repeat(10)
            ));
        }
        doc.push_str("]><stream:stream>&lol9;</stream:stream>");
        let mut p = parser();
        // Only the declaration and `<!D` are needed to decide.
        p.feed(&doc.as_bytes()[..24]);
        assert_eq!(
            p.next_event().map_err(|e| e.condition()),
            Err("restricted-xml")
        );
        assert_eq!(condition(&doc), "restricted-xml");
        // Without a DTD the entity is merely undefined: still restricted, never expanded.
        assert_eq!(in_stream("<message>&lol9;</message>"), "restricted-xml");
    }

    #[test]
    fn test_invalid_namespace() {
        assert_eq!(
            condition("<stream:stream xmlns:stream='urn:wrong'>"),
            "invalid-namespace"
        );
        assert_eq!(
            condition("<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>"),
            "invalid-namespace"
        );
        assert_eq!(
            condition("<stream xmlns='jabber:client'>"),
            "invalid-namespace"
        );
        assert_eq!(
            condition("<stream:stream xmlns='jabber:client'>"),
            "bad-namespace-prefix"
        );
        assert_eq!(in_stream("<p:message/>"), "bad-namespace-prefix");
        assert_eq!(in_stream("<message p:a='1'/>"), "bad-namespace-prefix");
    }

    #[test]
    fn test_invalid_bad_format() {
        assert_eq!(in_stream("hello"), "bad-format");
        assert_eq!(in_stream("<![CDATA[x]]>"), "bad-format");
        assert_eq!(
            condition("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"),
            "bad-format"
        );
    }

    #[test]
    fn test_invalid_encoding() {
        assert_eq!(
            condition("<?xml version='1.0' encoding='ISO-8859-1'?>"),
            "unsupported-encoding"
        );
        assert!(parse_all(b"<?xml version='1.0' encoding='utf-8'?>").is_ok());
        assert_eq!(
            parse_all(b"\xFE\xFF\x00<").unwrap_err(),
            XmlError::UnsupportedEncoding
        );
        assert_eq!(
            parse_all(b"<\x00s\x00").unwrap_err(),
            XmlError::UnsupportedEncoding
        );
    }

    /// A parser with an open stream and small limits.
    fn limited(limits: Limits) -> StreamParser {
        let mut p = StreamParser::new(limits);
        p.feed(HEADER.as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        p
    }

    #[test]
    fn oversized_stanza_fails_before_it_ends() {
        let limits = Limits {
            max_stanza_bytes: 1024,
            ..Limits::default()
        };
        let mut p = limited(limits);
        p.feed(b"<message><body>");
        let chunk = [b'a'; 100];
        let mut fed = 15;
        let err = loop {
            p.feed(&chunk);
            fed += chunk.len();
            match p.next_event() {
                Ok(None) => assert!(fed < 1024, "still buffering at {fed} bytes"),
                Ok(Some(ev)) => panic!("unexpected {ev:?}"),
                Err(err) => break err,
            }
        };
        assert!(fed < 1024 + chunk.len());
        assert_eq!(
            err,
            XmlError::LimitExceeded {
                kind: LimitKind::StanzaBytes,
                limit: 1024
            }
        );
        assert_eq!(err.condition(), "policy-violation");
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn stanza_at_the_limit_passes() {
        let stanza_text = "<message><body>xxxx</body></message>";
        let limits = Limits {
            max_stanza_bytes: stanza_text.len(),
            ..Limits::default()
        };
        let mut p = limited(limits);
        p.feed(stanza_text.as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::Stanza(_)))));
        let mut p = limited(Limits {
            max_stanza_bytes: stanza_text.len() - 1,
            ..limits
        });
        p.feed(stanza_text.as_bytes());
        assert_eq!(p.next_event().unwrap_err().condition(), "policy-violation");
    }

    #[test]
    fn depth_attribute_and_namespace_limits() {
        // The header (5 attributes, 2 namespace declarations) is held to the same limits.
        let limits = Limits {
            max_depth: 3,
            max_attributes: 5,
            max_namespaces: 2,
            ..Limits::default()
        };
        let ok = [
            "<a><b><c/></b></a>",
            "<a x='1' y='2' xmlns:p='urn:p' z='3' w='4'/>",
            "<a xmlns:p='urn:p'><b xmlns='urn:b'/></a>",
        ];
        for input in ok {
            let mut p = limited(limits);
            p.feed(input.as_bytes());
            assert!(
                matches!(p.next_event(), Ok(Some(Event::Stanza(_)))),
                "{input}"
            );
        }
        let bad = [
            ("<a><b><c><d/></c></b></a>", LimitKind::Depth),
            (
                "<a x='1' y='2' z='3' w='4' v='5' u='6'/>",
                LimitKind::Attributes,
            ),
            (
                "<a xmlns:p='urn:p'><b xmlns='urn:b'><c xmlns='urn:c'/></b></a>",
                LimitKind::Namespaces,
            ),
        ];
        for (input, kind) in bad {
            let mut p = limited(limits);
            p.feed(input.as_bytes());
            match p.next_event() {
                Err(XmlError::LimitExceeded { kind: got, .. }) => assert_eq!(got, kind, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_fails_without_waiting_for_the_end() {
        let mut p = limited(Limits::default());
        p.feed("<a>".repeat(33).as_bytes());
        assert_eq!(p.next_event().unwrap_err().condition(), "policy-violation");
    }

    #[test]
    fn stream_header_is_bounded() {
        let huge = format!(
            "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='{}'",
            "a".repeat(5000)
        );
        let err = parse_all(huge.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            XmlError::LimitExceeded {
                kind: LimitKind::HeaderBytes,
                limit: 4096
            }
        );
    }

    #[test]
    fn starttls_reset_discards_pipelined_plaintext() {
        // CVE-2011-1431: bytes sent in the clear after <starttls/> must not survive the reset.
        let mut p = parser();
        p.feed(
            format!("{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='set'/>")
                .as_bytes(),
        );
        p.next_event().unwrap();
        assert!(
            stanza(&p.next_event().unwrap().unwrap())
                .is("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        );
        assert!(p.buffered() > 0);
        p.reset(false);
        assert_eq!(p.buffered(), 0);
        assert_eq!(p.next_event(), Ok(None));
        p.feed(HEADER.as_bytes());
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        assert_eq!(p.next_event(), Ok(None));
    }

    #[test]
    fn sasl_reset_keeps_pipelined_header() {
        let mut p = parser();
        p.feed(
            format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}<iq/>")
                .as_bytes(),
        );
        p.next_event().unwrap();
        p.next_event().unwrap();
        p.reset(true);
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamOpen(_)))));
        assert!(stanza(&p.next_event().unwrap().unwrap()).is("iq", ns::JABBER_CLIENT));
    }

    #[test]
    fn errors_are_final() {
        let mut p = parser();
        p.feed(b"<!-- x -->");
        let err = p.next_event().unwrap_err();
        p.feed(HEADER.as_bytes());
        assert_eq!(p.next_event(), Err(err.clone()));
        p.reset(false);
        assert_eq!(p.next_event(), Err(err));
    }

    #[test]
    fn markup_characters_inside_values_and_cdata() {
        let events = parse_all(
            format!(
                "{HEADER}<message a='1>2' b=\"'/\"><body><![CDATA[</message>]]]></body></message>"
            )
            .as_bytes(),
        )
        .unwrap();
        let msg = stanza(&events[1]);
        assert_eq!(msg.attr("a"), Some("1>2"));
        assert_eq!(msg.attr("b"), Some("'/"));
        assert_eq!(
            msg.get_child("body", ns::JABBER_CLIENT).unwrap().text(),
            "</message>]"
        );
    }

    /// Cheap robustness check: corrupting any byte of the sample with a markup character must
    /// yield events or an error, never a panic or a hang.
    #[test]
    fn corrupted_bytes_never_panic() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..bytes.len() {
            for b in [
                b'<', b'>', b'&', b'\'', b'"', b'/', b'!', b'?', b':', b'=', b' ', 0xFF, 0,
            ] {
                let mut input = bytes.to_vec();
                input[i] = b;
                let _ = parse_all(&input);
                let _ = run(&mut parser(), input.chunks(7));
            }
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sizes() {
        assert_eq!(std::mem::size_of::<XmlError>(), 24);
        assert_eq!(std::mem::size_of::<StreamHeader>(), 144);
        assert_eq!(std::mem::size_of::<Limits>(), 32);
        // One `Event` is moved per stanza; an `Element` (and the header) fit without boxing.
        assert_eq!(std::mem::size_of::<Event>(), 144);
    }
}
