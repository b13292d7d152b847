//! `echo`: a minimal service plugin. Serves `echo.<domain>`; a chat or normal message sent to it
//! (or to any JID under it) comes back from that JID with the body prefixed by a counter kept in
//! `ephemeral`, so the count survives instance replacement. A body of `crash` panics (a trap, to
//! test that the host replaces the instance); a body of `config` is answered with the operator's
//! config as `init` got it in this instance (a replacement must get it too); an IQ gets
//! `feature-not-implemented` as a verdict.
//! A body `as <jid>` is answered from that JID, `to <jid>` is sent on to that JID, and the
//! verdict tells how `router.send` took it (`forbidden` for an address the plugin may not use,
//! `recipient-unavailable` for a full JID with no session).

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
use tessera::plugin::types::{Error, ErrorType, Stanza, StanzaError, StanzaKind};
use tessera::plugin::{ephemeral, log, router};

struct Echo;

/// The config `init` got, in this instance.
static CONFIG: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Bumps the shared counter with compare-and-swap (instances may race).
fn next_count() -> u64 {
    loop {
        let old = ephemeral::get("count");
        let n = old
            .as_deref()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes)
            + 1;
        match ephemeral::compare_and_swap("count", old.as_deref(), &n.to_be_bytes()) {
            Ok(true) => return n,
            Ok(false) => continue,
            Err(_) => return 0,
        }
    }
}

impl Guest for Echo {
    fn describe() -> Manifest {
        let sub = |kind| Subscription {
            hook: Hook::Service,
            kind,
            payload: None,
            priority: 0,
        };
        Manifest {
            name: "echo".into(),
            version: "0.1.0".into(),
            subscriptions: vec![sub(StanzaKind::Message), sub(StanzaKind::Iq)],
            iq_handlers: vec![],
            features: vec![],
            identities: vec![],
            services: vec!["echo".into()],
            commands: vec![],
            http_routes: vec![],
            timers: vec![],
            events: vec![],
            data: vec![],
        }
    }

    fn init(config: String) -> Result<(), String> {
        if config.contains("refuse") {
            return Err("refuse: this fixture was told to refuse".into());
        }
        log::log(log::Level::Info, "echo ready");
        *CONFIG.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }

    fn on_stanza(_ctx: StanzaContext, stanza: Stanza) -> Verdict {
        match stanza.kind {
            StanzaKind::Message => {}
            StanzaKind::Iq => {
                return Verdict::Error(StanzaError {
                    type_: ErrorType::Cancel,
                    condition: "feature-not-implemented".into(),
                    text: None,
                });
            }
            StanzaKind::Presence => return Verdict::Pass,
        }
        if stanza.type_ == "error" {
            return Verdict::Drop;
        }
        let Some(text) = fixture::body(&stanza.xml) else {
            return Verdict::Drop;
        };
        if text == "crash" {
            panic!("asked to crash");
        }
        let config;
        let text = if text == "config" {
            config = format!(
                "config {}",
                CONFIG.lock().unwrap_or_else(std::sync::PoisonError::into_inner).trim()
            );
            config.as_str()
        } else {
            text
        };
        // `as <jid>`: answer from that JID (allowed only with `router.impersonate` for a local
        // account); `to <jid>`: send a message there instead of answering. The verdict reports
        // how `router.send` went.
        let (from, to, text) = match (text.strip_prefix("as "), text.strip_prefix("to ")) {
            (Some(jid), _) => (jid.to_owned(), stanza.from.clone(), "impersonated".to_owned()),
            (_, Some(jid)) => (stanza.to.clone(), jid.to_owned(), "forwarded".to_owned()),
            _ => (stanza.to.clone(), stanza.from.clone(), text.to_owned()),
        };
        if from != stanza.to || to != stanza.from {
            let msg = format!(
                "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>{text}</body></message>",
                fixture::escape(&from),
                fixture::escape(&to),
            );
            return match router::send(&msg) {
                Ok(()) => Verdict::Handled,
                Err(e) => Verdict::Error(StanzaError {
                    type_: ErrorType::Cancel,
                    condition: match e {
                        Error::NotGranted => "forbidden",
                        Error::Unavailable(_) => "recipient-unavailable",
                        _ => "bad-request",
                    }
                    .into(),
                    text: None,
                }),
            };
        }
        let n = next_count();
        let reply = format!(
            "<message xmlns='jabber:client' type='chat' from='{}' to='{}'><body>echo {n}: {text}</body></message>",
            fixture::escape(&stanza.to),
            fixture::escape(&stanza.from),
        );
        match router::send(&reply) {
            Ok(()) => Verdict::Handled,
            Err(_) => Verdict::Error(StanzaError {
                type_: ErrorType::Wait,
                condition: "internal-server-error".into(),
                text: None,
            }),
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

export!(Echo);
