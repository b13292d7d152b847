//! The plugin against the SDK's fake host: the protocol of XEP-0191 and every error with its
//! exact condition, the pushes, the enforcement rules in both directions, the narrowing, and
//! XEP-0016's JID matching.

use tessera_sdk::roster::{Item, Subscription as Sub};
use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Hook, Stanza, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const BALCONY: &str = "juliet@localhost/balcony";
const CHAMBER: &str = "juliet@localhost/chamber";
const ROMEO: &str = "romeo@localhost";
const ORCHARD: &str = "romeo@localhost/orchard";
const NURSE: &str = "nurse@localhost/kitchen";

fn harness() -> Harness<Blocking> {
    let mut h = Harness::new(Blocking);
    h.init("").expect("no config is valid");
    for a in [JULIET, ROMEO, "nurse@localhost"] {
        testing::add_account(a);
    }
    h
}

fn bare(full: &str) -> &str {
    full.split_once('/').map_or(full, |(b, _)| b)
}

/// `session` sends `<iq type='…'>inner</iq>` without `to`.
fn iq(h: &Harness<Blocking>, session: &str, type_: &str, inner: &str) -> Verdict {
    let xml =
        format!("<iq xmlns='jabber:client' from='{session}' type='{type_}' id='b1'>{inner}</iq>");
    let ctx = Context::new(Hook::Iq)
        .with_account(bare(session))
        .with_session(session);
    h.stanza(&ctx, &xml)
}

fn block(h: &Harness<Blocking>, session: &str, jids: &[&str]) -> Verdict {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    iq(
        h,
        session,
        "set",
        &format!("<block xmlns='urn:xmpp:blocking'>{items}</block>"),
    )
}

fn unblock(h: &Harness<Blocking>, session: &str, jids: &[&str]) -> Verdict {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    iq(
        h,
        session,
        "set",
        &format!("<unblock xmlns='urn:xmpp:blocking'>{items}</unblock>"),
    )
}

/// The blocklist `session` gets (and the session becomes interested).
fn blocklist(h: &Harness<Blocking>, session: &str) -> Vec<String> {
    assert_eq!(
        iq(h, session, "get", "<blocklist xmlns='urn:xmpp:blocking'/>"),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1, "one answer");
    let answer = &sent[0];
    assert_eq!((answer.type_attr(), answer.id()), ("result", "b1"));
    assert_eq!(answer.from(), bare(session), "answered from the bare JID");
    let el = answer.element().unwrap();
    let list = el
        .get_child("blocklist", ns::BLOCKING)
        .expect("<blocklist/>");
    list.children()
        .map(|i| i.attr("jid").unwrap().to_owned())
        .collect()
}

