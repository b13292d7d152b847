//! Server events for plugins (`on-event`): accounts created and removed, sessions available and
//! unavailable (DESIGN.md "Plugin model"; issue 3).
//!
//! A plugin lists the kinds it wants in its manifest (`events`), and the registry indexes them
//! ([`index`]), so a login costs nothing for plugins that do not care. Emitting never waits: the
//! event goes into each subscriber's bounded queue with `try_send`; a full queue drops it with a
//! rate-limited warning naming the plugin and the kind (never a JID). One task per plugin drains
//! its queue in order, calling `on-event` on a pooled instance; a trap counts towards the
//! breaker as for stanzas, and with no stanza to answer the fail mode does not apply.
//!
//! Queues belong to a plugin's *config name*, which is fixed for the server's life, not to a
//! loaded plugin: a reload swaps what the drain calls into without losing what is queued (events
//! queued before the reload reach the new code; a kind the new manifest no longer lists is
//! skipped). Shutdown stops the drains; what is still queued then is dropped.
//!
//! Timers live in [`super::timers`]; they call the plugin directly and never queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jid::{BareJid, FullJid};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Plugins;
use super::bindings::exports::tessera::plugin::handler::Event as WitEvent;
use super::bindings::tessera::plugin::manifest::EventKind;
use super::dispatch::Registry;
use super::instance::{Failure, LoadedPlugin};
use crate::config::PluginConfig;

/// At most one "queue full" warning per plugin in this long; the warning says how many went.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Something that happened on the server, before it is addressed to plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerEvent {
    /// An account was created by the running server.
    UserCreated(BareJid),
    /// An account was removed by the running server.
    UserRemoved(BareJid),
    /// A session sent initial available presence (RFC 6121 §4.2).
    SessionAvailable(FullJid),
    /// An available session went unavailable or away (RFC 6121 §4.5).
    SessionUnavailable(FullJid),
}

impl ServerEvent {
    pub(crate) fn kind(&self) -> EventKind {
        match self {
            Self::UserCreated(_) => EventKind::UserCreated,
            Self::UserRemoved(_) => EventKind::UserRemoved,
            Self::SessionAvailable(_) => EventKind::SessionAvailable,
            Self::SessionUnavailable(_) => EventKind::SessionUnavailable,
        }
    }

    fn to_wit(&self) -> WitEvent {
        match self {
            Self::UserCreated(j) => WitEvent::UserCreated(j.to_string()),
            Self::UserRemoved(j) => WitEvent::UserRemoved(j.to_string()),
            Self::SessionAvailable(j) => WitEvent::SessionAvailable(j.to_string()),
            Self::SessionUnavailable(j) => WitEvent::SessionUnavailable(j.to_string()),
        }
    }
}

/// How many event kinds there are (the index's width).
const KINDS: usize = 4;

fn kind_ix(k: EventKind) -> usize {
    match k {
        EventKind::UserCreated => 0,
        EventKind::UserRemoved => 1,
        EventKind::SessionAvailable => 2,
        EventKind::SessionUnavailable => 3,
    }
}

/// The WIT name of a kind, for logs.
pub(crate) fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::UserCreated => "user-created",
        EventKind::UserRemoved => "user-removed",
        EventKind::SessionAvailable => "session-available",
        EventKind::SessionUnavailable => "session-unavailable",
    }
}

/// Subscribers per event kind: indices into `Registry::plugins`, in load order.
pub(crate) type Index = [Vec<usize>; KINDS];

/// Builds the index from the manifests (a kind listed twice counts once).
pub(crate) fn index(plugins: &[Arc<LoadedPlugin>]) -> Index {
    let mut index = Index::default();
    for (i, p) in plugins.iter().enumerate() {
        for &kind in &p.manifest.events {
            let subs = &mut index[kind_ix(kind)];
            if !subs.contains(&i) {
                subs.push(i);
            }
        }
    }
    index
}

/// Whether the plugin's current manifest lists `kind`.
fn subscribes(plugin: &LoadedPlugin, kind: EventKind) -> bool {
    plugin.manifest.events.contains(&kind)
}

/// The loaded plugin with this config name, if any.
pub(crate) fn find<'a>(reg: &'a Registry, name: &str) -> Option<&'a Arc<LoadedPlugin>> {
    reg.plugins.iter().find(|p| p.name() == name)
}

/// One plugin's queue.
struct Queue {
    tx: mpsc::Sender<ServerEvent>,
    /// Dropped since the last warning.
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl Queue {
    /// Queues without waiting; a full queue drops the event (rate-limited warning).
    fn offer(&self, plugin: &str, event: ServerEvent) {
        let kind = event.kind();
        match self.tx.try_send(event) {
            Ok(()) => {}
            // The drain is gone: the server is shutting down.
            Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let mut last = self
                    .last_warning
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
                    *last = Some(now);
                    let dropped = self.dropped.swap(0, Ordering::Relaxed);
                    // No parent span: the emitting session's span would name its JID.
                    tracing::warn!(
                        parent: None,
                        plugin,
                        kind = kind_name(kind),
                        dropped,
                        "plugin event queue full; events dropped (raise plugins.{plugin}.event_queue \
                         or make on-event faster)"
                    );
                }
            }
        }
    }
}

/// The event queues of every configured plugin, the receivers until the server starts the
/// drains, and a signal bumped at every registry swap (the timers follow it).
pub(crate) struct Events {
    queues: HashMap<String, Queue>,
    receivers: Mutex<Vec<(String, mpsc::Receiver<ServerEvent>)>>,
    swapped: watch::Sender<u64>,
}

