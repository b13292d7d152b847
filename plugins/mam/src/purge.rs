//! The purge command (XEP-0050): a user deletes their own archived messages, all of them or those
//! archived in a date range. One stage to show the form, one to submit it; nothing is kept
//! between them (the form is the whole state), so any session id the host relays works.

use tessera_sdk::commands::{Action, Response, Status};
use tessera_sdk::forms::{self, DataForm, Field, FieldType};
use tessera_sdk::minidom::Element;
use tessera_sdk::{CommandRequest, StanzaError, log};

use crate::{archive_of, bare, stamp};

/// The command node.
pub(crate) const NODE: &str = "urn:tessera:mam:purge";
/// The form's `FORM_TYPE` (XEP-0068): the node, as nothing else defines these fields.
const FORM_TYPE: &str = NODE;
/// The session id of the second stage.
const SESSION: &str = "purge";

fn form() -> DataForm {
    let mut start = Field::new("start", FieldType::TextSingle);
    start.label =
        Some("From (XEP-0082 date-time, e.g. 2026-01-31T00:00:00Z; empty: the beginning)".into());
    let mut end = Field::new("end", FieldType::TextSingle);
    end.label = Some("Until (inclusive; empty: now)".into());
    forms::form(
        FORM_TYPE,
        "Delete archived messages",
        "Leave both dates empty to delete your whole message archive. This cannot be undone.",
        vec![start, end],
    )
}

/// A date field: absent or empty means an open bound.
fn date(form: &DataForm, var: &str) -> Result<Option<u64>, StanzaError> {
    match forms::value(form, var).map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => stamp::parse(text).map(Some).ok_or_else(|| {
            StanzaError::bad_request().with_text(format!("{var} is not an XEP-0082 date-time"))
        }),
    }
}

/// Runs one stage of the command for `req.requester`'s own archive.
///
/// # Errors
///
/// `bad-request` for a malformed command, form or date range; `internal-server-error` when
/// the archive cannot be changed.
pub(crate) fn execute(req: &CommandRequest) -> Result<Element, StanzaError> {
    let bad = |e: tessera_sdk::ParseError| StanzaError::bad_request().with_text(e.to_string());
    let action = req.action().map_err(bad)?;
    if action == Action::Cancel {
        return Ok(Response::new(NODE, Status::Canceled).build());
    }
    let Some(submitted) = req.form().map_err(bad)? else {
        return Ok(Response::new(NODE, Status::Executing)
            .session_id(SESSION)
            .form(form())
            .build());
    };
    let (start, end) = (date(&submitted, "start")?, date(&submitted, "end")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(StanzaError::bad_request().with_text("start is after end"));
    }
    let owner = bare(&req.requester);
    let removed = archive_of(owner)
        .remove(start, end)
        .map_err(|e| crate::internal("purge the archive", &e))?;
    log::info(&format!("purged {removed} archived messages of {owner}"));
    let noun = if removed == 1 { "message" } else { "messages" };
    Ok(Response::new(NODE, Status::Completed)
        .note_info(format!("Deleted {removed} archived {noun}."))
        .build())
}
