//! XEP-0388 SASL2 with XEP-0386 Bind 2 and the inline requests that ride on it: XEP-0198
//! resumption and enabling, XEP-0280 carbons, XEP-0352 client state.
//!
//! A modern client (Conversations, Monal, Dino, Gajim) logs in with one round trip less and no
//! stream restart: its `<authenticate/>` carries the SASL initial response, a `<resume/>` of the
//! session it lost, and a Bind 2 `<bind/>` asking for a resource and for what the new session
//! should start with. The SASL exchange itself is `super::sasl` with [`Profile::Sasl2`]; this module
//! advertises the feature, reads the request and answers it:
//!
//! 1. a `<resume/>` is tried first (XEP-0386 §2.2 note): on success the connection goes to the
//!    session it names, which answers `<success/>` with `<resumed/>` inside and resends what the
//!    client missed (`super::session::resumed`), and the `<bind/>` is ignored; on failure the
//!    `<failed/>` goes into `<success/>` and binding goes on;
//! 2. a `<bind/>` binds a resource `tag/identifier` (§2.2.1), where the identifier is derived from
//!    the account and the client's `<user-agent id>` with a per-process secret: the same client
//!    gets the same resource back (its earlier session, hibernating or stale, is replaced, as
//!    §2.2 asks) and the id itself is never shown;
//! 3. then, in the order the client listed them, SM `<enable/>` (answered by `<enabled/>` inside
//!    `<bound/>`), carbons `<enable/>` (handed to the plugin that owns it, whose answer the client
//!    never sees: §2.2 says none is needed) and CSI `<active/>`/`<inactive/>`;
//! 4. `<success/>` carries the mechanism's additional data, the authorization identifier (the
//!    full JID when bound) and the results, and is followed by the stream features of the
//!    authenticated stream (XEP-0388 §2.6.1), with no restart.
//!
//! Not done: XEP-0313 `<metadata/>` in `<bound/>` (archives are a plugin's; the client asks the
//! archive), and clearing offline messages at bind (§2.2 assumes every account archives; here
//! archiving is opt-in, so the offline queue is delivered as usual).
//!
//! XEP-0484 FAST rides on it too (`super::fast`): the `<fast/>` inline feature, token logins, and
//! the `<token/>` a `<success/>` carries when the client asked for one or its token is due.

use std::fmt::Write as _;
use std::sync::OnceLock;

use bytes::Bytes;
use jid::FullJid;
use minidom::Element;
use sha2::{Digest, Sha256};

use super::conn::Conn;
use super::error::ConnError;
use super::escape;
use super::negotiate::{self, Bound, Inline};
use super::resume::Resumption;
use super::sm;
use crate::ns;
use crate::router::{Outbound, RegisterError};
use crate::server::Shared;

/// Longest `<tag/>` kept in a resource; a longer one is cut (at a character boundary).
const MAX_TAG: usize = 64;
/// Longest `<user-agent id>` accepted (XEP-0388 suggests a UUID: 36 characters).
const MAX_AGENT_ID: usize = 256;

/// Whether a plugin answers XEP-0280 `<enable/>`, so Bind 2 can enable carbons inline.
fn carbons_available(shared: &Shared) -> bool {
    shared
        .plugins
        .registry()
        .iq_owner(ns::CARBONS, "enable")
        .is_some()
}

/// Writes the `<authentication/>` feature (XEP-0388 §2.1) with the mechanisms `offered` and the
/// inline features: Bind 2 with what it can enable (XEP-0386 §2.1) and XEP-0198 resumption.
pub(crate) fn write_feature<'a>(
    shared: &Shared,
    f: &mut String,
    offered: impl Iterator<Item = tessera_sasl::Mechanism> + 'a,
    tls: bool,
    exporter: bool,
) {
    let _ = write!(f, "<authentication xmlns='{}'>", ns::SASL2);
    for m in offered {
        let _ = write!(f, "<mechanism>{}</mechanism>", m.name());
    }
    let _ = write!(f, "<inline><bind xmlns='{}'><inline>", ns::BIND2);
    if carbons_available(shared) {
        let _ = write!(f, "<feature var='{}'/>", ns::CARBONS);
    }
    let _ = write!(
        f,
        "<feature var='{}'/><feature var='{}'/></inline></bind>",
        ns::CSI,
        ns::SM
    );
    if !shared.config.sessions.resumption_timeout.is_zero() {
        let _ = write!(f, "<sm xmlns='{}'/>", ns::SM);
    }
    super::fast::write_feature(shared, f, tls, exporter);
    f.push_str("</inline></authentication>");
}

