//! The plugin against the SDK's fake host: every rule of XEP-0049 and every error, with the
//! exact condition the requester gets.

use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Hook, Plugin, Stanza, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const JULIET_FULL: &str = "juliet@localhost/balcony";
const ROMEO: &str = "romeo@localhost";
const ROMEO_FULL: &str = "romeo@localhost/orchard";

const PREFS: &str = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>";

fn harness() -> Harness<Private> {
    let mut h = Harness::new(Private);
    h.init("").expect("no config is valid");
    testing::add_account(JULIET);
    testing::add_account(ROMEO);
    h
}

fn bare(full: &str) -> &str {
    full.split_once('/').map_or(full, |(b, _)| b)
}

/// `user_full` sends `<iq type='…'><query xmlns='jabber:iq:private'>inner</query></iq>`.
fn iq(
    h: &Harness<Private>,
    user_full: &str,
    to: Option<&str>,
    type_: &str,
    inner: &str,
) -> Verdict {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    let xml = format!(
        "<iq xmlns='jabber:client' from='{user_full}'{to} type='{type_}' id='p1'>\
         <query xmlns='jabber:iq:private'>{inner}</query></iq>"
    );
    let ctx = Context::new(Hook::Iq)
        .with_account(bare(user_full))
        .with_session(user_full);
    h.stanza(&ctx, &xml)
}

/// The one answer sent, which must be an IQ result with id `p1`.
fn result(h: &Harness<Private>) -> Stanza {
    let mut sent = h.take_sent();
    assert_eq!(sent.len(), 1, "one answer");
    let answer = sent.remove(0);
    assert_eq!((answer.type_attr(), answer.id()), ("result", "p1"));
    answer
}

/// Stores `inner` for `user_full` and checks the empty result.
fn set(h: &Harness<Private>, user_full: &str, inner: &str) {
    assert_eq!(iq(h, user_full, None, "set", inner), Verdict::Handled);
    let answer = result(h);
    assert!(answer.payload().is_none(), "a set's result is empty");
}

/// What a get of `requested` answers `user_full`: the element inside `<query/>`.
fn get(h: &Harness<Private>, user_full: &str, requested: &str) -> Element {
    assert_eq!(iq(h, user_full, None, "get", requested), Verdict::Handled);
    let answer = result(h);
    let el = answer.element().unwrap();
    let query = el.children().next().expect("a <query/>");
    assert!(query.is("query", ns::PRIVATE));
    let mut children = query.children();
    let stored = children.next().expect("one element").clone();
    assert!(children.next().is_none(), "exactly one element");
    stored
}

/// The condition of an error verdict.
fn condition(v: Verdict) -> String {
    match v {
        Verdict::Error(e) => e.condition,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn stored_keys(user: &str) -> Vec<String> {
    tessera_sdk::kv::Kv::new(storage::CATEGORY, tessera_sdk::Owner::user(user))
        .keys("", 1000)
        .unwrap()
}

#[test]
fn set_then_get_round_trips() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    let got = get(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'/>");
    assert_eq!(got, PREFS.parse::<Element>().unwrap());
    assert_eq!(
        got.get_child("defaultnick", "exodus:prefs")
            .map(Element::text),
        Some("Hamlet".to_owned())
    );
}

#[test]
fn a_set_replaces_what_was_stored() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    let newer = "<exodus xmlns='exodus:prefs'><defaultnick>Ophelia</defaultnick></exodus>";
    set(&h, JULIET_FULL, newer);
    assert_eq!(
        get(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'/>"),
        newer.parse::<Element>().unwrap()
    );
    assert_eq!(stored_keys(JULIET).len(), 1);
}

#[test]
fn nothing_stored_answers_the_empty_element() {
    let h = harness();
    let got = get(&h, JULIET_FULL, "<storage xmlns='storage:bookmarks'/>");
    assert!(got.is("storage", "storage:bookmarks"));
    assert_eq!(got.nodes().count(), 0);
    assert!(got.attrs().is_empty());
}

#[test]
fn a_get_ignores_what_the_requested_element_contains() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    let got = get(
        &h,
        JULIET_FULL,
        "<exodus xmlns='exodus:prefs'><defaultnick>Macbeth</defaultnick></exodus>",
    );
    assert_eq!(got, PREFS.parse::<Element>().unwrap());
}

#[test]
fn elements_are_keyed_by_name_and_namespace() {
    let h = harness();
    set(&h, JULIET_FULL, "<a xmlns='urn:example:one'>1</a>");
    set(&h, JULIET_FULL, "<a xmlns='urn:example:two'>2</a>");
    set(&h, JULIET_FULL, "<b xmlns='urn:example:one'>3</b>");
    let text = |req: &str| get(&h, JULIET_FULL, req).text();
    assert_eq!(text("<a xmlns='urn:example:one'/>"), "1");
    assert_eq!(text("<a xmlns='urn:example:two'/>"), "2");
    assert_eq!(text("<b xmlns='urn:example:one'/>"), "3");
    assert_eq!(text("<b xmlns='urn:example:two'/>"), "");
}

#[test]
fn each_account_sees_only_its_own() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    let romeos = get(&h, ROMEO_FULL, "<exodus xmlns='exodus:prefs'/>");
    assert_eq!(romeos.nodes().count(), 0, "romeo's storage is empty");
}

