//! `scope` (WIT 0.1.1) with a real component in a real server: the `narrow` fixture narrows its
//! `incoming` message hook to marked accounts and to messages carrying a direct
//! `<stanza-id xmlns='urn:xmpp:sid:0'/>`, and tags the body with ` [seen]` whenever the host does
//! enter it, so each delivered message shows whether the plugin ran.
//!
//! Covered: an unmarked account's messages skip the plugin; a named child lets a message through
//! whatever the account; a `durable` mark is stored, survives a restart and goes with the account;
//! an `online` mark ends with the account's last session; `unmark`; a JID that is not a local
//! account is `invalid`; the other fixtures, built against the released 0.1.0, load beside it.

use anyhow::Context as _;

mod common;
use common::plugin_server::*;

const NARROW: &str = "grants = [\"router\"]";

/// Sends `command` to the fixture's service and returns its answer.
async fn ask(client: &mut Client, command: &str) -> anyhow::Result<String> {
    client.chat("narrow.localhost", command).await?;
    let reply = client.next_named("message").await?;
    body(&reply).context("an answer without a body")
}

/// Bob sends alice `text`; what alice's client gets.
async fn deliver(bob: &mut Client, alice: &mut Client, extra: &str) -> anyhow::Result<String> {
    bob.send(&format!(
        "<message to='alice@localhost' type='chat'><body>hi</body>{extra}</message>"
    ))
    .await?;
    let got = alice.next_named("message").await?;
    body(&got).context("no body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_hooks_run_only_for_marked_accounts() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("narrow", NARROW)).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;

    // Unmarked: the host never enters the plugin.
    assert_eq!(deliver(&mut bob, &mut alice, "").await?, "hi");
    // A named direct child lets the stanza through whoever it is for.
    let sid = "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='x'/>";
    assert_eq!(deliver(&mut bob, &mut alice, sid).await?, "hi [seen]");

    // Marked (durable): every message to alice goes through the plugin.
    assert_eq!(ask(&mut alice, "mark alice@localhost").await?, "ok");
    assert_eq!(deliver(&mut bob, &mut alice, "").await?, "hi [seen]");
    assert_eq!(
        server.storage.marks().await?,
        [("narrow".to_owned(), "alice@localhost".to_owned())]
    );
    // Marking again changes nothing; unmark removes it, and the row.
    assert_eq!(ask(&mut alice, "mark alice@localhost").await?, "ok");
    assert_eq!(
        ask(&mut alice, "unmark alice@localhost").await?,
        "unmarked true"
    );
    assert_eq!(
        ask(&mut alice, "unmark alice@localhost").await?,
        "unmarked false"
    );
    assert_eq!(deliver(&mut bob, &mut alice, "").await?, "hi");
    assert!(server.storage.marks().await?.is_empty());

    // Only local accounts can be marked.
    assert_eq!(
        ask(&mut alice, "mark someone@elsewhere.example").await?,
        "error: invalid"
    );
    assert_eq!(ask(&mut alice, "mark localhost").await?, "error: invalid");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_marks_end_with_the_last_session() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("narrow", NARROW)).await?;
    let mut alice = server.login("alice").await?;
    let mut second = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    assert_eq!(ask(&mut alice, "online alice@localhost").await?, "ok");
    assert!(
        server.storage.marks().await?.is_empty(),
        "online marks are never stored"
    );
    assert_eq!(server.plugins.marked("narrow"), 1);

    // One of two sessions ends: the mark stays.
    alice.send("</stream:stream>").await?;
    drop(alice);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    bob.send("<message to='alice@localhost' type='chat'><body>hi</body></message>")
        .await?;
    let got = second.next_named("message").await?;
    assert_eq!(body(&got).as_deref(), Some("hi [seen]"));

    // The last one ends: the mark goes.
    second.send("</stream:stream>").await?;
    drop(second);
    while server.plugins.marked("narrow") != 0 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the online mark outlived the account's last session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut alice = server.login("alice").await?;
    assert_eq!(deliver(&mut bob, &mut alice, "").await?, "hi");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_marks_survive_a_restart_and_go_with_the_account() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("narrow", NARROW)).await?;
    let mut alice = server.login("alice").await?;
    assert_eq!(ask(&mut alice, "mark alice@localhost").await?, "ok");
    assert_eq!(ask(&mut alice, "mark bob@localhost").await?, "ok");
    drop(alice);
    let TestServer {
        stop,
        task,
        dir,
        config,
        ..
    } = server;
    stop.cancel();
    task.await??;

    // The same data directory, a new process's worth of state: the marks are read back.
    let again = tessera::Server::bind(config).await?;
    let plugins = again.plugins();
    assert_eq!(plugins.marked("narrow"), 2);
    let storage = again.storage().clone();
    let addr = *again.addrs().c2s.first().context("no listener")?;
    let stop = again.shutdown_token();
    let task = tokio::spawn(again.run());
    let mut alice = Client::connect(addr, "alice").await?;
    let mut bob = Client::connect(addr, "bob").await?;
    assert_eq!(deliver(&mut bob, &mut alice, "").await?, "hi [seen]");

    // Removing bob (as `tessera user remove` does) deletes his stored mark with the account.
    drop(bob);
    assert!(tessera::accounts::remove(&storage, "bob").await?);
    assert_eq!(
        storage.marks().await?,
        [("narrow".to_owned(), "alice@localhost".to_owned())]
    );
    stop.cancel();
    task.await??;
    drop(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_both_api_versions_load_together() -> anyhow::Result<()> {
    let server = TestServer::start(&format!(
        "{}{}",
        plugin("narrow", NARROW),
        plugin("echo", "grants = [\"log\", \"router\", \"ephemeral\"]")
    ))
    .await?;
    let narrow = tessera::plugins::inspect(&fixture("narrow")).await?;
    assert_eq!(narrow.api_version, "0.1.1");
    assert!(
        narrow.unknown_imports.is_empty(),
        "{:?}",
        narrow.unknown_imports
    );
    let echo = tessera::plugins::inspect(&fixture("echo")).await?;
    assert_eq!(echo.api_version, "0.1.0");
    let mut alice = server.login("alice").await?;
    alice.chat("echo.localhost", "both").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: both"));
    server.stop().await
}
