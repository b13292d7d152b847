//! `watcher`: records the server events it gets (`on-event`) and counts its timer's ticks, in
//! `ephemeral` (shared by its instances, kept across reloads), and creates and removes accounts
//! (`accounts`). Serves `<name>.<domain>`, where `<name>` comes from the package name:
//!
//! - `fixture-watcher` subscribes to all four event kinds and has a 1-second timer `tick`;
//! - `fixture-registrar` (same source) subscribes to the session events only and has no timer.
//!
//! A chat message's body is a command; the answer comes back as a chat message:
//!
//! - `report`: `ticks=N` then one `;`-separated line per recorded event, oldest first, e.g.
//!   `ticks=3;session-available alice@localhost/x;user-created dave@localhost`
//! - `create NAME PASSWORD`: `accounts.create` → `created JID`, or `error: <case>`
//! - `remove JID`: `accounts.remove` → `removed true|false`, or `error: <case>`
//!
//! With `slow_ms = N` in its config, every event other than a timer busy-waits N ms (on the
//! `clock`) before it is recorded: a slow plugin, to fill its event queue.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "plugin",
});

/// Pieces every fixture shares (they bind the WIT themselves, so the types are per crate).
#[allow(dead_code, reason = "each fixture uses part of the shared pieces")]
mod fixture {
    include!("../../fixture.rs");
}

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{EventKind, Manifest, Timer};
use tessera::plugin::types::{ErrorType, Stanza, StanzaError};
use tessera::plugin::{accounts, clock, ephemeral, router};

struct Watcher;

fn is_watcher() -> bool {
    fixture::name() == "watcher"
}

/// Rewrites `key` with `f(old)`, with compare-and-swap: instances run concurrently.
fn update(key: &str, f: impl Fn(Option<&[u8]>) -> Vec<u8>) {
    loop {
        let old = ephemeral::get(key);
        let new = f(old.as_deref());
        match ephemeral::compare_and_swap(key, old.as_deref(), &new) {
            Ok(true) | Err(_) => return,
            Ok(false) => continue,
        }
    }
}

fn ticks() -> u64 {
    ephemeral::get("ticks")
        .as_deref()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn record(line: &str) {
    update("log", |old| {
        let mut log = old.map(<[u8]>::to_vec).unwrap_or_default();
        log.extend_from_slice(b";");
        log.extend_from_slice(line.as_bytes());
        log
    });
}

/// Busy-waits the configured `slow_ms` (0 unless configured).
fn be_slow() {
    let ms = ephemeral::get("slow_ms")
        .as_deref()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes);
    let until = clock::now() + ms;
    while clock::now() < until {}
}

fn run(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["report"] => {
            let log = ephemeral::get("log").unwrap_or_default();
            format!("ticks={}{}", ticks(), String::from_utf8_lossy(&log))
        }
        ["create", user, password] => match accounts::create(user, password) {
            Ok(jid) => format!("created {jid}"),
            Err(e) => fixture::show(e),
        },
        ["remove", jid] => match accounts::remove(jid) {
            Ok(found) => format!("removed {found}"),
            Err(e) => fixture::show(e),
        },
        _ => "unknown command".into(),
    }
}

impl Guest for Watcher {
    fn describe() -> Manifest {
        let mut m = fixture::service_manifest(fixture::name());
        if is_watcher() {
            m.events = vec![
                EventKind::UserCreated,
                EventKind::UserRemoved,
                EventKind::SessionAvailable,
                EventKind::SessionUnavailable,
            ];
            m.timers = vec![Timer {
                name: "tick".into(),
                interval_seconds: 1,
            }];
        } else {
            m.events = vec![EventKind::SessionAvailable, EventKind::SessionUnavailable];
        }
        m
    }

    fn init(config: String) -> Result<(), String> {
        // Fresh instances are not `init`ed: what they need goes to `ephemeral`.
        let slow_ms = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("slow_ms"))
            .map(|rest| rest.trim_start_matches([' ', '=']).trim())
            .map(|n| n.parse::<u64>().map_err(|_| "slow_ms: not a number".to_owned()))
            .transpose()?
            .unwrap_or(0);
        ephemeral::set("slow_ms", &slow_ms.to_be_bytes()).map_err(|_| "ephemeral full".to_owned())
    }

    fn on_stanza(_ctx: StanzaContext, stanza: Stanza) -> Verdict {
        if stanza.type_ == "error" {
            return Verdict::Drop;
        }
        let Some(command) = fixture::body(&stanza.xml) else {
            return Verdict::Drop;
        };
        let answer = run(command);
        let reply = format!(
            "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>{}</body></message>",
            fixture::escape(&stanza.to),
            fixture::escape(&stanza.from),
            fixture::escape(&answer),
        );
        match router::send(&reply) {
            Ok(()) => Verdict::Handled,
            Err(_) => Verdict::Error(StanzaError {
                type_: ErrorType::Wait,
                condition: "internal-server-error".into(),
                text: None,
            }),
        }
    }

    fn on_event(event: Event) {
        let line = match event {
            Event::Timer(name) => {
                if name == "tick" {
                    update("ticks", |old| {
                        let n = old
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            .map_or(0, u64::from_be_bytes);
                        (n + 1).to_be_bytes().to_vec()
                    });
                } else {
                    record(&format!("timer {name}"));
                }
                return;
            }
            Event::UserCreated(j) => format!("user-created {j}"),
            Event::UserRemoved(j) => format!("user-removed {j}"),
            Event::SessionAvailable(j) => format!("session-available {j}"),
            Event::SessionUnavailable(j) => format!("session-unavailable {j}"),
        };
        be_slow();
        record(&line);
    }

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Watcher);
