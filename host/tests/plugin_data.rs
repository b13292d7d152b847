//! The plugin-data suite (WIT `kv` and `archive`, and the host-enforced lifecycle), written once and
//! run against both backends, as `storage.rs` is: a fresh SQLite file per test, and PostgreSQL
//! when `TESSERA_TEST_POSTGRES_URL` is set (`eval "$(.ci/postgres.sh)"`), one schema per test.
//! Without the URL the PostgreSQL runs say why they skip, unless `TESSERA_REQUIRE_POSTGRES=1`.

use std::time::Duration;

use jid::{BareJid, Jid};
use tessera::storage::{ArchiveQuery, NewEntry, Owner, Page, Storage, StorageError};
use tessera_sasl::{Credentials, HashAlg, ScramKeys};

mod common;
use common::TestDb;

// ---- harness ----

/// Runs each test with a `&TestDb` on both backends.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let db = super::TestDb::sqlite().await;
                super::$test(&db).await;
                db.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$test(&db).await;
                db.finish().await;
            })*
        }
    };
}

suite! {
    kv_round_trip,
    kv_expiry_on_read_and_purge,
    kv_reads_stay_true_through_the_cache,
    plugins_are_isolated,
    categories_and_owners_are_separate,
    archive_ids_are_unique_and_time_ordered,
    concurrent_appends_get_distinct_ids,
    archive_filters_and_paging,
    archive_remove_by_range_and_ids,
    retention_drops_oldest_first,
    delete_account_deletes_the_users_plugin_data,
    delete_owner_deletes_a_room,
    nul_and_oversized_requests_are_invalid,
    archive_pages_through_100k_entries,
}

// ---- fixtures ----

const P: &str = "mam";
const C: &str = "messages";
/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000;

fn bare(s: &str) -> BareJid {
    BareJid::new(s).expect("valid bare JID")
}

fn jid(s: &str) -> Jid {
    Jid::new(s).expect("valid JID")
}

fn user(s: &str) -> Owner {
    Owner::User(bare(s))
}

fn alice() -> Owner {
    user("alice@example.com")
}

fn creds() -> Credentials {
    let keys = |alg, len| ScramKeys {
        alg,
        salt: vec![1, 2, 3],
        iterations: 4096,
        stored_key: vec![7; len],
        server_key: vec![9; len],
    };
    Credentials {
        sha1: keys(HashAlg::Sha1, 20),
        sha256: keys(HashAlg::Sha256, 32),
    }
}

/// Everything in a stream, oldest first.
fn all() -> ArchiveQuery {
    ArchiveQuery {
        limit: u32::MAX,
        ..ArchiveQuery::default()
    }
}

fn datas(page: &Page) -> Vec<&str> {
    page.entries.iter().map(|e| e.data.as_str()).collect()
}

async fn append(
    s: &Storage,
    owner: &Owner,
    stream: &str,
    with: &str,
    data: &str,
    at: u64,
) -> String {
    let with = (!with.is_empty()).then(|| jid(with));
    s.archive_append(P, C, owner, stream, with.as_ref(), data, at)
        .await
        .expect("append")
}

async fn query(s: &Storage, owner: &Owner, stream: &str, q: &ArchiveQuery) -> Page {
    s.archive_query(P, C, owner, stream, q)
        .await
        .expect("query")
}

// ---- kv ----

