//! The plugin against the SDK's fake host: entering and creating rooms, presence order and
//! status codes, leaving, nickname changes, messages, subject, private messages, roles and
//! affiliations, configuration, password and members-only rooms, destruction, disco.

use tessera_sdk::kv::Kv;
use tessera_sdk::testing::Harness;
use tessera_sdk::{Owner, Stanza, StanzaKind, Verdict, ephemeral};

use super::*;

pub(crate) const ROOM: &str = "tea@conference.localhost";
pub(crate) const ALICE: &str = "alice@localhost/phone";
pub(crate) const BOB: &str = "bob@localhost/pc";
pub(crate) const CAROL: &str = "carol@localhost/x";

/// Every `ephemeral` key but the service's cached secret: what rooms and occupants hold.
pub(crate) fn room_state() -> Vec<String> {
    ephemeral::keys("", 100)
        .into_iter()
        .filter(|k| !k.starts_with("secret/"))
        .collect()
}

pub(crate) fn harness(config: &str) -> Harness<Muc> {
    let mut h = Harness::new(Muc::default());
    h.init(config).expect("valid config");
    h
}

pub(crate) fn presence(
    h: &Harness<Muc>,
    from: &str,
    to: &str,
    type_: Option<&str>,
    body: &str,
) -> Verdict {
    let t = type_.map(|t| format!(" type='{t}'")).unwrap_or_default();
    h.service_stanza(&format!(
        "<presence xmlns='jabber:client' from='{from}' to='{to}'{t}>{body}</presence>"
    ))
}

const MUC_X: &str = "<x xmlns='http://jabber.org/protocol/muc'/>";

pub(crate) fn join(h: &Harness<Muc>, from: &str, nick: &str) -> Verdict {
    presence(h, from, &format!("{ROOM}/{nick}"), None, MUC_X)
}

pub(crate) fn iq(h: &Harness<Muc>, from: &str, to: &str, type_: &str, payload: &str) -> Verdict {
    h.service_stanza(&format!(
        "<iq xmlns='jabber:client' from='{from}' to='{to}' type='{type_}' id='q1'>{payload}</iq>"
    ))
}

fn instant(h: &Harness<Muc>) {
    let v = iq(
        h,
        ALICE,
        ROOM,
        "set",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>",
    );
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1, "only the result: nobody else to tell");
    assert_eq!(sent[0].type_attr(), "result");
}

pub(crate) fn configure(h: &Harness<Muc>, fields: &[(&str, &str)]) -> Verdict {
    let mut x = String::from(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>",
    );
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    x.push_str("</x>");
    iq(
        h,
        ALICE,
        ROOM,
        "set",
        &format!("<query xmlns='http://jabber.org/protocol/muc#owner'>{x}</query>"),
    )
}

/// A room created and configured as instant by alice (owner, nick "A").
pub(crate) fn room(config: &str) -> Harness<Muc> {
    let h = harness(config);
    assert_eq!(join(&h, ALICE, "A"), Verdict::Handled);
    h.take_sent();
    instant(&h);
    h
}

