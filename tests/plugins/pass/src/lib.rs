//! `pass`: subscribed to every incoming message and passes each one untouched: the cheapest
//! plugin there is, so the dispatch benchmark (`host/benches/dispatch.rs`) measures the host's
//! cost of a guest call and nothing else. Serves no domain: one component can be loaded
//! several times under different names.

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
use tessera::plugin::manifest::{Hook, Manifest, Subscription};
use tessera::plugin::types::{Stanza, StanzaError, StanzaKind};

struct Pass;

impl Guest for Pass {
    fn describe() -> Manifest {
        let mut m = fixture::service_manifest("pass");
        m.services.clear();
        m.subscriptions = vec![Subscription {
            hook: Hook::Incoming,
            kind: StanzaKind::Message,
            payload: None,
            priority: 0,
        }];
        m
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn on_stanza(_ctx: StanzaContext, _stanza: Stanza) -> Verdict {
        Verdict::Pass
    }

    fn on_event(_event: Event) {}

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Pass);
