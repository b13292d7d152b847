//! The write-behind archive writer (issue 4: archive writes batched off the routing path), on
//! both backends as `plugin_data.rs` is: `append` returns at once, yet ids stay unique and
//! increasing, reads and removals see every earlier append, `max_items` leaves exactly the newest
//! entries, an owner's deletion leaves nothing behind even with writes queued, and closing the
//! storage writes everything queued.

use std::time::Duration;

use jid::{BareJid, Jid};
use tessera::storage::{ArchiveQuery, Owner, Storage, StorageError};
use tessera_sasl::{Credentials, HashAlg, ScramKeys};

mod common;
use common::{Raw, TestDb};

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let db = super::TestDb::sqlite().await;
                super::$test(&db).await;
                db.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$test(&db).await;
                db.finish().await;
            })*
        }
    };
}

suite! {
    concurrent_appends_get_unique_increasing_ids,
    a_query_right_after_appends_sees_them_all,
    max_items_keeps_exactly_the_newest,
    removing_an_account_with_writes_queued_leaves_nothing,
    deleting_a_room_with_writes_queued_leaves_nothing,
    close_writes_everything_queued,
    kept_counts_match_the_entries,
}

const P: &str = "mam";
const C: &str = "messages";
/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000;

fn user(s: &str) -> Owner {
    Owner::User(BareJid::new(s).expect("valid bare JID"))
}

fn everything() -> ArchiveQuery {
    ArchiveQuery {
        limit: 1000,
        ..ArchiveQuery::default()
    }
}

async fn append(s: &Storage, owner: &Owner, stream: &str, data: &str, at: u64) -> String {
    s.archive_append(P, C, owner, stream, None, data, at)
        .await
        .expect("append")
}

/// Rows of a table whose owner is `owner`, read behind the facade's back.
async fn owned_rows(db: &TestDb, table: &str, owner: &Owner) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE owner = $1");
    let owner = owner.to_string();
    match &db.raw {
        Raw::Sqlite(pool) => sqlx::query_scalar(&sql).bind(owner).fetch_one(pool).await,
        Raw::Postgres(pool) => sqlx::query_scalar(&sql).bind(owner).fetch_one(pool).await,
    }
    .expect("raw count")
}

/// Many tasks appending to one stream at once (in the same milliseconds): every id is distinct,
/// each task sees its own ids increase, and the ids are the stream's order.
async fn concurrent_appends_get_unique_increasing_ids(db: &TestDb) {
    const TASKS: usize = 32;
    const EACH: usize = 100;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let s = db.storage.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                ids.push(
                    append(&s, &user("alice@example.com"), "s", &format!("{t}/{n}"), T0).await,
                );
            }
            ids
        });
    }
    let mut all = Vec::new();
    for ids in tasks.join_all().await {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "a task's ids increase");
        all.extend(ids);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), TASKS * EACH, "unique");
    // All in one millisecond's worth of ids and beyond: `ms * 1000 + seq` keeps counting.
    assert_eq!(all[0], "1700000000000000");

    let mut stored = Vec::new();
    let mut q = everything();
    loop {
        let page = db
            .storage
            .archive_query(P, C, &user("alice@example.com"), "s", &q)
            .await
            .expect("query");
        stored.extend(page.entries.iter().map(|e| e.id.clone()));
        if page.complete {
            break;
        }
        q.after_id = page.entries.last().map(|e| e.id.clone());
    }
    assert_eq!(
        stored, all,
        "what was stored is what was handed out, in id order"
    );

    // Later appends continue above every id, even with the clock stepped back.
    let later = append(
        &db.storage,
        &user("alice@example.com"),
        "s",
        "late",
        T0 - 5000,
    )
    .await;
    assert!(later > all[all.len() - 1]);
}

