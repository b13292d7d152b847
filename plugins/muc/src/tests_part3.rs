//! Issue 7, part 3, against the SDK's fake host: XEP-0410 self-ping, XEP-0421 occupant ids.

use tessera_sdk::testing::Harness;
use tessera_sdk::{Stanza, Verdict};

use super::tests::{ALICE, BOB, CAROL, ROOM, condition, configure, iq, join, presence, room};
use super::*;

const PING: &str = "<ping xmlns='urn:xmpp:ping'/>";

/// The occupant id a stanza carries, if any, and how many `<occupant-id/>` it has.
fn ids(s: &Stanza) -> Vec<String> {
    s.element()
        .unwrap()
        .children()
        .filter(|c| c.is("occupant-id", ns::OCCUPANT_ID))
        .map(|c| c.attr("id").unwrap_or_default().to_owned())
        .collect()
}

/// The one occupant id of the stanzas from `from` to `to` in `sent`.
fn id_from(sent: &[Stanza], from: &str, to: &str) -> String {
    let s = sent
        .iter()
        .find(|s| s.from() == from && s.to() == to)
        .unwrap_or_else(|| panic!("nothing from {from} to {to}"));
    let found = ids(s);
    assert_eq!(found.len(), 1, "exactly one occupant id: {found:?}");
    found[0].clone()
}

fn leave(h: &Harness<Muc>, from: &str, nick: &str) {
    presence(h, from, &format!("{ROOM}/{nick}"), Some("unavailable"), "");
    h.take_sent();
}

#[test]
fn an_occupant_pinging_itself_is_answered_by_the_room() {
    let h = room("");
    assert_eq!(
        iq(&h, ALICE, &format!("{ROOM}/A"), "get", PING),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].type_attr(), "result");
    assert_eq!(
        (sent[0].from(), sent[0].to()),
        (&*format!("{ROOM}/A"), ALICE)
    );
}

#[test]
fn a_self_ping_from_outside_the_room_is_not_acceptable() {
    let h = room("");
    // bob is not in the room, under any nickname (XEP-0410 §4).
    let v = iq(&h, BOB, &format!("{ROOM}/A"), "get", PING);
    assert_eq!(condition(&v), "not-acceptable");
    let v = iq(&h, BOB, &format!("{ROOM}/B"), "get", PING);
    assert_eq!(condition(&v), "not-acceptable");
    // Alice's other session is not the occupant either.
    let v = iq(
        &h,
        "alice@localhost/laptop",
        &format!("{ROOM}/A"),
        "get",
        PING,
    );
    assert_eq!(condition(&v), "not-acceptable");
    // After leaving, the occupant is told it is out.
    leave(&h, ALICE, "A");
    let v = iq(&h, ALICE, &format!("{ROOM}/A"), "get", PING);
    assert_eq!(condition(&v), "not-acceptable");
    // In a room that does not exist, too.
    let v = iq(&h, ALICE, "none@conference.localhost/A", "get", PING);
    assert_eq!(condition(&v), "not-acceptable");
}

#[test]
fn a_ping_to_another_occupant_is_relayed_to_it() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    let v = iq(&h, BOB, &format!("{ROOM}/A"), "get", PING);
    assert_eq!(v, Verdict::Handled, "relayed, not answered by the room");
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].to(), sent[0].type_attr()), (ALICE, "get"));
}

