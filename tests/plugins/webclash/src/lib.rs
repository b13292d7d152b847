//! `webclash`: claims `GET /webby/` (a clash when loaded beside `webby`) and then `/privacy/x`
//! (a path the host owns: refused when loaded alone). It never serves anything.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "plugin",
});

#[allow(dead_code, reason = "each fixture uses part of the shared pieces")]
mod fixture {
    include!("../../fixture.rs");
}

use exports::tessera::plugin::handler::{CommandRequest, Event, Guest, StanzaContext, Verdict};
use tessera::plugin::http_types::{Request, Response};
use tessera::plugin::manifest::{HttpRoute, Manifest};
use tessera::plugin::types::{Stanza, StanzaError};

struct WebClash;

impl Guest for WebClash {
    fn describe() -> Manifest {
        let route = |path: &str| HttpRoute {
            method: "GET".into(),
            path_prefix: path.into(),
        };
        let mut m = fixture::service_manifest("webclash");
        m.http_routes = vec![route("/webby/"), route("/privacy/x")];
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

export!(WebClash);
