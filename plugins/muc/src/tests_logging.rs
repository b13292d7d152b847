//! Room logs against the SDK's fake host (issue 7, part 2): status 170/171, the archive and its
//! XEP-0359 ids, XEP-0313 queries on the room with paging and filters, who may query, purging
//! when logging goes off or the room goes, history on entering, and the expiry of idle rooms.

use tessera_sdk::archive::Query;
use tessera_sdk::kv::Kv;
use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Owner, Stanza, Verdict};

use super::tests::{
    ALICE, BOB, CAROL, ROOM, codes, condition, configure, groupchat, harness, iq, join, presence,
    room,
};
use super::*;

const DAVE: &str = "dave@localhost/d";

/// A room made by alice ("A") with logging on, bob in it as "B".
fn logged() -> Harness<Muc> {
    let h = room("");
    join(&h, BOB, "B");
    assert_eq!(
        configure(&h, &[("muc#roomconfig_enablelogging", "1")]),
        Verdict::Handled
    );
    h.take_sent();
    h
}

fn stored() -> Vec<String> {
    mam::archive_of(ROOM)
        .query(&Query::new(100))
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.data)
        .collect()
}

fn say(h: &Harness<Muc>, from: &str, body: &str) {
    let v = groupchat(h, from, &format!("<body>{body}</body>"));
    assert_eq!(v, Verdict::Handled);
}

fn mam_query(h: &Harness<Muc>, from: &str, inner: &str) -> Verdict {
    iq(
        h,
        from,
        ROOM,
        "set",
        &format!("<query xmlns='urn:xmpp:mam:2' queryid='q'>{inner}</query>"),
    )
}

/// The bodies of the result messages sent and the `<fin/>` of the IQ result.
fn results(sent: &[Stanza]) -> (Vec<String>, tessera_sdk::minidom::Element) {
    let mut bodies = Vec::new();
    let mut fin = None;
    for s in sent {
        let el = s.element().unwrap();
        if let Some(r) = el.get_child("result", ns::MAM) {
            assert_eq!(r.attr("queryid"), Some("q"));
            let f = r.get_child("forwarded", ns::FORWARD).unwrap();
            assert!(f.get_child("delay", ns::DELAY).is_some(), "a delay stamp");
            let m = f.get_child("message", ns::CLIENT).unwrap();
            bodies.push(m.get_child("body", ns::CLIENT).unwrap().text());
        } else if s.type_attr() == "result" {
            fin = el.get_child("fin", ns::MAM).cloned();
            assert!(fin.is_some(), "the IQ result carries <fin/>");
        }
    }
    (bodies, fin.expect("an IQ result"))
}

fn rsm_last(fin: &tessera_sdk::minidom::Element) -> String {
    fin.get_child("set", tessera_sdk::rsm::NS)
        .and_then(|s| s.get_child("last", tessera_sdk::rsm::NS))
        .map(|l| l.text())
        .expect("rsm last")
}

#[test]
fn a_logged_room_says_170_and_an_unlogged_one_does_not() {
    let h = room("");
    join(&h, BOB, "B");
    let own = h
        .take_sent()
        .into_iter()
        .find(|s| {
            s.to() == BOB
                && s.kind() == tessera_sdk::StanzaKind::Presence
                && s.from().ends_with("/B")
        })
        .unwrap();
    assert_eq!(codes(&own), ["110"]);
    configure(&h, &[("muc#roomconfig_enablelogging", "1")]);
    let sent = h.take_sent();
    let to_bob = sent
        .iter()
        .find(|s| s.to() == BOB && s.kind() == tessera_sdk::StanzaKind::Message)
        .unwrap();
    assert_eq!(codes(to_bob), ["104", "170"], "§10.2.1: logging turned on");
    join(&h, CAROL, "C");
    let sent = h.take_sent();
    let own = sent
        .iter()
        .find(|s| s.to() == CAROL && s.from().ends_with("/C"))
        .unwrap();
    assert_eq!(codes(own), ["170", "110"], "§7.2.12");
    // Disco says so only while logged.
    let info = |h: &Harness<Muc>| {
        iq(
            h,
            BOB,
            ROOM,
            "get",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        );
        h.take_sent()[0].xml().to_owned()
    };
    assert!(info(&h).contains("urn:xmpp:mam:2"));
    configure(&h, &[("muc#roomconfig_enablelogging", "0")]);
    let sent = h.take_sent();
    let to_bob = sent
        .iter()
        .find(|s| s.to() == BOB && s.kind() == tessera_sdk::StanzaKind::Message)
        .unwrap();
    assert_eq!(codes(to_bob), ["104", "171"], "§10.2.1: logging turned off");
    assert!(!info(&h).contains("urn:xmpp:mam:2"));
    // The form no longer claims rooms are not archived.
    iq(
        &h,
        ALICE,
        ROOM,
        "get",
        "<query xmlns='http://jabber.org/protocol/muc#owner'/>",
    );
    assert!(!h.take_sent()[0].xml().contains("does not archive"));
}

