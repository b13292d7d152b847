//! The storage suite, written once and run against both backends.
//!
//! Each test is an async fn taking `&Storage` (or a [`TestDb`] when it must write rows behind the
//! facade's back). `suite!` runs every one against a fresh SQLite file in a temporary directory,
//! and against PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set (`eval "$(.ci/postgres.sh)"`
//! starts a throwaway cluster). Without the URL the PostgreSQL runs print why they skip, unless
//! `TESSERA_REQUIRE_POSTGRES=1`, when they fail. Each PostgreSQL test gets a schema of its own, so
//! tests run in parallel and reruns never collide.

use std::path::PathBuf;

use jid::BareJid;
use sqlx::SqlitePool;
use tessera::config::StorageConfig;
use tessera::storage::{RosterItem, Storage, StorageError, Subscription};
use tessera_sasl::{Credentials, HashAlg, ScramKeys};

mod common;
use common::TestDb;

// ---- harness ----

/// Runs each `storage` test with `&Storage` and each `raw` test with `&TestDb`, on both backends.
macro_rules! suite {
    (storage: [$($test:ident),* $(,)?], raw: [$($raw:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let db = super::TestDb::sqlite().await;
                super::$test(&db.storage).await;
                db.finish().await;
            })*
            $(#[tokio::test]
            async fn $raw() {
                let db = super::TestDb::sqlite().await;
                super::$raw(&db).await;
                db.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$test(&db.storage).await;
                db.finish().await;
            })*
            $(#[tokio::test]
            async fn $raw() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$raw(&db).await;
                db.finish().await;
            })*
        }
    };
}

suite! {
    storage: [
        create_and_duplicate_account,
        credentials_round_trip,
        set_credentials_replaces_keys,
        delete_cascades_to_roster_and_pending,
        list_is_ordered_bytewise,
        record_login_sets_last_login,
        roster_put_get_remove_bump_version,
        groups_round_trip,
        pending_in_is_idempotent,
        writes_for_a_missing_account_fail,
        concurrent_roster_writes_get_distinct_versions,
        fast_tokens_rotate_expire_and_go_with_password_and_account,
    ],
    raw: [undecodable_rows_are_corrupt],
}

// ---- fixtures ----

fn keys(alg: HashAlg, seed: u8, iterations: u32, len: usize) -> ScramKeys {
    ScramKeys {
        alg,
        // Zero and 0xff bytes: blobs, not text.
        salt: vec![seed, 0, 0xff, seed],
        iterations,
        stored_key: (0..len).map(|i| seed.wrapping_add(i as u8)).collect(),
        server_key: (0..len).map(|i| seed ^ (i as u8)).collect(),
    }
}

fn creds(seed: u8) -> Credentials {
    Credentials {
        sha1: keys(HashAlg::Sha1, seed, 4096, 20),
        // The largest count a u32 holds must survive the 64-bit column.
        sha256: keys(HashAlg::Sha256, seed.wrapping_add(1), u32::MAX, 32),
    }
}

fn jid(s: &str) -> BareJid {
    BareJid::new(s).expect("valid JID")
}

fn item(contact: &str, groups: &[&str]) -> RosterItem {
    RosterItem {
        jid: jid(contact),
        name: Some(format!("name of {contact}")),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        subscription: Subscription::Both,
        ask_out: false,
        approved: false,
    }
}

async fn roster_of(s: &Storage, user: &str) -> (u64, Vec<RosterItem>) {
    s.roster(user).await.expect("roster")
}

// ---- accounts ----

async fn create_and_duplicate_account(s: &Storage) {
    assert!(!s.account_exists("alice").await.unwrap());
    s.create_account("alice", &creds(1), 100).await.unwrap();
    assert!(s.account_exists("alice").await.unwrap());
    let again = s.create_account("alice", &creds(2), 200).await;
    assert!(
        matches!(again, Err(StorageError::AccountExists)),
        "{again:?}"
    );
    // The failed attempt changed nothing.
    assert_eq!(s.credentials("alice").await.unwrap(), Some(creds(1)));
    assert!(!s.account_exists("bob").await.unwrap());
}

