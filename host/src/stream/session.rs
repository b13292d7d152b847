//! The bound session loop (RFC 6120 §8 on a negotiated stream).
//!
//! One `select!` over cancel-safe futures: the socket (`read_buf` into the parser), the session's
//! bounded outbound queue, the router's close request, server shutdown, a resumption taking the
//! stream over, and the idle timer. Outbound stanzas are batched: everything already queued is
//! written with one flush.
//!
//! With XEP-0198 stream management enabled (`sm`), every stanza written is kept until the client
//! acknowledges it. A stream that loses its connection and granted resumption hibernates: the
//! session stays bound (stanzas for it queue up) until the client resumes on a new connection or
//! the window passes. Whatever no client acknowledged when the session finally ends (and whatever
//! was still queued for it) goes to [`im::undelivered`]: other resources, offline storage or a
//! bounce, never silently lost.

use std::time::Duration;

use bytes::Bytes;
use jid::FullJid;
use minidom::Element;
use tessera_xml::Event;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::bucket::Bucket;
use super::conn::Conn;
use super::csi::Held;
use super::error::ConnError;
use super::escape;
use super::negotiate::{Bound, Inline, new_stream_id};
use super::resume::Resumption;
use super::sm::{self, StreamManagement};
use crate::im::{self, ImSession};
use crate::ns;
use crate::router::{Outbound, SessionControl};
use crate::server::Shared;

/// Most bytes written per flush when draining the queue.
const MAX_BATCH: usize = 64 * 1024;

/// The stream state a session keeps across connections.
struct Stream {
    /// Set by `<enable/>`.
    sm: Option<StreamManagement>,
    /// Set by XEP-0352 `<inactive/>`: what the client is spared for now.
    inactive: Option<Held>,
    /// With resumption granted: where a resuming connection arrives, and the window.
    resume: Option<(flume::Receiver<Resumption>, Duration)>,
}

/// XEP-0198 enabled on a stream: its state, and with resumption granted, where a resuming
/// connection arrives and the window.
pub(crate) struct SmEnabled {
    pub(crate) sm: StreamManagement,
    resume: Option<(flume::Receiver<Resumption>, Duration)>,
}

/// Enables stream management for the session `jid` as `<enable/>` asks (§3), registering it for
/// resumption when asked and allowed: the `<enabled/>` to send, and the state.
pub(crate) fn enable_sm(shared: &Shared, jid: &FullJid, el: &Element) -> (String, SmEnabled) {
    let window = shared.config.sessions.resumption_timeout;
    let mut rx = None;
    let resume = (sm::wants_resume(el) && !window.is_zero()).then(|| {
        let max = sm::granted_max(el, window);
        let id = new_stream_id();
        rx = Some((
            shared.resumptions.register(id.clone(), jid.clone()),
            Duration::from_secs(max),
        ));
        (id, max)
    });
    let reply = sm::enabled(resume.as_ref().map(|(id, max)| (id.as_str(), *max)));
    let enabled = SmEnabled {
        sm: StreamManagement::new(resume.map(|(id, _)| id)),
        resume: rx,
    };
    (reply, enabled)
}