pub(crate) fn codes(s: &Stanza) -> Vec<String> {
    let el = s.element().unwrap();
    el.get_child("x", ns::MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", ns::MUC_USER))
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn item_attr(s: &Stanza, name: &str) -> Option<String> {
    let el = s.element().unwrap();
    el.get_child("x", ns::MUC_USER)?
        .get_child("item", ns::MUC_USER)?
        .attr(name)
        .map(str::to_owned)
}

pub(crate) fn condition(v: &Verdict) -> String {
    match v {
        Verdict::Error(e) => e.condition.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn summary(sent: &[Stanza]) -> Vec<(String, String, String)> {
    sent.iter()
        .map(|s| {
            (
                s.kind().as_str().to_owned(),
                s.from().to_owned(),
                s.to().to_owned(),
            )
        })
        .collect()
}

#[test]
fn creating_a_room_makes_the_creator_owner_with_201_and_locks_it() {
    let h = harness("");
    assert_eq!(join(&h, ALICE, "A"), Verdict::Handled);
    let sent = h.take_sent();
    let own = &sent[0];
    assert_eq!((own.from(), own.to()), (&*format!("{ROOM}/A"), ALICE));
    assert_eq!(codes(own), ["110", "201"]);
    assert_eq!(item_attr(own, "affiliation").as_deref(), Some("owner"));
    assert_eq!(item_attr(own, "role").as_deref(), Some("moderator"));
    assert_eq!(
        item_attr(own, "jid").as_deref(),
        Some(ALICE),
        "one sees one's own JID"
    );
    // §7.2.15: the (empty) subject follows.
    assert_eq!(sent[1].kind(), StanzaKind::Message);
    assert!(sent[1].xml().contains("subject"));
    // §10.1.1: locked until configured.
    assert_eq!(condition(&join(&h, BOB, "B")), "item-not-found");
    assert_eq!(
        condition(&iq(
            &h,
            BOB,
            ROOM,
            "get",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>"
        )),
        "item-not-found"
    );
    instant(&h);
    assert_eq!(join(&h, BOB, "B"), Verdict::Handled);
}

#[test]
fn a_groupchat_1_0_join_makes_an_instant_room() {
    let h = harness("");
    assert_eq!(
        presence(&h, ALICE, &format!("{ROOM}/A"), None, ""),
        Verdict::Handled
    );
    h.take_sent();
    assert_eq!(join(&h, BOB, "B"), Verdict::Handled);
}

#[test]
fn joining_sends_the_others_first_then_broadcasts_then_110() {
    let h = room("");
    assert_eq!(
        presence(
            &h,
            BOB,
            &format!("{ROOM}/B"),
            None,
            &format!("<show>away</show>{MUC_X}")
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    let a = format!("{ROOM}/A");
    let b = format!("{ROOM}/B");
    assert_eq!(
        summary(&sent),
        [
            ("presence".into(), a.clone(), BOB.into()),
            ("presence".into(), b.clone(), ALICE.into()),
            ("presence".into(), b.clone(), BOB.into()),
            ("message".into(), ROOM.into(), BOB.into()),
        ]
    );
    // Semi-anonymous by default: bob (participant) does not see alice's JID; alice (moderator)
    // sees bob's.
    assert_eq!(item_attr(&sent[0], "jid"), None);
    assert_eq!(item_attr(&sent[1], "jid").as_deref(), Some(BOB));
    assert!(sent[1].xml().contains("<show>away</show>") || sent[1].xml().contains("away</show>"));
    assert!(
        !sent[1].xml().contains("http://jabber.org/protocol/muc'"),
        "the join <x/> is not echoed"
    );
    assert_eq!(codes(&sent[2]), ["110"]);
    assert_eq!(item_attr(&sent[2], "role").as_deref(), Some("participant"));
    assert_eq!(item_attr(&sent[2], "affiliation").as_deref(), Some("none"));
}

#[test]
fn non_anonymous_rooms_show_jids_and_say_100() {
    let h = room("");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_whois", "anyone")]),
        Verdict::Handled
    );
    h.take_sent();
    join(&h, BOB, "B");
    let sent = h.take_sent();
    assert_eq!(item_attr(&sent[0], "jid").as_deref(), Some(ALICE));
    assert_eq!(codes(&sent[2]), ["100", "110"]);
}

#[test]
fn a_taken_nickname_is_a_conflict_and_a_missing_one_malformed() {
    let h = room("");
    assert_eq!(condition(&join(&h, BOB, "A")), "conflict");
    assert_eq!(
        condition(&presence(&h, BOB, ROOM, None, MUC_X)),
        "jid-malformed"
    );
    assert_eq!(condition(&join(&h, BOB, &"n".repeat(65))), "not-acceptable");
    assert!(h.take_sent().is_empty());
}

#[test]
fn leaving_tells_everyone_and_an_empty_temporary_room_goes() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(
        presence(&h, BOB, &format!("{ROOM}/B"), Some("unavailable"), ""),
        Verdict::Drop
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to(), BOB);
    assert_eq!(codes(&sent[0]), ["110"]);
    assert_eq!(sent[0].type_attr(), "unavailable");
    assert_eq!(sent[1].to(), ALICE);
    assert_eq!(item_attr(&sent[1], "role").as_deref(), Some("none"));
    // Addressed to any nickname, the host's retraction (RFC 6121 §4.6.3) removes alice too.
    presence(
        &h,
        ALICE,
        &format!("{ROOM}/whatever"),
        Some("unavailable"),
        "",
    );
    assert_eq!(h.take_sent().len(), 1);
    assert!(room_state().is_empty(), "{:?}", room_state());
    // A second retraction finds nobody.
    presence(&h, ALICE, &format!("{ROOM}/A"), Some("unavailable"), "");
    assert!(h.take_sent().is_empty());
}

#[test]
fn a_nickname_change_is_303_then_the_new_presence() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(join(&h, BOB, "Bee"), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 4, "{:?}", summary(&sent));
    for s in &sent[..2] {
        assert_eq!(s.from(), format!("{ROOM}/B"));
        assert_eq!(s.type_attr(), "unavailable");
        assert_eq!(item_attr(s, "nick").as_deref(), Some("Bee"));
        assert!(codes(s).contains(&"303".to_owned()));
    }
    for s in &sent[2..] {
        assert_eq!(s.from(), format!("{ROOM}/Bee"));
        assert_eq!(s.type_attr(), "");
    }
    assert_eq!(condition(&join(&h, BOB, "A")), "conflict");
    // The old nickname is free, messages now come from the new one.
    assert!(occupant::by_nick(ROOM, "B").is_none());
    assert_eq!(occupant::by_jid(ROOM, BOB).unwrap().nick, "Bee");
}

pub(crate) fn groupchat(h: &Harness<Muc>, from: &str, body: &str) -> Verdict {
    h.service_stanza(&format!(
        "<message xmlns='jabber:client' from='{from}' to='{ROOM}' type='groupchat'>{body}</message>"
    ))
}

#[test]
fn groupchat_is_reflected_to_every_occupant_from_the_nick() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(groupchat(&h, BOB, "<body>hi</body>"), Verdict::Handled);
    let sent = h.take_sent();
    let mut to: Vec<&str> = sent.iter().map(Stanza::to).collect();
    to.sort_unstable();
    assert_eq!(to, [ALICE, BOB]);
    assert!(
        sent.iter()
            .all(|s| s.from() == format!("{ROOM}/B") && s.body().as_deref() == Some("hi"))
    );
    assert_eq!(
        condition(&groupchat(&h, CAROL, "<body>hi</body>")),
        "not-acceptable"
    );
}

#[test]
fn the_subject_is_for_moderators_and_sent_on_joining() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(
        condition(&groupchat(&h, BOB, "<subject>mine</subject>")),
        "forbidden"
    );
    assert_eq!(
        groupchat(&h, ALICE, "<subject>Tea</subject>"),
        Verdict::Handled
    );
    assert_eq!(h.take_sent().len(), 2);
    join(&h, CAROL, "C");
    let sent = h.take_sent();
    let last = sent.last().unwrap();
    assert_eq!(last.from(), format!("{ROOM}/A"));
    assert!(last.xml().contains(">Tea</subject>"));
    // Allowed to everyone once the room says so.
    configure(&h, &[("muc#roomconfig_changesubject", "1")]);
    assert_eq!(
        groupchat(&h, BOB, "<subject>mine</subject>"),
        Verdict::Handled
    );
}

#[test]
fn moderated_rooms_silence_visitors() {
    let h = room("");
    configure(&h, &[("muc#roomconfig_moderatedroom", "1")]);
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(
        occupant::by_jid(ROOM, BOB).unwrap().role,
        occupant::Role::Visitor
    );
    assert_eq!(
        condition(&groupchat(&h, BOB, "<body>hi</body>")),
        "forbidden"
    );
    // §8.3: voice.
    let v = admin_set(&h, ALICE, "<item nick='B' role='participant'/>");
    assert_eq!(v, Verdict::Handled);
    assert_eq!(groupchat(&h, BOB, "<body>hi</body>"), Verdict::Handled);
}

#[test]
fn private_messages_go_between_occupants_by_nickname() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    let pm = |from: &str, nick: &str, t: &str| {
        h.service_stanza(&format!(
            "<message xmlns='jabber:client' from='{from}' to='{ROOM}/{nick}' type='{t}'><body>psst</body></message>"
        ))
    };
    assert_eq!(pm(BOB, "A", "chat"), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(
        (sent[0].from(), sent[0].to()),
        (&*format!("{ROOM}/B"), ALICE)
    );
    assert!(
        sent[0]
            .element()
            .unwrap()
            .get_child("x", ns::MUC_USER)
            .is_some()
    );
    assert_eq!(condition(&pm(BOB, "nobody", "chat")), "item-not-found");
    assert_eq!(condition(&pm(CAROL, "A", "chat")), "not-acceptable");
    assert_eq!(condition(&pm(BOB, "A", "groupchat")), "bad-request");
    configure(&h, &[("muc#roomconfig_allowpm", "none")]);
    assert_eq!(condition(&pm(BOB, "A", "chat")), "not-allowed");
}

fn admin_set(h: &Harness<Muc>, from: &str, items: &str) -> Verdict {
    iq(
        h,
        from,
        ROOM,
        "set",
        &format!("<query xmlns='http://jabber.org/protocol/muc#admin'>{items}</query>"),
    )
}

#[test]
fn a_kick_is_307_and_only_for_moderators() {
    let h = room("");
    join(&h, BOB, "B");
    join(&h, CAROL, "C");
    h.take_sent();
    assert_eq!(
        condition(&admin_set(&h, BOB, "<item nick='C' role='none'/>")),
        "forbidden"
    );
    assert_eq!(
        condition(&admin_set(&h, ALICE, "<item nick='nobody' role='none'/>")),
        "item-not-found"
    );
    assert_eq!(
        admin_set(
            &h,
            ALICE,
            "<item nick='C' role='none'><reason>rude</reason></item>"
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    let to_carol = sent.iter().find(|s| s.to() == CAROL).unwrap();
    assert_eq!(to_carol.type_attr(), "unavailable");
    assert_eq!(codes(to_carol), ["307", "110"]);
    assert!(to_carol.xml().contains("rude"));
    assert!(sent.iter().any(|s| s.to() == BOB && codes(s) == ["307"]));
    assert!(
        sent.iter()
            .any(|s| s.kind() == StanzaKind::Iq && s.type_attr() == "result")
    );
    assert!(occupant::by_jid(ROOM, CAROL).is_none());
    // §8.2: the owner cannot be kicked.
    admin_set(&h, ALICE, "<item nick='B' role='moderator'/>");
    assert_eq!(
        condition(&admin_set(&h, BOB, "<item nick='A' role='none'/>")),
        "not-allowed"
    );
}

#[test]
fn a_ban_is_301_and_keeps_the_user_out() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(
        condition(&admin_set(
            &h,
            BOB,
            "<item jid='alice@localhost' affiliation='outcast'/>"
        )),
        "forbidden"
    );
    assert_eq!(
        admin_set(
            &h,
            ALICE,
            "<item jid='bob@localhost' affiliation='outcast'/>"
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    let to_bob = sent.iter().find(|s| s.to() == BOB).unwrap();
    assert_eq!(codes(to_bob), ["301", "110"]);
    assert_eq!(item_attr(to_bob, "affiliation").as_deref(), Some("outcast"));
    assert_eq!(condition(&join(&h, BOB, "B")), "forbidden");
    // The outcast list.
    iq(
        &h,
        ALICE,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>",
    );
    let list = h.take_sent();
    assert!(list[0].xml().contains("bob@localhost"));
    // Admins cannot ban owners (§9.1), the last owner stays (§10.7).
    admin_set(
        &h,
        ALICE,
        "<item jid='carol@localhost' affiliation='admin'/>",
    );
    join(&h, CAROL, "C");
    assert_eq!(
        condition(&admin_set(
            &h,
            CAROL,
            "<item jid='alice@localhost' affiliation='outcast'/>"
        )),
        "not-allowed"
    );
    assert_eq!(
        condition(&admin_set(
            &h,
            ALICE,
            "<item jid='alice@localhost' affiliation='admin'/>"
        )),
        "conflict"
    );
}

#[test]
fn password_rooms_want_the_password() {
    let h = room("");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_passwordprotectedroom", "1")]),
        Verdict::Error(
            StanzaError::not_acceptable()
                .with_text("muc#roomconfig_roomsecret: a password of 1 to 256 bytes is required")
        )
    );
    configure(
        &h,
        &[
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "s3cret"),
        ],
    );
    assert_eq!(condition(&join(&h, BOB, "B")), "not-authorized");
    let wrong = "<x xmlns='http://jabber.org/protocol/muc'><password>nope</password></x>";
    assert_eq!(
        condition(&presence(&h, BOB, &format!("{ROOM}/B"), None, wrong)),
        "not-authorized"
    );
    let right = "<x xmlns='http://jabber.org/protocol/muc'><password>s3cret</password></x>";
    assert_eq!(
        presence(&h, BOB, &format!("{ROOM}/B"), None, right),
        Verdict::Handled
    );
}

#[test]
fn members_only_rooms_want_membership() {
    let h = room("");
    join(&h, CAROL, "C");
    configure(&h, &[("muc#roomconfig_membersonly", "1")]);
    let sent = h.take_sent();
    // §9.4: carol, no member, is removed with 322.
    assert!(
        sent.iter()
            .any(|s| s.to() == CAROL && codes(s).contains(&"322".to_owned()))
    );
    assert_eq!(condition(&join(&h, BOB, "B")), "registration-required");
    admin_set(
        &h,
        ALICE,
        "<item jid='bob@localhost' affiliation='member'/>",
    );
    assert_eq!(join(&h, BOB, "B"), Verdict::Handled);
    h.take_sent();
    // Losing membership removes him (321).
    admin_set(&h, ALICE, "<item jid='bob@localhost' affiliation='none'/>");
    assert!(
        h.take_sent()
            .iter()
            .any(|s| s.to() == BOB && codes(s).contains(&"321".to_owned()))
    );
}

#[test]
fn a_full_room_is_service_unavailable_but_not_for_admins() {
    let h = room("max_occupants = 3");
    configure(&h, &[("muc#roomconfig_maxusers", "2")]);
    assert_eq!(
        condition(&configure(&h, &[("muc#roomconfig_maxusers", "4")])),
        "not-acceptable"
    );
    join(&h, BOB, "B");
    assert_eq!(condition(&join(&h, CAROL, "C")), "service-unavailable");
    admin_set(
        &h,
        ALICE,
        "<item jid='carol@localhost' affiliation='admin'/>",
    );
    assert_eq!(join(&h, CAROL, "C"), Verdict::Handled);
    // The service's own bound holds for everyone.
    assert_eq!(
        condition(&join(&h, "dave@localhost/d", "D")),
        "service-unavailable"
    );
}

#[test]
fn max_rooms_bounds_creation() {
    let h = harness("max_rooms = 1");
    join(&h, ALICE, "A");
    let v = presence(&h, BOB, "other@conference.localhost/B", None, MUC_X);
    assert_eq!(condition(&v), "resource-constraint");
}

#[test]
fn persistent_rooms_live_in_kv_and_destruction_deletes_them() {
    let h = room("");
    join(&h, BOB, "B");
    admin_set(
        &h,
        ALICE,
        "<item jid='carol@localhost' affiliation='member'/>",
    );
    configure(
        &h,
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_roomname", "Tea"),
        ],
    );
    h.take_sent();
    let kv = Kv::new(room::ROOMS, Owner::room(ROOM));
    let mut keys = kv.keys("", 10).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["aff/alice@localhost", "aff/carol@localhost", "config"]
    );
    assert!(ephemeral::keys("cfg/", 10).is_empty());
    assert!(ephemeral::keys("aff/", 10).is_empty());
    // Everyone leaves; the room stays.
    presence(&h, BOB, &format!("{ROOM}/B"), Some("unavailable"), "");
    presence(&h, ALICE, &format!("{ROOM}/A"), Some("unavailable"), "");
    h.take_sent();
    assert!(Room::load(ROOM).unwrap().is_some());
    // Only the owner destroys it; no one is there to tell.
    let destroy = "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='new@conference.localhost'><reason>moved</reason></destroy></query>";
    assert_eq!(condition(&iq(&h, BOB, ROOM, "set", destroy)), "forbidden");
    join(&h, BOB, "B");
    h.take_sent();
    assert_eq!(iq(&h, ALICE, ROOM, "set", destroy), Verdict::Handled);
    let sent = h.take_sent();
    let to_bob = sent.iter().find(|s| s.to() == BOB).unwrap();
    assert_eq!(to_bob.type_attr(), "unavailable");
    assert!(to_bob.xml().contains("new@conference.localhost") && to_bob.xml().contains("moved"));
    assert!(kv.keys("", 10).unwrap().is_empty());
    assert!(
        Kv::new(room::DIRECTORY, Owner::Service)
            .keys("", 10)
            .unwrap()
            .is_empty()
    );
    assert!(room_state().is_empty());
    assert!(Room::load(ROOM).unwrap().is_none());
}

