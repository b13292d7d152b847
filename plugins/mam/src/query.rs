//! Archive queries (XEP-0313, "Querying an archive"): the form of supported fields, `<query/>` sets answered with one
//! result message per entry and a closing `<fin/>`, and the archive metadata ("Retrieving message
//! archive metadata", `#extended`).
//!
//! Paging is XEP-0059 on top of the host's archive: `after` pages forward, `before` backward,
//! an empty `<before/>` asks for the last page; the `before-id`/`after-id` form fields
//! (`#extended`) narrow the window the same way without changing direction. `<flip-page/>`
//! sends a page newest first, and its RSM `first`/`last` then name the first and last result
//! *sent*. An id the archive does not hold is `item-not-found` (XEP-0059 §2.6), never an empty
//! page that a client would mistake for "in sync".

use tessera_sdk::archive::{Archive, Entry, Page, Query};
use tessera_sdk::forms::{self, DataForm, DataFormType, Field, FieldType};
use tessera_sdk::jid::Jid;
use tessera_sdk::minidom::Element;
use tessera_sdk::rsm;
use tessera_sdk::xmpp_parsers::mam::{End, Fin, MetadataResponse, Query as MamQuery, Start};
use tessera_sdk::{HostError, StanzaError};

use crate::{ns, stamp};

/// Page size when the client names none.
pub(crate) const DEFAULT_PAGE: u32 = 50;
/// Most ids an `ids` field may list (the host refuses longer lists).
const MAX_IDS: usize = 100;

/// A parsed `<query/>` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// Echoed in every result (XEP-0313, "Query results").
    pub(crate) queryid: Option<String>,
    /// The host query: filters and paging.
    pub(crate) query: Query,
    /// Ids that must exist in the archive for the query to make sense.
    pub(crate) anchors: Vec<String>,
    /// Send the page newest first.
    pub(crate) flip: bool,
}

fn bad(text: impl Into<String>) -> StanzaError {
    StanzaError::bad_request().with_text(text)
}

/// One value of a single-valued field, refusing several (XEP-0004 §3.3).
fn single<'a>(form: &'a DataForm, var: &str) -> Result<Option<&'a str>, StanzaError> {
    match forms::values(form, var) {
        [] => Ok(None),
        [one] => Ok(Some(one.as_str())),
        _ => Err(bad(format!("field {var} takes one value"))),
    }
}

/// The later of two strict lower bounds, the earlier of two strict upper bounds.
fn tighter(a: Option<String>, b: Option<&str>, keep_max: bool) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a.as_str() > b) == keep_max {
            a
        } else {
            b.to_owned()
        }),
        (a, b) => a.or_else(|| b.map(str::to_owned)),
    }
}

impl Request {
    /// Parses a `<query xmlns='urn:xmpp:mam:2'/>` of an IQ set; `max_page` caps RSM `max`.
    ///
    /// # Errors
    ///
    /// `bad-request` for a malformed query, form or `<set/>`, an unknown field, a bad JID or
    /// date; `feature-not-implemented` for a pubsub `node` (only user archives live here).
    pub(crate) fn parse(query: &Element, max_page: u32) -> Result<Self, StanzaError> {
        let q = MamQuery::try_from(query.clone()).map_err(|e| bad(e.to_string()))?;
        if q.node.is_some() {
            return Err(StanzaError::feature_not_implemented()
                .with_text("pubsub archives are not served here"));
        }
        let mut host = rsm::query(q.set.as_ref(), DEFAULT_PAGE.min(max_page), max_page);
        let mut anchors: Vec<String> = Vec::new();
        anchors.extend(host.after_id.clone());
        anchors.extend(host.before_id.clone());
        if let Some(form) = &q.form {
            if form.type_ != DataFormType::Submit {
                return Err(bad("the form must be of type submit"));
            }
            if form.form_type().is_some_and(|t| t != ns::MAM) {
                return Err(bad(format!("FORM_TYPE must be {}", ns::MAM)));
            }
            for field in &form.fields {
                match field.var.as_deref() {
                    Some(
                        "FORM_TYPE" | "with" | "start" | "end" | "before-id" | "after-id" | "ids",
                    ) => {}
                    Some(other) => return Err(bad(format!("unsupported field {other}"))),
                    None => return Err(bad("a field without var")),
                }
            }
            if let Some(with) = single(form, "with")? {
                let jid = Jid::new(with).map_err(|e| bad(format!("with: {e}")))?;
                host = host.with(jid.to_string());
            }
            let date = |var: &str| -> Result<Option<u64>, StanzaError> {
                single(form, var)?
                    .map(|t| {
                        stamp::parse(t)
                            .ok_or_else(|| bad(format!("{var} is not an XEP-0082 date-time")))
                    })
                    .transpose()
            };
            let (start, end) = (date("start")?, date("end")?);
            host = host.between(start, end);
            if let Some(after) = single(form, "after-id")? {
                anchors.push(after.to_owned());
                host.after_id = tighter(host.after_id.take(), Some(after), true);
            }
            if let Some(before) = single(form, "before-id")? {
                anchors.push(before.to_owned());
                host.before_id = tighter(host.before_id.take(), Some(before), false);
            }
            let ids = forms::values(form, "ids");
            if ids.len() > MAX_IDS {
                return Err(bad(format!("at most {MAX_IDS} ids")));
            }
            if !ids.is_empty() {
                host = host.ids(ids.to_vec());
            }
        }
        Ok(Self {
            queryid: q.queryid.map(|id| id.0),
            query: host,
            anchors,
            flip: q.flip_page,
        })
    }
}

