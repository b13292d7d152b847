//! Entry points for the benchmarks in `host/benches/`, which are separate crates and see only the
//! public API. Hidden from the docs and not part of the API: nothing else may call them.

use minidom::Element;

use crate::Server;
use crate::plugins::{self, Flow, Hook};

/// What the router does for a message to a local account before delivering it
/// (`im::message::handle`): the `incoming` hook, skipped outright when no plugin subscribed.
/// Returns whether the message goes on to delivery.
pub async fn incoming_hook(server: &Server, recipient: &jid::BareJid, message: Element) -> bool {
    let shared = server.shared();
    if !plugins::subscribed(shared, Hook::Incoming, &message) {
        return true;
    }
    matches!(
        plugins::run_hook(shared, Hook::Incoming, Some(recipient), None, message).await,
        Flow::Continue(_)
    )
}

/// The check the router makes before the `incoming` hook: whether any plugin subscribed to this
/// kind of stanza. All a message pays when none did.
pub fn incoming_subscribed(server: &Server, message: &Element) -> bool {
    plugins::subscribed(server.shared(), Hook::Incoming, message)
}

/// The one-off part of a hooked stanza, paid once however many plugins are called: the WIT
/// `stanza` record (the header fields copied out, the stanza serialised as a document) and the
/// call context. Returns the XML's length, so nothing is optimised away.
pub fn stanza_record(recipient: &jid::BareJid, message: &Element) -> usize {
    plugins::bench_record(recipient, message)
}

/// What [`route_client_stanza`] decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum Routed {
    /// The stream is closed with this RFC 6120 §4.9.3 condition.
    StreamError(&'static str),
    /// The legacy session request, answered by the stream layer with this reply.
    SessionReply(String),
    /// The `to` is not a JID: the sender gets this `jid-malformed` reply (RFC 6120 §8.3.3.8), or
    /// nothing if the stanza was an error itself.
    JidMalformed(Option<Element>),
    /// Handed on to message, presence or IQ handling.
    Routed {
        /// The stanza as stamped (`from` = the sender).
        stanza: Element,
        /// Where it goes: `im::stanza::Dest` in its `Debug` form.
        dest: String,
    },
}

/// What the server does with one element a bound client `sender` sent, before any hook, storage
/// or I/O: the stream layer's checks and `from` stamp (`stream::check_inbound`), then the `to`
/// parse and destination classification `im::handle_stanza` starts with. For the
/// `stanza_routing` fuzz target; pure, no server needed.
pub fn route_client_stanza(
    stanza: Element,
    sender: &jid::FullJid,
    domain: &jid::BareJid,
) -> Routed {
    use crate::im::error::{Condition, error_reply};
    use crate::im::stanza::{Dest, parse_to};
    use crate::stream::{Inbound, check_inbound};

    let stanza = match check_inbound(stanza, sender, domain.as_str()) {
        Ok(Inbound::Stanza(stanza)) => stanza,
        Ok(Inbound::SessionReply(reply)) => return Routed::SessionReply(reply),
        Err(e) => return Routed::StreamError(e.condition().unwrap_or("internal-server-error")),
    };
    match parse_to(&stanza) {
        Ok(to) => Routed::Routed {
            dest: format!("{:?}", Dest::classify(to.as_ref(), domain)),
            stanza,
        },
        Err(()) => Routed::JidMalformed(error_reply(stanza, Condition::JidMalformed)),
    }
}

/// The size in bytes of the task that serves one client connection (`stream::c2s::serve`), built
/// and never polled: the state machine every idle session keeps for its whole life, so what the
/// memory per idle session in `docs/benchmarks.md` is most sensitive to. `tcp` is any connected
/// stream; it is dropped unused.
pub fn connection_task_size(server: &Server, tcp: tokio::net::TcpStream) -> usize {
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let task = crate::stream::serve(
        std::sync::Arc::clone(&server.shared),
        tcp,
        peer,
        false,
        0,
        tokio_util::sync::CancellationToken::new(),
    );
    std::mem::size_of_val(&task)
}
