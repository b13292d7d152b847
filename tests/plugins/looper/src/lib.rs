//! `looper`: serves `looper.<domain>` and never returns from `on-stanza`. The host must stop it at
//! its epoch deadline while everyone else keeps being served.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{Hook, Manifest, Subscription};
use tessera::plugin::types::{ErrorType, Stanza, StanzaError, StanzaKind};

struct Looper;

impl Guest for Looper {
    fn describe() -> Manifest {
        Manifest {
            name: "looper".into(),
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
            services: vec!["looper".into()],
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
        let mut n: u64 = stanza.xml.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
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

export!(Looper);
