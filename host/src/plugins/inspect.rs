//! `tessera plugin inspect FILE.wasm`: what a component declares and what it would touch,
//! read without loading it into a server (its `describe` runs in a sandbox with no grants).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::bindings::tessera::plugin::manifest::{CommandAccess, Hook};
use super::bindings::tessera::plugin::types::StanzaKind;
use super::data::{owner_name, visibility_name};
use super::ephemeral::Ephemeral;
use super::instance::{self, PluginCtx};
use super::load::{self, Import};
use super::{PluginError, Runtime, engine};

/// What `inspect` found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// The manifest's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The plugin API (WIT package) version it was built against.
    pub api_version: String,
    /// The capability interfaces it imports: what it must be granted.
    pub capabilities: Vec<String>,
    /// Imports this server cannot provide (it would be refused).
    pub unknown_imports: Vec<String>,
    /// Its data declarations, one line each.
    pub data: Vec<String>,
    /// Its stanza subscriptions, then its server events and timers, one line each.
    pub subscriptions: Vec<String>,
    /// The IQ payloads it answers, `{namespace}name`.
    pub iq_handlers: Vec<String>,
    /// The service labels it serves.
    pub services: Vec<String>,
    /// Its XEP-0050 ad-hoc commands: node, who may run them, name.
    pub commands: Vec<String>,
    /// Its HTTP routes: method and path prefix.
    pub http_routes: Vec<String>,
    /// Features and identities it adds to the server's disco#info.
    pub disco: Vec<String>,
}

fn hook(h: Hook) -> &'static str {
    match h {
        Hook::Outgoing => "outgoing",
        Hook::Incoming => "incoming",
        Hook::Undeliverable => "undeliverable",
        Hook::Service => "service",
        Hook::Iq => "iq",
    }
}

fn kind(k: StanzaKind) -> &'static str {
    match k {
        StanzaKind::Message => "message",
        StanzaKind::Presence => "presence",
        StanzaKind::Iq => "iq",
    }
}

/// Reads a component and calls its `describe`.
///
/// # Errors
/// The file cannot be read or compiled, or `describe` traps.
pub async fn inspect(path: &Path) -> Result<Inspection, PluginError> {
    let plugin = path.display().to_string();
    let wasm = tokio::fs::read(path)
        .await
        .map_err(|source| PluginError::Read {
            plugin: plugin.clone(),
            path: path.to_owned(),
            source,
        })?;
    inspect_bytes(plugin, wasm).await
}

/// As [`inspect`], for a component embedded in the binary (`tessera plugin list`).
///
/// # Errors
/// [`PluginError::NotConfigured`] for an unknown name; otherwise as [`inspect`].
pub async fn inspect_builtin(name: &str) -> Result<Inspection, PluginError> {
    let wasm = super::builtin::get(name)
        .ok_or_else(|| PluginError::NotConfigured(format!("{name} (no such built-in)")))?;
    inspect_bytes(format!("built-in {name}"), wasm.to_vec()).await
}

