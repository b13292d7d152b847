//! The two requests of XEP-0215: the list of services (§3.1, §3.2) and credentials for one
//! (§3.3), answered from the operator's list.
//!
//! Restricted services carry credentials in the list too (with `restricted='1'`, "if not already
//! provided", §2), as Prosody does: clients such as Conversations and Dino read them from the
//! list and never ask separately, and a client that does ask (§3.3, e.g. when its credentials
//! are about to expire) gets fresh ones.

use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, clock};

use crate::config::{Service, Settings};
use crate::credentials::{self, Credential};
use crate::ns;

use tessera_sdk::xml::attr_name as nc;

/// `<service/>` for `s`, with `credential` when given (XEP-0215 §2: `expires` is an XEP-0082
/// DateTime in UTC).
fn element(s: &Service, credential: Option<&Credential>) -> Element {
    let mut b = Element::builder("service", ns::EXTDISCO)
        .attr(nc("type"), s.type_.as_str())
        .attr(nc("host"), s.host.as_str())
        .attr(nc("port"), s.port.to_string())
        .attr(nc("transport"), s.transport.as_str());
    if let Some(name) = &s.name {
        b = b.attr(nc("name"), name.as_str());
    }
    if s.restricted {
        b = b.attr(nc("restricted"), "1");
    }
    if let Some(c) = credential {
        b = b
            .attr(nc("username"), c.username.as_str())
            .attr(nc("password"), c.password.as_str())
            .attr(
                nc("expires"),
                clock::xep0082(c.expires.saturating_mul(1000)),
            );
    }
    b.build()
}

/// The credential `user` gets now for the restricted services, if the plugin has a secret (it
/// has one whenever a service is restricted: `Settings::parse` insists).
fn credential(settings: &Settings, user: &str) -> Option<Credential> {
    let secret = settings.secret.as_ref()?;
    let expires = (clock::now_ms() / 1000).saturating_add(settings.lifetime.as_secs());
    Some(credentials::issue(secret, user, expires))
}

/// The elements for `services`, credentials on the restricted ones; and whether any got them.
fn elements<'s>(
    settings: &Settings,
    user: &str,
    services: impl Iterator<Item = &'s Service>,
) -> (Vec<Element>, bool) {
    let mut credential_for_all = None;
    let mut issued = false;
    let list = services
        .map(|s| {
            let c = if s.restricted {
                if credential_for_all.is_none() {
                    credential_for_all = credential(settings, user);
                }
                credential_for_all.as_ref()
            } else {
                None
            };
            issued |= c.is_some();
            element(s, c)
        })
        .collect();
    (list, issued)
}

/// `<services [type='…']/>` (XEP-0215 §3.1, §3.2): every service, or those of the requested
/// type (an unknown type matches none), echoing the type on the answer as the XEP's examples
/// do. Also says whether credentials were issued.
pub(crate) fn list(settings: &Settings, user: &str, request: &Element) -> (Element, bool) {
    let wanted = request.attr("type");
    let (children, issued) = elements(
        settings,
        user,
        settings
            .services
            .iter()
            .filter(|s| wanted.is_none_or(|t| t == s.type_.as_str())),
    );
    let mut b = Element::builder("services", ns::EXTDISCO);
    if let Some(t) = wanted {
        b = b.attr(nc("type"), t);
    }
    (b.append_all(children).build(), issued)
}

/// `<credentials><service host='…' type='…' [port='…']/></credentials>` (XEP-0215 §3.3): the
/// configured services each requested one identifies, with credentials on the restricted ones
/// (an unrestricted one needs none and comes back as it is). Also says whether credentials
/// were issued.
///
/// # Errors
///
/// `bad-request` for a request naming no service, or a `<service/>` without `host` or `type`
/// (which §3.3 requires) or with a port that is not one; `item-not-found` when no configured
/// service matches.
pub(crate) fn credentials(
    settings: &Settings,
    user: &str,
    request: &Element,
) -> Result<(Element, bool), StanzaError> {
    let mut wanted: Vec<(&str, &str, Option<u16>)> = Vec::new();
    for s in request.children().filter(|c| c.is("service", ns::EXTDISCO)) {
        let (Some(host), Some(type_)) = (s.attr("host"), s.attr("type")) else {
            return Err(StanzaError::bad_request()
                .with_text("a <service/> needs its 'host' and 'type' (XEP-0215 §3.3)"));
        };
        let port = match s.attr("port") {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| StanzaError::bad_request().with_text("'port' is not a port"))?,
            ),
        };
        wanted.push((host, type_, port));
    }
    if wanted.is_empty() {
        return Err(StanzaError::bad_request().with_text("name the service in a <service/>"));
    }
    let matches = |s: &&Service| {
        wanted.iter().any(|(host, type_, port)| {
            *host == s.host && *type_ == s.type_.as_str() && port.is_none_or(|p| p == s.port)
        })
    };
    if !settings.services.iter().any(|s| matches(&s)) {
        return Err(StanzaError::item_not_found().with_text("no such service here"));
    }
    let (children, issued) = elements(settings, user, settings.services.iter().filter(matches));
    Ok((
        Element::builder("credentials", ns::EXTDISCO)
            .append_all(children)
            .build(),
        issued,
    ))
}
