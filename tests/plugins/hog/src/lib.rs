//! `hog`: serves `hog.<domain>` and allocates without bound in `on-stanza`. The host must stop it at
//! its memory cap (a trap, never a host abort).

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{Hook, Manifest, Subscription};
use tessera::plugin::types::{ErrorType, Stanza, StanzaError, StanzaKind};

struct Hog;

impl Guest for Hog {
    fn describe() -> Manifest {
        Manifest {
            name: "hog".into(),
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
            services: vec!["hog".into()],
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
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // 1 MiB at a time, touched so no page stays lazily unmapped.
            hoard.push(vec![stanza.xml.len() as u8; 1 << 20]);
            std::hint::black_box(&hoard);
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

export!(Hog);
