//! A read-through cache of small `kv` rows, so that a plugin reading the same value for every
//! stanza (MAM reads the user's archiving preferences twice per message) is served from memory
//! instead of a database round trip on the routing path.
//!
//! Written by hand rather than taken from a cache crate because its correctness rests on the
//! generation check below, which is entangled with how the storage methods write: a general
//! cache would still need it around every fill.
//!
//! ## What it holds
//! A cached row is the database row as it was read or written (the value and its expiry, or
//! "no row"), so a hit answers exactly as the `SELECT` would: the caller's clock is applied to
//! the expiry on every read. Only values of at most [`MAX_VALUE`] bytes are kept, within a budget
//! of [`BUDGET`] bytes; past it, arbitrary entries are evicted (random eviction: `HashMap`'s
//! iteration order under a random hasher), which needs no bookkeeping on the hit path.
//!
//! ## Staying true to the database
//! - Every write through [`Storage`](crate::storage::Storage) goes through a [`Change`]: the key
//!   (or the set of keys) is forgotten before the statement runs and forgotten again when the
//!   change ends, whether it completed, failed or was cancelled; on success the new row is
//!   cached. Each forgetting bumps its shard's *generation*.
//! - A miss takes a [`Ticket`] (the shard's generation) before it reads the database and caches
//!   what it read only if the generation has not moved: a read that raced a write never caches
//!   the value the write replaced.
//! - Rows the host deletes in bulk (account and owner deletion, retention) are forgotten by
//!   predicate; expired rows need nothing, as a hit checks the expiry.
//! - Another process writing the same database (the `tessera user remove` command while the
//!   server runs) is not seen until the entry's [`TTL`] runs out: entries are reread at least
//!   that often.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Millis, Owner};

/// Shards, each with its own lock and generation.
const SHARDS: usize = 16;
/// Largest value kept; larger ones are read from the database every time.
pub(in crate::storage) const MAX_VALUE: usize = 1024;
/// Memory the cache may hold (keys, values and a per-entry overhead), across all shards.
const BUDGET: usize = 8 << 20;
/// Bookkeeping counted per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 96;
/// How long an entry is trusted before it is reread (what bounds another process's staleness).
pub(in crate::storage) const TTL: Duration = Duration::from_secs(30);

/// A row as stored: its value and expiry (ms), or absent.
pub(in crate::storage) type Row = Option<(Vec<u8>, Option<Millis>)>;

/// The value a row reads as at `now_ms` (the `KV_GET` condition).
pub(in crate::storage) fn live(row: Row, now_ms: Millis) -> Option<Vec<u8>> {
    row.and_then(|(value, expires_at)| match expires_at {
        Some(at) if at <= now_ms => None,
        _ => Some(value),
    })
}

struct Slot {
    row: Row,
    loaded: Instant,
}

impl Slot {
    fn weight(key: &str, row: &Row) -> usize {
        key.len() + row.as_ref().map_or(0, |(v, _)| v.len()) + ENTRY_OVERHEAD
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Slot>,
    bytes: usize,
    generation: u64,
}

impl Shard {
    fn remove(&mut self, key: &str) {
        if let Some((k, slot)) = self.map.remove_entry(key) {
            self.bytes -= Slot::weight(&k, &slot.row);
        }
    }

    fn insert(&mut self, key: String, row: Row, budget: usize) {
        self.remove(&key);
        if row.as_ref().is_some_and(|(v, _)| v.len() > MAX_VALUE) {
            return;
        }
        let weight = Slot::weight(&key, &row);
        while self.bytes + weight > budget {
            let Some(victim) = self.map.keys().next().cloned() else {
                return;
            };
            self.remove(&victim);
        }
        self.bytes += weight;
        self.map.insert(
            key,
            Slot {
                row,
                loaded: Instant::now(),
            },
        );
    }
}

/// The cache; one per opened [`Storage`](crate::storage::Storage), shared by its clones.
pub(in crate::storage) struct KvCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    ttl: Duration,
    budget: usize,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache").finish_non_exhaustive()
    }
}

impl Default for KvCache {
    fn default() -> Self {
        Self::new(TTL, BUDGET)
    }
}

/// What a miss must hand back to [`KvCache::fill`]: the shard's generation when it missed.
#[derive(Debug, Clone, Copy)]
pub(in crate::storage) struct Ticket {
    shard: usize,
    generation: u64,
}