/// Runs a bound session until it ends, then unregisters it, tells its contacts and finds another
/// way for whatever it could not be shown to have delivered.
pub(crate) async fn run(
    shared: &Shared,
    conn: &mut Conn,
    bound: Bound,
    shutdown: &CancellationToken,
) -> Result<(), ConnError> {
    let Bound {
        jid,
        handle,
        rx,
        inline,
    } = bound;
    let control = handle.control.clone();
    let mut im = ImSession::new(jid.clone(), handle.id);
    let mut stream = Stream {
        sm: None,
        inactive: None,
        resume: None,
    };
    // XEP-0386 §2.2: the session starts in the state Bind 2 asked for.
    let mut backlog = Ok(());
    if let Some(inline) = inline {
        let Inline {
            sm,
            inactive,
            backlog: queued,
        } = *inline;
        if let Some(e) = sm {
            stream.sm = Some(e.sm);
            stream.resume = e.resume;
        }
        stream.inactive = inactive.then(Held::default);
        if !queued.is_empty() {
            backlog = Box::pin(write_stanzas(shared, conn, &mut stream.sm, queued)).await;
        }
    }
    let result = loop {
        // A failed write of the backlog is a lost connection like any other.
        if let Err(e) = std::mem::replace(&mut backlog, Ok(())) {
            break Err(e);
        }
        let takeover = match serve(shared, conn, &mut im, &rx, &control, shutdown, &mut stream)
            .await
        {
            Ok(r) => {
                tracing::debug!("stream taken over by a resumption");
                r
            }
            Err(e) => {
                let Some((resumes, window)) = stream.resume.as_ref().filter(|_| lost(&e)) else {
                    break Err(e);
                };
                tracing::debug!(error = %e, "connection lost; hibernating");
                // Boxed: only a hibernating session needs this state.
                match Box::pin(hibernate(resumes, *window, &control, shutdown)).await {
                    Some(r) => r,
                    None => {
                        tracing::debug!("not resumed");
                        break Err(e);
                    }
                }
            }
        };
        if let Err(e) = Box::pin(resumed(shared, conn, &jid, &mut stream, takeover)).await {
            break Err(e);
        }
    };
    shared.router.unregister(&jid, handle.id);
    let mut left = Vec::new();
    if let Some(sm) = &mut stream.sm {
        if let Some(id) = &sm.resume_id {
            shared.resumptions.remove(id);
        }
        let unacked = sm.take_unacked();
        if matches!(result, Err(ConnError::PeerClosed)) {
            // The client closed the stream itself: what we wrote before reading its
            // `</stream:stream>` reached it over a connection it closed in order, and RFC 6120
            // §4.4 has it read up to our own closing tag. Handing those on again would repeat
            // them (an offline message delivered twice) for every client that closes without a
            // last `<a/>`, as tokio-xmpp does.
            tracing::debug!(
                stanzas = unacked.len(),
                "clean close: unacknowledged stanzas were delivered"
            );
        } else {
            left = unacked;
        }
    }
    if let Some(held) = &mut stream.inactive {
        left.extend(held.take());
    }
    if let Some((resumes, _)) = stream.resume.take() {
        // Resumptions that raced the end: the session is gone, they get `<failed/>`.
        while let Ok(mut r) = resumes.try_recv() {
            let _ = r
                .conn
                .write(sm::failed("item-not-found", None).as_bytes())
                .await;
            Box::pin(r.conn.close(None, shared.domain.as_str())).await;
        }
    }
    // Stanzas routed to the session that it never wrote.
    left.extend(rx.drain().map(|Outbound::Stanza(b)| b));
    // Handed on before contacts learn the session is gone, so that whatever they do next (a
    // new login, a message) finds them where they went. Boxed: these run once, and inline they
    // would size the state machine every idle session keeps for its whole life.
    if !left.is_empty() {
        tracing::debug!(
            stanzas = left.len(),
            "session ended with undelivered stanzas"
        );
        Box::pin(im::undelivered(shared, &jid, left)).await;
    }
    Box::pin(im::session_ended(shared, &mut im)).await;
    // A session that replaced this one waits for this before its bind is answered.
    control.mark_ended();
    result
}

/// Whether an error means the connection went away under a live stream (the client may come
/// back and resume), rather than a close the client asked for or a stream error.
fn lost(e: &ConnError) -> bool {
    matches!(e, ConnError::Eof | ConnError::Io(_) | ConnError::Timeout(_))
}

/// The stream without a connection: waits for a resumption within `window`. `None` when the window
/// passed or the session was closed meanwhile.
async fn hibernate(
    resumes: &flume::Receiver<Resumption>,
    window: Duration,
    control: &SessionControl,
    shutdown: &CancellationToken,
) -> Option<Resumption> {
    tokio::select! {
        biased;
        _ = control.closed() => None,
        () = shutdown.cancelled() => None,
        r = resumes.recv_async() => r.ok(),
        () = sleep(window) => None,
    }
}

/// The next resumption for a resumable stream; never, for one that is not.
///
/// # Cancel safety
/// Cancel safe: flume's `recv_async` leaves an item in the channel unless it returns it.
async fn resumption(resumes: Option<&flume::Receiver<Resumption>>) -> Option<Resumption> {
    match resumes {
        Some(r) => r.recv_async().await.ok(),
        None => std::future::pending().await,
    }
}

