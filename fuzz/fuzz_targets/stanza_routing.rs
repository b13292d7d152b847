//! `stanza_routing`: arbitrary bytes as what a bound client sends, through what the host does
//! before routing: the stream parser with the production limits (as `stream::c2s` sets it up),
//! then, per element, the stream layer's stanza check and `from` stamp and the router's
//! destination classification (`tessera::bench::route_client_stanza`, which calls the same
//! functions the session loop and `im::handle_stanza` do).
//!
//! Input: `[seed, bytes…]`, `seed` choosing the read sizes; the stream header is supplied, so
//! every byte after it is stanza content. Sender `juliet@localhost/balcony`, domain `localhost`.
//!
//! Checked, besides "never panics": a routed stanza carries exactly the sender as `from` and the
//! client's `to` unchanged; a destination on our domain names our domain; a `jid-malformed`
//! reply goes back to the sender as an error and never answers an error; every reply serialises
//! into something the parser reads back.

#![no_main]

use jid::{BareJid, FullJid, Jid};
use libfuzzer_sys::fuzz_target;
use tessera::bench::{Routed, route_client_stanza};
use tessera_fuzz::Splitter;
use tessera_xml::{Element, Event, Limits, StreamParser};

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

fuzz_target!(|data: &[u8]| {
    let [seed, body @ ..] = data else {
        return;
    };
    let sender: FullJid = "juliet@localhost/balcony".parse().expect("fixed JID");
    let domain: BareJid = "localhost".parse().expect("fixed domain");
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER);
    let mut split = Splitter::new(*seed);
    let mut rest = body;
    while !rest.is_empty() {
        let (chunk, tail) = split.next(rest);
        rest = tail;
        parser.feed(chunk);
        loop {
            match parser.next_event() {
                Ok(Some(Event::Stanza(el))) => {
                    if !route(el, &sender, &domain) {
                        return;
                    }
                }
                Ok(Some(Event::StreamOpen(_))) => {}
                Ok(None) => break,
                Ok(Some(Event::StreamClose)) | Err(_) => return,
            }
        }
    }
});

/// One element through the host; `false` if the stream would be closed.
fn route(el: Element, sender: &FullJid, domain: &BareJid) -> bool {
    let to = el.attr("to").map(str::to_owned);
    let was_error = el.attr("type") == Some("error");
    match route_client_stanza(el, sender, domain) {
        Routed::StreamError(condition) => {
            assert_eq!(condition, "unsupported-stanza-type");
            false
        }
        Routed::SessionReply(reply) => {
            let back = reparse(reply.as_bytes());
            assert_eq!(back.name(), "iq");
            assert_eq!(back.attr("type"), Some("result"));
            true
        }
        Routed::JidMalformed(reply) => {
            let to = to.expect("jid-malformed without a to");
            // The host also refuses a domainpart with two final dots (an empty label, RFC 7622
            // §3.2), which jid 0.12.3 accepts, and a JID whose normalisation does not settle.
            assert!(
                Jid::new(&to).is_err()
                    || to[..to.find('/').unwrap_or(to.len())].ends_with("..")
                    || Jid::new(&to).is_ok_and(|j| Jid::new(j.as_str()) != Ok(j.clone())),
                "a valid JID was called malformed"
            );
            match reply {
                Some(reply) => {
                    assert!(!was_error, "answered an error with an error");
                    assert_eq!(reply.attr("type"), Some("error"));
                    assert_eq!(reply.attr("to"), Some(sender.as_str()));
                    assert_eq!(reparse(&tessera_xml::serialize(&reply)), reply);
                }
                None => assert!(was_error, "no reply to a non-error"),
            }
            true
        }
        Routed::Routed { stanza, dest } => {
            assert_eq!(
                stanza.attr("from"),
                Some(sender.as_str()),
                "from not stamped"
            );
            assert_eq!(stanza.attr("to").map(str::to_owned), to, "to changed");
            // The host strips a domainpart's final dot (RFC 7622 §3.2) and parses until stable.
            let parsed = to.as_deref().map(|t| {
                let end = t.find('/').unwrap_or(t.len());
                let t = match t[..end].strip_suffix('.') {
                    Some(head) => format!("{head}{}", &t[end..]),
                    None => t.to_owned(),
                };
                let once = Jid::new(&t).expect("routed with a bad to");
                let twice = Jid::new(once.as_str()).expect("a parsed JID reparses");
                Jid::new(twice.as_str()).expect("a parsed JID reparses")
            });
            match (dest.split('(').next().unwrap_or_default(), &parsed) {
                ("Absent", None) | ("Remote", Some(_)) => {}
                ("Server" | "ServerResource", Some(j)) => {
                    assert_eq!(j.domain(), domain.domain());
                    assert!(j.node().is_none());
                }
                ("LocalBare" | "LocalFull", Some(j)) => {
                    assert_eq!(j.domain(), domain.domain());
                    assert!(j.node().is_some());
                    assert_eq!(dest.starts_with("LocalFull"), j.resource().is_some());
                }
                (other, to) => panic!("destination {other} for to={to:?}"),
            }
            if let Some(j) = &parsed
                && dest == "Remote"
            {
                assert_ne!(j.domain(), domain.domain());
            }
            true
        }
        _ => true,
    }
}

/// Parses bytes the server would write, in a stream whose default namespace is `jabber:client`.
fn reparse(bytes: &[u8]) -> Element {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER);
    parser.feed(bytes);
    assert!(matches!(
        parser.next_event(),
        Ok(Some(Event::StreamOpen(_)))
    ));
    match parser.next_event() {
        Ok(Some(Event::Stanza(el))) => el,
        other => panic!("server output did not reparse: {other:?}"),
    }
}
