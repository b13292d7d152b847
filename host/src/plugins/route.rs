//! `router.send`: a stanza a plugin sends, checked and delivered to local sessions.
//!
//! The `from` must be the server (its bare domain, or a resource of it) or one of the plugin's
//! service domains or a JID under one (`room@conference.localhost/nick`); with the operator's
//! `router.impersonate` grant it may also be a local account, bare or full (offline delivery, MAM
//! results and carbons speak for the user). Delivery reuses the IM rules: a message to a bare JID
//! goes to the resources RFC 6121 §8.5.2.1.1 selects, presence to the available ones, anything to
//! a full JID to that session; a full JID with no session is `unavailable`, so the plugin knows
//! it was not delivered (an offline queue deletes only what went out). Plugin traffic does not
//! run the `outgoing`, `incoming` or `undeliverable` hooks: one plugin cannot make another run
//! inside its own call, and a message a plugin re-delivers (offline) or copies (carbons) is not
//! archived or copied a second time. A bare-JID message no session may take now is dropped.

use jid::Jid;

use super::bindings::tessera::plugin::types::Error;
use super::instance::PluginCtx;
use super::wire;
use crate::im::message::{MessageType, bare_targets};
use crate::im::stanza::{Dest, parse_jid, send_bytes, send_to_available};
use crate::router::Delivery;
use crate::server::Shared;

/// Whether `from` is an address this plugin may send as.
fn may_send_as(ctx: &PluginCtx, from: &Jid) -> bool {
    let domain = from.domain().as_str();
    if domain == ctx.domain {
        return from.node().is_none() || ctx.impersonate;
    }
    ctx.service_domains
        .get()
        .is_some_and(|d| d.iter().any(|s| s == domain))
}

/// Checks and delivers one stanza.
pub(crate) fn send(shared: &Shared, ctx: &PluginCtx, xml: &str) -> Result<(), Error> {
    let stanza =
        wire::parse(xml, &shared.config.limits).map_err(|e| Error::Invalid(e.to_string()))?;
    let from = stanza
        .attr("from")
        .ok_or_else(|| Error::Invalid("`from` is required".to_owned()))
        .and_then(|f| {
            parse_jid(f).ok_or_else(|| Error::Invalid("`from` is not a JID".to_owned()))
        })?;
    if !may_send_as(ctx, &from) {
        return Err(Error::NotGranted);
    }
    let to = stanza
        .attr("to")
        .ok_or_else(|| Error::Invalid("`to` is required".to_owned()))
        .and_then(|t| parse_jid(t).ok_or_else(|| Error::Invalid("`to` is not a JID".to_owned())))?;
    match Dest::classify(Some(&to), &shared.domain) {
        Dest::LocalFull(full) => match send_bytes(shared, &full, tessera_xml::serialize(&stanza)) {
            Delivery::Queued => {}
            Delivery::NoSession => {
                return Err(Error::Unavailable("no such session".to_owned()));
            }
            Delivery::Overflow => {
                return Err(Error::Unavailable("the session is closing".to_owned()));
            }
        },
        Dest::LocalBare(bare) => match stanza.name() {
            "message" => {
                let ty = MessageType::of(&stanza);
                let targets = bare_targets(&shared.router.sessions(&bare), ty);
                let bytes = tessera_xml::serialize(&stanza);
                for jid in &targets {
                    send_bytes(shared, jid, bytes.clone());
                }
            }
            "presence" => {
                send_to_available(shared, &bare, &stanza);
            }
            _ => {
                return Err(Error::Invalid(
                    "an iq from a plugin must go to a full JID".to_owned(),
                ));
            }
        },
        // Addressed to the server itself: nothing here consumes plugin stanzas. (`Absent`
        // cannot happen: `to` was required above.)
        Dest::Server | Dest::ServerResource | Dest::Absent => {}
        Dest::Remote => {
            return Err(Error::Unavailable(
                "no route to that domain (no server-to-server, no plugin-to-plugin)".to_owned(),
            ));
        }
    }
    Ok(())
}
