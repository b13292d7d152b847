//! Roster management (RFC 6121 §2): get with versioning, set, remove, and roster pushes.
//!
//! The caller (`iq`) has already checked that the request concerns the sender's own roster
//! (RFC 6121 §2.1.3, §2.3.3: anything else is `forbidden`) and that it has exactly one child.

use std::sync::atomic::{AtomicU64, Ordering};

use jid::BareJid;
use minidom::Element;

use super::error::{Condition, bounce};
use super::stanza::{account, iq_result, send, set_attr};
use super::{ImSession, subscription_io};
use crate::ns;
use crate::server::Shared;
use crate::storage::{RosterItem, StorageError, Subscription};

/// Longest `name` we store, in bytes (RFC 6121 §2.3.3: "a server-configured limit").
const NAME_MAX: usize = 1023;
/// Longest group name, in bytes (RFC 6121 §2.3.3).
const GROUP_MAX: usize = 1023;
/// Most groups on one item; more is `not-acceptable`, as a policy bound on stored data.
const GROUPS_MAX: usize = 64;

/// A validated roster set item (RFC 6121 §2.3, §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetItem {
    pub(crate) jid: BareJid,
    pub(crate) name: Option<String>,
    pub(crate) groups: Vec<String>,
    /// `subscription='remove'` (§2.5.1). Any other `subscription`, `ask` or `approved` value a
    /// client sends is ignored (§2.1.2.5, §2.1.2.2, §2.1.2.1).
    pub(crate) remove: bool,
}

/// Validates the `<query/>` of a roster set (RFC 6121 §2.3.3).
pub(crate) fn parse_set(query: &Element) -> Result<SetItem, Condition> {
    let mut items = query.children().filter(|c| c.is("item", ns::ROSTER));
    // §2.3.3: exactly one <item/>.
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(Condition::BadRequest);
    };
    let jid = item.attr("jid").ok_or(Condition::BadRequest)?;
    // The same guards as the stream's addresses (a trailing dot, two-pass normalisation).
    let jid = super::stanza::parse_jid(jid).ok_or(Condition::JidMalformed)?;
    // §2.1.2.3: a roster item's JID is a bare JID.
    let jid = jid.try_into_full().err().ok_or(Condition::BadRequest)?;
    let remove = item.attr("subscription") == Some("remove");
    let name = match item.attr("name") {
        Some(n) if n.len() > NAME_MAX => return Err(Condition::NotAcceptable),
        Some("") | None => None,
        Some(n) => Some(n.to_owned()),
    };
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", ns::ROSTER)) {
        let g = g.text();
        // §2.3.3: an empty or over-long group name is not acceptable.
        if g.is_empty() || g.len() > GROUP_MAX {
            return Err(Condition::NotAcceptable);
        }
        // §2.3.3: duplicate groups are a bad request.
        if groups.contains(&g) {
            return Err(Condition::BadRequest);
        }
        groups.push(g);
    }
    if groups.len() > GROUPS_MAX {
        return Err(Condition::NotAcceptable);
    }
    Ok(SetItem {
        jid,
        name,
        groups,
        remove,
    })
}

/// RFC 6121 §2.6.3: the client's cached roster is current, so the result may be empty.
pub(crate) fn up_to_date(client_ver: Option<&str>, current: u64) -> bool {
    client_ver.is_some_and(|v| v.parse::<u64>().ok() == Some(current))
}

/// The `<item/>` for a stored item (RFC 6121 §2.1.2).
pub(crate) fn item_element(item: &RosterItem) -> Element {
    let mut el = Element::bare("item", ns::ROSTER);
    set_attr(&mut el, "jid", item.jid.as_str());
    if let Some(name) = &item.name {
        set_attr(&mut el, "name", name.as_str());
    }
    set_attr(&mut el, "subscription", item.subscription.as_str());
    if item.ask_out {
        set_attr(&mut el, "ask", "subscribe");
    }
    if item.approved {
        set_attr(&mut el, "approved", "true");
    }
    for g in &item.groups {
        let mut group = Element::bare("group", ns::ROSTER);
        group.append_text(g.as_str());
        el.append_child(group);
    }
    el
}

