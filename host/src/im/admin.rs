//! The server's own admin commands (XEP-0050 with XEP-0004 forms); `commands` checked that the
//! requester is one of the operator's `admins`.
//!
//! `urn:tessera:admin:reload-plugin` has two stages (XEP-0050 §3.2, §3.4):
//! 1. `execute` without a form: `executing`, a new session id, the single action `complete`
//!    and a form with a required list-single `plugin` of the loaded plugins' names;
//! 2. the submitted form (`complete`, or `execute` with the form): `Plugins::reload`, then
//!    `completed` with an info note, or with an error note saying why the old plugin stayed.
//!
//! `cancel` at any stage is `canceled` (§3.4.3).

use minidom::Element;
use rand::Rng;

use super::commands::RELOAD_PLUGIN;
use super::error::Condition;
use super::stanza::set_attr;
use crate::ns;
use crate::server::Shared;

/// The requested action (XEP-0050 §3.4); `execute` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Execute,
    Next,
    Prev,
    Complete,
    Cancel,
}

impl Action {
    fn of(command: &Element) -> Result<Self, Condition> {
        match command.attr("action").unwrap_or("execute") {
            "execute" => Ok(Self::Execute),
            "next" => Ok(Self::Next),
            "prev" => Ok(Self::Prev),
            "complete" => Ok(Self::Complete),
            "cancel" => Ok(Self::Cancel),
            // §4.6: a malformed action is bad-request.
            _ => Err(Condition::BadRequest),
        }
    }
}

fn response(status: &str, session: &str) -> Element {
    let mut c = Element::bare("command", ns::COMMANDS);
    set_attr(&mut c, "node", RELOAD_PLUGIN);
    set_attr(&mut c, "status", status);
    set_attr(&mut c, "sessionid", session);
    c
}

fn text(name: &str, ns: &str, value: &str) -> Element {
    let mut el = Element::bare(name, ns);
    el.append_text_node(value);
    el
}

fn note(kind: &str, value: &str) -> Element {
    let mut el = text("note", ns::COMMANDS, value);
    set_attr(&mut el, "type", kind);
    el
}

/// A fresh session id: 128 random bits, hex.
fn new_session() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stage 1: the form (XEP-0004 §3.3, list-single with one option per loaded plugin).
fn form(names: &[String], session: &str) -> Element {
    let mut c = response("executing", session);
    let mut actions = Element::bare("actions", ns::COMMANDS);
    set_attr(&mut actions, "execute", "complete");
    actions.append_child(Element::bare("complete", ns::COMMANDS));
    c.append_child(actions);
    let mut x = Element::bare("x", ns::DATA_FORMS);
    set_attr(&mut x, "type", "form");
    x.append_child(text("title", ns::DATA_FORMS, "Reload a plugin"));
    x.append_child(text(
        "instructions",
        ns::DATA_FORMS,
        "Reload the plugin from its file. Client sessions stay connected; on error the old \
         plugin stays.",
    ));
    let mut field = Element::bare("field", ns::DATA_FORMS);
    set_attr(&mut field, "var", "plugin");
    set_attr(&mut field, "type", "list-single");
    set_attr(&mut field, "label", "Plugin");
    field.append_child(Element::bare("required", ns::DATA_FORMS));
    for name in names {
        let mut option = Element::bare("option", ns::DATA_FORMS);
        set_attr(&mut option, "label", name.as_str());
        option.append_child(text("value", ns::DATA_FORMS, name));
        field.append_child(option);
    }
    x.append_child(field);
    c.append_child(x);
    c
}

/// The `plugin` value of a submitted form (XEP-0004 §3.2, type `submit`), if one was sent.
fn submitted(command: &Element) -> Option<Result<String, Condition>> {
    let x = command
        .get_child("x", ns::DATA_FORMS)
        .filter(|x| x.attr("type") == Some("submit"))?;
    let value = x
        .children()
        .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("plugin"))
        .and_then(|f| f.get_child("value", ns::DATA_FORMS))
        .map(Element::text)
        .filter(|v| !v.is_empty());
    // §4.6: a form without its required field is bad-request.
    Some(value.ok_or(Condition::BadRequest))
}

