//! The plugin runtime with real components (`tests/plugins/*`, built for wasm32-wasip2) in a
//! real server on `127.0.0.1:0`, driven by a small raw client: echo answers; a looping plugin is
//! stopped at its deadline while other sessions keep chatting; a memory hog is stopped; a plugin
//! importing an ungranted capability is refused at load; a trapped instance is replaced; the
//! circuit breaker disables a crashing plugin; a reload keeps sessions; plugin data (`kv`,
//! `archive`) stays with its plugin, its declared category and its owner, and goes with the
//! owner's account or the operator's retention.
//!
//! The harness (fixtures, server, client) is `common::plugin_server`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tessera::Server;

mod common;
use common::plugin_server::*;

// ---- tests ----

/// `router.send` speaks for a local account only with the operator's `router.impersonate` grant,
/// and a message to a full JID with no session is an error the plugin sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_its_grant_and_absent_sessions_are_errors() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router\", \"ephemeral\"]",
    ))
    .await?;
    let mut alice = server.login("alice").await?;
    alice.chat("echo.localhost", "as bob@localhost").await?;
    let refused = alice.next_named("message").await?;
    assert_eq!(refused.attr("type"), Some("error"));
    assert_eq!(condition(&refused).as_deref(), Some("forbidden"));
    alice
        .chat("echo.localhost", "to bob@localhost/gone")
        .await?;
    let refused = alice.next_named("message").await?;
    assert_eq!(
        condition(&refused).as_deref(),
        Some("recipient-unavailable")
    );
    server.stop().await?;

    // `router.impersonate` implies `router`.
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router.impersonate\", \"ephemeral\"]",
    ))
    .await?;
    let mut alice = server.login("alice").await?;
    alice.chat("echo.localhost", "as bob@localhost").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(reply.attr("from"), Some("bob@localhost"));
    assert_eq!(body(&reply).as_deref(), Some("impersonated"));
    let mut bob = server.login("bob").await?;
    let to = bob.jid.clone();
    alice.chat("echo.localhost", &format!("to {to}")).await?;
    let sent = bob.next_named("message").await?;
    assert_eq!(sent.attr("from"), Some("echo.localhost"));
    assert_eq!(body(&sent).as_deref(), Some("forwarded"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_a_client_and_is_listed_in_disco() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router\", \"ephemeral\"]",
    ))
    .await?;
    let mut alice = server.login("alice").await?;

    alice.chat("echo.localhost", "hello &amp; welcome").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(reply.attr("from"), Some("echo.localhost"));
    assert_eq!(reply.attr("to"), Some(alice.jid.as_str()));
    assert_eq!(body(&reply).as_deref(), Some("echo 1: hello & welcome"));

    // Any JID under the service domain reaches it, and it may answer as that JID.
    alice.chat("bot@echo.localhost/x", "again").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(reply.attr("from"), Some("bot@echo.localhost/x"));
    assert_eq!(body(&reply).as_deref(), Some("echo 2: again"));

    // The plugin's error verdict reaches the client as a stanza error.
    alice
        .send("<iq type='get' id='v' to='echo.localhost'><query xmlns='jabber:iq:version'/></iq>")
        .await?;
    let iq = alice.next_named("iq").await?;
    assert_eq!(iq.attr("type"), Some("error"));
    assert_eq!(condition(&iq).as_deref(), Some("feature-not-implemented"));

    // XEP-0030: the server's items list the service.
    alice
        .send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await?;
    let items = alice.next_named("iq").await?;
    let jids: Vec<_> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .context("items query")?
        .children()
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect();
    assert_eq!(jids, ["echo.localhost"]);

    // An unserved subdomain is still not ours.
    alice.chat("nobody.localhost", "x").await?;
    let bounce = alice.next_named("message").await?;
    assert_eq!(
        condition(&bounce).as_deref(),
        Some("remote-server-not-found")
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builtin_plugin_loads_from_the_binary_without_a_file() -> anyhow::Result<()> {
    // `examples/echo-bot`, embedded by plugins-build; the operator writes only its grants.
    let server = TestServer::start(
        "[plugins.echo]\nbuiltin = \"echo-bot\"\ngrants = [\"log\", \"router\"]\n",
    )
    .await?;
    let mut alice = server.login("alice").await?;
    alice.chat("echo.localhost", "from the binary").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(reply.attr("from"), Some("echo.localhost"));
    assert_eq!(body(&reply).as_deref(), Some("from the binary"));
    // Compiled once into the cache like a file's component.
    let cached = std::fs::read_dir(server.dir.path().join("data/plugin-cache"))?.count();
    assert_eq!(cached, 1);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_component_under_two_names_is_two_plugins() -> anyhow::Result<()> {
    // The identity is the config name: the same component twice is two plugins, but what is
    // addressed from outside, the service label, has one owner only…
    let echo = "builtin = \"echo-bot\"\ngrants = [\"log\", \"router\"]\n";
    let dir = tempfile::tempdir()?;
    let err = Server::bind(config(
        dir.path(),
        &format!("[plugins.a]\n{echo}[plugins.b]\n{echo}"),
    )?)
    .await
    .err()
    .context("two owners of the echo service must be refused")?;
    assert_eq!(
        format!("{err:#}"),
        "plugins: plugins a and b both claim the service \"echo\""
    );
    // …so the operator renames one, and both serve.
    let server = TestServer::start(&format!(
        "[plugins.a]\n{echo}[plugins.b]\n{echo}[plugins.b.services]\necho = \"echo2\"\n"
    ))
    .await?;
    assert_eq!(
        server.plugins.service_domains(),
        ["echo.localhost", "echo2.localhost"]
    );
    let mut alice = server.login("alice").await?;
    for to in ["echo.localhost", "echo2.localhost"] {
        alice.chat(to, "hi").await?;
        let reply = alice.next_named("message").await?;
        assert_eq!(reply.attr("from"), Some(to));
    }
    server.stop().await?;
    // Renaming a label the plugin does not serve names the key.
    let err = Server::bind(config(
        dir.path(),
        &format!("[plugins.a]\n{echo}[plugins.a.services]\nmuc = \"rooms\"\n"),
    )?)
    .await
    .err()
    .context("renaming an undeclared label must be refused")?;
    assert!(
        format!("{err:#}").contains("plugins.a.services.muc: the plugin serves no \"muc\""),
        "{err:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looper_is_stopped_at_its_deadline_while_others_keep_chatting() -> anyhow::Result<()> {
    let server =
        TestServer::start(&plugin("looper", "timeout = \"1500ms\"\ninstances = 1")).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let mut carol = server.login("carol").await?;
    let bob_jid = bob.jid.clone();
    let carol_jid = carol.jid.clone();

    let started = Instant::now();
    alice.chat("looper.localhost", "spin").await?;
    // While the guest spins (it yields at every epoch tick), bob and carol chat.
    for i in 0..5 {
        bob.chat(&carol_jid, &format!("ping {i}")).await?;
        let m = carol.next_named("message").await?;
        assert_eq!(body(&m), Some(format!("ping {i}")));
        carol.chat(&bob_jid, &format!("pong {i}")).await?;
        let m = bob.next_named("message").await?;
        assert_eq!(body(&m), Some(format!("pong {i}")));
    }
    let chatted = started.elapsed();
    let reply = alice.next_named("message").await?;
    let stopped = started.elapsed();
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(condition(&reply).as_deref(), Some("internal-server-error"));
    assert!(
        chatted < Duration::from_millis(1500),
        "others waited for the looping guest ({chatted:?})"
    );
    assert!(
        stopped >= Duration::from_millis(1500) && stopped < Duration::from_secs(5),
        "stopped after {stopped:?}"
    );
    assert_eq!(server.plugins.is_disabled("looper"), Some(false));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hog_is_stopped_at_its_memory_cap() -> anyhow::Result<()> {
    let plugins = plugin("hog", "memory = \"16MiB\"\ntimeout = \"5s\"")
        + &plugin("echo", "grants = [\"log\", \"router\", \"ephemeral\"]");
    let server = TestServer::start(&plugins).await?;
    let mut alice = server.login("alice").await?;
    let started = Instant::now();
    alice.chat("hog.localhost", "eat").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(condition(&reply).as_deref(), Some("internal-server-error"));
    // Stopped by the cap, long before the deadline.
    assert!(started.elapsed() < Duration::from_secs(4));
    // The server and the other plugin carry on.
    alice.chat("echo.localhost", "still here").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: still here"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_is_refused_at_load_naming_plugin_and_interface() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let err = Server::bind(config(dir.path(), &plugin("greedy", "grants = [\"log\"]"))?)
        .await
        .err()
        .context("greedy was loaded without the accounts grant")?;
    let message = format!("{err:#}");
    assert!(message.contains("plugin greedy"), "{message}");
    assert!(message.contains("`accounts`"), "{message}");

    // Granted, it loads.
    let dir = tempfile::tempdir()?;
    let server = Server::bind(config(
        dir.path(),
        &plugin("greedy", "grants = [\"accounts\"]"),
    )?)
    .await?;
    assert_eq!(server.plugins().names(), ["greedy"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapped_instance_is_replaced_and_the_next_stanza_served() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router\", \"ephemeral\"]\ninstances = 1\n\
         [plugins.echo.config]\ntag = \"kept\"",
    ))
    .await?;
    let mut alice = server.login("alice").await?;
    alice.chat("echo.localhost", "crash").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(condition(&reply).as_deref(), Some("internal-server-error"));
    alice.chat("echo.localhost", "after").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: after"));
    // The replacement was given the operator's config, as the first instance was.
    alice.chat("echo.localhost", "config").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(
        body(&reply).as_deref(),
        Some("echo 2: config tag = \"kept\"")
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_disables_and_reload_restores() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router\", \"ephemeral\"]\nmax_traps = 2",
    ))
    .await?;
    let mut alice = server.login("alice").await?;
    for _ in 0..2 {
        alice.chat("echo.localhost", "crash").await?;
        let reply = alice.next_named("message").await?;
        assert_eq!(condition(&reply).as_deref(), Some("internal-server-error"));
    }
    assert_eq!(server.plugins.is_disabled("echo"), Some(true));
    alice.chat("echo.localhost", "anyone?").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(condition(&reply).as_deref(), Some("service-unavailable"));

    server.plugins.reload("echo").await?;
    assert_eq!(server.plugins.is_disabled("echo"), Some(false));
    alice.chat("echo.localhost", "back").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: back"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_sessions_and_ephemeral_state() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin(
        "echo",
        "grants = [\"log\", \"router\", \"ephemeral\"]",
    ))
    .await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.chat("echo.localhost", "one").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 1: one"));

    // Compiled once, cached on disk (digest + compatibility hash); the reload loads the cache.
    let cache = server.dir.path().join("data/plugin-cache");
    let cached: Vec<_> = std::fs::read_dir(&cache)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one compiled component in {}",
        cache.display()
    );
    server.plugins.reload("echo").await?;
    assert!(matches!(
        server.plugins.reload("nonesuch").await,
        Err(tessera::plugins::PluginError::NotConfigured(_))
    ));

    alice.chat("echo.localhost", "two").await?;
    let reply = alice.next_named("message").await?;
    assert_eq!(body(&reply).as_deref(), Some("echo 2: two"));
    let bob_jid = bob.jid.clone();
    alice.chat(&bob_jid, "still connected").await?;
    let m = bob.next_named("message").await?;
    assert_eq!(body(&m).as_deref(), Some("still connected"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_the_manifest_and_imports() -> anyhow::Result<()> {
    let echo = tessera::plugins::inspect(&fixture("echo")).await?;
    assert_eq!(echo.name, "echo");
    assert_eq!(echo.version, "0.1.0");
    assert_eq!(echo.api_version, "0.1.0");
    let mut caps = echo.capabilities.clone();
    caps.sort();
    assert_eq!(caps, ["ephemeral", "log", "router"]);
    assert_eq!(echo.services, ["echo"]);
    assert_eq!(
        echo.subscriptions,
        [
            "service message * (priority 0)",
            "service iq * (priority 0)"
        ]
    );
    let text = echo.to_string();
    assert!(text.contains("capabilities:"), "{text}");
    let greedy = tessera::plugins::inspect(&fixture("greedy")).await?;
    assert_eq!(greedy.capabilities, ["accounts"]);
    // Commands, HTTP routes and disco additions: what the plugin would add to the server.
    let oracle = tessera::plugins::inspect(&fixture("oracle")).await?;
    assert_eq!(
        oracle.commands,
        [
            "urn:tessera:test:oracle:ask (local users): Ask the oracle",
            "urn:tessera:test:oracle:purge (admins): Purge the oracle"
        ]
    );
    assert_eq!(
        oracle.disco,
        ["identity directory/user", "feature urn:tessera:test:oracle"]
    );
    let webby = tessera::plugins::inspect(&fixture("webby")).await?;
    assert_eq!(webby.http_routes, ["GET /webby/", "POST /webby/"]);
    assert!(
        webby
            .to_string()
            .contains("http routes:   GET /webby/, POST /webby/")
    );
    Ok(())
}

// ---- plugin data (kv, archive) ----

const NOTES_GRANTS: &str = "grants = [\"router\", \"kv\", \"archive\"]";

impl Client {
    /// Sends a command to a `notes` fixture and returns its answer.
    async fn ask(&mut self, service: &str, command: &str) -> anyhow::Result<String> {
        self.chat(service, command).await?;
        let reply = self.next_named("message").await?;
        anyhow::ensure!(
            reply.attr("from") == Some(service),
            "answer from {:?}",
            reply.attr("from")
        );
        body(&reply).context("answer without a body")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_data_is_scoped_by_plugin_and_category() -> anyhow::Result<()> {
    let plugins = plugin("notes", NOTES_GRANTS) + &plugin("notes2", NOTES_GRANTS);
    let server = TestServer::start(&plugins).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let (notes, notes2) = ("notes.localhost", "notes2.localhost");

    assert_eq!(alice.ask(notes, "set colour blue").await?, "ok");
    assert_eq!(alice.ask(notes, "get colour").await?, "blue");
    // The same code under another plugin name reads nothing of the first's data...
    assert_eq!(alice.ask(notes2, "get colour").await?, "none");
    // ...and its own writes do not touch it.
    assert_eq!(alice.ask(notes2, "set colour red").await?, "ok");
    assert_eq!(alice.ask(notes, "get colour").await?, "blue");
    assert_eq!(alice.ask(notes2, "get colour").await?, "red");
    // Records are per owner too.
    assert_eq!(bob.ask(notes, "get colour").await?, "none");

    assert_eq!(alice.ask(notes, "append one").await?, "ok");
    assert_eq!(alice.ask(notes, "append two").await?, "ok");
    assert_eq!(alice.ask(notes, "count").await?, "2");
    assert_eq!(alice.ask(notes2, "count").await?, "0");

    // A category the manifest does not declare is refused.
    assert_eq!(
        alice.ask(notes, "put secrets k v").await?,
        "error: undeclared-category(secrets)"
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_account_deletes_its_plugin_data() -> anyhow::Result<()> {
    let server = TestServer::start(&plugin("notes", NOTES_GRANTS)).await?;
    let notes = "notes.localhost";
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    assert_eq!(alice.ask(notes, "set k alice-value").await?, "ok");
    assert_eq!(alice.ask(notes, "append x").await?, "ok");
    assert_eq!(bob.ask(notes, "set k bob-value").await?, "ok");
    drop(alice);

    assert!(tessera::accounts::remove(&server.storage, "alice").await?);
    // A new account of the same name starts with nothing.
    tessera::accounts::add(&server.storage, &server.config, "alice", "pw").await?;
    let mut alice = server.login("alice").await?;
    assert_eq!(alice.ask(notes, "get k").await?, "none");
    assert_eq!(alice.ask(notes, "count").await?, "0");
    // Other accounts keep theirs.
    assert_eq!(bob.ask(notes, "get k").await?, "bob-value");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_records_when_gc_runs() -> anyhow::Result<()> {
    let plugins = plugin(
        "notes",
        &format!("{NOTES_GRANTS}\n[plugins.notes.retention.notes]\nmax_age = \"1s\""),
    );
    let server = TestServer::start(&plugins).await?;
    let notes = "notes.localhost";
    let mut alice = server.login("alice").await?;
    assert_eq!(alice.ask(notes, "append old").await?, "ok");
    assert_eq!(alice.ask(notes, "count").await?, "1");
    // Retention is by wall-clock age, so the entry has to actually age; a second leaves the
    // newer records room to be checked before they age too, even on a loaded machine.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(alice.ask(notes, "append new").await?, "ok");
    assert!(server.plugins.run_gc_once().await >= 1);
    assert_eq!(alice.ask(notes, "count").await?, "1");

    // A kv value's expiry is capped by the category's max age: it reads as absent once that
    // has passed, and the GC then deletes it.
    assert_eq!(alice.ask(notes, "set k v").await?, "ok");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(alice.ask(notes, "get k").await?, "none");
    assert!(server.plugins.run_gc_once().await >= 1);
    assert_eq!(
        server.plugins.run_gc_once().await,
        0,
        "nothing left to collect"
    );
    server.stop().await
}