/// Switches the stream to the resuming connection: `<resumed/>`, then everything the client has
/// not acknowledged, in order (XEP-0198 §5).
async fn resumed(
    shared: &Shared,
    conn: &mut Conn,
    jid: &FullJid,
    stream: &mut Stream,
    r: Resumption,
) -> Result<(), ConnError> {
    // The old connection, if any, is dropped here: the client gave up on it.
    *conn = r.conn;
    let Some(sm) = stream.sm.as_mut() else {
        return Err(ConnError::Internal(
            "resumed a stream without stream management".into(),
        ));
    };
    sm.connection_replaced();
    let previd = sm.resume_id.clone().unwrap_or_default();
    if let Err(e) = sm.acknowledge(r.h) {
        let (condition, _) = e.stream_error();
        conn.write(sm::failed(condition, Some(sm.inbound())).as_bytes())
            .await?;
        return Err(ConnError::SmProtocol(e));
    }
    let resumed = sm::resumed(&previd, sm.inbound());
    // XEP-0198 with XEP-0388: an inline resumption is answered inside the SASL2 `<success/>`,
    // followed by the stream's features (§2.6.1).
    let mut out = match &r.sasl2 {
        None => resumed.into_bytes(),
        Some(s) => {
            let inner = format!("{resumed}{}", s.extra);
            let mut out = super::sasl2::success(s.additional.as_deref(), &jid.to_string(), &inner);
            out.push_str(&super::negotiate::bound_features(shared, true));
            out.into_bytes()
        }
    };
    let mut resent = 0usize;
    for b in sm.resend(shared.domain.as_str()) {
        out.extend_from_slice(&b);
        resent += 1;
        if out.len() >= MAX_BATCH {
            conn.write(&out).await?;
            out.clear();
        }
    }
    if sm.should_request() {
        out.extend_from_slice(sm::REQUEST.as_bytes());
    }
    conn.write(&out).await?;
    tracing::debug!(resent, "stream resumed");
    // XEP-0352 §5: a new stream starts active; what was held goes out now.
    if let Some(mut held) = stream.inactive.take().filter(|h| !h.is_empty()) {
        write_stanzas(shared, conn, &mut stream.sm, held.take()).await?;
    }
    Ok(())
}

/// Serves the stream on `conn` until the connection ends (`Err`) or a resumption takes the stream
/// over (`Ok`, with the new connection).
#[allow(clippy::too_many_arguments)]
async fn serve(
    shared: &Shared,
    conn: &mut Conn,
    im: &mut ImSession,
    rx: &flume::Receiver<Outbound>,
    control: &SessionControl,
    shutdown: &CancellationToken,
    stream: &mut Stream,
) -> Result<Resumption, ConnError> {
    let limits = &shared.config.limits;
    let mut idle_deadline = Instant::now() + limits.idle_timeout;
    let mut ping_outstanding = false;
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
                    if el.ns() == ns::SM {
                        stream_management(shared, conn, im, el, stream).await?;
                    } else if el.ns() == ns::CSI {
                        client_state(shared, conn, &el, stream, rx).await?;
                    } else {
                        // Boxed: handling a stanza (IM, plugin hooks) is a deep future, 5 KiB in
                        // release; inline it sized the task every idle session keeps to 13 KiB
                        // (4 KiB with it on the heap, only while a stanza is handled).
                        Box::pin(inbound(shared, conn, im, el, &mut stream.sm)).await?;
                        if let Some(sm) = &mut stream.sm {
                            sm.received();
                        }
                    }
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
        let resumes = stream.resume.as_ref().map(|(r, _)| r);
        tokio::select! {
            biased;
            reason = control.closed() => {
                return Err(ConnError::stream(reason.condition(), reason.describe()));
            }
            () = shutdown.cancelled() => {
                return Err(ConnError::stream("system-shutdown", "server shutting down"));
            }
            // A client that lost this connection without us noticing resumes on a new one.
            Some(r) = resumption(resumes) => return Ok(r),
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
            Ok(Outbound::Stanza(first)) = rx.recv_async() => {
                let mut stanzas = vec![first];
                let mut bytes = stanzas[0].len();
                while bytes < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Outbound::Stanza(b)) => {
                            bytes += b.len();
                            stanzas.push(b);
                        }
                        Err(_) => break,
                    }
                }
                let stanzas = match &mut stream.inactive {
                    // XEP-0352: an inactive client gets what matters, and what waited with it.
                    Some(held) => stanzas.into_iter().filter_map(|b| held.offer(b)).flatten().collect(),
                    None => stanzas,
                };
                if !stanzas.is_empty() {
                    write_stanzas(shared, conn, &mut stream.sm, stanzas).await?;
                }
            }
            () = sleep_until(idle_deadline) => {
                if ping_outstanding {
                    return Err(ConnError::Timeout("idle client did not answer ping"));
                }
                // XEP-0199 §4.? server-to-client ping before the hard close; any reply (even an
                // error) counts as activity.
                let ping = format!(
                    "<iq type='get' id='idle-{}' to='{}' from='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
                    new_stream_id(),
                    escape(&im.jid.to_string()),
                    escape(shared.domain.as_str()),
                );
                write_stanzas(shared, conn, &mut stream.sm, vec![Bytes::from(ping)]).await?;
                ping_outstanding = true;
                idle_deadline = Instant::now() + limits.ping_timeout;
            }
        }
    }
}

