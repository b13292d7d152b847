//! Plugin timers: each manifest timer calls `on-event(timer(name))` every `interval-seconds`,
//! first one interval after it starts (DESIGN.md "Plugin model"; issue 3).
//!
//! One task per timer awaits its own call before waiting for the next tick, so a timer never has
//! two calls running, and ticks missed meanwhile are skipped (`MissedTickBehavior::Skip`): a slow
//! or stalled plugin gets the next regular tick, never a burst. Timers call the plugin directly
//! instead of going through the event queue, so a flood of session events cannot starve them.
//!
//! A supervisor per plugin (config name) follows registry swaps: after a reload it stops the
//! timers the new manifest dropped or re-timed, starts the new ones, and leaves unchanged ones
//! running on their old phase.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Plugins;
use super::bindings::exports::tessera::plugin::handler::Event as WitEvent;
use super::events::{call, find, not_delivered};
use super::instance::LoadedPlugin;

/// A timer's name and period in seconds.
type Spec = (String, u32);

/// The timers of the plugin registered under `name` now.
fn wanted(plugins: &Plugins, name: &str) -> Vec<Spec> {
    find(&plugins.registry(), name).map_or_else(Vec::new, |p| specs(p))
}

fn specs(plugin: &LoadedPlugin) -> Vec<Spec> {
    plugin
        .manifest
        .timers
        .iter()
        .map(|t| (t.name.clone(), t.interval_seconds))
        .collect()
}

/// Checks a manifest's timers: a period of at least one second, and unique names (the name is
/// all the plugin gets back).
pub(crate) fn check(
    timers: &[super::bindings::tessera::plugin::manifest::Timer],
) -> Result<(), String> {
    for (i, t) in timers.iter().enumerate() {
        if t.interval_seconds == 0 {
            return Err(format!(
                "timer \"{}\" has an interval of 0 seconds (at least 1)",
                t.name
            ));
        }
        if timers[..i].iter().any(|u| u.name == t.name) {
            return Err(format!("timer \"{}\" is declared twice", t.name));
        }
    }
    Ok(())
}

/// Keeps the timers of the plugin registered under `name` running until `shutdown`.
///
/// # Cancel safety
/// Cancel safe: dropping it aborts the timer tasks (a call in flight loses its instance).
pub(crate) async fn supervise(plugins: Plugins, name: String, shutdown: CancellationToken) {
    let mut swaps = plugins.inner.events.watch_swaps();
    let mut running: HashMap<String, (u32, CancellationToken)> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        let wanted = wanted(&plugins, &name);
        running.retain(|timer, (secs, stop)| {
            let keep = wanted.iter().any(|(n, s)| n == timer && s == secs);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for (timer, secs) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(timer) {
                let stop = shutdown.child_token();
                tasks.spawn(run(
                    plugins.clone(),
                    name.clone(),
                    slot.key().clone(),
                    secs,
                    stop.clone(),
                ));
                slot.insert((secs, stop));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = swaps.changed() => if changed.is_err() { break },
            // Reap timers that were stopped.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Every timer's token is a child of `shutdown`: they are all stopping.
    while tasks.join_next().await.is_some() {}
}

/// One timer: a call per tick, never two at once, missed ticks skipped.
async fn run(plugins: Plugins, name: String, timer: String, secs: u32, stop: CancellationToken) {
    let period = Duration::from_secs(u64::from(secs.max(1)));
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let event = WitEvent::Timer(timer);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let fire = async {
            let reg = plugins.registry();
            if let Some(plugin) = find(&reg, &name)
                && let Err(failure) = call(plugin, &event).await
            {
                not_delivered(&name, "timer", failure);
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = fire => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bindings::tessera::plugin::manifest::Timer;
    use super::*;

    fn t(name: &str, interval_seconds: u32) -> Timer {
        Timer {
            name: name.to_owned(),
            interval_seconds,
        }
    }

    #[test]
    fn timers_need_a_period_and_unique_names() {
        assert!(check(&[t("gc", 60), t("ping", 1)]).is_ok());
        assert!(check(&[t("gc", 0)]).expect_err("zero").contains("\"gc\""));
        assert!(
            check(&[t("gc", 1), t("gc", 2)])
                .expect_err("twice")
                .contains("twice")
        );
    }
}
