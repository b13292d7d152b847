//! Stanza parse and serialise costs: the work every routed message pays in the stream layer.
//!
//! `cargo bench -p tessera-xml` (CI only compiles it). Figures go in `docs/benchmarks.md`.

use divan::{Bencher, black_box};
use tessera_xml::{Event, Limits, StreamParser, serialize};

fn main() {
    divan::main();
}

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/// A typical chat message (~500 bytes): body, chat state, receipt request, origin id.
fn chat_message() -> Vec<u8> {
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
        incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
        exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat &amp; more.";
    format!(
        "<message to='bob@localhost/phone' type='chat' id='a3f9c2e1-77b0-4d6e-9f1a'>\
         <body>{body}</body><active xmlns='http://jabber.org/protocol/chatstates'/>\
         <request xmlns='urn:xmpp:receipts'/>\
         <origin-id xmlns='urn:xmpp:sid:0' id='a3f9c2e1-77b0-4d6e-9f1a'/></message>"
    )
    .into_bytes()
}

fn primed_parser() -> StreamParser {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER);
    match p.next_event() {
        Ok(Some(Event::StreamOpen(_))) => p,
        other => panic!("stream header did not parse: {other:?}"),
    }
}

/// Frame, check limits and build the element for one stanza fed in one read.
#[divan::bench]
fn parse_message(bencher: Bencher<'_, '_>) {
    let msg = chat_message();
    let mut parser = primed_parser();
    bencher
        .counter(divan::counter::BytesCount::new(msg.len()))
        .bench_local(|| {
            parser.feed(black_box(&msg));
            match parser.next_event() {
                Ok(Some(Event::Stanza(el))) => el,
                other => panic!("stanza did not parse: {other:?}"),
            }
        });
}

/// The same stanza arriving in 64-byte pieces (slow links, TLS record boundaries).
#[divan::bench]
fn parse_message_in_64_byte_reads(bencher: Bencher<'_, '_>) {
    let msg = chat_message();
    let mut parser = primed_parser();
    bencher.bench_local(|| {
        let mut out = None;
        for chunk in black_box(&msg).chunks(64) {
            parser.feed(chunk);
            if let Ok(Some(Event::Stanza(el))) = parser.next_event() {
                out = Some(el);
            }
        }
        out.expect("stanza parsed")
    });
}

/// Serialise for a `jabber:client` stream.
#[divan::bench]
fn serialize_message(bencher: Bencher<'_, '_>) {
    let mut parser = primed_parser();
    parser.feed(&chat_message());
    let Ok(Some(Event::Stanza(el))) = parser.next_event() else {
        panic!("stanza did not parse");
    };
    bencher.bench_local(|| serialize(black_box(&el)));
}
