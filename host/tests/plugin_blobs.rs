//! The `blobs` capability with real components: the `stash` fixture (`tests/plugins/stash`, and
//! the same code as `stash2`) stores, reads and deletes blobs on chat messages to its service, in
//! a real server on `127.0.0.1:0`. Binary bytes round-trip; one plugin cannot read another's
//! blobs; an undeclared category and a blob over `blob_max` or `blob_quota` are refused as guest
//! errors, never traps; removing a user deletes its blob rows and files; the GC applies
//! retention to blobs and their files and sweeps orphan files; a hostile name cannot leave the
//! blob directory.
//!
//! The harness (fixtures, server, client) is `common::plugin_server`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

mod common;
use common::plugin_server::*;

const GRANTS: &str = "grants = [\"router\", \"blobs\"]";
const STASH: &str = "stash.localhost";

/// Sends a command to a `stash` fixture and returns its answer.
async fn ask(client: &mut Client, service: &str, command: &str) -> anyhow::Result<String> {
    client.chat(service, command).await?;
    let reply = client.next_named("message").await?;
    anyhow::ensure!(
        reply.attr("from") == Some(service),
        "answer from {:?}",
        reply.attr("from")
    );
    body(&reply).context("answer without a body")
}

fn blob_dir(server: &TestServer) -> PathBuf {
    server.dir.path().join("data").join("blobs")
}