async fn inspect_bytes(plugin: String, wasm: Vec<u8>) -> Result<Inspection, PluginError> {
    let runtime = Runtime::new(None, "localhost".to_owned())?;
    engine::start_ticker(&runtime.engine)
        .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
    let compile = |e: wasmtime::Error| PluginError::Compile {
        plugin: plugin.clone(),
        message: instance::chain(&e),
    };
    let engine = runtime.engine.clone();
    let component =
        tokio::task::spawn_blocking(move || wasmtime::component::Component::new(&engine, &wasm))
            .await
            .map_err(|e| PluginError::Runtime(e.to_string()))?
            .map_err(compile)?;
    let api_version = load::api_version(&runtime.engine, &component).unwrap_or_default();
    let mut capabilities = Vec::new();
    let mut unknown_imports = Vec::new();
    for import in load::imports(&runtime.engine, &component) {
        match import {
            Import::Capability(c) => capabilities.push(c.interface().to_owned()),
            Import::Unknown(name) => unknown_imports.push(name),
            Import::Free(_) | Import::Wasi(_) => {}
        }
    }
    let pre = runtime
        .linker
        .instantiate_pre(&component)
        .and_then(super::bindings::PluginPre::new)
        .map_err(compile)?;
    let ctx = Arc::new(PluginCtx {
        name: plugin.clone(),
        grants: Vec::new(),
        impersonate: false,
        service_domains: OnceLock::new(),
        data: OnceLock::new(),
        ephemeral: Arc::new(Ephemeral::new(0)),
        // Inspection grants nothing, so no blob is ever written.
        blob_limits: super::blobs::BlobLimits { max: 0, quota: 0 },
        server: runtime.server.clone(),
        domain: runtime.domain.clone(),
        scope: super::scope::Scope::new(Arc::default()),
    });
    let trap = |what: &'static str| {
        let plugin = plugin.clone();
        move |e: wasmtime::Error| PluginError::Trap {
            plugin,
            what,
            message: instance::chain(&e),
        }
    };
    let mut store = instance::new_store(&runtime.engine, ctx, 64 << 20);
    instance::arm(&mut store, Duration::from_secs(1));
    let bindings = pre
        .instantiate_async(&mut store)
        .await
        .map_err(trap("instantiation"))?;
    instance::arm(&mut store, Duration::from_secs(1));
    let m = bindings
        .tessera_plugin_handler()
        .call_describe(&mut store)
        .await
        .map_err(trap("describe"))?;
    Ok(Inspection {
        name: m.name,
        version: m.version,
        api_version,
        capabilities,
        unknown_imports,
        data: m
            .data
            .iter()
            .map(|d| {
                let mut line = format!(
                    "{}: {} (owner: {}, visible to: {}",
                    d.category,
                    d.purpose,
                    owner_name(d.owner),
                    visibility_name(d.visibility)
                );
                if !d.third_parties.is_empty() {
                    line.push_str(&format!(", sent to: {}", d.third_parties.join(", ")));
                }
                if let Some(s) = d.default_max_age_seconds {
                    line.push_str(&format!(", kept {s} s"));
                }
                if let Some(n) = d.default_max_items {
                    line.push_str(&format!(", at most {n} items"));
                }
                line.push(')');
                line
            })
            .collect(),
        subscriptions: m
            .subscriptions
            .iter()
            .map(|s| {
                let payload = s.payload.as_ref().map_or_else(
                    || "*".to_owned(),
                    |q| format!("{{{}}}{}", q.namespace, q.name),
                );
                format!(
                    "{} {} {} (priority {})",
                    hook(s.hook),
                    kind(s.kind),
                    payload,
                    s.priority
                )
            })
            // Server events and timers are subscriptions too (`on-event`).
            .chain(
                m.events
                    .iter()
                    .map(|&k| format!("event {}", super::events::kind_name(k))),
            )
            .chain(
                m.timers
                    .iter()
                    .map(|t| format!("timer {} every {}s", t.name, t.interval_seconds)),
            )
            .collect(),
        iq_handlers: m
            .iq_handlers
            .iter()
            .map(|q| format!("{{{}}}{}", q.namespace, q.name))
            .collect(),
        commands: m
            .commands
            .iter()
            .map(|c| {
                let access = match c.access {
                    CommandAccess::Admin => "admins",
                    CommandAccess::LocalUser => "local users",
                };
                format!("{} ({access}): {}", c.node, c.name)
            })
            .collect(),
        http_routes: m
            .http_routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path_prefix))
            .collect(),
        disco: m
            .identities
            .iter()
            .map(|i| format!("identity {}/{}", i.category, i.type_))
            .chain(m.features.iter().map(|f| format!("feature {f}")))
            .collect(),
        services: m.services,
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        writeln!(f, "name:          {}", self.name)?;
        writeln!(f, "version:       {}", self.version)?;
        writeln!(f, "api version:   tessera:plugin@{}", self.api_version)?;
        writeln!(f, "capabilities:  {}", list(&self.capabilities))?;
        if !self.unknown_imports.is_empty() {
            writeln!(f, "unsupported:   {}", list(&self.unknown_imports))?;
        }
        writeln!(f, "services:      {}", list(&self.services))?;
        writeln!(f, "iq handlers:   {}", list(&self.iq_handlers))?;
        writeln!(f, "commands:      {}", list(&self.commands))?;
        writeln!(f, "http routes:   {}", list(&self.http_routes))?;
        writeln!(f, "disco:         {}", list(&self.disco))?;
        writeln!(
            f,
            "subscriptions:{}",
            if self.subscriptions.is_empty() {
                " none"
            } else {
                ""
            }
        )?;
        for s in &self.subscriptions {
            writeln!(f, "  {s}")?;
        }
        writeln!(
            f,
            "data:{}",
            if self.data.is_empty() { " none" } else { "" }
        )?;
        for d in &self.data {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}
