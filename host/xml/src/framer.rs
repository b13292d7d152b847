//! The framer: a resumable byte scanner that finds where the stream header, each stanza and the
//! stream close end, and enforces every limit on the raw bytes while doing so.
//!
//! Why a hand-written framer in front of quick-xml: quick-xml (like any tree builder) only tells us
//! a stanza is too big, too deep or too wide once it has tokenised and we have materialised it. A
//! peer could then make us buffer and allocate without bound. The framer looks at each byte once,
//! keeps a few counters and no copies, and fails as soon as a limit is crossed (STYLE.md §28). It
//! also rejects what RFC 6120 §11.1 forbids (DTDs, comments, processing instructions, undefined
//! entities) before any expansion can happen, so a "billion laughs" document dies at `<!DOCTYPE`.
//! Only a complete, bounded frame is handed to quick-xml (`tree.rs`), which then never sees more
//! than `max_stanza_bytes`.
//!
//! The framer is resumable: [`Framer::scan`] continues where it stopped, so feeding a stanza one
//! byte at a time costs O(n), not O(n²). Offsets are relative to the start of the caller's buffer,
//! which always begins at the current frame (the parser drops consumed frames).

use crate::Limits;
use crate::error::{LimitKind, XmlError};

/// Upper bound for the stream header and for the XML declaration (each is one frame).
pub(crate) const MAX_HEADER_BYTES: usize = 4096;

/// Longest entity or character reference body we accept between `&` and `;`.
const MAX_REF_LEN: usize = 32;

/// What a completed frame contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// `<?xml …?>` before the stream header.
    Decl,
    /// The `<stream:stream …>` start tag.
    Header,
    /// One complete top-level element inside the stream.
    Stanza,
    /// The `</stream:stream>` end tag.
    Close,
}

/// Per-call context from the parser.
pub(crate) struct ScanCtx<'a> {
    /// Looking for the stream header (and optionally an XML declaration) rather than stanzas.
    pub(crate) header: bool,
    /// An XML declaration is still allowed (header mode, none seen yet).
    pub(crate) allow_decl: bool,
    /// The header's qualified name (`stream:stream`), which the close tag must repeat.
    pub(crate) stream_qname: &'a [u8],
    pub(crate) limits: &'a Limits,
}

/// Lexical state, resumable across [`Framer::scan`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Character data (or the very start of a frame at depth 0).
    Content,
    /// After `<`.
    Lt,
    /// After `<!`: only `<![CDATA[` is allowed (inside an element).
    Bang,
    /// Inside a CDATA section; counts the `]` seen towards `]]>`.
    CData(u8),
    /// Inside the XML declaration, `true` right after a `?`.
    Decl(bool),
    /// A start- or end-tag name.
    Name,
    /// Inside a start tag, before an attribute; `true` once whitespace separated us from the last token.
    BeforeAttr(bool),
    AttrName,
    AfterAttrName,
    BeforeValue,
    /// Inside an attribute value delimited by this quote.
    Value(u8),
    /// A `/` in a start tag; `>` must follow.
    Slash,
    /// After an end-tag name; whitespace then `>`.
    EndTail,
}

#[derive(Debug)]
pub(crate) struct Framer {
    /// Where scanning resumes.
    pos: usize,
    lex: Lex,
    /// Start of the `&` reference being scanned, if any.
    ref_start: Option<usize>,
    /// Open elements in the current stanza.
    depth: usize,
    /// Spans of the open elements' names, to match end tags without copying names.
    names: Vec<(usize, usize)>,
    /// Start of the current tag name, attribute name or `<!` body.
    mark: usize,
    end_tag: bool,
    /// Attributes on the current start tag.
    attrs: usize,
    /// Namespace declarations in the current frame.
    ns_decls: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// XML 1.0 §2.2 `Char` excludes C0 controls other than tab, LF and CR.
fn is_illegal_byte(b: u8) -> bool {
    b < 0x20 && !is_ws(b)
}

/// Bytes that can never appear in a name.
fn is_name_breaker(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'=' | b'"' | b'\'' | b'&' | b'/') || is_ws(b)
}