/// The file names in a directory, sorted (none if it does not exist).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_blob_round_trips_and_deletes_its_file() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("stash", GRANTS)).await?;
    let mut alice = server.login("alice").await?;

    // Every byte value, twice round.
    assert_eq!(
        ask(&mut alice, STASH, "fill files bin 512").await?,
        "ok 512"
    );
    let every: Vec<u8> = (0..512).map(|i| (i % 256) as u8).collect();
    assert_eq!(ask(&mut alice, STASH, "get files bin").await?, hex(&every));
    assert_eq!(files_in(&blob_dir(&server)).len(), 1);

    // A replace leaves one file; a delete leaves none.
    assert_eq!(ask(&mut alice, STASH, "put files bin 00ff").await?, "ok 2");
    assert_eq!(ask(&mut alice, STASH, "get files bin").await?, "00ff");
    assert_eq!(files_in(&blob_dir(&server)).len(), 1);
    assert_eq!(ask(&mut alice, STASH, "del files bin").await?, "true");
    assert_eq!(ask(&mut alice, STASH, "del files bin").await?, "false");
    assert_eq!(ask(&mut alice, STASH, "get files bin").await?, "none");
    assert_eq!(files_in(&blob_dir(&server)), Vec::<String>::new());

    // An expiry in the past reads as absent at once.
    assert_eq!(ask(&mut alice, STASH, "put files old 01 1").await?, "ok 1");
    assert_eq!(ask(&mut alice, STASH, "get files old").await?, "none");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_and_users_do_not_share_blobs() -> anyhow::Result<()> {
    let plugins = plugin("stash", GRANTS) + &plugin("stash2", GRANTS);
    let server = TestServer::start(&plugins).await?;
    let stash2 = "stash2.localhost";
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;

    assert_eq!(ask(&mut alice, STASH, "put files k aa").await?, "ok 1");
    // The same code under another plugin name reads nothing of the first's blobs...
    assert_eq!(ask(&mut alice, stash2, "get files k").await?, "none");
    // ...and its own writes and deletes do not touch them.
    assert_eq!(ask(&mut alice, stash2, "put files k bbbb").await?, "ok 2");
    assert_eq!(ask(&mut alice, stash2, "del files k").await?, "true");
    assert_eq!(ask(&mut alice, STASH, "get files k").await?, "aa");
    // Another user of the same plugin has none of alice's.
    assert_eq!(ask(&mut bob, STASH, "get files k").await?, "none");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_category_and_oversize_blobs_are_guest_errors() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "stash",
        &format!("{GRANTS}\nblob_max = 100\nblob_quota = 150"),
    ))
    .await?;
    let mut alice = server.login("alice").await?;

    assert_eq!(
        ask(&mut alice, STASH, "put secrets k 00").await?,
        "error: undeclared-category(secrets)"
    );
    // Over `blob_max`: refused before a byte is written, and the plugin lives on.
    assert_eq!(
        ask(&mut alice, STASH, "fill files big 101").await?,
        "error: quota-exceeded"
    );
    assert_eq!(ask(&mut alice, STASH, "fill files a 100").await?, "ok 100");
    // Over `blob_quota` in total: refused too.
    assert_eq!(
        ask(&mut alice, STASH, "fill files b 51").await?,
        "error: quota-exceeded"
    );
    assert_eq!(ask(&mut alice, STASH, "fill files b 50").await?, "ok 50");
    assert_eq!(files_in(&blob_dir(&server)).len(), 2);
    assert_eq!(server.plugins.is_disabled("stash"), Some(false));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_user_deletes_its_blob_rows_and_files() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("stash", GRANTS)).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    assert_eq!(ask(&mut alice, STASH, "put files one 01").await?, "ok 1");
    assert_eq!(ask(&mut alice, STASH, "put files two 02").await?, "ok 1");
    assert_eq!(ask(&mut bob, STASH, "put files one 03").await?, "ok 1");
    assert_eq!(files_in(&blob_dir(&server)).len(), 3);
    drop(alice);

    assert!(tessera::accounts::remove(&server.storage, "alice").await?);
    assert_eq!(
        files_in(&blob_dir(&server)).len(),
        1,
        "alice's files are gone from disk"
    );
    // A new account of the same name starts with nothing; bob keeps his.
    tessera::accounts::add(&server.storage, &server.config, "alice", "pw").await?;
    let mut alice = server.login("alice").await?;
    assert_eq!(ask(&mut alice, STASH, "get files one").await?, "none");
    assert_eq!(ask(&mut bob, STASH, "get files one").await?, "03");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_applies_retention_to_blobs_and_sweeps_orphan_files() -> anyhow::Result<()> {
    let plugins = plugin(
        "stash",
        &format!("{GRANTS}\n[plugins.stash.retention.files]\nmax_age = \"1s\""),
    );
    let server = TestServer::start(&plugins).await?;
    let mut alice = server.login("alice").await?;
    assert_eq!(ask(&mut alice, STASH, "put files old 01").await?, "ok 1");
    // Retention is by wall-clock age, so the blob has to actually age; a second leaves the
    // new blob room to be checked before it ages too, even on a loaded machine.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ask(&mut alice, STASH, "put files new 02").await?, "ok 1");
    let dir = blob_dir(&server);
    let new_file = files_in(&dir);
    assert_eq!(new_file.len(), 2);

    // An orphan, as a crash between a commit and a file deletion leaves: old enough to sweep.
    let orphan = dir.join("0123456789abcdef0123456789abcdef");
    std::fs::write(&orphan, b"left over")?;
    std::fs::File::options()
        .write(true)
        .open(&orphan)?
        .set_modified(SystemTime::now() - 2 * tessera::plugins::BLOB_ORPHAN_GRACE)?;

    assert!(server.plugins.run_gc_once().await >= 2);
    assert_eq!(ask(&mut alice, STASH, "get files old").await?, "none");
    assert_eq!(ask(&mut alice, STASH, "get files new").await?, "02");
    assert_eq!(
        files_in(&dir).len(),
        1,
        "the old blob's file and the orphan went"
    );
    assert!(!orphan.exists());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_name_cannot_leave_the_blob_directory() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("stash", GRANTS)).await?;
    let mut alice = server.login("alice").await?;
    for name in ["../../etc/passwd", "/etc/passwd", "..", "a/../../b"] {
        assert_eq!(
            ask(&mut alice, STASH, &format!("put files {name} 726f6f74")).await?,
            "ok 4",
            "{name}"
        );
        assert_eq!(
            ask(&mut alice, STASH, &format!("get files {name}")).await?,
            "726f6f74"
        );
    }
    let files = files_in(&blob_dir(&server));
    assert_eq!(files.len(), 4);
    assert!(
        files
            .iter()
            .all(|f| f.len() == 32 && f.bytes().all(|c| c.is_ascii_hexdigit())),
        "host-chosen names only: {files:?}"
    );
    let data = server.dir.path().join("data");
    assert!(!data.join("etc").exists() && !server.dir.path().join("etc").exists());
    assert!(!data.join("b").exists());
    server.stop().await
}