/// The cache key of one row. The parts are joined with NUL, which none of them may hold (the
/// storage refuses it before any statement, `check_scope`), so the join is unambiguous.
pub(in crate::storage) fn key(plugin: &str, category: &str, owner: &Owner, key: &str) -> String {
    format!("{plugin}\0{category}\0{owner}\0{key}")
}

/// The (plugin, category, owner) parts of a cache key.
fn parts(key: &str) -> (&str, &str, &str) {
    let mut it = key.splitn(4, '\0');
    let mut next = || it.next().unwrap_or_default();
    (next(), next(), next())
}

impl KvCache {
    fn new(ttl: Duration, budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            ttl,
            budget: budget / SHARDS,
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        // Truncation is the point: any bits of the hash pick a shard.
        #[allow(clippy::cast_possible_truncation)]
        let h = self.hasher.hash_one(key) as usize;
        h % SHARDS
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves at worst a missing entry: keep serving.
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached row, or a ticket to [`fill`](Self::fill) the row read from the database.
    pub(in crate::storage) fn get(&self, key: &str) -> Result<Row, Ticket> {
        let i = self.shard_of(key);
        let mut shard = self.shard(i);
        match shard.map.get(key) {
            Some(slot) if slot.loaded.elapsed() < self.ttl => return Ok(slot.row.clone()),
            Some(_) => shard.remove(key),
            None => {}
        }
        Err(Ticket {
            shard: i,
            generation: shard.generation,
        })
    }

    /// Caches `row`, read from the database after `ticket` was taken, unless a change to the
    /// shard started since (the row may then be older than the change).
    pub(in crate::storage) fn fill(&self, key: String, ticket: Ticket, row: Row) {
        let mut shard = self.shard(ticket.shard);
        if shard.generation == ticket.generation {
            shard.insert(key, row, self.budget);
        }
    }

    /// Forgets `key` and starts a change to it: see [`Change`].
    pub(in crate::storage) fn change(&self, key: String) -> Change<'_> {
        let shard = self.shard_of(&key);
        self.forget_key(shard, &key);
        Change {
            cache: self,
            key: Some((shard, key)),
        }
    }

    fn forget_key(&self, shard: usize, key: &str) {
        let mut shard = self.shard(shard);
        shard.generation += 1;
        shard.remove(key);
    }

    /// Forgets every row whose (plugin, category, owner) matches, and moves every shard's
    /// generation on (so no read that started before is cached).
    pub(in crate::storage) fn forget(&self, which: &dyn Fn(&str, &str, &str) -> bool) {
        for i in 0..SHARDS {
            let mut shard = self.shard(i);
            shard.generation += 1;
            let doomed: Vec<String> = shard
                .map
                .keys()
                .filter(|k| {
                    let (plugin, category, owner) = parts(k);
                    which(plugin, category, owner)
                })
                .cloned()
                .collect();
            for k in doomed {
                shard.remove(&k);
            }
        }
    }

    /// [`forget`](Self::forget) now and again when the returned guard drops: around a bulk
    /// delete, so that nothing read while it ran stays cached.
    pub(in crate::storage) fn forgetting<'a>(
        &'a self,
        which: &'a (dyn Fn(&str, &str, &str) -> bool + Sync),
    ) -> Forgetting<'a> {
        self.forget(which);
        Forgetting { cache: self, which }
    }
}

/// A write to one key in progress. The key was forgotten when the change began; it is forgotten
/// again when the change drops (failed or cancelled: the database holds either row), unless
/// [`done`](Self::done) caches the row the write left.
#[must_use = "a change forgets its key again when dropped"]
pub(in crate::storage) struct Change<'a> {
    cache: &'a KvCache,
    key: Option<(usize, String)>,
}

impl Change<'_> {
    /// The write committed and left `row`.
    pub(in crate::storage) fn done(mut self, row: Row) {
        if let Some((i, key)) = self.key.take() {
            let mut shard = self.cache.shard(i);
            shard.generation += 1;
            shard.insert(key, row, self.cache.budget);
        }
    }
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        if let Some((i, key)) = self.key.take() {
            self.cache.forget_key(i, &key);
        }
    }
}

/// A bulk delete in progress (see [`KvCache::forgetting`]).
#[must_use = "forgets again when dropped"]
pub(in crate::storage) struct Forgetting<'a> {
    cache: &'a KvCache,
    which: &'a (dyn Fn(&str, &str, &str) -> bool + Sync),
}