#[test]
fn rooms_advertise_self_ping_and_occupant_ids() {
    let h = room("");
    let v = iq(
        &h,
        ALICE,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", ns::DISCO_INFO)
        .unwrap()
        .clone();
    let features: Vec<&str> = q
        .children()
        .filter(|c| c.is("feature", ns::DISCO_INFO))
        .filter_map(|c| c.attr("var"))
        .collect();
    assert!(features.contains(&ns::SELF_PING), "{features:?}");
    assert!(features.contains(&ns::OCCUPANT_ID), "{features:?}");
}

#[test]
fn occupant_ids_are_stable_per_room_and_bare_jid_and_reveal_nothing() {
    let h = room("");
    join(&h, BOB, "B");
    let sent = h.take_sent();
    let bob = id_from(&sent, &format!("{ROOM}/B"), ALICE);
    assert_eq!(
        bob,
        id_from(&sent, &format!("{ROOM}/B"), BOB),
        "the same to everyone"
    );
    assert_eq!(bob.len(), 43, "base64url of 32 bytes, unpadded");
    assert!(!bob.contains("bob"), "no trace of the JID");
    let alice = id_from(&sent, &format!("{ROOM}/A"), BOB);
    assert_ne!(alice, bob, "one id per person");

    // Leaving, coming back from another session under another nickname: the same id.
    leave(&h, BOB, "B");
    join(&h, "bob@localhost/tablet", "Bobby");
    let sent = h.take_sent();
    assert_eq!(id_from(&sent, &format!("{ROOM}/Bobby"), ALICE), bob);

    // Another room: another id for the same person.
    presence(
        &h,
        BOB,
        "other@conference.localhost/B",
        None,
        "<x xmlns='http://jabber.org/protocol/muc'/>",
    );
    let sent = h.take_sent();
    let elsewhere = id_from(&sent, "other@conference.localhost/B", BOB);
    assert_ne!(elsewhere, bob);

    // The secret is the service's, stored once: a fresh instance (restart) agrees.
    tessera_sdk::ephemeral::delete(occupant_id::CACHED);
    assert_eq!(occupant_id::of(ROOM, "bob@localhost").unwrap(), bob);
}

#[test]
fn messages_carry_the_senders_occupant_id_and_forged_ones_are_stripped() {
    let h = room("");
    join(&h, BOB, "B");
    let sent = h.take_sent();
    let bob = id_from(&sent, &format!("{ROOM}/B"), ALICE);
    assert_eq!(
        configure(&h, &[("muc#roomconfig_enablelogging", "1")]),
        Verdict::Handled
    );
    h.take_sent();
    // Bob tries to pass for alice: his forged id goes, the room's comes.
    let alice = occupant_id::of(ROOM, "alice@localhost").unwrap();
    let v = h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{BOB}' to='{ROOM}' type='groupchat'>\
         <body>hi</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='{alice}'/></message>"
    ));
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 2);
    for s in &sent {
        assert_eq!(ids(s), std::slice::from_ref(&bob));
    }
    // The archive keeps it, so history and MAM results carry it too.
    let stored = mam::archive_of(ROOM)
        .query(&tessera_sdk::archive::Query::new(10))
        .unwrap();
    let entry: tessera_sdk::minidom::Element = stored.entries[0].data.parse().unwrap();
    let kept: Vec<&str> = entry
        .children()
        .filter(|c| c.is("occupant-id", ns::OCCUPANT_ID))
        .filter_map(|c| c.attr("id"))
        .collect();
    assert_eq!(kept, [bob.as_str()]);
    join(&h, CAROL, "C");
    let sent = h.take_sent();
    let history = sent
        .iter()
        .find(|s| s.from() == format!("{ROOM}/B") && s.kind() == tessera_sdk::StanzaKind::Message)
        .expect("history from B");
    assert_eq!(ids(history), std::slice::from_ref(&bob));

    // A private message carries it as well.
    let v = h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{BOB}' to='{ROOM}/C' type='chat'><body>psst</body></message>"
    ));
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(ids(&sent[0]), [bob]);
}

#[test]
fn a_presence_with_a_forged_occupant_id_is_stamped_with_the_real_one() {
    let h = room("");
    let alice = occupant_id::of(ROOM, "alice@localhost").unwrap();
    presence(
        &h,
        BOB,
        &format!("{ROOM}/B"),
        None,
        &format!(
            "<x xmlns='http://jabber.org/protocol/muc'/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='{alice}'/>"
        ),
    );
    let sent = h.take_sent();
    let bob = id_from(&sent, &format!("{ROOM}/B"), ALICE);
    assert_ne!(bob, alice);
}