#[test]
fn logged_messages_are_archived_with_a_stanza_id_and_no_store_ones_are_not() {
    let h = logged();
    let v = groupchat(
        &h,
        BOB,
        &format!("<body>hello</body><stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='forged'/>"),
    );
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 2);
    let data = stored();
    assert_eq!(data.len(), 1);
    assert!(data[0].contains("hello") && data[0].contains(&format!("{ROOM}/B")));
    assert!(!data[0].contains("bob@localhost"), "no real JID in the log");
    let id = mam::archive_of(ROOM).query(&Query::new(1)).unwrap().entries[0]
        .id
        .clone();
    for s in &sent {
        let el = s.element().unwrap();
        let ids: Vec<_> = el
            .children()
            .filter(|c| c.is("stanza-id", ns::SID))
            .collect();
        assert_eq!(ids.len(), 1, "the forged one is gone");
        assert_eq!(
            (ids[0].attr("by"), ids[0].attr("id")),
            (Some(ROOM), Some(id.as_str()))
        );
    }
    for hint in ["no-store", "no-permanent-store"] {
        groupchat(
            &h,
            BOB,
            &format!("<body>secret</body><{hint} xmlns='urn:xmpp:hints'/>"),
        );
        let sent = h.take_sent();
        assert_eq!(sent.len(), 2, "still delivered");
        assert!(!sent[0].xml().contains("urn:xmpp:sid:0"));
    }
    // A chat state alone is not a message to keep; a subject change is.
    groupchat(
        &h,
        BOB,
        "<active xmlns='http://jabber.org/protocol/chatstates'/>",
    );
    groupchat(&h, ALICE, "<subject>Tea</subject>");
    h.take_sent();
    let data = stored();
    assert_eq!(data.len(), 2);
    assert!(data[1].contains("<subject>Tea</subject>"));
}

#[test]
fn an_unlogged_room_keeps_nothing() {
    let h = room("");
    join(&h, BOB, "B");
    h.take_sent();
    say(&h, BOB, "hello");
    assert!(!h.take_sent()[0].xml().contains("stanza-id"));
    assert!(stored().is_empty());
    assert_eq!(
        condition(&mam_query(&h, BOB, "")),
        "service-unavailable",
        "no archive to query"
    );
    // No history for a newcomer either.
    join(&h, CAROL, "C");
    assert!(!h.take_sent().iter().any(|s| s.xml().contains("hello")));
}

