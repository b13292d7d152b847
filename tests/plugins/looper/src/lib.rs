//! `looper`: serves `looper.<domain>` and never returns from `on-stanza`. The host must stop it at
//! its epoch deadline while everyone else keeps being served.

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

struct Looper;

impl Guest for Looper {
    fn describe() -> Manifest {
        fixture::service_manifest("looper")
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
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Looper);
