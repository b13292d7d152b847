//! Room archives: XEP-0045 §7.2.12 logging, answered with XEP-0313 (`urn:xmpp:mam:2`) on the
//! room's JID, with XEP-0359 stanza-ids on what occupants receive.
//!
//! Only a room whose owner turned `muc#roomconfig_enablelogging` on is archived: its groupchat
//! messages with a body and its subject changes, as occupants saw them (from
//! `room@service/nick`, no real JID even in a non-anonymous room), one entry each in the room's
//! stream of the `archive` category [`HISTORY`], owned by the room. A message marked
//! `<no-store/>` or `<no-permanent-store/>` (XEP-0334) is not kept. The entry's `with` is the
//! sender's occupant JID, so a query's `with` filter picks one nickname's messages. Turning
//! logging off, and destroying the room, deletes the archive; the host applies the operator's
//! retention (`[plugins.muc.retention.history]`) and deletes it with the room's other records.
//!
//! Who may read it (XEP-0313 "MUC Archives" leaves access to the room's rules): the room's
//! occupants, and its members, admins and owners even when absent; in a members-only room that
//! is its members. Anyone else, banned users included, is `forbidden`: a public room's archive
//! is for those who enter it, not for anyone who knows its address. A room that is not logged
//! answers `service-unavailable`, as it does not offer the feature.

use tessera_sdk::archive::{Archive, Entry, Page};
use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::{Element, Node};
use tessera_sdk::xmpp_parsers::date::DateTime;
use tessera_sdk::xmpp_parsers::mam::{Fin, Query as MamQuery};
use tessera_sdk::{HostError, Owner, StanzaError, clock, log, rsm};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant;
use crate::room::{Affiliation, Room};
use crate::xml;

/// The `archive` category of room logs, owned by the room.
pub(crate) const HISTORY: &str = "history";
/// The one stream per room in it.
const STREAM: &str = "log";
/// Entries kept per room unless the operator's retention says otherwise (oldest dropped).
pub(crate) const DEFAULT_MAX_ITEMS: u64 = 10_000;
/// Results per page when the client names no `max`.
const DEFAULT_PAGE: u32 = 20;

/// The room's archive.
pub(crate) fn archive_of(room: &str) -> Archive {
    Archive::new(HISTORY, Owner::room(room), STREAM)
}

/// Whether a groupchat message belongs in a logged room's archive: it has a body or is a
/// subject change, and is not marked `no-store` or `no-permanent-store` (XEP-0334 §4).
pub(crate) fn loggable(message: &Element) -> bool {
    if message.has_child("no-store", ns::HINTS)
        || message.has_child("no-permanent-store", ns::HINTS)
    {
        return false;
    }
    message.has_child("body", ns::CLIENT) || message.has_child("subject", ns::CLIENT)
}

/// Removes every `<stanza-id/>` claiming to be by `room` (XEP-0359 §7: only the room may set
/// those; a sender could otherwise plant an id pointing anywhere in the archive).
pub(crate) fn strip_stanza_ids(message: &mut Element, room: &str) {
    for node in message.take_nodes() {
        let forged = matches!(&node, Node::Element(e)
            if e.is("stanza-id", ns::SID) && e.attr("by").is_some_and(|by| by == room));
        if !forged {
            message.append_node(node);
        }
    }
}

/// `<stanza-id xmlns='urn:xmpp:sid:0' id='…' by='room'/>` (XEP-0359 §3).
pub(crate) fn stanza_id(id: &str, room: &str) -> Element {
    xml::el("stanza-id", ns::SID, &[("id", id), ("by", room)])
}