impl Framer {
    pub(crate) fn new() -> Self {
        Framer {
            pos: 0,
            lex: Lex::Content,
            ref_start: None,
            depth: 0,
            names: Vec::new(),
            mark: 0,
            end_tag: false,
            attrs: 0,
            ns_decls: 0,
        }
    }

    /// True when no byte of the next frame has been scanned yet.
    pub(crate) fn at_frame_start(&self) -> bool {
        self.pos == 0
    }

    /// Forgets any partial frame (stream restart).
    pub(crate) fn reset(&mut self) {
        self.pos = 0;
        self.lex = Lex::Content;
        self.ref_start = None;
        self.depth = 0;
        self.names.clear();
        self.attrs = 0;
        self.ns_decls = 0;
    }

    /// Scans `buf` (which starts at the current frame) from where the last call stopped.
    ///
    /// Returns the kind and byte length of the frame once it is complete, `None` if more bytes are
    /// needed. The caller must drop exactly that many bytes from the front of its buffer before
    /// the next call, and must never remove bytes from a frame in progress.
    ///
    /// # Errors
    ///
    /// Any [`XmlError`] the bytes seen so far already prove; in particular a frame longer than its
    /// limit fails as soon as the limit is crossed, not when the frame ends.
    pub(crate) fn scan(
        &mut self,
        buf: &[u8],
        ctx: &ScanCtx<'_>,
    ) -> Result<Option<(FrameKind, usize)>, XmlError> {
        let (max, kind) = if ctx.header {
            (MAX_HEADER_BYTES, LimitKind::HeaderBytes)
        } else {
            (ctx.limits.max_stanza_bytes, LimitKind::StanzaBytes)
        };
        let end = buf.len().min(max);
        while self.pos < end {
            let b = buf[self.pos];
            if is_illegal_byte(b) {
                return Err(XmlError::nwf("illegal character"));
            }
            if let Some(start) = self.ref_start {
                self.scan_ref(buf, start, b)?;
                self.pos += 1;
                continue;
            }
            if let Some(done) = self.step(buf, b, ctx)? {
                let len = self.pos + 1;
                self.reset();
                return Ok(Some((done, len)));
            }
        }
        if buf.len() >= max {
            // The frame is not complete within `max` bytes: it can only get bigger.
            return Err(XmlError::limit(kind, max));
        }
        Ok(None)
    }

    /// One byte of an `&…;` reference (XML 1.0 §4.1). Only the five predefined entities and
    /// character references to legal characters pass; RFC 6120 §11.1 forbids everything else.
    fn scan_ref(&mut self, buf: &[u8], start: usize, b: u8) -> Result<(), XmlError> {
        let body = &buf[start + 1..self.pos];
        if b == b';' {
            self.ref_start = None;
            return check_ref(body);
        }
        if is_name_breaker(b) || body.len() >= MAX_REF_LEN {
            return Err(XmlError::nwf("unterminated reference"));
        }
        Ok(())
    }

