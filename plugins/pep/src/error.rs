//! XEP-0060 errors: a stanza error (RFC 6120 §8.3) with, often, an application condition in
//! `http://jabber.org/protocol/pubsub#errors` (XEP-0060 §14.4), which the host's
//! `Verdict::Error` cannot carry, so the plugin sends error replies itself.

use tessera_sdk::minidom::Element;
use tessera_sdk::{ErrorType, HostError, Stanza, StanzaError, log, router};

use crate::{ns, xml};

/// An error answer to a pubsub request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PubsubError {
    /// The RFC 6120 condition.
    pub(crate) error: StanzaError,
    /// The `pubsub#errors` element's name, if any.
    pub(crate) app: Option<&'static str>,
    /// The `feature` attribute of `<unsupported/>`.
    pub(crate) feature: Option<&'static str>,
}

impl From<StanzaError> for PubsubError {
    fn from(error: StanzaError) -> Self {
        Self {
            error,
            app: None,
            feature: None,
        }
    }
}

impl PubsubError {
    /// `error` with the application condition `app`.
    pub(crate) fn app(error: StanzaError, app: &'static str) -> Self {
        Self {
            error,
            app: Some(app),
            feature: None,
        }
    }

    /// `feature-not-implemented` with `<unsupported feature='…'/>` (XEP-0060 §14.4).
    pub(crate) fn unsupported(feature: &'static str) -> Self {
        Self {
            error: StanzaError::feature_not_implemented(),
            app: Some("unsupported"),
            feature: Some(feature),
        }
    }

    /// `bad-request` with `app`.
    pub(crate) fn bad_request(app: &'static str) -> Self {
        Self::app(StanzaError::bad_request(), app)
    }

    /// XEP-0060 §7.1.5: `conflict` with `<precondition-not-met/>`.
    pub(crate) fn precondition_not_met() -> Self {
        Self::app(
            StanzaError::new(ErrorType::Cancel, "conflict"),
            "precondition-not-met",
        )
    }

    /// XEP-0060 §6.5.9 (and §6.1.3.2): `not-authorized` with `<presence-subscription-required/>`.
    pub(crate) fn presence_subscription_required() -> Self {
        Self::app(
            StanzaError::new(ErrorType::Auth, "not-authorized"),
            "presence-subscription-required",
        )
    }

    /// XEP-0060 §6.5.9 (and §6.1.3.4): `not-allowed` with `<closed-node/>` (whitelist).
    pub(crate) fn closed_node() -> Self {
        Self::app(StanzaError::not_allowed(), "closed-node")
    }

    /// `item-not-found` (a node or item that does not exist).
    pub(crate) fn item_not_found() -> Self {
        StanzaError::item_not_found().into()
    }

    /// `forbidden` (not the owner).
    pub(crate) fn forbidden() -> Self {
        StanzaError::forbidden().into()
    }

    /// Our own failure to store or read: logged with the account (metadata only).
    pub(crate) fn internal(doing: &str, owner: &str, e: &HostError) -> Self {
        if *e == HostError::QuotaExceeded {
            return StanzaError::resource_constraint()
                .with_text("the server's storage quota is exhausted")
                .into();
        }
        log::error(&format!("could not {doing} of {owner}: {e}"));
        StanzaError::internal_server_error().into()
    }

    /// The error reply to `iq`, from `from` (RFC 6120 §8.3.1: addresses swapped, same id).
    pub(crate) fn reply(&self, iq: &Stanza, from: &str) -> Option<Element> {
        let mut reply = iq.error_reply(&self.error)?;
        xml::set(&mut reply, "from", from);
        if let Some(app) = self.app {
            let mut condition = Element::bare(app, ns::PUBSUB_ERRORS);
            if let Some(feature) = self.feature {
                xml::set(&mut condition, "feature", feature);
            }
            if let Some(error) = reply.get_child_mut("error", ns::CLIENT) {
                error.append_child(condition);
            }
        }
        Some(reply)
    }

    /// Sends [`PubsubError::reply`]; a failure means the requester went away.
    pub(crate) fn send(&self, iq: &Stanza, from: &str) {
        if let Some(reply) = self.reply(iq, from)
            && let Err(e) = router::send(&reply)
        {
            log::info(&format!("pubsub error to {} undeliverable: {e}", iq.from()));
        }
    }
}
