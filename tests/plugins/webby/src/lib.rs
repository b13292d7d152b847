//! `webby`: the HTTP fixture. Serves `GET`/`POST /webby/`, answering with what it saw of the
//! request (method, URI, an `x-test` header, the body length) and an `x-webby` header; a path
//! under `/webby/trap` panics (a trap: the host answers 500); `/webby/status/N` answers status N.
//! Serves `webby.<domain>`: a message there holds a URL, which it fetches with `http-outbound`,
//! replying `status S len L` or `error E`. Declares two data categories (for the privacy policy)
//! without storing anything.

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
use tessera::plugin::manifest::{DataDeclaration, HttpRoute, Manifest, OwnerKind, Visibility};
use tessera::plugin::types::{Stanza, StanzaError};
use tessera::plugin::{http_outbound, router};

struct Webby;

/// The text of `<body>`, with the XML escapes a URL may carry undone.
fn body(xml: &str) -> Option<String> {
    let start = xml.find("<body>")? + "<body>".len();
    let end = start + xml[start..].find("</body>")?;
    Some(
        xml[start..end]
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

impl Guest for Webby {
    fn describe() -> Manifest {
        let route = |method: &str| HttpRoute {
            method: method.into(),
            path_prefix: "/webby/".into(),
        };
        let mut m = fixture::service_manifest("webby");
        m.http_routes = vec![route("GET"), route("POST")];
        m.data = vec![
            DataDeclaration {
                category: "visits".into(),
                purpose: "Counts visits to the demo page.".into(),
                owner: OwnerKind::Service,
                visibility: Visibility::Admins,
                third_parties: vec!["push.example.org".into()],
                default_max_age_seconds: Some(86_400),
                default_max_items: Some(10),
            },
            DataDeclaration {
                category: "bookmarks".into(),
                purpose: "Keeps the URLs a user asked to <fetch>.".into(),
                owner: OwnerKind::User,
                visibility: Visibility::Owner,
                third_parties: vec![],
                default_max_age_seconds: None,
                default_max_items: None,
            },
        ];
        m
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn on_stanza(_ctx: StanzaContext, stanza: Stanza) -> Verdict {
        if stanza.type_ == "error" {
            return Verdict::Drop;
        }
        let Some(url) = body(&stanza.xml) else {
            return Verdict::Drop;
        };
        let text = match http_outbound::fetch(&Request {
            method: "GET".into(),
            uri: url,
            headers: vec![("x-from".into(), "webby".into())],
            body: vec![],
        }) {
            Ok(r) => format!("status {} len {}", r.status, r.body.len()),
            Err(e) => format!("error {}", fixture::error_name(&e)),
        };
        let reply = format!(
            "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>{text}</body></message>",
            fixture::escape(&stanza.to),
            fixture::escape(&stanza.from),
        );
        let _ = router::send(&reply);
        Verdict::Handled
    }

    fn on_event(_event: Event) {}

    fn on_command(_req: CommandRequest) -> Result<String, StanzaError> {
        fixture::no_command()
    }

    fn on_http(req: Request) -> Response {
        if req.uri.starts_with("/webby/trap") {
            panic!("asked to trap");
        }
        if let Some(code) = req.uri.strip_prefix("/webby/status/") {
            return Response {
                status: code.parse().unwrap_or(500),
                headers: vec![],
                body: vec![],
            };
        }
        let x_test = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-test"))
            .map_or("-", |(_, v)| v.as_str());
        let text = format!(
            "webby saw {} {} x-test={x_test} body={}",
            req.method,
            req.uri,
            req.body.len()
        );
        Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("x-webby".into(), "yes".into()),
                ("transfer-encoding".into(), "bogus".into()),
            ],
            body: text.into_bytes(),
        }
    }
}

export!(Webby);
