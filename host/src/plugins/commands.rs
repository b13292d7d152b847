//! XEP-0050 ad-hoc commands offered by plugins (`manifest.commands`): the index over the
//! manifests, and running one through `on-command` with the plugin's answer checked.
//!
//! Access (`admin`, `local-user`) is checked by the caller (`crate::im::commands`), which also
//! owns the server's own commands; this module only knows plugins. Node names are unique across
//! plugins and must not be one of the server's own (a load error naming both plugins, or the
//! plugin and the node).

use std::collections::HashMap;
use std::sync::Arc;

use jid::FullJid;
use minidom::Element;

use super::bindings::exports::tessera::plugin::handler::CommandRequest;
use super::bindings::tessera::plugin::manifest::CommandAccess;
use super::dispatch::{call_command, error_element, fail_closed};
use super::instance::LoadedPlugin;
use super::{PluginError, Plugins, wire};
use crate::im::error::Condition;
use crate::ns;
use crate::server::Shared;

/// Who may run a command (the manifest's `command-access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The operator's `admins`.
    Admin,
    /// Any local account.
    LocalUser,
}

/// One command a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginCommand {
    pub(crate) node: String,
    pub(crate) name: String,
    pub(crate) access: Access,
}

/// Refuses empty nodes, nodes the server uses itself and one node offered by two plugins.
pub(crate) fn check(plugins: &[Arc<LoadedPlugin>]) -> Result<(), PluginError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in plugins.iter().enumerate() {
        for c in &p.manifest.commands {
            let bad = |problem: String| PluginError::Manifest {
                plugin: p.name().to_owned(),
                problem,
            };
            if c.node.is_empty() {
                return Err(bad("an ad-hoc command has an empty node".to_owned()));
            }
            if crate::im::commands::is_host_node(&c.node) {
                return Err(bad(format!(
                    "the ad-hoc command node \"{}\" is the server's own",
                    c.node
                )));
            }
            if let Some(&j) = seen.get(c.node.as_str()) {
                return Err(PluginError::Clash {
                    what: format!("the ad-hoc command node \"{}\"", c.node),
                    first: plugins[j].name().to_owned(),
                    second: p.name().to_owned(),
                });
            }
            seen.insert(&c.node, i);
        }
    }
    Ok(())
}

impl Plugins {
    /// Every plugin command, in plugin load order then manifest order.
    pub(crate) fn commands(&self) -> Vec<PluginCommand> {
        self.registry()
            .plugins
            .iter()
            .flat_map(|p| p.manifest.commands.iter())
            .map(|c| PluginCommand {
                node: c.node.clone(),
                name: c.name.clone(),
                access: match c.access {
                    CommandAccess::Admin => Access::Admin,
                    CommandAccess::LocalUser => Access::LocalUser,
                },
            })
            .collect()
    }
}

/// Runs plugin command `node` for `requester` (whose access the caller checked) with the
/// `<command/>` element it sent. `Ok` is the `<command/>` answer for the IQ result; `Err` the
/// `<error/>` to answer with.
///
/// # Cancel safety
/// Cancel safe in that nothing is left half done: a cancelled call discards its instance.
pub(crate) async fn execute(
    shared: &Shared,
    requester: &FullJid,
    node: &str,
    command: &Element,
) -> Result<Element, Element> {
    let reg = shared.plugins.registry();
    // A reload may have taken the command away since the caller looked.
    let Some(plugin) = reg
        .plugins
        .iter()
        .find(|p| p.manifest.commands.iter().any(|c| c.node == node))
    else {
        return Err(Condition::ItemNotFound.element());
    };
    let req = CommandRequest {
        node: node.to_owned(),
        requester: requester.to_string(),
        // minidom declares the element's namespace, so the document stands alone.
        xml: String::from(command),
    };
    match call_command(plugin, &req).await {
        Ok(Ok(xml)) => answer(shared, plugin, node, &xml),
        Ok(Err(e)) => Err(error_element(&e)),
        Err(failure) => Err(fail_closed(plugin, failure)
            .unwrap_or(Condition::ServiceUnavailable)
            .element()),
    }
}

/// Checks a plugin's answer: one `<command/>` in the commands namespace for the same node
/// (XEP-0050 §3.4), parsed with the client limits; anything else is our (the plugin's) fault.
fn answer(
    shared: &Shared,
    plugin: &LoadedPlugin,
    node: &str,
    xml: &str,
) -> Result<Element, Element> {
    let refuse = |why: &str| {
        tracing::warn!(
            plugin = plugin.name(),
            node,
            why,
            "plugin answered a command with an invalid element"
        );
        Condition::InternalServerError.element()
    };
    // Wrapped in an IQ so the stanza parser (restricted XML, size and depth limits) applies; a
    // second element or a stray close tag makes it fail.
    let wrapped = format!("<iq xmlns='jabber:client' type='result'>{xml}</iq>");
    let iq = wire::parse(&wrapped, &shared.config.limits).map_err(|_| refuse("not XML"))?;
    let mut children = iq.children();
    let (Some(command), None) = (children.next(), children.next()) else {
        return Err(refuse("not one element"));
    };
    if !command.is("command", ns::COMMANDS) {
        return Err(refuse("not a command element"));
    }
    if command.attr("node") != Some(node) {
        return Err(refuse("another node"));
    }
    Ok(command.clone())
}