/// `<query ver=…>` holding `items`.
fn query(ver: u64, items: impl IntoIterator<Item = Element>) -> Element {
    let mut q = Element::bare("query", ns::ROSTER);
    set_attr(&mut q, "ver", ver.to_string());
    for item in items {
        q.append_child(item);
    }
    q
}

static PUSH_ID: AtomicU64 = AtomicU64::new(0);

/// Sends a roster push (RFC 6121 §2.1.6) of one item, with the roster's new version (§2.6), to
/// every interested session of `user`. Pushes carry no `from`, which clients read as "from my
/// own account" (§2.1.6).
pub(crate) fn push(shared: &Shared, user: &BareJid, item: Element, ver: u64) {
    let payload = query(ver, [item]);
    for s in shared.router.sessions(user) {
        if !s.interested {
            continue;
        }
        let id = PUSH_ID.fetch_add(1, Ordering::Relaxed);
        let mut iq = super::stanza::client_element("iq", &[("type", "set")]);
        set_attr(&mut iq, "id", format!("push{id}"));
        set_attr(&mut iq, "to", s.jid.as_str());
        iq.append_child(payload.clone());
        send(shared, &s.jid, &iq);
    }
}

/// Handles a roster get or set on the sender's own roster. `set` tells which.
pub(crate) async fn handle(
    shared: &Shared,
    session: &ImSession,
    stanza: Element,
    set: bool,
) -> Result<(), StorageError> {
    let user = session.jid.to_bare();
    let Some(username) = account(&user) else {
        return Ok(());
    };
    let Some(q) = stanza.children().next() else {
        bounce(shared, &session.jid, stanza, Condition::BadRequest);
        return Ok(());
    };
    if !set {
        // §2.1.3: the requesting session becomes "interested" and gets pushes from now on.
        shared.router.set_interested(&session.jid, session.id);
        let client_ver = q.attr("ver").map(str::to_owned);
        let (ver, items) = shared.storage.roster(username).await?;
        let reply = if up_to_date(client_ver.as_deref(), ver) {
            // §2.6.3: nothing changed, pushes will follow for later changes.
            iq_result(&stanza, None)
        } else {
            iq_result(&stanza, Some(query(ver, items.iter().map(item_element))))
        };
        send(shared, &session.jid, &reply);
        return Ok(());
    }
    let item = match parse_set(q) {
        Ok(item) => item,
        Err(condition) => {
            bounce(shared, &session.jid, stanza, condition);
            return Ok(());
        }
    };
    if item.remove {
        // §2.5.2: cancel both directions of the subscription, then drop the item.
        let Some(existing) = shared.storage.roster_item(username, &item.jid).await? else {
            // §2.5.3: removing an item that is not there.
            bounce(shared, &session.jid, stanza, Condition::ItemNotFound);
            return Ok(());
        };
        subscription_io::roster_removed(shared, &user, &existing).await?;
        shared
            .storage
            .remove_pending_in(username, &item.jid)
            .await?;
        if let Some(ver) = shared
            .storage
            .remove_roster_item(username, &item.jid)
            .await?
        {
            let mut gone = Element::bare("item", ns::ROSTER);
            set_attr(&mut gone, "jid", item.jid.as_str());
            set_attr(&mut gone, "subscription", "remove");
            push(shared, &user, gone, ver);
        }
    } else {
        // §2.4.2: an update changes only what the client controls, name and groups; the
        // subscription state belongs to the server (§2.1.2.5).
        let existing = shared.storage.roster_item(username, &item.jid).await?;
        let stored = RosterItem {
            name: item.name,
            groups: item.groups,
            ..existing.unwrap_or(RosterItem {
                jid: item.jid,
                name: None,
                groups: Vec::new(),
                subscription: Subscription::None,
                ask_out: false,
                approved: false,
            })
        };
        let ver = shared.storage.put_roster_item(username, &stored).await?;
        // §2.3.2: push to every interested resource, the requester included.
        push(shared, &user, item_element(&stored), ver);
    }
    send(shared, &session.jid, &iq_result(&stanza, None));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(items: &str) -> Element {
        format!("<query xmlns='jabber:iq:roster'>{items}</query>")
            .parse()
            .expect("test XML")
    }

    #[test]
    fn valid_set() {
        let got = parse_set(&q(
            "<item jid='Juliet@Example.com' name='J' subscription='both' ask='subscribe'><group>A</group><group>B</group></item>",
        ))
        .expect("valid");
        assert_eq!(got.jid.as_str(), "juliet@example.com");
        assert_eq!(got.name.as_deref(), Some("J"));
        assert_eq!(got.groups, ["A", "B"]);
        assert!(!got.remove);
    }

    /// Issue 5, `jid` fuzz target: a roster item gets the stream's JID guards, so the root dot
    /// and a second normalisation pass cannot make two items of one contact.
    #[test]
    fn r5_fuzz_item_jids_are_normalised_like_addresses() {
        let got = parse_set(&q("<item jid='juliet@example.com.'/>")).expect("valid");
        assert_eq!(got.jid.as_str(), "juliet@example.com");
        let got = parse_set(&q("<item jid='\u{32CC}@example.com'/>")).expect("valid");
        assert_eq!(got.jid.as_str(), "hg@example.com");
        assert!(matches!(
            parse_set(&q("<item jid='u@\u{1806}'/>")),
            Err(Condition::JidMalformed)
        ));
    }

    #[test]
    fn remove_set() {
        let got = parse_set(&q("<item jid='a@b' subscription='remove'/>")).expect("valid");
        assert!(got.remove);
        assert_eq!(got.name, None);
    }

    #[test]
    fn invalid_sets() {
        let cases = [
            ("", Condition::BadRequest),
            ("<item jid='a@b'/><item jid='c@d'/>", Condition::BadRequest),
            ("<item/>", Condition::BadRequest),
            ("<item jid='a@b@c'/>", Condition::JidMalformed),
            ("<item jid='a@b/r'/>", Condition::BadRequest),
            ("<item jid='a@b'><group/></item>", Condition::NotAcceptable),
            (
                "<item jid='a@b'><group>x</group><group>x</group></item>",
                Condition::BadRequest,
            ),
        ];
        for (items, want) in cases {
            assert_eq!(parse_set(&q(items)), Err(want), "{items}");
        }
        let long = format!("<item jid='a@b' name='{}'/>", "n".repeat(NAME_MAX + 1));
        assert_eq!(parse_set(&q(&long)), Err(Condition::NotAcceptable));
        let long = format!(
            "<item jid='a@b'><group>{}</group></item>",
            "g".repeat(GROUP_MAX + 1)
        );
        assert_eq!(parse_set(&q(&long)), Err(Condition::NotAcceptable));
    }

    #[test]
    fn version_matching() {
        assert!(up_to_date(Some("7"), 7));
        assert!(!up_to_date(Some("6"), 7));
        assert!(!up_to_date(Some(""), 0));
        assert!(!up_to_date(Some("garbage"), 7));
        assert!(!up_to_date(None, 0));
    }

    #[test]
    fn item_rendering() {
        let item = RosterItem {
            jid: "a@b".parse().expect("jid"),
            name: Some("A".into()),
            groups: vec!["G".into()],
            subscription: Subscription::None,
            ask_out: true,
            approved: true,
        };
        let el = item_element(&item);
        assert_eq!(el.attr("jid"), Some("a@b"));
        assert_eq!(el.attr("subscription"), Some("none"));
        assert_eq!(el.attr("ask"), Some("subscribe"));
        assert_eq!(el.attr("approved"), Some("true"));
        assert_eq!(
            el.get_child("group", ns::ROSTER)
                .map(Element::text)
                .as_deref(),
            Some("G")
        );
        let q = query(3, [el]);
        assert_eq!(q.attr("ver"), Some("3"));
    }
}