fn invite(h: &Harness<Muc>, from: &str, to: &str, reason: &str) -> Verdict {
    h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{from}' to='{ROOM}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><invite to='{to}'><reason>{reason}</reason></invite></x></message>"
    ))
}

fn decline(h: &Harness<Muc>, from: &str, to: &str) -> Verdict {
    h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{from}' to='{ROOM}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><decline to='{to}'><reason>busy</reason></decline></x></message>"
    ))
}

fn muc_user_child(s: &Stanza, name: &str) -> tessera_sdk::minidom::Element {
    s.element()
        .unwrap()
        .get_child("x", ns::MUC_USER)
        .and_then(|x| x.get_child(name, ns::MUC_USER))
        .cloned()
        .unwrap_or_else(|| panic!("no <{name}/>"))
}

#[test]
fn a_mediated_invitation_reaches_the_invitee_from_the_room_and_a_decline_the_inviter() {
    let h = room("");
    assert_eq!(invite(&h, ALICE, "bob@localhost", "tea?"), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].from(), sent[0].to()), (ROOM, "bob@localhost"));
    let inv = muc_user_child(&sent[0], "invite");
    assert_eq!(
        inv.attr("from"),
        Some("alice@localhost"),
        "the inviter's bare JID"
    );
    assert_eq!(
        inv.get_child("reason", ns::MUC_USER).unwrap().text(),
        "tea?"
    );

    assert_eq!(decline(&h, BOB, "alice@localhost"), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].from(), sent[0].to()), (ROOM, ALICE));
    let d = muc_user_child(&sent[0], "decline");
    assert_eq!(d.attr("from"), Some("bob@localhost"));
    assert_eq!(d.get_child("reason", ns::MUC_USER).unwrap().text(), "busy");
    // Once only, and never to someone who invited nobody.
    assert_eq!(
        condition(&decline(&h, BOB, "alice@localhost")),
        "not-acceptable"
    );
    assert_eq!(
        condition(&decline(&h, BOB, "carol@localhost")),
        "not-acceptable"
    );
    assert!(h.take_sent().is_empty());
}

#[test]
fn an_invitation_carries_the_password_and_only_occupants_invite() {
    let h = room("");
    assert_eq!(
        configure(
            &h,
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "s3cret")
            ]
        ),
        Verdict::Handled
    );
    h.take_sent();
    assert_eq!(
        condition(&invite(&h, BOB, "carol@localhost", "")),
        "not-acceptable"
    );
    assert!(h.take_sent().is_empty(), "nothing sent for a stranger");
    assert_eq!(invite(&h, ALICE, "carol@localhost/x", ""), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent[0].to(), "carol@localhost/x");
    let pw = muc_user_child(&sent[0], "password");
    assert_eq!(pw.text(), "s3cret");
}

#[test]
fn in_a_members_only_room_an_admins_invitation_makes_a_member() {
    let h = room("");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_membersonly", "1")]),
        Verdict::Handled
    );
    h.take_sent();
    // Carol may not enter yet.
    assert_eq!(condition(&join(&h, CAROL, "C")), "registration-required");
    assert_eq!(invite(&h, ALICE, "carol@localhost", ""), Verdict::Handled);
    h.take_sent();
    let r = Room::load(ROOM).unwrap().unwrap();
    assert_eq!(
        r.affiliation("carol@localhost").unwrap(),
        room::Affiliation::Member
    );
    assert_eq!(join(&h, CAROL, "C"), Verdict::Handled);
    h.take_sent();
    // Carol, a member but no admin, may not invite in turn (§7.8.2).
    assert_eq!(
        condition(&invite(&h, CAROL, "bob@localhost", "")),
        "forbidden"
    );
    assert_eq!(
        r.affiliation("bob@localhost").unwrap(),
        room::Affiliation::None
    );
}