/// Writes stanzas with one flush. With stream management each is kept until acknowledged (kept
/// before the write, so a failed write leaves it unacknowledged), and `<r/>` follows when an ack
/// is due. A lone stanza without `<r/>` (the common case) is written as it is; otherwise they are
/// copied into one buffer that lives for this flush only, since kept it would sit in every idle
/// session.
async fn write_stanzas(
    shared: &Shared,
    conn: &mut Conn,
    sm: &mut Option<StreamManagement>,
    stanzas: Vec<Bytes>,
) -> Result<(), ConnError> {
    let count = stanzas.len();
    let mut request = false;
    if let Some(sm) = sm {
        for b in &stanzas {
            sm.sent(b.clone());
        }
        // XEP-0198 §4: the server may close a stream whose client does not acknowledge; the
        // queue is bounded like the outbound queue.
        if sm.unacked_len() > shared.config.limits.session_queue {
            return Err(ConnError::stream(
                "resource-constraint",
                "too many unacknowledged stanzas",
            ));
        }
        request = sm.should_request();
    }
    let bytes = match (&stanzas[..], request) {
        ([one], false) => {
            conn.write(one).await?;
            one.len()
        }
        _ => {
            let total = stanzas.iter().map(Bytes::len).sum::<usize>() + sm::REQUEST.len();
            let mut batch = Vec::with_capacity(total);
            for b in &stanzas {
                batch.extend_from_slice(b);
            }
            if request {
                batch.extend_from_slice(sm::REQUEST.as_bytes());
            }
            conn.write(&batch).await?;
            batch.len()
        }
    };
    // Sizes only: never content.
    tracing::trace!(stanzas = count, bytes, "flushed");
    Ok(())
}

/// A XEP-0352 nonza: the client went inactive or came back (never counted as a stanza).
async fn client_state(
    shared: &Shared,
    conn: &mut Conn,
    el: &Element,
    stream: &mut Stream,
    rx: &flume::Receiver<Outbound>,
) -> Result<(), ConnError> {
    match el.name() {
        "inactive" => {
            stream.inactive.get_or_insert_with(Held::default);
            Ok(())
        }
        "active" => {
            let Some(mut held) = stream.inactive.take() else {
                return Ok(());
            };
            // What was routed before the client came back joins the hold first, so it is
            // coalesced with it (and the flush keeps the order things were routed in).
            let mut out: Vec<Bytes> = rx
                .drain()
                .filter_map(|Outbound::Stanza(b)| held.offer(b))
                .flatten()
                .collect();
            out.extend(held.take());
            if out.is_empty() {
                return Ok(());
            }
            write_stanzas(shared, conn, &mut stream.sm, out).await
        }
        _ => Err(ConnError::stream(
            "unsupported-stanza-type",
            "unknown client state element",
        )),
    }
}

/// A XEP-0198 nonza on a bound stream (never counted as a stanza).
async fn stream_management(
    shared: &Shared,
    conn: &mut Conn,
    im: &ImSession,
    el: Element,
    stream: &mut Stream,
) -> Result<(), ConnError> {
    match (el.name(), &mut stream.sm) {
        ("enable", None) => {
            let (reply, enabled) = enable_sm(shared, &im.jid, &el);
            stream.sm = Some(enabled.sm);
            stream.resume = enabled.resume;
            conn.write(reply.as_bytes()).await
        }
        // §3: enabling twice.
        ("enable", Some(sm)) => {
            conn.write(sm::failed("unexpected-request", Some(sm.inbound())).as_bytes())
                .await
        }
        ("r", Some(sm)) => conn.write(sm::answer(sm.inbound()).as_bytes()).await,
        ("a", Some(sm)) => sm
            .acknowledge(sm::h_of(&el).map_err(ConnError::SmProtocol)?)
            .map_err(ConnError::SmProtocol),
        // §5: resumption happens before binding, on a new stream.
        ("resume", _) => {
            let h = stream.sm.as_ref().map(StreamManagement::inbound);
            conn.write(sm::failed("unexpected-request", h).as_bytes())
                .await
        }
        _ => Err(ConnError::stream(
            "unsupported-stanza-type",
            "stream management element out of place",
        )),
    }
}

/// One stanza from the client (RFC 6120 §8.1).
async fn inbound(
    shared: &Shared,
    conn: &mut Conn,
    im: &mut ImSession,
    el: Element,
    sm: &mut Option<StreamManagement>,
) -> Result<(), ConnError> {
    tracing::trace!(stanza = el.name(), "received");
    match check_inbound(el, &im.jid, shared.domain.as_str())? {
        Inbound::SessionReply(reply) => {
            write_stanzas(shared, conn, sm, vec![Bytes::from(reply)]).await
        }
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
