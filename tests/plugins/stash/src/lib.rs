//! `stash`: blobs through the `blobs` capability. Serves `<name>.<domain>`, where `<name>` comes
//! from the package name (`fixture-stash` → `stash`, `fixture-stash2` → `stash2`), so the same
//! source runs as two plugins. A chat message's body is a command, run for the sender's account
//! (owner `user`), and the answer comes back as a chat message. Bytes travel as lowercase hex.
//!
//! - `put CATEGORY NAME HEX [EXPIRES_MS]`: `blobs.put` → `ok SIZE`
//! - `fill CATEGORY NAME N`: `blobs.put` of N bytes `0, 1, …, 255, 0, …` → `ok SIZE`
//! - `get CATEGORY NAME`: `blobs.get` → the bytes in hex, or `none`
//! - `del CATEGORY NAME`: `blobs.delete` → `true` or `false`
//!
//! Errors come back as `error: <case>` (the WIT error's case name). Only the category `files`
//! (owned by users) is declared.

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
use tessera::plugin::blobs;
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{DataDeclaration, Manifest, OwnerKind, Visibility};
use tessera::plugin::router;
use tessera::plugin::types::{Error, ErrorType, Owner, Stanza, StanzaError};

struct Stash;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn run(owner: &Owner, command: &str) -> Result<String, Error> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let put = |c: &str, n: &str, data: Vec<u8>, exp: Option<u64>| {
        blobs::put(c, owner, n, &data, exp).map(|size| format!("ok {size}"))
    };
    match words.as_slice() {
        ["put", c, n, h] | ["put", c, n, h, _] => {
            let Some(data) = unhex(h) else {
                return Ok("bad hex".into());
            };
            let exp = words.get(4).and_then(|e| e.parse().ok());
            put(c, n, data, exp)
        }
        ["fill", c, n, len] => {
            let len: usize = len.parse().unwrap_or(0);
            put(c, n, (0..len).map(|i| (i % 256) as u8).collect(), None)
        }
        ["get", c, n] => {
            blobs::get(c, owner, n).map(|v| v.map_or_else(|| "none".into(), |v| hex(&v)))
        }
        ["del", c, n] => blobs::delete(c, owner, n).map(|found| found.to_string()),
        _ => Ok("unknown command".into()),
    }
}

impl Guest for Stash {
    fn describe() -> Manifest {
        let mut m = fixture::service_manifest(fixture::name());
        m.data = vec![DataDeclaration {
            category: "files".into(),
            purpose: "Files a user asked the service to keep.".into(),
            owner: OwnerKind::User,
            visibility: Visibility::Owner,
            third_parties: vec![],
            default_max_age_seconds: None,
            default_max_items: None,
        }];
        m
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn on_stanza(_ctx: StanzaContext, stanza: Stanza) -> Verdict {
        if stanza.type_ == "error" {
            return Verdict::Drop;
        }
        let Some(command) = fixture::body(&stanza.xml) else {
            return Verdict::Drop;
        };
        // The sender's bare JID: the host always sets `from` on a client's stanza.
        let user = stanza.from.split('/').next().unwrap_or_default().to_owned();
        let answer = run(&Owner::User(user), command).unwrap_or_else(fixture::show);
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

    fn on_event(_event: Event) {}

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Stash);