async fn kv_round_trip(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap(), None);

    // Binary values, including NUL and 0xff bytes, and an empty one.
    let value = vec![0u8, 0xff, b'x', 0];
    s.kv_set(P, C, &a, "k", &value, None, T0).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap(), Some(value));
    s.kv_set(P, C, &a, "k", b"", None, T0 + 1).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap(), Some(vec![]));

    for key in ["b/2", "b/1", "b/10", "a", "b", "c/1", "bé", "b\u{10FFFF}"] {
        s.kv_set(P, C, &a, key, key.as_bytes(), None, T0)
            .await
            .unwrap();
    }
    // Code point order, prefix-bounded, limited.
    let keys = s.kv_keys(P, C, &a, "b/", 10, T0).await.unwrap();
    assert_eq!(keys, ["b/1", "b/10", "b/2"]);
    let keys = s.kv_keys(P, C, &a, "b/", 2, T0).await.unwrap();
    assert_eq!(keys, ["b/1", "b/10"]);
    let keys = s.kv_keys(P, C, &a, "b", 10, T0).await.unwrap();
    assert_eq!(keys, ["b", "b/1", "b/10", "b/2", "bé", "b\u{10FFFF}"]);
    let keys = s.kv_keys(P, C, &a, "", 100, T0).await.unwrap();
    assert_eq!(keys.len(), 9);
    assert_eq!(keys.first().map(String::as_str), Some("a"));
    assert_eq!(keys.last().map(String::as_str), Some("k"));
    assert!(s.kv_keys(P, C, &a, "zz", 10, T0).await.unwrap().is_empty());
    assert!(s.kv_keys(P, C, &a, "b", 0, T0).await.unwrap().is_empty());

    assert!(s.kv_delete(P, C, &a, "b/1", T0).await.unwrap());
    assert!(!s.kv_delete(P, C, &a, "b/1", T0).await.unwrap());
    assert_eq!(s.kv_get(P, C, &a, "b/1", T0).await.unwrap(), None);
    assert_eq!(
        s.kv_get(P, C, &a, "b/10", T0).await.unwrap().as_deref(),
        Some(&b"b/10"[..])
    );
}

async fn kv_expiry_on_read_and_purge(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    s.kv_set(P, C, &a, "short", b"1", Some(T0 + 1000), T0)
        .await
        .unwrap();
    s.kv_set(P, C, &a, "long", b"2", Some(T0 + 5000), T0)
        .await
        .unwrap();
    s.kv_set(P, C, &a, "forever", b"3", None, T0).await.unwrap();
    s.kv_set(P, C, &a, "doomed", b"4", Some(T0 + 1000), T0)
        .await
        .unwrap();

    assert!(
        s.kv_get(P, C, &a, "short", T0 + 999)
            .await
            .unwrap()
            .is_some()
    );
    // Expired at its expiry instant: reads, listings and deletes treat it as absent.
    assert_eq!(s.kv_get(P, C, &a, "short", T0 + 1000).await.unwrap(), None);
    let keys = s.kv_keys(P, C, &a, "", 10, T0 + 1000).await.unwrap();
    assert_eq!(keys, ["forever", "long"]);
    assert!(!s.kv_delete(P, C, &a, "doomed", T0 + 2000).await.unwrap());
    // Rewriting an expired value revives it with the new expiry.
    s.kv_set(P, C, &a, "short", b"5", None, T0 + 2000)
        .await
        .unwrap();
    assert_eq!(
        s.kv_get(P, C, &a, "short", T0 + 9000).await.unwrap(),
        Some(b"5".to_vec())
    );

    assert_eq!(db.rows("plugin_kv").await, 3);
    assert_eq!(s.purge_expired(T0 + 4999).await.unwrap(), 0);
    assert_eq!(s.purge_expired(T0 + 5000).await.unwrap(), 1, "long");
    assert_eq!(
        db.rows("plugin_kv").await,
        2,
        "the expired row is gone, not hidden"
    );
    let keys = s.kv_keys(P, C, &a, "", 10, T0 + 5000).await.unwrap();
    assert_eq!(keys, ["forever", "short"]);
}

