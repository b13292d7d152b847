//! Stanza plumbing shared by the IM handlers: attribute access, where a stanza is addressed, and
//! delivery through the router.
//!
//! Nothing here knows RFC 6121 semantics; it answers "who is this for?" (RFC 6120 §10.3–§10.5) and
//! "put these bytes in that session's queue" (never awaiting the recipient, style rule 21).

use bytes::Bytes;
use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use minidom::rxml::{Namespace, NcName};

use crate::ns;
use crate::router::{Delivery, SessionInfo};
use crate::server::Shared;

/// An attribute name as minidom wants it.
fn nc(name: &'static str) -> NcName {
    NcName::try_from(name).expect("invariant: attribute names used here are static NCNames")
}

/// Sets (or replaces) an unqualified attribute.
pub(crate) fn set_attr(el: &mut Element, name: &'static str, value: impl Into<String>) {
    el.attrs_mut()
        .insert(Namespace::NONE, nc(name), value.into());
}

/// Removes an unqualified attribute if present.
pub(crate) fn remove_attr(el: &mut Element, name: &'static str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// A new element in `jabber:client` with the given unqualified attributes.
pub(crate) fn client_element(name: &str, attrs: &[(&'static str, &str)]) -> Element {
    let mut el = Element::bare(name, ns::JABBER_CLIENT);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// Where a stanza from a bound client is addressed, relative to the one domain we serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// No `to`: handled by the server on behalf of the sender's account (RFC 6120 §10.3.3,
    /// §8.1.1.1); for presence it means broadcast (RFC 6121 §4.2.2).
    Absent,
    /// Our bare domain: the server itself (RFC 6120 §10.3.1 "domainpart").
    Server,
    /// `domain/resource` of our domain: no such entity is hosted (RFC 6120 §10.3.2 "resourcepart").
    ServerResource,
    /// The bare JID of an account on our domain (RFC 6121 §8.5.2), which may not exist.
    LocalBare(BareJid),
    /// A full JID on our domain (RFC 6121 §8.5.3).
    LocalFull(FullJid),
    /// Another domain. There is no server-to-server yet, so these get `remote-server-not-found`
    /// (RFC 6120 §10.4.3, §8.3.3.16).
    Remote,
}

impl Dest {
    /// Classifies a parsed `to` against our domain.
    pub(crate) fn classify(to: Option<&Jid>, domain: &BareJid) -> Self {
        let Some(to) = to else {
            return Self::Absent;
        };
        if to.domain() != domain.domain() {
            return Self::Remote;
        }
        match (to.node(), to.try_as_full()) {
            (None, Ok(_)) => Self::ServerResource,
            (None, Err(_)) => Self::Server,
            (Some(_), Ok(full)) => Self::LocalFull(full.clone()),
            (Some(_), Err(bare)) => Self::LocalBare(bare.clone()),
        }
    }
}

/// Parses the `to` attribute. `Err(())` means it is present but not a valid JID, which the caller
/// answers with `jid-malformed` (RFC 6120 §8.3.3.8).
pub(crate) fn parse_to(stanza: &Element) -> Result<Option<Jid>, ()> {
    match stanza.attr("to") {
        None => Ok(None),
        Some(s) => parse_jid(s).map(Some).ok_or(()),
    }
}

/// Parses a JID a peer sent as RFC 7622 asks, where jid 0.12.3 does not (both found by the `jid`
/// fuzz target, issue 5):
/// - §3.2: a domainpart's final dot is stripped before the JID is used for routing or
///   comparison. The crate strips it from the domain but keeps it in the string, so every later
///   part is off by one (`u@b./r` gets resource `/r`). We strip it first; a second final dot
///   leaves an empty label, which is invalid.
/// - Its nodeprep/nameprep case-fold before NFKC, so one pass can leave capitals
///   (`\u{32CC}@b`, SQUARE HG, becomes `Hg@b`, which parses again as `hg@b`). We parse until
///   the result is stable, so one address compares equal to itself.
pub(crate) fn parse_jid(s: &str) -> Option<Jid> {
    let domain_end = s.find('/').unwrap_or(s.len());
    let mut jid = match s[..domain_end].strip_suffix('.') {
        None => Jid::new(s).ok()?,
        Some(head) if head.ends_with('.') => return None,
        Some(head) => Jid::new(&format!("{head}{}", &s[domain_end..])).ok()?,
    };
    // Each round only folds what NFKC produced; two settle every input the fuzzer found.
    for _ in 0..3 {
        let again = Jid::new(jid.as_str()).ok()?;
        if again == jid {
            return Some(jid);
        }
        jid = again;
    }
    None
}

/// [`parse_jid`] for a bare JID: `None` when it is no JID or has a resource.
pub(crate) fn parse_bare(s: &str) -> Option<BareJid> {
    parse_jid(s)?.try_into_full().err()
}

/// The localpart of a bare JID on our domain, i.e. the account name.
pub(crate) fn account(jid: &BareJid) -> Option<&str> {
    jid.node().map(jid::NodeRef::as_str)
}

/// Queues bytes for one session. Delivery failures are the recipient's problem: a session that
/// went away drops the stanza, and an overflowing one is closed by the router (RFC 6120 §4.9.3.15).
pub(crate) fn send_bytes(shared: &Shared, to: &FullJid, bytes: Bytes) -> Delivery {
    // The answer to a plugin's `requests.ask` goes to the plugin, not to a session.
    if shared.requests.catch(to, &bytes) {
        return Delivery::Queued;
    }
    let delivery = shared.router.send(to, bytes);
    if delivery != Delivery::Queued {
        tracing::debug!(to = %to, ?delivery, "stanza not queued");
    }
    delivery
}

/// Serialises and queues one stanza for one session.
pub(crate) fn send(shared: &Shared, to: &FullJid, stanza: &Element) -> Delivery {
    send_bytes(shared, to, tessera_xml::serialize(stanza))
}

/// The sessions of an account that sent available presence (RFC 6121 §1.4 "available resource").
pub(crate) fn available(shared: &Shared, bare: &BareJid) -> Vec<SessionInfo> {
    let mut sessions = shared.router.sessions(bare);
    sessions.retain(|s| s.priority.is_some());
    sessions
}

/// Serialises once and queues for every available resource of an account. Returns how many
/// sessions it was queued for.
pub(crate) fn send_to_available(shared: &Shared, bare: &BareJid, stanza: &Element) -> usize {
    let sessions = available(shared, bare);
    if sessions.is_empty() {
        return 0;
    }
    let bytes = tessera_xml::serialize(stanza);
    sessions
        .iter()
        .filter(|s| send_bytes(shared, &s.jid, bytes.clone()) == Delivery::Queued)
        .count()
}

/// A fresh `<iq type='result'/>` answering `request` (RFC 6120 §8.2.3): same `id`, `to` = the
/// requester, `from` = whatever the request was addressed to (absent if it had no `to`).
pub(crate) fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut iq = client_element("iq", &[("type", "result")]);
    if let Some(id) = request.attr("id") {
        set_attr(&mut iq, "id", id);
    }
    if let Some(from) = request.attr("from") {
        set_attr(&mut iq, "to", from);
    }
    if let Some(to) = request.attr("to") {
        set_attr(&mut iq, "from", to);
    }
    if let Some(payload) = payload {
        iq.append_child(payload);
    }
    iq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        s.parse().expect("test JID")
    }

    #[test]
    fn classify_destinations() {
        let domain: BareJid = "localhost".parse().expect("domain");
        assert_eq!(Dest::classify(None, &domain), Dest::Absent);
        assert_eq!(
            Dest::classify(Some(&jid("localhost")), &domain),
            Dest::Server
        );
        assert_eq!(
            Dest::classify(Some(&jid("localhost/x")), &domain),
            Dest::ServerResource
        );
        assert_eq!(
            Dest::classify(Some(&jid("u@localhost")), &domain),
            Dest::LocalBare("u@localhost".parse().expect("jid"))
        );
        assert_eq!(
            Dest::classify(Some(&jid("u@localhost/r")), &domain),
            Dest::LocalFull("u@localhost/r".parse().expect("jid"))
        );
        assert_eq!(
            Dest::classify(Some(&jid("u@example.org")), &domain),
            Dest::Remote
        );
        assert_eq!(
            Dest::classify(Some(&jid("sub.localhost")), &domain),
            Dest::Remote
        );
    }

    #[test]
    fn to_must_be_a_jid() {
        let ok: Element = "<message xmlns='jabber:client' to='a@b'/>"
            .parse()
            .expect("xml");
        assert_eq!(parse_to(&ok), Ok(Some(jid("a@b"))));
        let none: Element = "<message xmlns='jabber:client'/>".parse().expect("xml");
        assert_eq!(parse_to(&none), Ok(None));
        let bad: Element = "<message xmlns='jabber:client' to='a@b@c'/>"
            .parse()
            .expect("xml");
        assert_eq!(parse_to(&bad), Err(()));
    }

    /// Issue 5, `jid` fuzz target: jid 0.12.3 kept a stripped root dot in the JID's string.
    #[test]
    fn r5_fuzz_root_dot_is_stripped() {
        let domain: BareJid = "localhost".parse().expect("domain");
        assert_eq!(parse_jid("a.168./x"), Some(jid("a.168/x")));
        let to = parse_jid("u@localhost./r").expect("valid with the root dot");
        assert_eq!(to.resource().map(jid::ResourceRef::as_str), Some("r"));
        assert_eq!(
            Dest::classify(Some(&to), &domain),
            Dest::LocalFull("u@localhost/r".parse().expect("jid"))
        );
        assert_eq!(parse_jid("u@localhost."), Some(jid("u@localhost")));
        assert_eq!(parse_jid("u@localhost../r"), None);
    }

    /// Issue 5, `jid` fuzz target: one nameprep/nodeprep pass is not always a fixpoint.
    #[test]
    fn r5_fuzz_normalisation_is_a_fixpoint() {
        assert_eq!(
            parse_jid("\u{A7F3}oo(oc+lh"),
            Some(jid("foo(oc+lh")),
            "domainpart"
        );
        assert_eq!(
            parse_jid("\u{32CC}@localhost"),
            Some(jid("hg@localhost")),
            "localpart"
        );
        // U+1806 MONGOLIAN TODO SOFT HYPHEN: nameprep maps it to nothing, leaving no domain.
        assert_eq!(parse_jid("\u{1806}"), None);
        assert_eq!(parse_jid("u@\u{1806}/r"), None);
    }

    #[test]
    fn iq_result_swaps_addresses() {
        let req: Element =
            "<iq xmlns='jabber:client' type='get' id='1' from='u@localhost/r' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                .parse()
                .expect("xml");
        let res = iq_result(&req, None);
        assert_eq!(res.attr("type"), Some("result"));
        assert_eq!(res.attr("id"), Some("1"));
        assert_eq!(res.attr("to"), Some("u@localhost/r"));
        assert_eq!(res.attr("from"), Some("localhost"));
        assert_eq!(res.children().count(), 0);
    }
}
