//! Instances: one `Store` per instance with a memory cap and an epoch deadline, a small pool of
//! long-lived instances per plugin, trap classification and the circuit breaker.
//!
//! A call leases an instance ([`LoadedPlugin::acquire`]), calls one export, and hands the result
//! to [`LoadedPlugin::finish`]. A trapped instance is never reused: it is dropped, and the next
//! lease instantiates a fresh one from the `InstancePre` (a few µs). The same happens when a
//! lease is dropped mid-call (the caller was cancelled): the instance is lost, the permit comes
//! back, the pool refills itself. So a dead instance never serves again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};
use wasmtime::component::ResourceTable;
use wasmtime::{
    Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::deadline::{CallDeadline, HostWait};

use super::bindings::{Plugin, PluginPre};
use super::ephemeral::Ephemeral;
use crate::config::{Capability, PluginConfig};
use crate::server::Shared;

/// Most resource handles one instance may hold (STYLE.md §25). Our WIT has no resources yet;
/// this bounds what WASI's streams could allocate.
const MAX_HANDLES: usize = 256;

/// The server, reachable from host functions once it is built (plugins load before `Shared`
/// exists, because `Shared` owns them).
pub(crate) type ServerLink = Arc<OnceLock<Weak<Shared>>>;

/// What every instance of one plugin shares: its identity, grants and host-side state.
#[derive(Debug)]
pub(crate) struct PluginCtx {
    /// The config's name, for logs.
    pub(crate) name: String,
    pub(crate) grants: Vec<Capability>,
    /// The `router.impersonate` grant: `router.send` may speak for local accounts.
    pub(crate) impersonate: bool,
    /// The domains the plugin serves (`echo.localhost`), set once its manifest is read.
    pub(crate) service_domains: OnceLock<Vec<String>>,
    /// Its declared data categories with their retention, set once its manifest is read.
    pub(crate) data: OnceLock<Vec<super::data::Category>>,
    pub(crate) ephemeral: Arc<Ephemeral>,
    /// `blob_max` and `blob_quota` from its config.
    pub(crate) blob_limits: super::blobs::BlobLimits,
    pub(crate) server: ServerLink,
    /// The server's domain.
    pub(crate) domain: String,
    /// Which accounts its account hooks run for (`scope`, WIT 0.1.1).
    pub(crate) scope: super::scope::Scope,
}

impl PluginCtx {
    pub(crate) fn granted(&self, cap: Capability) -> bool {
        self.grants.contains(&cap)
    }

    /// The running server, if it is up (not during `describe`/`init` at start-up, nor `inspect`).
    pub(crate) fn server(&self) -> Option<Arc<Shared>> {
        self.server.get().and_then(Weak::upgrade)
    }
}

/// `StoreLimits` that remembers it refused something, so a trap can be classified as memory.
struct Limiter {
    inner: StoreLimits,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.inner.memory_growing(current, desired, maximum);
        self.hit |= !matches!(r, Ok(true));
        r
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.inner.table_growing(current, desired, maximum);
        self.hit |= !matches!(r, Ok(true));
        r
    }
}

/// The data of one instance's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    /// The plugin this instance belongs to.
    pub(crate) plugin: Arc<PluginCtx>,
    /// The current call's deadline; checked at every epoch tick, moved on by host waits.
    deadline: Arc<CallDeadline>,
    /// The archive mark after the current call's last `archive.append` (`None`: it made none),
    /// so that a stanza the plugin takes over waits for its writes (`dispatch::run_hook`).
    pub(crate) appended: Option<u64>,
}

impl HostState {
    fn new(plugin: Arc<PluginCtx>, memory: usize) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        Self {
            // No preopens, env, args, sockets or inherited stdio: WASI imports link, and do
            // nothing a plugin could use to reach the host (DESIGN.md "Plugin model").
            wasi: WasiCtx::builder().build(),
            table,
            limiter: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(memory)
                    .instances(16)
                    .tables(64)
                    .memories(4)
                    .trap_on_grow_failure(true)
                    .build(),
                hit: false,
            },
            plugin,
            deadline: CallDeadline::new(),
            appended: None,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Why a call did not return normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It ran past its deadline.
    Timeout,
    /// It grew past its memory cap.
    Memory,
    /// Any other trap (a guest panic, an invalid host call).
    Crash,
    /// The circuit breaker disabled the plugin, or it has no instance left.
    Disabled,
    /// Every instance stayed busy for too long.
    Busy,
}

