//! XEP-0198 Stream Management, server side and sans-IO: the handled-stanza counters, the queue of
//! stanzas sent and not yet acknowledged, and the nonzas (`<enable/>`, `<r/>`, `<a/>`,
//! `<resume/>`) as the session loop and negotiation read and write them.
//!
//! Counting follows XEP-0198 §4: from `<enable/>` on, every stanza (a top-level `message`,
//! `presence` or `iq`) the client sends and the server has handled raises our inbound count, which
//! `<a h='…'/>` reports; every stanza we write raises the outbound count and waits in the unacked
//! queue until the client's `h` covers it. Both counts are unsigned 32-bit and wrap (§4, "h").
//! Nonzas themselves are never counted.
//!
//! What happens to the queue is the session's business (`session.rs`): resent after `<resume/>`
//! (§5), or, when the session finally ends, handed to IM to be delivered elsewhere, stored offline
//! or bounced (`crate::im::undelivered`), so an acknowledged-by-nobody stanza is never dropped
//! silently.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::Bytes;
use minidom::Element;

use super::escape;
use crate::ns;

/// The server side of an enabled stream management session.
#[derive(Debug)]
pub(crate) struct StreamManagement {
    /// The resumption id, when the client asked for resumption and the server allows it.
    pub(crate) resume_id: Option<String>,
    /// Stanzas received from the client and handled: the `h` we report.
    inbound: u32,
    /// The `h` the client last acknowledged: everything up to it has been received.
    acked: u32,
    /// Sent and not acknowledged, oldest first, with when each was first sent. Sequence numbers
    /// are implicit: the front is stanza `acked + 1`.
    unacked: VecDeque<(Bytes, SystemTime)>,
    /// An `<r/>` we sent has not been answered yet: no second one until it is.
    request_pending: bool,
}

/// A peer fault in stream management that ends the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SmError {
    /// `<a/>` acknowledged stanzas that were never sent (XEP-0198 §4: `undefined-condition`
    /// with `<handled-count-too-high/>`).
    #[error("acknowledged {h} stanzas but only {send_count} were sent")]
    HandledCountTooHigh {
        /// The client's `h`.
        h: u32,
        /// Our outbound count.
        send_count: u32,
    },
    /// An `h` attribute missing or not an unsigned 32-bit number.
    #[error("missing or invalid 'h'")]
    BadH,
}

impl SmError {
    /// The stream error to close with: the RFC 6120 condition and the XEP-0198 application
    /// element, serialised.
    pub(crate) fn stream_error(&self) -> (&'static str, Option<String>) {
        match self {
            Self::HandledCountTooHigh { h, send_count } => (
                "undefined-condition",
                Some(format!(
                    "<handled-count-too-high xmlns='{}' h='{h}' send-count='{send_count}'/>",
                    ns::SM
                )),
            ),
            Self::BadH => ("bad-format", None),
        }
    }
}

impl StreamManagement {
    /// A freshly enabled session; `resume_id` when resumption was granted.
    pub(crate) fn new(resume_id: Option<String>) -> Self {
        Self {
            resume_id,
            inbound: 0,
            acked: 0,
            unacked: VecDeque::new(),
            request_pending: false,
        }
    }

    /// The client sent a stanza and it has been handled.
    pub(crate) fn received(&mut self) {
        self.inbound = self.inbound.wrapping_add(1);
    }

    /// Our handled count, for `<a/>`, `<resumed/>` and `<failed/>`.
    pub(crate) fn inbound(&self) -> u32 {
        self.inbound
    }

    /// Stanzas sent so far (modulo 2^32).
    fn send_count(&self) -> u32 {
        // The queue never holds more than `session_queue` entries (the session closes first).
        self.acked.wrapping_add(self.unacked.len() as u32)
    }

    /// A stanza is being written to the client.
    pub(crate) fn sent(&mut self, stanza: Bytes) {
        self.unacked.push_back((stanza, SystemTime::now()));
    }

