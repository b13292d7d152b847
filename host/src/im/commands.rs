//! XEP-0050 ad-hoc commands on the server's JID: discovery (§2), access, execution (§3), and
//! the server's own admin commands.
//!
//! The commands are the plugins' (`manifest.commands`, run through `crate::plugins::commands`)
//! plus the host's: `urn:tessera:admin:reload-plugin`, a two-stage command with a XEP-0004 form
//! that reloads one plugin from its file without touching sessions. Who may see or run a command:
//! `local-user` commands any local account, `admin` commands and the host's only the operator's
//! `admins`. Discovery lists only what the requester may run (§2.2); running or asking about
//! another command is `forbidden`, an unknown node `item-not-found` (§4.4).
//!
//! The reload command keeps no session state: its first stage sends the form with a fresh
//! session id, and any later stage that submits the form finishes it. There is nothing to clean
//! up when a requester walks away.

use jid::BareJid;
use minidom::Element;

use super::ImSession;
use super::error::{Condition, bounce, error_reply_with};
use super::stanza::{iq_result, send, set_attr};
use crate::ns;
use crate::plugins::commands::{Access, execute as run_plugin_command};
use crate::server::Shared;

/// The host's command that reloads one plugin (issue 3: "reload by admin command").
pub(crate) const RELOAD_PLUGIN: &str = "urn:tessera:admin:reload-plugin";

/// The host's own commands (all for admins only): node and name.
const HOST_COMMANDS: [(&str, &str); 1] = [(RELOAD_PLUGIN, "Reload a plugin")];

/// Whether `node` is one of the server's own commands (plugins may not offer it).
pub(crate) fn is_host_node(node: &str) -> bool {
    HOST_COMMANDS.iter().any(|(n, _)| *n == node)
}

/// Whether a payload asks to run a command (XEP-0050 §3: an IQ set with `<command/>`).
pub(crate) fn is_command(payload: &Element) -> bool {
    payload.is("command", ns::COMMANDS)
}

/// A command the requester may run, with its name: `forbidden` for one it may not,
/// `item-not-found` for a node nobody offers.
fn may_run(shared: &Shared, requester: &BareJid, node: &str) -> Result<String, Condition> {
    let admin = shared.config.is_admin(requester);
    if let Some((_, name)) = HOST_COMMANDS.iter().find(|(n, _)| *n == node) {
        return if admin {
            Ok((*name).to_owned())
        } else {
            Err(Condition::Forbidden)
        };
    }
    let command = shared
        .plugins
        .commands()
        .into_iter()
        .find(|c| c.node == node)
        .ok_or(Condition::ItemNotFound)?;
    // Requesters here are bound local sessions; the check keeps `local-user` honest should
    // anyone else ever reach this (server-to-server).
    let local = requester.node().is_some() && requester.domain() == shared.domain.domain();
    match command.access {
        Access::Admin if admin => Ok(command.name),
        Access::LocalUser if local => Ok(command.name),
        Access::Admin | Access::LocalUser => Err(Condition::Forbidden),
    }
}

fn item(jid: &str, node: &str, name: &str) -> Element {
    let mut item = Element::bare("item", ns::DISCO_ITEMS);
    set_attr(&mut item, "jid", jid);
    set_attr(&mut item, "node", node);
    set_attr(&mut item, "name", name);
    item
}

/// disco#items on node `http://jabber.org/protocol/commands` (XEP-0050 §2.2): the commands the
/// requester may run, the host's first.
pub(crate) fn items(shared: &Shared, requester: &BareJid) -> Element {
    let server = shared.domain.to_string();
    let mut q = Element::bare("query", ns::DISCO_ITEMS);
    set_attr(&mut q, "node", ns::COMMANDS);
    if shared.config.is_admin(requester) {
        for (node, name) in HOST_COMMANDS {
            q.append_child(item(&server, node, name));
        }
    }
    for c in shared.plugins.commands() {
        if may_run(shared, requester, &c.node).is_ok() {
            q.append_child(item(&server, &c.node, &c.name));
        }
    }
    q
}

/// disco#info on a command node (XEP-0050 §2.3): identity automation/command-node, features
/// commands and data forms.
pub(crate) fn info(shared: &Shared, requester: &BareJid, node: &str) -> Result<Element, Condition> {
    let name = may_run(shared, requester, node)?;
    let mut q = Element::bare("query", ns::DISCO_INFO);
    set_attr(&mut q, "node", node);
    let mut identity = Element::bare("identity", ns::DISCO_INFO);
    set_attr(&mut identity, "category", "automation");
    set_attr(&mut identity, "type", "command-node");
    set_attr(&mut identity, "name", name);
    q.append_child(identity);
    for var in [ns::COMMANDS, ns::DATA_FORMS] {
        let mut feature = Element::bare("feature", ns::DISCO_INFO);
        set_attr(&mut feature, "var", var);
        q.append_child(feature);
    }
    Ok(q)
}

/// Runs a command (XEP-0050 §3): an IQ set to the server whose payload is `<command/>`.
///
/// # Cancel safety
/// Not cancel safe: a cancelled reload may still swap the plugin in, unanswered. Run it to
/// completion.
pub(crate) async fn execute(shared: &Shared, session: &ImSession, iq: Element) {
    let Some(command) = iq.children().next().filter(|c| is_command(c)) else {
        bounce(shared, &session.jid, iq, Condition::BadRequest);
        return;
    };
    let Some(node) = command.attr("node") else {
        bounce(shared, &session.jid, iq, Condition::BadRequest);
        return;
    };
    if let Err(condition) = may_run(shared, &session.jid.to_bare(), node) {
        bounce(shared, &session.jid, iq, condition);
        return;
    }
    let outcome = if node == RELOAD_PLUGIN {
        super::admin::reload_plugin(shared, command)
            .await
            .map_err(Condition::element)
    } else {
        run_plugin_command(shared, &session.jid, node, command).await
    };
    match outcome {
        Ok(answer) => {
            send(shared, &session.jid, &iq_result(&iq, Some(answer)));
        }
        Err(error) => {
            if let Some(reply) = error_reply_with(iq, error) {
                send(shared, &session.jid, &reply);
            }
        }
    }
}
