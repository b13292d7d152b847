//! Dispatch: which plugins see which stanza, and what their verdicts do.
//!
//! The index is built from the manifests: hook × stanza kind → subscriptions ordered by priority
//! (then load order). A stanza nobody subscribed to costs one array lookup and an empty check.
//! Services (`conference` → `conference.<domain>`) and IQ payloads have exactly one owner;
//! a second one is a load error naming both plugins.

use std::collections::HashMap;
use std::sync::Arc;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use super::bindings::exports::tessera::plugin::handler::{StanzaContext, Verdict};
use super::bindings::tessera::plugin::manifest::Hook;
use super::bindings::tessera::plugin::types::{ErrorType, StanzaError, StanzaKind};
use super::instance::{Failure, LoadedPlugin};
use super::{PluginError, wire};
use crate::config::FailMode;
use crate::im::error::{Condition, error_reply_with};
use crate::im::stanza::{client_element, send};
use crate::ns;
use crate::server::Shared;

// cmds: `iq` has a slot so the index stays total, but `iq::check` refuses subscriptions to it.
const HOOKS: usize = 5;
const KINDS: usize = 3;

fn hook_ix(h: Hook) -> usize {
    match h {
        Hook::Outgoing => 0,
        Hook::Incoming => 1,
        Hook::Undeliverable => 2,
        Hook::Service => 3,
        Hook::Iq => 4,
    }
}

fn kind_ix(k: StanzaKind) -> usize {
    match k {
        StanzaKind::Message => 0,
        StanzaKind::Presence => 1,
        StanzaKind::Iq => 2,
    }
}

/// One subscription, resolved to its plugin.
#[derive(Debug)]
struct Sub {
    plugin: usize,
    payload: Option<(String, String)>,
    priority: i32,
}

impl Sub {
    fn matches(&self, payload: Option<&Element>) -> bool {
        match &self.payload {
            None => true,
            Some((ns, name)) => payload.is_some_and(|p| p.is(name, ns.as_str())),
        }
    }
}

/// The loaded plugins and the index over their manifests. Immutable: a reload builds a new one.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) plugins: Vec<Arc<LoadedPlugin>>,
    index: [[Vec<Sub>; KINDS]; HOOKS],
    services: HashMap<String, usize>,
    iq_owners: HashMap<(String, String), usize>,
    /// The plugins' HTTP routes.
    pub(crate) http: super::http::Routes,
    /// Subscribers per server event kind (`on-event`).
    pub(crate) events: super::events::Index,
}

impl Registry {
    /// Builds the index, refusing two owners of a service or IQ payload.
    pub(crate) fn build(plugins: Vec<Arc<LoadedPlugin>>) -> Result<Self, PluginError> {
        let mut reg = Registry::default();
        // A plugin's identity is its config name (unique: a TOML table key), which scopes its
        // data, instances and logs. The same component may be loaded under several names (two
        // upload services with different limits); only what is addressed from outside (service
        // labels, IQ payloads) needs a single owner.
        for (i, p) in plugins.iter().enumerate() {
            let m = &p.manifest;
            for label in &m.services {
                if let Some(&j) = reg.services.get(label) {
                    return Err(PluginError::Clash {
                        what: format!("the service \"{label}\""),
                        first: plugins[j].name().to_owned(),
                        second: p.name().to_owned(),
                    });
                }
                reg.services.insert(label.clone(), i);
            }
            for q in &m.iq_handlers {
                let key = (q.namespace.clone(), q.name.clone());
                if let Some(&j) = reg.iq_owners.get(&key) {
                    return Err(PluginError::Clash {
                        what: format!("IQ payload {{{}}}{}", q.namespace, q.name),
                        first: plugins[j].name().to_owned(),
                        second: p.name().to_owned(),
                    });
                }
                reg.iq_owners.insert(key, i);
            }
            // cmds: built-in namespaces, the `iq` hook and command nodes.
            super::iq::check_manifest(p)?;
            for s in &m.subscriptions {
                reg.index[hook_ix(s.hook)][kind_ix(s.kind)].push(Sub {
                    plugin: i,
                    payload: s
                        .payload
                        .as_ref()
                        .map(|q| (q.namespace.clone(), q.name.clone())),
                    priority: s.priority,
                });
            }
        }
        for per_kind in &mut reg.index {
            for subs in per_kind {
                // Stable: equal priorities keep load order.
                subs.sort_by_key(|s| std::cmp::Reverse(s.priority));
            }
        }
        super::commands::check(&plugins)?;
        reg.http = super::http::Routes::build(&plugins)?;
        reg.events = super::events::index(&plugins);
        reg.plugins = plugins;
        Ok(reg)
    }