/// Appends `message` (already from `sender`, the occupant JID) to the room's archive, addressed
/// to the room rather than to one occupant; the archive id, or `None` when storing failed (logged, without content: the
/// message is still delivered, only without a stanza-id).
pub(crate) fn append(room: &str, sender: &str, message: &Element) -> Option<String> {
    let mut stored = message.clone();
    xml::set(&mut stored, "to", room);
    match archive_of(room).append(sender, &String::from(&stored)) {
        Ok(id) => Some(id),
        Err(e) => {
            log::warn(&format!("could not log a message of room {room}: {e}"));
            None
        }
    }
}

/// Deletes the room's whole archive (logging turned off, the room destroyed or ended).
///
/// # Errors
///
/// Storage failed.
pub(crate) fn purge(room: &str) -> Result<u64, HostError> {
    archive_of(room).remove(None, None)
}

fn bad(text: impl Into<String>) -> StanzaError {
    StanzaError::bad_request().with_text(text)
}

/// Whether the session `from` may read the archive of `room` (see the module docs).
fn may_read(room: &Room, from: &str) -> Result<(), StanzaError> {
    let bare = Jid::new(from)
        .map_err(|_| StanzaError::bad_request())?
        .to_bare()
        .to_string();
    let aff = room.affiliation(&bare).map_err(|e| error::storage(&e))?;
    if aff == Affiliation::Outcast {
        return Err(StanzaError::forbidden());
    }
    if aff >= Affiliation::Member || occupant::by_jid(&room.jid, from).is_some() {
        return Ok(());
    }
    Err(StanzaError::forbidden().with_text("only occupants and members may read the archive"))
}

fn date(form: &tessera_sdk::forms::DataForm, var: &str) -> Result<Option<u64>, StanzaError> {
    let Some(text) = tessera_sdk::forms::value(form, var) else {
        return Ok(None);
    };
    let d: DateTime = text
        .trim()
        .parse()
        .map_err(|_| bad(format!("{var} is not an XEP-0082 date-time")))?;
    u64::try_from(d.0.timestamp_millis())
        .map(Some)
        .map_err(|_| bad(format!("{var} is before 1970")))
}

/// A parsed query: the archive query, the ids it pages from, its `queryid`, flipped or not.
struct Request {
    query: tessera_sdk::archive::Query,
    anchors: Vec<String>,
    queryid: Option<String>,
    flip: bool,
}

/// Parses `<query xmlns='urn:xmpp:mam:2'/>`: the `with`, `start` and `end` fields (XEP-0313
/// "Filtering results") and an RSM `<set/>` capped at `max_page`.
fn parse(query: &Element, max_page: u32) -> Result<Request, StanzaError> {
    let q = MamQuery::try_from(query.clone()).map_err(|e| bad(e.to_string()))?;
    if q.node.is_some() {
        return Err(StanzaError::feature_not_implemented().with_text("no pubsub archives here"));
    }
    let mut host = rsm::query(q.set.as_ref(), DEFAULT_PAGE.min(max_page), max_page);
    let anchors = host
        .after_id
        .iter()
        .chain(host.before_id.iter())
        .cloned()
        .collect();
    if let Some(form) = &q.form {
        if form.form_type().is_some_and(|t| t != ns::MAM) {
            return Err(bad(format!("FORM_TYPE must be {}", ns::MAM)));
        }
        for field in &form.fields {
            match field.var.as_deref() {
                Some("FORM_TYPE" | "with" | "start" | "end") => {}
                Some(other) => return Err(bad(format!("unsupported field {other}"))),
                None => return Err(bad("a field without var")),
            }
        }
        if let Some(with) = tessera_sdk::forms::value(form, "with") {
            let jid = Jid::new(with).map_err(|e| bad(format!("with: {e}")))?;
            host = host.with(jid.to_string());
        }
        host = host.between(date(form, "start")?, date(form, "end")?);
    }
    Ok(Request {
        query: host,
        anchors,
        queryid: q.queryid.map(|id| id.0),
        flip: q.flip_page,
    })
}

fn host_error(e: &HostError) -> StanzaError {
    match e {
        HostError::Invalid(why) => bad(why.clone()),
        other => error::storage(other),
    }
}