    /// Advances over one byte (or re-dispatches it to a new state without advancing).
    /// Returns the frame kind when this byte completed a frame.
    fn step(
        &mut self,
        buf: &[u8],
        b: u8,
        ctx: &ScanCtx<'_>,
    ) -> Result<Option<FrameKind>, XmlError> {
        let mut advance = true;
        match self.lex {
            Lex::Content if self.depth == 0 => {
                // Frame start: the parser skipped whitespace, so this must open markup.
                if b != b'<' {
                    return Err(stray_text(ctx));
                }
                self.lex = Lex::Lt;
            }
            Lex::Content => match b {
                b'<' => self.lex = Lex::Lt,
                b'&' => self.ref_start = Some(self.pos),
                _ => {}
            },
            Lex::Lt => match b {
                b'/' => {
                    if ctx.header {
                        return Err(XmlError::nwf("end tag before the stream header"));
                    }
                    self.end_tag = true;
                    self.mark = self.pos + 1;
                    self.lex = Lex::Name;
                }
                b'!' => {
                    self.mark = self.pos + 1;
                    self.lex = Lex::Bang;
                }
                b'?' => {
                    if !(ctx.header && ctx.allow_decl) {
                        return Err(XmlError::restricted("processing instruction"));
                    }
                    self.mark = self.pos + 1;
                    self.lex = Lex::Decl(false);
                }
                _ => {
                    if !ctx.header {
                        if self.depth >= ctx.limits.max_depth {
                            return Err(XmlError::limit(LimitKind::Depth, ctx.limits.max_depth));
                        }
                        self.depth += 1;
                    }
                    self.end_tag = false;
                    self.attrs = 0;
                    self.mark = self.pos;
                    self.lex = Lex::Name;
                    advance = false;
                }
            },
            Lex::Bang => {
                const CDATA: &[u8] = b"[CDATA[";
                let i = self.pos - self.mark;
                if i == 0 && b != b'[' {
                    // `<!--`, `<!DOCTYPE`, `<!ENTITY`…: all forbidden by RFC 6120 §11.1.
                    return Err(XmlError::restricted(if b == b'-' {
                        "comment"
                    } else {
                        "DTD or markup declaration"
                    }));
                }
                if CDATA[i] != b {
                    return Err(XmlError::nwf("malformed CDATA section"));
                }
                if self.depth == 0 {
                    return Err(stray_text(ctx));
                }
                if i + 1 == CDATA.len() {
                    self.lex = Lex::CData(0);
                }
            }
            Lex::CData(brackets) => {
                self.lex = match b {
                    b']' => Lex::CData((brackets + 1).min(2)),
                    b'>' if brackets == 2 => Lex::Content,
                    _ => Lex::CData(0),
                };
            }
            Lex::Decl(after_q) => match b {
                b'>' if after_q => return Ok(Some(FrameKind::Decl)),
                b'?' => self.lex = Lex::Decl(true),
                _ => self.lex = Lex::Decl(false),
            },
            Lex::Name => {
                if is_name_breaker(b) {
                    if !matches!(b, b'>' | b'/') && !is_ws(b) {
                        return Err(XmlError::nwf("invalid character in a name"));
                    }
                    let name = (self.mark, self.pos);
                    if name.0 == name.1 {
                        return Err(XmlError::nwf("empty element name"));
                    }
                    if self.end_tag {
                        self.close_name(buf, name, ctx)?;
                        self.lex = Lex::EndTail;
                    } else {
                        if !ctx.header {
                            self.names.push(name);
                        }
                        self.lex = Lex::BeforeAttr(false);
                    }
                    advance = false;
                }
            }
            Lex::EndTail => match b {
                b'>' => return Ok(self.close_element()),
                _ if is_ws(b) => {}
                _ => return Err(XmlError::nwf("garbage in an end tag")),
            },
            Lex::BeforeAttr(ws) => match b {
                b'>' if ctx.header => return Ok(Some(FrameKind::Header)),
                b'>' => self.lex = Lex::Content,
                b'/' => self.lex = Lex::Slash,
                _ if is_ws(b) => self.lex = Lex::BeforeAttr(true),
                _ if is_name_breaker(b) => return Err(XmlError::nwf("bad attribute syntax")),
                _ => {
                    if !ws {
                        return Err(XmlError::nwf("missing whitespace before an attribute"));
                    }
                    self.attrs += 1;
                    if self.attrs > ctx.limits.max_attributes {
                        let limit = ctx.limits.max_attributes;
                        return Err(XmlError::limit(LimitKind::Attributes, limit));
                    }
                    self.mark = self.pos;
                    self.lex = Lex::AttrName;
                }
            },
            Lex::AttrName => {
                if b == b'=' || is_ws(b) {
                    let name = &buf[self.mark..self.pos];
                    if name == b"xmlns" || name.starts_with(b"xmlns:") {
                        self.ns_decls += 1;
                        if self.ns_decls > ctx.limits.max_namespaces {
                            let limit = ctx.limits.max_namespaces;
                            return Err(XmlError::limit(LimitKind::Namespaces, limit));
                        }
                    }
                    self.lex = Lex::AfterAttrName;
                    advance = false;
                } else if is_name_breaker(b) {
                    return Err(XmlError::nwf("bad attribute syntax"));
                }
            }
            Lex::AfterAttrName => match b {
                b'=' => self.lex = Lex::BeforeValue,
                _ if is_ws(b) => {}
                _ => return Err(XmlError::nwf("attribute without a value")),
            },
            Lex::BeforeValue => match b {
                b'"' | b'\'' => self.lex = Lex::Value(b),
                _ if is_ws(b) => {}
                _ => return Err(XmlError::nwf("unquoted attribute value")),
            },
            Lex::Value(quote) => match b {
                _ if b == quote => self.lex = Lex::BeforeAttr(false),
                b'<' => return Err(XmlError::nwf("'<' in an attribute value")),
                b'&' => self.ref_start = Some(self.pos),
                _ => {}
            },
            Lex::Slash => {
                if b != b'>' {
                    return Err(XmlError::nwf("'/' not followed by '>' in a tag"));
                }
                if ctx.header {
                    return Err(XmlError::BadFormat {
                        reason: "self-closing stream header",
                    });
                }
                return Ok(self.close_element());
            }
        }
        if advance {
            self.pos += 1;
        }
        Ok(None)
    }

