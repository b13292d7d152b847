//! The blob storage suite (WIT `blobs`: rows in the database, bytes in files under the blob
//! directory, with the host-enforced lifecycle), run against both backends as `plugin_data.rs`
//! is: a fresh SQLite file per test, and PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use jid::BareJid;
use tessera::storage::{MAX_BLOB_NAME, Owner, Storage, StorageError};
use tessera_sasl::{Credentials, HashAlg, ScramKeys};

mod common;
use common::TestDb;

/// Runs each test with a `&TestDb` and a blob directory on both backends.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let db = super::TestDb::sqlite().await;
                let blobs = super::Blobs::new(&db);
                super::$test(&db, &blobs).await;
                db.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let Some(db) = super::TestDb::postgres().await else { return };
                let blobs = super::Blobs::new(&db);
                super::$test(&db, &blobs).await;
                db.finish().await;
            })*
        }
    };
}

suite! {
    round_trip_every_byte_and_atomic_replace,
    plugins_categories_and_owners_are_separate,
    expired_blobs_read_as_absent_and_are_purged,
    retention_deletes_rows_and_files,
    delete_account_deletes_the_users_blobs_and_files,
    delete_owner_deletes_a_rooms_blobs,
    quota_refuses_without_losing_the_old_blob,
    orphan_files_are_swept_after_the_grace_period,
    hostile_and_invalid_names,
}

// ---- fixtures ----

const P: &str = "stash";
const C: &str = "files";
/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000;

/// A storage with a blob directory of its own.
struct Blobs {
    storage: Storage,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Blobs {
    fn new(db: &TestDb) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("blobs");
        Self {
            storage: db.storage.clone().with_blob_dir(dir.clone()),
            _tmp: tmp,
            dir,
        }
    }

    /// The file names in the blob directory, sorted.
    fn files(&self) -> Vec<String> {
        files_in(&self.dir)
    }

    async fn put(&self, owner: &Owner, name: &str, data: &[u8], now: u64) -> u64 {
        self.storage
            .blob_put(P, C, owner, name, data.to_vec(), None, None, now)
            .await
            .expect("put")
    }

    /// A put of alice's with every option.
    async fn put_as_alice(
        &self,
        name: &str,
        data: Vec<u8>,
        expires_at: Option<u64>,
        quota: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.storage
            .blob_put(P, C, &alice(), name, data, expires_at, quota, T0)
            .await
    }

