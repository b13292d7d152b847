//! `requests.ask` (WIT 0.1.2): a plugin asks another plugin's IQ handler on an account's behalf
//! and gets the answer back, as Prosody's `module:send_iq` and ejabberd's `route_iq` let modules
//! do. XEP-0398 needs it: `pep` keeps the avatar, `vcard` the vCard, and each converts into the
//! other through the other's IQs, never its storage.
//!
//! The request runs through [`super::iq::owned`] exactly as if the account had sent it from a
//! session of its own, with one difference: that session is a private address,
//! `account/tessera-request-<random>`, that no client can have bound (the random part is 96 bits)
//! and that is never registered. Whatever is sent to it while the request runs (the owner's
//! answer through `router.send`, or the host's error answer) is caught by [`Requests::catch`] on
//! its way into the router and handed to the waiting caller.
//!
//! A call a request started may ask in turn, but a task-local keeps the chain of plugins it went
//! through: a request never reaches a plugin already in it (a cycle would have a plugin wait for
//! an instance its own caller holds), and a chain is at most [`MAX_CHAIN`] plugins long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use jid::{BareJid, FullJid};
use minidom::Element;

use super::bindings::tessera::plugin::types::Error;
use super::instance::PluginCtx;
use super::{Flow, wire};
use crate::im::stanza::parse_jid;
use crate::server::Shared;

tokio::task_local! {
    /// The plugins a chain of requests went through, the asking one first, while the last of
    /// them answers.
    static CHAIN: Vec<String>;
}

/// The longest chain of plugins requests may go through (the first asker included).
const MAX_CHAIN: usize = 4;

/// The resource prefix of the private addresses requests are asked from.
const RESOURCE_PREFIX: &str = "tessera-request-";