/// What an `<authenticate/>` asks for besides authentication.
#[derive(Debug, Default)]
pub(crate) struct Request {
    /// `<user-agent id='…'/>`: a stable identifier of this client installation.
    agent_id: Option<String>,
    /// An inline XEP-0198 `<resume/>`: its `previd` and `h`, or `None` when malformed.
    resume: Option<Option<(String, u32)>>,
    /// A Bind 2 `<bind/>`.
    bind: Option<BindRequest>,
    /// An XEP-0484 `<request-token/>`, for this mechanism (unknown ones are ignored).
    request_token: Option<tessera_sasl::ht::HtMechanism>,
}

/// The `<user-agent id>` of an `<authenticate/>`, if it has a usable one.
pub(crate) fn agent_id(authenticate: &Element) -> Option<&str> {
    authenticate
        .get_child("user-agent", ns::SASL2)?
        .attr("id")
        .filter(|id| !id.is_empty() && id.len() <= MAX_AGENT_ID)
}

/// A Bind 2 request (XEP-0386 §2.2).
#[derive(Debug, Default)]
struct BindRequest {
    /// The client's `<tag/>`, which prefixes the resource.
    tag: Option<String>,
    /// The session features to enable, in the client's order.
    enable: Vec<Element>,
}

impl Request {
    /// Reads the extension children of an `<authenticate/>`; unknown ones are ignored (XEP-0388
    /// §2.3: they are requests for features we do not offer).
    pub(crate) fn parse(authenticate: &Element) -> Self {
        let mut req = Self {
            agent_id: agent_id(authenticate).map(str::to_owned),
            ..Self::default()
        };
        for child in authenticate.children() {
            if child.is("request-token", ns::FAST) {
                req.request_token = child
                    .attr("mechanism")
                    .and_then(tessera_sasl::ht::HtMechanism::from_name);
            } else if child.is("resume", ns::SM) {
                req.resume = Some(
                    child
                        .attr("previd")
                        .zip(sm::h_of(child).ok())
                        .map(|(p, h)| (p.to_owned(), h)),
                );
            } else if child.is("bind", ns::BIND2) {
                let tag = child
                    .get_child("tag", ns::BIND2)
                    .map(Element::text)
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty());
                let enable = child
                    .children()
                    .filter(|c| !c.is("tag", ns::BIND2))
                    .cloned()
                    .collect();
                req.bind = Some(BindRequest { tag, enable });
            }
        }
        req
    }
}

/// How a SASL2 authentication went on after the mechanism succeeded.
pub(crate) enum Completed {
    /// The connection resumed a session and was handed to it.
    Resumed,
    /// A new session, bound by Bind 2.
    Bound(Bound),
    /// Authenticated without binding: the features of the authenticated stream were sent and
    /// the client binds the RFC 6120 way.
    Authenticated,
    /// Authenticated, but the session could not be bound (too many for the account): a
    /// `<failure/>` was sent and the stream is as it was before (XEP-0388 §2.6.2).
    Refused,
}

/// The success data an inline resumption hands to the session it resumes, which answers.
pub(crate) struct ResumeSuccess {
    /// The mechanism's additional data (SCRAM's server-final message).
    pub(crate) additional: Option<Vec<u8>>,
    /// Serialised elements that go after `<resumed/>` (an XEP-0484 `<token/>`).
    pub(crate) extra: String,
}

/// How the mechanism went, from `super::sasl::exchange`.
pub(crate) struct Authenticated {
    /// The account's localpart.
    pub(crate) user: String,
    /// The mechanism's additional data.
    pub(crate) additional: Option<Vec<u8>>,
    /// For a FAST token login, how the token was used.
    pub(crate) fast: Option<super::fast::Used>,
}

/// A `<success/>` (XEP-0388 §2.6.1) naming `authz`, with `inner` (already serialised results of
/// inline requests) after the authorization identifier.
pub(crate) fn success(additional: Option<&[u8]>, authz: &str, inner: &str) -> String {
    let mut out = format!("<success xmlns='{}'>", ns::SASL2);
    if let Some(data) = additional {
        // XEP-0388 §2.2: base64 with no `=` stand-in; empty data is an empty element.
        let data = if data.is_empty() {
            String::new()
        } else {
            tessera_sasl::encode_payload(data)
        };
        let _ = write!(out, "<additional-data>{data}</additional-data>");
    }
    let _ = write!(
        out,
        "<authorization-identifier>{}</authorization-identifier>{inner}</success>",
        escape(authz)
    );
    out
}

/// A per-process secret for deriving resources from `<user-agent id>`s: stable while the server
/// runs (when the sessions it would replace exist), and unguessable, so a resource says nothing
/// about the id.
fn resource_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(rand::random)
}

