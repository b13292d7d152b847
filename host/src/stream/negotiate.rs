//! Stream negotiation: headers, features, STARTTLS (RFC 6120 §5) and resource binding (§7).
//! SASL (§6) is in `super::sasl`.
//!
//! The stages are an explicit enum consumed in order (`Stage::Plaintext → PreAuth → PreBind`); a
//! stream restart after STARTTLS or SASL success moves to the next stage and starts a new header.

use std::fmt::Write as _;
use std::net::SocketAddr;

use jid::FullJid;
use minidom::Element;
use rand::Rng;
use tessera_xml::{Event, StreamHeader};

use super::conn::Conn;
use super::error::ConnError;
use super::escape;
use super::resume::Resumption;
use super::sasl::{self, SaslOutcome};
use super::sasl2;
use super::sm;
use super::transport::Transport;
use crate::config::ResourceConflict;
use crate::ns;
use crate::router::{RegisterError, SessionHandle};
use crate::server::Shared;

/// Where negotiation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// No TLS yet.
    Plaintext,
    /// TLS established, not authenticated.
    Encrypted,
    /// Authenticated as this localpart; waiting for bind.
    Authenticated(String),
}

/// How long a bind that replaces a session (resource conflict, "kick-old") waits for the old
/// session to end before answering.
const REPLACED_SESSION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A negotiated, bound session ready for the session loop.
pub(crate) struct Bound {
    pub(crate) jid: FullJid,
    pub(crate) handle: SessionHandle,
    pub(crate) rx: flume::Receiver<crate::router::Outbound>,
    /// What Bind 2 set up before the session loop starts (none for RFC 6120 binding). Boxed:
    /// most sessions have none, and the state is large.
    pub(crate) inline: Option<Box<Inline>>,
}

/// The session state a Bind 2 request (XEP-0386 §2.2) starts a session with.
#[derive(Default)]
pub(crate) struct Inline {
    /// XEP-0198 enabled inline, with resumption when granted.
    pub(crate) sm: Option<super::session::SmEnabled>,
    /// XEP-0352: the session starts inactive.
    pub(crate) inactive: bool,
    /// Stanzas routed to the session while it was being set up, to write first.
    pub(crate) backlog: Vec<bytes::Bytes>,
}

/// How negotiation ended.
pub(crate) enum Negotiated {
    /// A new session, bound.
    Bound(Bound),
    /// The connection resumed an existing session (XEP-0198 §5) and was handed to it.
    Resumed,
}