/// No flush in between: the query waits for the writer, so it sees every earlier append, and a
/// removal by id finds entries that may not have been committed when it was called.
async fn a_query_right_after_appends_sees_them_all(db: &TestDb) {
    let s = &db.storage;
    let bob = user("bob@example.com");
    let mut ids = Vec::new();
    for n in 0..700 {
        ids.push(append(s, &bob, "inbox", &format!("m{n}"), T0 + n).await);
    }
    let page = s
        .archive_query(P, C, &bob, "inbox", &everything())
        .await
        .expect("query");
    assert_eq!(page.count, 700);
    assert_eq!(page.entries.len(), 700);
    assert_eq!(page.entries[699].data, "m699");

    let last = append(s, &bob, "inbox", "gone", T0 + 1000).await;
    let removed = s
        .archive_remove_ids(P, C, &bob, "inbox", &[last, ids[0].clone()])
        .await
        .expect("remove ids");
    assert_eq!(removed, 2);
    for n in 0..10 {
        append(s, &bob, "inbox", &format!("n{n}"), T0 + 2000 + n).await;
    }
    let removed = s
        .archive_remove(P, C, &bob, "inbox", Some(T0 + 2000), None)
        .await
        .expect("remove range");
    assert_eq!(removed, 10);
    assert_eq!(owned_rows(db, "plugin_archive", &bob).await, 699);
}

/// The category's `max_items` is applied as batches commit: exactly the newest N stay, across
/// many batches, with a removal in between (which the writer's kept count must notice).
async fn max_items_keeps_exactly_the_newest(db: &TestDb) {
    const MAX: u64 = 100;
    let s = &db.storage;
    let carol = &user("carol@example.com");
    let capped = |n: u64| {
        let data = format!("c{n}");
        async move {
            s.archive_append_capped(P, C, carol, "log", Some(MAX), None, &data, T0 + n)
                .await
                .expect("append")
        }
    };
    // A stream filled without a cap first, as an operator lowering `max_items` would find it.
    for n in 0..150 {
        append(s, carol, "log", &format!("c{n}"), T0 + n).await;
    }
    for n in 150..2600 {
        capped(n).await;
    }
    s.flush_archive().await;
    let page = s
        .archive_query(P, C, carol, "log", &everything())
        .await
        .expect("query");
    assert_eq!(page.count, MAX);
    assert_eq!(page.entries[0].data, "c2500");
    assert_eq!(page.entries[99].data, "c2599");

    // A removal changes the count behind the writer's back: it must not trim too much after.
    let removed = s
        .archive_remove(P, C, carol, "log", None, Some(T0 + 2549))
        .await
        .expect("remove");
    assert_eq!(removed, 50);
    for n in 2600..2660 {
        capped(n).await;
    }
    let page = s
        .archive_query(P, C, carol, "log", &everything())
        .await
        .expect("query");
    assert_eq!(page.count, MAX);
    assert_eq!(page.entries[0].data, "c2560");
    // An uncapped stream of the same owner is untouched.
    append(s, carol, "other", "x", T0).await;
    s.flush_archive().await;
    assert_eq!(
        owned_rows(db, "plugin_archive", carol).await,
        MAX as i64 + 1
    );
}

/// Deleting an account while thousands of its appends are queued: nothing of it remains once
/// the writer is idle, and other owners' entries are all written.
async fn removing_an_account_with_writes_queued_leaves_nothing(db: &TestDb) {
    let s = &db.storage;
    let creds = creds();
    s.create_account("dave", &creds, 0).await.expect("create");
    let dave = user("dave@example.com");
    let erin = user("erin@example.com");
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8u64 {
        let s = s.clone();
        let (dave, erin) = (dave.clone(), erin.clone());
        tasks.spawn(async move {
            for n in 0..500 {
                append(&s, &dave, "inbox", "to dave", T0 + t * 1000 + n).await;
                append(&s, &erin, "inbox", "to erin", T0 + t * 1000 + n).await;
            }
        });
    }
    tasks.join_all().await;
    assert!(s.delete_account("dave").await.expect("delete"));
    s.flush_archive().await;
    assert_eq!(owned_rows(db, "plugin_archive", &dave).await, 0);
    assert_eq!(owned_rows(db, "plugin_archive_streams", &dave).await, 0);
    assert_eq!(owned_rows(db, "plugin_archive", &erin).await, 4000);
    // A new account of the same name starts a fresh stream, ids still unique in it.
    s.create_account("dave", &creds, 0)
        .await
        .expect("create again");
    append(s, &dave, "inbox", "new", T0).await;
    s.flush_archive().await;
    assert_eq!(owned_rows(db, "plugin_archive", &dave).await, 1);
}

