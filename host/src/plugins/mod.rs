//! The plugin runtime: WebAssembly components (world `tessera:plugin/plugin@0.1.2`, which 0.1.0
//! and 0.1.1 components also load under) run under wasmtime with grants, limits and fail modes (DESIGN.md
//! "Plugin model").
//!
//! At load each configured plugin is compiled (or taken from the on-disk cache), its imports are
//! checked against the operator's grants, one instance is created to call `describe` and `init`
//! (every later instance gets `init` too), and the manifests are indexed for dispatch. Calls then lease one of a few long-lived
//! instances per plugin; every call has a memory cap and an epoch deadline with async yield, a
//! trap discards the instance and counts towards the plugin's circuit breaker, and the plugin's
//! fail mode decides what happens to the stanza. A reload swaps one plugin's entry in an
//! immutable `dispatch::Registry`; sessions never notice.
//!
//! ## Layout
//! - `bindings`: the one `bindgen!` over `wit/`.
//! - `engine`: the engine, its epoch ticker, the compile cache (the crate's only `unsafe`).
//! - `load`: reading, compiling, the import check, `describe` and `init`.
//! - `instance`: stores, limits, the instance pool, trap classification, the breaker;
//!   `deadline`: a call's deadline, which host waits move on.
//! - `caps`: the host side of the capability interfaces; `ephemeral` is its shared map;
//!   `data`: the lifecycle of `kv` and `archive` records (declarations, owners, retention, GC);
//!   `blobs`: the `blobs` capability, with the same lifecycle and a size cap and quota.
//! - `wire`: stanzas across the boundary; `route`: stanzas plugins send.
//! - `dispatch`: the hook index and verdicts; the `service` hook; `scope`: which accounts a
//!   plugin's account hooks run for (its narrowing and marks).
//! - `iq`: owned IQ payloads (the `iq` hook) and the plugins' disco#info features and
//!   identities; `commands`: their XEP-0050 ad-hoc commands.
//! - `http`: the `http-routes` index, `on-http` calls, the `http-outbound` allow-list.
//! - `events`: server events (`on-event`) through bounded per-plugin queues; `timers`: the
//!   manifest timers.
//! - `inspect`: what `tessera plugin inspect` prints; `builtin`: the components in the binary.

mod bindings;
mod blobs;
pub mod builtin;
mod caps;
pub(crate) mod commands;
mod data;
mod deadline;
mod dispatch;
mod engine;
mod ephemeral;
mod events;
mod http;
mod inspect;
mod instance;
pub(crate) mod iq;
mod load;
pub(crate) mod request;
mod route;
mod scope;
mod timers;
// stream: `wire::parse` also reparses what a session left undelivered (`crate::im::undelivered`).
pub(crate) mod wire;

use std::path::PathBuf;

use jid::BareJid;
use std::sync::{Arc, RwLock, Weak};

pub(crate) use bindings::tessera::plugin::http_types::{
    Request as HttpRequest, Response as HttpResponse,
};
pub(crate) use bindings::tessera::plugin::manifest::Hook;
pub(crate) use data::{Category as DataCategory, owner_name, visibility_name};
pub(crate) use dispatch::{
    Flow, bench_record, enters, is_service, may_enter_presence, run_hook, service, subscribed,
    subscribed_to_presence,
};
pub(crate) use events::ServerEvent;
pub(crate) use http::{HttpFailure, call as call_http};
pub use inspect::{Inspection, inspect, inspect_builtin};

use crate::config::{Config, PluginConfig};
use crate::server::Shared;
use instance::{HostState, ServerLink};

/// How often the host applies plugin data retention. Retention is measured in hours and days, so
/// a minute's lag is immaterial; expired `kv` values already read as absent before they go.
pub const GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How old a blob file without a row must be before the GC deletes it. A `put` writes its file
/// before committing the row, so a younger file may be one whose row is on its way; an hour is
/// far longer than any write, and an orphan costs only disk until then.
pub const BLOB_ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A plugin's manifest, as the WIT defines it.
pub(crate) type Manifest = bindings::tessera::plugin::manifest::Manifest;

/// Why a plugin could not be loaded or reloaded. Every variant names the plugin (by its config
/// name) so the operator knows which table to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The component file cannot be read.
    #[error("plugin {plugin}: cannot read {}: {source}", path.display())]
    Read {
        /// The plugin.
        plugin: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a valid component, or not one of this API version.
    #[error("plugin {plugin}: not a loadable component: {message}")]
    Compile {
        /// The plugin.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// It imports a capability the operator did not grant.
    #[error(
        "plugin {plugin} imports the `{interface}` capability, which is not granted \
         (add \"{interface}\" to plugins.{plugin}.grants to allow it)"
    )]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// The WIT interface, e.g. `accounts`.
        interface: String,
    },
    /// It imports something this host does not provide (another API version, sockets…).
    #[error("plugin {plugin} imports `{import}`, which this server does not provide")]
    UnknownImport {
        /// The plugin.
        plugin: String,
        /// The import's full name.
        import: String,
    },
    /// `describe` or `init` trapped (or timed out).
    #[error("plugin {plugin}: {what} trapped: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// Which call.
        what: &'static str,
        /// The trap.
        message: String,
    },
    /// `init` refused the operator's config.
    #[error("plugin {plugin} refused its configuration (plugins.{plugin}.config): {message}")]
    Init {
        /// The plugin.
        plugin: String,
        /// The plugin's explanation.
        message: String,
    },
    /// The manifest is unusable on its own.
    #[error("plugin {plugin}: invalid manifest: {problem}")]
    Manifest {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        problem: String,
    },
    /// Two plugins claim the same service or IQ payload.
    #[error("plugins {first} and {second} both claim {what}")]
    Clash {
        /// What both claim.
        what: String,
        /// The plugin loaded first.
        first: String,
        /// The other one.
        second: String,
    },
    /// No plugin of that name is configured.
    #[error("no plugin named {0} is configured")]
    NotConfigured(String),
    /// The runtime itself could not start.
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

