// Included by each fixture crate, inside `mod fixture`, after its own `wit_bindgen::generate!`.

use super::tessera::plugin::http_types::Response;
use super::tessera::plugin::manifest::{Hook, Manifest, Subscription};
use super::tessera::plugin::types::{Error, ErrorType, StanzaError, StanzaKind};

/// Serves `<name>.<domain>`, subscribed to the messages sent there; declares nothing else.
pub fn service_manifest(name: &str) -> Manifest {
    Manifest {
        name: name.into(),
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
        services: vec![name.into()],
        commands: vec![],
        http_routes: vec![],
        timers: vec![],
        events: vec![],
        data: vec![],
    }
}

/// The fixtures offer no ad-hoc commands.
pub fn no_command() -> Result<String, StanzaError> {
    Err(StanzaError {
        type_: ErrorType::Cancel,
        condition: "item-not-found".into(),
        text: None,
    })
}

/// The fixtures serve no HTTP routes.
pub fn no_http() -> Response {
    Response {
        status: 404,
        headers: vec![],
        body: vec![],
    }
}

/// The fixture's name: its package name without `fixture-` (`notes2` runs `notes`'s source).
pub fn name() -> &'static str {
    env!("CARGO_PKG_NAME").trim_start_matches("fixture-")
}

/// The text between `<body…>` and `</body>` (tests send plain words, no escapes); `<body/>` is
/// empty.
pub fn body(xml: &str) -> Option<&str> {
    let start = xml.find("<body")?;
    let open_end = start + xml[start..].find('>')? + 1;
    if xml[..open_end].ends_with("/>") {
        return Some("");
    }
    let close = open_end + xml[open_end..].find("</body>")?;
    Some(&xml[open_end..close])
}

/// Escapes text for an attribute in single quotes or for element content.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// The WIT error's name, as the tests expect it.
pub fn error_name(e: &Error) -> String {
    match e {
        Error::NotGranted => "not-granted".into(),
        Error::UndeclaredCategory(_) => "undeclared-category".into(),
        Error::WrongOwner => "wrong-owner".into(),
        Error::Invalid(_) => "invalid".into(),
        Error::QuotaExceeded => "quota-exceeded".into(),
        Error::Unavailable(_) => "unavailable".into(),
    }
}

/// A capability error as a reply body: `error: <name>`, with the category when undeclared.
pub fn show(e: Error) -> String {
    match e {
        Error::UndeclaredCategory(c) => format!("error: undeclared-category({c})"),
        other => format!("error: {}", error_name(&other)),
    }
}
