//! The owner namespace (XEP-0045 §10): the room configuration form (§10.2, `muc#roomconfig`),
//! instant rooms and cancelled creation (§10.1.2, §10.1.3), and destruction (§10.9).

use tessera_sdk::forms::{self, DataForm, DataFormType, Field, FieldType};
use tessera_sdk::minidom::Element;
use tessera_sdk::xmpp_parsers::data_forms::Option_;
use tessera_sdk::{HostError, StanzaError};

use crate::config::Settings;
use crate::error;
use crate::ns;
use crate::occupant::{self, Role};
use crate::presence;
use crate::room::{Affiliation, AllowPm, Room, RoomConfig, Whois};
use crate::xml::{self, Extra};

/// A `get` (the form) or `set` (a submitted form, a cancel, or `<destroy/>`) of
/// `<query xmlns='…muc#owner'/>` from `from`, whose bare JID is `bare`.
pub(crate) fn handle(
    s: &Settings,
    mut room: Room,
    bare: &str,
    set: bool,
    query: &Element,
) -> Result<Option<Element>, StanzaError> {
    if room.affiliation(bare).map_err(|e| error::storage(&e))? != Affiliation::Owner {
        // §10.2: only owners configure or destroy.
        return Err(StanzaError::forbidden());
    }
    if !set {
        let mut q = Element::bare("query", ns::MUC_OWNER);
        q.append_child(Element::from(form(s, &room.config)));
        return Ok(Some(q));
    }
    if let Some(d) = query.get_child("destroy", ns::MUC_OWNER) {
        destroy(s, &room, d).map_err(|e| error::storage(&e))?;
        return Ok(None);
    }
    let form = forms::find(query, None)
        .map_err(|_| StanzaError::bad_request())?
        .ok_or_else(StanzaError::bad_request)?;
    match form.type_ {
        DataFormType::Cancel => {
            // §10.1.3: cancelling the initial configuration destroys the new room.
            if room.config.locked {
                destroy(s, &room, &Element::bare("destroy", ns::MUC_OWNER))
                    .map_err(|e| error::storage(&e))?;
            }
            Ok(None)
        }
        DataFormType::Submit => {
            let old = room.config.clone();
            let mut new = apply(s, &old, &form)?;
            // §10.1.2: any submitted form, an empty one included (an instant room), unlocks.
            new.locked = false;
            room.save(new).map_err(|e| error::storage(&e))?;
            if old.logging && !room.config.logging {
                // Logging off ends the log: what was archived goes with it.
                crate::mam::purge(&room.jid).map_err(|e| error::storage(&e))?;
            }
            after_change(s, &room, &old);
            // §10.1: a room made temporary with nobody in it ends now.
            if !room.config.persistent && occupant::count(&room.jid, 1) == 0 {
                room.delete().map_err(|e| error::storage(&e))?;
            }
            Ok(None)
        }
        _ => Err(StanzaError::bad_request()),
    }
}

fn boolean(var: &str, label: &str, value: bool) -> Field {
    let mut f = Field::new(var, FieldType::Boolean).with_value(if value { "1" } else { "0" });
    f.label = Some(label.to_owned());
    f
}

fn text(var: &str, label: &str, value: &str) -> Field {
    let mut f = Field::new(var, FieldType::TextSingle).with_value(value);
    f.label = Some(label.to_owned());
    f
}

fn list(var: &str, label: &str, value: &str, options: &[(&str, &str)]) -> Field {
    let mut f = Field::new(var, FieldType::ListSingle).with_value(value);
    f.label = Some(label.to_owned());
    f.options = options
        .iter()
        .map(|(v, l)| Option_ {
            label: Some((*l).to_owned()),
            value: (*v).to_owned(),
        })
        .collect();
    f
}

