//! The native test harness: an in-memory fake of the host's capabilities, so plugin logic is
//! unit-tested with plain `cargo test` (only on non-wasm targets; on `wasm32` the real imports are
//! linked instead).
//!
//! The fake is per thread, and `cargo test` runs each test on its own thread, so tests do not see
//! each other's state. A [`Harness`] resets it, installs the plugin's manifest (so an undeclared
//! data category or a wrong owner kind fails as it does on the real host) and drives the hooks.
//!
//! ```
//! use tessera_sdk::testing::Harness;
//! use tessera_sdk::{Manifest, Plugin};
//!
//! #[derive(Default)]
//! struct Quiet;
//! impl Plugin for Quiet {
//!     fn describe(&self) -> Manifest { Manifest::new("quiet", "0.1.0") }
//! }
//!
//! let mut h = Harness::new(Quiet);
//! h.init("").unwrap();
//! assert!(h.take_sent().is_empty());
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::archive::{Entry, Page, Query};
use crate::error::HostError;
use crate::log::Level;
use crate::manifest::Manifest;
use crate::owner::Owner;
use crate::plugin::{CommandRequest, Context, Event, HttpRequest, HttpResponse, Plugin, Verdict};
use crate::stanza::Stanza;
use crate::{Hook, StanzaError};

mod caps;
mod directory;
mod requests;
mod scope;
mod web;

pub use caps::{clear_caps, set_caps};
pub use directory::{
    add_account, add_roster_item, add_session, remove_session, set_admin, set_domain,
};
pub use requests::{answer_requests, take_requests};
pub use scope::{end_sessions, marked};
pub use web::{allow_http, serve_http, take_fetched};

/// Drives one plugin against the fake host.
pub struct Harness<P> {
    plugin: P,
    manifest: Manifest,
}

impl<P: Plugin> Harness<P> {
    /// Resets the fake host and installs `plugin`'s manifest.
    pub fn new(plugin: P) -> Self {
        reset();
        let manifest = plugin.describe();
        install_manifest(manifest.clone());
        Self { plugin, manifest }
    }

    /// The plugin.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// Calls `init` with a TOML config.
    ///
    /// # Errors
    ///
    /// The plugin's own error.
    pub fn init(&mut self, config: &str) -> Result<(), String> {
        self.plugin.init(config)
    }

    /// Calls `on_stanza` with a stanza parsed from `xml` (which must declare its namespace), if
    /// the host would: a hook the plugin narrowed ([`crate::scope`]) is skipped, as
    /// [`Verdict::Pass`], for an unmarked account.
    ///
    /// # Panics
    ///
    /// If `xml` is not a stanza: a mistake in the test.
    pub fn stanza(&self, ctx: &Context, xml: &str) -> Verdict {
        let stanza = Stanza::parse(xml).expect("test stanza must parse");
        if !HOST.with(|h| h.borrow().scope.admits(ctx, &stanza)) {
            return Verdict::Pass;
        }
        self.plugin.on_stanza(ctx, &stanza)
    }

    /// Calls `on_stanza` for the `service` hook.
    ///
    /// # Panics
    ///
    /// As [`Harness::stanza`].
    pub fn service_stanza(&self, xml: &str) -> Verdict {
        self.stanza(&Context::new(Hook::Service), xml)
    }

    /// Calls `on_event` if the host would: the manifest subscribes to the event's kind
    /// ([`Manifest::on`]), or it is one of the manifest's timers. Returns whether it was called.
    pub fn event(&self, event: &Event) -> bool {
        let delivered = self.manifest.receives(event);
        if delivered {
            self.plugin.on_event(event);
        }
        delivered
    }

    /// Fires the timer `name` as the host would; `false` (and no call) if the manifest does not
    /// declare it.
    pub fn timer(&self, name: &str) -> bool {
        self.event(&Event::Timer(name.to_owned()))
    }

    /// Calls `on_command`.
    ///
    /// # Errors
    ///
    /// The plugin's stanza error.
    pub fn command(&self, req: &CommandRequest) -> Result<minidom::Element, StanzaError> {
        self.plugin.on_command(req)
    }

    /// Calls `on_http`.
    pub fn http(&self, req: &HttpRequest) -> HttpResponse {
        self.plugin.on_http(req)
    }

