//! Building the stanzas the room sends: occupant presence with its `muc#user` `<x/>`
//! (XEP-0045 §7.2.3), status messages, and sending them.

use tessera_sdk::minidom::Element;
pub(crate) use tessera_sdk::xml::{element as el, set_attr as set};
use tessera_sdk::{log, router};

use crate::ns;
use crate::occupant::Occupant;

/// `<name xmlns='ns'>text</name>`.
pub(crate) fn text(name: &str, ns: &str, text: &str) -> Element {
    Element::builder(name, ns).append(text).build()
}

/// A stanza in the client namespace with `from`, `to` and an optional `type`.
pub(crate) fn stanza(name: &str, from: &str, to: &str, type_: Option<&str>) -> Element {
    let mut s = el(name, ns::CLIENT, &[("from", from), ("to", to)]);
    if let Some(t) = type_ {
        set(&mut s, "type", t);
    }
    s
}

/// What an occupant presence says beyond the occupant itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extra<'a> {
    /// Status codes (§15.6.2), in order.
    pub(crate) codes: Vec<u16>,
    /// `<item nick=…/>`: the new nickname (303, §7.6).
    pub(crate) new_nick: Option<&'a str>,
    /// `<item><reason/>`: given by a moderator (§8.2, §9.1).
    pub(crate) reason: Option<&'a str>,
    /// `<item><actor nick/>`: who kicked or banned (§8.2).
    pub(crate) actor: Option<&'a str>,
    /// `<destroy/>` (§10.9).
    pub(crate) destroy: Option<Element>,
}

/// The presence of `o` in `room` as `to` sees it: available with its stored presence
/// children, or unavailable (role `none`); the item carries the real JID only when
/// `show_jid` (§7.2.3 semi-anonymous, §7.2.4 non-anonymous).
pub(crate) fn occupant_presence(
    room: &str,
    o: &Occupant,
    to: &str,
    unavailable: bool,
    show_jid: bool,
    extra: &Extra<'_>,
) -> Element {
    let mut p = stanza(
        "presence",
        &format!("{room}/{}", o.nick),
        to,
        unavailable.then_some("unavailable"),
    );
    if !unavailable && !o.presence.is_empty() {
        let wrapped = format!("<presence xmlns='{}'>{}</presence>", ns::CLIENT, o.presence);
        if let Ok(stored) = wrapped.parse::<Element>() {
            for child in stored.children() {
                p.append_child(child.clone());
            }
        }
    }
    // §7.6: a nickname change keeps the role; any other departure ends it (§7.14).
    let role = if unavailable && extra.new_nick.is_none() {
        "none"
    } else {
        o.role.as_str()
    };
    let mut item = el(
        "item",
        ns::MUC_USER,
        &[("affiliation", o.affiliation.as_str()), ("role", role)],
    );
    if show_jid {
        set(&mut item, "jid", o.jid.as_str());
    }
    if let Some(n) = extra.new_nick {
        set(&mut item, "nick", n);
    }
    if let Some(actor) = extra.actor {
        item.append_child(el("actor", ns::MUC_USER, &[("nick", actor)]));
    }
    if let Some(reason) = extra.reason {
        item.append_child(text("reason", ns::MUC_USER, reason));
    }
    let mut x = Element::bare("x", ns::MUC_USER);
    x.append_child(item);
    if let Some(d) = &extra.destroy {
        x.append_child(d.clone());
    }
    for code in &extra.codes {
        x.append_child(status(*code));
    }
    p.append_child(x);
    // XEP-0421 §4: every presence from an occupant carries its id.
    crate::occupant_id::stamp(&mut p, &o.occupant_id);
    p
}

/// `<status code='…'/>` (§15.6.2).
pub(crate) fn status(code: u16) -> Element {
    el("status", ns::MUC_USER, &[("code", &code.to_string())])
}

/// A groupchat message from the room itself carrying status codes (§10.2.1: 104, 172, 173).
pub(crate) fn status_message(room: &str, to: &str, codes: &[u16]) -> Element {
    let mut m = stanza("message", room, to, Some("groupchat"));
    let mut x = Element::bare("x", ns::MUC_USER);
    for c in codes {
        x.append_child(status(*c));
    }
    m.append_child(x);
    m
}

/// Sends a stanza; a failure means the recipient's session went away meanwhile, which its
/// directed-presence retraction will tell the room. Logged without content.
pub(crate) fn send(stanza: &Element) {
    if let Err(e) = router::send(stanza) {
        log::debug(&format!("a {} could not be sent: {e}", stanza.name()));
    }
}