/// Maps a host failure on the query path: a query the host refuses is the client's
/// (`bad-request`); anything else is ours.
fn host_error(e: &HostError) -> StanzaError {
    match e {
        HostError::Invalid(why) => bad(why.clone()),
        other => crate::internal("query the archive", other),
    }
}

/// Whether the archive holds `id`.
fn holds(archive: &Archive, id: &str) -> Result<bool, StanzaError> {
    let page = archive
        .query(&Query::new(1).ids(vec![id.to_owned()]))
        .map_err(|e| host_error(&e))?;
    Ok(!page.entries.is_empty())
}

/// Runs a request: the page, in sending order (newest first when flipped).
///
/// # Errors
///
/// `item-not-found` for an unknown anchor id, `bad-request` or `internal-server-error` from
/// the host.
pub(crate) fn run(archive: &Archive, req: &Request) -> Result<Page, StanzaError> {
    for id in &req.anchors {
        if !holds(archive, id)? {
            return Err(StanzaError::item_not_found().with_text("no such archive id"));
        }
    }
    let mut page = archive.query(&req.query).map_err(|e| host_error(&e))?;
    if req.flip {
        page.entries.reverse();
    }
    Ok(page)
}

/// The result message for one entry (XEP-0313, "Query results"): from the archive's owner to the requesting
/// session, the stored message forwarded (XEP-0297) with the archiving time (XEP-0203).
///
/// Built as text around the stored XML rather than parsed and re-serialised: a page is up to
/// `max_page` of these in one call, and the stored XML is already what minidom serialised when
/// the message was archived (a well-formed `<message xmlns='jabber:client'/>`). The host parses
/// what it is sent anyway and refuses anything malformed.
pub(crate) fn result_message(
    owner: &str,
    requester: &str,
    queryid: Option<&str>,
    entry: &Entry,
) -> String {
    let queryid = queryid
        .map(|q| format!(" queryid='{}'", escape(q)))
        .unwrap_or_default();
    format!(
        "<message xmlns='jabber:client' from='{}' to='{}'>\
         <result xmlns='{}' id='{}'{queryid}><forwarded xmlns='{}'>\
         <delay xmlns='{}' stamp='{}'/>{}</forwarded></result></message>",
        escape(owner),
        escape(requester),
        ns::MAM,
        escape(&entry.id),
        ns::FORWARD,
        ns::DELAY,
        stamp::format(entry.timestamp),
        entry.data
    )
}

/// Escapes text for an attribute value in single quotes (XML 1.0 §2.4, §3.3.3).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<fin/>` closing a page (XEP-0313, "Paging through results"): `complete` and the RSM summary of what was
/// sent, in sending order.
pub(crate) fn fin(page: &Page) -> Element {
    Fin {
        complete: page.complete,
        set: rsm::result(page),
    }
    .into()
}

/// `<iq type='get'><query/></iq>` (XEP-0313, "Retrieving form fields"): the fields this
/// archive supports, the `#extended` ones included.
pub(crate) fn fields_form() -> Element {
    let text = |var: &str| Field::new(var, FieldType::TextSingle);
    let form = DataForm::new(
        DataFormType::Form,
        ns::MAM,
        vec![
            Field::new("with", FieldType::JidSingle),
            text("start"),
            text("end"),
            text("before-id"),
            text("after-id"),
            Field::new("ids", FieldType::TextMulti),
        ],
    );
    Element::builder("query", ns::MAM)
        .append(Element::from(form))
        .build()
}

/// `<iq type='get'><metadata/></iq>` (XEP-0313, "Retrieving message archive metadata"): the
/// first and last entries, or an
/// empty `<metadata/>` for an empty archive.
///
/// # Errors
///
/// `internal-server-error` when the archive cannot be read.
pub(crate) fn metadata(archive: &Archive) -> Result<Element, StanzaError> {
    let oldest = archive.query(&Query::new(1)).map_err(|e| host_error(&e))?;
    let newest = archive
        .query(&Query::new(1).last_page())
        .map_err(|e| host_error(&e))?;
    let response = MetadataResponse {
        start: oldest.entries.first().map(|e| Start {
            id: e.id.clone(),
            timestamp: stamp::datetime(e.timestamp),
        }),
        end: newest.entries.first().map(|e| End {
            id: e.id.clone(),
            timestamp: stamp::datetime(e.timestamp),
        }),
    };
    Ok(response.into())
}