    /// The stanzas sent through `router` since the last call, parsed.
    ///
    /// # Panics
    ///
    /// If the plugin sent XML that is not a stanza: the test's point is to catch that.
    pub fn take_sent(&self) -> Vec<Stanza> {
        take_sent()
            .into_iter()
            .map(|xml| Stanza::parse(xml).expect("plugin sent a non-stanza"))
            .collect()
    }
}

/// Clears the fake host: no manifest, nothing sent, logged or stored, clock at 0, all granted;
/// domain `localhost` with no accounts, rosters or sessions; no host allowed for `http-outbound`.
pub fn reset() {
    HOST.with(|h| *h.borrow_mut() = FakeHost::default());
}

/// Installs a manifest: from now on storage calls check categories and owner kinds against it.
pub fn install_manifest(manifest: Manifest) {
    HOST.with(|h| h.borrow_mut().manifest = Some(manifest));
}

/// Sets the fake clock (ms since the epoch).
pub fn set_now(ms: u64) {
    HOST.with(|h| h.borrow_mut().now = ms);
}

/// Caps the size of one blob, as the operator's `blob_max` does (default: no cap).
pub fn set_blob_max(bytes: u64) {
    HOST.with(|h| h.borrow_mut().blob_max = Some(bytes));
}

/// Makes every call to a capability (`"router"`, `"kv"`, `"archive"`, `"blobs"`, `"ephemeral"`,
/// `"accounts"`, `"roster"`, `"sessions"`, `"caps"`, `"requests"`, `"http-outbound"`) fail as when the operator
/// did not grant it: [`HostError::NotGranted`], or for the calls that cannot fail, the host's
/// answer then (`false` from `accounts::is_admin` and `caps::has_feature`, no sessions).
pub fn deny(capability: &str) {
    HOST.with(|h| h.borrow_mut().denied.insert(capability.to_owned()));
}

/// The serialised stanzas sent through `router` since the last call.
pub fn take_sent() -> Vec<String> {
    HOST.with(|h| std::mem::take(&mut h.borrow_mut().sent))
}