impl Drop for Forgetting<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.which);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str) -> Owner {
        Owner::User(format!("{name}@example.com").parse().unwrap())
    }

    fn row(v: &[u8]) -> Row {
        Some((v.to_vec(), None))
    }

    #[test]
    fn a_fill_is_served_until_a_change() {
        let c = KvCache::default();
        let k = key("p", "c", &owner("alice"), "prefs");
        let ticket = c.get(&k).unwrap_err();
        c.fill(k.clone(), ticket, None);
        assert_eq!(c.get(&k).unwrap(), None, "absence is cached too");
        let change = c.change(k.clone());
        assert!(c.get(&k).is_err(), "forgotten while the write runs");
        change.done(row(b"v"));
        assert_eq!(c.get(&k).unwrap(), row(b"v"));
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let c = KvCache::default();
        let k = key("p", "c", &owner("alice"), "prefs");
        // The read misses and goes to the database…
        let ticket = c.get(&k).unwrap_err();
        // …a write commits meanwhile…
        c.change(k.clone()).done(row(b"new"));
        // …and the read comes back with the old row: dropped.
        c.fill(k.clone(), ticket, row(b"old"));
        assert_eq!(c.get(&k).unwrap(), row(b"new"));
    }

    #[test]
    fn a_failed_or_cancelled_write_leaves_nothing_cached() {
        let c = KvCache::default();
        let k = key("p", "c", &owner("alice"), "prefs");
        c.change(k.clone()).done(row(b"old"));
        let ticket_before = c.get(&k);
        assert!(ticket_before.is_ok());
        let change = c.change(k.clone());
        // A read during the write misses; its fill comes before the write ends.
        let ticket = c.get(&k).unwrap_err();
        c.fill(k.clone(), ticket, row(b"old"));
        drop(change);
        assert!(c.get(&k).is_err(), "the database may hold either row");
    }

    #[test]
    fn entries_expire_and_large_values_are_not_kept() {
        let c = KvCache::new(Duration::ZERO, BUDGET);
        let k = key("p", "c", &owner("alice"), "k");
        c.change(k.clone()).done(row(b"v"));
        assert!(c.get(&k).is_err(), "older than the TTL");

        let c = KvCache::default();
        c.change(k.clone()).done(row(&[0; MAX_VALUE + 1]));
        assert!(c.get(&k).is_err());
        c.change(k.clone()).done(row(&[0; MAX_VALUE]));
        assert!(c.get(&k).is_ok());
    }

    #[test]
    fn the_budget_holds() {
        let c = KvCache::new(TTL, SHARDS * 4096);
        for i in 0..1000 {
            c.change(key("p", "c", &owner(&format!("u{i}")), "k"))
                .done(row(&[0; 512]));
        }
        for i in 0..SHARDS {
            let shard = c.shard(i);
            assert!(shard.bytes <= 4096, "{}", shard.bytes);
            let counted: usize = shard.map.iter().map(|(k, s)| Slot::weight(k, &s.row)).sum();
            assert_eq!(counted, shard.bytes);
        }
    }

    #[test]
    fn forget_takes_exactly_the_matching_rows() {
        let c = KvCache::default();
        let (a, b) = (owner("alice"), owner("bob"));
        for (plugin, o) in [("p", &a), ("p", &b), ("q", &a)] {
            c.change(key(plugin, "c", o, "k")).done(row(b"v"));
        }
        let alice = a.to_string();
        c.forget(&|_, _, o| o == alice);
        assert!(c.get(&key("p", "c", &a, "k")).is_err());
        assert!(c.get(&key("q", "c", &a, "k")).is_err());
        assert!(c.get(&key("p", "c", &b, "k")).is_ok());

        let (k, carol) = (key("p", "c", &b, "k"), key("p", "c", &owner("carol"), "k"));
        let ticket = c.get(&carol).unwrap_err();
        {
            let _bulk = c.forgetting(&|p, _, _| p == "p");
            assert!(c.get(&k).is_err());
        }
        // A read that started before the bulk delete is not cached.
        c.fill(carol.clone(), ticket, row(b"stale"));
        assert!(c.get(&carol).is_err());
    }

    #[test]
    fn rows_read_as_the_select_would() {
        assert_eq!(live(row(b"v"), 5), Some(b"v".to_vec()));
        assert_eq!(live(Some((b"v".to_vec(), Some(6))), 5), Some(b"v".to_vec()));
        assert_eq!(live(Some((b"v".to_vec(), Some(5))), 5), None);
        assert_eq!(live(None, 5), None);
    }
}
