//! Failed-login throttling per client IP and per account.
//!
//! After `max` failures within `window`, further attempts from that IP (or on that account) are
//! answered with `temporary-auth-failure` (RFC 6120 §6.5.13) without checking the credentials, so a
//! password cannot be guessed faster than the operator allows. Success on an account clears its
//! count; IP counts only age out. Both tables are bounded: when full, expired entries are purged,
//! and if none are expired new keys are not tracked (failing open beats unbounded memory).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_TRACKED: usize = 100_000;

struct Window<K> {
    entries: HashMap<K, (u32, Instant)>,
}

impl<K: Hash + Eq> Window<K> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    fn count(&self, key: &K, window: Duration, now: Instant) -> u32 {
        match self.entries.get(key) {
            Some(&(n, start)) if now.duration_since(start) < window => n,
            _ => 0,
        }
    }

    fn fail(&mut self, key: K, window: Duration, now: Instant) {
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(&key) {
            self.entries
                .retain(|_, &mut (_, start)| now.duration_since(start) < window);
            if self.entries.len() >= MAX_TRACKED {
                return;
            }
        }
        let e = self.entries.entry(key).or_insert((0, now));
        if now.duration_since(e.1) >= window {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
    }
}

/// Failure counters shared by every connection.
pub(crate) struct AuthThrottle {
    by_ip: Mutex<Window<IpAddr>>,
    by_account: Mutex<Window<String>>,
    max_ip: u32,
    max_account: u32,
    window: Duration,
}

impl std::fmt::Debug for AuthThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthThrottle").finish_non_exhaustive()
    }
}

// The mutexes guard plain maps for a few instructions and are never held across an await.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuthThrottle {
    pub(crate) fn new(max_ip: u32, max_account: u32, window: Duration) -> Self {
        Self {
            by_ip: Mutex::new(Window::new()),
            by_account: Mutex::new(Window::new()),
            max_ip,
            max_account,
            window,
        }
    }

    /// Whether this IP is over its failure budget.
    pub(crate) fn ip_blocked(&self, ip: IpAddr) -> bool {
        lock(&self.by_ip).count(&ip, self.window, Instant::now()) >= self.max_ip
    }

    /// Whether this account is over its failure budget.
    pub(crate) fn account_blocked(&self, account: &str) -> bool {
        lock(&self.by_account).count(&account.to_owned(), self.window, Instant::now())
            >= self.max_account
    }

    /// Counts a failed attempt.
    pub(crate) fn failure(&self, ip: IpAddr, account: Option<&str>) {
        let now = Instant::now();
        lock(&self.by_ip).fail(ip, self.window, now);
        if let Some(a) = account {
            lock(&self.by_account).fail(a.to_owned(), self.window, now);
        }
    }

    /// A successful login clears the account's count.
    pub(crate) fn success(&self, account: &str) {
        lock(&self.by_account).entries.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_budget_and_success_clears_account() {
        let t = AuthThrottle::new(3, 2, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(!t.ip_blocked(ip));
        t.failure(ip, Some("alice"));
        t.failure(ip, Some("alice"));
        assert!(t.account_blocked("alice"));
        assert!(!t.ip_blocked(ip));
        t.success("alice");
        assert!(!t.account_blocked("alice"));
        t.failure(ip, None);
        assert!(t.ip_blocked(ip), "IP counts survive an account's success");
    }

    #[test]
    fn window_expiry_resets() {
        let t = AuthThrottle::new(1, 1, Duration::from_millis(0));
        let ip: IpAddr = "::1".parse().expect("ip");
        t.failure(ip, Some("bob"));
        assert!(!t.ip_blocked(ip), "a zero window never blocks");
        assert!(!t.account_blocked("bob"));
    }
}