async fn credentials_round_trip(s: &Storage) {
    s.create_account("alice", &creds(7), 100).await.unwrap();
    s.create_account("bob", &creds(9), 100).await.unwrap();
    let got = s.credentials("alice").await.unwrap().expect("alice exists");
    assert_eq!(got, creds(7));
    assert_eq!(got.sha1.alg, HashAlg::Sha1);
    assert_eq!(got.sha256.alg, HashAlg::Sha256);
    assert_eq!(got.sha256.iterations, u32::MAX);
    assert_eq!(s.credentials("bob").await.unwrap(), Some(creds(9)));
    assert_eq!(s.credentials("carol").await.unwrap(), None);
}

async fn set_credentials_replaces_keys(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    assert!(s.set_credentials("alice", &creds(2)).await.unwrap());
    assert_eq!(s.credentials("alice").await.unwrap(), Some(creds(2)));
    assert!(!s.set_credentials("ghost", &creds(3)).await.unwrap());
    assert!(
        !s.account_exists("ghost").await.unwrap(),
        "set must not create"
    );
}

async fn delete_cascades_to_roster_and_pending(s: &Storage) {
    for user in ["alice", "bob"] {
        s.create_account(user, &creds(1), 100).await.unwrap();
        s.put_roster_item(user, &item("juliet@example.com", &["Friends", "Work"]))
            .await
            .unwrap();
        s.add_pending_in(user, &jid("romeo@example.net"))
            .await
            .unwrap();
    }

    assert!(s.delete_account("alice").await.unwrap());
    assert!(!s.account_exists("alice").await.unwrap());
    assert_eq!(s.credentials("alice").await.unwrap(), None);
    assert_eq!(roster_of(s, "alice").await, (0, vec![]));
    assert_eq!(s.roster_version("alice").await.unwrap(), 0);
    assert!(s.pending_in("alice").await.unwrap().is_empty());
    assert!(
        !s.delete_account("alice").await.unwrap(),
        "second delete finds nothing"
    );

    // A new account under the same name inherits nothing of the old one.
    s.create_account("alice", &creds(2), 300).await.unwrap();
    assert_eq!(roster_of(s, "alice").await, (0, vec![]));
    assert!(s.pending_in("alice").await.unwrap().is_empty());

    // Bob's data is untouched.
    let (version, items) = roster_of(s, "bob").await;
    assert_eq!(version, 1);
    assert_eq!(items, [item("juliet@example.com", &["Friends", "Work"])]);
    assert_eq!(
        s.pending_in("bob").await.unwrap(),
        [jid("romeo@example.net")]
    );
}

async fn list_is_ordered_bytewise(s: &Storage) {
    assert!(s.list_accounts().await.unwrap().is_empty());
    for (i, user) in ["zoe", "émile", "alice", "bob"].into_iter().enumerate() {
        s.create_account(user, &creds(1), 1000 + i as i64)
            .await
            .unwrap();
    }
    let listed = s.list_accounts().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a.username.as_str()).collect();
    // Code point order on both backends, whatever PostgreSQL's locale would say about "é".
    assert_eq!(names, ["alice", "bob", "zoe", "émile"]);
    assert_eq!(listed[0].created_at, 1002);
    assert_eq!(listed[3].created_at, 1001);
    assert!(listed.iter().all(|a| a.last_login_at.is_none()));
}

async fn record_login_sets_last_login(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    s.create_account("bob", &creds(1), 100).await.unwrap();
    s.record_login("alice", 1_700_000_000).await.unwrap();
    s.record_login("alice", 1_700_000_500).await.unwrap();
    // Unknown accounts are not created by a login record.
    s.record_login("ghost", 1).await.unwrap();

    let listed = s.list_accounts().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].username, "alice");
    assert_eq!(listed[0].last_login_at, Some(1_700_000_500));
    assert_eq!(listed[0].created_at, 100);
    assert_eq!(listed[1].last_login_at, None);
}

// ---- roster ----

