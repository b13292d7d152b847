//! Plugin events and timers (`on-event`, issue 3) with real components in a real server: the
//! `watcher` fixture subscribes to every event kind and has a 1-second timer; `registrar` (the
//! same source) subscribes to the session events only. Both record what they get in `ephemeral`
//! and report it when a client messages their service, and both create and remove accounts
//! through `accounts`.
//!
//! Covered: login, unavailable presence and logout reach subscribers as session events; a
//! plugin's `accounts.create` makes an account a real client logs in to and `accounts.remove`
//! closes its session and deletes it; user events reach subscribers only; the timer fires
//! repeatedly, keeps running across a reload and stops when a reload drops it; a slow plugin
//! with a full queue does not slow logins down (its events are dropped instead); `inspect` lists
//! event subscriptions and timers.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpStream;

mod common;
use common::plugin_server::*;

const GRANTS: &str = "grants = [\"router\", \"ephemeral\", \"accounts\", \"clock\"]";

/// What a fixture reported: its tick count and the events it recorded, oldest first.
#[derive(Debug)]
struct Report {
    ticks: u64,
    events: Vec<String>,
}

impl Report {
    fn has(&self, line: &str) -> bool {
        self.events.iter().any(|e| e == line)
    }

    fn position(&self, line: &str) -> Option<usize> {
        self.events.iter().position(|e| e == line)
    }
}

/// Asks `service` for its report.
async fn report(c: &mut Client, service: &str) -> anyhow::Result<Report> {
    let answer = ask(c, service, "report").await?;
    let mut parts = answer.split(';');
    let ticks = parts
        .next()
        .and_then(|t| t.strip_prefix("ticks="))
        .context("report without ticks")?
        .parse()?;
    Ok(Report {
        ticks,
        events: parts.map(str::to_owned).collect(),
    })
}

/// Sends a command to a fixture's service and returns its answer.
async fn ask(c: &mut Client, service: &str, command: &str) -> anyhow::Result<String> {
    c.chat(service, command).await?;
    let m = c.next_named("message").await?;
    body(&m).context("answer without body")
}

/// Polls `service`'s report until `done` holds (events are delivered after the fact).
async fn wait_for(
    c: &mut Client,
    service: &str,
    done: impl Fn(&Report) -> bool,
) -> anyhow::Result<Report> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = report(c, service).await?;
        if done(&r) {
            return Ok(r);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out; last report: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs in with a password other than the harness's, and sends initial presence.
async fn login_as(server: &TestServer, user: &str, password: &str) -> anyhow::Result<Client> {
    let mut c = Client::new(TcpStream::connect(server.addr).await?);
    c.open().await?;
    c.login(user, password).await?;
    c.send("<presence/>").await?;
    c.next_named("presence").await?;
    Ok(c)
}

/// Reads until the server closes the stream; returns the stream error's children's names.
async fn closed_with(c: &mut Client) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match c.event().await {
            Ok(tessera_xml::Event::Stanza(el)) => {
                if el.name() == "error" {
                    seen = el.children().map(|e| e.name().to_owned()).collect();
                }
            }
            Ok(tessera_xml::Event::StreamClose) | Err(_) => return seen,
            Ok(_) => {}
        }
    }
}