    /// Checks an end-tag name against the innermost open element (or, at depth 0, the stream
    /// header), so a mismatch fails now instead of desynchronising the framing.
    fn close_name(
        &self,
        buf: &[u8],
        (start, end): (usize, usize),
        ctx: &ScanCtx<'_>,
    ) -> Result<(), XmlError> {
        let expected = match self.names.last() {
            Some(&(s, e)) => &buf[s..e],
            None => ctx.stream_qname,
        };
        if &buf[start..end] != expected {
            return Err(XmlError::nwf("mismatched end tag"));
        }
        Ok(())
    }

    /// An element closed (end tag or `/>`): the frame is done when depth returns to 0.
    fn close_element(&mut self) -> Option<FrameKind> {
        if self.depth == 0 {
            return Some(FrameKind::Close);
        }
        self.names.pop();
        self.depth -= 1;
        self.lex = Lex::Content;
        if self.depth == 0 {
            Some(FrameKind::Stanza)
        } else {
            self.pos += 1;
            None
        }
    }
}

/// Character data where only markup may appear.
fn stray_text(ctx: &ScanCtx<'_>) -> XmlError {
    if ctx.header {
        XmlError::nwf("text before the stream header")
    } else {
        XmlError::BadFormat {
            reason: "character data between stanzas",
        }
    }
}

/// Validates the body of `&body;`.
fn check_ref(body: &[u8]) -> Result<(), XmlError> {
    let code = match body {
        b"lt" | b"gt" | b"amp" | b"apos" | b"quot" => return Ok(()),
        [b'#', b'x', hex @ ..] => parse_code(hex, 16),
        [b'#', dec @ ..] => parse_code(dec, 10),
        [] => return Err(XmlError::nwf("empty reference")),
        _ => return Err(XmlError::restricted("entity reference")),
    };
    match code.and_then(char::from_u32) {
        Some(c) if is_xml_char(c) => Ok(()),
        _ => Err(XmlError::nwf("invalid character reference")),
    }
}

fn parse_code(digits: &[u8], radix: u32) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        let d = char::from(d).to_digit(radix)?;
        acc.checked_mul(radix)?.checked_add(d)
    })
}

/// XML 1.0 §2.2 `Char`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
