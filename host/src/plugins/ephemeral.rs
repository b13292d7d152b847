//! `ephemeral`: one plugin's shared in-memory map, bounded in bytes (keys plus values).
//!
//! Shared by all of the plugin's instances and kept across a reload of the plugin, lost on
//! restart. A `BTreeMap` so `keys(prefix)` is a range scan.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A bounded key-value map.
#[derive(Debug)]
pub(crate) struct Ephemeral {
    inner: Mutex<Map>,
    cap: usize,
}

#[derive(Debug, Default)]
struct Map {
    entries: BTreeMap<String, Vec<u8>>,
    bytes: usize,
}

/// A write would take the map past its byte cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Ephemeral {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            inner: Mutex::new(Map::default()),
            cap,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Map> {
        // Every critical section leaves the map and its byte count consistent before it can
        // panic (allocation failure aborts), so a poisoned lock is safe to reuse.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.map().entries.get(key).cloned()
    }

    fn put(&self, map: &mut Map, key: String, value: Vec<u8>) -> Result<(), Full> {
        let old = map.entries.get(&key).map_or(0, |v| key.len() + v.len());
        let new = key.len() + value.len();
        if map.bytes - old + new > self.cap {
            return Err(Full);
        }
        map.bytes = map.bytes - old + new;
        map.entries.insert(key, value);
        Ok(())
    }

    pub(crate) fn set(&self, key: String, value: Vec<u8>) -> Result<(), Full> {
        let mut map = self.map();
        self.put(&mut map, key, value)
    }

    /// Writes only if the current value is `expected`; `Ok(false)` if it was not.
    pub(crate) fn compare_and_swap(
        &self,
        key: String,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<bool, Full> {
        let mut map = self.map();
        if map.entries.get(&key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        self.put(&mut map, key, value).map(|()| true)
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        let mut map = self.map();
        match map.entries.remove(key) {
            Some(v) => {
                map.bytes -= key.len() + v.len();
                true
            }
            None => false,
        }
    }

    pub(crate) fn keys(&self, prefix: &str, limit: u32) -> Vec<String> {
        let map = self.map();
        map.entries
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_bytes() {
        let e = Ephemeral::new(10);
        assert_eq!(e.set("ab".into(), vec![0; 8]), Ok(()));
        assert_eq!(e.set("c".into(), vec![0]), Err(Full));
        // Replacing a value counts the difference only.
        assert_eq!(e.set("ab".into(), vec![1; 7]), Ok(()));
        assert_eq!(e.set("c".into(), vec![]), Ok(()));
        assert!(e.delete("ab"));
        assert_eq!(e.set("d".into(), vec![0; 8]), Ok(()));
    }

    #[test]
    fn cas_and_prefix_keys() {
        let e = Ephemeral::new(100);
        assert_eq!(e.compare_and_swap("n".into(), None, vec![1]), Ok(true));
        assert_eq!(e.compare_and_swap("n".into(), None, vec![2]), Ok(false));
        assert_eq!(
            e.compare_and_swap("n".into(), Some(&[1]), vec![2]),
            Ok(true)
        );
        assert_eq!(e.get("n"), Some(vec![2]));
        for k in ["room/a", "room/b", "roomy", "x"] {
            e.set(k.into(), vec![]).expect("room");
        }
        assert_eq!(e.keys("room/", 10), ["room/a", "room/b"]);
        assert_eq!(e.keys("room", 2), ["room/a", "room/b"]);
    }
}