#[test]
fn the_owner_form_shows_the_configuration_and_is_for_owners() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    let get = "<query xmlns='http://jabber.org/protocol/muc#owner'/>";
    assert_eq!(condition(&iq(&h, BOB, ROOM, "get", get)), "forbidden");
    configure(
        &h,
        &[
            ("muc#roomconfig_roomdesc", "About tea"),
            ("muc#roomconfig_enablelogging", "1"),
        ],
    );
    h.take_sent();
    assert_eq!(iq(&h, ALICE, ROOM, "get", get), Verdict::Handled);
    let form = h.take_sent().remove(0);
    let xml = form.xml();
    assert!(xml.contains("muc#roomconfig_roomdesc") && xml.contains("About tea"));
    assert!(xml.contains("muc#roomconfig_whois") && xml.contains("muc#roomconfig_maxusers"));
    assert_eq!(
        condition(&configure(&h, &[("muc#roomconfig_whois", "everyone")])),
        "not-acceptable"
    );
}

#[test]
fn a_configuration_change_is_announced_with_104() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    configure(&h, &[("muc#roomconfig_whois", "anyone")]);
    let sent = h.take_sent();
    let to_bob = sent.iter().find(|s| s.to() == BOB).unwrap();
    assert_eq!(codes(to_bob), ["104", "172"]);
}