/// Everything logged so far.
pub fn logs() -> Vec<(Level, String)> {
    HOST.with(|h| h.borrow().logs.clone())
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// A record's place: (category, owner, key or stream).
type Slot = (String, Owner, String);

#[derive(Default)]
struct FakeHost {
    now: u64,
    manifest: Option<Manifest>,
    denied: BTreeSet<String>,
    sent: Vec<String>,
    logs: Vec<(Level, String)>,
    /// Value and expiry.
    kv: Values,
    archive: BTreeMap<Slot, Vec<Entry>>,
    next_seq: u64,
    ephemeral: BTreeMap<String, Vec<u8>>,
    /// Bytes and expiry, by (category, owner, name).
    blobs: Values,
    blob_max: Option<u64>,
    directory: directory::Directory,
    caps: caps::Caps,
    requests: requests::Requests,
    scope: scope::Scope,
    web: web::Web,
}

impl FakeHost {
    fn granted(&self, capability: &str) -> Result<(), HostError> {
        if self.denied.contains(capability) {
            Err(HostError::NotGranted)
        } else {
            Ok(())
        }
    }

    /// The host's data-lifecycle checks (DESIGN.md, "Privacy engine").
    fn check(&self, capability: &str, category: &str, owner: &Owner) -> Result<(), HostError> {
        self.granted(capability)?;
        let Some(manifest) = &self.manifest else {
            return Ok(());
        };
        let decl = manifest
            .data_category(category)
            .ok_or_else(|| HostError::UndeclaredCategory(category.to_owned()))?;
        if decl.owner != owner.kind() {
            return Err(HostError::WrongOwner);
        }
        Ok(())
    }
}

/// Values with an optional expiry (`kv` values, blobs), by slot.
type Values = BTreeMap<Slot, (Vec<u8>, Option<u64>)>;

fn slot(category: &str, owner: &Owner, key: &str) -> Slot {
    (category.to_owned(), owner.clone(), key.to_owned())
}

/// A value that has not expired at `now` (expired ones read as absent, as on the host).
fn live_get(values: &Values, slot: Slot, now: u64) -> Option<Vec<u8>> {
    values
        .get(&slot)
        .filter(|(_, exp)| exp.is_none_or(|e| e > now))
        .map(|(v, _)| v.clone())
}

/// Removes a value; `true` if there was one that had not expired.
fn live_remove(values: &mut Values, slot: Slot, now: u64) -> bool {
    values
        .remove(&slot)
        .is_some_and(|(_, exp)| exp.is_none_or(|e| e > now))
}

fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// The fake's side of each capability call (native builds only).
pub(crate) mod fake {
    use super::*;

    pub(crate) use super::caps::fake::*;
    pub(crate) use super::directory::fake::*;
    pub(crate) use super::requests::fake::*;
    pub(crate) use super::scope::fake::*;
    pub(crate) use super::web::fake::*;

    fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
        HOST.with(|h| f(&mut h.borrow_mut()))
    }

    pub(crate) fn log(level: Level, message: &str) {
        with(|h| h.logs.push((level, message.to_owned())));
    }

    pub(crate) fn now() -> u64 {
        with(|h| h.now)
    }

    pub(crate) fn send(xml: &str) -> Result<(), HostError> {
        with(|h| {
            h.granted("router")?;
            // The real host parses and validates the stanza; so does the fake, loosely.
            Stanza::parse(xml).map_err(|e| HostError::Invalid(e.to_string()))?;
            h.sent.push(xml.to_owned());
            Ok(())
        })
    }

    pub(crate) fn kv_get(
        category: &str,
        owner: &Owner,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        with(|h| {
            h.check("kv", category, owner)?;
            Ok(live_get(&h.kv, slot(category, owner, key), h.now))
        })
    }

    pub(crate) fn kv_set(
        category: &str,
        owner: &Owner,
        key: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<(), HostError> {
        with(|h| {
            h.check("kv", category, owner)?;
            h.kv.insert(slot(category, owner, key), (value.to_vec(), expires_at));
            Ok(())
        })
    }

    pub(crate) fn kv_delete(category: &str, owner: &Owner, key: &str) -> Result<bool, HostError> {
        with(|h| {
            h.check("kv", category, owner)?;
            let now = h.now;
            Ok(live_remove(&mut h.kv, slot(category, owner, key), now))
        })
    }

    pub(crate) fn kv_keys(
        category: &str,
        owner: &Owner,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, HostError> {
        with(|h| {
            h.check("kv", category, owner)?;
            let now = h.now;
            Ok(h.kv
                .iter()
                .filter(|((c, o, k), (_, exp))| {
                    c == category
                        && o == owner
                        && k.starts_with(prefix)
                        && exp.is_none_or(|e| e > now)
                })
                .map(|((_, _, k), _)| k.clone())
                .take(limit as usize)
                .collect())
        })
    }

    pub(crate) fn blob_put(
        category: &str,
        owner: &Owner,
        name: &str,
        data: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, HostError> {
        with(|h| {
            h.check("blobs", category, owner)?;
            let size = data.len() as u64;
            if h.blob_max.is_some_and(|max| size > max) {
                return Err(HostError::QuotaExceeded);
            }
            if name.contains('\0') || name.len() > 1024 {
                return Err(HostError::Invalid("blob name".into()));
            }
            h.blobs
                .insert(slot(category, owner, name), (data.to_vec(), expires_at));
            Ok(size)
        })
    }

    pub(crate) fn blob_get(
        category: &str,
        owner: &Owner,
        name: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        with(|h| {
            h.check("blobs", category, owner)?;
            Ok(live_get(&h.blobs, slot(category, owner, name), h.now))
        })
    }

    pub(crate) fn blob_delete(
        category: &str,
        owner: &Owner,
        name: &str,
    ) -> Result<bool, HostError> {
        with(|h| {
            h.check("blobs", category, owner)?;
            let now = h.now;
            Ok(live_remove(&mut h.blobs, slot(category, owner, name), now))
        })
    }

    pub(crate) fn archive_append(
        category: &str,
        owner: &Owner,
        stream: &str,
        with_jid: &str,
        data: &str,
    ) -> Result<String, HostError> {
        with(|h| {
            h.check("archive", category, owner)?;
            h.next_seq += 1;
            // Sortable text: time first, then a sequence for entries in the same millisecond.
            let id = format!("{:013}-{:08}", h.now, h.next_seq);
            h.archive
                .entry((category.to_owned(), owner.clone(), stream.to_owned()))
                .or_default()
                .push(Entry {
                    id: id.clone(),
                    timestamp: h.now,
                    with: bare(with_jid).to_owned(),
                    data: data.to_owned(),
                });
            Ok(id)
        })
    }

    /// XEP-0313 / XEP-0059 semantics; entries come back newest first for a `reverse` query, as
    /// from the real host.
    pub(crate) fn archive_query(
        category: &str,
        owner: &Owner,
        stream: &str,
        q: &Query,
    ) -> Result<Page, HostError> {
        with(|h| {
            h.check("archive", category, owner)?;
            let empty = Vec::new();
            let all = h
                .archive
                .get(&(category.to_owned(), owner.clone(), stream.to_owned()))
                .unwrap_or(&empty);
            let matching: Vec<&Entry> = all
                .iter()
                // Entries keep the bare JID, so a bare `with` matches every resource and a full one
                // matches exactly (nothing, with bare entries), as XEP-0313 §4.1.1 asks.
                .filter(|e| q.with.as_deref().is_none_or(|w| e.with == w))
                .filter(|e| {
                    q.start.is_none_or(|s| e.timestamp >= s)
                        && q.end.is_none_or(|t| e.timestamp <= t)
                })
                .filter(|e| q.ids.is_empty() || q.ids.contains(&e.id))
                .collect();
            let count = matching.len() as u64;
            let window: Vec<&Entry> = matching
                .into_iter()
                .filter(|e| q.after_id.as_deref().is_none_or(|a| e.id.as_str() > a))
                .filter(|e| q.before_id.as_deref().is_none_or(|b| e.id.as_str() < b))
                .collect();
            let limit = q.limit as usize;
            let complete = window.len() <= limit;
            let entries: Vec<Entry> = if q.reverse {
                window
                    .iter()
                    .rev()
                    .take(limit)
                    .map(|e| (*e).clone())
                    .collect()
            } else {
                window.iter().take(limit).map(|e| (*e).clone()).collect()
            };
            Ok(Page {
                entries,
                count,
                complete,
            })
        })
    }

    pub(crate) fn archive_remove(
        category: &str,
        owner: &Owner,
        stream: &str,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Result<u64, HostError> {
        with(|h| {
            h.check("archive", category, owner)?;
            let Some(entries) =
                h.archive
                    .get_mut(&(category.to_owned(), owner.clone(), stream.to_owned()))
            else {
                return Ok(0);
            };
            let before = entries.len();
            entries.retain(|e| {
                !(start.is_none_or(|s| e.timestamp >= s) && end.is_none_or(|t| e.timestamp <= t))
            });
            Ok((before - entries.len()) as u64)
        })
    }

    pub(crate) fn archive_remove_ids(
        category: &str,
        owner: &Owner,
        stream: &str,
        ids: &[String],
    ) -> Result<u64, HostError> {
        with(|h| {
            h.check("archive", category, owner)?;
            let Some(entries) =
                h.archive
                    .get_mut(&(category.to_owned(), owner.clone(), stream.to_owned()))
            else {
                return Ok(0);
            };
            let before = entries.len();
            entries.retain(|e| !ids.contains(&e.id));
            Ok((before - entries.len()) as u64)
        })
    }

    pub(crate) fn eph_get(key: &str) -> Option<Vec<u8>> {
        with(|h| h.ephemeral.get(key).cloned())
    }

    pub(crate) fn eph_set(key: &str, value: &[u8]) -> Result<(), HostError> {
        with(|h| {
            h.granted("ephemeral")?;
            h.ephemeral.insert(key.to_owned(), value.to_vec());
            Ok(())
        })
    }

    pub(crate) fn eph_cas(
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, HostError> {
        with(|h| {
            h.granted("ephemeral")?;
            if h.ephemeral.get(key).map(Vec::as_slice) != expected {
                return Ok(false);
            }
            h.ephemeral.insert(key.to_owned(), value.to_vec());
            Ok(true)
        })
    }

    pub(crate) fn eph_delete(key: &str) -> bool {
        with(|h| h.ephemeral.remove(key).is_some())
    }

    pub(crate) fn eph_keys(prefix: &str, limit: u32) -> Vec<String> {
        with(|h| {
            h.ephemeral
                .keys()
                .filter(|k| k.starts_with(prefix))
                .take(limit as usize)
                .cloned()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Archive;
    use crate::kv::Kv;
    use crate::{DataDeclaration, OwnerKind, Visibility};

    fn manifest() -> Manifest {
        Manifest::new("t", "0")
            .data(DataDeclaration::new(
                "prefs",
                "p",
                OwnerKind::User,
                Visibility::Owner,
            ))
            .data(DataDeclaration::new(
                "log",
                "l",
                OwnerKind::User,
                Visibility::Owner,
            ))
    }

    /// Counts the events it is called with, in `ephemeral`.
    #[derive(Default)]
    struct Watcher;
    impl Plugin for Watcher {
        fn describe(&self) -> Manifest {
            Manifest::new("w", "0")
                .on(crate::EventKind::SessionAvailable)
                .timer("tick", 1)
        }
        fn on_event(&self, event: &Event) {
            let n = crate::ephemeral::get("n").map_or(0, |v| v[0]);
            crate::ephemeral::set("n", &[n + 1]).unwrap();
            if let Event::Timer(name) = event {
                crate::ephemeral::set("last-timer", name.as_bytes()).unwrap();
            }
        }
    }

    #[test]
    fn harness_delivers_only_subscribed_events_and_declared_timers() {
        let h = Harness::new(Watcher);
        let calls = || crate::ephemeral::get("n").map_or(0, |v| v[0]);
        assert!(h.event(&Event::SessionAvailable("a@b/c".into())));
        assert_eq!(calls(), 1);
        assert!(!h.event(&Event::SessionUnavailable("a@b/c".into())));
        assert!(!h.event(&Event::UserCreated("a@b".into())));
        assert_eq!(calls(), 1, "unsubscribed kinds never reach the plugin");
        assert!(h.timer("tick"));
        assert!(!h.timer("tock"));
        assert_eq!(calls(), 2);
        assert_eq!(
            crate::ephemeral::get("last-timer").as_deref(),
            Some(&b"tick"[..])
        );
    }

    #[test]
    fn kv_round_trip_expiry_and_keys() {
        reset();
        install_manifest(manifest());
        let kv = Kv::new("prefs", Owner::user("a@b"));
        kv.set_str("k1", "v1").unwrap();
        kv.set_expiring("k2", b"v2", Some(100)).unwrap();
        kv.set_str("other", "x").unwrap();
        assert_eq!(kv.get_string("k1").unwrap().as_deref(), Some("v1"));
        assert_eq!(kv.keys("k", 10).unwrap(), ["k1", "k2"]);
        assert_eq!(kv.keys("", 1).unwrap(), ["k1"]);
        set_now(100);
        assert_eq!(kv.get("k2").unwrap(), None, "expired values read as absent");
        assert!(kv.delete("k1").unwrap());
        assert!(!kv.delete("k1").unwrap());
        // Another owner sees nothing.
        assert_eq!(
            Kv::new("prefs", Owner::user("c@d")).get("other").unwrap(),
            None
        );
    }

    #[test]
    fn storage_checks_declarations_like_the_host() {
        reset();
        install_manifest(manifest());
        assert_eq!(
            Kv::new("secret", Owner::user("a@b")).get("k"),
            Err(HostError::UndeclaredCategory("secret".into()))
        );
        assert_eq!(
            Kv::new("prefs", Owner::Service).get("k"),
            Err(HostError::WrongOwner)
        );
        deny("kv");
        assert_eq!(
            Kv::new("prefs", Owner::user("a@b")).get("k"),
            Err(HostError::NotGranted)
        );
    }

    #[test]
    fn archive_pages_both_ways() {
        reset();
        install_manifest(manifest());
        let a = Archive::new("log", Owner::user("a@b"), "mam");
        let mut ids = Vec::new();
        for i in 0..5u64 {
            set_now(1000 + i);
            let with = if i % 2 == 0 { "x@y/r" } else { "z@y" };
            ids.push(a.append(with, &format!("m{i}")).unwrap());
        }
        let first = a.query(&Query::new(2)).unwrap();
        assert_eq!(
            first
                .entries
                .iter()
                .map(|e| e.data.as_str())
                .collect::<Vec<_>>(),
            ["m0", "m1"]
        );
        assert_eq!((first.count, first.complete), (5, false));
        let next = a.query(&Query::new(10).after(ids[1].clone())).unwrap();
        assert_eq!(next.entries.len(), 3);
        assert!(next.complete);
        let last = a.query(&Query::new(2).last_page()).unwrap();
        assert_eq!(
            last.entries
                .iter()
                .map(|e| e.data.as_str())
                .collect::<Vec<_>>(),
            ["m3", "m4"],
            "oldest first"
        );
        let before = a.query(&Query::new(2).before(ids[3].clone())).unwrap();
        assert_eq!(
            before
                .entries
                .iter()
                .map(|e| e.data.as_str())
                .collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        assert!(!before.complete);
        let with = a.query(&Query::new(10).with("x@y")).unwrap();
        assert_eq!((with.count, with.entries[0].with.as_str()), (3, "x@y"));
        let range = a
            .query(&Query::new(10).between(Some(1001), Some(1002)))
            .unwrap();
        assert_eq!(range.count, 2);
        assert_eq!(a.remove_ids(&ids[..1]).unwrap(), 1);
        assert_eq!(a.remove(Some(1004), None).unwrap(), 1);
        assert_eq!(a.remove(None, None).unwrap(), 3);
    }

    #[test]
    fn blobs_round_trip_with_limits_and_expiry() {
        use crate::blobs;
        reset();
        install_manifest(manifest().data(DataDeclaration::new(
            "avatars",
            "a",
            OwnerKind::User,
            Visibility::Owner,
        )));
        let a = Owner::user("a@b");
        let every: Vec<u8> = (0..=255).collect();
        assert_eq!(blobs::put("avatars", &a, "x", &every, None), Ok(256));
        assert_eq!(blobs::get("avatars", &a, "x"), Ok(Some(every)));
        assert_eq!(blobs::get("avatars", &Owner::user("c@d"), "x"), Ok(None));
        assert_eq!(
            blobs::get("secret", &a, "x"),
            Err(HostError::UndeclaredCategory("secret".into()))
        );
        assert_eq!(
            blobs::put("avatars", &Owner::Service, "x", b"", None),
            Err(HostError::WrongOwner)
        );
        set_blob_max(2);
        assert_eq!(
            blobs::put("avatars", &a, "x", b"abc", None),
            Err(HostError::QuotaExceeded)
        );
        assert_eq!(
            blobs::get("avatars", &a, "x").unwrap().map(|v| v.len()),
            Some(256)
        );
        blobs::put("avatars", &a, "soon", b"s", Some(10)).unwrap();
        set_now(10);
        assert_eq!(blobs::get("avatars", &a, "soon"), Ok(None));
        assert_eq!(blobs::delete("avatars", &a, "soon"), Ok(false));
        assert_eq!(blobs::delete("avatars", &a, "x"), Ok(true));
        deny("blobs");
        assert_eq!(blobs::get("avatars", &a, "x"), Err(HostError::NotGranted));
    }

    #[test]
    fn ephemeral_compare_and_swap() {
        reset();
        use crate::ephemeral;
        assert!(ephemeral::compare_and_swap("n", None, b"1").unwrap());
        assert!(!ephemeral::compare_and_swap("n", None, b"2").unwrap());
        assert!(ephemeral::compare_and_swap("n", Some(b"1"), b"2").unwrap());
        assert_eq!(ephemeral::get("n").as_deref(), Some(&b"2"[..]));
        assert_eq!(ephemeral::keys("", 10), ["n"]);
        assert!(ephemeral::delete("n"));
    }

    #[test]
    fn router_refuses_non_stanzas_and_records_sent() {
        reset();
        assert!(matches!(
            crate::router::send_xml("<x xmlns='a'/>"),
            Err(HostError::Invalid(_))
        ));
        crate::router::send_xml("<message xmlns='jabber:client' to='a@b'/>").unwrap();
        assert_eq!(take_sent().len(), 1);
        assert!(take_sent().is_empty());
        crate::log::info("hello");
        assert_eq!(logs(), [(Level::Info, "hello".to_owned())]);
    }
}