    /// cmds: the plugin owning IQ payload `{namespace}name`, if any.
    pub(crate) fn iq_owner(&self, namespace: &str, name: &str) -> Option<&Arc<LoadedPlugin>> {
        let key = (namespace.to_owned(), name.to_owned());
        self.iq_owners.get(&key).map(|&i| &self.plugins[i])
    }

    /// The domains served by plugins, for the server's disco#items.
    pub(crate) fn service_domains(&self, domain: &str) -> Vec<String> {
        let mut v: Vec<_> = self
            .services
            .keys()
            .map(|label| format!("{label}.{domain}"))
            .collect();
        v.sort();
        v
    }
}

/// What the caller does next with a stanza that went through a hook.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Go on with this stanza (the original, or a plugin's replacement).
    Continue(Element),
    /// A plugin took it, dropped it, or it was answered with an error.
    Stop,
}

/// The WIT error-type names (RFC 6120 §8.3.2).
fn error_type(t: ErrorType) -> &'static str {
    match t {
        ErrorType::Auth => "auth",
        ErrorType::Cancel => "cancel",
        ErrorType::Continue => "continue",
        ErrorType::Modify => "modify",
        ErrorType::Wait => "wait",
    }
}

/// RFC 6120 §8.3.3's defined conditions; a plugin naming anything else gets
/// `undefined-condition` (§8.3.3.21).
const CONDITIONS: [&str; 22] = [
    "bad-request",
    "conflict",
    "feature-not-implemented",
    "forbidden",
    "gone",
    "internal-server-error",
    "item-not-found",
    "jid-malformed",
    "not-acceptable",
    "not-allowed",
    "not-authorized",
    "policy-violation",
    "recipient-unavailable",
    "redirect",
    "registration-required",
    "remote-server-not-found",
    "remote-server-timeout",
    "resource-constraint",
    "service-unavailable",
    "subscription-required",
    "undefined-condition",
    "unexpected-request",
];

/// The `<error/>` element for a plugin's stanza error.
pub(super) fn error_element(e: &StanzaError) -> Element {
    let condition = CONDITIONS
        .into_iter()
        .find(|c| *c == e.condition)
        .unwrap_or("undefined-condition");
    let mut el = client_element("error", &[("type", error_type(e.type_))]);
    el.append_child(Element::bare(condition, ns::STANZAS));
    if let Some(text) = &e.text {
        let mut t = Element::bare("text", ns::STANZAS);
        t.append_text_node(text.clone());
        el.append_child(t);
    }
    el
}

/// Answers the stanza's sender (a local session: every stanza reaching a hook has a full `from`
/// stamped by the stream layer) with an error, unless the stanza is an error itself.
pub(super) fn answer(shared: &Shared, stanza: Element, error: Element) {
    let Some(sender) = stanza.attr("from").and_then(|f| FullJid::new(f).ok()) else {
        return;
    };
    if let Some(reply) = error_reply_with(stanza, error) {
        send(shared, &sender, &reply);
    }
}

pub(super) fn answer_condition(shared: &Shared, stanza: Element, condition: Condition) {
    answer(shared, stanza, condition.element());
}

/// Calls `on-stanza` on one plugin.
pub(super) async fn call(
    plugin: &LoadedPlugin,
    ctx: &StanzaContext,
    stanza: &super::bindings::tessera::plugin::types::Stanza,
) -> Result<Verdict, Failure> {
    call_tracked(plugin, ctx, stanza).await.map(|(v, _)| v)
}

