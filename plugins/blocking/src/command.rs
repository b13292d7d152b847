//! The protocol on the user's own account (XEP-0191 §3.2–§3.5): get the blocklist, block,
//! unblock some, unblock all; the pushes to interested resources, the unavailable presence a
//! newly blocked contact gets and the current presence an unblocked one gets.
//!
//! "Interested" resources (XEP-0191 §3.2: a resource that retrieved the list gets the pushes)
//! are remembered in `ephemeral` under `interested/<full JID>`: the `sessions` capability says who
//! is bound, not who asked. A push goes to the bound sessions that asked; a timer sweeps the
//! keys of sessions that are gone ([`sweep`]).

use tessera_sdk::jid::{BareJid, Jid};
use tessera_sdk::minidom::Element;
use tessera_sdk::{
    ErrorType, Stanza, StanzaError, Verdict, ephemeral, log, roster, router, sessions,
};

use crate::{blocklist, ns};

/// The `ephemeral` key prefix of interested resources.
const INTERESTED: &str = "interested/";

use tessera_sdk::xml::attr_name as nc;

/// `<name xmlns='urn:xmpp:blocking'>` with one `<item jid=''/>` per item.
fn items_element(name: &str, items: &[String]) -> Element {
    Element::builder(name, ns::BLOCKING)
        .append_all(
            items
                .iter()
                .map(|jid| Element::builder("item", ns::BLOCKING).attr(nc("jid"), jid.as_str())),
        )
        .build()
}

/// The normalised JIDs of a `<block/>` or `<unblock/>`'s items, in order.
///
/// # Errors
///
/// `jid-malformed` for an item whose `jid` is not a JID, `bad-request` for one without `jid`,
/// `not-acceptable` for one longer than [`blocklist::MAX_JID_BYTES`].
fn items(payload: &Element) -> Result<Vec<String>, StanzaError> {
    let mut out = Vec::new();
    for item in payload.children().filter(|c| c.is("item", ns::BLOCKING)) {
        let Some(jid) = item.attr("jid") else {
            return Err(StanzaError::bad_request().with_text("an item without a jid"));
        };
        if jid.len() > blocklist::MAX_JID_BYTES {
            return Err(StanzaError::not_acceptable().with_text("the JID is too long"));
        }
        let jid = blocklist::normalise(jid).ok_or_else(|| {
            StanzaError::new(ErrorType::Modify, "jid-malformed").with_text("not a JID")
        })?;
        if !out.contains(&jid) {
            out.push(jid);
        }
    }
    Ok(out)
}

/// Handles an owned IQ (`Hook::Iq`).
pub(crate) fn handle(account: &str, session: Option<&str>, iq: &Stanza) -> Verdict {
    let to = iq.to();
    if !tessera_sdk::addressed_to_account(account, to) {
        // Only the account itself reads or changes its list.
        return Verdict::Error(StanzaError::forbidden());
    }
    let from = iq.answering_as(account);
    match answer(account, session, iq) {
        Ok((payload, push)) => {
            if let Some(result) = iq.iq_result_from(from, payload)
                && let Err(e) = router::send(&result)
            {
                // The requesting session went away meanwhile: nobody is left to answer.
                log::info(&format!("blocking answer to {account} undeliverable: {e}"));
            }
            if let Some(push) = push {
                send_push(account, iq.id(), &push);
            }
            Verdict::Handled
        }
        Err(e) => Verdict::Error(e),
    }
}

/// The answer's payload, and the push to send after it (a change), or the error.
fn answer(
    account: &str,
    session: Option<&str>,
    iq: &Stanza,
) -> Result<(Option<Element>, Option<Element>), StanzaError> {
    let el = iq
        .element()
        .map_err(|e| StanzaError::bad_request().with_text(e.to_string()))?;
    let Some(payload) = el.children().find(|c| c.ns() == ns::BLOCKING) else {
        return Err(StanzaError::bad_request());
    };
    match (iq.type_attr(), payload.name()) {
        // §3.2: the list; the resource is interested in pushes from now on.
        ("get", "blocklist") => {
            let list = blocklist::list(account)
                .map_err(|e| blocklist::internal("read the blocklist", account, &e))?;
            // Only a bound session gets pushes: another plugin asking for the list on the
            // account's behalf (`requests`) is no resource of it.
            if let Some(session) = session
                && sessions::list(account).iter().any(|s| s.jid == session)
                && let Err(e) = ephemeral::set(&format!("{INTERESTED}{session}"), b"")
            {
                log::warn(&format!(
                    "could not remember a blocklist request of {account}: {e}"
                ));
            }
            Ok((Some(items_element("blocklist", &list)), None))
        }
        // §3.3: at least one item, else bad-request.
        ("set", "block") => {
            let items = items(payload)?;
            if items.is_empty() {
                return Err(StanzaError::bad_request().with_text("name at least one JID to block"));
            }
            let added = blocklist::add(account, &items)?;
            unavailable_to(account, &added);
            Ok((None, Some(items_element("block", &items))))
        }
        // §3.4 some items; §3.5 none: every item.
        ("set", "unblock") => {
            let items = items(payload)?;
            let removed = if items.is_empty() {
                blocklist::list(account)
                    .map_err(|e| blocklist::internal("read the blocklist", account, &e))?
            } else {
                items.clone()
            };
            if items.is_empty() {
                blocklist::remove(account, None)?;
            } else {
                blocklist::remove(account, Some(&items))?;
            }
            presence_to(account, &removed);
            Ok((None, Some(items_element("unblock", &items))))
        }
        _ => Err(StanzaError::bad_request()),
    }
}