impl Failure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Memory => "memory",
            Self::Crash => "crash",
            Self::Disabled => "disabled",
            Self::Busy => "busy",
        }
    }

    /// A trap (counted by the breaker), as opposed to the plugin not being called at all.
    pub(crate) fn is_trap(self) -> bool {
        matches!(self, Self::Timeout | Self::Memory | Self::Crash)
    }
}

/// One live instance.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    pub(crate) bindings: Plugin,
}

/// An instance leased for one call. Boxed, here and in the pool, so that a lease moves a
/// pointer rather than the store handle and every export's index.
pub(crate) struct Lease<'a> {
    pub(crate) instance: Box<Instance>,
    _permit: SemaphorePermit<'a>,
}

/// A loaded plugin: its `InstancePre`, its pool, its breaker.
pub(crate) struct LoadedPlugin {
    pub(crate) config: PluginConfig,
    pub(crate) ctx: Arc<PluginCtx>,
    pub(crate) manifest: super::Manifest,
    /// The capability interfaces the component imports.
    pub(crate) imports: Vec<String>,
    engine: Engine,
    pre: PluginPre<HostState>,
    #[allow(
        clippy::vec_box,
        reason = "a lease takes the instance out and puts it back: boxed, that moves a pointer"
    )]
    idle: Mutex<Vec<Box<Instance>>>,
    permits: Semaphore,
    consecutive_traps: AtomicU32,
    disabled: AtomicBool,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.config.name)
            .field("disabled", &self.disabled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Held only for a push or a pop; a poisoned lock cannot leave the Vec inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh store for `ctx`, with the memory cap and the deadline callback installed.
pub(crate) fn new_store(engine: &Engine, ctx: Arc<PluginCtx>, memory: usize) -> Store<HostState> {
    let mut store = Store::new(engine, HostState::new(ctx, memory));
    store.limiter(|s| &mut s.limiter);
    // At every tick: past the deadline, trap; otherwise yield to the executor (so a busy guest
    // holds a worker for one tick at most) and check again at the next tick.
    store.epoch_deadline_callback(|ctx| {
        Ok(if ctx.data().deadline.expired() {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    store
}

impl HostState {
    /// Held by a host function that may wait (storage, key derivation, a fetch): the time
    /// until it drops does not count against the guest's deadline (`super::deadline`).
    pub(crate) fn host_wait(&self) -> HostWait {
        self.deadline.host_wait()
    }
}

/// Arms the deadline of the next call.
pub(crate) fn arm(store: &mut Store<HostState>, timeout: Duration) {
    store.data().deadline.arm(timeout);
    store.data_mut().limiter.hit = false;
    store.data_mut().appended = None;
    store.set_epoch_deadline(1);
}

/// What a trap was.
pub(crate) fn classify(store: &Store<HostState>, error: &wasmtime::Error) -> Failure {
    if store.data().limiter.hit {
        Failure::Memory
    } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        Failure::Timeout
    } else {
        Failure::Crash
    }
}

/// An error chain on one line (wasmtime's error has no `std::error::Error` impl to source).
pub(crate) fn chain(error: &wasmtime::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

impl LoadedPlugin {
    pub(crate) fn new(
        config: PluginConfig,
        ctx: Arc<PluginCtx>,
        manifest: super::Manifest,
        imports: Vec<String>,
        engine: Engine,
        pre: PluginPre<HostState>,
        first: Instance,
    ) -> Self {
        let instances = config.instances;
        Self {
            permits: Semaphore::new(instances),
            idle: Mutex::new(vec![Box::new(first)]),
            consecutive_traps: AtomicU32::new(0),
            disabled: AtomicBool::new(false),
            config,
            ctx,
            manifest,
            imports,
            engine,
            pre,
        }
    }

    /// The config's name.
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether the circuit breaker has disabled it.
    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// How long a call may wait for a free instance before it counts as `Busy`: long enough for
    /// every instance to run one call to its deadline and then some.
    fn queue_wait(&self) -> Duration {
        (self.config.timeout * 4).max(Duration::from_millis(500))
    }

    /// Leases an instance (instantiating one if the pool is short) with its deadline armed.
    ///
    /// # Cancel safety
    /// Cancel safe: a cancelled wait takes nothing; a cancelled instantiation only wastes it.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_>, Failure> {
        if self.is_disabled() {
            return Err(Failure::Disabled);
        }
        // A free instance is the common case: take it without setting up the timeout, which
        // costs a clock read and a timer entry on every call (docs/benchmarks.md).
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(Failure::Disabled),
            Err(TryAcquireError::NoPermits) => {
                tokio::time::timeout(self.queue_wait(), self.permits.acquire())
                    .await
                    .map_err(|_| Failure::Busy)?
                    .map_err(|_| Failure::Disabled)?
            }
        };
        let pooled = lock(&self.idle).pop();
        let mut instance = match pooled {
            Some(i) => i,
            // Boxed: instantiation's state machine is large and rare (a trapped or cancelled
            // instance being replaced); inline, it would grow every hook's future, which is
            // moved on every call.
            None => Box::pin(self.instantiate())
                .await
                .map(Box::new)
                .map_err(|error| {
                    tracing::error!(plugin = self.name(), error = %chain(&error), "cannot instantiate plugin");
                    Failure::Disabled
                })?,
        };
        arm(&mut instance.store, self.config.timeout);
        Ok(Lease {
            instance,
            _permit: permit,
        })
    }

    /// A fresh instance from the `InstancePre`, given the operator's config like the first one
    /// (a plugin keeps its parsed config in its instance: without `init`, a replacement would
    /// run on the plugin's defaults).
    pub(crate) async fn instantiate(&self) -> wasmtime::Result<Instance> {
        let mut store = new_store(&self.engine, self.ctx.clone(), self.config.memory);
        arm(&mut store, self.config.timeout);
        let bindings = self.pre.instantiate_async(&mut store).await?;
        // The deadline start-up gets (`load`): a first call faults in pages.
        arm(&mut store, self.config.timeout.max(Duration::from_secs(1)));
        bindings
            .tessera_plugin_handler()
            .call_init(&mut store, &self.config.config)
            .await?
            .map_err(|message| {
                wasmtime::Error::msg(format!("init refused its config: {message}"))
            })?;
        Ok(Instance { store, bindings })
    }

    /// Ends a call: returns the instance to the pool, or on a trap discards it, classifies the
    /// trap and counts it towards the breaker.
    pub(crate) fn finish<R>(
        &self,
        lease: Lease<'_>,
        call: &'static str,
        result: wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        let Lease { instance, _permit } = lease;
        match result {
            Ok(value) => {
                // Read first: a store on every call would keep the cache line bouncing
                // between the workers calling this plugin, for a value that is almost always 0.
                if self.consecutive_traps.load(Ordering::Relaxed) != 0 {
                    self.consecutive_traps.store(0, Ordering::Release);
                }
                lock(&self.idle).push(instance);
                Ok(value)
            }
            Err(error) => {
                let failure = classify(&instance.store, &error);
                drop(instance);
                let traps = self.consecutive_traps.fetch_add(1, Ordering::AcqRel) + 1;
                tracing::warn!(
                    plugin = self.name(),
                    call,
                    kind = failure.as_str(),
                    traps,
                    error = %chain(&error),
                    "plugin trapped; instance discarded"
                );
                if traps >= self.config.max_traps && !self.disabled.swap(true, Ordering::AcqRel) {
                    tracing::error!(
                        plugin = self.name(),
                        traps,
                        "plugin disabled after consecutive traps; reload it to re-enable"
                    );
                }
                Err(failure)
            }
        }
    }
}
