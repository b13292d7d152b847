//! Service discovery (XEP-0045 §6, XEP-0030): the service (§6.1), its public rooms (§6.3) and
//! a room's features and `muc#roominfo` form (§6.4).

use tessera_sdk::StanzaError;
use tessera_sdk::forms::{self, Field};
use tessera_sdk::minidom::Element;

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant;
use crate::room::{Room, Whois};
use crate::xml;

/// disco#info of the service itself (§6.1).
pub(crate) fn service_info() -> Element {
    let mut q = Element::bare("query", ns::DISCO_INFO);
    q.append_child(xml::el(
        "identity",
        ns::DISCO_INFO,
        &[
            ("category", "conference"),
            ("type", "text"),
            ("name", "Chatrooms"),
        ],
    ));
    for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MUC] {
        q.append_child(xml::el("feature", ns::DISCO_INFO, &[("var", f)]));
    }
    q
}

/// disco#items of the service: the public, configured rooms (§6.3), by JID.
pub(crate) fn service_items(s: &Settings) -> Result<Element, StanzaError> {
    let mut q = Element::bare("query", ns::DISCO_ITEMS);
    for jid in Room::all(s.max_rooms).map_err(|e| error::storage(&e))? {
        let Ok(Some(room)) = Room::load(&jid) else {
            continue;
        };
        if !room.config.public || room.config.locked {
            continue;
        }
        let name = if room.config.name.is_empty() {
            jid.split('@').next().unwrap_or(&jid).to_owned()
        } else {
            room.config.name.clone()
        };
        q.append_child(xml::el(
            "item",
            ns::DISCO_ITEMS,
            &[("jid", jid.as_str()), ("name", name.as_str())],
        ));
    }
    Ok(q)
}

/// disco#info of a room (§6.4): its identity, the `muc_*` features that describe it and the
/// `muc#roominfo` form.
pub(crate) fn room_info(s: &Settings, room: &Room) -> Element {
    let c = &room.config;
    let mut q = Element::bare("query", ns::DISCO_INFO);
    let name = if c.name.is_empty() {
        room.jid.split('@').next().unwrap_or(&room.jid)
    } else {
        c.name.as_str()
    };
    q.append_child(xml::el(
        "identity",
        ns::DISCO_INFO,
        &[("category", "conference"), ("type", "text"), ("name", name)],
    ));
    let pick = |on: bool, yes: &'static str, no: &'static str| if on { yes } else { no };
    for f in [
        ns::MUC,
        ns::DISCO_INFO,
        // XEP-0410 §5 and XEP-0421 §3: every room answers self-pings and stamps occupant ids.
        ns::SELF_PING,
        ns::OCCUPANT_ID,
        pick(c.public, "muc_public", "muc_hidden"),
        pick(c.persistent, "muc_persistent", "muc_temporary"),
        pick(c.members_only, "muc_membersonly", "muc_open"),
        pick(c.moderated, "muc_moderated", "muc_unmoderated"),
        pick(
            c.password.is_some(),
            "muc_passwordprotected",
            "muc_unsecured",
        ),
        pick(
            c.whois == Whois::Anyone,
            "muc_nonanonymous",
            "muc_semianonymous",
        ),
    ] {
        q.append_child(xml::el("feature", ns::DISCO_INFO, &[("var", f)]));
    }
    if c.persistent {
        // §7.10: nicknames can be registered.
        q.append_child(xml::el(
            "feature",
            ns::DISCO_INFO,
            &[("var", crate::register::NS)],
        ));
    }
    if c.logging {
        // XEP-0313 "Determining support", on the room; XEP-0359 §4 for its stanza-ids.
        for f in [ns::MAM, ns::SID] {
            q.append_child(xml::el("feature", ns::DISCO_INFO, &[("var", f)]));
        }
    }
    let subject = room.subject().unwrap_or_default();
    let occupants = occupant::count(&room.jid, s.max_occupants + 1).to_string();
    let info = forms::result(
        ns::ROOMINFO,
        vec![
            Field::text_single("muc#roominfo_description", &c.description),
            Field::text_single("muc#roominfo_occupants", &occupants),
            Field::text_single("muc#roominfo_subject", &subject.text),
            Field::text_single(
                "muc#roominfo_changesubject",
                if c.change_subject { "1" } else { "0" },
            ),
            Field::text_single("muc#roomconfig_roomname", &c.name),
            // §6.4 lets configuration fields be listed; clients read this one to offer invites.
            Field::text_single(
                "muc#roomconfig_allowinvites",
                if c.allow_invites { "1" } else { "0" },
            ),
        ],
    );
    q.append_child(Element::from(info));
    q
}