/// What every plugin shares: the engine, the linker, where compiled code is cached.
pub(crate) struct Runtime {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: wasmtime::component::Linker<HostState>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) server: ServerLink,
    pub(crate) domain: String,
    /// Every plugin's `scope` marks, by config name (kept over reloads).
    pub(crate) marks: scope::MarkBook,
}

impl Runtime {
    fn new(cache_dir: Option<PathBuf>, domain: String) -> Result<Self, PluginError> {
        let rt = |e: wasmtime::Error| PluginError::Runtime(instance::chain(&e));
        let engine = engine::engine().map_err(rt)?;
        let linker = load::linker(&engine).map_err(rt)?;
        Ok(Self {
            engine,
            linker,
            cache_dir,
            server: ServerLink::default(),
            domain,
            marks: scope::MarkBook::default(),
        })
    }
}

struct Inner {
    runtime: Runtime,
    configs: Vec<PluginConfig>,
    registry: RwLock<Arc<dispatch::Registry>>,
    /// One reload at a time, so two reloads cannot both swap from the same old registry.
    reloading: tokio::sync::Mutex<()>,
    /// Event queues and the swap signal timers follow.
    events: events::Events,
    /// Something derived from the plugin set (the server's XEP-0115 caps), with the registry it
    /// was derived from: held, so a new registry can never reuse its address.
    derived: std::sync::Mutex<Option<Derived>>,
}

/// A value derived from a plugin set, with that set.
type Derived = (Arc<dispatch::Registry>, Option<Arc<str>>);

/// The loaded plugins. Cheap to clone; every clone is the same set.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("loaded", &self.names())
            .finish()
    }
}

impl Plugins {
    /// Loads every plugin in `config.plugins`, in order. With none configured no engine is
    /// built and no thread started.
    ///
    /// # Errors
    /// The first plugin that cannot be loaded, or a clash between two of them.
    pub(crate) async fn load(config: &Config) -> Result<Self, PluginError> {
        let runtime = Runtime::new(
            Some(config.data_dir.join("plugin-cache")),
            config.domain.clone(),
        )?;
        if !config.plugins.is_empty() {
            engine::start_ticker(&runtime.engine)
                .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
        }
        let mut loaded = Vec::with_capacity(config.plugins.len());
        for pc in &config.plugins {
            let p = load::load(&runtime, pc.clone(), None).await?;
            tracing::info!(
                plugin = p.name(),
                version = %p.manifest.version,
                imports = ?p.imports,
                "plugin loaded"
            );
            loaded.push(Arc::new(p));
        }
        let registry = dispatch::Registry::build(loaded)?;
        Ok(Self {
            inner: Arc::new(Inner {
                runtime,
                configs: config.plugins.clone(),
                registry: RwLock::new(Arc::new(registry)),
                reloading: tokio::sync::Mutex::new(()),
                events: events::Events::new(&config.plugins),
                derived: std::sync::Mutex::new(None),
            }),
        })
    }

    /// Connects host functions to the running server (they answer `unavailable` before).
    pub(crate) fn attach(&self, shared: Weak<Shared>) {
        let _ = self.inner.runtime.server.set(shared);
    }

    pub(crate) fn registry(&self) -> Arc<dispatch::Registry> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A value computed from the current plugin set by `compute`, cached until the set changes
    /// (a reload): the server's XEP-0115 caps feature, which every login sends and which hashes
    /// the whole disco#info.
    pub(crate) fn derived(&self, compute: impl FnOnce() -> Option<String>) -> Option<Arc<str>> {
        let registry = self.registry();
        let mut slot = self
            .inner
            .derived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((r, value)) = slot.as_ref()
            && Arc::ptr_eq(r, &registry)
        {
            return value.clone();
        }
        let value = compute().map(Arc::from);
        *slot = Some((registry, value.clone()));
        value
    }

    /// The loaded plugins' config names, in load order.
    pub fn names(&self) -> Vec<String> {
        self.registry()
            .plugins
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    }

    /// Reads the `durable` `scope` marks stored by earlier runs (at start-up, before any
    /// stanza is routed).
    ///
    /// # Errors
    /// A database failure.
    pub(crate) async fn restore_marks(
        &self,
        storage: &crate::storage::Storage,
    ) -> Result<(), crate::storage::StorageError> {
        self.inner.runtime.marks.restore(storage.marks().await?);
        Ok(())
    }

