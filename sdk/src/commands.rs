//! XEP-0050 ad-hoc commands: reading the `<command/>` a requester sent and building the one to
//! send back from [`crate::Plugin::on_command`]. The host routes the IQ, checks the command's
//! access and wraps the answer in the IQ result.

use minidom::Element;

use crate::error::ParseError;
use crate::forms::DataForm;
use crate::plugin::CommandRequest;
use crate::stanza::nc;

/// `http://jabber.org/protocol/commands` (XEP-0050 §7).
pub const NS: &str = "http://jabber.org/protocol/commands";

/// The action the requester asked for (XEP-0050 §3.4); `execute` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Start or continue.
    Execute,
    /// Go to the next stage.
    Next,
    /// Go back a stage.
    Prev,
    /// Finish with the data given.
    Complete,
    /// Abandon the session.
    Cancel,
}

/// The command's status in the answer (XEP-0050 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// More stages follow; the requester answers with the session id.
    Executing,
    /// Done.
    Completed,
    /// Cancelled.
    Canceled,
}

/// A `<note/>`'s type (XEP-0050 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteType {
    /// Information.
    Info,
    /// A warning.
    Warn,
    /// An error.
    Error,
}

impl CommandRequest {
    /// The requested action.
    ///
    /// # Errors
    ///
    /// The XML does not parse or the action is not one of XEP-0050's.
    pub fn action(&self) -> Result<Action, ParseError> {
        match self.element()?.attr("action").unwrap_or("execute") {
            "execute" => Ok(Action::Execute),
            "next" => Ok(Action::Next),
            "prev" => Ok(Action::Prev),
            "complete" => Ok(Action::Complete),
            "cancel" => Ok(Action::Cancel),
            other => Err(ParseError::new(format!("unknown command action {other:?}"))),
        }
    }

    /// The session id of a multi-stage command, if the requester sent one.
    ///
    /// # Errors
    ///
    /// The XML does not parse.
    pub fn session_id(&self) -> Result<Option<String>, ParseError> {
        Ok(self.element()?.attr("sessionid").map(str::to_owned))
    }

    /// The submitted data form, if any.
    ///
    /// # Errors
    ///
    /// The XML or the form does not parse.
    pub fn form(&self) -> Result<Option<DataForm>, ParseError> {
        crate::forms::find(&self.element()?, None)
    }
}

/// Builds the `<command/>` answer.
///
/// ```
/// use tessera_sdk::commands::{Response, Status};
///
/// let done = Response::new("urn:example:ping", Status::Completed).note_info("Pong.").build();
/// assert_eq!(done.attr("status"), Some("completed"));
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    node: String,
    status: Status,
    session_id: Option<String>,
    notes: Vec<(NoteType, String)>,
    form: Option<DataForm>,
}

impl Response {
    /// An answer for `node` with `status`.
    pub fn new(node: impl Into<String>, status: Status) -> Self {
        Self {
            node: node.into(),
            status,
            session_id: None,
            notes: Vec::new(),
            form: None,
        }
    }

    /// Sets the session id (required while `executing`).
    #[must_use]
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Adds an informational note.
    #[must_use]
    pub fn note_info(self, text: impl Into<String>) -> Self {
        self.note(NoteType::Info, text)
    }

    /// Adds a note.
    #[must_use]
    pub fn note(mut self, kind: NoteType, text: impl Into<String>) -> Self {
        self.notes.push((kind, text.into()));
        self
    }

    /// Attaches a form (to fill in while `executing`, or a result when `completed`).
    #[must_use]
    pub fn form(mut self, form: DataForm) -> Self {
        self.form = Some(form);
        self
    }

    /// The `<command/>` element.
    pub fn build(self) -> Element {
        let status = match self.status {
            Status::Executing => "executing",
            Status::Completed => "completed",
            Status::Canceled => "canceled",
        };
        let mut b = Element::builder("command", NS)
            .attr(nc("node"), self.node)
            .attr(nc("status"), status);
        if let Some(id) = self.session_id {
            b = b.attr(nc("sessionid"), id);
        }
        if self.status == Status::Executing && self.form.is_some() {
            // XEP-0050 §3.4: the actions the requester may take next.
            b = b.append(
                Element::builder("actions", NS)
                    .attr(nc("execute"), "complete")
                    .append(Element::bare("complete", NS))
                    .build(),
            );
        }
        for (kind, text) in self.notes {
            let kind = match kind {
                NoteType::Info => "info",
                NoteType::Warn => "warn",
                NoteType::Error => "error",
            };
            b = b.append(
                Element::builder("note", NS)
                    .attr(nc("type"), kind)
                    .append(text)
                    .build(),
            );
        }
        if let Some(form) = self.form {
            b = b.append(Element::from(form));
        }
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms;

    #[test]
    fn reads_action_session_and_form() {
        let req = CommandRequest::new(
            "urn:example:purge",
            "admin@example.com/pc",
            "<command xmlns='http://jabber.org/protocol/commands' node='urn:example:purge' \
             action='complete' sessionid='s1'><x xmlns='jabber:x:data' type='submit'>\
             <field var='user'><value>juliet@example.com</value></field></x></command>",
        );
        assert_eq!(req.action().unwrap(), Action::Complete);
        assert_eq!(req.session_id().unwrap().as_deref(), Some("s1"));
        let form = req.form().unwrap().unwrap();
        assert_eq!(forms::value(&form, "user"), Some("juliet@example.com"));
    }

    #[test]
    fn default_action_is_execute_and_unknown_is_an_error() {
        let plain = CommandRequest::new(
            "n",
            "a@b/c",
            "<command xmlns='http://jabber.org/protocol/commands' node='n'/>",
        );
        assert_eq!(plain.action().unwrap(), Action::Execute);
        assert_eq!(plain.session_id().unwrap(), None);
        let bad = CommandRequest::new(
            "n",
            "a@b/c",
            "<command xmlns='http://jabber.org/protocol/commands' action='jump'/>",
        );
        assert!(bad.action().is_err());
    }

    #[test]
    fn builds_an_executing_answer_with_a_form() {
        let e = Response::new("n", Status::Executing)
            .session_id("s1")
            .note(NoteType::Warn, "careful")
            .form(forms::form("", "Purge", "Pick", vec![]))
            .build();
        assert_eq!(
            (e.attr("status"), e.attr("sessionid")),
            (Some("executing"), Some("s1"))
        );
        assert!(
            e.get_child("actions", NS)
                .unwrap()
                .has_child("complete", NS)
        );
        assert_eq!(e.get_child("note", NS).unwrap().attr("type"), Some("warn"));
        assert!(e.has_child("x", forms::NS));
    }
}