    /// Stanzas written and not acknowledged.
    pub(crate) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// The client acknowledged everything up to `h` (`<a/>`, or `h` on `<resume/>`). An `h`
    /// equal to what it acknowledged before is a no-op.
    ///
    /// # Errors
    /// [`SmError::HandledCountTooHigh`] when `h` counts stanzas never sent.
    pub(crate) fn acknowledge(&mut self, h: u32) -> Result<(), SmError> {
        let newly = h.wrapping_sub(self.acked) as usize;
        if newly > self.unacked.len() {
            return Err(SmError::HandledCountTooHigh {
                h,
                send_count: self.send_count(),
            });
        }
        self.unacked.drain(..newly);
        self.acked = h;
        self.request_pending = false;
        // A burst that was acknowledged leaves a large, empty ring behind: give it back, as an
        // idle session should hold next to nothing.
        if self.unacked.is_empty() && self.unacked.capacity() > 64 {
            self.unacked = VecDeque::new();
        }
        Ok(())
    }

    /// Whether to follow a write with `<r/>`: stanzas are unacknowledged and no request is
    /// outstanding (as Prosody and ejabberd do: at most one request in flight). Marks the request
    /// as sent.
    pub(crate) fn should_request(&mut self) -> bool {
        if self.request_pending || self.unacked.is_empty() {
            return false;
        }
        self.request_pending = true;
        true
    }

    /// The stanzas to write again after `<resumed/>`, oldest first (they stay unacknowledged):
    /// a message carries an XEP-0203 delay stamp from `domain` with when it was first sent, so a
    /// client orders it by then, not by when the connection came back.
    pub(crate) fn resend(&self, domain: &str) -> impl Iterator<Item = Bytes> {
        self.unacked
            .iter()
            .map(move |(stanza, at)| delayed(stanza, domain, *at))
    }

    /// Everything unacknowledged, for a session that ends for good.
    pub(crate) fn take_unacked(&mut self) -> Vec<Bytes> {
        self.unacked.drain(..).map(|(b, _)| b).collect()
    }

    /// A request answered by a resumption starts over: the new connection has none in flight.
    pub(crate) fn connection_replaced(&mut self) {
        self.request_pending = false;
    }
}

