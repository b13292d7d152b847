//! plugin-private: Private XML Storage (XEP-0049, `jabber:iq:private`) as a Tessera plugin.
//!
//! A client stores a small XML document on the server and reads it back from any device:
//! XEP-0048 bookmarks (as older clients keep them), XEP-0145 annotations, the XEP-0083 roster
//! delimiter, its own settings. Each document is keyed by its root element's name and namespace,
//! so one account keeps many side by side:
//!
//! - `<iq type='set'><query xmlns='jabber:iq:private'><x xmlns='ns'>…</x></query></iq>` stores
//!   (replaces) the element; a set may carry several, all checked before any is written; an
//!   empty element deletes what was stored;
//! - `<iq type='get'><query xmlns='jabber:iq:private'><x xmlns='ns'/></query></iq>` answers it,
//!   or the empty `<x xmlns='ns'/>` when nothing is stored.
//!
//! Errors (XEP-0049 §2.3 and §3): an IQ to another account is `forbidden` (the host keeps IQs to
//! another account's bare JID and answers them `service-unavailable`, which the XEP allows too);
//! a get naming no element is `bad-request` (the XEP's "Bad Format") and one naming several is
//! `bad-request` too (a client "MUST NOT query for more than" one); a set with no element, an
//! element without a namespace of its own, in a reserved namespace (`jabber:*`,
//! `http://jabber.org/*`, `vcard-temp`) or larger than 64 KiB is `not-acceptable`; a 101st
//! element is `resource-constraint`.
//!
//! The documents are `kv` values of the `private-xml` category, owned by the account, so the host
//! deletes them with it; they have no default expiry (the operator may set one in
//! `[plugins.private.retention.private-xml]`). Logs carry the account and what failed, never the
//! stored XML or its namespace.
//!
//! Grants: `log`, `router` with `router.impersonate` (a request without `to`, or to the account's
//! bare JID, is answered from that bare JID, RFC 6120 §10.3.3), `kv`.
//!
//! ## Layout
//! - this file: the manifest, addressing and the IQ dispatch;
//! - `storage`: keys, limits, get and set;
//! - `ns`: namespaces.

mod ns;
mod storage;

use tessera_sdk::minidom::Element;
use tessera_sdk::{
    Context, DataDeclaration, Hook, Manifest, OwnerKind, Plugin, Stanza, StanzaError, Verdict,
    Visibility, log, router,
};

/// The plugin; it has no settings.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Private;

/// Answers an owned IQ: the result payload, or the error the host sends back.
fn answer(account: &str, iq: &Stanza) -> Result<Option<Element>, StanzaError> {
    let el = iq
        .element()
        .map_err(|e| StanzaError::bad_request().with_text(e.to_string()))?;
    let query = el
        .children()
        .find(|c| c.is("query", ns::PRIVATE))
        .ok_or_else(StanzaError::bad_request)?;
    let elements: Vec<&Element> = query.children().collect();
    match iq.type_attr() {
        "get" => match elements.as_slice() {
            // XEP-0049 §3: "Bad Format", the IQ get does not contain a child element.
            [] => Err(StanzaError::bad_request().with_text("name the element to retrieve")),
            [requested] => {
                let stored = storage::get(account, requested)?;
                Ok(Some(
                    Element::builder("query", ns::PRIVATE)
                        .append(stored)
                        .build(),
                ))
            }
            // XEP-0049 §2.3: a client MUST NOT query for more than one namespace in a get.
            _ => Err(StanzaError::bad_request().with_text("retrieve one element per request")),
        },
        "set" => {
            if elements.is_empty() {
                // XEP-0049 §2.3: "At least one child element with a proper namespace MUST be
                // included; otherwise the server MUST respond with a 'Not Acceptable' error".
                return Err(StanzaError::not_acceptable().with_text("no element to store"));
            }
            storage::set(account, &elements)?;
            Ok(None)
        }
        _ => Err(StanzaError::bad_request()),
    }
}

impl Plugin for Private {
    fn describe(&self) -> Manifest {
        Manifest::new("private", env!("CARGO_PKG_VERSION"))
            .iq_handler(ns::PRIVATE, "query")
            .feature(ns::PRIVATE)
            .data(DataDeclaration::new(
                storage::CATEGORY,
                "Documents your clients keep on the server for you (bookmarks, annotations, \
                 client settings), kept until they delete them or your account is removed.",
                OwnerKind::User,
                Visibility::Owner,
            ))
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        tessera_sdk::config::no_settings(config, storage::CATEGORY)
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
            // XEP-0049 §2.3 and §5: only the account itself reads or writes its storage.
            return Verdict::Error(StanzaError::forbidden());
        }
        let from = iq.answering_as(account);
        match answer(account, iq) {
            Ok(payload) => {
                if let Some(result) = iq.iq_result_from(from, payload)
                    && let Err(e) = router::send(&result)
                {
                    // The requesting session went away meanwhile: nobody is left to answer.
                    log::info(&format!(
                        "private XML answer to {account} undeliverable: {e}"
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