fn both() -> String {
    // The default 50 ms `timeout`: `accounts.create` derives SCRAM keys (PBKDF2, slow on
    // purpose, slower still in a debug build), host time the deadline does not count.
    let extra = GRANTS.to_owned();
    format!(
        "{}{}",
        plugin("watcher", &extra),
        plugin("registrar", &extra)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_coming_and_going_reach_subscribers() -> anyhow::Result<()> {
    let server = TestServer::start(&both()).await?;
    let mut alice = server.login("alice").await?;
    let bob = server.login("bob").await?;
    let bob_jid = bob.jid.clone();
    drop(bob);
    let mut carol = server.login("carol").await?;
    // RFC 6121 §4.5: unavailable presence ends availability; the next presence is initial again.
    carol.send("<presence type='unavailable'/>").await?;
    carol.send("<presence/>").await?;
    carol.next_named("presence").await?;

    for service in ["watcher.localhost", "registrar.localhost"] {
        let carol_on = format!("session-available {}", carol.jid);
        let carol_off = format!("session-unavailable {}", carol.jid);
        let r = wait_for(&mut alice, service, |r| {
            r.has(&format!("session-unavailable {bob_jid}"))
                && r.events.iter().filter(|e| **e == carol_on).count() == 2
        })
        .await?;
        assert!(r.has(&format!("session-available {}", alice.jid)), "{r:?}");
        // Per plugin, events keep their order.
        let bob_on = r.position(&format!("session-available {bob_jid}"));
        let bob_off = r.position(&format!("session-unavailable {bob_jid}"));
        assert!(bob_on.is_some() && bob_on < bob_off, "{r:?}");
        assert!(r.has(&carol_off), "{r:?}");
        // Nobody created or removed an account.
        assert!(!r.events.iter().any(|e| e.starts_with("user-")), "{r:?}");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_creates_and_removes_accounts_and_subscribers_hear_of_it() -> anyhow::Result<()> {
    let server = TestServer::start(&both()).await?;
    let mut alice = server.login("alice").await?;

    // accounts.create: nodeprep as `tessera user add`; a taken name is `invalid`.
    let created = ask(&mut alice, "registrar.localhost", "create Dave dave-secret").await?;
    assert_eq!(created, "created dave@localhost");
    for command in ["create alice pw", "create a@b pw", "create a:b pw"] {
        let answer = ask(&mut alice, "registrar.localhost", command).await?;
        assert_eq!(answer, "error: invalid", "{command}");
    }
    assert!(server.storage.account_exists("dave").await?);

    // A real client logs in to it with the plugin's password.
    let mut dave = login_as(&server, "dave", "dave-secret").await?;
    let dave_jid = dave.jid.clone();
    // Something the account owns: a roster item (RFC 6121 §2.3).
    dave.send(
        "<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='alice@localhost'/></query></iq>",
    )
    .await?;
    while dave.next_named("iq").await?.attr("id") != Some("r") {}
    assert_eq!(server.storage.roster("dave").await?.1.len(), 1);

    // accounts.remove closes the session (RFC 6120 §4.9.3.12) and deletes the account.
    let removed = ask(&mut alice, "registrar.localhost", "remove dave@localhost").await?;
    assert_eq!(removed, "removed true");
    let error = closed_with(&mut dave).await;
    assert!(error.iter().any(|c| c == "not-authorized"), "{error:?}");
    assert!(!server.storage.account_exists("dave").await?);
    assert!(server.storage.roster("dave").await?.1.is_empty());
    assert!(login_as(&server, "dave", "dave-secret").await.is_err());
    let again = ask(&mut alice, "registrar.localhost", "remove dave@localhost").await?;
    assert_eq!(again, "removed false");
    let foreign = ask(&mut alice, "registrar.localhost", "remove dave@example.org").await?;
    assert_eq!(foreign, "error: invalid");

    // The subscriber heard it all, in order; the other plugin only of sessions.
    let w = wait_for(&mut alice, "watcher.localhost", |r| {
        r.has("user-removed dave@localhost")
    })
    .await?;
    let order: Vec<_> = [
        "user-created dave@localhost".to_owned(),
        format!("session-available {dave_jid}"),
        "user-removed dave@localhost".to_owned(),
    ]
    .iter()
    .map(|l| w.position(l))
    .collect();
    assert!(order.iter().all(Option::is_some), "{w:?}");
    assert!(order.windows(2).all(|p| p[0] < p[1]), "{w:?}");
    let r = wait_for(&mut alice, "registrar.localhost", |r| {
        r.has(&format!("session-unavailable {dave_jid}"))
    })
    .await?;
    assert!(!r.events.iter().any(|e| e.starts_with("user-")), "{r:?}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_fires_repeatedly_keeps_running_across_reload_and_stops_when_dropped()
-> anyhow::Result<()> {
    // A copy of the component under the config's path, so a reload can load other code.
    let files = tempfile::tempdir()?;
    let path = files.path().join("watcher.wasm");
    std::fs::copy(fixture("watcher"), &path)?;
    let server =
        TestServer::start(&format!("[plugins.watcher]\npath = {path:?}\n{GRANTS}\n")).await?;
    let mut alice = server.login("alice").await?;

    let first = wait_for(&mut alice, "watcher.localhost", |r| r.ticks >= 2).await?;
    server.plugins.reload("watcher").await?;
    let after = wait_for(&mut alice, "watcher.localhost", |r| {
        r.ticks >= first.ticks + 2
    })
    .await?;
    assert!(after.ticks >= 4, "{after:?}");

    // The same config name now runs code with no timer (the registrar manifest): it stops.
    std::fs::copy(fixture("registrar"), &path)?;
    server.plugins.reload("watcher").await?;
    let stopped = report(&mut alice, "registrar.localhost").await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = report(&mut alice, "registrar.localhost").await?;
    assert_eq!(stopped.ticks, later.ticks, "a dropped timer keeps firing");
    assert!(stopped.ticks >= after.ticks);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_event_queue_drops_events_instead_of_stalling_logins() -> anyhow::Result<()> {
    // One queued event at most; each takes the plugin a second.
    let server = TestServer::start(&plugin(
        "watcher",
        &format!(
            "{GRANTS}\nevent_queue = 1\ntimeout = \"3s\"\ninstances = 3\n\
             [plugins.watcher.config]\nslow_ms = 1000\n"
        ),
    ))
    .await?;
    let start = Instant::now();
    let logins = 6;
    for _ in 0..logins {
        let c = server.login("bob").await?;
        drop(c);
    }
    let elapsed = start.elapsed();
    // Twelve events at a second each would take twelve seconds if logins waited on them.
    assert!(elapsed < Duration::from_secs(5), "logins took {elapsed:?}");

    // The plugin still answers, works through what it kept and then has nothing more.
    let mut alice = server.login("alice").await?;
    let mut last = wait_for(&mut alice, "watcher.localhost", |r| !r.events.is_empty()).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let now = report(&mut alice, "watcher.localhost").await?;
        if now.events.len() == last.events.len() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "queue never drained: {now:?}");
        last = now;
    }
    let bob_events = last
        .events
        .iter()
        .filter(|e| e.contains("bob@localhost"))
        .count();
    assert!(bob_events < 2 * logins, "no event was dropped: {last:?}");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_lists_event_subscriptions_and_timers() -> anyhow::Result<()> {
    let w = tessera::plugins::inspect(&fixture("watcher")).await?;
    for line in [
        "event user-created",
        "event user-removed",
        "event session-available",
        "event session-unavailable",
        "timer tick every 1s",
    ] {
        assert!(w.subscriptions.iter().any(|s| s == line), "{line}: {w}");
    }
    let r = tessera::plugins::inspect(&fixture("registrar")).await?;
    assert!(
        !r.subscriptions
            .iter()
            .any(|s| s.starts_with("timer") || s.starts_with("event user-")),
        "{r}"
    );
    Ok(())
}