/// `kv_get` is served from memory after the first read (`plugin_data::kv_cache`): every write and
/// every deletion the host makes must still show at once.
async fn kv_reads_stay_true_through_the_cache(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    // Absence is cached, then replaced by a write.
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap(), None);
    s.kv_set(P, C, &a, "k", b"one", None, T0).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap().unwrap(), b"one");
    // A value too large to cache replaces a cached one, and the other way round.
    let big = vec![7u8; 64 * 1024];
    s.kv_set(P, C, &a, "k", &big, None, T0).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap().unwrap(), big);
    s.kv_set(P, C, &a, "k", b"two", None, T0).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap().unwrap(), b"two");
    assert!(s.kv_delete(P, C, &a, "k", T0).await.unwrap());
    assert_eq!(s.kv_get(P, C, &a, "k", T0).await.unwrap(), None);

    // The cached row keeps its expiry: each read applies its own clock, as the SELECT does.
    s.kv_set(P, C, &a, "e", b"v", Some(T0 + 10), T0)
        .await
        .unwrap();
    assert!(s.kv_get(P, C, &a, "e", T0 + 9).await.unwrap().is_some());
    assert_eq!(s.kv_get(P, C, &a, "e", T0 + 10).await.unwrap(), None);
    assert!(s.kv_get(P, C, &a, "e", T0).await.unwrap().is_some());

    // Retention, account deletion and owner deletion drop cached rows with the stored ones.
    s.kv_set(P, C, &a, "old", b"v", None, T0).await.unwrap();
    assert!(s.kv_get(P, C, &a, "old", T0).await.unwrap().is_some());
    s.enforce_retention(P, C, Some(Duration::from_secs(1)), None, T0 + 5000)
        .await
        .unwrap();
    assert_eq!(s.kv_get(P, C, &a, "old", T0).await.unwrap(), None);

    s.create_account("alice", &creds(), 100).await.unwrap();
    s.kv_set(P, C, &a, "prefs", b"always", None, T0)
        .await
        .unwrap();
    assert!(s.kv_get(P, C, &a, "prefs", T0).await.unwrap().is_some());
    assert!(s.delete_account("alice").await.unwrap());
    // A new account of the same name does not inherit the old one's settings.
    s.create_account("alice", &creds(), 100).await.unwrap();
    assert_eq!(s.kv_get(P, C, &a, "prefs", T0).await.unwrap(), None);

    let room = Owner::Room(bare("room@muc.example.com"));
    s.kv_set(P, C, &room, "config", b"v", None, T0)
        .await
        .unwrap();
    assert!(s.kv_get(P, C, &room, "config", T0).await.unwrap().is_some());
    s.delete_owner(&room).await.unwrap();
    assert_eq!(s.kv_get(P, C, &room, "config", T0).await.unwrap(), None);
}

async fn plugins_are_isolated(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    s.kv_set("a", C, &a, "secret", b"A's", None, T0)
        .await
        .unwrap();
    let with = jid("juliet@example.com/balcony");
    s.archive_append("a", C, &a, "inbox", Some(&with), "A's entry", T0)
        .await
        .unwrap();

    // Plugin B names the same category, owner, key and stream, and sees nothing.
    assert_eq!(s.kv_get("b", C, &a, "secret", T0).await.unwrap(), None);
    assert!(s.kv_keys("b", C, &a, "", 10, T0).await.unwrap().is_empty());
    let page = s.archive_query("b", C, &a, "inbox", &all()).await.unwrap();
    assert_eq!(
        (page.count, page.entries.len(), page.complete),
        (0, 0, true)
    );

    // Nor can it change or delete A's records.
    assert!(!s.kv_delete("b", C, &a, "secret", T0).await.unwrap());
    s.kv_set("b", C, &a, "secret", b"B's", None, T0)
        .await
        .unwrap();
    assert_eq!(
        s.archive_remove("b", C, &a, "inbox", None, None)
            .await
            .unwrap(),
        0
    );
    let a_ids = s.archive_query("a", C, &a, "inbox", &all()).await.unwrap();
    let ids: Vec<String> = a_ids.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        s.archive_remove_ids("b", C, &a, "inbox", &ids)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.enforce_retention("b", C, Some(Duration::ZERO), Some(0), T0 + 1)
            .await
            .unwrap(),
        1,
        "only B's own value"
    );

    assert_eq!(
        s.kv_get("a", C, &a, "secret", T0).await.unwrap(),
        Some(b"A's".to_vec())
    );
    let page = s.archive_query("a", C, &a, "inbox", &all()).await.unwrap();
    assert_eq!(datas(&page), ["A's entry"]);
    assert_eq!(page.entries[0].with, Some(with));
}

async fn categories_and_owners_are_separate(db: &TestDb) {
    let s = &db.storage;
    let room = Owner::Room(bare("room@muc.example.com"));
    let owners = [alice(), user("bob@example.com"), room, Owner::Service];
    for (n, owner) in owners.iter().enumerate() {
        for category in ["one", "two"] {
            let value = format!("{owner} {category}");
            s.kv_set(P, category, owner, "k", value.as_bytes(), None, T0)
                .await
                .unwrap();
            s.archive_append(P, category, owner, "s", None, &value, T0 + n as u64)
                .await
                .unwrap();
        }
    }
    for owner in &owners {
        for category in ["one", "two"] {
            let value = format!("{owner} {category}");
            assert_eq!(
                s.kv_get(P, category, owner, "k", T0).await.unwrap(),
                Some(value.clone().into_bytes())
            );
            let page = s
                .archive_query(P, category, owner, "s", &all())
                .await
                .unwrap();
            assert_eq!(datas(&page), [value.as_str()]);
            assert_eq!(page.entries[0].with, None);
        }
    }
    // Streams of one owner are separate too.
    let page = s
        .archive_query(P, "one", &owners[0], "other", &all())
        .await
        .unwrap();
    assert_eq!(page.count, 0);
}