async fn roster_put_get_remove_bump_version(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    s.create_account("bob", &creds(1), 100).await.unwrap();
    assert_eq!(roster_of(s, "alice").await, (0, vec![]));

    let romeo = item("romeo@example.net", &[]);
    let juliet = item("juliet@example.com", &["Friends"]);
    assert_eq!(s.put_roster_item("alice", &romeo).await.unwrap(), 1);
    assert_eq!(s.put_roster_item("alice", &juliet).await.unwrap(), 2);
    // Items come back ordered by contact.
    assert_eq!(
        roster_of(s, "alice").await,
        (2, vec![juliet.clone(), romeo.clone()])
    );

    // Replacing an item changes every field and bumps the version.
    let changed = RosterItem {
        name: None,
        subscription: Subscription::To,
        ask_out: true,
        approved: true,
        ..romeo.clone()
    };
    assert_eq!(s.put_roster_item("alice", &changed).await.unwrap(), 3);
    let got = s.roster_item("alice", &romeo.jid).await.unwrap();
    assert_eq!(got, Some(changed.clone()));
    // What presence routing reads: every contact with its state, nothing of bob's.
    let mut subs = s.roster_subscriptions("alice").await.unwrap();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        subs,
        [
            (juliet.jid.clone(), juliet.subscription),
            (romeo.jid.clone(), Subscription::To)
        ]
    );
    assert!(s.roster_subscriptions("bob").await.unwrap().is_empty());

    // Every subscription state round-trips.
    for (n, sub) in [Subscription::None, Subscription::From, Subscription::Both]
        .into_iter()
        .enumerate()
    {
        let it = RosterItem {
            subscription: sub,
            ..changed.clone()
        };
        assert_eq!(s.put_roster_item("alice", &it).await.unwrap(), 4 + n as u64);
        let got = s
            .roster_item("alice", &it.jid)
            .await
            .unwrap()
            .expect("present");
        assert_eq!(got.subscription, sub);
    }
    assert_eq!(s.roster_version("alice").await.unwrap(), 6);

    assert_eq!(
        s.remove_roster_item("alice", &juliet.jid).await.unwrap(),
        Some(7)
    );
    // Removing what is not there changes nothing, the version included.
    assert_eq!(
        s.remove_roster_item("alice", &juliet.jid).await.unwrap(),
        None
    );
    assert_eq!(s.roster_version("alice").await.unwrap(), 7);
    assert_eq!(s.roster_item("alice", &juliet.jid).await.unwrap(), None);
    let (version, items) = roster_of(s, "alice").await;
    assert_eq!(version, 7);
    assert_eq!(items.len(), 1);

    // Rosters are per user.
    assert_eq!(roster_of(s, "bob").await, (0, vec![]));
    assert_eq!(s.roster_item("bob", &romeo.jid).await.unwrap(), None);
    assert_eq!(s.remove_roster_item("bob", &romeo.jid).await.unwrap(), None);
}

async fn groups_round_trip(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    // Client order kept (not sorted); odd characters stored as they are.
    let groups = [
        "Work",
        "Friends",
        "Ünïcode ✓",
        "a,b",
        "\"quoted\" [json]",
        "Friends 2",
    ];
    let mut it = item("juliet@example.com", &groups);
    it.name = Some(String::new());
    s.put_roster_item("alice", &it).await.unwrap();
    assert_eq!(
        s.roster_item("alice", &it.jid).await.unwrap(),
        Some(it.clone())
    );
    assert_eq!(roster_of(s, "alice").await.1, [it.clone()]);

    // Replacing the item replaces its groups, not adds to them.
    it.groups = vec!["Family".to_owned()];
    s.put_roster_item("alice", &it).await.unwrap();
    assert_eq!(
        s.roster_item("alice", &it.jid).await.unwrap(),
        Some(it.clone())
    );
    it.groups.clear();
    s.put_roster_item("alice", &it).await.unwrap();
    assert_eq!(roster_of(s, "alice").await.1, [it.clone()]);

    // A removed item's groups do not come back with it.
    it.groups = vec!["Old".to_owned()];
    s.put_roster_item("alice", &it).await.unwrap();
    s.remove_roster_item("alice", &it.jid).await.unwrap();
    it.groups.clear();
    s.put_roster_item("alice", &it).await.unwrap();
    assert_eq!(s.roster_item("alice", &it.jid).await.unwrap(), Some(it));
}

async fn pending_in_is_idempotent(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    let romeo = jid("romeo@example.net");
    let benvolio = jid("benvolio@example.net");
    assert!(s.pending_in("alice").await.unwrap().is_empty());

    s.add_pending_in("alice", &romeo).await.unwrap();
    s.add_pending_in("alice", &romeo).await.unwrap();
    s.add_pending_in("alice", &benvolio).await.unwrap();
    assert_eq!(
        s.pending_in("alice").await.unwrap(),
        [benvolio.clone(), romeo.clone()]
    );
    // RFC 6121 §3.1.3: a pending request alone is not a roster item.
    assert_eq!(roster_of(s, "alice").await, (0, vec![]));

    assert!(s.remove_pending_in("alice", &romeo).await.unwrap());
    assert!(!s.remove_pending_in("alice", &romeo).await.unwrap());
    assert_eq!(s.pending_in("alice").await.unwrap(), [benvolio]);
}