/// The resource for a Bind 2 request: `tag/identifier` (XEP-0386 §2.2.1), the identifier stable
/// for one account and `<user-agent id>`, random without one. A tag that does not make a valid
/// resource is left out.
fn resource(shared: &Shared, user: &str, tag: Option<&str>, agent: Option<&str>) -> String {
    let id = match agent {
        Some(agent) => {
            let mut h = Sha256::new();
            h.update(resource_key());
            h.update(user.as_bytes());
            h.update([0]);
            h.update(agent.as_bytes());
            h.finalize()[..8].iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        }
        None => negotiate::new_stream_id()[..16].to_owned(),
    };
    let domain = shared.domain.as_str();
    if let Some(tag) = tag {
        let cut = tag
            .char_indices()
            .take_while(|(i, c)| i + c.len_utf8() <= MAX_TAG)
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        let candidate = format!("{}/{id}", &tag[..cut]);
        if FullJid::new(&format!("{user}@{domain}/{candidate}")).is_ok() {
            return candidate;
        }
    }
    id
}

/// Answers an `<authenticate/>` whose mechanism succeeded for `user`, per the module docs.
pub(crate) async fn complete(
    shared: &Shared,
    conn: &mut Conn,
    auth: Authenticated,
    req: Request,
    conn_id: u64,
    features_after_auth: &str,
) -> Result<Completed, ConnError> {
    let Authenticated {
        user,
        additional,
        fast,
    } = auth;
    let user = user.as_str();
    let mut inner = String::new();
    // XEP-0484 §5, §6: decided and stored before anything else, so a resumption carries it too.
    let token = super::fast::token_for(
        shared,
        user,
        req.agent_id.as_deref(),
        req.request_token,
        fast,
        conn.io.is_tls(),
        conn.io.tls_exporter().is_some(),
    )
    .await
    .unwrap_or_default();
    // XEP-0386 §2.2 note: resumption first; when it works, the bind request is ignored.
    match req.resume {
        Some(Some((previd, h))) => {
            let resumption = Resumption {
                conn: conn.take(),
                h,
                sasl2: Some(ResumeSuccess {
                    additional: additional.clone(),
                    extra: token.clone(),
                }),
            };
            match shared.resumptions.resume(&previd, user, resumption) {
                Ok(jid) => {
                    tracing::debug!(%jid, "resuming inline");
                    return Ok(Completed::Resumed);
                }
                Err((refused, back)) => {
                    *conn = back.conn;
                    tracing::debug!(?refused, "inline resumption refused");
                    inner.push_str(&sm::failed("item-not-found", None));
                }
            }
        }
        Some(None) => inner.push_str(&sm::failed("bad-request", None)),
        None => {}
    }
    let bare = format!("{user}@{}", shared.domain);
    let Some(bind) = req.bind else {
        inner.push_str(&token);
        let mut out = success(additional.as_deref(), &bare, &inner);
        out.push_str(features_after_auth);
        conn.write(out.as_bytes()).await?;
        return Ok(Completed::Authenticated);
    };
    let resource = resource(shared, user, bind.tag.as_deref(), req.agent_id.as_deref());
    let jid = FullJid::new(&format!("{bare}/{resource}"))
        .map_err(|e| ConnError::Internal(format!("Bind 2 resource invalid: {e}")))?;
    // §2.2: an earlier session of the same client (same resource) is replaced.
    let (handle, rx) = match negotiate::register(shared, &jid, conn_id, true).await {
        Ok(r) => r,
        Err(RegisterError::TooManySessions) => {
            // Authentication worked but the session cannot be had: RFC 6120 §7.6.2.1's
            // resource-constraint has no SASL2 form, so the attempt fails with a reason.
            let mut out = super::sasl::Profile::Sasl2.failure("temporary-auth-failure");
            let close = out.len() - "</failure>".len();
            out.splice(
                close..close,
                b"<text>too many sessions for this account</text>"
                    .iter()
                    .copied(),
            );
            conn.write(&out).await?;
            return Ok(Completed::Refused);
        }
        Err(RegisterError::Conflict) => {
            return Err(ConnError::Internal(
                "Bind 2 registration refused a replaceable resource".into(),
            ));
        }
    };
    let mut inline = Inline::default();
    let mut bound = String::new();
    for el in &bind.enable {
        if el.is("enable", ns::SM) && inline.sm.is_none() {
            let (reply, enabled) = super::session::enable_sm(shared, &jid, el);
            bound.push_str(&reply);
            inline.sm = Some(enabled);
        } else if el.is("enable", ns::CARBONS) && carbons_available(shared) {
            enable_carbons(shared, &jid, &rx, &mut inline.backlog).await;
        } else if el.is("inactive", ns::CSI) {
            inline.inactive = true;
        } else if el.is("active", ns::CSI) {
            inline.inactive = false;
        }
    }
    let _ = write!(inner, "<bound xmlns='{}'>{bound}</bound>{token}", ns::BIND2);
    let mut out = success(additional.as_deref(), &jid.to_string(), &inner);
    out.push_str(&negotiate::bound_features(shared, inline.sm.is_some()));
    if let Err(e) = conn.write(out.as_bytes()).await {
        shared.router.unregister(&jid, conn_id);
        if let Some(id) = inline.sm.as_ref().and_then(|s| s.sm.resume_id.as_ref()) {
            shared.resumptions.remove(id);
        }
        return Err(e);
    }
    Ok(Completed::Bound(Bound {
        jid,
        handle,
        rx,
        inline: Some(Box::new(inline)),
    }))
}

