//! `oracle`: owns an IQ payload, declares a disco feature and identity, and offers two ad-hoc
//! commands (one for local users, one for admins), for `host/tests/plugin_iq.rs`.
//!
//! - `{urn:tessera:test:oracle}query`: a get is answered (through `router`, from the server's
//!   domain) with `<answer/>` carrying the call's hook, account and session and whether
//!   `accounts.is-admin` says the account is an admin; `mode='pass'`
//!   passes, `mode='error'` answers `not-acceptable`, `mode='crash'` panics.
//! - commands `urn:tessera:test:oracle:ask` (local-user) and `…:purge` (admin) complete with a
//!   note naming the requester; a request with `sessionid='bad'` gets a `<command/>` for another
//!   node, which the host must refuse.
//!
//! Built a second time as `oracle2` (a second owner of the same payload) and as `oracle-roster`
//! (which also claims the host's roster namespace); the manifest name is the package's.

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
use tessera::plugin::manifest::{Command, CommandAccess, Hook, Identity, Manifest};
use tessera::plugin::{accounts, router};
use tessera::plugin::types::{ErrorType, Qname, Stanza, StanzaError};

const NS: &str = "urn:tessera:test:oracle";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

/// The value of `attr='…'` in the first element carrying it (the fixtures parse no XML).
fn attr<'a>(xml: &'a str, attr: &str) -> Option<&'a str> {
    let start = xml.find(&format!(" {attr}='"))? + attr.len() + 3;
    let end = start + xml[start..].find('\'')?;
    Some(&xml[start..end])
}

struct Oracle;

impl Guest for Oracle {
    fn describe() -> Manifest {
        let mut iq_handlers = vec![Qname {
            namespace: NS.into(),
            name: "query".into(),
        }];
        if fixture::name() == "oracle-roster" {
            iq_handlers.push(Qname {
                namespace: "jabber:iq:roster".into(),
                name: "query".into(),
            });
        }
        let command = |node: &str, name: &str, access| Command {
            node: format!("{NS}:{node}"),
            name: name.into(),
            access,
        };
        Manifest {
            name: fixture::name().into(),
            version: "0.1.0".into(),
            subscriptions: vec![],
            iq_handlers,
            features: vec![NS.into()],
            identities: vec![Identity {
                category: "directory".into(),
                type_: "user".into(),
                name: Some("Oracle".into()),
            }],
            services: vec![],
            // Only the original offers commands, so the clash tests are about the payload.
            commands: if fixture::name() == "oracle" {
                vec![
                    command("ask", "Ask the oracle", CommandAccess::LocalUser),
                    command("purge", "Purge the oracle", CommandAccess::Admin),
                ]
            } else {
                vec![]
            },
            http_routes: vec![],
            timers: vec![],
            events: vec![],
            data: vec![],
        }
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn on_stanza(ctx: StanzaContext, stanza: Stanza) -> Verdict {
        if !matches!(ctx.hook, Hook::Iq) {
            return Verdict::Pass;
        }
        match attr(&stanza.xml, "mode") {
            Some("pass") => return Verdict::Pass,
            Some("error") => {
                return Verdict::Error(StanzaError {
                    type_: ErrorType::Modify,
                    condition: "not-acceptable".into(),
                    text: None,
                });
            }
            Some("crash") => panic!("asked to crash"),
            _ => {}
        }
        let account = ctx.account.unwrap_or_default();
        let domain = account.rsplit('@').next().unwrap_or_default();
        let admin = accounts::is_admin(&account);
        let reply = format!(
            "<iq xmlns='jabber:client' type='result' id='{id}' from='{domain}' to='{to}'>\
             <answer xmlns='{NS}' hook='iq' account='{account}' session='{session}' admin='{admin}'/></iq>",
            id = fixture::escape(&stanza.id),
            domain = fixture::escape(domain),
            to = fixture::escape(&stanza.from),
            account = fixture::escape(&account),
            session = fixture::escape(&ctx.session.unwrap_or_default()),
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

    fn on_command(req: CommandRequest) -> Result<String, StanzaError> {
        let node = if attr(&req.xml, "sessionid") == Some("bad") {
            format!("{NS}:elsewhere")
        } else {
            req.node
        };
        Ok(format!(
            "<command xmlns='{COMMANDS}' node='{node}' status='completed' sessionid='s'>\
             <note type='info'>asked by {requester}</note></command>",
            node = fixture::escape(&node),
            requester = fixture::escape(&req.requester),
        ))
    }

    fn on_http(_req: Request) -> Response {
        fixture::no_http()
    }
}

export!(Oracle);
