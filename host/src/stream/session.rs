//! The bound session loop (RFC 6120 §8 on a negotiated stream).
//!
//! One `select!` over cancel-safe futures: the socket (`read_buf` into the parser), the session's
//! bounded outbound queue, the router's close request, server shutdown, and the idle timer.
//! Outbound stanzas are batched: everything already queued is written with one flush.

use std::sync::Arc;

use jid::FullJid;
use minidom::Element;
use tessera_xml::Event;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::bucket::Bucket;
use super::conn::Conn;
use super::error::ConnError;
use super::escape;
use super::negotiate::Bound;
use crate::im::{self, ImSession};
use crate::ns;
use crate::router::{Outbound, SessionControl};
use crate::server::Shared;

/// Most bytes written per flush when draining the queue.
const MAX_BATCH: usize = 64 * 1024;

/// Runs a bound session until it ends, then unregisters it and tells its contacts.
pub(crate) async fn run(
    shared: &Shared,
    conn: &mut Conn,
    bound: Bound,
    shutdown: &CancellationToken,
) -> Result<(), ConnError> {
    let Bound {
        jid,
        handle,
        mut rx,
    } = bound;
    let control = handle.control.clone();
    let mut im = ImSession::new(jid.clone(), handle.id);
    let result = serve(shared, conn, &mut im, &mut rx, &control, shutdown).await;
    shared.router.unregister(&jid, handle.id);
    // Boxed: it runs once, and inline it would size the state machine every idle session keeps
    // for its whole life.
    Box::pin(im::session_ended(shared, &mut im)).await;
    // A session that replaced this one waits for this before its bind is answered.
    control.mark_ended();
    result
}

async fn serve(
    shared: &Shared,
    conn: &mut Conn,
    im: &mut ImSession,
    rx: &mut mpsc::Receiver<Outbound>,
    control: &Arc<SessionControl>,
    shutdown: &CancellationToken,
) -> Result<(), ConnError> {
    let limits = &shared.config.limits;
    let mut idle_deadline = Instant::now() + limits.idle_timeout;
    let mut ping_outstanding = false;
    let mut batch = Vec::with_capacity(1024);
    // The session's stanza allowance (`limits.stanza_rate`, `limits.stanza_burst`).
    let mut rate = limits
        .stanza_rate
        .map(|r| Bucket::new(r, limits.stanza_burst, std::time::Instant::now()));
    // When the stanza the client is sending started arriving (slowloris bound).
    let mut stanza_started: Option<Instant> = None;
    loop {
        // Handle every complete stanza already buffered before waiting again, as far as the
        // stanza rate allows; past it, stop reading until the bucket refills (the client's TCP
        // window then pushes back: nothing is dropped).
        let mut throttled_until = None;
        // Whether a stanza completed (so a partial one after it is a new one).
        let mut completed = false;
        loop {
            if let Some(wait) = rate
                .as_mut()
                .and_then(|b| b.empty_for(std::time::Instant::now()))
            {
                throttled_until = Some(Instant::now() + wait);
                break;
            }
            let Some(ev) = conn.parser.next_event()? else {
                break;
            };
            match ev {
                Event::Stanza(el) => {
                    if let Some(bucket) = rate.as_mut() {
                        bucket.take();
                    }
                    completed = true;
                    inbound(shared, conn, im, el).await?;
                }
                Event::StreamClose => return Err(ConnError::PeerClosed),
                Event::StreamOpen(_) => {
                    return Err(ConnError::stream(
                        "not-well-formed",
                        "stream header inside stream",
                    ));
                }
            }
        }
        // A throttled client cannot finish its stanza while we do not read: its clock restarts
        // when reading does. A stanza still arriving with none completed is the same one (the
        // buffer only grew): no need to scan it again.
        stanza_started = match stanza_started {
            _ if throttled_until.is_some() => None,
            Some(t) if !completed => Some(t),
            _ if conn.parser.mid_stanza() => Some(Instant::now()),
            _ => None,
        };
        let stanza_deadline = stanza_started.map(|t| t + limits.stanza_timeout);
        tokio::select! {
            biased;
            reason = control.closed() => {
                return Err(ConnError::stream(reason.condition(), reason.describe()));
            }
            () = shutdown.cancelled() => {
                return Err(ConnError::stream("system-shutdown", "server shutting down"));
            }
            () = sleep_until(throttled_until.unwrap_or(idle_deadline)), if throttled_until.is_some() => {}
            () = sleep_until(stanza_deadline.unwrap_or(idle_deadline)), if stanza_deadline.is_some() => {
                return Err(ConnError::stream("policy-violation", "stanza not finished in time"));
            }
            read = conn.fill(), if throttled_until.is_none() => {
                read?;
                // Any data, whitespace keepalives included, proves the client is alive (RFC 6120 §4.6.1).
                idle_deadline = Instant::now() + limits.idle_timeout;
                ping_outstanding = false;
            }
            Some(Outbound::Stanza(first)) = rx.recv() => {
                batch.clear();
                batch.extend_from_slice(&first);
                let mut stanzas = 1usize;
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Outbound::Stanza(b)) => {
                            batch.extend_from_slice(&b);
                            stanzas += 1;
                        }
                        Err(_) => break,
                    }
                }
                conn.write(&batch).await?;
                // Sizes only: never content.
                tracing::trace!(stanzas, bytes = batch.len(), "flushed");
            }
            () = sleep_until(idle_deadline) => {
                if ping_outstanding {
                    return Err(ConnError::Timeout("idle client did not answer ping"));
                }
                // XEP-0199 §4.? server-to-client ping before the hard close; any reply (even an
                // error) counts as activity.
                let ping = format!(
                    "<iq type='get' id='idle-{}' to='{}' from='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
                    super::negotiate::new_stream_id(),
                    escape(&im.jid.to_string()),
                    escape(shared.domain.as_str()),
                );
                conn.write(ping.as_bytes()).await?;
                ping_outstanding = true;
                idle_deadline = Instant::now() + limits.ping_timeout;
            }
        }
    }
}