/// The requests waiting for their answer, by the private address they were asked from.
#[derive(Default)]
pub(crate) struct Requests {
    /// How many are waiting: the router's check is one atomic load when none are.
    waiting: AtomicUsize,
    // A std Mutex held for map operations only, never across an await.
    map: Mutex<HashMap<FullJid, Option<Bytes>>>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Requests {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<FullJid, Option<Bytes>>> {
        // A poisoned lock means a panic inside one of these short sections: keep serving.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a stanza routed to `to` if `to` is a waiting request's address: its first answer is
    /// kept, anything more is dropped (there is no session to get it). `false` for every other
    /// address, at the cost of one atomic load while no request waits.
    pub(crate) fn catch(&self, to: &FullJid, bytes: &Bytes) -> bool {
        if self.waiting.load(Ordering::Acquire) == 0
            || !to.resource().as_str().starts_with(RESOURCE_PREFIX)
        {
            return false;
        }
        let mut map = self.map();
        match map.get_mut(to) {
            Some(slot) => {
                slot.get_or_insert_with(|| bytes.clone());
                true
            }
            None => false,
        }
    }

    fn open(&self, from: FullJid) {
        self.map().insert(from, None);
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    fn close(&self, from: &FullJid) -> Option<Bytes> {
        let answer = self.map().remove(from).flatten();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        answer
    }
}

/// Whether a plugin other than `ctx`'s owns `{namespace}name` (`requests.answers`).
pub(crate) fn answers(shared: &Shared, ctx: &PluginCtx, namespace: &str, name: &str) -> bool {
    shared
        .plugins
        .registry()
        .iq_owner(namespace, name)
        .is_some_and(|p| p.name() != ctx.name)
}

/// Checks `xml` (see the WIT docs of `ask`) and returns the IQ, its account and its payload's
/// owner.
fn check(
    shared: &Shared,
    ctx: &PluginCtx,
    xml: &str,
) -> Result<
    (
        Element,
        BareJid,
        std::sync::Arc<super::instance::LoadedPlugin>,
    ),
    Error,
> {
    let invalid = |why: &str| Error::Invalid(why.to_owned());
    let iq = wire::parse(xml, &shared.config.limits).map_err(|e| Error::Invalid(e.to_string()))?;
    if !iq.is("iq", crate::ns::JABBER_CLIENT) {
        return Err(invalid("not an <iq/> in jabber:client"));
    }
    if !matches!(iq.attr("type"), Some("get" | "set")) {
        return Err(invalid("only a get or a set is a request"));
    }
    if iq.children().count() != 1 {
        return Err(invalid("a request has exactly one payload"));
    }
    let account = iq
        .attr("from")
        .and_then(parse_jid)
        .map(|j| j.to_bare())
        .filter(|j| j.domain().as_str() == ctx.domain && j.node().is_some())
        .ok_or_else(|| invalid("`from` must be a local account"))?;
    match iq.attr("to").map(|t| parse_jid(t).ok_or(())) {
        None => {}
        Some(Ok(to))
            if to.node().is_none()
                && to.resource().is_none()
                && to.domain() == account.domain() => {}
        Some(Ok(to)) if to.resource().is_none() && to.to_bare() == account => {}
        Some(_) => return Err(invalid("`to` must be absent, the account or the server")),
    }
    let reg = shared.plugins.registry();
    let owner = wire::payload(&iq)
        .and_then(|p| reg.iq_owner(&p.ns(), p.name()).cloned())
        .ok_or_else(|| Error::Unavailable("no plugin answers this payload".to_owned()))?;
    if owner.name() == ctx.name {
        return Err(Error::Unavailable(
            "a plugin does not ask itself; it has its own data".to_owned(),
        ));
    }
    Ok((iq, account, owner))
}

/// Runs one request for the plugin `ctx`; the serialised answer.
pub(crate) async fn ask(shared: &Shared, ctx: &PluginCtx, xml: &str) -> Result<String, Error> {
    let (mut iq, account, owner) = check(shared, ctx, xml)?;
    let mut chain = CHAIN
        .try_with(Clone::clone)
        .unwrap_or_else(|_| vec![ctx.name.clone()]);
    if chain.iter().any(|p| p == owner.name()) {
        return Err(Error::Unavailable(format!(
            "{} is already in this chain of requests",
            owner.name()
        )));
    }
    if chain.len() >= MAX_CHAIN {
        return Err(Error::Unavailable(
            "too long a chain of requests".to_owned(),
        ));
    }
    chain.push(owner.name().to_owned());
    let nonce: [u8; 12] = rand::random();
    let resource = nonce.iter().fold(RESOURCE_PREFIX.to_owned(), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    });
    let from = account
        .with_resource_str(&resource)
        .map_err(|e| Error::Invalid(format!("no address for the request: {e}")))?;
    iq.attrs_mut()
        .remove(&minidom::rxml::Namespace::NONE, "from");
    iq.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::NcName::try_from("from").map_err(|_| Error::Invalid("from".to_owned()))?,
        from.to_string(),
    );
    tracing::debug!(plugin = %ctx.name, owner = %owner.name(), "request");
    shared.requests.open(from.clone());
    let flow = CHAIN
        .scope(chain, super::iq::owned(shared, &from, iq))
        .await;
    let answer = shared.requests.close(&from);
    match (flow, answer) {
        // Serialised for a stream, where the header declares `jabber:client`: re-serialised as
        // a document of its own, as the WIT promises (`wire::to_wit` does the same).
        (_, Some(bytes)) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|xml| wire::parse(xml, &shared.config.limits).ok())
            .map(|el| tessera_xml::serialize_document(&el))
            .ok_or_else(|| Error::Unavailable("the answer does not parse".to_owned())),
        (Flow::Continue(_), None) => Err(Error::Unavailable(
            "no plugin answers this payload".to_owned(),
        )),
        (Flow::Stop, None) => Err(Error::Unavailable(format!(
            "{} gave no answer",
            owner.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_waiting_private_addresses_are_caught() {
        let r = Requests::default();
        let waiting = FullJid::new("a@localhost/tessera-request-00ff").unwrap();
        let other = FullJid::new("a@localhost/phone").unwrap();
        let bytes = Bytes::from_static(b"<iq type='result'/>");
        assert!(!r.catch(&waiting, &bytes), "nothing waits");
        r.open(waiting.clone());
        assert!(!r.catch(&other, &bytes));
        assert!(r.catch(&waiting, &bytes));
        assert!(
            r.catch(&waiting, &Bytes::from_static(b"<iq type='error'/>")),
            "a second answer is swallowed"
        );
        assert_eq!(r.close(&waiting), Some(bytes));
        assert!(!r.catch(&waiting, &Bytes::from_static(b"<iq/>")), "closed");
    }
}
