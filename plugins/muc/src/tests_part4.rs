//! Issue 7, part 4, against the SDK's fake host: voice requests (§7.13, §8.6), the
//! `muc#roomconfig_allowinvites` setting, IQs relayed between occupants.

use tessera_sdk::forms::{self, DataForm};
use tessera_sdk::testing::Harness;
use tessera_sdk::{Stanza, Verdict};

use super::tests::{
    ALICE, BOB, CAROL, ROOM, condition, configure, groupchat, iq, item_attr, join, room, room_state,
};
use super::*;

fn message(h: &Harness<Muc>, from: &str, body: &str) -> Verdict {
    h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{from}' to='{ROOM}'>{body}</message>"
    ))
}

const REQUEST: &str = "<x xmlns='jabber:x:data' type='submit'>\
    <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
    <field var='muc#role' type='list-single'><value>participant</value></field></x>";

fn decision(nick: &str, allow: bool) -> String {
    format!(
        "<x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
         <field var='muc#role'><value>participant</value></field>\
         <field var='muc#roomnick'><value>{nick}</value></field>\
         <field var='muc#request_allow'><value>{}</value></field></x>",
        if allow { "true" } else { "false" }
    )
}

fn form_of(s: &Stanza) -> DataForm {
    forms::find(s.element().unwrap(), Some(ns::MUC_REQUEST))
        .unwrap()
        .expect("a muc#request form")
}

/// A moderated room: alice (owner, moderator, "A"), bob a visitor ("B").
fn moderated() -> Harness<Muc> {
    let h = room("");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_moderatedroom", "1")]),
        Verdict::Handled
    );
    join(&h, BOB, "B");
    h.take_sent();
    h
}

#[test]
fn a_visitors_voice_request_reaches_the_moderators_and_approval_gives_voice() {
    let h = moderated();
    assert_eq!(message(&h, BOB, REQUEST), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1, "one moderator, one form: {sent:?}");
    assert_eq!((sent[0].from(), sent[0].to()), (ROOM, ALICE));
    let form = form_of(&sent[0]);
    assert_eq!(form.type_, forms::DataFormType::Form);
    assert_eq!(forms::value(&form, "muc#roomnick"), Some("B"));
    assert_eq!(
        forms::value(&form, "muc#jid"),
        Some(BOB),
        "moderators see JIDs"
    );
    assert_eq!(forms::value(&form, "muc#role"), Some("participant"));
    assert_eq!(forms::boolean(&form, "muc#request_allow"), Some(false));

    // One pending request per occupant: asking again forwards nothing.
    assert_eq!(message(&h, BOB, REQUEST), Verdict::Handled);
    assert!(h.take_sent().is_empty());

    // Only moderators decide.
    join(&h, CAROL, "C");
    h.take_sent();
    assert_eq!(
        condition(&message(&h, CAROL, &decision("B", true))),
        "forbidden"
    );
    assert_eq!(
        occupant::by_jid(ROOM, BOB).unwrap().role,
        occupant::Role::Visitor
    );

    // The moderator approves: bob is a participant, and everyone sees it.
    assert_eq!(message(&h, ALICE, &decision("B", true)), Verdict::Handled);
    let sent = h.take_sent();
    let from_b: Vec<&Stanza> = sent
        .iter()
        .filter(|s| s.from() == format!("{ROOM}/B"))
        .collect();
    assert_eq!(from_b.len(), 3, "alice, bob and carol are told: {sent:?}");
    for p in from_b {
        assert_eq!(item_attr(p, "role").as_deref(), Some("participant"));
    }
    assert_eq!(
        occupant::by_jid(ROOM, BOB).unwrap().role,
        occupant::Role::Participant
    );
    assert_eq!(groupchat(&h, BOB, "<body>thanks</body>"), Verdict::Handled);
    assert!(
        !room_state().iter().any(|k| k.starts_with("voice/")),
        "the request is gone: {:?}",
        room_state()
    );
}

