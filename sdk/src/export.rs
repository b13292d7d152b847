//! The glue [`crate::export_plugin!`] expands to: one instance of the plugin type per component
//! instance, created on first use, and the conversions between the WIT records and the SDK's
//! types. Not public API.

use std::any::Any;
use std::cell::RefCell;

pub use crate::bindings::exports::tessera::plugin::handler::{
    CommandRequest as WitCommandRequest, Event as WitEvent, Guest, StanzaContext as WitContext,
    Verdict as WitVerdict,
};
pub use crate::bindings::tessera::plugin::http_types::{
    Request as WitRequest, Response as WitResponse,
};
pub use crate::bindings::tessera::plugin::manifest::Manifest as WitManifest;
pub use crate::bindings::tessera::plugin::types::{
    Stanza as WitStanza, StanzaError as WitStanzaError,
};

use crate::{CommandRequest, Context, Event, HttpRequest, Plugin, Stanza};

thread_local! {
    // A component instance is single-threaded and holds one plugin type; `Any` lets this
    // non-generic slot hold it. The host never calls back into the guest during a host call, so
    // the borrow below is never re-entered.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with<P: Plugin + Default + 'static, R>(f: impl FnOnce(&mut P) -> R) -> R {
    INSTANCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let plugin = slot
            .get_or_insert_with(|| Box::new(P::default()))
            .downcast_mut::<P>()
            .expect("invariant: a component exports exactly one plugin type");
        f(plugin)
    })
}

/// `describe`.
pub fn describe<P: Plugin + Default + 'static>() -> WitManifest {
    with::<P, _>(|p| p.describe().into())
}

/// `init`.
pub fn init<P: Plugin + Default + 'static>(config: String) -> Result<(), String> {
    with::<P, _>(|p| p.init(&config))
}

/// `on-stanza`.
pub fn on_stanza<P: Plugin + Default + 'static>(ctx: WitContext, stanza: WitStanza) -> WitVerdict {
    let ctx = Context::from(ctx);
    let stanza = Stanza::from_wit(stanza);
    with::<P, _>(|p| p.on_stanza(&ctx, &stanza).into())
}

/// `on-event`.
pub fn on_event<P: Plugin + Default + 'static>(event: WitEvent) {
    let event = Event::from(event);
    with::<P, _>(|p| p.on_event(&event));
}

/// `on-command`.
pub fn on_command<P: Plugin + Default + 'static>(
    req: WitCommandRequest,
) -> Result<String, WitStanzaError> {
    let req = CommandRequest::from(req);
    with::<P, _>(|p| {
        p.on_command(&req)
            .map(|e| String::from(&e))
            .map_err(Into::into)
    })
}

/// `on-http`.
pub fn on_http<P: Plugin + Default + 'static>(req: WitRequest) -> WitResponse {
    let req = HttpRequest::from(req);
    with::<P, _>(|p| p.on_http(&req).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::tessera::plugin::manifest::Hook as WitHook;
    use crate::bindings::tessera::plugin::types::StanzaKind as WitKind;
    use crate::{Manifest, StanzaError, Verdict};

    #[derive(Default)]
    struct Counter {
        prefix: String,
    }

    impl Plugin for Counter {
        fn describe(&self) -> Manifest {
            Manifest::new("counter", "0.0.1")
        }
        fn init(&mut self, config: &str) -> Result<(), String> {
            if config.contains("bad") {
                return Err("bad key `bad`".into());
            }
            self.prefix = config.to_owned();
            Ok(())
        }
        fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
            match (ctx.hook, stanza.id()) {
                (crate::Hook::Service, "drop") => Verdict::Drop,
                (crate::Hook::Service, _) => {
                    Verdict::Replace(format!("{}{}", self.prefix, stanza.id()))
                }
                _ => Verdict::Error(StanzaError::not_allowed()),
            }
        }
    }

    fn stanza(id: &str) -> WitStanza {
        WitStanza {
            kind: WitKind::Message,
            type_: String::new(),
            from: String::new(),
            to: String::new(),
            id: id.into(),
            payload: None,
            xml: String::new(),
        }
    }

    #[test]
    fn adapter_keeps_one_instance_across_calls() {
        assert_eq!(describe::<Counter>().name, "counter");
        assert_eq!(init::<Counter>("bad".into()), Err("bad key `bad`".into()));
        assert_eq!(init::<Counter>("p-".into()), Ok(()));
        let ctx = || WitContext {
            hook: WitHook::Service,
            account: None,
            session: None,
        };
        assert!(
            matches!(on_stanza::<Counter>(ctx(), stanza("x")), WitVerdict::Replace(s) if s == "p-x")
        );
        assert!(matches!(
            on_stanza::<Counter>(ctx(), stanza("drop")),
            WitVerdict::Drop
        ));
        let incoming = WitContext {
            hook: WitHook::Incoming,
            account: Some("a@b".into()),
            session: None,
        };
        assert!(
            matches!(on_stanza::<Counter>(incoming, stanza("x")), WitVerdict::Error(e) if e.condition == "not-allowed")
        );
    }

    #[test]
    fn default_hooks_answer_not_found() {
        let req = WitCommandRequest {
            node: "n".into(),
            requester: "a@b/c".into(),
            xml: String::new(),
        };
        assert!(matches!(on_command::<Counter>(req), Err(e) if e.condition == "item-not-found"));
        let http = WitRequest {
            method: "GET".into(),
            uri: "/".into(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(on_http::<Counter>(http).status, 404);
        on_event::<Counter>(WitEvent::Timer("t".into()));
    }
}