/// One stanza from the client (RFC 6120 §8.1).
async fn inbound(
    shared: &Shared,
    conn: &mut Conn,
    im: &mut ImSession,
    el: Element,
) -> Result<(), ConnError> {
    tracing::trace!(stanza = el.name(), "received");
    match check_inbound(el, &im.jid, shared.domain.as_str())? {
        Inbound::SessionReply(reply) => conn.write(reply.as_bytes()).await,
        Inbound::Stanza(el) => {
            if let Err(e) = im::handle_stanza(shared, im, el).await {
                tracing::error!(error = %e, "storage failure while handling a stanza");
            }
            Ok(())
        }
    }
}

/// What the stream layer makes of one element a bound client sent, before IM sees it.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// The legacy session request (RFC 3921 §3), answered here with this reply.
    SessionReply(String),
    /// A stanza for IM, `from` stamped with the session's full JID (RFC 6120 §8.1.2.1).
    Stanza(Element),
}

/// The stream layer's checks on one element from a bound client (`jid` on our `domain`). Pure, so
/// the `stanza_routing` fuzz target (through `crate::bench`) runs exactly this.
///
/// # Errors
/// `unsupported-stanza-type` for anything but `message`, `presence` and `iq` in `jabber:client`.
pub(crate) fn check_inbound(
    mut el: Element,
    jid: &FullJid,
    domain: &str,
) -> Result<Inbound, ConnError> {
    let name = el.name();
    if el.ns() != ns::JABBER_CLIENT || !matches!(name, "message" | "presence" | "iq") {
        // RFC 6120 §4.9.3.? / §8: only the three stanza kinds exist on a bound stream.
        return Err(ConnError::stream("unsupported-stanza-type", "not a stanza"));
    }
    // The legacy session request (RFC 3921 §3) is accepted and answered here.
    if name == "iq"
        && el.attr("type") == Some("set")
        && el.get_child("session", ns::SESSION).is_some()
        && el.attr("to").is_none_or(|to| to == domain)
    {
        return Ok(Inbound::SessionReply(format!(
            "<iq type='result' id='{}' from='{}'/>",
            escape(el.attr("id").unwrap_or("")),
            escape(domain)
        )));
    }
    // RFC 6120 §8.1.2.1: the server stamps the full JID of the sender, whatever the client said.
    el.attrs_mut()
        .remove(&minidom::rxml::Namespace::NONE, "from");
    stamp_from(&mut el, &jid.to_string());
    Ok(Inbound::Stanza(el))
}

fn stamp_from(el: &mut Element, from: &str) {
    el.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::NcName::try_from("from").expect("invariant: 'from' is a valid NCName"),
        from.to_owned(),
    );
}
