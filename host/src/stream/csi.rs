//! XEP-0352 Client State Indication, server side and sans-IO: while a client says it is
//! `<inactive/>` (a phone in a pocket), stanzas that can wait are held, and presence updates are
//! coalesced, so the radio wakes for what matters.
//!
//! What goes out at once, taking everything held before it along (order is kept):
//! - every IQ (someone waits for an answer);
//! - a message with a body or an encrypted payload (OMEMO, OpenPGP), a call proposal
//!   (XEP-0353), or an error;
//! - presence that manages a subscription (RFC 6121 §3) or is an error.
//!
//! What waits: available/unavailable presence, of which only the newest per sender is kept, and
//! messages without content: chat states (the newest per sender is kept), receipts, markers.
//! Held stanzas go out with the next one that matters, when the client says `<active/>`, or when
//! [`MAX_HELD`] are waiting. The rules follow Prosody's `mod_csi_simple` in spirit: XEP-0352
//! leaves them to the server.

use std::collections::VecDeque;

use bytes::Bytes;

/// Most stanzas held for an inactive client before they are flushed anyway.
pub(crate) const MAX_HELD: usize = 64;

/// Why a stanza may wait.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Must go out now.
    Urgent,
    /// Presence from this sender: a newer one replaces it.
    Presence(Option<String>),
    /// A chat state from this sender: a newer one replaces it.
    ChatState(Option<String>),
    /// Can wait, is never replaced (receipts, markers).
    Other,
}

/// What an inactive client has not been sent yet.
#[derive(Debug, Default)]
pub(crate) struct Held {
    stanzas: VecDeque<(Kind, Bytes)>,
}

impl Held {
    /// Offers a stanza for an inactive client: `Some(all)` when it (and so everything held) must
    /// be written now, oldest first; `None` when it was held.
    pub(crate) fn offer(&mut self, stanza: Bytes) -> Option<Vec<Bytes>> {
        let kind = classify(&stanza);
        if kind == Kind::Urgent {
            let mut out = self.take();
            out.push(stanza);
            return Some(out);
        }
        if matches!(kind, Kind::Presence(_) | Kind::ChatState(_)) {
            self.stanzas.retain(|(k, _)| *k != kind);
        }
        self.stanzas.push_back((kind, stanza));
        (self.stanzas.len() >= MAX_HELD).then(|| self.take())
    }

    /// Everything held, oldest first.
    pub(crate) fn take(&mut self) -> Vec<Bytes> {
        let out = self.stanzas.drain(..).map(|(_, b)| b).collect();
        // An idle session should hold next to nothing.
        self.stanzas = VecDeque::new();
        out
    }

    /// Nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.stanzas.is_empty()
    }
}

/// Looks at our own serialisation of a stanza: the name and attributes of its start tag, and
/// which child elements it has. A `<` in serialised XML always starts markup (text and attribute
/// values escape it), so a search for `<body` finds an element, never text.
fn classify(stanza: &[u8]) -> Kind {
    let text = String::from_utf8_lossy(stanza);
    let head_end = text.find('>').unwrap_or(text.len());
    let head = &text[..head_end];
    let ty = attr(head, "type");
    let from = attr(head, "from").map(str::to_owned);
    if head.starts_with("<presence") {
        return match ty {
            None | Some("unavailable") => Kind::Presence(from),
            // Subscription management, errors and probes (never sent to clients, but urgent if
            // ever) go out now.
            Some(_) => Kind::Urgent,
        };
    }
    if head.starts_with("<message") {
        let has = |name: &str| {
            text.match_indices(name)
                .any(|(at, _)| text[at + name.len()..].starts_with([' ', '>', '/']))
        };
        if ty == Some("error") || has("<body") || has("<encrypted") || has("<propose") {
            return Kind::Urgent;
        }
        if text.contains("http://jabber.org/protocol/chatstates") {
            return Kind::ChatState(from);
        }
        return Kind::Other;
    }
    Kind::Urgent
}

/// An attribute of a start tag we serialised (`name='v'` or `name="v"`).
fn attr<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(at) = head.find(&key) {
            let rest = &head[at + key.len()..];
            return rest.find(quote).map(|end| &rest[..end]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    fn texts(v: Vec<Bytes>) -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8(b.to_vec()).expect("utf-8"))
            .collect()
    }

    #[test]
    fn what_matters_goes_out_at_once() {
        for urgent in [
            "<iq xmlns='jabber:client' type='get' id='1'/>",
            "<message xmlns='jabber:client' from='a@x/r'><body>hi</body></message>",
            "<message xmlns='jabber:client' from='a@x/r'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>",
            "<message xmlns='jabber:client' from='a@x/r'><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>",
            "<message xmlns='jabber:client' type='error' from='a@x/r'/>",
            "<presence xmlns='jabber:client' type='subscribe' from='a@x'/>",
            "<presence xmlns='jabber:client' type='error' from='a@x'/>",
        ] {
            assert_eq!(classify(urgent.as_bytes()), Kind::Urgent, "{urgent}");
        }
    }

    #[test]
    fn presence_and_chat_states_are_coalesced_per_sender() {
        let mut held = Held::default();
        assert!(
            held.offer(b(
                "<presence xmlns='jabber:client' from='a@x/r'><show>away</show></presence>"
            ))
            .is_none()
        );
        assert!(
            held.offer(b("<presence xmlns='jabber:client' from='c@x/r'/>"))
                .is_none()
        );
        assert!(
            held.offer(b(
                "<presence xmlns='jabber:client' from='a@x/r'><show>dnd</show></presence>"
            ))
            .is_none()
        );
        assert!(held.offer(b("<message xmlns='jabber:client' from='a@x/r'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")).is_none());
        assert!(held.offer(b("<message xmlns='jabber:client' from='a@x/r'><received xmlns='urn:xmpp:receipts' id='1'/></message>")).is_none());
        assert!(held.offer(b("<message xmlns='jabber:client' from='a@x/r'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>")).is_none());
        let out = texts(
            held.offer(b(
                "<message xmlns='jabber:client' from='a@x/r'><body>hi</body></message>",
            ))
            .expect("a body goes out"),
        );
        assert_eq!(out.len(), 5, "{out:?}");
        assert!(
            out[0].contains("c@x/r"),
            "the other sender's presence stays: {out:?}"
        );
        assert!(
            out[1].contains("dnd"),
            "only the newest presence of a@x/r: {out:?}"
        );
        assert!(out[2].contains("receipts"));
        assert!(
            out[3].contains("paused"),
            "only the newest chat state: {out:?}"
        );
        assert!(out[4].contains("<body>hi</body>"));
        assert!(held.is_empty());
    }

    #[test]
    fn a_full_hold_is_flushed() {
        let mut held = Held::default();
        for i in 0..MAX_HELD - 1 {
            let receipt = format!(
                "<message xmlns='jabber:client' from='a@x/r'><received xmlns='urn:xmpp:receipts' id='{i}'/></message>"
            );
            assert!(held.offer(b(&receipt)).is_none());
        }
        let out = held
            .offer(b("<message xmlns='jabber:client'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>"))
            .expect("flushed when full");
        assert_eq!(out.len(), MAX_HELD);
    }

    #[test]
    fn a_body_lookalike_in_an_attribute_is_not_a_body() {
        // `<` is always escaped in attribute values and text, so this is an id, not an element.
        let m = "<message xmlns='jabber:client' id='&lt;body' from='a@x/r'><active xmlns='http://jabber.org/protocol/chatstates'/></message>";
        assert_eq!(
            classify(m.as_bytes()),
            Kind::ChatState(Some("a@x/r".into()))
        );
    }
}
