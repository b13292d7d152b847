//! `capsy`: a plugin built against WIT 0.1.2 (`wit/`) that reads the XEP-0115 features the host
//! verified for sessions, through `caps` (granted as `caps`, with `router`).
//!
//! Serves `capsy.<domain>`; a chat message's body is a command, answered as a chat message:
//! - `has JID FEATURE`: `caps.has-feature` → `true` or `false`;
//! - `interested JID FEATURE`: `caps.interested` → the full JIDs, sorted, space-separated, or
//!   `none`.
//!
//! It also subscribes to `session-available`, and tells the session that came online what
//! `has-feature(session, "urn:tessera:test:caps+notify")` was when the event arrived, in a chat
//! message from `capsy.<domain>` with the body `online true` or `online false`: a test sees from
//! it whether the host held the event until the session's features were known.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

/// Pieces every fixture shares (they bind the WIT themselves, so the types are per crate).
#[allow(dead_code, reason = "each fixture uses part of the shared pieces")]
mod fixture {
    include!("../../fixture.rs");
}

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{EventKind, Manifest};
use tessera::plugin::types::{Stanza, StanzaError};
use tessera::plugin::{caps, router};

/// The feature the `session-available` report asks about.
const ONLINE_FEATURE: &str = "urn:tessera:test:caps+notify";

struct Capsy;

fn chat(from: &str, to: &str, body: &str) -> String {
    format!(
        "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>{}</body></message>",
        fixture::escape(from),
        fixture::escape(to),
        fixture::escape(body),
    )
}

impl Guest for Capsy {
    fn describe() -> Manifest {
        let mut m = fixture::service_manifest("capsy");
        m.events = vec![EventKind::SessionAvailable];
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
        let mut words = command.split(' ');
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("has"), Some(jid), Some(feature)) => caps::has_feature(jid, feature).to_string(),
            (Some("interested"), Some(jid), Some(feature)) => {
                let mut list = caps::interested(jid, feature);
                list.sort();
                if list.is_empty() {
                    "none".into()
                } else {
                    list.join(" ")
                }
            }
            _ => "unknown command".into(),
        };
        let _ = router::send(&chat(&stanza.to, &stanza.from, &answer));
        Verdict::Handled
    }

    fn on_event(event: Event) {
        if let Event::SessionAvailable(jid) = event {
            let domain = jid
                .split_once('@')
                .map_or(jid.as_str(), |(_, d)| d)
                .split('/')
                .next()
                .unwrap_or_default();
            let has = caps::has_feature(&jid, ONLINE_FEATURE);
            let _ = router::send(&chat(
                &format!("capsy.{domain}"),
                &jid,
                &format!("online {has}"),
            ));
        }
    }

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Capsy);