#[test]
fn cancelling_the_initial_form_destroys_the_room() {
    let h = harness("");
    join(&h, ALICE, "A");
    h.take_sent();
    let cancel = "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>";
    assert_eq!(iq(&h, ALICE, ROOM, "set", cancel), Verdict::Handled);
    assert!(Room::load(ROOM).unwrap().is_none());
    assert!(room_state().is_empty());
}

#[test]
fn disco_lists_public_rooms_and_describes_them() {
    let h = room("");
    iq(
        &h,
        BOB,
        "conference.localhost",
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    let info = h.take_sent().remove(0);
    assert!(
        info.xml().contains("category=\"conference\"")
            || info.xml().contains("category='conference'")
    );
    assert!(info.xml().contains(ns::MUC));
    iq(
        &h,
        BOB,
        "conference.localhost",
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    );
    assert!(h.take_sent()[0].xml().contains(ROOM));
    iq(
        &h,
        BOB,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    let xml = h.take_sent().remove(0).xml().to_owned();
    for f in [
        "muc_public",
        "muc_temporary",
        "muc_open",
        "muc_unmoderated",
        "muc_unsecured",
        "muc_semianonymous",
        "muc#roominfo",
    ] {
        assert!(xml.contains(f), "{f} in {xml}");
    }
    configure(&h, &[("muc#roomconfig_publicroom", "0")]);
    h.take_sent();
    iq(
        &h,
        BOB,
        "conference.localhost",
        "get",
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    );
    assert!(
        !h.take_sent()[0].xml().contains(ROOM),
        "hidden rooms are not listed"
    );
    assert_eq!(
        condition(&iq(
            &h,
            BOB,
            "nope@conference.localhost",
            "get",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>"
        )),
        "item-not-found"
    );
}

#[test]
fn role_and_affiliation_lists_need_standing() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    let q = |from: &str, item: &str| {
        iq(
            &h,
            from,
            ROOM,
            "get",
            &format!("<query xmlns='http://jabber.org/protocol/muc#admin'>{item}</query>"),
        )
    };
    assert_eq!(
        condition(&q(BOB, "<item role='participant'/>")),
        "forbidden"
    );
    assert_eq!(
        condition(&q(BOB, "<item affiliation='member'/>")),
        "forbidden"
    );
    assert_eq!(q(ALICE, "<item role='participant'/>"), Verdict::Handled);
    let list = h.take_sent().remove(0);
    assert!(list.xml().contains("nick=\"B\"") || list.xml().contains("nick='B'"));
    assert_eq!(q(ALICE, "<item affiliation='owner'/>"), Verdict::Handled);
    assert!(h.take_sent()[0].xml().contains("alice@localhost"));
}
