//! `router.send`: a stanza a plugin sends, checked and delivered to local sessions.
//!
//! The `from` must be the server (its bare domain, or a resource of it) or one of the plugin's
//! service domains or a JID under one (`room@conference.localhost/nick`): a plugin cannot speak
//! for a local account (`router.impersonate` is not implemented). Delivery reuses the IM rules:
//! a message to a bare JID goes to the resources RFC 6121 §8.5.2.1.1 selects, presence to the
//! available ones, anything to a full JID to that session. What no session can take now is
//! dropped; the offline hook is not run for plugin traffic (yet), so one plugin cannot make
//! another run inside its own call.

use jid::Jid;

use super::bindings::tessera::plugin::types::Error;
use super::instance::PluginCtx;
use super::wire;
use crate::im::message::{MessageType, bare_targets};
use crate::im::stanza::{Dest, send_bytes, send_to_available};
use crate::server::Shared;

/// Whether `from` is an address this plugin may send as.
fn may_send_as(ctx: &PluginCtx, from: &Jid) -> bool {
    let domain = from.domain().as_str();
    if domain == ctx.domain {
        return from.node().is_none();
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
        .and_then(|f| Jid::new(f).map_err(|_| Error::Invalid("`from` is not a JID".to_owned())))?;
    if !may_send_as(ctx, &from) {
        return Err(Error::NotGranted);
    }
    let to = stanza
        .attr("to")
        .ok_or_else(|| Error::Invalid("`to` is required".to_owned()))
        .and_then(|t| Jid::new(t).map_err(|_| Error::Invalid("`to` is not a JID".to_owned())))?;
    match Dest::classify(Some(&to), &shared.domain) {
        Dest::LocalFull(full) => {
            send_bytes(shared, &full, tessera_xml::serialize(&stanza));
        }
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
