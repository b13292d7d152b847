// Included by each fixture crate, inside `mod fixture`, after its own `wit_bindgen::generate!`.

use super::tessera::plugin::http_types::Response;
use super::tessera::plugin::manifest::{Hook, Manifest, Subscription};
use super::tessera::plugin::types::{ErrorType, StanzaError, StanzaKind};

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
