//! IQ routing (RFC 6120 §8.2.3, §10.3–§10.5; RFC 6121 §8.5) and the server's own IQs.
//!
//! An IQ either goes to a bound full JID, or is answered here: by the server (to our domain), or
//! by the server on behalf of an account (no `to`, or an account's bare JID; RFC 6120 §10.3.3,
//! RFC 6121 §8.5.2.1.3). Unknown payloads are `service-unavailable` (RFC 6120 §8.4). An IQ for
//! another local account (its session, or its bare JID) passes that account's `incoming` hook
//! first, as messages and presence do.

use chrono::Utc;
use jid::BareJid;
use minidom::Element;

use super::error::{Condition, bounce};
use super::stanza::{Dest, account, iq_result, send, send_bytes};
use super::{ImSession, commands, disco, ping, roster, time, version};
use crate::ns;
use crate::server::Shared;
use crate::storage::{StorageError, Subscription};

/// The IQ `type` (RFC 6120 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IqType {
    Get,
    Set,
    Result,
    Error,
}

impl IqType {
    pub(crate) fn parse(ty: Option<&str>) -> Option<Self> {
        match ty? {
            "get" => Some(Self::Get),
            "set" => Some(Self::Set),
            "result" => Some(Self::Result),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// What a get/set asks for, by payload (name, namespace) and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// RFC 6121 §2: get or set.
    Roster,
    /// XEP-0030 §3, get.
    DiscoInfo,
    /// XEP-0030 §4, get.
    DiscoItems,
    /// XEP-0199, get.
    Ping,
    /// XEP-0202, get.
    Time,
    /// XEP-0092, get.
    Version,
    /// Anything else: `service-unavailable` (RFC 6120 §8.4).
    Other,
}

impl Request {
    pub(crate) fn classify(ty: IqType, payload: &Element) -> Self {
        if payload.is("query", ns::ROSTER) {
            return Self::Roster;
        }
        if ty != IqType::Get {
            return Self::Other;
        }
        if payload.is("query", ns::DISCO_INFO) {
            Self::DiscoInfo
        } else if payload.is("query", ns::DISCO_ITEMS) {
            Self::DiscoItems
        } else if ping::is_ping(payload) {
            Self::Ping
        } else if time::is_time(payload) {
            Self::Time
        } else if version::is_version(payload) {
            Self::Version
        } else {
            Self::Other
        }
    }
}

/// Who answers an IQ that is not forwarded to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answerer {
    /// The server itself (`to` = our domain).
    Server,
    /// The server on behalf of the sender's own account (no `to`, or the sender's bare JID).
    OwnAccount,
    /// The server on behalf of another local account.
    OtherAccount(BareJid),
}

/// RFC 6120 §8.2.3: a get or set carries exactly one payload element.
pub(crate) fn has_one_child(iq: &Element) -> bool {
    let mut children = iq.children();
    children.next().is_some() && children.next().is_none()
}

/// Routes or answers an IQ from the session.
pub(crate) async fn handle(
    shared: &Shared,
    session: &ImSession,
    mut iq: Element,
    dest: Dest,
) -> Result<(), StorageError> {
    // RFC 6120 §8.2.3 rule 2: the type is required and closed.
    let Some(ty) = IqType::parse(iq.attr("type")) else {
        bounce(shared, &session.jid, iq, Condition::BadRequest);
        return Ok(());
    };
    if matches!(ty, IqType::Result | IqType::Error) {
        // §8.2.3 rules 4–5: responses are forwarded to a bound full JID and otherwise dropped:
        // one addressed to us or an account answers a request we sent (a roster push, a caps
        // query), and a response is never answered. XEP-0115: an answer to the server's own
        // disco#info query about this session's caps is applied first.
        if dest == Dest::Server {
            super::caps::answer(shared, &session.jid, &iq);
        }
        if let Dest::LocalFull(full) = &dest
            && shared.router.session(full).is_some()
            && let Some(iq) = incoming(shared, session, &full.to_bare(), iq).await
        {
            send_bytes(shared, full, tessera_xml::serialize(&iq));
        }
        return Ok(());
    }
    // §8.2.3 rule 1 (id required) and rule 6 (exactly one child for get/set).
    if iq.attr("id").is_none() || !has_one_child(&iq) {
        bounce(shared, &session.jid, iq, Condition::BadRequest);
        return Ok(());
    }
    let answerer = match dest {
        Dest::Absent => Answerer::OwnAccount,
        Dest::Server => Answerer::Server,
        Dest::LocalBare(bare) if bare == session.jid.to_bare() => Answerer::OwnAccount,
        Dest::LocalBare(bare) => {
            let Some(next) = incoming(shared, session, &bare, iq).await else {
                return Ok(());
            };
            iq = next;
            Answerer::OtherAccount(bare)
        }
        Dest::LocalFull(full) => {
            let Some(next) = incoming(shared, session, &full.to_bare(), iq).await else {
                return Ok(());
            };
            iq = next;
            // RFC 6121 §8.5.3.1: to the bound resource; §8.5.3.2.1: none bound, or a
            // stale race with its logout: service-unavailable.
            let queued = shared.router.session(&full).is_some()
                && send_bytes(shared, &full, tessera_xml::serialize(&iq))
                    == crate::router::Delivery::Queued;
            if !queued {
                bounce(shared, &session.jid, iq, Condition::ServiceUnavailable);
            }
            return Ok(());
        }
        // RFC 6120 §10.3.2: the server hosts no resources of its own.
        Dest::ServerResource => {
            bounce(shared, &session.jid, iq, Condition::ServiceUnavailable);
            return Ok(());
        }
        // RFC 6120 §10.4.3: no s2s yet.
        Dest::Remote => {
            bounce(shared, &session.jid, iq, Condition::RemoteServerNotFound);
            return Ok(());
        }
    };
    answer(shared, session, iq, ty, answerer).await
}

/// plugins: the `incoming` hook of the local account an IQ is for, when that is not the sender's
/// own (XEP-0191: a blocked sender's requests are answered `service-unavailable`, its responses
/// dropped). `None` when a plugin stopped it.
async fn incoming(
    shared: &Shared,
    session: &ImSession,
    recipient: &BareJid,
    iq: Element,
) -> Option<Element> {
    if *recipient == session.jid.to_bare()
        || !crate::plugins::subscribed(shared, crate::plugins::Hook::Incoming, &iq)
    {
        return Some(iq);
    }
    match crate::plugins::run_hook(
        shared,
        crate::plugins::Hook::Incoming,
        Some(recipient),
        None,
        iq,
    )
    .await
    {
        crate::plugins::Flow::Continue(iq) => Some(iq),
        crate::plugins::Flow::Stop => None,
    }
}

async fn answer(
    shared: &Shared,
    session: &ImSession,
    iq: Element,
    ty: IqType,
    answerer: Answerer,
) -> Result<(), StorageError> {
    // cmds: a payload a plugin owns goes to it first (`crate::plugins::iq`), when the server
    // answers for itself or for the sender; ad-hoc commands go to `commands` (XEP-0050 §3).
    let iq = if matches!(answerer, Answerer::Server | Answerer::OwnAccount) {
        match crate::plugins::iq::owned(shared, &session.jid, iq).await {
            crate::plugins::Flow::Continue(iq) => iq,
            crate::plugins::Flow::Stop => return Ok(()),
        }
    } else {
        iq
    };
    if answerer == Answerer::Server
        && ty == IqType::Set
        && iq.children().next().is_some_and(commands::is_command)
    {
        commands::execute(shared, session, iq).await;
        return Ok(());
    }
    // cmds: end.
    let Some(payload) = iq.children().next() else {
        bounce(shared, &session.jid, iq, Condition::BadRequest);
        return Ok(());
    };
    let request = Request::classify(ty, payload);
    let version_enabled = shared.config.features.version;
    let outcome: Result<Option<Element>, Condition> = match (request, &answerer) {
        // RFC 6121 §2.1.3: roster requests go to the user's own server, with no `to` or `to` =
        // the user's bare JID (we also accept our domain).
        (Request::Roster, Answerer::Server | Answerer::OwnAccount) => {
            return roster::handle(shared, session, iq, ty == IqType::Set).await;
        }
        // RFC 6121 §2.3.3 (set) and §2.1.3 (get): only the account itself touches its roster.
        (Request::Roster, Answerer::OtherAccount(_)) => Err(Condition::Forbidden),
        // cmds: a node is an ad-hoc command's (XEP-0050 §2.3); without one, the server's
        // features and identities with the plugins' (XEP-0030 §3.1).
        (Request::DiscoInfo, Answerer::Server) => {
            let (features, identities) = (
                shared.plugins.disco_features(),
                shared.plugins.disco_identities(),
            );
            let info = disco::ServerInfo {
                version: version_enabled,
                features: &features,
                identities: &identities,
                contact: &shared.config.contact,
            };
            match payload.attr("node") {
                // XEP-0115 §6.2: the caps node answers like the server.
                Some(node) if info.is_caps_node(node) => Ok(Some(info.query(Some(node)))),
                Some(node) => commands::info(shared, &session.jid.to_bare(), node).map(Some),
                None => Ok(Some(info.query(None))),
            }
        }
        // cmds: the commands node lists the requester's commands (XEP-0050 §2.2).
        (Request::DiscoItems, Answerer::Server) if payload.attr("node") == Some(ns::COMMANDS) => {
            Ok(Some(commands::items(shared, &session.jid.to_bare())))
        }
        // plugins: the server's items are the plugins' services (XEP-0030 §4.1).
        (Request::DiscoItems, Answerer::Server) => {
            disco::items(payload, &shared.plugins.service_domains()).map(Some)
        }
        (Request::DiscoItems, Answerer::OwnAccount) => disco::items(payload, &[]).map(Some),
        (Request::Ping, Answerer::Server | Answerer::OwnAccount) => Ok(None),
        (Request::Time, Answerer::Server) => Ok(Some(time::payload(Utc::now()))),
        // XEP-0092 only when the operator enabled it; otherwise as if unknown.
        (Request::Version, Answerer::Server) if version_enabled => Ok(Some(version::payload())),
        (Request::DiscoInfo, Answerer::OwnAccount) => disco::account_info(
            payload,
            &shared.plugins.account_features(),
            &shared.plugins.account_identities(),
        )
        .map(Some),
        // Another account's disco#info, disco#items and ping are answered only to those it
        // shares presence with (RFC 6121 §4.3.2's rule for probes): otherwise the answer would
        // tell anyone which accounts exist, and it is service-unavailable like for a missing one.
        (
            Request::DiscoInfo | Request::DiscoItems | Request::Ping,
            Answerer::OtherAccount(owner),
        ) => {
            if shares_presence(shared, owner, &session.jid.to_bare()).await? {
                match request {
                    Request::DiscoInfo => disco::account_info(payload, &[], &[]).map(Some),
                    Request::DiscoItems => disco::items(payload, &[]).map(Some),
                    _ => Ok(None),
                }
            } else {
                Err(Condition::ServiceUnavailable)
            }
        }
        // RFC 6120 §8.4 / RFC 6121 §8.5.2.1.3: nobody handles this namespace.
        _ => Err(Condition::ServiceUnavailable),
    };
    match outcome {
        Ok(payload) => {
            send(shared, &session.jid, &iq_result(&iq, payload));
        }
        Err(condition) => bounce(shared, &session.jid, iq, condition),
    }
    Ok(())
}

/// Whether `owner`'s roster lets `viewer` see its presence ("from" or "both").
async fn shares_presence(
    shared: &Shared,
    owner: &BareJid,
    viewer: &BareJid,
) -> Result<bool, StorageError> {
    let Some(name) = account(owner) else {
        return Ok(false);
    };
    Ok(shared
        .storage
        .roster_item(name, viewer)
        .await?
        .is_some_and(|i| matches!(i.subscription, Subscription::From | Subscription::Both)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        s.parse().expect("test XML")
    }

    #[test]
    fn types() {
        assert_eq!(IqType::parse(Some("get")), Some(IqType::Get));
        assert_eq!(IqType::parse(Some("error")), Some(IqType::Error));
        assert_eq!(IqType::parse(Some("GET")), None);
        assert_eq!(IqType::parse(None), None);
    }

    #[test]
    fn one_child_rule() {
        assert!(has_one_child(&el(
            "<iq xmlns='jabber:client'><a xmlns='x'/></iq>"
        )));
        assert!(!has_one_child(&el("<iq xmlns='jabber:client'/>")));
        assert!(!has_one_child(&el(
            "<iq xmlns='jabber:client'><a xmlns='x'/><b xmlns='x'/></iq>"
        )));
    }

    #[test]
    fn payload_classification() {
        let c = |ty, s: &str| Request::classify(ty, &el(s));
        assert_eq!(
            c(IqType::Get, "<query xmlns='jabber:iq:roster'/>"),
            Request::Roster
        );
        assert_eq!(
            c(IqType::Set, "<query xmlns='jabber:iq:roster'/>"),
            Request::Roster
        );
        assert_eq!(
            c(
                IqType::Get,
                "<query xmlns='http://jabber.org/protocol/disco#info'/>"
            ),
            Request::DiscoInfo
        );
        assert_eq!(
            c(
                IqType::Get,
                "<query xmlns='http://jabber.org/protocol/disco#items'/>"
            ),
            Request::DiscoItems
        );
        assert_eq!(
            c(IqType::Get, "<ping xmlns='urn:xmpp:ping'/>"),
            Request::Ping
        );
        assert_eq!(
            c(IqType::Set, "<ping xmlns='urn:xmpp:ping'/>"),
            Request::Other
        );
        assert_eq!(
            c(IqType::Get, "<time xmlns='urn:xmpp:time'/>"),
            Request::Time
        );
        assert_eq!(
            c(IqType::Get, "<query xmlns='jabber:iq:version'/>"),
            Request::Version
        );
        assert_eq!(
            c(IqType::Get, "<vCard xmlns='vcard-temp'/>"),
            Request::Other
        );
    }
}
