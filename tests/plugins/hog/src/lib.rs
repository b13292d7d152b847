//! `hog`: serves `hog.<domain>` and allocates without bound in `on-stanza`. The host must stop it at
//! its memory cap (a trap, never a host abort).

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

struct Hog;

impl Guest for Hog {
    fn describe() -> Manifest {
        fixture::service_manifest("hog")
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
        fixture::no_command()
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Hog);
