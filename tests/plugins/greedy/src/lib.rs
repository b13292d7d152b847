//! `greedy`: imports `accounts` (it calls `accounts.exists`) but the test config never grants it,
//! so the host must refuse it at load, naming the plugin and the interface.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{Hook, Manifest, Subscription};
use tessera::plugin::types::{ErrorType, Stanza, StanzaError, StanzaKind};

struct Greedy;

impl Guest for Greedy {
    fn describe() -> Manifest {
        Manifest {
            name: "greedy".into(),
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
            services: vec!["greedy".into()],
            commands: vec![],
            http_routes: vec![],
            timers: vec![],
            data: vec![],
        }
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn on_stanza(_ctx: StanzaContext, stanza: Stanza) -> Verdict {
        match tessera::plugin::accounts::exists(&stanza.from) {
            Ok(true) => Verdict::Pass,
            Ok(false) | Err(_) => Verdict::Drop,
        }
    }

    fn on_event(_event: Event) {}

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        Err(StanzaError {
            type_: ErrorType::Cancel,
            condition: "item-not-found".into(),
            text: None,
        })
    }

    fn on_http(_req: Request) -> Response {
        Response {
            status: 404,
            headers: vec![],
            body: vec![],
        }
    }
}

export!(Greedy);