/// Runs a request; the page in sending order.
fn run(archive: &Archive, req: &Request) -> Result<Page, StanzaError> {
    for id in &req.anchors {
        let found = archive
            .query(&tessera_sdk::archive::Query::new(1).ids(vec![id.clone()]))
            .map_err(|e| host_error(&e))?;
        if found.entries.is_empty() {
            // XEP-0059 §2.6: an id the archive does not hold, never an empty page.
            return Err(StanzaError::item_not_found().with_text("no such archive id"));
        }
    }
    let mut page = archive.query(&req.query).map_err(|e| host_error(&e))?;
    if req.flip {
        page.entries.reverse();
    }
    Ok(page)
}

/// The stored message of an entry, or `None` (logged) if it no longer parses.
pub(crate) fn stored(room: &str, entry: &Entry) -> Option<Element> {
    let parsed = entry.data.parse::<Element>().ok();
    if parsed.is_none() {
        log::warn(&format!(
            "archive entry {} of {room} unreadable; skipped",
            entry.id
        ));
    }
    parsed
}

/// `<delay xmlns='urn:xmpp:delay' from='room' stamp='…'/>` (XEP-0203 §4).
pub(crate) fn delay(room: &str, ms: u64) -> Element {
    xml::el(
        "delay",
        ns::DELAY,
        &[("from", room), ("stamp", &clock::xep0082(ms))],
    )
}

/// One result message (XEP-0313 "Query results"): from the room to the requester, the stored
/// message forwarded (XEP-0297) with its archiving time.
fn result_message(room: &str, to: &str, queryid: Option<&str>, entry: &Entry) -> Option<Element> {
    let message = stored(room, entry)?;
    let mut forwarded = Element::bare("forwarded", ns::FORWARD);
    forwarded.append_child(xml::el(
        "delay",
        ns::DELAY,
        &[("stamp", &clock::xep0082(entry.timestamp))],
    ));
    forwarded.append_child(message);
    let mut result = xml::el("result", ns::MAM, &[("id", &entry.id)]);
    if let Some(q) = queryid {
        xml::set(&mut result, "queryid", q);
    }
    result.append_child(forwarded);
    let mut m = xml::stanza("message", room, to, None);
    m.append_child(result);
    Some(m)
}

/// An IQ with `<query xmlns='urn:xmpp:mam:2'/>` to the room from the session `from`: `get`
/// answers the supported fields, `set` sends one result message per entry; the payload of the
/// IQ result (the fields form or the `<fin/>`) is returned, to be sent after them.
pub(crate) fn handle(
    s: &Settings,
    room: &Room,
    from: &str,
    set: bool,
    query: &Element,
) -> Result<Option<Element>, StanzaError> {
    if !room.config.logging {
        return Err(StanzaError::service_unavailable().with_text("this room is not logged"));
    }
    may_read(room, from)?;
    if !set {
        return Ok(Some(fields_form()));
    }
    let req = parse(query, s.max_page)?;
    let page = run(&archive_of(&room.jid), &req)?;
    for entry in &page.entries {
        if let Some(m) = result_message(&room.jid, from, req.queryid.as_deref(), entry) {
            xml::send(&m);
        }
    }
    Ok(Some(
        Fin {
            complete: page.complete,
            set: rsm::result(&page),
        }
        .into(),
    ))
}

/// The fields a room archive query supports (XEP-0313 "Retrieving form fields").
fn fields_form() -> Element {
    use tessera_sdk::forms::{DataForm, DataFormType, Field, FieldType};
    let form = DataForm::new(
        DataFormType::Form,
        ns::MAM,
        vec![
            Field::new("with", FieldType::JidSingle),
            Field::new("start", FieldType::TextSingle),
            Field::new("end", FieldType::TextSingle),
        ],
    );
    let mut q = Element::bare("query", ns::MAM);
    q.append_child(Element::from(form));
    q
}
