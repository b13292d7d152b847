//! `notes`: persistent per-user data through `kv` and `archive`. Serves `<name>.<domain>`,
//! where `<name>` comes from the package name (`fixture-notes` → `notes`, `fixture-notes2` →
//! `notes2`), so the same source runs as two plugins. A chat message's body is a command, run
//! for the sender's account, and the answer comes back as a chat message:
//!
//! - `set K V`: `kv.set` in the `notes` category → `ok`
//! - `get K`: `kv.get` → the value, or `none`
//! - `put CATEGORY K V`: `kv.set` in any category → `ok`, or the error
//! - `append X`: `archive.append` to the `log` stream → `ok`
//! - `count`: the `log` stream's entry count
//!
//! Errors come back as `error: <case>` (the WIT error's case name).

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
use tessera::plugin::archive::{self, ArchiveQuery};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::kv;
use tessera::plugin::manifest::{
    DataDeclaration, Hook, Manifest, OwnerKind, Subscription, Visibility,
};
use tessera::plugin::router;
use tessera::plugin::types::{Error, ErrorType, Owner, Stanza, StanzaError, StanzaKind};

const CATEGORY: &str = "notes";
const STREAM: &str = "log";

struct Notes;

fn run(owner: &Owner, command: &str) -> Result<String, Error> {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["set", k, v] => kv::set(CATEGORY, owner, k, v.as_bytes(), None).map(|()| "ok".into()),
        ["put", c, k, v] => kv::set(c, owner, k, v.as_bytes(), None).map(|()| "ok".into()),
        ["get", k] => kv::get(CATEGORY, owner, k).map(|v| {
            v.map_or_else(
                || "none".into(),
                |v| String::from_utf8_lossy(&v).into_owned(),
            )
        }),
        ["append", x] => archive::append(CATEGORY, owner, STREAM, "", x).map(|_| "ok".into()),
        ["count"] => {
            let q = ArchiveQuery {
                with: None,
                start: None,
                end: None,
                after_id: None,
                before_id: None,
                ids: vec![],
                limit: 0,
                reverse: false,
            };
            archive::query(CATEGORY, owner, STREAM, &q).map(|p| p.count.to_string())
        }
        _ => Ok("unknown command".into()),
    }
}

impl Guest for Notes {
    fn describe() -> Manifest {
        Manifest {
            name: fixture::name().into(),
            version: "0.1.0".into(),
            subscriptions: vec![Subscription {
                hook: Hook::Service,
                kind: StanzaKind::Message,
                payload: None,
                priority: 0,
            }],
            iq_handlers: vec![],
            features: vec![],
            identities: vec![],
            services: vec![fixture::name().into()],
            commands: vec![],
            http_routes: vec![],
            timers: vec![],
            events: vec![],
            data: vec![DataDeclaration {
                category: CATEGORY.into(),
                purpose: "Notes a user asked the service to keep.".into(),
                owner: OwnerKind::User,
                visibility: Visibility::Owner,
                third_parties: vec![],
                default_max_age_seconds: None,
                default_max_items: None,
            }],
        }
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

export!(Notes);