    /// An account was removed: every plugin's mark of it goes (the stored ones went with it).
    pub(crate) fn account_removed(&self, account: &BareJid) {
        self.inner.runtime.marks.forget(account);
    }

    /// The account's last session ended: its `online` marks go, unless `online()` (asked under
    /// the marks' lock) says a session is back.
    pub(crate) fn account_offline(&self, account: &BareJid, online: impl Fn() -> bool) {
        self.inner.runtime.marks.end_online(account, online);
    }

    /// How many accounts the named plugin has marked (`scope`).
    pub fn marked(&self, name: &str) -> usize {
        self.inner.runtime.marks.of(name).len()
    }

    /// Whether the named plugin was disabled by its circuit breaker (`None`: not loaded).
    pub fn is_disabled(&self, name: &str) -> Option<bool> {
        self.registry()
            .plugins
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p.is_disabled())
    }

    /// The domains plugins serve (`echo.localhost`), sorted.
    pub fn service_domains(&self) -> Vec<String> {
        self.registry().service_domains(&self.inner.runtime.domain)
    }

    /// Reloads one plugin from its file: compiles (or takes from the cache) the file as it is
    /// now, checks it and calls `describe` and `init`, then swaps it in. Calls in flight finish
    /// on the old instances; client sessions are untouched; the plugin's `ephemeral` state is
    /// kept; a disabled plugin is enabled again. On error the old plugin stays.
    ///
    /// # Errors
    /// As for loading, or [`PluginError::NotConfigured`].
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is swapped until the new plugin is fully loaded.
    pub async fn reload(&self, name: &str) -> Result<(), PluginError> {
        let config = self
            .inner
            .configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| PluginError::NotConfigured(name.to_owned()))?
            .clone();
        let _one_at_a_time = self.inner.reloading.lock().await;
        let old = self.registry();
        let position = old.plugins.iter().position(|p| p.name() == name);
        let ephemeral = position.map(|i| old.plugins[i].ctx.ephemeral.clone());
        let new = Arc::new(load::load(&self.inner.runtime, config, ephemeral).await?);
        let mut plugins = old.plugins.clone();
        match position {
            Some(i) => plugins[i] = new,
            None => plugins.push(new),
        }
        let registry = Arc::new(dispatch::Registry::build(plugins)?);
        *self
            .inner
            .registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = registry;
        self.inner.events.registry_swapped();
        tracing::info!(plugin = name, "plugin reloaded");
        Ok(())
    }

    /// One garbage-collection pass: applies each loaded plugin's retention to each of its
    /// declared categories, then deletes every expired `kv` value and blob, then blob files
    /// with no row older than [`BLOB_ORPHAN_GRACE`]. Returns how many records and files went.
    /// A storage failure is logged and the pass goes on with the next category. Without a
    /// running server (before `attach`, or after it is gone) it does nothing.
    ///
    /// # Cancel safety
    /// Cancel safe: each step is one transaction, and a later pass does what a cancelled one left.
    pub async fn run_gc_once(&self) -> u64 {
        let Some(shared) = self.inner.runtime.server.get().and_then(Weak::upgrade) else {
            return 0;
        };
        let now = data::now_ms();
        let mut deleted = 0;
        for p in &self.registry().plugins {
            for c in p.ctx.data.get().map_or(&[][..], Vec::as_slice) {
                if c.max_age.is_none() && c.max_items.is_none() {
                    continue;
                }
                match shared
                    .storage
                    .enforce_retention(p.name(), &c.name, c.max_age, c.max_items, now)
                    .await
                {
                    Ok(n) => deleted += n,
                    Err(error) => tracing::error!(
                        plugin = p.name(),
                        category = %c.name,
                        %error,
                        "plugin data retention failed"
                    ),
                }
            }
        }
        match shared.storage.purge_expired(now).await {
            Ok(n) => deleted += n,
            Err(error) => tracing::error!(%error, "purging expired plugin data failed"),
        }
        match shared.storage.sweep_orphan_blobs(BLOB_ORPHAN_GRACE).await {
            Ok(n) => deleted += n,
            Err(error) => tracing::error!(%error, "sweeping orphan blob files failed"),
        }
        if deleted > 0 {
            tracing::debug!(deleted, "plugin data garbage collected");
        }
        deleted
    }

    /// Runs [`run_gc_once`](Self::run_gc_once) every [`GC_INTERVAL`] until `shutdown`. With no
    /// plugin declaring data it still purges expired values, which is one cheap statement.
    ///
    /// # Cancel safety
    /// Cancel safe, as `run_gc_once`.
    pub(crate) async fn run_gc(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(GC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.run_gc_once().await;
                }
            }
        }
    }

    /// Reloads every configured plugin (SIGHUP); a failure is logged and keeps the old one.
    pub async fn reload_all(&self) {
        for config in &self.inner.configs {
            if let Err(error) = self.reload(&config.name).await {
                tracing::error!(plugin = %config.name, %error, "plugin reload failed; keeping the old one");
            }
        }
    }
}