#[test]
fn a_room_archive_query_pages_and_filters() {
    let h = logged();
    testing::set_now(1_000_000);
    for n in 1..=5 {
        say(&h, ALICE, &format!("a{n}"));
    }
    testing::set_now(2_000_000);
    say(&h, BOB, "b1");
    say(&h, BOB, "b2");
    h.take_sent();
    // Two at a time, oldest first.
    let page = "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>";
    assert_eq!(mam_query(&h, BOB, page), Verdict::Handled);
    let sent = h.take_sent();
    assert!(sent.iter().all(|s| s.from() == ROOM && s.to() == BOB));
    let (bodies, fin) = results(&sent);
    assert_eq!(bodies, ["a1", "a2"]);
    assert_ne!(fin.attr("complete"), Some("true"));
    assert!(
        sent.last().unwrap().type_attr() == "result",
        "the fin comes last"
    );
    let last = rsm_last(&fin);
    let next = format!(
        "<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>{last}</after></set>"
    );
    mam_query(&h, BOB, &next);
    let (bodies, fin) = results(&h.take_sent());
    assert_eq!(bodies, ["a3", "a4", "a5", "b1", "b2"]);
    assert_eq!(fin.attr("complete"), Some("true"));
    // The last page.
    mam_query(
        &h,
        BOB,
        "<set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set>",
    );
    assert_eq!(results(&h.take_sent()).0, ["b2"]);
    // One nickname's messages (`with` = the occupant JID) is checked against the real host in
    // tests/e2e/muc.rs: the fake keeps only bare `with` JIDs.
    // Time windows (XEP-0313 "Filtering by time received").
    let field = |var: &str, value: &str| {
        format!(
            "<x xmlns='jabber:x:data' type='submit'><field var='{var}'><value>{value}</value></field></x>"
        )
    };
    mam_query(&h, BOB, &field("start", "1970-01-01T00:33:20Z"));
    assert_eq!(results(&h.take_sent()).0, ["b1", "b2"]);
    mam_query(&h, BOB, &field("end", "1970-01-01T00:16:40Z"));
    let (bodies, fin) = results(&h.take_sent());
    assert_eq!(bodies, ["a1", "a2", "a3", "a4", "a5"]);
    assert_eq!(fin.attr("complete"), Some("true"));
    assert_eq!(
        condition(&mam_query(&h, BOB, &field("start", "yesterday"))),
        "bad-request"
    );
    // An id the archive does not hold.
    let unknown = "<set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set>";
    assert_eq!(condition(&mam_query(&h, BOB, unknown)), "item-not-found");
    let bad =
        "<x xmlns='jabber:x:data' type='submit'><field var='ids'><value>x</value></field></x>";
    assert_eq!(condition(&mam_query(&h, BOB, bad)), "bad-request");
    // The fields form.
    iq(&h, BOB, ROOM, "get", "<query xmlns='urn:xmpp:mam:2'/>");
    let form = h.take_sent();
    assert_eq!(form[0].type_attr(), "result");
    assert!(form[0].xml().contains("var='with'") || form[0].xml().contains("var=\"with\""));
}

#[test]
fn only_occupants_and_members_read_the_archive() {
    let h = logged();
    say(&h, BOB, "hi");
    h.take_sent();
    assert_eq!(
        condition(&mam_query(&h, DAVE, "")),
        "forbidden",
        "an outsider"
    );
    // A member who is not in the room may.
    iq(
        &h,
        ALICE,
        ROOM,
        "set",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='dave@localhost' affiliation='member'/></query>",
    );
    h.take_sent();
    assert_eq!(mam_query(&h, DAVE, ""), Verdict::Handled);
    assert_eq!(results(&h.take_sent()).0, ["hi"]);
    // A banned one may not, even after being in the room.
    iq(
        &h,
        ALICE,
        ROOM,
        "set",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@localhost' affiliation='outcast'/></query>",
    );
    h.take_sent();
    assert_eq!(condition(&mam_query(&h, BOB, "")), "forbidden");
}

#[test]
fn logging_off_purges_the_archive_and_destroying_the_room_too() {
    let h = logged();
    say(&h, BOB, "old");
    h.take_sent();
    assert_eq!(stored().len(), 1);
    configure(&h, &[("muc#roomconfig_enablelogging", "0")]);
    assert!(stored().is_empty(), "turning logging off deletes the log");
    configure(&h, &[("muc#roomconfig_enablelogging", "1")]);
    h.take_sent();
    mam_query(&h, BOB, "");
    let (bodies, fin) = results(&h.take_sent());
    assert!(bodies.is_empty(), "nothing old comes back");
    assert_eq!(fin.attr("complete"), Some("true"));
    say(&h, BOB, "new");
    assert_eq!(stored().len(), 1);
    let destroy = "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>";
    assert_eq!(iq(&h, ALICE, ROOM, "set", destroy), Verdict::Handled);
    assert!(stored().is_empty(), "the room's archive goes with it");
}

