//! The plugin against the SDK's fake host: enabling, and who gets which copy.

use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Event, Hook, Stanza, StanzaError, Verdict};

use super::*;

const ALICE: &str = "alice@localhost";
const PHONE: &str = "alice@localhost/phone";
const LAPTOP: &str = "alice@localhost/laptop";
const TABLET: &str = "alice@localhost/tablet";

fn harness() -> Harness<Carbons> {
    let mut h = Harness::new(Carbons);
    h.init("").expect("init");
    testing::add_account(ALICE);
    testing::add_account("bob@localhost");
    h
}

fn iq(h: &Harness<Carbons>, session: &str, type_: &str, op: &str, to: Option<&str>) -> Verdict {
    let to = to.map_or(String::new(), |t| format!(" to='{t}'"));
    let xml = format!(
        "<iq xmlns='jabber:client' from='{session}'{to} type='{type_}' id='c1'>\
         <{op} xmlns='urn:xmpp:carbons:2'/></iq>"
    );
    let ctx = Context::new(Hook::Iq)
        .with_account(ALICE)
        .with_session(session);
    h.stanza(&ctx, &xml)
}

fn enable(h: &Harness<Carbons>, session: &str) {
    assert_eq!(iq(h, session, "set", "enable", None), Verdict::Handled);
    h.take_sent();
}

fn chat(from: &str, to: &str, extra: &str) -> String {
    format!(
        "<message xmlns='jabber:client' from='{from}' to='{to}' type='chat' id='m1'>\
         <body>hello</body>{extra}</message>"
    )
}

fn outgoing(h: &Harness<Carbons>, session: &str, xml: &str) -> Verdict {
    let ctx = Context::new(Hook::Outgoing)
        .with_account(ALICE)
        .with_session(session);
    h.stanza(&ctx, xml)
}

fn incoming(h: &Harness<Carbons>, xml: &str) -> Verdict {
    h.stanza(&Context::new(Hook::Incoming).with_account(ALICE), xml)
}

/// (to, direction) of each copy sent, checking each is a well-formed carbon of `hello`.
fn copies(h: &Harness<Carbons>) -> Vec<(String, &'static str)> {
    h.take_sent()
        .iter()
        .map(|c: &Stanza| {
            assert_eq!(c.from(), ALICE, "copies come from the bare JID");
            let e = c.element().expect("parsed");
            let dir = if e.has_child("sent", ns::CARBONS) {
                "sent"
            } else {
                "received"
            };
            let inner = e
                .get_child(dir, ns::CARBONS)
                .and_then(|w| w.get_child("forwarded", ns::FORWARD))
                .and_then(|f| f.get_child("message", ns::CLIENT))
                .expect("forwarded original");
            assert_eq!(
                inner
                    .get_child("body", ns::CLIENT)
                    .map(|b| b.text())
                    .as_deref(),
                Some("hello")
            );
            (c.to().to_owned(), dir)
        })
        .collect()
}

#[test]
fn manifest_owns_the_iqs_and_hooks_both_directions() {
    let m = Carbons.describe();
    assert_eq!(m.name, "carbons");
    assert_eq!(m.features, [ns::CARBONS]);
    assert_eq!(m.iq_handlers.len(), 2);
    let hooks: Vec<Hook> = m.subscriptions.iter().map(|s| s.hook).collect();
    assert_eq!(hooks, [Hook::Outgoing, Hook::Incoming]);
    assert!(m.subscriptions.iter().all(|s| s.priority == PRIORITY));
    assert!(m.data.is_empty(), "nothing persistent");
}

#[test]
fn enable_and_disable_answer_and_toggle() {
    let h = harness();
    assert_eq!(iq(&h, PHONE, "set", "enable", None), Verdict::Handled);
    let answer = h.take_sent();
    assert_eq!(answer.len(), 1);
    assert_eq!(
        (
            answer[0].type_attr(),
            answer[0].id(),
            answer[0].to(),
            answer[0].from()
        ),
        ("result", "c1", PHONE, "localhost")
    );
    assert_eq!(enable::enabled(ALICE), [PHONE]);
    // The account is marked, so the host enters the copying hooks for it (`scope`).
    assert_eq!(
        testing::marked(ALICE),
        Some(tessera_sdk::scope::Lifetime::Online)
    );
    // Enabling twice is not an error (§10.1).
    assert_eq!(
        iq(&h, PHONE, "set", "enable", Some(ALICE)),
        Verdict::Handled
    );
    assert_eq!(
        h.take_sent()[0].from(),
        ALICE,
        "answered from where it was sent"
    );
    assert_eq!(iq(&h, PHONE, "set", "disable", None), Verdict::Handled);
    assert!(enable::enabled(ALICE).is_empty());
    assert_eq!(testing::marked(ALICE), None, "no enabled session: unmarked");
    assert_eq!(iq(&h, PHONE, "set", "disable", None), Verdict::Handled);
}

#[test]
fn a_get_is_a_bad_request() {
    let h = harness();
    assert_eq!(
        iq(&h, PHONE, "get", "enable", None),
        Verdict::Error(StanzaError::bad_request())
    );
    assert!(enable::enabled(ALICE).is_empty());
}