#[test]
fn answers_come_from_where_the_request_went() {
    let h = harness();
    // No `to`: from the account's bare JID (RFC 6120 §10.3.3).
    set(&h, JULIET_FULL, PREFS);
    for (to, from) in [
        (Some("localhost"), "localhost"),
        (Some(JULIET), JULIET),
        (None, JULIET),
    ] {
        assert_eq!(
            iq(&h, JULIET_FULL, to, "get", "<exodus xmlns='exodus:prefs'/>"),
            Verdict::Handled
        );
        let answer = result(&h);
        assert_eq!(
            (answer.from(), answer.to()),
            (from, JULIET_FULL),
            "to {to:?}"
        );
    }
}

#[test]
fn the_own_jid_is_recognised_normalised() {
    let h = harness();
    assert_eq!(
        iq(&h, JULIET_FULL, Some("Juliet@LocalHost"), "set", PREFS),
        Verdict::Handled
    );
    result(&h);
    assert_eq!(stored_keys(JULIET).len(), 1);
}

/// XEP-0049 §2.3: getting or setting another user's data is `forbidden`, and touches nothing.
#[test]
fn another_accounts_storage_is_forbidden() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    for to in [
        JULIET,
        "juliet@localhost/balcony",
        "juliet@example.org",
        "example.org",
    ] {
        for (type_, inner) in [("get", "<exodus xmlns='exodus:prefs'/>"), ("set", PREFS)] {
            let v = iq(&h, ROMEO_FULL, Some(to), type_, inner);
            assert_eq!(condition(v), "forbidden", "{type_} to {to}");
        }
    }
    assert!(h.take_sent().is_empty());
    assert!(stored_keys(ROMEO).is_empty());
    let still = get(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'/>");
    assert_eq!(still, PREFS.parse::<Element>().unwrap());
}

/// XEP-0049 §3 ("Bad Format", which XEP-0086 maps to `bad-request`): a get must name the element.
#[test]
fn a_get_naming_nothing_is_bad_request() {
    let h = harness();
    let v = iq(&h, JULIET_FULL, None, "get", "");
    assert_eq!(condition(v), "bad-request");
}

/// XEP-0049 §2.3: a client MUST NOT ask for more than one element in a get.
#[test]
fn a_get_naming_two_elements_is_bad_request() {
    let h = harness();
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "get",
        "<a xmlns='urn:example:one'/><b xmlns='urn:example:one'/>",
    );
    assert_eq!(condition(v), "bad-request");
}

/// XEP-0049 §2.3: "At least one child element … MUST be included; otherwise the server MUST
/// respond with a 'Not Acceptable' error".
#[test]
fn a_set_storing_nothing_is_not_acceptable() {
    let h = harness();
    let v = iq(&h, JULIET_FULL, None, "set", "");
    let Verdict::Error(e) = v else {
        panic!("expected an error")
    };
    assert_eq!(e.condition, "not-acceptable");
    assert_eq!(e.error_type.as_str(), "modify");
}