/// §3.3, §3.4, §3.5: the change, as an IQ set from the account, to each bound session that
/// asked for the list (the requester included).
fn send_push(account: &str, id: &str, push: &Element) {
    for s in sessions::list(account) {
        if ephemeral::get(&format!("{INTERESTED}{}", s.jid)).is_none() {
            continue;
        }
        let iq = Element::builder("iq", "jabber:client")
            .attr(nc("type"), "set")
            .attr(nc("id"), format!("block-push-{id}"))
            .attr(nc("from"), account)
            .attr(nc("to"), s.jid.as_str())
            .append(push.clone())
            .build();
        if let Err(e) = router::send(&iq) {
            log::debug(&format!(
                "blocklist push to a session of {account} failed: {e}"
            ));
        }
    }
}

/// The contacts that receive the user's presence (subscription `from` or `both`) and that one of
/// `items` names: the contact itself, one of its resources (that full JID), or its whole domain.
/// Items that name no roster contact (a `domain/resource`) name nobody here.
fn presence_targets(account: &str, items: &[String]) -> Vec<String> {
    let contacts = match roster::items(account) {
        Ok(items) => items,
        Err(e) => {
            log::warn(&format!("could not read the roster of {account}: {e}"));
            return Vec::new();
        }
    };
    let mut targets: Vec<String> = Vec::new();
    for item in items {
        let Ok(named) = Jid::new(item) else {
            continue;
        };
        for contact in contacts.iter().filter(|c| c.subscription.has_from()) {
            let Ok(contact) = BareJid::new(&contact.jid) else {
                continue;
            };
            let target = match (named.node(), named.resource()) {
                // A user, or one resource of it.
                (Some(_), _) if named.to_bare() == contact => item.clone(),
                // A whole domain.
                (None, None) if named.domain() == contact.domain() => contact.to_string(),
                _ => continue,
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
    }
    targets
}

/// The user's available sessions.
fn available(account: &str) -> Vec<String> {
    sessions::list(account)
        .into_iter()
        .filter(sessions::Session::is_available)
        .map(|s| s.jid)
        .collect()
}

/// §3.3: a newly blocked contact that receives the user's presence is told that each available
/// resource of the user went unavailable; from then on the `incoming` hook keeps the user's
/// presence from it.
fn unavailable_to(account: &str, added: &[String]) {
    if added.is_empty() {
        return;
    }
    let available = available(account);
    if available.is_empty() {
        return;
    }
    for target in &presence_targets(account, added) {
        for from in &available {
            let presence = Element::builder("presence", "jabber:client")
                .attr(nc("type"), "unavailable")
                .attr(nc("from"), from.as_str())
                .attr(nc("to"), target.as_str())
                .build();
            if let Err(e) = router::send(&presence) {
                log::debug(&format!("unavailable presence of {account} not sent: {e}"));
            }
        }
    }
}

/// §3.4: an unblocked contact that receives the user's presence gets the current presence of
/// each available resource of the user (the host sends it, `sessions.send-presence`), unless
/// another item still blocks it (a whole domain, say).
fn presence_to(account: &str, removed: &[String]) {
    if removed.is_empty() {
        return;
    }
    let available = available(account);
    if available.is_empty() {
        return;
    }
    for target in presence_targets(account, removed) {
        match blocklist::blocks(account, &target) {
            Ok(false) => {}
            Ok(true) => continue,
            Err(e) => {
                log::warn(&format!("could not read the blocklist of {account}: {e}"));
                continue;
            }
        }
        for session in &available {
            if let Err(e) = sessions::send_presence(session, &target) {
                log::debug(&format!("presence of {account} not sent on unblock: {e}"));
            }
        }
    }
}

/// Forgets the interest of sessions that are no longer bound (a timer: a session that ends
/// sends no event the plugin could clear its key on when it never went available).
pub(crate) fn sweep() {
    let keys = ephemeral::keys(INTERESTED, 10_000);
    let mut bound: Vec<(String, Vec<String>)> = Vec::new();
    for key in keys {
        let Some(session) = key.strip_prefix(INTERESTED) else {
            continue;
        };
        let Some((account, _)) = session.split_once('/') else {
            ephemeral::delete(&key);
            continue;
        };
        let live = match bound.iter().find(|(a, _)| a == account) {
            Some((_, live)) => live,
            None => {
                let live = sessions::list(account).into_iter().map(|s| s.jid).collect();
                bound.push((account.to_owned(), live));
                &bound[bound.len() - 1].1
            }
        };
        if !live.iter().any(|j| j == session) {
            ephemeral::delete(&key);
        }
    }
}
