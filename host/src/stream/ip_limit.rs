//! Per-IP connection limits, checked at accept before a connection costs anything (no TLS, no
//! parser): at most `connections_per_ip` at once, and new ones at `connect_rate_per_ip` per second
//! on average with bursts up to `connections_per_ip` (a token bucket). An IPv6 client is counted
//! by its /64, the block one subscriber gets: per-address limits would be no limit there.
//!
//! A refused connection is closed at once. The table is bounded: when it is full, entries with
//! no connection and a full bucket are purged, and if none are, new addresses are admitted
//! untracked (failing open beats unbounded memory; `limits.max_connections` still holds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::bucket::Bucket;
use crate::config::LimitsConfig;

/// Addresses tracked at once.
const MAX_TRACKED: usize = 100_000;

/// What the limits count by: an IPv4 address, or an IPv6 /64 (IPv4-mapped addresses as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpKey {
    V4([u8; 4]),
    V6Net(u64),
}

impl IpKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => Self::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Why a connection was refused (logged; the client just sees the connection close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `connections_per_ip` are open.
    TooMany,
    /// Connecting faster than `connect_rate_per_ip`.
    TooFast,
}

impl Refused {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TooMany => "too many connections from this address",
            Self::TooFast => "connecting too fast from this address",
        }
    }
}

struct Entry {
    active: usize,
    /// New connections (absent without a connect rate).
    bucket: Option<Bucket>,
}

/// The limits and their table; one per server.
pub(crate) struct IpLimits {
    max_active: Option<usize>,
    /// New connections per second, and the burst.
    rate: Option<(usize, usize)>,
    loopback_exempt: bool,
    table: Mutex<HashMap<IpKey, Entry>>,
}

impl std::fmt::Debug for IpLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLimits")
            .field("max_active", &self.max_active)
            .field("rate", &self.rate)
            .field("loopback_exempt", &self.loopback_exempt)
            .finish_non_exhaustive()
    }
}

/// A counted connection; dropping it gives its place back.
#[must_use = "the connection counts until this drops"]
pub(crate) struct IpSlot {
    limits: Arc<IpLimits>,
    key: IpKey,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some(e) = self.limits.table().get_mut(&self.key) {
            e.active = e.active.saturating_sub(1);
        }
    }
}

impl IpLimits {
    pub(crate) fn new(limits: &LimitsConfig) -> Self {
        let rate = limits
            .connect_rate_per_ip
            .map(|r| (r, limits.connections_per_ip.unwrap_or(r).max(1)));
        Self {
            max_active: limits.connections_per_ip,
            rate,
            loopback_exempt: limits.loopback_exempt,
            table: Mutex::default(),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<IpKey, Entry>> {
        // Counters only: a panic mid-update leaves them at worst off by one.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a connection from `ip` (`None`: not counted), or says why not.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Option<IpSlot>, Refused> {
        if (self.max_active.is_none() && self.rate.is_none())
            || (self.loopback_exempt && ip.is_loopback())
        {
            return Ok(None);
        }
        let key = IpKey::of(ip);
        let now = Instant::now();
        let mut table = self.table();
        if table.len() >= MAX_TRACKED && !table.contains_key(&key) {
            table.retain(|_, e| e.active > 0 || e.bucket.is_some_and(|b| !b.is_full(now)));
            if table.len() >= MAX_TRACKED {
                return Ok(None);
            }
        }
        let rate = self.rate;
        let entry = table.entry(key).or_insert_with(|| Entry {
            active: 0,
            bucket: rate.map(|(per_second, burst)| Bucket::new(per_second, burst, now)),
        });
        if self.max_active.is_some_and(|max| entry.active >= max) {
            return Err(Refused::TooMany);
        }
        if entry.bucket.as_mut().is_some_and(|b| !b.try_take(now)) {
            return Err(Refused::TooFast);
        }
        entry.active += 1;
        Ok(Some(IpSlot {
            limits: self.clone(),
            key,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn net64(ip: Ipv6Addr) -> u64 {
        (u128::from(ip) >> 64) as u64
    }

    fn limits(per_ip: usize, rate: usize) -> Arc<IpLimits> {
        Arc::new(IpLimits {
            max_active: (per_ip > 0).then_some(per_ip),
            rate: (rate > 0).then_some((rate, per_ip.max(1))),
            loopback_exempt: true,
            table: Mutex::default(),
        })
    }

    #[test]
    fn concurrent_connections_are_capped_per_address() {
        let l = limits(2, 0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = l.admit(a).unwrap();
        let _second = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refused::TooMany));
        assert!(
            l.admit(b).unwrap().is_some(),
            "another address is not affected"
        );
        drop(first);
        assert!(
            l.admit(a).unwrap().is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn the_connect_rate_allows_a_burst_then_refuses() {
        let l = limits(3, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            drop(l.admit(a).unwrap());
        }
        assert_eq!(l.admit(a).err(), Some(Refused::TooFast));
    }

    #[test]
    fn ipv6_counts_by_64_and_loopback_is_exempt() {
        let l = limits(1, 0);
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _held = l.admit(x).unwrap();
        assert_eq!(l.admit(y).err(), Some(Refused::TooMany), "same /64");
        assert!(l.admit(z).unwrap().is_some(), "another /64");
        assert_eq!(
            IpKey::of("::ffff:192.0.2.1".parse().unwrap()),
            IpKey::of("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            IpKey::of(x),
            IpKey::V6Net(net64("2001:db8:1:2::".parse().unwrap()))
        );
        for _ in 0..5 {
            assert!(l.admit("127.0.0.1".parse().unwrap()).unwrap().is_none());
            assert!(l.admit("::1".parse().unwrap()).unwrap().is_none());
        }
    }
}