async fn writes_for_a_missing_account_fail(s: &Storage) {
    let put = s
        .put_roster_item("ghost", &item("romeo@example.net", &["G"]))
        .await;
    assert!(matches!(put, Err(StorageError::NoSuchAccount)), "{put:?}");
    let add = s.add_pending_in("ghost", &jid("romeo@example.net")).await;
    assert!(matches!(add, Err(StorageError::NoSuchAccount)), "{add:?}");
    // The failed writes left nothing behind, not even a version.
    assert_eq!(roster_of(s, "ghost").await, (0, vec![]));
    assert!(s.pending_in("ghost").await.unwrap().is_empty());
    assert!(!s.account_exists("ghost").await.unwrap());
}

async fn concurrent_roster_writes_get_distinct_versions(s: &Storage) {
    const WRITERS: u64 = 8;
    s.create_account("alice", &creds(1), 100).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..WRITERS {
        let s = s.clone();
        tasks.spawn(async move {
            let it = item(&format!("contact{n}@example.com"), &["Crowd"]);
            s.put_roster_item("alice", &it)
                .await
                .expect("concurrent put")
        });
    }
    let mut versions = tasks.join_all().await;
    versions.sort_unstable();
    assert_eq!(versions, (1..=WRITERS).collect::<Vec<_>>());
    let (version, items) = roster_of(s, "alice").await;
    assert_eq!(version, WRITERS);
    assert_eq!(items.len() as u64, WRITERS);
}

// ---- corruption (rows written behind the facade's back) ----

async fn undecodable_rows_are_corrupt(db: &TestDb) {
    let s = &db.storage;
    s.create_account("alice", &creds(1), 100).await.unwrap();
    let ok = item("juliet@example.com", &[]);
    s.put_roster_item("alice", &ok).await.unwrap();

    // An unknown subscription value.
    db.exec("UPDATE roster_items SET subscription = 'sometimes' WHERE username = 'alice'")
        .await;
    assert!(matches!(
        s.roster("alice").await,
        Err(StorageError::Corrupt(_))
    ));
    let one = s.roster_item("alice", &ok.jid).await;
    assert!(matches!(one, Err(StorageError::Corrupt(_))), "{one:?}");
    db.exec("UPDATE roster_items SET subscription = 'both' WHERE username = 'alice'")
        .await;
    assert!(s.roster("alice").await.is_ok());

    // A contact that is not a bare JID.
    db.exec("UPDATE roster_items SET contact = 'juliet@example.com/balcony'")
        .await;
    assert!(matches!(
        s.roster("alice").await,
        Err(StorageError::Corrupt(_))
    ));
    db.exec("INSERT INTO pending_in (username, contact) VALUES ('alice', '@@')")
        .await;
    let pending = s.pending_in("alice").await;
    assert!(
        matches!(pending, Err(StorageError::Corrupt(_))),
        "{pending:?}"
    );

    // (Negative versions and out-of-range iteration counts are refused by CHECK constraints;
    // their decoding is unit-tested in `storage::sql`.)

    // The other accounts are still readable.
    s.create_account("bob", &creds(2), 100).await.unwrap();
    assert_eq!(roster_of(s, "bob").await, (0, vec![]));
}

// ---- SQLite only ----

/// Processes that open a new database at once (`tessera user add` run in parallel) do not race
/// its migrations: each open waits for the one migrating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_opened_concurrently_migrates_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StorageConfig::Sqlite {
        path: dir.path().join("tessera.db"),
    };
    let opens = (0..8).map(|_| {
        let config = config.clone();
        tokio::spawn(async move { Storage::open(&config).await })
    });
    for (i, open) in opens.collect::<Vec<_>>().into_iter().enumerate() {
        let s = open
            .await
            .expect("task")
            .expect("every concurrent open succeeds");
        s.create_account(&format!("u{i}"), &creds(1), 100)
            .await
            .unwrap();
        s.close().await;
    }
}

