//! The deadline of one guest call, which measures the guest's own work.
//!
//! Time spent inside capability calls (a database round trip, an fsync, SCRAM key derivation in
//! `accounts.create`, an outbound fetch under its own timeout) is the host's: each such host
//! function holds a [`HostWait`] while it works, which on drop moves the deadline on by the time
//! it took, up to [`MAX_HOST_WAIT`] per guest call so an instance is never held indefinitely.
//! The guard drops when the host function returns, before wasmtime lowers its results (which
//! runs guest code, `cabi_realloc`, where the epoch check could otherwise fire at once).
//!
//! Only the host functions that may wait take a guard; a stanza call that makes no host call
//! pays nothing. (wasmtime's store call hook would catch every host call generically, but it
//! runs on every host↔guest transition, including the dozen `cabi_realloc` calls that lower one
//! stanza: about 0.2 µs per plugin call, measured, for nothing in the common case.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most host time one guest call may have taken off its deadline.
pub(crate) const MAX_HOST_WAIT: Duration = Duration::from_secs(60);

/// One instance's call deadline, shared by its store (the epoch callback reads it) and the
/// [`HostWait`] guards of its host calls. Times are nanoseconds since `base`.
#[derive(Debug)]
pub(crate) struct CallDeadline {
    base: Instant,
    deadline: AtomicU64,
    waited: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl CallDeadline {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            deadline: AtomicU64::new(0),
            waited: AtomicU64::new(0),
        })
    }

    /// Starts a call that may run `timeout` of guest work.
    pub(crate) fn arm(&self, timeout: Duration) {
        let now = nanos(self.base.elapsed());
        self.deadline
            .store(now.saturating_add(nanos(timeout)), Ordering::Relaxed);
        self.waited.store(0, Ordering::Relaxed);
    }

    /// Whether the call has used up its time.
    pub(crate) fn expired(&self) -> bool {
        nanos(self.base.elapsed()) >= self.deadline.load(Ordering::Relaxed)
    }

    /// Moves the deadline on by `waited`, within what is left of [`MAX_HOST_WAIT`]. One
    /// instance runs one call at a time, so plain loads and stores suffice.
    fn credit(&self, waited: Duration) {
        let done = self.waited.load(Ordering::Relaxed);
        let add = nanos(waited).min(nanos(MAX_HOST_WAIT).saturating_sub(done));
        self.waited.store(done + add, Ordering::Relaxed);
        self.deadline.fetch_add(add, Ordering::Relaxed);
    }

    /// A guard for a host function that may wait: its lifetime is off the guest's clock.
    pub(crate) fn host_wait(self: &Arc<Self>) -> HostWait {
        HostWait {
            deadline: self.clone(),
            started: Instant::now(),
        }
    }
}

/// Held by a host function while it works for the guest; see the module docs.
#[derive(Debug)]
#[must_use = "the wait is measured until the guard drops"]
pub(crate) struct HostWait {
    deadline: Arc<CallDeadline>,
    started: Instant,
}

impl Drop for HostWait {
    fn drop(&mut self) {
        self.deadline.credit(self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_moves_the_deadline_within_the_cap() {
        let d = CallDeadline::new();
        d.arm(Duration::from_millis(20));
        {
            let _wait = d.host_wait();
            std::thread::sleep(Duration::from_millis(40));
        }
        // 40 ms in the host, 20 ms of guest time left: not expired.
        assert!(!d.expired());
        std::thread::sleep(Duration::from_millis(30));
        assert!(d.expired());
        // The cap: credit beyond MAX_HOST_WAIT is not given.
        d.arm(Duration::ZERO);
        d.credit(MAX_HOST_WAIT * 2);
        assert_eq!(d.waited.load(Ordering::Relaxed), nanos(MAX_HOST_WAIT));
        d.arm(Duration::from_secs(1));
        assert_eq!(d.waited.load(Ordering::Relaxed), 0);
    }
}