#[test]
fn an_empty_temporary_logged_room_ends_with_its_log() {
    let h = logged();
    say(&h, BOB, "x");
    presence(&h, BOB, &format!("{ROOM}/B"), Some("unavailable"), "");
    presence(&h, ALICE, &format!("{ROOM}/A"), Some("unavailable"), "");
    assert!(Room::load(ROOM).unwrap().is_none());
    assert!(stored().is_empty());
}

/// The groupchat messages with a body sent to `to`, in order.
fn history_to(sent: &[Stanza], to: &str) -> Vec<String> {
    sent.iter()
        .filter(|s| s.to() == to && s.type_attr() == "groupchat")
        .filter_map(|s| s.body())
        .collect()
}

#[test]
fn history_on_entering_comes_from_the_log_within_the_limits() {
    let h = logged();
    testing::set_now(1_000_000);
    for n in 1..=4 {
        say(&h, BOB, &format!("m{n}"));
    }
    h.take_sent();
    let enter = |who: &str, nick: &str, history: &str| {
        let x = format!("<x xmlns='http://jabber.org/protocol/muc'>{history}</x>");
        presence(&h, who, &format!("{ROOM}/{nick}"), None, &x);
        let sent = h.take_sent();
        presence(&h, who, &format!("{ROOM}/{nick}"), Some("unavailable"), "");
        h.take_sent();
        sent
    };
    let sent = enter(CAROL, "C", "<history maxstanzas='2'/>");
    assert_eq!(history_to(&sent, CAROL), ["m3", "m4"]);
    // Order: own presence, the history, then the subject (§7.2.14, §7.2.15).
    let mine: Vec<_> = sent.iter().filter(|s| s.to() == CAROL).collect();
    let own = mine.iter().position(|s| s.from().ends_with("/C")).unwrap();
    let first = mine.iter().position(|s| s.body().is_some()).unwrap();
    assert!(own < first, "history after the own presence");
    let last = mine.last().unwrap().element().unwrap();
    assert!(last.get_child("subject", ns::CLIENT).is_some());
    let h1 = mine
        .iter()
        .find(|s| s.body().as_deref() == Some("m3"))
        .unwrap();
    let el = h1.element().unwrap();
    assert_eq!(h1.from(), format!("{ROOM}/B"));
    let delay = el.get_child("delay", ns::DELAY).expect("XEP-0203");
    assert_eq!(
        (delay.attr("from"), delay.attr("stamp")),
        (Some(ROOM), Some("1970-01-01T00:16:40.000Z"))
    );
    assert!(el.get_child("stanza-id", ns::SID).is_some());
    // No <history/>: the operator's default (here all four); maxstanzas='0' and maxchars='0': none.
    assert_eq!(
        history_to(&enter(CAROL, "C", ""), CAROL),
        ["m1", "m2", "m3", "m4"]
    );
    assert!(history_to(&enter(CAROL, "C", "<history maxstanzas='0'/>"), CAROL).is_empty());
    assert!(history_to(&enter(CAROL, "C", "<history maxchars='0'/>"), CAROL).is_empty());
    // Seconds: only what is recent enough.
    testing::set_now(1_000_000 + 60_000);
    say(&h, BOB, "m5");
    h.take_sent();
    assert_eq!(
        history_to(&enter(CAROL, "C", "<history seconds='30'/>"), CAROL),
        ["m5"]
    );
    let since = "<history since='1970-01-01T00:16:41Z'/>";
    assert_eq!(history_to(&enter(CAROL, "C", since), CAROL), ["m5"]);
    // maxchars keeps the newest that fit.
    let one = enter(CAROL, "C", "<history maxchars='1000000'/>");
    let len = one
        .iter()
        .filter(|s| s.body().as_deref() == Some("m5"))
        .map(|s| s.xml().len())
        .next()
        .unwrap();
    let fit = format!("<history maxchars='{}'/>", len + len / 2);
    assert_eq!(history_to(&enter(CAROL, "C", &fit), CAROL), ["m5"]);
}