/// [`call`], also returning the archive mark after the call's last `archive.append`, if it made
/// any.
async fn call_tracked(
    plugin: &LoadedPlugin,
    ctx: &StanzaContext,
    stanza: &super::bindings::tessera::plugin::types::Stanza,
) -> Result<(Verdict, Option<u64>), Failure> {
    let mut lease = plugin.acquire().await?;
    let instance = &mut lease.instance;
    let result = instance
        .bindings
        .tessera_plugin_handler()
        .call_on_stanza(&mut instance.store, ctx, stanza)
        .await;
    let appended = instance.store.data().appended;
    plugin
        .finish(lease, "on-stanza", result)
        .map(|v| (v, appended))
}

/// cmds: calls `on-command` on one plugin.
pub(super) async fn call_command(
    plugin: &LoadedPlugin,
    req: &super::bindings::exports::tessera::plugin::handler::CommandRequest,
) -> Result<Result<String, StanzaError>, Failure> {
    let mut lease = plugin.acquire().await?;
    let instance = &mut lease.instance;
    let result = instance
        .bindings
        .tessera_plugin_handler()
        .call_on_command(&mut instance.store, req)
        .await;
    plugin.finish(lease, "on-command", result)
}

/// The fail-mode answer for a failed call: `Some(condition)` to answer with (closed), `None` to
/// pass (open).
pub(super) fn fail_closed(plugin: &LoadedPlugin, failure: Failure) -> Option<Condition> {
    match plugin.config.fail {
        FailMode::Open => None,
        FailMode::Closed if failure.is_trap() => Some(Condition::InternalServerError),
        FailMode::Closed => Some(Condition::ServiceUnavailable),
    }
}

/// Checks a `replace` verdict: well-formed, same kind, same addresses.
fn replacement(
    shared: &Shared,
    plugin: &LoadedPlugin,
    old: &Element,
    xml: &str,
) -> Option<Element> {
    let new = match wire::parse(xml, &shared.config.limits) {
        Ok(el) => el,
        Err(error) => {
            tracing::warn!(plugin = plugin.name(), %error, "plugin replaced a stanza with an invalid one; ignored");
            return None;
        }
    };
    let same =
        new.name() == old.name() && ["from", "to"].iter().all(|a| new.attr(*a) == old.attr(*a));
    if !same {
        tracing::warn!(
            plugin = plugin.name(),
            "plugin replaced a stanza with one of another kind or addresses; ignored"
        );
        return None;
    }
    Some(new)
}

/// The call context of a hook over a stanza for `account`'s `session`.
fn context(hook: Hook, account: Option<&BareJid>, session: Option<&FullJid>) -> StanzaContext {
    StanzaContext {
        hook,
        account: account.map(|j| j.as_str().to_owned()),
        session: session.map(|j| j.as_str().to_owned()),
    }
}

/// What `run_hook` builds once per stanza before the first call: the context and the WIT record
/// (for `tessera::bench`). Returns the record's XML length.
pub(crate) fn bench_record(account: &BareJid, stanza: &Element) -> usize {
    let ctx = context(Hook::Incoming, Some(account), None);
    let record = wire::kind(stanza).map(|kind| wire::to_wit(stanza, kind));
    record.map_or(0, |r| r.xml.len()) + ctx.account.map_or(0, |a| a.len())
}