/// The configuration form with the room's current values (§10.2, §15.5.3).
pub(crate) fn form(s: &Settings, c: &RoomConfig) -> DataForm {
    let mut secret = Field::new("muc#roomconfig_roomsecret", FieldType::TextPrivate);
    secret.label = Some("Password".to_owned());
    if let Some(p) = &c.password {
        secret.values = vec![p.clone()];
    }
    let max = s.max_occupants.to_string();
    let fields = vec![
        text("muc#roomconfig_roomname", "Name", &c.name),
        text("muc#roomconfig_roomdesc", "Description", &c.description),
        boolean(
            "muc#roomconfig_persistentroom",
            "Keep the room when the last occupant leaves",
            c.persistent,
        ),
        boolean(
            "muc#roomconfig_publicroom",
            "List the room publicly",
            c.public,
        ),
        boolean("muc#roomconfig_membersonly", "Members only", c.members_only),
        boolean(
            "muc#roomconfig_moderatedroom",
            "Only occupants with voice may speak",
            c.moderated,
        ),
        boolean(
            "muc#roomconfig_passwordprotectedroom",
            "Password required to enter",
            c.password.is_some(),
        ),
        secret,
        list(
            "muc#roomconfig_maxusers",
            &format!("Maximum occupants (at most {max})"),
            &c.max_users.to_string(),
            &[
                ("10", "10"),
                ("20", "20"),
                ("50", "50"),
                ("100", "100"),
                (&max, &max),
            ],
        ),
        list(
            "muc#roomconfig_whois",
            "Who may see occupants' real addresses",
            match c.whois {
                Whois::Moderators => "moderators",
                Whois::Anyone => "anyone",
            },
            &[("moderators", "Moderators only"), ("anyone", "Anyone")],
        ),
        list(
            "muc#roomconfig_allowpm",
            "Who may send private messages",
            c.allow_pm.as_str(),
            &[
                ("anyone", "Anyone"),
                ("participants", "Participants"),
                ("moderators", "Moderators"),
                ("none", "Nobody"),
            ],
        ),
        boolean(
            "muc#roomconfig_changesubject",
            "Occupants may change the subject",
            c.change_subject,
        ),
        boolean(
            "muc#roomconfig_allowinvites",
            "Occupants may invite others (otherwise only moderators)",
            c.allow_invites,
        ),
        boolean(
            "muc#roomconfig_enablelogging",
            "Log the room: keep its messages for occupants and members to read back (turning it \
             off deletes the log)",
            c.logging,
        ),
    ];
    forms::form(
        ns::ROOMCONFIG,
        "Room configuration",
        "Fields left out keep their current values.",
        fields,
    )
}

fn flag(form: &DataForm, var: &str, current: bool) -> Result<bool, StanzaError> {
    if forms::values(form, var).is_empty() {
        return Ok(current);
    }
    forms::boolean(form, var)
        .ok_or_else(|| StanzaError::not_acceptable().with_text(format!("{var}: not a boolean")))
}