    async fn get(&self, owner: &Owner, name: &str) -> Option<Vec<u8>> {
        self.storage
            .blob_get(P, C, owner, name, T0)
            .await
            .expect("get")
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn user(s: &str) -> Owner {
    Owner::User(BareJid::new(s).expect("valid bare JID"))
}

fn alice() -> Owner {
    user("alice@example.com")
}

fn every_byte() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

fn creds() -> Credentials {
    let keys = |alg, len| ScramKeys {
        alg,
        salt: vec![1; 16],
        iterations: 4096,
        stored_key: vec![2; len],
        server_key: vec![3; len],
    };
    Credentials {
        sha1: keys(HashAlg::Sha1, 20),
        sha256: keys(HashAlg::Sha256, 32),
    }
}

fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to age");
    file.set_modified(SystemTime::now() - by)
        .expect("set mtime");
}

// ---- tests ----

async fn round_trip_every_byte_and_atomic_replace(db: &TestDb, b: &Blobs) {
    assert_eq!(b.get(&alice(), "a").await, None);
    let data = every_byte();
    assert_eq!(b.put(&alice(), "a", &data, T0).await, 512);
    assert_eq!(b.get(&alice(), "a").await, Some(data));
    let first = b.files();
    assert_eq!(first.len(), 1);
    assert!(
        first[0].len() == 32 && first[0].bytes().all(|c| c.is_ascii_hexdigit()),
        "host-chosen name: {first:?}"
    );

    // A replace swaps the bytes and leaves exactly one file, a new one.
    assert_eq!(b.put(&alice(), "a", b"second", T0 + 1).await, 6);
    assert_eq!(b.get(&alice(), "a").await.as_deref(), Some(&b"second"[..]));
    let second = b.files();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
    assert_eq!(db.rows("plugin_blobs").await, 1);

    // The empty blob is a blob.
    assert_eq!(b.put(&alice(), "empty", b"", T0).await, 0);
    assert_eq!(b.get(&alice(), "empty").await, Some(Vec::new()));

    let owner = alice();
    let del = |name: &'static str| b.storage.blob_delete(P, C, &owner, name, T0);
    assert!(del("a").await.expect("delete"));
    assert!(!del("a").await.expect("delete again"));
    assert_eq!(b.get(&alice(), "a").await, None);
    assert_eq!(b.files().len(), 1, "only the empty blob's file is left");
}

async fn plugins_categories_and_owners_are_separate(_db: &TestDb, b: &Blobs) {
    b.put(&alice(), "k", b"mine", T0).await;
    let get = |plugin: &'static str, category: &'static str, owner: Owner| {
        let s = b.storage.clone();
        async move {
            s.blob_get(plugin, category, &owner, "k", T0)
                .await
                .expect("get")
        }
    };
    assert_eq!(get(P, C, alice()).await.as_deref(), Some(&b"mine"[..]));
    assert_eq!(get("other", C, alice()).await, None, "another plugin");
    assert_eq!(get(P, "avatars", alice()).await, None, "another category");
    assert_eq!(
        get(P, C, user("bob@example.com")).await,
        None,
        "another owner"
    );
    assert_eq!(get(P, C, Owner::Service).await, None, "the service");
    // Another plugin's delete of the same key touches nothing of ours.
    assert!(
        !b.storage
            .blob_delete("other", C, &alice(), "k", T0)
            .await
            .expect("delete")
    );
    assert_eq!(get(P, C, alice()).await.as_deref(), Some(&b"mine"[..]));
}

async fn expired_blobs_read_as_absent_and_are_purged(db: &TestDb, b: &Blobs) {
    b.put_as_alice("soon", b"x".to_vec(), Some(T0 + 10), None)
        .await
        .expect("put");
    b.put_as_alice("later", b"x".to_vec(), Some(T0 + 1000), None)
        .await
        .expect("put");
    let alice = alice();
    let get = |now: u64| b.storage.blob_get(P, C, &alice, "soon", now);
    assert!(get(T0 + 9).await.expect("get").is_some());
    assert_eq!(
        get(T0 + 10).await.expect("get"),
        None,
        "expired at its time"
    );
    assert_eq!(b.storage.purge_expired(T0 + 10).await.expect("purge"), 1);
    assert_eq!(db.rows("plugin_blobs").await, 1);
    assert_eq!(b.files().len(), 1, "the expired blob's file went with it");
}

async fn retention_deletes_rows_and_files(db: &TestDb, b: &Blobs) {
    let bob = user("bob@example.com");
    for i in 0..3u64 {
        b.put(&alice(), &format!("a{i}"), b"a", T0 + i * 1000).await;
        b.put(&bob, &format!("b{i}"), b"b", T0 + i * 1000).await;
    }
    assert_eq!(b.files().len(), 6);
    // Max age: written before T0 + 1500 goes.
    let n = b
        .storage
        .enforce_retention(P, C, Some(Duration::from_millis(1500)), None, T0 + 3000)
        .await
        .expect("retention");
    assert_eq!(n, 4);
    assert_eq!(b.files().len(), 2);
    assert!(b.get(&alice(), "a1").await.is_none());
    assert!(b.get(&alice(), "a2").await.is_some());

    // Max items: each owner keeps its newest.
    b.put(&alice(), "a3", b"a", T0 + 4000).await;
    let n = b
        .storage
        .enforce_retention(P, C, None, Some(1), T0 + 4000)
        .await
        .expect("retention");
    assert_eq!(n, 1);
    assert!(b.get(&alice(), "a2").await.is_none());
    assert!(b.get(&alice(), "a3").await.is_some());
    assert!(b.get(&bob, "b2").await.is_some());
    assert_eq!(db.rows("plugin_blobs").await, 2);
    assert_eq!(b.files().len(), 2);
}

async fn delete_account_deletes_the_users_blobs_and_files(db: &TestDb, b: &Blobs) {
    b.storage
        .create_account("alice", &creds(), 0)
        .await
        .expect("account");
    b.put(&alice(), "one", b"1", T0).await;
    b.put(&alice(), "two", b"2", T0).await;
    // Not alice: another localpart sharing her prefix, and a room of her name.
    b.put(&user("alicea@example.com"), "k", b"3", T0).await;
    b.storage
        .blob_put(
            P,
            C,
            &Owner::Room(BareJid::new("alice@muc.example.com").expect("jid")),
            "k",
            b"4".to_vec(),
            None,
            None,
            T0,
        )
        .await
        .expect("room put");
    assert_eq!(b.files().len(), 4);

    assert!(b.storage.delete_account("alice").await.expect("delete"));
    assert_eq!(db.rows("plugin_blobs").await, 2);
    assert_eq!(b.files().len(), 2, "alice's files are gone from disk");
    assert!(b.get(&alice(), "one").await.is_none());
    assert!(b.get(&user("alicea@example.com"), "k").await.is_some());
}

async fn delete_owner_deletes_a_rooms_blobs(db: &TestDb, b: &Blobs) {
    let room = Owner::Room(BareJid::new("room@muc.example.com").expect("jid"));
    let put = |owner: Owner| {
        let s = b.storage.clone();
        async move {
            s.blob_put(P, C, &owner, "k", b"x".to_vec(), None, None, T0)
                .await
                .expect("put")
        }
    };
    put(room.clone()).await;
    put(alice()).await;
    assert_eq!(b.storage.delete_owner(&room).await.expect("delete"), 1);
    assert_eq!(db.rows("plugin_blobs").await, 1);
    assert_eq!(b.files().len(), 1);
}

async fn quota_refuses_without_losing_the_old_blob(db: &TestDb, b: &Blobs) {
    let put = |name: &'static str, len: usize| b.put_as_alice(name, vec![7; len], None, Some(10));
    put("a", 6).await.expect("within quota");
    assert!(matches!(
        put("b", 5).await,
        Err(StorageError::QuotaExceeded)
    ));
    assert!(matches!(
        put("a", 11).await,
        Err(StorageError::QuotaExceeded)
    ));
    // A replace counts the new size, not old plus new.
    put("a", 10).await.expect("replace within quota");
    assert!(matches!(
        put("a", 11).await,
        Err(StorageError::QuotaExceeded)
    ));
    assert_eq!(b.get(&alice(), "a").await, Some(vec![7; 10]));
    assert_eq!(db.rows("plugin_blobs").await, 1);
    assert_eq!(b.files().len(), 1, "refused writes leave no file");
    // Another plugin has its own quota.
    b.storage
        .blob_put("other", C, &alice(), "a", vec![1; 10], None, Some(10), T0)
        .await
        .expect("other plugin");
}

async fn orphan_files_are_swept_after_the_grace_period(_db: &TestDb, b: &Blobs) {
    b.put(&alice(), "kept", b"kept", T0).await;
    let kept = b.files();
    let old_orphan = b.dir.join("0123456789abcdef0123456789abcdef");
    let young_orphan = b.dir.join("fedcba9876543210fedcba9876543210");
    let old_temp = b.dir.join("00000000000000000000000000000000.tmp");
    let foreign = b.dir.join("README");
    for path in [&old_orphan, &young_orphan, &old_temp, &foreign] {
        std::fs::write(path, b"x").expect("write");
    }
    let hour = Duration::from_secs(3600);
    for path in [&old_orphan, &old_temp, &foreign, &b.dir.join(&kept[0])] {
        age(path, 2 * hour);
    }
    assert_eq!(b.storage.sweep_orphan_blobs(hour).await.expect("sweep"), 2);
    let mut left = vec![
        kept[0].clone(),
        "README".to_owned(),
        "fedcba9876543210fedcba9876543210".to_owned(),
    ];
    left.sort();
    assert_eq!(b.files(), left);
    assert_eq!(b.get(&alice(), "kept").await.as_deref(), Some(&b"kept"[..]));
}

async fn hostile_and_invalid_names(db: &TestDb, b: &Blobs) {
    let hostile = "../../etc/passwd";
    b.put(&alice(), hostile, b"root", T0).await;
    assert_eq!(
        b.get(&alice(), hostile).await.as_deref(),
        Some(&b"root"[..])
    );
    let files = b.files();
    assert_eq!(files.len(), 1);
    assert!(files[0].bytes().all(|c| c.is_ascii_hexdigit()));
    let parent = b.dir.parent().expect("parent");
    assert_eq!(
        files_in(parent),
        ["blobs"],
        "nothing outside the blob directory"
    );

    let long = "n".repeat(MAX_BLOB_NAME);
    let too_long = "n".repeat(MAX_BLOB_NAME + 1);
    let x = || b"x".to_vec();
    assert!(matches!(
        b.put_as_alice("a\0b", x(), None, None).await,
        Err(StorageError::Invalid(_))
    ));
    assert!(matches!(
        b.put_as_alice(&too_long, x(), None, None).await,
        Err(StorageError::Invalid(_))
    ));
    b.put_as_alice(&long, x(), None, None)
        .await
        .expect("longest name");

    // A storage without a blob directory says so instead of writing anywhere.
    let bare = db.storage.clone();
    assert!(matches!(
        bare.blob_put(P, C, &alice(), "k", vec![1], None, None, T0)
            .await,
        Err(StorageError::NoBlobDir)
    ));
}
