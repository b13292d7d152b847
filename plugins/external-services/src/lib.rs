//! plugin-external-services: External Service Discovery (XEP-0215, `urn:xmpp:extdisco:2`) as a
//! Tessera plugin: tells clients which STUN and TURN servers to use for audio and video calls
//! (XEP-0167 over XEP-0176 ICE), with time-limited TURN credentials.
//!
//! - `<iq type='get'><services xmlns='urn:xmpp:extdisco:2' [type='turn']/></iq>` lists the
//!   operator's services, or those of one type (§3.1, §3.2);
//! - `<iq type='get'><credentials xmlns='urn:xmpp:extdisco:2'><service host='…' type='…'/>
//!   </credentials></iq>` returns fresh credentials for the services it names (§3.3);
//! - the server's disco#info lists `urn:xmpp:extdisco:2` (§5).
//!
//! Credentials (`credentials.rs`) follow coturn's REST API scheme (`use-auth-secret`,
//! `static-auth-secret`): `username = "<expiry>:<bare JID>"`, `password =
//! base64(HMAC-SHA1(secret, username))`, with the expiry `lifetime` (a day by default) ahead and
//! also sent as `expires` (XEP-0082). Nothing is stored: the relay checks the password itself.
//!
//! The plugin is not a built-in default: it needs the operator's secret and list of services
//! (`config.rs`), so it runs only where a `[plugins.external-services]` table enables it. Logs
//! name the account and how many credentials were issued, never a password or the secret.
//!
//! Grants: `log`, `router` with `router.impersonate` (a request without `to`, or to the account's
//! bare JID, is answered from that bare JID, RFC 6120 §10.3.3), `clock` (the expiry).
//!
//! ## Layout
//! - this file: the manifest, the config, addressing and the IQ dispatch;
//! - `config`: `[plugins.external-services.config]`;
//! - `services`: the `<services/>` and `<credentials/>` answers;
//! - `credentials`: TURN REST credentials; `ns`: namespaces.

mod config;
mod credentials;
mod ns;
mod services;

use tessera_sdk::minidom::Element;
use tessera_sdk::{Context, Hook, Manifest, Plugin, Stanza, StanzaError, Verdict, log, router};

use config::Settings;

/// The plugin; its only state is the operator's settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct ExternalServices {
    settings: Settings,
}

impl ExternalServices {
    /// The answer's payload, and whether credentials are in it.
    fn answer(&self, account: &str, iq: &Stanza) -> Result<(Element, bool), StanzaError> {
        if iq.type_attr() != "get" {
            // Pushes (§3.2) go from the server to clients, never the other way.
            return Err(StanzaError::bad_request().with_text("services are asked for with a get"));
        }
        let el = iq
            .element()
            .map_err(|e| StanzaError::bad_request().with_text(e.to_string()))?;
        let Some(request) = el.children().next() else {
            return Err(StanzaError::bad_request());
        };
        if request.is("services", ns::EXTDISCO) {
            Ok(services::list(&self.settings, account, request))
        } else if request.is("credentials", ns::EXTDISCO) {
            services::credentials(&self.settings, account, request)
        } else {
            Err(StanzaError::bad_request())
        }
    }
}

impl Plugin for ExternalServices {
    fn describe(&self) -> Manifest {
        Manifest::new("external-services", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::EXTDISCO, "services")
            .iq_handler(ns::EXTDISCO, "credentials")
            .feature(ns::EXTDISCO)
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        self.settings = Settings::parse(config).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_stanza(&self, ctx: &Context, iq: &Stanza) -> Verdict {
        if ctx.hook != Hook::Iq {
            return Verdict::Pass;
        }
        let Some(account) = ctx.account.as_deref() else {
            return Verdict::Error(StanzaError::bad_request());
        };
        let to = iq.to();
        if !tessera_sdk::addressed_to_account(account, to) {
            // XEP-0215 §2: "forbidden if the requesting entity does not have permission".
            return Verdict::Error(StanzaError::forbidden());
        }
        let from = iq.answering_as(account);
        match self.answer(account, iq) {
            Ok((payload, issued)) => {
                if issued {
                    log::debug(&format!("TURN credentials issued to {account}"));
                }
                if let Some(result) = iq.iq_result_from(from, Some(payload))
                    && let Err(e) = router::send(&result)
                {
                    // The requesting session went away meanwhile: nobody is left to answer.
                    log::info(&format!(
                        "external services answer to {account} undeliverable: {e}"
                    ));
                }
                Verdict::Handled
            }
            Err(e) => Verdict::Error(e),
        }
    }
}

#[cfg(test)]
mod tests;