/// XEP-0386 §2.2: carbons enabled for the new session by the plugin that owns XEP-0280's
/// `<enable/>`, as if the session had sent it. The plugin's answer is kept from the client (none
/// is expected); anything else routed to the session meanwhile goes to `backlog`, in order.
async fn enable_carbons(
    shared: &Shared,
    jid: &FullJid,
    rx: &flume::Receiver<Outbound>,
    backlog: &mut Vec<Bytes>,
) {
    let id = format!("bind2-{}", negotiate::new_stream_id());
    let xml = format!(
        "<iq xmlns='{}' type='set' id='{id}' from='{}'><enable xmlns='{}'/></iq>",
        ns::JABBER_CLIENT,
        escape(&jid.to_string()),
        ns::CARBONS
    );
    let Ok(iq) = xml.parse::<Element>() else {
        tracing::warn!("could not build the inline carbons request");
        return;
    };
    // The owner answers through `router.send`, which queues at once: the answer is in `rx` when
    // the call returns (or was never sent, when the plugin failed).
    let _ = crate::plugins::iq::owned(shared, jid, iq).await;
    let needle = [b"id='".as_slice(), id.as_bytes()].concat();
    let needle2 = [b"id=\"".as_slice(), id.as_bytes()].concat();
    for Outbound::Stanza(b) in rx.drain() {
        let ours = b.starts_with(b"<iq") && (contains(&b, &needle) || contains(&b, &needle2));
        if ours {
            if contains(&b, b"type='error'") || contains(&b, b"type=\"error\"") {
                tracing::debug!("carbons could not be enabled inline");
            }
        } else {
            backlog.push(b);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Request {
        Request::parse(&xml.parse::<Element>().expect("xml"))
    }

    #[test]
    fn reads_inline_requests() {
        let r = parse(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>\
             <initial-response>abc=</initial-response>\
             <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>X</software></user-agent>\
             <resume xmlns='urn:xmpp:sm:3' previd='abc' h='7'/>\
             <bind xmlns='urn:xmpp:bind:0'><tag>Conversations</tag>\
             <enable xmlns='urn:xmpp:sm:3' resume='true'/><enable xmlns='urn:xmpp:carbons:2'/>\
             <inactive xmlns='urn:xmpp:csi:0'/></bind></authenticate>",
        );
        assert_eq!(
            r.agent_id.as_deref(),
            Some("d4565fa7-4d72-4749-b3d3-740edbf87770")
        );
        assert_eq!(r.resume, Some(Some(("abc".to_owned(), 7))));
        let bind = r.bind.expect("bind");
        assert_eq!(bind.tag.as_deref(), Some("Conversations"));
        let names: Vec<_> = bind.enable.iter().map(|e| (e.name(), e.ns())).collect();
        assert_eq!(
            names,
            [
                ("enable", ns::SM.to_owned()),
                ("enable", ns::CARBONS.to_owned()),
                ("inactive", ns::CSI.to_owned())
            ]
        );
    }

    #[test]
    fn malformed_resume_and_odd_agents() {
        let r = parse(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>\
             <user-agent id=''/><resume xmlns='urn:xmpp:sm:3' previd='abc' h='x'/></authenticate>",
        );
        assert_eq!(r.agent_id, None);
        assert_eq!(r.resume, Some(None));
        assert!(r.bind.is_none());
    }

    #[test]
    fn success_element() {
        let s = success(Some(b"v=abc"), "a@b/c", "<x/>");
        assert_eq!(
            s,
            "<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1hYmM=</additional-data>\
             <authorization-identifier>a@b/c</authorization-identifier><x/></success>"
        );
        assert_eq!(
            success(None, "a@b", ""),
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>a@b</authorization-identifier></success>"
        );
    }
}