#[test]
fn voice_requests_from_participants_are_ignored_and_from_outsiders_refused() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    // Unmoderated: bob has voice already.
    assert_eq!(message(&h, BOB, REQUEST), Verdict::Handled);
    assert!(h.take_sent().is_empty());
    assert!(!room_state().iter().any(|k| k.starts_with("voice/")));
    assert_eq!(
        condition(&message(&h, CAROL, REQUEST)),
        "not-acceptable",
        "not an occupant"
    );
}

#[test]
fn a_denied_request_leaves_the_visitor_silent_and_may_be_asked_again() {
    let h = moderated();
    message(&h, BOB, REQUEST);
    h.take_sent();
    assert_eq!(message(&h, ALICE, &decision("B", false)), Verdict::Handled);
    assert!(h.take_sent().is_empty());
    assert_eq!(
        occupant::by_jid(ROOM, BOB).unwrap().role,
        occupant::Role::Visitor
    );
    // Pending no more: a new request reaches the moderators again.
    message(&h, BOB, REQUEST);
    assert_eq!(h.take_sent().len(), 1);
}

#[test]
fn approval_never_goes_to_someone_who_took_the_nickname_later() {
    let h = moderated();
    message(&h, BOB, REQUEST);
    super::tests::presence(&h, BOB, &format!("{ROOM}/B"), Some("unavailable"), "");
    join(&h, CAROL, "B");
    h.take_sent();
    assert_eq!(
        condition(&message(&h, ALICE, &decision("B", true))),
        "item-not-found"
    );
    assert_eq!(
        occupant::by_jid(ROOM, CAROL).unwrap().role,
        occupant::Role::Visitor
    );
}

fn invite(h: &Harness<Muc>, from: &str) -> Verdict {
    message(
        h,
        from,
        "<x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@localhost'/></x>",
    )
}

#[test]
fn allowinvites_off_leaves_invitations_to_moderators() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    // On by default: any occupant invites.
    assert_eq!(invite(&h, BOB), Verdict::Handled);
    h.take_sent();
    assert_eq!(
        configure(&h, &[("muc#roomconfig_allowinvites", "0")]),
        Verdict::Handled
    );
    h.take_sent();
    assert_eq!(condition(&invite(&h, BOB)), "forbidden");
    assert!(h.take_sent().is_empty());
    assert_eq!(
        invite(&h, ALICE),
        Verdict::Handled,
        "the owner, a moderator"
    );
    assert_eq!(h.take_sent()[0].to(), "carol@localhost");

    // Shown in the configuration form and in disco#info.
    iq(
        &h,
        ALICE,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/muc#owner'/>",
    );
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", ns::MUC_OWNER)
        .unwrap();
    let form = forms::find(q, Some(ns::ROOMCONFIG)).unwrap().unwrap();
    assert_eq!(
        forms::boolean(&form, "muc#roomconfig_allowinvites"),
        Some(false)
    );
    iq(
        &h,
        BOB,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", ns::DISCO_INFO)
        .unwrap();
    let info = forms::find(q, Some(ns::ROOMINFO)).unwrap().unwrap();
    assert_eq!(
        forms::value(&info, "muc#roomconfig_allowinvites"),
        Some("0")
    );
}

const VERSION: &str = "<query xmlns='jabber:iq:version'/>";

fn answer(h: &Harness<Muc>, from: &str, to: &str, id: &str, type_: &str) -> Verdict {
    h.service_stanza(&format!(
        "<iq xmlns='jabber:client' from='{from}' to='{to}' type='{type_}' id='{id}'>\
         <query xmlns='jabber:iq:version'><name>x</name></query></iq>"
    ))
}

