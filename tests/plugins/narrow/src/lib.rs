//! `narrow`: a plugin built against WIT 0.1.1 (`wit/0.1.1`, as released) that narrows its
//! `incoming` message hook with `scope` (from `init`) to marked accounts and to messages with a direct
//! `<stanza-id xmlns='urn:xmpp:sid:0'/>` child. When the hook runs, it appends ` [seen]` to the
//! body (a `replace`), so a test sees from the delivered message whether the host entered the
//! plugin.
//!
//! Serves `narrow.<domain>`; a chat message's body is a command, answered as a chat message:
//! - `mark JID` / `online JID`: `scope.mark` with the `durable` / `online` lifetime → `ok`, or
//!   `error: <case>`;
//! - `unmark JID`: `scope.unmark` → `unmarked true|false`, or `error: <case>`.

wit_bindgen::generate!({
    path: "../../../wit/0.1.1",
    world: "plugin",
});

/// Pieces every fixture shares (they bind the WIT themselves, so the types are per crate).
#[allow(dead_code, reason = "each fixture uses part of the shared pieces")]
mod fixture {
    include!("../../fixture.rs");
}

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{Hook, Manifest, Subscription};
use tessera::plugin::scope::{self, Lifetime};
use tessera::plugin::types::{Qname, Stanza, StanzaError, StanzaKind};
use tessera::plugin::router;

struct Narrow;

impl Guest for Narrow {
    fn describe() -> Manifest {
        let mut m = fixture::service_manifest("narrow");
        m.subscriptions.push(Subscription {
            hook: Hook::Incoming,
            kind: StanzaKind::Message,
            payload: None,
            priority: 0,
        });
        m
    }

    fn init(_config: String) -> Result<(), String> {
        let sid = Qname {
            namespace: "urn:xmpp:sid:0".into(),
            name: "stanza-id".into(),
        };
        scope::narrow(&[Hook::Incoming], &[sid]).map_err(|e| fixture::show(e))?;
        // Only the three account hooks can be narrowed.
        match scope::narrow(&[Hook::Service], &[]) {
            Err(tessera::plugin::types::Error::Invalid(_)) => Ok(()),
            other => Err(format!("narrowing the service hook gave {other:?}")),
        }
    }

    fn on_stanza(ctx: StanzaContext, stanza: Stanza) -> Verdict {
        if ctx.hook == Hook::Incoming {
            return match stanza.xml.rfind("</body>") {
                Some(at) => Verdict::Replace(format!(
                    "{} [seen]{}",
                    &stanza.xml[..at],
                    &stanza.xml[at..]
                )),
                None => Verdict::Pass,
            };
        }
        if stanza.type_ == "error" {
            return Verdict::Drop;
        }
        let Some(command) = fixture::body(&stanza.xml) else {
            return Verdict::Drop;
        };
        let answer = match command.split_once(' ') {
            Some(("mark", jid)) => {
                scope::mark(jid, Lifetime::Durable).map_or_else(fixture::show, |()| "ok".into())
            }
            Some(("online", jid)) => {
                scope::mark(jid, Lifetime::Online).map_or_else(fixture::show, |()| "ok".into())
            }
            Some(("unmark", jid)) => scope::unmark(jid)
                .map_or_else(fixture::show, |was| format!("unmarked {was}")),
            _ => "unknown command".into(),
        };
        let reply = format!(
            "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>{}</body></message>",
            fixture::escape(&stanza.to),
            fixture::escape(&stanza.from),
            fixture::escape(&answer),
        );
        let _ = router::send(&reply);
        Verdict::Handled
    }

    fn on_event(_event: Event) {}

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Narrow);