/// Runs one stage of the reload command; `Ok` is the `<command/>` answer.
///
/// # Cancel safety
/// Not cancel safe in the useful sense: a cancelled call may still complete the reload (see
/// `Plugins::reload`), just without an answer.
pub(crate) async fn reload_plugin(
    shared: &Shared,
    command: &Element,
) -> Result<Element, Condition> {
    let action = Action::of(command)?;
    let session = command
        .attr("sessionid")
        .map_or_else(new_session, str::to_owned);
    if action == Action::Cancel {
        return Ok(response("canceled", &session));
    }
    let name = match submitted(command) {
        None if matches!(action, Action::Execute) => {
            return Ok(form(&shared.plugins.names(), &session));
        }
        // `next` and `prev` are not among the offered actions (§3.4: bad-request), nor is
        // `complete` without the form.
        None => return Err(Condition::BadRequest),
        Some(value) => value?,
    };
    if matches!(action, Action::Next | Action::Prev) {
        return Err(Condition::BadRequest);
    }
    let mut done = response("completed", &session);
    match shared.plugins.reload(&name).await {
        Ok(()) => done.append_child(note("info", &format!("Plugin {name} reloaded."))),
        Err(error) => {
            tracing::warn!(plugin = %name, %error, "admin command: plugin reload failed");
            done.append_child(note(
                "error",
                &format!("{error}. The running plugin was kept."),
            ))
        }
    };
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        s.parse().expect("test XML")
    }

    #[test]
    fn actions_parse_and_default_to_execute() {
        let c = |a: &str| {
            Action::of(&el(&format!(
                "<command xmlns='{}' node='n'{a}/>",
                ns::COMMANDS
            )))
        };
        assert_eq!(c(""), Ok(Action::Execute));
        assert_eq!(c(" action='complete'"), Ok(Action::Complete));
        assert_eq!(c(" action='cancel'"), Ok(Action::Cancel));
        assert_eq!(c(" action='explode'"), Err(Condition::BadRequest));
    }

    #[test]
    fn the_form_offers_each_plugin_and_only_complete() {
        let f = form(&["echo".to_owned(), "notes".to_owned()], "s1");
        assert_eq!(f.attr("status"), Some("executing"));
        assert_eq!(f.attr("sessionid"), Some("s1"));
        let actions = f.get_child("actions", ns::COMMANDS).expect("actions");
        assert_eq!(actions.attr("execute"), Some("complete"));
        let x = f.get_child("x", ns::DATA_FORMS).expect("form");
        let field = x.get_child("field", ns::DATA_FORMS).expect("field");
        assert_eq!(field.attr("type"), Some("list-single"));
        let values: Vec<String> = field
            .children()
            .filter_map(|o| o.get_child("value", ns::DATA_FORMS))
            .map(Element::text)
            .collect();
        assert_eq!(values, ["echo", "notes"]);
    }

    #[test]
    fn submitted_forms_need_the_plugin_field() {
        let c = |x: &str| {
            el(&format!(
                "<command xmlns='{}' node='n'>{x}</command>",
                ns::COMMANDS
            ))
        };
        assert_eq!(submitted(&c("")), None);
        let form = |v: &str| {
            format!("<x xmlns='jabber:x:data' type='submit'><field var='plugin'>{v}</field></x>")
        };
        assert_eq!(
            submitted(&c(&form("<value>echo</value>"))),
            Some(Ok("echo".to_owned()))
        );
        assert_eq!(submitted(&c(&form(""))), Some(Err(Condition::BadRequest)));
        // A form the requester was shown but not a submission: not submitted.
        assert_eq!(
            submitted(&c("<x xmlns='jabber:x:data' type='form'/>")),
            None
        );
    }
}