/// XEP-0049 §2.3: reserved namespaces (and an element without its own namespace, which
/// inherits `jabber:iq:private`) are `not-acceptable`, for a get and for a set.
#[test]
fn reserved_namespaces_are_not_acceptable() {
    let h = harness();
    let long = format!("urn:example:{}", "x".repeat(storage::MAX_NAMESPACE_BYTES));
    for ns in [
        "jabber:iq:private",
        "jabber:iq:roster",
        "jabber:x:data",
        "http://jabber.org/protocol/disco#info",
        "vcard-temp",
        long.as_str(),
    ] {
        for type_ in ["get", "set"] {
            let inner = format!("<x xmlns='{ns}'>data</x>");
            let v = iq(&h, JULIET_FULL, None, type_, &inner);
            assert_eq!(condition(v), "not-acceptable", "{type_} {ns}");
        }
    }
    // No xmlns of its own: the element is in `jabber:iq:private`.
    let v = iq(&h, JULIET_FULL, None, "set", "<prefs>x</prefs>");
    assert_eq!(condition(v), "not-acceptable");
    assert!(stored_keys(JULIET).is_empty());
    // Namespaces that merely look alike are fine.
    set(&h, JULIET_FULL, "<x xmlns='jabberwocky:prefs'>ok</x>");
    set(
        &h,
        JULIET_FULL,
        "<x xmlns='https://jabber.org.example/ns'>ok</x>",
    );
    set(&h, JULIET_FULL, "<x xmlns='vcard-temp:x:update'>ok</x>");
}

#[test]
fn an_element_over_the_size_cap_is_not_acceptable_and_not_stored() {
    let h = harness();
    let fits = |len: usize| format!("<big xmlns='urn:example:big'>{}</big>", "x".repeat(len));
    let overhead = fits(0).len();
    set(
        &h,
        JULIET_FULL,
        &fits(storage::MAX_ELEMENT_BYTES - overhead),
    );
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        &fits(storage::MAX_ELEMENT_BYTES - overhead + 1),
    );
    assert_eq!(condition(v), "not-acceptable");
    // The element stored before is still the one that fit.
    let got = get(&h, JULIET_FULL, "<big xmlns='urn:example:big'/>");
    assert_eq!(got.text().len(), storage::MAX_ELEMENT_BYTES - overhead);
}

#[test]
fn a_set_may_carry_several_elements() {
    let h = harness();
    set(
        &h,
        JULIET_FULL,
        "<a xmlns='urn:example:one'>1</a><b xmlns='urn:example:one'>2</b>",
    );
    assert_eq!(
        get(&h, JULIET_FULL, "<a xmlns='urn:example:one'/>").text(),
        "1"
    );
    assert_eq!(
        get(&h, JULIET_FULL, "<b xmlns='urn:example:one'/>").text(),
        "2"
    );
}

#[test]
fn a_refused_element_refuses_the_whole_set() {
    let h = harness();
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        "<a xmlns='urn:example:one'>1</a><vCard xmlns='vcard-temp'/>",
    );
    assert_eq!(condition(v), "not-acceptable");
    assert!(stored_keys(JULIET).is_empty(), "nothing of it was written");
}

#[test]
fn the_same_element_twice_in_one_set_is_bad_request() {
    let h = harness();
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        "<a xmlns='urn:example:one'>1</a><a xmlns='urn:example:one'>2</a>",
    );
    assert_eq!(condition(v), "bad-request");
    assert!(stored_keys(JULIET).is_empty());
}