impl Events {
    pub(crate) fn new(configs: &[PluginConfig]) -> Self {
        let mut queues = HashMap::with_capacity(configs.len());
        let mut receivers = Vec::with_capacity(configs.len());
        for c in configs {
            let (tx, rx) = mpsc::channel(c.event_queue.max(1));
            queues.insert(
                c.name.clone(),
                Queue {
                    tx,
                    dropped: AtomicU64::new(0),
                    last_warning: Mutex::new(None),
                },
            );
            receivers.push((c.name.clone(), rx));
        }
        Self {
            queues,
            receivers: Mutex::new(receivers),
            swapped: watch::Sender::new(0),
        }
    }

    /// Called after every registry swap.
    pub(crate) fn registry_swapped(&self) {
        self.swapped.send_modify(|generation| *generation += 1);
    }

    /// A receiver of the swap signal.
    pub(crate) fn watch_swaps(&self) -> watch::Receiver<u64> {
        self.swapped.subscribe()
    }
}

/// Calls `on-event` on one instance of `plugin`.
///
/// # Cancel safety
/// Cancel safe in that nothing is left half done: a cancelled call discards its instance.
pub(crate) async fn call(plugin: &LoadedPlugin, event: &WitEvent) -> Result<(), Failure> {
    let mut lease = plugin.acquire().await?;
    let instance = &mut lease.instance;
    let result = instance
        .bindings
        .tessera_plugin_handler()
        .call_on_event(&mut instance.store, event)
        .await;
    plugin.finish(lease, "on-event", result)
}

/// Logs an event call that did not run (a trap was already logged by `finish`).
pub(crate) fn not_delivered(plugin: &str, what: &'static str, failure: Failure) {
    if !failure.is_trap() {
        tracing::debug!(
            plugin,
            what,
            failure = failure.as_str(),
            "plugin event not delivered"
        );
    }
}

impl Plugins {
    /// Hands `event` to every subscribed plugin's queue. Never waits.
    pub(crate) fn emit(&self, event: &ServerEvent) {
        let reg = self.registry();
        for &i in &reg.events[kind_ix(event.kind())] {
            let name = reg.plugins[i].name();
            if let Some(queue) = self.inner.events.queues.get(name) {
                queue.offer(name, event.clone());
            }
        }
    }

    /// Delivers events and runs timers until `shutdown`: one drain and one timer supervisor per
    /// configured plugin. Only the first call does anything (the receivers are taken).
    ///
    /// # Cancel safety
    /// Cancel safe: dropping it aborts the tasks; calls in flight lose their instance.
    pub(crate) async fn run_events(self, shutdown: CancellationToken) {
        let receivers = std::mem::take(
            &mut *self
                .inner
                .events
                .receivers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for (name, rx) in receivers {
            tasks.spawn(drain(self.clone(), name.clone(), rx, shutdown.clone()));
            tasks.spawn(super::timers::supervise(
                self.clone(),
                name,
                shutdown.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Drains one plugin's queue in order, one call at a time, until shutdown.
async fn drain(
    plugins: Plugins,
    name: String,
    mut rx: mpsc::Receiver<ServerEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = rx.recv() => match event {
                Some(e) => e,
                None => return,
            },
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = deliver(&plugins, &name, &event) => {}
        }
    }
}

/// Calls the plugin now registered under `name`, if it still subscribes to the event's kind.
async fn deliver(plugins: &Plugins, name: &str, event: &ServerEvent) {
    let reg = plugins.registry();
    let Some(plugin) = find(&reg, name) else {
        return;
    };
    if !subscribes(plugin, event.kind()) {
        return;
    }
    if let Err(failure) = call(plugin, &event.to_wit()).await {
        not_delivered(name, kind_name(event.kind()), failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_slots() {
        let kinds = [
            EventKind::UserCreated,
            EventKind::UserRemoved,
            EventKind::SessionAvailable,
            EventKind::SessionUnavailable,
        ];
        let mut slots: Vec<_> = kinds.iter().map(|&k| kind_ix(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), KINDS);
        assert!(slots.iter().all(|&s| s < KINDS));
    }

    #[test]
    fn events_carry_their_kind_and_jid() {
        let full = FullJid::new("alice@localhost/phone").expect("jid");
        let e = ServerEvent::SessionAvailable(full);
        assert_eq!(kind_name(e.kind()), "session-available");
        assert!(
            matches!(e.to_wit(), WitEvent::SessionAvailable(j) if j == "alice@localhost/phone")
        );
        let bare = BareJid::new("bob@localhost").expect("jid");
        let e = ServerEvent::UserRemoved(bare);
        assert!(matches!(e.to_wit(), WitEvent::UserRemoved(j) if j == "bob@localhost"));
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let q = Queue {
            tx,
            dropped: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        };
        let e = ServerEvent::UserCreated(BareJid::new("a@localhost").expect("jid"));
        q.offer("p", e.clone());
        q.offer("p", e.clone());
        q.offer("p", e.clone());
        // The first went in; the warning took the count of the first drop, the second is
        // counted for the next warning.
        assert_eq!(rx.try_recv().ok(), Some(e));
        assert!(rx.try_recv().is_err());
        assert_eq!(q.dropped.load(Ordering::Relaxed), 1);
        assert!(q.last_warning.lock().expect("lock").is_some());
    }
}
