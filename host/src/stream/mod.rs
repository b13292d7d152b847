//! Client streams (RFC 6120): one task per TCP connection.
//!
//! A connection goes through negotiation — optional direct TLS (XEP-0368), stream header, STARTTLS
//! (§5), SASL (§6), resource binding (§7) — within `limits.handshake_timeout`, then becomes a bound
//! session that exchanges stanzas until either side closes it.
//!
//! Reading is always `read_buf` into a `BytesMut` (cancel-safe) whose bytes are fed to the sans-IO
//! [`tessera_xml::StreamParser`]; the parser, not the socket, decides where a stanza ends and
//! enforces the size limits before anything is materialised.
//!
//! Layout:
//! - `transport`: plain or TLS byte stream.
//! - `conn`: the transport plus the parser; reading events and writing bytes with deadlines.
//! - `error`: why a connection ends, as RFC 6120 §4.9.3 stream error conditions.
//! - `negotiate`: stream headers, features, STARTTLS and resource binding.
//! - `sasl`: the SASL exchange on top of `tessera-sasl`, with failure throttling (`throttle`).
//! - `sasl2`: XEP-0388 SASL2 with XEP-0386 Bind 2 and the inline requests riding on it.
//! - `fast`: XEP-0484 FAST tokens for one-round-trip logins over SASL2.
//! - `session`: the bound session loop: inbound stanzas, queued outbound stanzas, idle pings,
//!   hibernation and resumption.
//! - `csi`: XEP-0352 client state indication, sans-IO: what an inactive client is spared.
//! - `sm`: XEP-0198 stream management, sans-IO: counters, the unacknowledged queue, nonzas.
//! - `resume`: the registry of resumable sessions and the hand-off of a resuming connection.
//! - `c2s`: the per-connection entry point tying these together.

mod bucket;
mod c2s;
mod conn;
mod csi;
mod error;
mod fast;
pub(crate) mod ip_limit;
mod negotiate;
pub(crate) mod resume;
mod sasl;
mod sasl2;
mod session;
mod sm;
pub(crate) mod throttle;
mod transport;

pub(crate) use c2s::serve;
// bench: the `stanza_routing` fuzz target's entry point (`crate::bench::route_client_stanza`).
pub(crate) use session::{Inbound, check_inbound};

/// Escapes text for an XML attribute value or text node (the five predefined entities).
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}