// ---- archive ----

async fn archive_ids_are_unique_and_time_ordered(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    let mut ids = Vec::new();
    // Same millisecond, then later, then the clock steps back.
    for at in [T0, T0, T0, T0 + 5, T0 + 2, T0 + 2, T0 + 10] {
        ids.push(append(s, &a, "s", "", "x", at).await);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "unique and increasing in append order");
    assert_eq!(ids[0], "1700000000000000");
    assert_eq!(ids[1], "1700000000000001");
    assert_eq!(ids[3], "1700000000005000");
    assert_eq!(
        ids[4], "1700000000005001",
        "a clock step back never reorders"
    );

    let page = query(s, &a, "s", &all()).await;
    let stamps: Vec<u64> = page.entries.iter().map(|e| e.timestamp).collect();
    assert_eq!(stamps, [T0, T0, T0, T0 + 5, T0 + 5, T0 + 5, T0 + 10]);

    // Removing entries never lets an id come back.
    assert_eq!(
        s.archive_remove(P, C, &a, "s", None, None).await.unwrap(),
        7
    );
    let again = append(s, &a, "s", "", "y", T0).await;
    assert!(again > ids[6], "{again} after {}", ids[6]);

    // A batch reserves consecutive ids.
    let entries = [
        NewEntry {
            with: None,
            data: "b1",
        },
        NewEntry {
            with: None,
            data: "b2",
        },
    ];
    let batch = s
        .archive_append_many(P, C, &a, "t", &entries, T0)
        .await
        .unwrap();
    assert_eq!(batch, ["1700000000000000", "1700000000000001"]);
    assert!(
        s.archive_append_many(P, C, &a, "t", &[], T0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_appends_get_distinct_ids(db: &TestDb) {
    const TASKS: usize = 8;
    const EACH: usize = 10;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let s = db.storage.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                let data = format!("{t}/{n}");
                ids.push(append(&s, &alice(), "s", "", &data, T0).await);
            }
            ids
        });
    }
    let mut ids: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TASKS * EACH);
    let page = query(&db.storage, &alice(), "s", &all()).await;
    assert_eq!(page.count, (TASKS * EACH) as u64);
}

