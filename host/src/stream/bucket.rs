//! A token bucket: `per_second` tokens a second up to `burst`, one taken per event. Shared by the
//! per-IP connect rate (`ip_limit`) and the per-session stanza rate (`session`).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    refreshed: Instant,
    per_second: f64,
    burst: f64,
}

impl Bucket {
    /// A full bucket.
    // Precision is irrelevant for counts this size.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn new(per_second: usize, burst: usize, now: Instant) -> Self {
        Self {
            tokens: burst as f64,
            refreshed: now,
            per_second: per_second as f64,
            burst: burst as f64,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refreshed = now;
    }

    /// `None` if a token may be taken now, else how long until one may.
    pub(crate) fn empty_for(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        (self.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
    }

    /// Takes a token (after [`empty_for`](Self::empty_for) said one is there).
    pub(crate) fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let available = self.empty_for(now).is_none();
        if available {
            self.take();
        }
        available
    }

    /// Whether the bucket has refilled completely by `now` (forgetting it would change nothing).
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens + elapsed * self.per_second >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 3, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        let wait = b.empty_for(t0).expect("empty");
        assert!(wait <= Duration::from_millis(100));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.is_full(t0 + Duration::from_millis(100)));
        assert!(b.is_full(t0 + Duration::from_secs(1)));
    }
}