#[test]
fn an_iq_to_an_occupant_is_relayed_and_its_answer_returned() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(
        iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].from(), sent[0].to()),
        (&*format!("{ROOM}/B"), ALICE)
    );
    assert_eq!(sent[0].type_attr(), "get");
    let id = sent[0].id().to_owned();
    assert_ne!(id, "q1", "the room's own id");
    assert!(
        sent[0]
            .element()
            .unwrap()
            .has_child("query", "jabber:iq:version")
    );

    // Strays: an unknown id, the right id from another session or to another nickname.
    assert_eq!(
        answer(&h, ALICE, &format!("{ROOM}/B"), "nope", "result"),
        Verdict::Drop
    );
    assert_eq!(
        answer(&h, CAROL, &format!("{ROOM}/B"), &id, "result"),
        Verdict::Drop
    );
    assert_eq!(
        answer(&h, ALICE, &format!("{ROOM}/A"), &id, "result"),
        Verdict::Drop
    );
    assert!(h.take_sent().is_empty());

    assert_eq!(
        answer(&h, ALICE, &format!("{ROOM}/B"), &id, "result"),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].from(), sent[0].to()), (&*format!("{ROOM}/A"), BOB));
    assert_eq!((sent[0].type_attr(), sent[0].id()), ("result", "q1"));
    // Once only.
    assert_eq!(
        answer(&h, ALICE, &format!("{ROOM}/B"), &id, "result"),
        Verdict::Drop
    );
    assert!(!room_state().iter().any(|k| k.starts_with("iqr/")));
}

#[test]
fn iqs_to_occupants_from_outsiders_or_to_nobody_are_refused() {
    let h = room("");
    assert_eq!(
        condition(&iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION)),
        "not-acceptable"
    );
    assert_eq!(
        condition(&iq(&h, ALICE, &format!("{ROOM}/Z"), "get", VERSION)),
        "item-not-found"
    );
    assert!(h.take_sent().is_empty());
    // A self-ping is still the room's to answer.
    assert_eq!(
        iq(
            &h,
            ALICE,
            &format!("{ROOM}/A"),
            "get",
            "<ping xmlns='urn:xmpp:ping'/>"
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!((sent[0].type_attr(), sent[0].to()), ("result", ALICE));
}

#[test]
fn an_answer_after_the_requester_left_is_dropped() {
    let h = room("");
    join(&h, BOB, "B");
    iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION);
    let id = h.take_sent()[0].id().to_owned();
    super::tests::presence(&h, BOB, &format!("{ROOM}/B"), Some("unavailable"), "");
    h.take_sent();
    assert_eq!(
        answer(&h, ALICE, &format!("{ROOM}/B"), &id, "result"),
        Verdict::Drop
    );
    assert!(h.take_sent().is_empty());
}

#[test]
fn pending_iqs_are_bounded_per_room() {
    let h = room("");
    join(&h, BOB, "B");
    tessera_sdk::testing::set_now(1_000);
    for _ in 0..occupant_iq::MAX_PENDING {
        assert_eq!(
            iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION),
            Verdict::Handled
        );
    }
    h.take_sent();
    assert_eq!(
        condition(&iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION)),
        "resource-constraint"
    );
    // Once they are stale, they make room.
    tessera_sdk::testing::set_now(1_000 + occupant_iq::STALE_MS);
    assert_eq!(
        iq(&h, BOB, &format!("{ROOM}/A"), "get", VERSION),
        Verdict::Handled
    );
    let pending = room_state()
        .iter()
        .filter(|k| k.starts_with("iqr/"))
        .count();
    assert_eq!(pending, 1);
}

#[test]
fn pending_voice_requests_are_bounded_per_room() {
    let h = moderated();
    // Fill the room's pending requests with ones whose requesters are gone.
    for i in 0..voice::MAX_PENDING {
        tessera_sdk::ephemeral::set(&format!("voice/{ROOM}/gone{i}"), b"x@localhost/y").unwrap();
    }
    // Stale ones make room for a live request, which reaches the moderator.
    assert_eq!(message(&h, BOB, REQUEST), Verdict::Handled);
    assert_eq!(h.take_sent().len(), 1);
    let pending: Vec<String> = room_state()
        .into_iter()
        .filter(|k| k.starts_with("voice/"))
        .collect();
    assert_eq!(pending, [format!("voice/{ROOM}/B")]);
}