#[test]
fn a_banned_user_cannot_be_invited() {
    let h = room("");
    let r = Room::load(ROOM).unwrap().unwrap();
    r.set_affiliation("bob@localhost", room::Affiliation::Outcast)
        .unwrap();
    assert_eq!(
        condition(&invite(&h, ALICE, "bob@localhost", "")),
        "not-allowed"
    );
    assert!(h.take_sent().is_empty());
}

const REG_GET: &str = "<query xmlns='jabber:iq:register'/>";

fn register(h: &Harness<Muc>, from: &str, nick: &str) -> Verdict {
    iq(
        h,
        from,
        ROOM,
        "set",
        &format!(
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>\
             <field var='muc#register_roomnick'><value>{nick}</value></field></x></query>"
        ),
    )
}

fn unregister(h: &Harness<Muc>, from: &str) -> Verdict {
    iq(
        h,
        from,
        ROOM,
        "set",
        "<query xmlns='jabber:iq:register'><remove/></query>",
    )
}

/// The name of the `x-roomuser-item` identity for `from`, if any.
fn roomuser_item(h: &Harness<Muc>, from: &str) -> Option<String> {
    h.take_sent();
    let v = iq(
        h,
        from,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>",
    );
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", ns::DISCO_INFO)
        .unwrap()
        .clone();
    assert_eq!(q.attr("node"), Some("x-roomuser-item"));
    q.get_child("identity", ns::DISCO_INFO)
        .and_then(|i| i.attr("name"))
        .map(str::to_owned)
}

/// A persistent room made by alice ("A").
fn persistent() -> Harness<Muc> {
    let h = room("");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_persistentroom", "1")]),
        Verdict::Handled
    );
    h.take_sent();
    h
}

#[test]
fn the_registration_form_names_the_nickname_field() {
    let h = persistent();
    assert_eq!(iq(&h, BOB, ROOM, "get", REG_GET), Verdict::Handled);
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", register::NS)
        .unwrap()
        .clone();
    assert!(!q.has_child("registered", register::NS));
    let form = tessera_sdk::forms::find(&q, Some("http://jabber.org/protocol/muc#register"))
        .unwrap()
        .expect("the muc#register form");
    assert!(
        form.fields
            .iter()
            .any(|f| f.var.as_deref() == Some("muc#register_roomnick"))
    );
    // A temporary room takes no registrations.
    let t = room("");
    assert_eq!(condition(&iq(&t, BOB, ROOM, "get", REG_GET)), "not-allowed");
}

#[test]
fn a_registered_nickname_is_reserved_until_unregistered() {
    let h = persistent();
    assert_eq!(register(&h, BOB, "Bobby"), Verdict::Handled);
    h.take_sent();
    let r = Room::load(ROOM).unwrap().unwrap();
    assert_eq!(
        r.affiliation("bob@localhost").unwrap(),
        room::Affiliation::Member
    );
    assert_eq!(roomuser_item(&h, BOB).as_deref(), Some("Bobby"));
    assert_eq!(roomuser_item(&h, CAROL), None);
    // The get now says so (XEP-0077 <registered/>).
    iq(&h, BOB, ROOM, "get", REG_GET);
    let sent = h.take_sent();
    let q = sent[0]
        .element()
        .unwrap()
        .get_child("query", register::NS)
        .unwrap()
        .clone();
    assert!(q.has_child("registered", register::NS));
    assert_eq!(
        q.get_child("username", register::NS).unwrap().text(),
        "Bobby"
    );

    // Carol may neither take it on entering, nor by renaming, nor register it.
    assert_eq!(condition(&join(&h, CAROL, "Bobby")), "conflict");
    assert_eq!(join(&h, CAROL, "C"), Verdict::Handled);
    h.take_sent();
    assert_eq!(condition(&join(&h, CAROL, "Bobby")), "conflict");
    assert_eq!(condition(&register(&h, CAROL, "Bobby")), "conflict");
    // Bob may, from any session.
    assert_eq!(join(&h, "bob@localhost/tablet", "Bobby"), Verdict::Handled);
    h.take_sent();
    presence(
        &h,
        "bob@localhost/tablet",
        &format!("{ROOM}/Bobby"),
        Some("unavailable"),
        "",
    );
    h.take_sent();

    // Registering another nickname frees the first.
    assert_eq!(register(&h, BOB, "Robert"), Verdict::Handled);
    assert_eq!(roomuser_item(&h, BOB).as_deref(), Some("Robert"));
    assert_eq!(register(&h, CAROL, "Bobby"), Verdict::Handled);
    assert_eq!(unregister(&h, CAROL), Verdict::Handled);
    // Unregistering frees it.
    assert_eq!(unregister(&h, BOB), Verdict::Handled);
    assert_eq!(roomuser_item(&h, BOB), None);
    assert_eq!(condition(&unregister(&h, BOB)), "item-not-found");
    assert_eq!(join(&h, "carol@localhost/y", "Robert"), Verdict::Handled);
}