#[test]
fn an_empty_element_deletes_the_record() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    set(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'>  </exodus>");
    assert!(stored_keys(JULIET).is_empty());
    let got = get(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'/>");
    assert_eq!(got.nodes().count(), 0);
    // An attribute is content: kept.
    set(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs' mode='x'/>");
    assert_eq!(
        get(&h, JULIET_FULL, "<exodus xmlns='exodus:prefs'/>").attr("mode"),
        Some("x")
    );
}

#[test]
fn the_element_count_is_capped_per_account() {
    let h = harness();
    for i in 0..storage::MAX_ELEMENTS {
        set(
            &h,
            JULIET_FULL,
            &format!("<e{i} xmlns='urn:example:n'>v</e{i}>"),
        );
    }
    let one_more = "<extra xmlns='urn:example:n'>v</extra>";
    let v = iq(&h, JULIET_FULL, None, "set", one_more);
    assert_eq!(condition(v), "resource-constraint");
    // At the cap, replacing is fine, and an empty element frees a slot.
    set(&h, JULIET_FULL, "<e0 xmlns='urn:example:n'>w</e0>");
    set(&h, JULIET_FULL, "<e1 xmlns='urn:example:n'/>");
    set(&h, JULIET_FULL, one_more);
    assert_eq!(stored_keys(JULIET).len(), storage::MAX_ELEMENTS);
    // Another account has its own allowance.
    set(&h, ROMEO_FULL, one_more);
}

#[test]
fn removing_the_account_deletes_its_storage() {
    let h = harness();
    set(&h, JULIET_FULL, PREFS);
    set(&h, ROMEO_FULL, PREFS);
    assert_eq!(tessera_sdk::accounts::remove(JULIET), Ok(true));
    assert!(stored_keys(JULIET).is_empty());
    assert_eq!(stored_keys(ROMEO).len(), 1);
}

#[test]
fn a_damaged_record_is_an_internal_error_not_an_empty_answer() {
    let h = harness();
    let kv = tessera_sdk::kv::Kv::new(storage::CATEGORY, tessera_sdk::Owner::user(JULIET));
    kv.set_str(
        &storage::key("exodus:prefs", "exodus"),
        "<exodus xmlns='exodus:prefs'>secret",
    )
    .unwrap();
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "get",
        "<exodus xmlns='exodus:prefs'/>",
    );
    assert_eq!(condition(v), "internal-server-error");
    let logs = testing::logs();
    assert!(!logs.is_empty());
    assert!(
        logs.iter()
            .all(|(_, line)| !line.contains("secret") && !line.contains("exodus"))
    );
}

#[test]
fn storage_failures_are_internal_errors_logged_without_content() {
    let h = harness();
    testing::deny("kv");
    for type_ in ["get", "set"] {
        let v = iq(&h, JULIET_FULL, None, type_, PREFS);
        assert_eq!(condition(v), "internal-server-error", "{type_}");
    }
    let logs = testing::logs();
    assert_eq!(logs.len(), 2);
    assert!(
        logs.iter().all(|(_, line)| line.contains(JULIET)
            && !line.contains("Hamlet")
            && !line.contains("exodus")),
        "{logs:?}"
    );
}

#[test]
fn an_answer_the_router_refuses_is_still_handled() {
    let h = harness();
    testing::deny("router");
    assert_eq!(iq(&h, JULIET_FULL, None, "set", PREFS), Verdict::Handled);
    assert_eq!(stored_keys(JULIET).len(), 1);
}

#[test]
fn config_has_no_keys() {
    let mut h = Harness::new(Private);
    assert_eq!(h.init(""), Ok(()));
    let err = h.init("max_elements = 3").unwrap_err();
    assert!(err.starts_with("config.max_elements: unknown key"), "{err}");
    assert!(
        h.init("not toml = = 1")
            .unwrap_err()
            .starts_with("config: ")
    );
}

#[test]
fn the_manifest_owns_the_query_and_declares_data_kept_until_removed() {
    let m = Private.describe();
    assert_eq!(m.iq_handlers.len(), 1);
    assert_eq!(
        (
            m.iq_handlers[0].namespace.as_str(),
            m.iq_handlers[0].name.as_str()
        ),
        ("jabber:iq:private", "query")
    );
    assert_eq!(m.features, ["jabber:iq:private"]);
    assert_eq!(m.data.len(), 1);
    let d = &m.data[0];
    assert_eq!(d.category, "private-xml");
    assert_eq!(d.owner, tessera_sdk::OwnerKind::User);
    assert_eq!(d.visibility, tessera_sdk::Visibility::Owner);
    assert_eq!(
        (d.default_max_age_seconds, d.default_max_items),
        (None, None)
    );
    assert!(m.subscriptions.is_empty());
}
