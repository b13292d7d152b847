//! `greedy`: imports `accounts` (it calls `accounts.exists`) but the test config never grants it,
//! so the host must refuse it at load, naming the plugin and the interface.

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
use tessera::plugin::manifest::Manifest;
use tessera::plugin::types::{Stanza, StanzaError};

struct Greedy;

impl Guest for Greedy {
    fn describe() -> Manifest {
        fixture::service_manifest("greedy")
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
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Greedy);