/// `stanza` with an XEP-0203 `<delay/>` (from `domain`, stamped `at`) if it is a message that has
/// none yet; anything else as it is. Works on our own serialisation, whose message ends with
/// `</message>` or is one self-closing `<message …/>`.
fn delayed(stanza: &Bytes, domain: &str, at: SystemTime) -> Bytes {
    if !stanza.starts_with(b"<message") || contains(stanza, b"urn:xmpp:delay") {
        return stanza.clone();
    }
    let stamp = chrono::DateTime::<chrono::Utc>::from(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let delay = format!(
        "<delay xmlns='{}' from='{}' stamp='{stamp}'/>",
        ns::DELAY,
        escape(domain)
    );
    let mut out = Vec::with_capacity(stanza.len() + delay.len() + 12);
    if let Some(head) = stanza.strip_suffix(b"</message>") {
        out.extend_from_slice(head);
        out.extend_from_slice(delay.as_bytes());
        out.extend_from_slice(b"</message>");
    } else if let Some(head) = stanza.strip_suffix(b"/>") {
        out.extend_from_slice(head);
        out.push(b'>');
        out.extend_from_slice(delay.as_bytes());
        out.extend_from_slice(b"</message>");
    } else {
        return stanza.clone();
    }
    Bytes::from(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `h` attribute of `<a/>` or `<resume/>`.
pub(crate) fn h_of(el: &Element) -> Result<u32, SmError> {
    el.attr("h")
        .and_then(|h| h.parse().ok())
        .ok_or(SmError::BadH)
}

/// `<a h='…'/>`.
pub(crate) fn answer(h: u32) -> String {
    format!("<a xmlns='{}' h='{h}'/>", ns::SM)
}

/// `<r/>`.
pub(crate) const REQUEST: &str = "<r xmlns='urn:xmpp:sm:3'/>";

/// `<enabled/>`: with `id` and `max` when resumption was granted (§3).
pub(crate) fn enabled(resume: Option<(&str, u64)>) -> String {
    let mut out = format!("<enabled xmlns='{}'", ns::SM);
    if let Some((id, max)) = resume {
        let _ = write!(out, " id='{}' resume='true' max='{max}'", escape(id));
    }
    out.push_str("/>");
    out
}

/// `<resumed/>` (§5).
pub(crate) fn resumed(previd: &str, h: u32) -> String {
    format!(
        "<resumed xmlns='{}' previd='{}' h='{h}'/>",
        ns::SM,
        escape(previd)
    )
}

/// `<failed/>` with a stanza error condition, and our `h` when there is a session to report it for
/// (§4, §5: lets the client know which of its stanzas arrived).
pub(crate) fn failed(condition: &str, h: Option<u32>) -> String {
    let h = h.map(|h| format!(" h='{h}'")).unwrap_or_default();
    format!(
        "<failed xmlns='{}'{h}><{condition} xmlns='{}'/></failed>",
        ns::SM,
        ns::STANZAS
    )
}

/// Whether the client's `resume` attribute asks for resumption (`true` or `1`, XML Schema
/// boolean).
pub(crate) fn wants_resume(enable: &Element) -> bool {
    matches!(enable.attr("resume"), Some("true" | "1"))
}

/// The resumption window to grant: the client's `max` (seconds) if it asked for less than ours.
pub(crate) fn granted_max(enable: &Element, ours: std::time::Duration) -> u64 {
    let ours = ours.as_secs();
    enable
        .attr("max")
        .and_then(|m| m.parse::<u64>().ok())
        .filter(|m| *m > 0)
        .map_or(ours, |m| m.min(ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm_with(sent: usize) -> StreamManagement {
        let mut sm = StreamManagement::new(None);
        for i in 0..sent {
            sm.sent(Bytes::from(format!("<message id='{i}'/>")));
        }
        sm
    }

    #[test]
    fn acks_drop_what_they_cover_and_no_more() {
        let mut sm = sm_with(3);
        sm.acknowledge(1).expect("one of three");
        assert_eq!(sm.unacked_len(), 2);
        assert_eq!(
            sm.unacked.front().map(|(b, _)| &b[..]),
            Some(&b"<message id='1'/>"[..])
        );
        // The same h again changes nothing.
        sm.acknowledge(1).expect("repeat");
        assert_eq!(sm.unacked_len(), 2);
        sm.acknowledge(3).expect("all");
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn an_ack_beyond_the_send_count_is_an_error() {
        let mut sm = sm_with(2);
        assert_eq!(
            sm.acknowledge(3),
            Err(SmError::HandledCountTooHigh {
                h: 3,
                send_count: 2
            })
        );
        // Nothing was dropped by the refused ack.
        assert_eq!(sm.unacked_len(), 2);
        let (condition, app) = SmError::HandledCountTooHigh {
            h: 3,
            send_count: 2,
        }
        .stream_error();
        assert_eq!(condition, "undefined-condition");
        assert!(app.is_some_and(|a| a.contains("h='3'") && a.contains("send-count='2'")));
    }

    #[test]
    fn counts_wrap_at_two_to_the_thirty_second() {
        let mut sm = StreamManagement::new(None);
        sm.acked = u32::MAX - 1;
        sm.inbound = u32::MAX;
        sm.received();
        assert_eq!(sm.inbound(), 0);
        for _ in 0..3 {
            sm.sent(Bytes::from_static(b"<message/>"));
        }
        assert_eq!(sm.send_count(), 1);
        sm.acknowledge(0).expect("two of three, across the wrap");
        assert_eq!(sm.unacked_len(), 1);
        sm.acknowledge(1).expect("the last");
        assert_eq!(sm.unacked_len(), 0);
        assert!(sm.acknowledge(2).is_err());
    }

    #[test]
    fn one_request_in_flight() {
        let mut sm = StreamManagement::new(None);
        assert!(!sm.should_request(), "nothing to acknowledge");
        sm.sent(Bytes::from_static(b"<message/>"));
        assert!(sm.should_request());
        sm.sent(Bytes::from_static(b"<message/>"));
        assert!(!sm.should_request(), "one is outstanding");
        sm.acknowledge(1).expect("ack");
        assert!(sm.should_request(), "answered; one still unacked");
        sm.connection_replaced();
        assert!(sm.should_request(), "a new connection has none in flight");
    }

    #[test]
    fn h_must_be_a_u32() {
        let el = |h: &str| {
            format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>")
                .parse::<Element>()
                .expect("element")
        };
        assert_eq!(h_of(&el("42")), Ok(42));
        assert_eq!(h_of(&el("4294967295")), Ok(u32::MAX));
        assert_eq!(h_of(&el("4294967296")), Err(SmError::BadH));
        assert_eq!(h_of(&el("-1")), Err(SmError::BadH));
        let none: Element = "<a xmlns='urn:xmpp:sm:3'/>".parse().expect("element");
        assert_eq!(h_of(&none), Err(SmError::BadH));
    }

    #[test]
    fn nonzas_serialise_as_the_xep_shows() {
        assert_eq!(answer(7), "<a xmlns='urn:xmpp:sm:3' h='7'/>");
        assert_eq!(enabled(None), "<enabled xmlns='urn:xmpp:sm:3'/>");
        assert_eq!(
            enabled(Some(("abc", 300))),
            "<enabled xmlns='urn:xmpp:sm:3' id='abc' resume='true' max='300'/>"
        );
        assert_eq!(
            resumed("abc", 3),
            "<resumed xmlns='urn:xmpp:sm:3' previd='abc' h='3'/>"
        );
        assert_eq!(
            failed("item-not-found", Some(2)),
            "<failed xmlns='urn:xmpp:sm:3' h='2'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        );
        for text in [
            answer(1),
            enabled(Some(("x", 1))),
            resumed("x", 1),
            failed("unexpected-request", None),
        ] {
            text.parse::<Element>().expect("well-formed");
        }
    }

    #[test]
    fn the_window_is_the_smaller_of_both() {
        let ours = std::time::Duration::from_secs(300);
        let enable = |attrs: &str| {
            format!("<enable xmlns='urn:xmpp:sm:3' {attrs}/>")
                .parse::<Element>()
                .expect("element")
        };
        assert_eq!(granted_max(&enable("resume='true'"), ours), 300);
        assert_eq!(granted_max(&enable("resume='true' max='60'"), ours), 60);
        assert_eq!(granted_max(&enable("resume='1' max='9000'"), ours), 300);
        assert_eq!(granted_max(&enable("max='0'"), ours), 300);
        assert!(wants_resume(&enable("resume='1'")));
        assert!(!wants_resume(&enable("resume='false'")));
        assert!(!wants_resume(&enable("")));
    }

    #[test]
    fn resent_messages_carry_when_they_were_first_sent() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let stamp = "stamp='2023-11-14T22:13:20.123Z'";
        let full =
            Bytes::from_static(b"<message xmlns='jabber:client' id='1'><body>hi</body></message>");
        let out = delayed(&full, "example.org", at);
        let text = std::str::from_utf8(&out).expect("utf-8");
        assert!(text.ends_with(&format!("<body>hi</body><delay xmlns='urn:xmpp:delay' from='example.org' {stamp}/></message>")), "{text}");
        text.parse::<Element>().expect("well-formed");

        let empty = Bytes::from_static(b"<message xmlns='jabber:client' id='2'/>");
        let out = delayed(&empty, "example.org", at);
        let text = std::str::from_utf8(&out).expect("utf-8");
        assert!(
            text.starts_with("<message xmlns='jabber:client' id='2'><delay"),
            "{text}"
        );
        text.parse::<Element>().expect("well-formed");

        // Already delayed (offline delivery), or not a message: untouched.
        let stamped = Bytes::from_static(
            b"<message xmlns='jabber:client'><delay xmlns='urn:xmpp:delay' stamp='x'/></message>",
        );
        assert_eq!(delayed(&stamped, "example.org", at), stamped);
        let iq = Bytes::from_static(b"<iq xmlns='jabber:client' type='result' id='3'/>");
        assert_eq!(delayed(&iq, "example.org", at), iq);
    }
}
