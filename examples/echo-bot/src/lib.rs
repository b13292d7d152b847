//! echo-bot: the smallest useful Tessera plugin.
//!
//! It serves the subdomain label `echo` (so `echo.localhost` on a server for `localhost`): a
//! `<message/>` with a body sent to `echo.<domain>` or to anything `@echo.<domain>` is answered
//! with the same body, from the JID it was sent to, through the `router` capability. It stores no
//! data and imports only `log` and `router`, so the operator grants it exactly those:
//!
//! ```toml
//! [plugins.echo-bot]
//! grants = ["log", "router"]
//! ```
//!
//! Build the component with `cargo build --target wasm32-wasip2 --release -p echo-bot` (the
//! `plugins-build` crate does it for the host and the tests); `cargo test -p echo-bot` runs the
//! unit tests natively against the SDK's fake host.

use tessera_sdk::{
    Context, Manifest, Plugin, Stanza, StanzaError, StanzaKind, Subscription, Verdict, log, router,
};

/// The plugin. It keeps no state: everything it needs is in the stanza.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct EchoBot;

impl Plugin for EchoBot {
    fn describe(&self) -> Manifest {
        Manifest::new("echo-bot", env!("CARGO_PKG_VERSION"))
            .service("echo")
            .subscribe(Subscription::service(StanzaKind::Message))
    }

    fn on_stanza(&self, _ctx: &Context, stanza: &Stanza) -> Verdict {
        // RFC 6120 §8.3.1: an error is never answered. A groupchat message has no business at a
        // bot that is not a room; echoing it would address the sender as an occupant.
        if stanza.kind() != StanzaKind::Message
            || stanza.is_error()
            || stanza.type_attr() == "groupchat"
        {
            return Verdict::Drop;
        }
        // Chat states, receipts and other bodiless messages: nothing to echo.
        let Some(body) = stanza.body() else {
            return Verdict::Handled;
        };
        let Some(reply) = stanza.reply_message(&body) else {
            return Verdict::Drop;
        };
        match router::send(&reply) {
            Ok(()) => {
                // Metadata only: never the body.
                log::debug("echoed a message");
                Verdict::Handled
            }
            Err(e) => {
                log::warn(&format!("could not send the echo: {e}"));
                Verdict::Error(StanzaError::internal_server_error())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_sdk::testing::{self, Harness};

    fn message(to: &str, type_: &str, payload: &str) -> String {
        format!(
            "<message xmlns='jabber:client' from='juliet@localhost/balcony' to='{to}' type='{type_}' id='m1'>{payload}</message>"
        )
    }

    #[test]
    fn manifest_serves_echo_and_stores_nothing() {
        let m = EchoBot.describe();
        assert_eq!(m.name, "echo-bot");
        assert_eq!(m.services, ["echo"]);
        assert_eq!(
            m.subscriptions,
            [Subscription::service(StanzaKind::Message)]
        );
        assert!(m.data.is_empty() && m.iq_handlers.is_empty() && m.http_routes.is_empty());
    }

    #[test]
    fn echoes_a_message_to_the_service_domain() {
        let h = Harness::new(EchoBot);
        let verdict = h.service_stanza(&message(
            "echo.localhost",
            "chat",
            "<body>Wherefore?</body>",
        ));
        assert_eq!(verdict, Verdict::Handled);
        let sent = h.take_sent();
        assert_eq!(sent.len(), 1);
        let reply = &sent[0];
        assert_eq!(
            (reply.from(), reply.to()),
            ("echo.localhost", "juliet@localhost/balcony")
        );
        assert_eq!(reply.type_attr(), "chat");
        assert_eq!(reply.body().as_deref(), Some("Wherefore?"));
    }

    #[test]
    fn echoes_from_the_jid_it_was_sent_to() {
        let h = Harness::new(EchoBot);
        assert_eq!(
            h.service_stanza(&message(
                "romeo@echo.localhost",
                "normal",
                "<body>hi</body>"
            )),
            Verdict::Handled
        );
        let sent = h.take_sent();
        assert_eq!(sent[0].from(), "romeo@echo.localhost");
        assert_eq!(sent[0].body().as_deref(), Some("hi"));
    }

    #[test]
    fn bodiless_error_and_groupchat_messages_get_no_echo() {
        let h = Harness::new(EchoBot);
        let composing = "<composing xmlns='http://jabber.org/protocol/chatstates'/>";
        assert_eq!(
            h.service_stanza(&message("echo.localhost", "chat", composing)),
            Verdict::Handled
        );
        assert_eq!(
            h.service_stanza(&message("echo.localhost", "error", "<body>x</body>")),
            Verdict::Drop
        );
        assert_eq!(
            h.service_stanza(&message("echo.localhost", "groupchat", "<body>x</body>")),
            Verdict::Drop
        );
        assert!(h.take_sent().is_empty());
    }

    #[test]
    fn a_refused_send_is_an_error_and_the_log_has_no_body() {
        let h = Harness::new(EchoBot);
        testing::deny("router");
        let verdict = h.service_stanza(&message(
            "echo.localhost",
            "chat",
            "<body>secret words</body>",
        ));
        assert_eq!(
            verdict,
            Verdict::Error(StanzaError::internal_server_error())
        );
        let logs = testing::logs();
        assert_eq!(logs.len(), 1);
        assert!(!logs[0].1.contains("secret"), "{:?}", logs[0]);
    }
}