async fn archive_filters_and_paging(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    // Ten entries, one per second; even ones with Juliet (two resources), odd ones with Romeo.
    let mut ids = Vec::new();
    for n in 0..10u64 {
        let with = match n % 4 {
            0 => "juliet@example.com/balcony",
            2 => "juliet@example.com/garden",
            _ => "romeo@example.net",
        };
        ids.push(append(s, &a, "s", with, &format!("m{n}"), T0 + n * 1000).await);
    }

    // Bare `with` matches every resource; full `with` only itself.
    let q = |with: &str| ArchiveQuery {
        with: Some(jid(with)),
        ..all()
    };
    let page = query(s, &a, "s", &q("juliet@example.com")).await;
    assert_eq!(datas(&page), ["m0", "m2", "m4", "m6", "m8"]);
    assert_eq!(page.entries[1].with, Some(jid("juliet@example.com/garden")));
    let page = query(s, &a, "s", &q("juliet@example.com/garden")).await;
    assert_eq!(datas(&page), ["m2", "m6"]);
    assert_eq!(page.count, 2);
    assert_eq!(query(s, &a, "s", &q("romeo@example.net/x")).await.count, 0);
    assert_eq!(query(s, &a, "s", &q("nurse@example.com")).await.count, 0);

    // Time range, both ends inclusive.
    let range = ArchiveQuery {
        start: Some(T0 + 2000),
        end: Some(T0 + 5000),
        ..all()
    };
    assert_eq!(
        datas(&query(s, &a, "s", &range).await),
        ["m2", "m3", "m4", "m5"]
    );
    let later = ArchiveQuery {
        start: Some(T0 + 2001),
        end: Some(u64::MAX),
        ..all()
    };
    assert_eq!(query(s, &a, "s", &later).await.count, 7);
    let never = ArchiveQuery {
        start: Some(u64::MAX),
        ..all()
    };
    let page = query(s, &a, "s", &never).await;
    assert_eq!((page.count, page.complete), (0, true));

    // ids.
    let chosen = ArchiveQuery {
        ids: vec![ids[7].clone(), ids[1].clone(), "no-such-id".into()],
        ..all()
    };
    assert_eq!(datas(&query(s, &a, "s", &chosen).await), ["m1", "m7"]);

    // Forward paging with `after`: count ignores paging, complete on the last page.
    let mut page_q = ArchiveQuery {
        limit: 4,
        ..ArchiveQuery::default()
    };
    let mut seen = Vec::new();
    let mut completes = Vec::new();
    loop {
        let page = query(s, &a, "s", &page_q).await;
        assert_eq!(page.count, 10);
        seen.extend(datas(&page).into_iter().map(str::to_owned));
        completes.push(page.complete);
        match page.entries.last() {
            Some(last) if !page.complete => page_q.after_id = Some(last.id.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, (0..10).map(|n| format!("m{n}")).collect::<Vec<_>>());
    assert_eq!(completes, [false, false, true]);

    // Backward paging with `before` and `reverse`: newest first.
    let mut back = ArchiveQuery {
        limit: 4,
        reverse: true,
        ..ArchiveQuery::default()
    };
    let page = query(s, &a, "s", &back).await;
    assert_eq!(datas(&page), ["m9", "m8", "m7", "m6"]);
    assert!(!page.complete);
    back.before_id = Some(ids[2].clone());
    let page = query(s, &a, "s", &back).await;
    assert_eq!(datas(&page), ["m1", "m0"]);
    assert!(page.complete);
    assert_eq!(page.count, 10);

    // A page that ends exactly at the last entry is complete.
    let exact = ArchiveQuery {
        after_id: Some(ids[5].clone()),
        limit: 4,
        ..ArchiveQuery::default()
    };
    let page = query(s, &a, "s", &exact).await;
    assert_eq!(datas(&page), ["m6", "m7", "m8", "m9"]);
    assert!(page.complete);

    // after + before together, and filters combined with paging.
    let window = ArchiveQuery {
        with: Some(jid("juliet@example.com")),
        after_id: Some(ids[0].clone()),
        before_id: Some(ids[8].clone()),
        limit: 10,
        ..ArchiveQuery::default()
    };
    let page = query(s, &a, "s", &window).await;
    assert_eq!(datas(&page), ["m2", "m4", "m6"]);
    assert_eq!(page.count, 5);
    assert!(page.complete);

    // limit 0: just the count (RSM `<max>0</max>`).
    let count_only = ArchiveQuery::default();
    let page = query(s, &a, "s", &count_only).await;
    assert_eq!(
        (page.entries.len(), page.count, page.complete),
        (0, 10, false)
    );
}

async fn archive_remove_by_range_and_ids(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    let mut ids = Vec::new();
    for n in 0..6u64 {
        ids.push(append(s, &a, "s", "", &format!("m{n}"), T0 + n * 1000).await);
    }
    append(s, &a, "other", "", "kept", T0).await;

    let removed = s
        .archive_remove(P, C, &a, "s", Some(T0 + 1000), Some(T0 + 2000))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(
        datas(&query(s, &a, "s", &all()).await),
        ["m0", "m3", "m4", "m5"]
    );
    let removed = s
        .archive_remove(P, C, &a, "s", None, Some(T0))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let removed = s
        .archive_remove_ids(P, C, &a, "s", &[ids[4].clone(), ids[1].clone(), "x".into()])
        .await
        .unwrap();
    assert_eq!(removed, 1, "m1 was already gone");
    assert_eq!(datas(&query(s, &a, "s", &all()).await), ["m3", "m5"]);
    assert_eq!(s.archive_remove_ids(P, C, &a, "s", &[]).await.unwrap(), 0);
    let removed = s
        .archive_remove(P, C, &a, "s", Some(T0 + 4000), None)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(
        s.archive_remove(P, C, &a, "s", None, None).await.unwrap(),
        1
    );
    assert_eq!(query(s, &a, "s", &all()).await.count, 0);
    assert_eq!(datas(&query(s, &a, "other", &all()).await), ["kept"]);
}

// ---- lifecycle ----

async fn retention_drops_oldest_first(db: &TestDb) {
    let s = &db.storage;
    let (a, b) = (alice(), user("bob@example.com"));
    for owner in [&a, &b] {
        for stream in ["s1", "s2"] {
            for n in 0..5u64 {
                let data = format!("{stream}/{n}");
                s.archive_append(P, C, owner, stream, None, &data, T0 + n * 1000)
                    .await
                    .unwrap();
            }
        }
        for n in 0..5u64 {
            let key = format!("k{n}");
            s.kv_set(P, C, owner, &key, b"v", None, T0 + n * 1000)
                .await
                .unwrap();
        }
    }
    // Another category and another plugin, same owners: untouched throughout.
    s.kv_set(P, "other", &a, "k", b"v", None, T0).await.unwrap();
    s.archive_append("other-plugin", C, &a, "s1", None, "x", T0)
        .await
        .unwrap();

    // Nothing configured, nothing deleted.
    assert_eq!(
        s.enforce_retention(P, C, None, None, T0 + 60_000)
            .await
            .unwrap(),
        0
    );

    // Max age 2.5 s at T0+4 s: what was written before T0+1.5 s goes (n = 0, 1).
    let deleted = s
        .enforce_retention(P, C, Some(Duration::from_millis(2500)), None, T0 + 4000)
        .await
        .unwrap();
    assert_eq!(deleted, 2 * (2 * 2 + 2));
    for owner in [&a, &b] {
        let page = s.archive_query(P, C, owner, "s1", &all()).await.unwrap();
        assert_eq!(datas(&page), ["s1/2", "s1/3", "s1/4"]);
        let keys = s.kv_keys(P, C, owner, "", 10, T0).await.unwrap();
        assert_eq!(keys, ["k2", "k3", "k4"]);
    }

    // Max items 2 per owner and stream: the oldest one of each goes.
    let deleted = s
        .enforce_retention(P, C, None, Some(2), T0 + 4000)
        .await
        .unwrap();
    assert_eq!(deleted, 2 * (2 + 1));
    for owner in [&a, &b] {
        for stream in ["s1", "s2"] {
            let page = s.archive_query(P, C, owner, stream, &all()).await.unwrap();
            assert_eq!(datas(&page), [format!("{stream}/3"), format!("{stream}/4")]);
        }
        let keys = s.kv_keys(P, C, owner, "", 10, T0).await.unwrap();
        assert_eq!(keys, ["k3", "k4"]);
    }
    // Idempotent.
    assert_eq!(
        s.enforce_retention(P, C, Some(Duration::from_millis(2500)), Some(2), T0 + 4000)
            .await
            .unwrap(),
        0
    );
    assert!(s.kv_get(P, "other", &a, "k", T0).await.unwrap().is_some());
    let other = s
        .archive_query("other-plugin", C, &a, "s1", &all())
        .await
        .unwrap();
    assert_eq!(other.count, 1);
}

async fn delete_account_deletes_the_users_plugin_data(db: &TestDb) {
    let s = &db.storage;
    for name in ["alice", "alicea", "bob"] {
        s.create_account(name, &creds(), 100).await.unwrap();
    }
    let a = alice();
    // Records Alice owns in two plugins, and records that only look related.
    let others = [
        user("alicea@example.com"),
        user("bob@example.com"),
        Owner::Room(bare("alice@muc.example.com")),
        Owner::Service,
    ];
    for plugin in ["one", "two"] {
        for owner in std::iter::once(&a).chain(&others) {
            s.kv_set(plugin, C, owner, "k", b"v", Some(T0 + 10), T0)
                .await
                .unwrap();
            s.archive_append(plugin, C, owner, "s", None, "d", T0)
                .await
                .unwrap();
        }
    }
    // The room's archive mentions Alice as a counterpart; that is the room's record, not hers.
    let alice_jid = jid("alice@example.com");
    s.archive_append(P, C, &others[2], "s", Some(&alice_jid), "d", T0)
        .await
        .unwrap();
    // Archive appends are write-behind: let them land before counting rows behind its back.
    s.flush_archive().await;
    assert_eq!(db.rows("plugin_kv").await, 10);
    assert_eq!(db.rows("plugin_archive").await, 11);

    // `scope` marks (WIT 0.1.1) are owned by the account too.
    for (plugin, who) in [
        ("one", "alice"),
        ("two", "alice"),
        ("one", "alicea"),
        ("one", "bob"),
    ] {
        assert!(
            s.set_mark(plugin, &bare(&format!("{who}@example.com")), true)
                .await
                .unwrap()
        );
    }
    assert!(
        !s.set_mark("one", &bare("bob@example.com"), true)
            .await
            .unwrap(),
        "already there"
    );

    assert!(s.delete_account("alice").await.unwrap());
    assert_eq!(db.rows("plugin_kv").await, 8);
    assert_eq!(db.rows("plugin_archive").await, 9);
    let mut marks = s.marks().await.unwrap();
    marks.sort();
    assert_eq!(
        marks,
        [
            ("one".to_owned(), "alicea@example.com".to_owned()),
            ("one".to_owned(), "bob@example.com".to_owned())
        ]
    );
    assert!(
        s.set_mark("one", &bare("bob@example.com"), false)
            .await
            .unwrap()
    );
    assert_eq!(s.marks().await.unwrap().len(), 1);
    for plugin in ["one", "two"] {
        assert_eq!(s.kv_get(plugin, C, &a, "k", T0).await.unwrap(), None);
        let page = s.archive_query(plugin, C, &a, "s", &all()).await.unwrap();
        assert_eq!(page.count, 0);
        for owner in &others {
            assert!(
                s.kv_get(plugin, C, owner, "k", T0).await.unwrap().is_some(),
                "{owner}"
            );
            let page = s
                .archive_query(plugin, C, owner, "s", &all())
                .await
                .unwrap();
            assert_eq!(page.count, 1, "{owner}");
        }
    }

    // Records of an account already gone are deleted all the same (orphans from a crash).
    s.kv_set(P, C, &a, "late", b"v", None, T0).await.unwrap();
    assert!(!s.delete_account("alice").await.unwrap());
    assert_eq!(s.kv_get(P, C, &a, "late", T0).await.unwrap(), None);
}

async fn delete_owner_deletes_a_room(db: &TestDb) {
    let s = &db.storage;
    let room = Owner::Room(bare("room@muc.example.com"));
    let other = Owner::Room(bare("room2@muc.example.com"));
    for plugin in ["muc", "history"] {
        for owner in [&room, &other] {
            s.kv_set(plugin, "config", owner, "k", b"v", None, T0)
                .await
                .unwrap();
            for n in 0..3 {
                s.archive_append(plugin, C, owner, "log", None, "d", T0 + n)
                    .await
                    .unwrap();
            }
        }
    }
    let last = s
        .archive_append("muc", C, &room, "log", None, "d", T0 + 10)
        .await
        .unwrap();
    assert_eq!(s.delete_owner(&room).await.unwrap(), 2 + 6 + 1);
    assert_eq!(s.delete_owner(&room).await.unwrap(), 0);
    s.flush_archive().await;
    assert_eq!(db.rows("plugin_kv").await, 2);
    assert_eq!(db.rows("plugin_archive").await, 6);
    for plugin in ["muc", "history"] {
        assert_eq!(
            s.kv_get(plugin, "config", &room, "k", T0).await.unwrap(),
            None
        );
        assert!(
            s.kv_get(plugin, "config", &other, "k", T0)
                .await
                .unwrap()
                .is_some()
        );
    }
    // A room re-created under the same JID starts afresh (its old id counter went too).
    let first = s
        .archive_append("muc", C, &room, "log", None, "d", T0)
        .await
        .unwrap();
    assert!(first < last);
    assert_eq!(s.delete_owner(&Owner::Service).await.unwrap(), 0);
}

async fn nul_and_oversized_requests_are_invalid(db: &TestDb) {
    let s = &db.storage;
    let a = alice();
    let invalid = |r: Result<(), StorageError>| {
        assert!(matches!(r, Err(StorageError::Invalid(_))), "{r:?}");
    };
    invalid(s.kv_set(P, C, &a, "k\0", b"v", None, T0).await);
    invalid(s.kv_set(P, "c\0", &a, "k", b"v", None, T0).await);
    invalid(s.kv_get(P, C, &a, "k\0", T0).await.map(drop));
    invalid(s.kv_keys(P, C, &a, "\0", 1, T0).await.map(drop));
    invalid(
        s.archive_append(P, C, &a, "s", None, "a\0b", T0)
            .await
            .map(drop),
    );
    invalid(
        s.archive_append(P, C, &a, "s\0", None, "ab", T0)
            .await
            .map(drop),
    );
    let nul_after = ArchiveQuery {
        after_id: Some("\0".into()),
        ..all()
    };
    invalid(s.archive_query(P, C, &a, "s", &nul_after).await.map(drop));
    let many = ArchiveQuery {
        ids: vec!["x".into(); tessera::storage::MAX_IDS + 1],
        ..all()
    };
    invalid(s.archive_query(P, C, &a, "s", &many).await.map(drop));
    // A clock beyond what ids encode.
    let far = tessera::storage::MAX_ARCHIVE_MS + 1;
    invalid(
        s.archive_append(P, C, &a, "s", None, "ab", far)
            .await
            .map(drop),
    );
    invalid(
        s.enforce_retention(P, C, Some(Duration::ZERO), None, far)
            .await
            .map(drop),
    );
    // None of it was stored.
    assert_eq!(db.rows("plugin_kv").await, 0);
    assert_eq!(db.rows("plugin_archive").await, 0);
    assert_eq!(db.rows("plugin_archive_streams").await, 0);
}

/// 100 000 entries in one stream, appended in one call, then RSM pages of 50 from both ends and
/// from the middle: the right entries, counts and `complete` flags at every position. Speed is
/// the benchmark's (`host/benches/archive.rs`, figures in `docs/benchmarks.md`).
async fn archive_pages_through_100k_entries(db: &TestDb) {
    const N: usize = 100_000;
    const PAGE: u32 = 50;
    let s = &db.storage;
    let a = alice();
    let withs = [
        jid("juliet@example.com/balcony"),
        jid("romeo@example.net/orchard"),
    ];
    let datas: Vec<String> = (0..N).map(|n| format!("<message id='{n}'/>")).collect();
    let entries: Vec<NewEntry<'_>> = datas
        .iter()
        .enumerate()
        .map(|(n, data)| NewEntry {
            with: Some(&withs[n % 2]),
            data,
        })
        .collect();
    let ids = s
        .archive_append_many(P, C, &a, "big", &entries, T0)
        .await
        .unwrap();
    assert_eq!(ids.len(), N);

    let fetch = |q: ArchiveQuery| async move { query(s, &alice(), "big", &q).await };
    let check = |page: &Page, count: u64, complete: bool, first: usize| {
        assert_eq!(page.count, count);
        assert_eq!(page.complete, complete);
        assert_eq!(page.entries.len(), PAGE as usize);
        assert_eq!(page.entries[0].data, format!("<message id='{first}'/>"));
    };
    let page_q = |after: Option<usize>, before: Option<usize>, reverse: bool| ArchiveQuery {
        after_id: after.map(|n| ids[n].clone()),
        before_id: before.map(|n| ids[n].clone()),
        limit: PAGE,
        reverse,
        ..ArchiveQuery::default()
    };

    // Forward: the first page, a middle page, and the last page.
    let page = fetch(page_q(None, None, false)).await;
    check(&page, N as u64, false, 0);
    let page = fetch(page_q(Some(49_999), None, false)).await;
    check(&page, N as u64, false, 50_000);
    let page = fetch(page_q(Some(N - 51), None, false)).await;
    check(&page, N as u64, true, N - 50);
    assert_eq!(page.entries.last().map(|e| &e.id), ids.last());

    // Backward (reverse, `before`): the newest page, a middle page, and the oldest page.
    let page = fetch(page_q(None, None, true)).await;
    check(&page, N as u64, false, N - 1);
    let page = fetch(page_q(None, Some(50_000), true)).await;
    check(&page, N as u64, false, 49_999);
    let page = fetch(page_q(None, Some(50), true)).await;
    check(&page, N as u64, true, 49);

    // With a `with` filter (half the stream), from the far end.
    let page = fetch(ArchiveQuery {
        with: Some(jid("romeo@example.net")),
        ..page_q(Some(N - 101), None, false)
    })
    .await;
    check(&page, N as u64 / 2, true, N - 99);
}