/// Runs the `outgoing`, `incoming` or `undeliverable` hook over a stanza.
///
/// # Cancel safety
/// Cancel safe in that nothing is left half done: a cancelled call discards its instance.
pub(crate) async fn run_hook(
    shared: &Shared,
    hook: Hook,
    account: Option<&BareJid>,
    session: Option<&FullJid>,
    stanza: Element,
) -> Flow {
    let Some(kind) = wire::kind(&stanza) else {
        return Flow::Continue(stanza);
    };
    let reg = shared.plugins.registry();
    let subs = &reg.index[hook_ix(hook)][kind_ix(kind)];
    if subs.is_empty() {
        return Flow::Continue(stanza);
    }
    let ctx = context(hook, account, session);
    let mut stanza = stanza;
    let mut wit = None;
    for sub in subs {
        if !sub.matches(wire::payload(&stanza)) {
            continue;
        }
        let plugin = &reg.plugins[sub.plugin];
        // A plugin that narrowed this hook to the accounts it acts for (`scope`) is not entered
        // for the others.
        if !plugin.ctx.scope.admits(hook, account, &stanza) {
            continue;
        }
        let record = wit.get_or_insert_with(|| wire::to_wit(&stanza, kind));
        match call_tracked(plugin, &ctx, record).await {
            Ok((Verdict::Pass, _)) => {}
            // `handled`: the stanza is the plugin's now (an offline queue, say), and may exist
            // only in what it wrote. Archive appends are write-behind, so wait for those of
            // this call to be committed before the stanza counts as handled: a server killed
            // right after loses nothing it had taken (issue 5, "kill -9 … loses no message").
            Ok((Verdict::Handled, appended)) => {
                if let Some(mark) = appended {
                    shared.storage.archive_committed(mark).await;
                }
                return Flow::Stop;
            }
            Ok((Verdict::Drop, _)) => return Flow::Stop,
            // The chain goes on with the new stanza (Prosody's hooks work the same way: MAM
            // adds its stanza-id, and carbons, push and filters after it see the stanza as it
            // will be delivered).
            Ok((Verdict::Replace(xml), _)) => {
                if let Some(new) = replacement(shared, plugin, &stanza, &xml) {
                    stanza = new;
                    wit = None;
                }
            }
            Ok((Verdict::Error(e), _)) => {
                answer(shared, stanza, error_element(&e));
                return Flow::Stop;
            }
            Err(failure) => {
                if let Some(condition) = fail_closed(plugin, failure) {
                    answer_condition(shared, stanza, condition);
                    return Flow::Stop;
                }
            }
        }
    }
    Flow::Continue(stanza)
}

/// The service label of a JID's domain (`echo` for `echo.localhost`), if it is a direct
/// subdomain of ours.
fn label<'a>(to: &'a Jid, domain: &str) -> Option<&'a str> {
    let label = to
        .domain()
        .as_str()
        .strip_suffix(domain)?
        .strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// Whether `to` is one of the plugins' service domains or a JID under one: presence sent there
/// is directed presence the host must retract when the session ends (RFC 6121 §4.6.3), as a
/// MUC service relies on to remove an occupant whose client vanished (XEP-0045 §7.14).
pub(crate) fn is_service(shared: &Shared, to: &Jid) -> bool {
    label(to, shared.domain.domain().as_str())
        .is_some_and(|label| shared.plugins.registry().services.contains_key(label))
}

/// The `service` hook: a stanza addressed to a plugin's service domain (or a JID under it) goes
/// to that plugin, which must answer it; `Continue` means the address is no plugin's service.
pub(crate) async fn service(shared: &Shared, to: &Jid, stanza: Element) -> Flow {
    let Some(label) = label(to, shared.domain.domain().as_str()) else {
        return Flow::Continue(stanza);
    };
    let reg = shared.plugins.registry();
    let Some(&index) = reg.services.get(label) else {
        return Flow::Continue(stanza);
    };
    let Some(kind) = wire::kind(&stanza) else {
        return Flow::Continue(stanza);
    };
    let plugin = &reg.plugins[index];
    let subscribed = reg.index[hook_ix(Hook::Service)][kind_ix(kind)]
        .iter()
        .any(|s| s.plugin == index && s.matches(wire::payload(&stanza)));
    if !subscribed {
        answer_condition(shared, stanza, Condition::ServiceUnavailable);
        return Flow::Stop;
    }
    let ctx = StanzaContext {
        hook: Hook::Service,
        account: None,
        session: None,
    };
    let record = wire::to_wit(&stanza, kind);
    match call(plugin, &ctx, &record).await {
        Ok(Verdict::Handled | Verdict::Drop) => {}
        // Nobody else serves this address: a pass is "nobody handled it" (RFC 6120 §8.4), and
        // error and result IQs are never answered (the reply helper knows).
        Ok(Verdict::Pass | Verdict::Replace(_)) => {
            if stanza.attr("type") != Some("result") {
                answer_condition(shared, stanza, Condition::ServiceUnavailable);
            }
        }
        Ok(Verdict::Error(e)) => answer(shared, stanza, error_element(&e)),
        Err(failure) => {
            let condition = fail_closed(plugin, failure).unwrap_or(Condition::ServiceUnavailable);
            answer_condition(shared, stanza, condition);
        }
    }
    Flow::Stop
}

