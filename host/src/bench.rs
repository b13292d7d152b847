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