#[test]
fn sent_copies_go_to_other_enabled_resources_only() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::add_session(LAPTOP, Some(0));
    testing::add_session(TABLET, Some(0));
    enable(&h, PHONE);
    enable(&h, LAPTOP);
    // The laptop sends: the phone gets a copy; the laptop (sender) and tablet (not enabled) none.
    assert_eq!(
        outgoing(&h, LAPTOP, &chat(LAPTOP, "bob@localhost", "")),
        Verdict::Pass
    );
    assert_eq!(copies(&h), [(PHONE.to_owned(), "sent")]);
    // The tablet, which never enabled carbons, sends: both enabled ones get it (§8).
    outgoing(&h, TABLET, &chat(TABLET, "bob@localhost", ""));
    let mut got = copies(&h);
    got.sort();
    assert_eq!(
        got,
        [(LAPTOP.to_owned(), "sent"), (PHONE.to_owned(), "sent")]
    );
}

#[test]
fn private_and_no_copy_messages_are_not_copied() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    enable(&h, PHONE);
    for extra in [
        "<private xmlns='urn:xmpp:carbons:2'/>",
        "<no-copy xmlns='urn:xmpp:hints'/>",
    ] {
        assert_eq!(
            outgoing(&h, LAPTOP, &chat(LAPTOP, "bob@localhost", extra)),
            Verdict::Pass
        );
        assert_eq!(
            incoming(&h, &chat("bob@localhost/pc", LAPTOP, extra)),
            Verdict::Pass
        );
    }
    assert!(h.take_sent().is_empty());
}

#[test]
fn received_copies_skip_the_resources_that_get_the_original() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::add_session(LAPTOP, Some(5));
    testing::add_session(TABLET, Some(-1));
    enable(&h, PHONE);
    enable(&h, LAPTOP);
    enable(&h, TABLET);
    // To the bare JID: the laptop (highest priority) gets the original.
    assert_eq!(
        incoming(&h, &chat("bob@localhost/pc", ALICE, "")),
        Verdict::Pass
    );
    let mut got = copies(&h);
    got.sort();
    assert_eq!(
        got,
        [
            (PHONE.to_owned(), "received"),
            (TABLET.to_owned(), "received")
        ]
    );
    // To the phone's full JID: the phone gets the original, the others a copy.
    incoming(&h, &chat("bob@localhost/pc", PHONE, ""));
    let mut got = copies(&h);
    got.sort();
    assert_eq!(
        got,
        [
            (LAPTOP.to_owned(), "received"),
            (TABLET.to_owned(), "received")
        ]
    );
    // To a resource that is gone: falls back to the bare JID's targets.
    incoming(&h, &chat("bob@localhost/pc", "alice@localhost/gone", ""));
    assert_eq!(copies(&h).len(), 2);
}

#[test]
fn ineligible_and_self_sent_messages_get_no_received_copy() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::add_session(LAPTOP, Some(1));
    enable(&h, PHONE);
    let groupchat = "<message xmlns='jabber:client' from='room@conference.localhost/bob' \
        to='alice@localhost/laptop' type='groupchat'><body>hello</body></message>";
    incoming(&h, groupchat);
    // Sent by the account itself: the `sent` copy covers it.
    incoming(&h, &chat(LAPTOP, ALICE, ""));
    assert!(h.take_sent().is_empty());
}

#[test]
fn state_goes_with_the_session() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::add_session(LAPTOP, Some(0));
    enable(&h, PHONE);
    enable(&h, LAPTOP);
    assert!(h.event(&Event::SessionUnavailable(PHONE.to_owned())));
    assert_eq!(enable::enabled(ALICE), [LAPTOP]);
    assert!(
        testing::marked(ALICE).is_some(),
        "the laptop still has carbons"
    );
    assert!(h.event(&Event::SessionUnavailable(LAPTOP.to_owned())));
    assert_eq!(testing::marked(ALICE), None);
    enable(&h, LAPTOP);
    // The laptop ends without an event; the sweep notices.
    testing::remove_session(LAPTOP);
    assert!(h.timer(SWEEP));
    assert!(enable::enabled(ALICE).is_empty());
}

#[test]
fn unmarked_accounts_are_not_looked_at() {
    // Nothing enabled: the host (and the harness) skip both hooks, even with a session that
    // would take a copy.
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::add_session(LAPTOP, Some(0));
    let m = chat("bob@localhost/pc", PHONE, "");
    assert_eq!(incoming(&h, &m), Verdict::Pass);
    assert!(h.take_sent().is_empty());
    enable(&h, LAPTOP);
    incoming(&h, &m);
    assert_eq!(copies(&h).len(), 1, "marked: the laptop gets its copy");
    // The account's sessions all end: the host drops the online mark.
    testing::end_sessions(ALICE);
    incoming(&h, &m);
    assert!(h.take_sent().is_empty());
}

#[test]
fn no_enabled_resource_means_no_work() {
    let h = harness();
    testing::add_session(PHONE, Some(0));
    testing::deny("sessions");
    assert_eq!(
        incoming(&h, &chat("bob@localhost/pc", ALICE, "")),
        Verdict::Pass
    );
    assert_eq!(
        outgoing(&h, PHONE, &chat(PHONE, "bob@localhost", "")),
        Verdict::Pass
    );
    assert!(h.take_sent().is_empty());
}
