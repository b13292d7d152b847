//! `xml_stream`: arbitrary bytes through `tessera_xml::StreamParser`, cut into reads at points
//! the input chooses, with the production limits (`[limits]` defaults, RFC 6120 §13.12's
//! "stanza size" as Prosody sets it).
//!
//! Input: `[seed, flags, bytes…]`.
//! - `seed` picks the read sizes (`Splitter`).
//! - `flags & 1`: prepend a valid stream header, so the fuzzer spends its time on stanzas.
//! - `flags & 2`: after the first stanza, restart the stream keeping the buffer (what the host
//!   does after SASL success, RFC 6120 §6.4.6).
//!
//! Checked, besides "never panics":
//! - the parser never buffers more than one frame's limit plus the read just fed (no unbounded
//!   buffering, STYLE.md §28);
//! - the heap never grows past a linear bound in the input (no unbounded allocation);
//! - errors are final, and every stanza survives `serialize` / `serialize_document` and a reparse
//!   unchanged (what the host writes is what it read).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{Counting, Splitter, peak_above, start_measuring};
use tessera_xml::{Element, Event, Limits, StreamParser};

#[global_allocator]
static ALLOC: Counting = Counting;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' xml:lang='en'>";

/// `tessera_xml`'s own upper bound for a stream header or XML declaration (`framer.rs`).
const MAX_HEADER_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let [seed, flags, body @ ..] = data else {
        return;
    };
    let mut input = Vec::with_capacity(HEADER.len() + body.len());
    if flags & 1 == 1 {
        input.extend_from_slice(HEADER);
    }
    input.extend_from_slice(body);
    let restart = flags & 2 == 2;

    let baseline = start_measuring();
    run(&input, *seed, restart);
    // Linear in the input: the buffer, one frame's tokens and its tree, and the round trip's
    // copies of one stanza. 64× covers minidom's per-node overhead on the smallest elements
    // (`<a/>` is four bytes); 1 MiB the fixed costs.
    let peak = peak_above(baseline);
    assert!(
        peak <= 64 * input.len() + (1 << 20),
        "{peak} heap bytes for {} input bytes",
        input.len()
    );
});

fn run(input: &[u8], seed: u8, restart: bool) {
    let limits = Limits::default();
    let bound = limits.max_stanza_bytes.max(MAX_HEADER_BYTES);
    let mut parser = StreamParser::new(limits);
    let mut split = Splitter::new(seed);
    let mut rest = input;
    let mut restarted = false;
    while !rest.is_empty() {
        let (chunk, tail) = split.next(rest);
        rest = tail;
        parser.feed(chunk);
        loop {
            match parser.next_event() {
                Ok(Some(Event::Stanza(el))) => {
                    round_trip(&el);
                    if restart && !restarted {
                        restarted = true;
                        parser.reset(true);
                    }
                }
                Ok(Some(Event::StreamOpen(_) | Event::StreamClose)) => {}
                Ok(None) => break,
                Err(err) => {
                    // Errors are final, and name a wire condition.
                    assert!(!err.condition().is_empty());
                    parser.feed(b"<presence/>");
                    assert_eq!(parser.next_event(), Err(err));
                    assert_eq!(parser.buffered(), 11);
                    return;
                }
            }
        }
        // Everything complete was consumed; what is left is one partial frame, which the framer
        // has already checked against its limit.
        assert!(
            parser.buffered() <= bound + chunk.len(),
            "buffered {} > {bound} + {}",
            parser.buffered(),
            chunk.len()
        );
    }
}

/// The host writes a stanza with `serialize` on a stream whose default namespace is
/// `jabber:client`, and hands plugins `serialize_document`, a document with no namespace in
/// scope: both must parse back to the same tree in their context.
fn round_trip(el: &Element) {
    let stream = tessera_xml::serialize(el);
    reparse(HEADER, &stream, el, "serialize");
    let document = tessera_xml::serialize_document(el);
    reparse(BARE_HEADER, document.as_bytes(), el, "serialize_document");
}

/// A stream header that declares no default namespace: the scope of a standalone document.
const BARE_HEADER: &[u8] =
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

fn reparse(header: &[u8], bytes: &[u8], el: &Element, form: &str) {
    let mut parser = StreamParser::new(Limits {
        // The reparse is not subject to the peer's limits: serialising may grow a stanza
        // (escaping, declarations), which is our business, not the peer's.
        max_stanza_bytes: 1 << 30,
        max_depth: 1 << 20,
        max_attributes: 1 << 20,
        max_namespaces: 1 << 20,
    });
    parser.feed(header);
    parser.feed(bytes);
    assert!(matches!(
        parser.next_event(),
        Ok(Some(Event::StreamOpen(_)))
    ));
    match parser.next_event() {
        Ok(Some(Event::Stanza(back))) => assert_eq!(&back, el, "{form} round trip"),
        other => panic!("{form} output did not reparse: {other:?}"),
    }
}