/// A fresh random stream id (RFC 6120 §4.7.3: unique and unpredictable).
pub(crate) fn new_stream_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().fold(String::with_capacity(24), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Runs negotiation to a bound session.
pub(crate) async fn run(
    shared: &Shared,
    conn: &mut Conn,
    peer: SocketAddr,
    conn_id: u64,
) -> Result<Negotiated, ConnError> {
    let mut stage = if conn.io.is_tls() {
        Stage::Encrypted
    } else {
        Stage::Plaintext
    };
    let mut sasl_failures = 0u32;
    loop {
        let header = expect_header(conn).await?;
        check_header(shared, &header)?;
        let lang = header.lang.as_deref().unwrap_or("en");
        let mut out = tessera_xml::stream_header(
            shared.domain.as_str(),
            None,
            &new_stream_id(),
            &escape(lang),
        )
        .to_vec();
        let exporter = conn.io.tls_exporter();
        out.extend_from_slice(
            features(shared, &stage, conn.io.is_tls(), exporter.is_some()).as_bytes(),
        );
        conn.write(&out).await?;
        conn.header_sent = true;

        // Elements until a restart (STARTTLS, SASL success) or a bind.
        loop {
            let el = conn.next_element().await?;
            match (&stage, el.name(), el.ns().as_str()) {
                (Stage::Plaintext, "starttls", ns::TLS) => {
                    conn.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                        .await?;
                    starttls(shared, conn).await?;
                    stage = Stage::Encrypted;
                    break;
                }
                (Stage::Plaintext, "auth", ns::SASL) if shared.config.tls.require_encryption => {
                    // RFC 6120 §6.4.5 / §5.3.1: TLS is mandatory to negotiate here.
                    conn.write(&sasl::failure("encryption-required")).await?;
                }
                (Stage::Plaintext | Stage::Encrypted, "auth", ns::SASL) => {
                    let plus_advertised = exporter.is_some() && sasl::offers_plus(shared);
                    match sasl::exchange(
                        shared,
                        conn,
                        sasl::Profile::Rfc6120,
                        &el,
                        peer,
                        exporter.clone(),
                        plus_advertised,
                    )
                    .await?
                    {
                        SaslOutcome::Success { user, .. } => {
                            // RFC 6120 §6.4.6: restart; pipelined bytes after <success/> are the
                            // client's new header and are kept.
                            conn.parser.reset(true);
                            stage = Stage::Authenticated(user);
                            break;
                        }
                        SaslOutcome::Failure => failed(&mut sasl_failures)?,
                    }
                }
                (Stage::Plaintext, "authenticate", ns::SASL2)
                    if shared.config.tls.require_encryption =>
                {
                    conn.write(&sasl::Profile::Sasl2.failure("encryption-required"))
                        .await?;
                }
                (Stage::Plaintext | Stage::Encrypted, "authenticate", ns::SASL2) => {
                    let plus_advertised = exporter.is_some() && sasl::offers_plus(shared);
                    let request = sasl2::Request::parse(&el);
                    let outcome = sasl::exchange(
                        shared,
                        conn,
                        sasl::Profile::Sasl2,
                        &el,
                        peer,
                        exporter.clone(),
                        plus_advertised,
                    )
                    .await?;
                    match outcome {
                        SaslOutcome::Success {
                            user,
                            additional,
                            fast,
                        } => {
                            let after = features(
                                shared,
                                &Stage::Authenticated(user.clone()),
                                conn.io.is_tls(),
                                exporter.is_some(),
                            );
                            let auth = sasl2::Authenticated {
                                user: user.clone(),
                                additional,
                                fast,
                            };
                            match sasl2::complete(shared, conn, auth, request, conn_id, &after)
                                .await?
                            {
                                sasl2::Completed::Resumed => return Ok(Negotiated::Resumed),
                                sasl2::Completed::Bound(b) => return Ok(Negotiated::Bound(b)),
                                // XEP-0388 §2.6.1: no restart; the stream goes on authenticated.
                                sasl2::Completed::Authenticated => {
                                    stage = Stage::Authenticated(user);
                                }
                                sasl2::Completed::Refused => {}
                            }
                        }
                        SaslOutcome::Failure => failed(&mut sasl_failures)?,
                    }
                }
                (Stage::Authenticated(user), "iq", ns::JABBER_CLIENT) => {
                    if let Some(bound) = bind(shared, conn, &el, user, conn_id).await? {
                        return Ok(Negotiated::Bound(bound));
                    }
                }
                (Stage::Authenticated(user), "resume", ns::SM) => {
                    if resume(shared, conn, &el, user).await? {
                        return Ok(Negotiated::Resumed);
                    }
                }
                // XEP-0198 §3: enabling comes after binding.
                (Stage::Authenticated(_), "enable", ns::SM) => {
                    conn.write(sm::failed("unexpected-request", None).as_bytes())
                        .await?;
                }
                (Stage::Plaintext, ..) if shared.config.tls.require_encryption => {
                    return Err(ConnError::stream(
                        "policy-violation",
                        "STARTTLS is required",
                    ));
                }
                _ => {
                    // RFC 6120 §4.9.3.12: stanzas before authentication and binding.
                    return Err(ConnError::stream(
                        "not-authorized",
                        "unexpected element during negotiation",
                    ));
                }
            }
        }
    }
}

/// Counts a failed authentication on this stream; the fifth ends it (the per-IP and per-account
/// throttle keeps counting across streams).
fn failed(failures: &mut u32) -> Result<(), ConnError> {
    *failures += 1;
    if *failures >= 5 {
        return Err(ConnError::stream(
            "policy-violation",
            "too many failed authentication attempts",
        ));
    }
    Ok(())
}

async fn expect_header(conn: &mut Conn) -> Result<StreamHeader, ConnError> {
    match conn.next_event().await? {
        Event::StreamOpen(h) => Ok(h),
        Event::StreamClose => Err(ConnError::PeerClosed),
        Event::Stanza(_) => Err(ConnError::stream(
            "not-well-formed",
            "expected a stream header",
        )),
    }
}

/// RFC 6120 §4.7: the initial header's attributes.
fn check_header(shared: &Shared, h: &StreamHeader) -> Result<(), ConnError> {
    if h.default_ns.as_deref() != Some(ns::JABBER_CLIENT) {
        return Err(ConnError::stream(
            "invalid-namespace",
            "default namespace is not jabber:client",
        ));
    }
    match h.to.as_deref() {
        None => {
            return Err(ConnError::stream(
                "host-unknown",
                "stream header without 'to'",
            ));
        }
        Some(to) if !to.eq_ignore_ascii_case(shared.domain.as_str()) => {
            return Err(ConnError::stream(
                "host-unknown",
                "stream addressed to another domain",
            ));
        }
        Some(_) => {}
    }
    // RFC 6120 §4.7.5: no version means 0.9, which we do not support; the major version must be 1.
    match h.version.as_deref().and_then(|v| v.split('.').next()) {
        Some("1") => Ok(()),
        _ => Err(ConnError::stream(
            "unsupported-version",
            "stream version is not 1.x",
        )),
    }
}

/// The stream features for a stage (RFC 6120 §4.3.2).
fn features(shared: &Shared, stage: &Stage, tls: bool, exporter: bool) -> String {
    let mut f = String::from("<stream:features>");
    match stage {
        Stage::Plaintext => {
            f.push_str("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>");
            if shared.config.tls.require_encryption {
                f.push_str("<required/>");
            }
            f.push_str("</starttls>");
            if !shared.config.tls.require_encryption {
                sasl::write_mechanisms(shared, &mut f, tls, exporter);
            }
        }
        Stage::Encrypted => sasl::write_mechanisms(shared, &mut f, tls, exporter),
        Stage::Authenticated(_) => {
            f.push_str("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>");
            // RFC 6121 errata / draft-cridland-xmpp-session: accepted, not needed.
            f.push_str(
                "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>",
            );
            session_features(shared, &mut f, true);
        }
    }
    limits_feature(shared, &mut f);
    f.push_str("</stream:features>");
    f
}

/// The features of a session bound by Bind 2, sent after its `<success/>` (XEP-0388 §2.6.1):
/// what it may still use, `<sm/>` only when stream management is not already enabled.
pub(crate) fn bound_features(shared: &Shared, sm_enabled: bool) -> String {
    let mut f = String::from("<stream:features>");
    session_features(shared, &mut f, !sm_enabled);
    limits_feature(shared, &mut f);
    f.push_str("</stream:features>");
    f
}

/// The features of an authenticated stream, binding aside.
fn session_features(shared: &Shared, f: &mut String, sm: bool) {
    // XEP-0198: acknowledgements and resumption.
    if sm {
        let _ = write!(f, "<sm xmlns='{}'/>", ns::SM);
    }
    // XEP-0352: the client may say it is inactive.
    let _ = write!(f, "<csi xmlns='{}'/>", ns::CSI);
    // XEP-0115 §6.3: the server's own caps, so a client that knows them skips disco. Hashed
    // once per plugin set, not per login.
    let caps = shared.plugins.derived(|| {
        let (features, identities) = (
            shared.plugins.disco_features(),
            shared.plugins.disco_identities(),
        );
        crate::im::disco::ServerInfo {
            version: shared.config.features.version,
            features: &features,
            identities: &identities,
            contact: &shared.config.contact,
        }
        .caps_feature()
    });
    if let Some(caps) = caps {
        f.push_str(&caps);
    }
    // RFC 6121 §2.6.1 and §3.4.1.
    let _ = write!(
        f,
        "<ver xmlns='{}'/><sub xmlns='{}'/>",
        ns::ROSTER_VER,
        ns::PRE_APPROVAL
    );
}

/// XEP-0478: tell the client our limits before it hits them.
fn limits_feature(shared: &Shared, f: &mut String) {
    let limits = &shared.config.limits;
    let _ = write!(
        f,
        "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>{}</max-bytes><idle-seconds>{}</idle-seconds></limits>",
        limits.stanza_bytes,
        limits.idle_timeout.as_secs()
    );
}

/// `<resume/>` (XEP-0198 §5) from a client authenticated as `user`: the connection goes to the
/// session it names (which answers `<resumed/>`), and `true` is returned; otherwise the client gets
/// `<failed/>` and may bind a new session.
async fn resume(
    shared: &Shared,
    conn: &mut Conn,
    el: &Element,
    user: &str,
) -> Result<bool, ConnError> {
    let (Some(previd), Ok(h)) = (el.attr("previd"), sm::h_of(el)) else {
        conn.write(sm::failed("bad-request", None).as_bytes())
            .await?;
        return Ok(false);
    };
    let resumption = Resumption {
        conn: conn.take(),
        h,
        sasl2: None,
    };
    match shared.resumptions.resume(previd, user, resumption) {
        Ok(jid) => {
            tracing::debug!(%jid, "resuming");
            Ok(true)
        }
        Err((refused, back)) => {
            *conn = back.conn;
            // Logged apart, answered alike: a guessed id learns nothing.
            tracing::debug!(?refused, "resumption refused");
            conn.write(sm::failed("item-not-found", None).as_bytes())
                .await?;
            Ok(false)
        }
    }
}

/// Upgrades the transport after `<proceed/>` (RFC 6120 §5.4.3.3).
async fn starttls(shared: &Shared, conn: &mut Conn) -> Result<(), ConnError> {
    let Transport::Plain(tcp) = std::mem::replace(&mut conn.io, Transport::Upgrading) else {
        return Err(ConnError::Internal(
            "STARTTLS on a non-plain transport".into(),
        ));
    };
    let tls = shared
        .tls
        .acceptor()
        .accept(tcp)
        .await
        .map_err(ConnError::Io)?;
    conn.io = Transport::Tls(Box::new(tls));
    // Anything the client pipelined in plaintext after <starttls/> is discarded (CVE-2011-1431).
    conn.parser.reset(false);
    conn.header_sent = false;
    Ok(())
}

/// Resource binding (RFC 6120 §7). `Ok(None)` when the request was answered with an error and
/// the client may try again.
async fn bind(
    shared: &Shared,
    conn: &mut Conn,
    iq: &Element,
    user: &str,
    conn_id: u64,
) -> Result<Option<Bound>, ConnError> {
    let id = iq.attr("id").unwrap_or("");
    let bind_el = iq.get_child("bind", ns::BIND);
    if iq.attr("type") != Some("set") || bind_el.is_none() {
        // RFC 6120 §7.? – before binding only the bind request is allowed; the legacy session
        // request comes after binding.
        return Err(ConnError::stream(
            "not-authorized",
            "stanza before resource binding",
        ));
    }
    let requested = bind_el
        .and_then(|b| b.get_child("resource", ns::BIND))
        .map(|r| r.text())
        .filter(|r| !r.trim().is_empty());
    let domain = shared.domain.as_str();
    let mut jid = match &requested {
        Some(r) => match FullJid::new(&format!("{user}@{domain}/{r}")) {
            Ok(j) => j,
            Err(_) => {
                // RFC 6120 §7.7.2.1: resourceprep failed.
                conn.write(&bind_error(id, "modify", "bad-request")).await?;
                return Ok(None);
            }
        },
        None => generated(shared, user)?,
    };
    let policy = shared.config.sessions.resource_conflict;
    if requested.is_some() && policy == ResourceConflict::Rename && shared.router.is_bound(&jid) {
        jid = generated(shared, user)?;
    }
    let (handle, rx) =
        match register(shared, &jid, conn_id, policy == ResourceConflict::KickOld).await {
            Ok(r) => r,
            Err(RegisterError::Conflict) => {
                conn.write(&bind_error(id, "cancel", "conflict")).await?;
                return Ok(None);
            }
            Err(RegisterError::TooManySessions) => {
                // RFC 6120 §7.6.2.1: the account reached its limit of connected resources.
                conn.write(&bind_error(id, "wait", "resource-constraint"))
                    .await?;
                return Ok(None);
            }
        };
    let reply = format!(
        "<iq type='result' id='{}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{}</jid></bind></iq>",
        escape(id),
        escape(&jid.to_string())
    );
    if let Err(e) = conn.write(reply.as_bytes()).await {
        shared.router.unregister(&jid, conn_id);
        return Err(e);
    }
    Ok(Some(Bound {
        jid,
        handle,
        rx,
        inline: None,
    }))
}

/// Registers a session for `jid` with the router; `kick_old` replaces a session bound to it.
pub(crate) async fn register(
    shared: &Shared,
    jid: &FullJid,
    conn_id: u64,
    kick_old: bool,
) -> Result<(SessionHandle, flume::Receiver<crate::router::Outbound>), RegisterError> {
    let (tx, rx) = flume::bounded(shared.config.limits.session_queue);
    let handle = SessionHandle {
        jid: jid.clone(),
        id: conn_id,
        tx,
        control: Default::default(),
    };
    if let Some(replaced) = shared.router.register(
        handle.clone(),
        kick_old,
        shared.config.sessions.max_per_account,
    )? {
        // RFC 6120 §7.7.2.2 with RFC 6121 §4.5.2: the replaced session's `unavailable`
        // must reach contacts before this session can send `available` (it can only do
        // that once bound), or they would see the resource as offline. Bounded: a session
        // stuck writing to a dead peer must not hold the new one up for long.
        if tokio::time::timeout(REPLACED_SESSION_WAIT, replaced.ended())
            .await
            .is_err()
        {
            tracing::debug!("replaced session did not end in time; binding anyway");
        }
    }
    Ok((handle, rx))
}

/// A server-generated resource (RFC 6120 §7.6): random, so it reveals nothing about the client.
fn generated(shared: &Shared, user: &str) -> Result<FullJid, ConnError> {
    let domain = shared.domain.as_str();
    for _ in 0..8 {
        let jid = FullJid::new(&format!("{user}@{domain}/{}", &new_stream_id()[..16]))
            .map_err(|e| ConnError::Internal(format!("generated JID invalid: {e}")))?;
        if !shared.router.is_bound(&jid) {
            return Ok(jid);
        }
    }
    Err(ConnError::Internal(
        "could not generate a free resource".into(),
    ))
}

fn bind_error(id: &str, kind: &str, condition: &str) -> Vec<u8> {
    format!(
        "<iq type='error' id='{}'><error type='{kind}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        escape(id)
    )
    .into_bytes()
}