#[test]
fn registration_follows_the_rooms_rules() {
    let h = persistent();
    assert_eq!(
        configure(&h, &[("muc#roomconfig_membersonly", "1")]),
        Verdict::Handled
    );
    h.take_sent();
    assert_eq!(condition(&register(&h, BOB, "B")), "registration-required");
    let r = Room::load(ROOM).unwrap().unwrap();
    r.set_affiliation("bob@localhost", room::Affiliation::Member)
        .unwrap();
    assert_eq!(register(&h, BOB, "B"), Verdict::Handled);
    r.set_affiliation("carol@localhost", room::Affiliation::Outcast)
        .unwrap();
    assert_eq!(condition(&register(&h, CAROL, "C")), "forbidden");
    assert_eq!(condition(&register(&h, ALICE, "")), "not-acceptable");
}

#[test]
fn the_registration_goes_with_the_account_and_the_room() {
    let h = persistent();
    assert_eq!(register(&h, BOB, "Bobby"), Verdict::Handled);
    let user = tessera_sdk::kv::Kv::new(
        register::NICKNAMES,
        tessera_sdk::Owner::user("bob@localhost"),
    );
    assert_eq!(user.get_string(ROOM).unwrap().as_deref(), Some("Bobby"));
    // The account goes (the host deletes the user's records, then tells the plugin).
    tessera_sdk::testing::add_account("bob@localhost");
    assert!(tessera_sdk::accounts::remove("bob@localhost").unwrap());
    assert!(h.event(&tessera_sdk::Event::UserRemoved("bob@localhost".into())));
    let rooms = tessera_sdk::kv::Kv::new(room::ROOMS, tessera_sdk::Owner::room(ROOM));
    assert!(rooms.keys("nick/", 10).unwrap().is_empty());
    assert!(rooms.keys("reg/", 10).unwrap().is_empty());
    assert_eq!(join(&h, CAROL, "Bobby"), Verdict::Handled);
    h.take_sent();

    // Without the event (an account removed by the CLI): the stale entry is freed when met.
    assert_eq!(register(&h, "dave@localhost/d", "Dave"), Verdict::Handled);
    tessera_sdk::kv::Kv::new(
        register::NICKNAMES,
        tessera_sdk::Owner::user("dave@localhost"),
    )
    .delete(ROOM)
    .unwrap();
    assert_eq!(join(&h, "erin@localhost/e", "Dave"), Verdict::Handled);
    assert!(rooms.keys("nick/", 10).unwrap().is_empty());
    h.take_sent();

    // Destroying the room deletes the users' records too.
    assert_eq!(register(&h, ALICE, "Al"), Verdict::Handled);
    let v = iq(
        &h,
        ALICE,
        ROOM,
        "set",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>",
    );
    assert_eq!(v, Verdict::Handled);
    let alice = tessera_sdk::kv::Kv::new(
        register::NICKNAMES,
        tessera_sdk::Owner::user("alice@localhost"),
    );
    assert_eq!(alice.get_string(ROOM).unwrap(), None);
}