/// Whether any plugin subscribed to `hook` for presence: one index lookup, so the presence
/// paths that deliver serialised bytes build an element for the hook only when someone listens.
pub(crate) fn subscribed_to_presence(shared: &Shared, hook: Hook) -> bool {
    !shared.plugins.registry().index[hook_ix(hook)][kind_ix(StanzaKind::Presence)].is_empty()
}

/// Whether any plugin subscribed to incoming presence might be entered for presence from
/// `sender` to `account` (its `scope`, without the stanza): callers holding only serialised
/// bytes parse them back only if so.
pub(crate) fn may_enter_presence(shared: &Shared, account: &BareJid, sender: &BareJid) -> bool {
    let reg = shared.plugins.registry();
    reg.index[hook_ix(Hook::Incoming)][kind_ix(StanzaKind::Presence)]
        .iter()
        .any(|sub| {
            reg.plugins[sub.plugin]
                .ctx
                .scope
                .may_admit_presence(account, sender)
        })
}

/// Whether [`run_hook`] would enter any plugin for this stanza of `account`: a subscription
/// whose payload matches, of a plugin whose `scope` admits it. Lets a caller that holds bytes
/// skip copying the element when the hook would pass it on untouched anyway.
pub(crate) fn enters(
    shared: &Shared,
    hook: Hook,
    account: Option<&BareJid>,
    stanza: &Element,
) -> bool {
    let Some(kind) = wire::kind(stanza) else {
        return false;
    };
    let reg = shared.plugins.registry();
    reg.index[hook_ix(hook)][kind_ix(kind)].iter().any(|sub| {
        sub.matches(wire::payload(stanza))
            && reg.plugins[sub.plugin]
                .ctx
                .scope
                .admits(hook, account, stanza)
    })
}

/// Whether any plugin subscribed to `hook` for this kind of stanza (to skip building a context).
pub(crate) fn subscribed(shared: &Shared, hook: Hook, stanza: &Element) -> bool {
    wire::kind(stanza)
        .is_some_and(|k| !shared.plugins.registry().index[hook_ix(hook)][kind_ix(k)].is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_labels_are_direct_subdomains() {
        let j = |s: &str| Jid::new(s).expect("jid");
        assert_eq!(label(&j("echo.localhost"), "localhost"), Some("echo"));
        assert_eq!(
            label(&j("room@muc.localhost/nick"), "localhost"),
            Some("muc")
        );
        assert_eq!(label(&j("localhost"), "localhost"), None);
        assert_eq!(label(&j("a.b.localhost"), "localhost"), None);
        assert_eq!(label(&j("echolocalhost"), "localhost"), None);
        assert_eq!(label(&j("echo.example.org"), "localhost"), None);
    }

    #[test]
    fn plugin_conditions_are_checked() {
        let e = |c: &str| {
            error_element(&StanzaError {
                type_: ErrorType::Cancel,
                condition: c.to_owned(),
                text: Some("why".to_owned()),
            })
        };
        let el = e("item-not-found");
        assert_eq!(el.attr("type"), Some("cancel"));
        assert!(el.has_child("item-not-found", ns::STANZAS));
        assert!(el.has_child("text", ns::STANZAS));
        assert!(e("made-up").has_child("undefined-condition", ns::STANZAS));
    }
}