#[test]
fn the_operator_caps_history() {
    let h = harness("history = 1");
    join(&h, ALICE, "A");
    h.take_sent();
    configure(&h, &[("muc#roomconfig_enablelogging", "1")]);
    say(&h, ALICE, "one");
    say(&h, ALICE, "two");
    h.take_sent();
    presence(
        &h,
        CAROL,
        &format!("{ROOM}/C"),
        None,
        "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='50'/></x>",
    );
    assert_eq!(history_to(&h.take_sent(), CAROL), ["two"]);
}

#[test]
fn idle_persistent_rooms_expire_with_all_their_data() {
    let h = harness("room_expiry = \"10s\"");
    testing::set_now(1_000_000);
    join(&h, ALICE, "A");
    configure(
        &h,
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_enablelogging", "1"),
        ],
    );
    say(&h, ALICE, "remember me");
    presence(&h, ALICE, &format!("{ROOM}/A"), Some("unavailable"), "");
    // A second persistent room stays occupied the whole time.
    let other = "busy@conference.localhost";
    presence(&h, BOB, &format!("{other}/B"), None, "");
    iq(
        &h,
        BOB,
        other,
        "set",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query>",
    );
    h.take_sent();
    let kv = Kv::new(room::ROOMS, Owner::room(ROOM));
    assert_eq!(kv.get_string("active").unwrap().as_deref(), Some("1000000"));
    assert_eq!(stored().len(), 1);
    testing::set_now(1_005_000);
    assert!(h.timer(expiry::TIMER));
    assert!(Room::load(ROOM).unwrap().is_some(), "idle 5 s of 10");
    testing::set_now(1_011_000);
    assert!(h.timer(expiry::TIMER));
    assert!(Room::load(ROOM).unwrap().is_none(), "idle 11 s: gone");
    assert!(kv.keys("", 10).unwrap().is_empty());
    assert!(stored().is_empty());
    assert_eq!(
        Kv::new(room::DIRECTORY, Owner::Service)
            .keys("", 10)
            .unwrap(),
        [other]
    );
    assert!(
        Room::load(other).unwrap().is_some(),
        "an occupied room is never idle"
    );
    assert!(
        testing::logs()
            .iter()
            .any(|(_, m)| m.contains("destroyed after 11 s"))
    );
}

#[test]
fn activity_is_noted_coarsely() {
    let h = harness("room_expiry = \"30d\"");
    testing::set_now(1_000_000);
    join(&h, ALICE, "A");
    configure(&h, &[("muc#roomconfig_persistentroom", "1")]);
    say(&h, ALICE, "a");
    let kv = Kv::new(room::ROOMS, Owner::room(ROOM));
    assert_eq!(kv.get_string("active").unwrap().as_deref(), Some("1000000"));
    testing::set_now(1_000_000 + 3_599_000);
    say(&h, ALICE, "b");
    assert_eq!(
        kv.get_string("active").unwrap().as_deref(),
        Some("1000000"),
        "within the hour"
    );
    testing::set_now(1_000_000 + 3_600_000);
    say(&h, ALICE, "c");
    assert_eq!(kv.get_string("active").unwrap().as_deref(), Some("4600000"));
    // A room with no record (from before the bookkeeping) starts its clock at a sweep.
    kv.delete("active").unwrap();
    presence(&h, ALICE, &format!("{ROOM}/A"), Some("unavailable"), "");
    testing::set_now(100_000_000_000);
    h.timer(expiry::TIMER);
    assert!(Room::load(ROOM).unwrap().is_some());
    assert_eq!(
        kv.get_string("active").unwrap().as_deref(),
        Some("100000000000")
    );
}