/// The file and its directory are created private, survive a reopen, and run in WAL mode with
/// foreign keys on.
#[tokio::test]
async fn sqlite_file_is_private_durable_and_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("nested").join("deeper").join("tessera.db");
    let config = StorageConfig::Sqlite { path: path.clone() };

    let s = Storage::open(&config).await.expect("first open");
    s.create_account("alice", &creds(1), 100).await.unwrap();
    s.put_roster_item("alice", &item("juliet@example.com", &["Friends"]))
        .await
        .unwrap();
    s.close().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        assert_eq!(mode(&path), 0o600, "database file");
        assert_eq!(
            mode(path.parent().expect("parent")),
            0o700,
            "database directory"
        );
    }

    // Reopening runs the (already applied) migrations again and finds the data.
    let s = Storage::open(&config).await.expect("reopen");
    assert_eq!(s.credentials("alice").await.unwrap(), Some(creds(1)));
    assert_eq!(s.roster_version("alice").await.unwrap(), 1);
    s.close().await;

    let raw = SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw pool");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
    raw.close().await;
}

/// XEP-0484 §6.1: two slots per installation, the newer first; promotion retires the older; expired
/// tokens are neither returned nor kept; a password change and the account's removal delete them.
async fn fast_tokens_rotate_expire_and_go_with_password_and_account(s: &Storage) {
    s.create_account("alice", &creds(1), 100).await.unwrap();
    let ids = |tokens: Vec<tessera::storage::FastToken>| {
        tokens
            .into_iter()
            .map(|t| (t.newer, t.token))
            .collect::<Vec<_>>()
    };
    assert!(
        s.fast_tokens("alice", "phone", 1000)
            .await
            .unwrap()
            .is_empty()
    );
    s.put_fast_token("alice", "phone", "HT-SHA-256-NONE", "t1", 5000, 1000)
        .await
        .unwrap();
    s.promote_fast_token("alice", "phone").await.unwrap();
    s.put_fast_token("alice", "phone", "HT-SHA-256-NONE", "t2", 6000, 1000)
        .await
        .unwrap();
    assert_eq!(
        ids(s.fast_tokens("alice", "phone", 1000).await.unwrap()),
        [(true, "t2".to_owned()), (false, "t1".to_owned())]
    );
    // A newer issue replaces one never used; another installation has its own.
    s.put_fast_token("alice", "phone", "HT-SHA-256-NONE", "t3", 6000, 1000)
        .await
        .unwrap();
    s.put_fast_token("alice", "laptop", "HT-SHA-256-EXPR", "l1", 6000, 1000)
        .await
        .unwrap();
    assert_eq!(
        ids(s.fast_tokens("alice", "phone", 1000).await.unwrap()),
        [(true, "t3".to_owned()), (false, "t1".to_owned())]
    );
    s.promote_fast_token("alice", "phone").await.unwrap();
    let phone = s.fast_tokens("alice", "phone", 1000).await.unwrap();
    assert_eq!(ids(phone.clone()), [(false, "t3".to_owned())]);
    assert_eq!(phone[0].mechanism, "HT-SHA-256-NONE");
    assert_eq!(phone[0].expires_at, 6000);
    // Expired: not returned, and deleted at the next issue.
    assert!(
        s.fast_tokens("alice", "phone", 6000)
            .await
            .unwrap()
            .is_empty()
    );
    s.put_fast_token("alice", "tablet", "HT-SHA-256-NONE", "x", 9000, 7000)
        .await
        .unwrap();
    assert!(s.fast_tokens("alice", "phone", 0).await.unwrap().is_empty());
    s.delete_fast_token("alice", "tablet", true).await.unwrap();
    assert!(
        s.fast_tokens("alice", "tablet", 0)
            .await
            .unwrap()
            .is_empty()
    );
    // A new password logs every token out.
    s.put_fast_token("alice", "phone", "HT-SHA-256-NONE", "t4", 9000, 8000)
        .await
        .unwrap();
    assert!(s.set_credentials("alice", &creds(2)).await.unwrap());
    assert!(
        s.fast_tokens("alice", "phone", 8000)
            .await
            .unwrap()
            .is_empty()
    );
    // And they go with the account.
    s.put_fast_token("alice", "phone", "HT-SHA-256-NONE", "t5", 9000, 8000)
        .await
        .unwrap();
    assert!(s.delete_account("alice").await.unwrap());
    assert!(
        s.fast_tokens("alice", "phone", 8000)
            .await
            .unwrap()
            .is_empty()
    );
}