async fn deleting_a_room_with_writes_queued_leaves_nothing(db: &TestDb) {
    let s = &db.storage;
    let room = Owner::Room(BareJid::new("room@muc.example.com").expect("room JID"));
    let with = Jid::new("room@muc.example.com/nick").expect("JID");
    for n in 0..3000 {
        s.archive_append("muc", C, &room, "log", Some(&with), "said", T0 + n)
            .await
            .expect("append");
    }
    s.delete_owner(&room).await.expect("delete owner");
    s.flush_archive().await;
    assert_eq!(owned_rows(db, "plugin_archive", &room).await, 0);
    assert_eq!(owned_rows(db, "plugin_archive_streams", &room).await, 0);
}

/// `close` (the server's shutdown) writes everything queued, with the streams' last ids, and
/// appends after it are refused rather than lost.
async fn close_writes_everything_queued(db: &TestDb) {
    let s = &db.storage;
    let frank = user("frank@example.com");
    let mut last = String::new();
    for n in 0..5000 {
        last = append(s, &frank, "inbox", "m", T0 + n / 10).await;
    }
    s.close().await;
    assert_eq!(owned_rows(db, "plugin_archive", &frank).await, 5000);
    let sql = "SELECT last_id FROM plugin_archive_streams WHERE owner = $1";
    let stored: i64 = match &db.raw {
        Raw::Sqlite(pool) => {
            sqlx::query_scalar(sql)
                .bind(frank.to_string())
                .fetch_one(pool)
                .await
        }
        Raw::Postgres(pool) => {
            sqlx::query_scalar(sql)
                .bind(frank.to_string())
                .fetch_one(pool)
                .await
        }
    }
    .expect("last id");
    assert_eq!(format!("{stored:016}"), last, "a restart resumes above it");
    assert!(matches!(
        s.archive_append(P, C, &frank, "inbox", None, "late", T0)
            .await,
        Err(StorageError::Closed)
    ));
}

/// The kept counts (whole stream, one bare counterpart) against counting the entries (a time
/// filter that matches them all makes the storage count), after each kind of write and delete.
async fn kept_counts_match_the_entries(db: &TestDb) {
    let s = &db.storage;
    let gina = user("gina@example.com");
    let withs: Vec<Option<Jid>> = vec![
        None,
        Some(Jid::new("juliet@example.net/balcony").expect("JID")),
        Some(Jid::new("juliet@example.net/garden").expect("JID")),
        Some(Jid::new("romeo@example.net").expect("JID")),
    ];
    let check = |step: &'static str| {
        let gina = gina.clone();
        async move {
            let filters = [
                None,
                Some(Jid::new("juliet@example.net").expect("JID")),
                Some(Jid::new("romeo@example.net").expect("JID")),
            ];
            for with in filters {
                let kept = ArchiveQuery {
                    with: with.clone(),
                    ..ArchiveQuery::default()
                };
                let counted = ArchiveQuery {
                    start: Some(0),
                    ..kept.clone()
                };
                let kept = s.archive_query(P, C, &gina, "s", &kept).await;
                let counted = s.archive_query(P, C, &gina, "s", &counted).await;
                assert_eq!(
                    kept.expect("kept").count,
                    counted.expect("counted").count,
                    "{step}, with {with:?}"
                );
            }
        }
    };
    let mut ids = Vec::new();
    for n in 0..400u64 {
        let with = withs[(n % 4) as usize].as_ref();
        let id = s
            .archive_append_capped(P, C, &gina, "s", Some(300), with, "m", T0 + n)
            .await
            .expect("append");
        ids.push(id);
    }
    check("after appends trimmed to max_items").await;
    let page = s
        .archive_query(P, C, &gina, "s", &everything())
        .await
        .expect("query");
    assert_eq!(page.count, 300);
    s.archive_remove_ids(P, C, &gina, "s", &ids[390..])
        .await
        .expect("remove ids");
    check("after removing by id").await;
    s.archive_remove(P, C, &gina, "s", Some(T0 + 200), Some(T0 + 249))
        .await
        .expect("remove range");
    check("after removing a range").await;
    s.enforce_retention(P, C, Some(Duration::from_millis(1000)), None, T0 + 1300)
        .await
        .expect("retention by age");
    check("after retention by age").await;
    s.enforce_retention(P, C, None, Some(7), T0 + 1300)
        .await
        .expect("retention by items");
    check("after retention by items").await;
    let page = s
        .archive_query(P, C, &gina, "s", &everything())
        .await
        .expect("query");
    assert_eq!(page.count, 7);
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