fn condition(v: Verdict) -> String {
    match v {
        Verdict::Error(e) => e.condition,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A stanza on an account hook.
fn hook(h: &Harness<Blocking>, hook: Hook, account: &str, xml: &str) -> Verdict {
    h.stanza(&Context::new(hook).with_account(account), xml)
}

fn message(from: &str, to: &str) -> String {
    format!(
        "<message xmlns='jabber:client' from='{from}' to='{to}' type='chat' id='m1'><body>hi</body></message>"
    )
}

#[test]
fn an_empty_list_then_block_then_get() {
    let h = harness();
    assert!(blocklist(&h, BALCONY).is_empty());
    assert_eq!(
        block(&h, BALCONY, &[ROMEO, "Montague.example"]),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent[0].type_attr(), "result");
    let mut list = blocklist(&h, BALCONY);
    list.sort();
    assert_eq!(list, ["montague.example", ROMEO], "normalised, both kept");
    assert_eq!(
        testing::marked(JULIET),
        Some(tessera_sdk::scope::Lifetime::Durable)
    );
}

#[test]
fn an_empty_block_is_bad_request() {
    let h = harness();
    assert_eq!(condition(block(&h, BALCONY, &[])), "bad-request");
    assert_eq!(testing::marked(JULIET), None, "nothing marked");
}

#[test]
fn a_malformed_jid_is_jid_malformed_and_changes_nothing() {
    let h = harness();
    assert_eq!(
        condition(block(&h, BALCONY, &[ROMEO, "a@b@c"])),
        "jid-malformed"
    );
    assert_eq!(condition(unblock(&h, BALCONY, &["@nope"])), "jid-malformed");
    assert!(blocklist(&h, BALCONY).is_empty());
}

#[test]
fn an_item_without_jid_is_bad_request() {
    let h = harness();
    let v = iq(
        &h,
        BALCONY,
        "set",
        "<block xmlns='urn:xmpp:blocking'><item/></block>",
    );
    assert_eq!(condition(v), "bad-request");
}

#[test]
fn wrong_type_or_payload_is_bad_request() {
    let h = harness();
    assert_eq!(
        condition(iq(
            &h,
            BALCONY,
            "set",
            "<blocklist xmlns='urn:xmpp:blocking'/>"
        )),
        "bad-request"
    );
    assert_eq!(
        condition(iq(&h, BALCONY, "get", "<block xmlns='urn:xmpp:blocking'/>")),
        "bad-request"
    );
}

#[test]
fn another_accounts_list_is_forbidden() {
    let h = harness();
    let xml = "<iq xmlns='jabber:client' from='juliet@localhost/balcony' to='romeo@localhost' \
               type='get' id='b1'><blocklist xmlns='urn:xmpp:blocking'/></iq>";
    let ctx = Context::new(Hook::Iq)
        .with_account(JULIET)
        .with_session(BALCONY);
    assert_eq!(condition(h.stanza(&ctx, xml)), "forbidden");
}

#[test]
fn the_list_is_capped_at_1000() {
    let h = harness();
    let many: Vec<String> = (0..blocklist::MAX_ITEMS)
        .map(|i| format!("u{i}@spam.example"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(block(&h, BALCONY, &refs), Verdict::Handled);
    h.take_sent();
    assert_eq!(
        condition(block(&h, BALCONY, &["one-more@spam.example"])),
        "resource-constraint"
    );
    // Blocking what is already there adds nothing and passes.
    assert_eq!(block(&h, BALCONY, &["u1@spam.example"]), Verdict::Handled);
}

#[test]
fn pushes_reach_the_interested_resources_only() {
    let h = harness();
    testing::add_session(BALCONY, Some(0));
    testing::add_session(CHAMBER, Some(0));
    testing::add_session("juliet@localhost/uninterested", Some(0));
    blocklist(&h, BALCONY);
    blocklist(&h, CHAMBER);
    assert_eq!(block(&h, BALCONY, &[ROMEO]), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent[0].type_attr(), "result");
    let pushes: Vec<&Stanza> = sent[1..].iter().collect();
    let mut to: Vec<&str> = pushes.iter().map(|p| p.to()).collect();
    to.sort_unstable();
    assert_eq!(to, [BALCONY, CHAMBER]);
    for p in &pushes {
        assert_eq!((p.type_attr(), p.from()), ("set", JULIET));
        let el = p.element().unwrap();
        let block = el
            .get_child("block", ns::BLOCKING)
            .expect("the same payload");
        let items: Vec<&str> = block.children().filter_map(|i| i.attr("jid")).collect();
        assert_eq!(items, [ROMEO]);
    }
    // A gone session is swept and gets no push.
    testing::remove_session(CHAMBER);
    assert!(h.timer("sweep"));
    assert_eq!(unblock(&h, BALCONY, &[]), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 2, "the result and one push");
    assert_eq!(sent[1].to(), BALCONY);
    let el = sent[1].element().unwrap();
    let unblock = el
        .get_child("unblock", ns::BLOCKING)
        .expect("unblock-all push");
    assert_eq!(unblock.children().count(), 0);
}

#[test]
fn unblock_some_and_unblock_all() {
    let h = harness();
    assert_eq!(
        block(&h, BALCONY, &[ROMEO, "nurse@localhost", "evil.example"]),
        Verdict::Handled
    );
    assert_eq!(unblock(&h, BALCONY, &[ROMEO]), Verdict::Handled);
    h.take_sent();
    let mut list = blocklist(&h, BALCONY);
    list.sort();
    assert_eq!(list, ["evil.example", "nurse@localhost"]);
    assert!(testing::marked(JULIET).is_some(), "still blocking someone");
    assert_eq!(unblock(&h, BALCONY, &[]), Verdict::Handled);
    h.take_sent();
    assert!(blocklist(&h, BALCONY).is_empty());
    assert_eq!(testing::marked(JULIET), None, "unmarked once empty");
}

#[test]
fn a_blocked_contact_gets_unavailable_presence_if_it_sees_the_user() {
    let h = harness();
    testing::add_session(BALCONY, Some(0));
    testing::add_session("juliet@localhost/bound-only", None);
    testing::add_roster_item(JULIET, Item::new(ROMEO, Sub::Both));
    testing::add_roster_item(JULIET, Item::new("nurse@localhost", Sub::To));
    assert_eq!(
        block(&h, BALCONY, &[ROMEO, "nurse@localhost"]),
        Verdict::Handled
    );
    let sent = h.take_sent();
    let presence: Vec<&Stanza> = sent
        .iter()
        .filter(|s| s.kind() == StanzaKind::Presence)
        .collect();
    assert_eq!(
        presence.len(),
        1,
        "only romeo sees juliet, from her one available resource"
    );
    assert_eq!(
        (
            presence[0].type_attr(),
            presence[0].from(),
            presence[0].to()
        ),
        ("unavailable", BALCONY, ROMEO)
    );
}

#[test]
fn an_unblocked_contact_gets_the_current_presence_unless_still_blocked() {
    let h = harness();
    testing::add_session(BALCONY, Some(0));
    testing::add_session("juliet@localhost/bound-only", None);
    testing::add_roster_item(JULIET, Item::new(ROMEO, Sub::Both));
    testing::add_roster_item(JULIET, Item::new("nurse@localhost", Sub::To));
    testing::add_roster_item(JULIET, Item::new("tybalt@example.com", Sub::From));
    block(
        &h,
        BALCONY,
        &[
            ROMEO,
            "nurse@localhost",
            "tybalt@example.com",
            "example.com",
        ],
    );
    h.take_sent();
    // §3.4: romeo sees juliet's presence again, from her one available resource; the nurse
    // never saw it; tybalt is still blocked by his domain.
    assert_eq!(
        unblock(
            &h,
            BALCONY,
            &[ROMEO, "nurse@localhost", "tybalt@example.com"]
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    let presence: Vec<(&str, &str, &str)> = sent
        .iter()
        .filter(|s| s.kind() == StanzaKind::Presence)
        .map(|p| (p.type_attr(), p.from(), p.to()))
        .collect();
    assert_eq!(presence, [("", BALCONY, ROMEO)]);
    // §3.5: unblocking everyone lifts the domain block too.
    assert_eq!(unblock(&h, BALCONY, &[]), Verdict::Handled);
    let sent = h.take_sent();
    let presence: Vec<(&str, &str, &str)> = sent
        .iter()
        .filter(|s| s.kind() == StanzaKind::Presence)
        .map(|p| (p.type_attr(), p.from(), p.to()))
        .collect();
    assert_eq!(presence, [("", BALCONY, "tybalt@example.com")]);
}

#[test]
fn messages_and_iqs_from_a_blocked_entity_are_service_unavailable() {
    let h = harness();
    block(&h, BALCONY, &[ROMEO]);
    h.take_sent();
    assert_eq!(
        condition(hook(&h, Hook::Incoming, JULIET, &message(ORCHARD, JULIET))),
        "service-unavailable"
    );
    for ty in ["get", "set"] {
        let xml = format!(
            "<iq xmlns='jabber:client' from='{ORCHARD}' to='{BALCONY}' type='{ty}' id='q'><ping xmlns='urn:xmpp:ping'/></iq>"
        );
        assert_eq!(
            condition(hook(&h, Hook::Incoming, JULIET, &xml)),
            "service-unavailable"
        );
    }
}

#[test]
fn presence_results_and_errors_from_a_blocked_entity_are_dropped() {
    let h = harness();
    block(&h, BALCONY, &[ROMEO]);
    for xml in [
        format!("<presence xmlns='jabber:client' from='{ORCHARD}' to='{JULIET}'/>"),
        format!("<presence xmlns='jabber:client' from='{ROMEO}' to='{JULIET}' type='subscribe'/>"),
        format!("<presence xmlns='jabber:client' from='{ORCHARD}' to='{JULIET}' type='probe'/>"),
        format!("<iq xmlns='jabber:client' from='{ORCHARD}' to='{BALCONY}' type='result' id='q'/>"),
        format!("<iq xmlns='jabber:client' from='{ORCHARD}' to='{BALCONY}' type='error' id='q'/>"),
        format!("<message xmlns='jabber:client' from='{ORCHARD}' to='{JULIET}' type='error'/>"),
    ] {
        assert_eq!(
            hook(&h, Hook::Incoming, JULIET, &xml),
            Verdict::Drop,
            "{xml}"
        );
    }
}

#[test]
fn others_and_unblocked_contacts_pass() {
    let h = harness();
    block(&h, BALCONY, &[ROMEO]);
    assert_eq!(
        hook(&h, Hook::Incoming, JULIET, &message(NURSE, JULIET)),
        Verdict::Pass
    );
    assert_eq!(
        hook(&h, Hook::Outgoing, JULIET, &message(BALCONY, NURSE)),
        Verdict::Pass
    );
    unblock(&h, BALCONY, &[ROMEO]);
    h.take_sent();
    assert_eq!(
        hook(&h, Hook::Incoming, JULIET, &message(ORCHARD, JULIET)),
        Verdict::Pass
    );
}

#[test]
fn sending_to_a_blocked_entity_is_not_acceptable_with_blocked() {
    let h = harness();
    block(&h, BALCONY, &[ROMEO]);
    h.take_sent();
    assert_eq!(
        hook(&h, Hook::Outgoing, JULIET, &message(BALCONY, ORCHARD)),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    let reply = &sent[0];
    assert_eq!(
        (reply.type_attr(), reply.from(), reply.to(), reply.id()),
        ("error", ORCHARD, BALCONY, "m1")
    );
    assert_eq!(
        reply.body().as_deref(),
        Some("hi"),
        "the original payload is kept"
    );
    let el = reply.element().unwrap();
    let error = el.get_child("error", "jabber:client").expect("<error/>");
    assert_eq!(error.attr("type"), Some("cancel"));
    assert!(error.has_child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert!(error.has_child("blocked", ns::BLOCKING_ERRORS));
    // An error stanza is dropped, never answered.
    let err =
        format!("<message xmlns='jabber:client' from='{BALCONY}' to='{ROMEO}' type='error'/>");
    assert_eq!(hook(&h, Hook::Outgoing, JULIET, &err), Verdict::Drop);
    assert!(h.take_sent().is_empty());
}

#[test]
fn when_the_router_refuses_the_reply_the_host_answers_the_plain_condition() {
    let h = harness();
    block(&h, BALCONY, &["romeo@montague.example"]);
    h.take_sent();
    testing::deny("router");
    let v = hook(
        &h,
        Hook::Outgoing,
        JULIET,
        &message(BALCONY, "romeo@montague.example/x"),
    );
    assert_eq!(condition(v), "not-acceptable");
}

#[test]
fn the_senders_block_stops_presence_at_the_recipient() {
    let h = harness();
    block(&h, BALCONY, &[ROMEO]);
    // Juliet's presence to Romeo: his `incoming` hook, he is not marked, she is.
    let p = format!("<presence xmlns='jabber:client' from='{BALCONY}' to='{ROMEO}'/>");
    assert_eq!(hook(&h, Hook::Incoming, ROMEO, &p), Verdict::Drop);
    let p = format!("<presence xmlns='jabber:client' from='{BALCONY}' to='{NURSE}'/>");
    assert_eq!(
        hook(&h, Hook::Incoming, "nurse@localhost", &p),
        Verdict::Pass
    );
    // Not for messages: those stop at her own `outgoing` hook, and an unmarked recipient is
    // not even entered for them.
    assert_eq!(
        hook(&h, Hook::Incoming, ROMEO, &message(BALCONY, ROMEO)),
        Verdict::Pass
    );
}

#[test]
fn the_account_itself_and_its_server_are_never_blocked() {
    let h = harness();
    block(&h, BALCONY, &["localhost", CHAMBER]);
    h.take_sent();
    assert_eq!(
        hook(&h, Hook::Incoming, JULIET, &message(CHAMBER, BALCONY)),
        Verdict::Pass
    );
    assert_eq!(
        hook(&h, Hook::Outgoing, JULIET, &message(BALCONY, CHAMBER)),
        Verdict::Pass
    );
    let ping = format!(
        "<iq xmlns='jabber:client' from='{BALCONY}' to='localhost' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
    );
    assert_eq!(hook(&h, Hook::Outgoing, JULIET, &ping), Verdict::Pass);
    // The domain item still blocks everyone else there.
    assert_eq!(
        condition(hook(&h, Hook::Incoming, JULIET, &message(ORCHARD, JULIET))),
        "service-unavailable"
    );
}

#[test]
fn unmarked_accounts_are_not_entered() {
    let h = harness();
    // Nobody blocked anything: the narrowed hooks are skipped (the harness answers `Pass`).
    assert_eq!(
        hook(&h, Hook::Incoming, JULIET, &message(ORCHARD, JULIET)),
        Verdict::Pass
    );
    assert!(testing::marked(JULIET).is_none());
}

#[test]
fn jid_matching_follows_xep_0016() {
    let j = |s: &str| tessera_sdk::jid::Jid::new(s).unwrap();
    assert_eq!(
        blocklist::forms(&j("romeo@montague.example/orchard")),
        [
            "romeo@montague.example/orchard",
            "romeo@montague.example",
            "montague.example/orchard",
            "montague.example"
        ]
    );
    assert_eq!(
        blocklist::forms(&j("romeo@montague.example")),
        ["romeo@montague.example", "montague.example"]
    );
    assert_eq!(
        blocklist::forms(&j("montague.example/bot")),
        ["montague.example/bot", "montague.example"]
    );
    assert_eq!(
        blocklist::forms(&j("montague.example")),
        ["montague.example"]
    );

    let h = harness();
    let cases: [(&str, &str, bool); 10] = [
        // A full JID blocks only that resource.
        (
            "romeo@montague.example/orchard",
            "romeo@montague.example/orchard",
            true,
        ),
        (
            "romeo@montague.example/orchard",
            "romeo@montague.example/garden",
            false,
        ),
        (
            "romeo@montague.example/orchard",
            "romeo@montague.example",
            false,
        ),
        // A bare JID blocks every resource.
        (
            "romeo@montague.example",
            "romeo@montague.example/garden",
            true,
        ),
        ("romeo@montague.example", "romeo@montague.example", true),
        // domain/resource blocks that resource of the domain itself only.
        ("montague.example/bot", "montague.example/bot", true),
        ("montague.example/bot", "romeo@montague.example/bot", true),
        ("montague.example/bot", "montague.example", false),
        // A domain blocks everyone there, but not its subdomains.
        ("montague.example", "tybalt@montague.example/x", true),
        ("montague.example", "room@chat.montague.example", false),
    ];
    for (item, address, blocked) in cases {
        testing::reset();
        let mut h2 = Harness::new(Blocking);
        h2.init("").unwrap();
        testing::add_account(JULIET);
        block(&h2, BALCONY, &[item]);
        assert_eq!(
            blocklist::blocks(JULIET, address).unwrap(),
            blocked,
            "{item} vs {address}"
        );
    }
    drop(h);
}

#[test]
fn matching_is_normalised() {
    let h = harness();
    block(&h, BALCONY, &["Romeo@MONTAGUE.example"]);
    assert!(blocklist::blocks(JULIET, "romeo@montague.example/x").unwrap());
    drop(h);
}

#[test]
fn config_keys_are_refused() {
    let mut h = Harness::new(Blocking);
    let err = h.init("max = 3").unwrap_err();
    assert!(err.starts_with("config.max"), "{err}");
}

#[test]
fn logs_never_name_blocked_jids() {
    let h = harness();
    testing::add_session(BALCONY, Some(0));
    block(&h, BALCONY, &[ROMEO]);
    hook(&h, Hook::Outgoing, JULIET, &message(BALCONY, ORCHARD));
    testing::deny("kv");
    hook(&h, Hook::Incoming, JULIET, &message(ORCHARD, JULIET));
    for (_, line) in testing::logs() {
        assert!(!line.contains("romeo"), "{line}");
    }
}