/// The configuration after a submitted form: absent fields keep their values; a bad value is
/// `not-acceptable` naming the field.
fn apply(s: &Settings, old: &RoomConfig, form: &DataForm) -> Result<RoomConfig, StanzaError> {
    let bad =
        |var: &str, what: &str| StanzaError::not_acceptable().with_text(format!("{var}: {what}"));
    let mut c = old.clone();
    if let Some(v) = forms::value(form, "muc#roomconfig_roomname") {
        c.name = v.chars().take(256).collect();
    }
    if let Some(v) = forms::value(form, "muc#roomconfig_roomdesc") {
        c.description = v.chars().take(1024).collect();
    }
    c.persistent = flag(form, "muc#roomconfig_persistentroom", c.persistent)?;
    c.public = flag(form, "muc#roomconfig_publicroom", c.public)?;
    c.members_only = flag(form, "muc#roomconfig_membersonly", c.members_only)?;
    c.moderated = flag(form, "muc#roomconfig_moderatedroom", c.moderated)?;
    c.change_subject = flag(form, "muc#roomconfig_changesubject", c.change_subject)?;
    c.allow_invites = flag(form, "muc#roomconfig_allowinvites", c.allow_invites)?;
    c.logging = flag(form, "muc#roomconfig_enablelogging", c.logging)?;
    let protected = flag(
        form,
        "muc#roomconfig_passwordprotectedroom",
        c.password.is_some(),
    )?;
    let secret = forms::value(form, "muc#roomconfig_roomsecret")
        .map(str::to_owned)
        .or_else(|| c.password.clone());
    c.password = match (protected, secret) {
        (false, _) => None,
        (true, Some(p)) if !p.is_empty() && p.len() <= 256 => Some(p),
        (true, _) => {
            return Err(bad(
                "muc#roomconfig_roomsecret",
                "a password of 1 to 256 bytes is required",
            ));
        }
    };
    if let Some(v) = forms::value(form, "muc#roomconfig_maxusers") {
        c.max_users = match v {
            // XEP-0045 §15.5.3: "none" means no limit but the service's.
            "none" => s.max_occupants,
            n => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=s.max_occupants).contains(n))
                .ok_or_else(|| {
                    bad(
                        "muc#roomconfig_maxusers",
                        &format!("expected 1 to {}", s.max_occupants),
                    )
                })?,
        };
    }
    if let Some(v) = forms::value(form, "muc#roomconfig_whois") {
        c.whois = match v {
            "moderators" => Whois::Moderators,
            "anyone" => Whois::Anyone,
            _ => return Err(bad("muc#roomconfig_whois", "expected moderators or anyone")),
        };
    }
    if let Some(v) = forms::value(form, "muc#roomconfig_allowpm") {
        c.allow_pm = match v {
            "anyone" => AllowPm::Anyone,
            "participants" => AllowPm::Participants,
            "moderators" => AllowPm::Moderators,
            "none" => AllowPm::None,
            _ => {
                return Err(bad(
                    "muc#roomconfig_allowpm",
                    "expected anyone, participants, moderators or none",
                ));
            }
        };
    }
    Ok(c)
}

/// What a configuration change does to the occupants: the room says so (§10.2.1: 104, 170/171
/// when logging is turned on or off, and 172/173 when real JIDs become visible or hidden), non-members leave a room that became
/// members-only (322, §9.4), and the roles follow moderation.
fn after_change(s: &Settings, room: &Room, old: &RoomConfig) {
    if old.locked {
        // §10.1.2: the room was being created; nobody else is in it to tell.
        return;
    }
    let mut codes = vec![104];
    match (old.logging, room.config.logging) {
        (false, true) => codes.push(170),
        (true, false) => codes.push(171),
        _ => {}
    }
    match (old.whois, room.config.whois) {
        (Whois::Moderators, Whois::Anyone) => codes.push(172),
        (Whois::Anyone, Whois::Moderators) => codes.push(173),
        _ => {}
    }
    for mut o in occupant::all(room, s.max_occupants + 1) {
        if room.config.members_only && o.affiliation < Affiliation::Member {
            presence::remove(
                s,
                room,
                &o,
                &Extra {
                    codes: vec![322],
                    ..Extra::default()
                },
            );
            continue;
        }
        if old.moderated != room.config.moderated && o.affiliation == Affiliation::None {
            let role = Role::default_for(o.affiliation, room.config.moderated);
            if role != o.role {
                o.role = role;
                if occupant::update(&room.jid, &o).is_ok() {
                    presence::broadcast(s, room, &o, false, &Extra::default());
                }
            }
        }
        xml::send(&xml::status_message(&room.jid, &o.jid, &codes));
    }
}

/// §10.9: every occupant is told (unavailable, with the `<destroy/>` and its alternate venue
/// and reason), then every record of the room goes.
pub(crate) fn destroy(s: &Settings, room: &Room, request: &Element) -> Result<(), HostError> {
    let mut d = Element::bare("destroy", ns::MUC_USER);
    if let Some(j) = request.attr("jid") {
        xml::set(&mut d, "jid", j);
    }
    if let Some(r) = request.get_child("reason", ns::MUC_OWNER) {
        d.append_child(xml::text("reason", ns::MUC_USER, &r.text()));
    }
    let extra = Extra {
        destroy: Some(d),
        ..Extra::default()
    };
    for mut o in occupant::all(room, s.max_occupants + 1) {
        occupant::remove(&room.jid, &o);
        o.affiliation = Affiliation::None;
        xml::send(&xml::occupant_presence(
            &room.jid, &o, &o.jid, true, false, &extra,
        ));
    }
    room.delete()
}
