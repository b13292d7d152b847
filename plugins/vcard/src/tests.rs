//! The plugin against the SDK's fake host: every rule of XEP-0054 the plugin implements and
//! every error, with the exact condition the requester gets, on both hooks.

use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Hook, Plugin, Stanza, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const JULIET_FULL: &str = "juliet@localhost/balcony";
const ROMEO: &str = "romeo@localhost";
const ROMEO_FULL: &str = "romeo@localhost/orchard";

const CARD: &str = "<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>jc</NICKNAME>\
    <PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard>";
const EMPTY: &str = "<vCard xmlns='vcard-temp'/>";

fn harness() -> Harness<Vcard> {
    let mut h = Harness::new(Vcard);
    h.init("").expect("no config is valid");
    testing::add_account(JULIET);
    testing::add_account(ROMEO);
    h
}

fn bare(full: &str) -> &str {
    full.split_once('/').map_or(full, |(b, _)| b)
}

fn xml(from: &str, to: Option<&str>, type_: &str, payload: &str) -> String {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    format!("<iq xmlns='jabber:client' from='{from}'{to} type='{type_}' id='v1'>{payload}</iq>")
}

/// `user_full` sends an IQ on the `iq` hook (about its own vCard or the server's).
fn iq(
    h: &Harness<Vcard>,
    user_full: &str,
    to: Option<&str>,
    type_: &str,
    payload: &str,
) -> Verdict {
    let ctx = Context::new(Hook::Iq)
        .with_account(bare(user_full))
        .with_session(user_full);
    h.stanza(&ctx, &xml(user_full, to, type_, payload))
}

/// `sender_full` sends an IQ to `to`, which the host runs through `recipient`'s `incoming` hook.
fn incoming(
    h: &Harness<Vcard>,
    recipient: &str,
    sender_full: &str,
    to: &str,
    type_: &str,
    payload: &str,
) -> Verdict {
    let ctx = Context::new(Hook::Incoming).with_account(recipient);
    h.stanza(&ctx, &xml(sender_full, Some(to), type_, payload))
}

/// The one answer sent, which must be an IQ result with id `v1`.
fn result(h: &Harness<Vcard>) -> Stanza {
    let mut sent = h.take_sent();
    assert_eq!(sent.len(), 1, "one answer");
    let answer = sent.remove(0);
    assert_eq!((answer.type_attr(), answer.id()), ("result", "v1"));
    answer
}

/// The `<vCard/>` in a result.
fn card_of(answer: &Stanza) -> Element {
    let el = answer.element().unwrap();
    let mut children = el.children();
    let card = children.next().expect("a <vCard/>").clone();
    assert!(children.next().is_none(), "one payload");
    assert!(card.is("vCard", ns::VCARD_TEMP));
    card
}

fn set(h: &Harness<Vcard>, user_full: &str, payload: &str) {
    assert_eq!(iq(h, user_full, None, "set", payload), Verdict::Handled);
    let answer = result(h);
    assert!(answer.payload().is_none(), "a set's result is empty");
    assert_eq!(answer.from(), bare(user_full));
    assert_eq!(answer.to(), user_full);
}

fn get(h: &Harness<Vcard>, user_full: &str) -> Element {
    assert_eq!(iq(h, user_full, None, "get", EMPTY), Verdict::Handled);
    card_of(&result(h))
}

fn condition(v: Verdict) -> String {
    match v {
        Verdict::Error(e) => e.condition,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn stored(user: &str) -> Option<String> {
    tessera_sdk::kv::Kv::new(store::CATEGORY, tessera_sdk::Owner::user(user))
        .get_string(store::KEY)
        .unwrap()
}

fn card() -> Element {
    CARD.parse().unwrap()
}

#[test]
fn set_then_get_round_trips() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    assert_eq!(get(&h, JULIET_FULL), card());
}

#[test]
fn a_set_replaces_the_whole_vcard() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    let other = "<vCard xmlns='vcard-temp'><NICKNAME>j</NICKNAME></vCard>";
    set(&h, JULIET_FULL, other);
    assert_eq!(get(&h, JULIET_FULL), other.parse::<Element>().unwrap());
}

#[test]
fn no_vcard_reads_as_the_empty_vcard() {
    let h = harness();
    let got = get(&h, JULIET_FULL);
    assert_eq!(got.nodes().count(), 0);
    assert!(got.attrs().is_empty());
}

#[test]
fn an_empty_vcard_deletes_the_record() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    set(&h, JULIET_FULL, "<vCard xmlns='vcard-temp'>\n  </vCard>");
    assert_eq!(stored(JULIET), None);
    assert_eq!(get(&h, JULIET_FULL).nodes().count(), 0);
}

#[test]
fn the_own_bare_jid_is_the_account_and_answers_from_it() {
    let h = harness();
    assert_eq!(
        iq(&h, JULIET_FULL, Some("Juliet@LOCALHOST"), "set", CARD),
        Verdict::Handled
    );
    assert_eq!(result(&h).from(), "Juliet@LOCALHOST", "from where it went");
    assert_eq!(
        iq(&h, JULIET_FULL, Some(JULIET), "get", EMPTY),
        Verdict::Handled
    );
    let answer = result(&h);
    assert_eq!(answer.from(), JULIET);
    assert_eq!(card_of(&answer), card());
}

#[test]
fn the_server_has_no_vcard_and_none_can_be_set() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    assert_eq!(
        iq(&h, JULIET_FULL, Some("localhost"), "get", EMPTY),
        Verdict::Handled
    );
    let answer = result(&h);
    assert_eq!(answer.from(), "localhost");
    assert_eq!(card_of(&answer).nodes().count(), 0, "not juliet's");
    let v = iq(&h, JULIET_FULL, Some("localhost"), "set", CARD);
    assert_eq!(condition(v), "forbidden");
}

#[test]
fn the_iq_hook_refuses_another_address() {
    let h = harness();
    // The host never delivers these to the `iq` hook; if it did, they are not the account's.
    for to in [ROMEO, ROMEO_FULL, JULIET_FULL, "not a jid@@"] {
        assert_eq!(
            condition(iq(&h, JULIET_FULL, Some(to), "set", CARD)),
            "forbidden",
            "{to}"
        );
    }
    assert_eq!(stored(JULIET), None);
    assert_eq!(stored(ROMEO), None);
}

#[test]
fn a_payload_that_is_no_vcard_is_bad_request() {
    let h = harness();
    for payload in [
        "<vCard xmlns='urn:example'/>",
        "<vcard xmlns='vcard-temp'/>",
        "<query xmlns='jabber:iq:private'/>",
    ] {
        assert_eq!(
            condition(iq(&h, JULIET_FULL, None, "set", payload)),
            "bad-request",
            "{payload}"
        );
    }
    let ctx = Context::new(Hook::Iq).with_account(JULIET);
    assert_eq!(
        condition(h.stanza(&ctx, &xml(JULIET_FULL, None, "result", EMPTY))),
        "bad-request"
    );
    let no_account = Context::new(Hook::Iq);
    assert_eq!(
        condition(h.stanza(&no_account, &xml(JULIET_FULL, None, "get", EMPTY))),
        "bad-request"
    );
}

#[test]
fn a_vcard_over_the_cap_is_not_acceptable_and_not_stored() {
    let h = harness();
    let sized = |len: usize| {
        format!(
            "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>{}</BINVAL></PHOTO></vCard>",
            "A".repeat(len)
        )
    };
    let overhead = sized(0).len();
    set(&h, JULIET_FULL, &sized(store::MAX_VCARD_BYTES - overhead));
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        &sized(store::MAX_VCARD_BYTES - overhead + 1),
    );
    assert_eq!(condition(v), "not-acceptable");
    assert_eq!(
        stored(JULIET).map(|s| s.len()),
        Some(store::MAX_VCARD_BYTES),
        "the one that fit is still stored"
    );
    // Logged as a size, without content.
    assert!(
        testing::logs()
            .iter()
            .all(|(_, line)| !line.contains("AAAA"))
    );
}

#[test]
fn another_account_reads_the_vcard_from_its_bare_jid() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    assert_eq!(
        incoming(&h, JULIET, ROMEO_FULL, JULIET, "get", EMPTY),
        Verdict::Handled
    );
    let answer = result(&h);
    assert_eq!((answer.from(), answer.to()), (JULIET, ROMEO_FULL));
    assert_eq!(card_of(&answer), card());
}

#[test]
fn another_account_with_no_vcard_reads_as_empty() {
    let h = harness();
    assert_eq!(
        incoming(&h, JULIET, ROMEO_FULL, JULIET, "get", EMPTY),
        Verdict::Handled
    );
    assert_eq!(card_of(&result(&h)).nodes().count(), 0);
    // No such account: the same answer (the plugin cannot tell, and does not reveal it).
    assert_eq!(
        incoming(
            &h,
            "nobody@localhost",
            ROMEO_FULL,
            "nobody@localhost",
            "get",
            EMPTY
        ),
        Verdict::Handled
    );
    assert_eq!(card_of(&result(&h)).nodes().count(), 0);
}

#[test]
fn setting_another_accounts_vcard_is_forbidden() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    let v = incoming(&h, JULIET, ROMEO_FULL, JULIET, "set", EMPTY);
    assert_eq!(condition(v), "forbidden");
    assert!(h.take_sent().is_empty());
    assert_eq!(get(&h, JULIET_FULL), card(), "unchanged");
}

#[test]
fn the_incoming_hook_leaves_the_rest_to_the_recipient() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    // To a full JID: a client's business; responses; another payload; another address.
    for (to, type_, payload) in [
        (JULIET_FULL, "get", EMPTY),
        (JULIET_FULL, "set", CARD),
        (JULIET, "result", CARD),
        (JULIET, "error", EMPTY),
        (JULIET, "get", "<query xmlns='jabber:iq:version'/>"),
        (ROMEO, "get", EMPTY),
    ] {
        assert_eq!(
            incoming(&h, JULIET, ROMEO_FULL, to, type_, payload),
            Verdict::Pass,
            "{to} {type_} {payload}"
        );
    }
    assert!(h.take_sent().is_empty());
}

#[test]
fn removing_the_account_deletes_its_vcard() {
    let h = harness();
    set(&h, JULIET_FULL, CARD);
    set(&h, ROMEO_FULL, CARD);
    assert_eq!(tessera_sdk::accounts::remove(JULIET), Ok(true));
    assert_eq!(stored(JULIET), None);
    assert!(stored(ROMEO).is_some());
}

#[test]
fn a_damaged_record_is_an_internal_error_not_an_empty_answer() {
    let h = harness();
    tessera_sdk::kv::Kv::new(store::CATEGORY, tessera_sdk::Owner::user(JULIET))
        .set_str(store::KEY, "<vCard xmlns='vcard-temp'><FN>secret")
        .unwrap();
    let v = iq(&h, JULIET_FULL, None, "get", EMPTY);
    assert_eq!(condition(v), "internal-server-error");
    let v = incoming(&h, JULIET, ROMEO_FULL, JULIET, "get", EMPTY);
    assert_eq!(condition(v), "internal-server-error");
    let logs = testing::logs();
    assert!(!logs.is_empty());
    assert!(logs.iter().all(|(_, line)| !line.contains("secret")));
}

#[test]
fn storage_failures_are_internal_errors_logged_without_content() {
    let h = harness();
    testing::deny("kv");
    for type_ in ["get", "set"] {
        let v = iq(&h, JULIET_FULL, None, type_, CARD);
        assert_eq!(condition(v), "internal-server-error", "{type_}");
    }
    let v = incoming(&h, JULIET, ROMEO_FULL, JULIET, "get", EMPTY);
    assert_eq!(condition(v), "internal-server-error");
    let logs = testing::logs();
    assert_eq!(logs.len(), 3);
    assert!(
        logs.iter()
            .all(|(_, line)| line.contains(JULIET) && !line.contains("Capulet")),
        "{logs:?}"
    );
}

#[test]
fn an_answer_the_router_refuses_is_still_handled() {
    let h = harness();
    testing::deny("router");
    assert_eq!(iq(&h, JULIET_FULL, None, "set", CARD), Verdict::Handled);
    assert!(stored(JULIET).is_some());
    assert_eq!(
        incoming(&h, JULIET, ROMEO_FULL, JULIET, "get", EMPTY),
        Verdict::Handled
    );
}

#[test]
fn config_has_no_keys() {
    let mut h = Harness::new(Vcard);
    assert_eq!(h.init(""), Ok(()));
    let err = h.init("max_bytes = 3").unwrap_err();
    assert!(err.starts_with("config.max_bytes: unknown key"), "{err}");
    assert!(
        h.init("not toml = = 1")
            .unwrap_err()
            .starts_with("config: ")
    );
}

#[test]
fn the_manifest_owns_the_vcard_and_declares_public_data_kept_until_removed() {
    let m = Vcard.describe();
    assert_eq!(m.iq_handlers.len(), 1);
    assert_eq!(
        (
            m.iq_handlers[0].namespace.as_str(),
            m.iq_handlers[0].name.as_str()
        ),
        ("vcard-temp", "vCard")
    );
    assert_eq!(m.features, ["vcard-temp"]);
    assert_eq!(m.subscriptions.len(), 2);
    assert_eq!(
        (m.subscriptions[1].hook, m.subscriptions[1].kind),
        (Hook::Outgoing, StanzaKind::Presence)
    );
    let s = &m.subscriptions[0];
    assert_eq!((s.hook, s.kind), (Hook::Incoming, StanzaKind::Iq));
    let p = s.payload.as_ref().expect("filtered by payload");
    assert_eq!(
        (p.namespace.as_str(), p.name.as_str()),
        ("vcard-temp", "vCard")
    );
    assert_eq!(m.data.len(), 1);
    let d = &m.data[0];
    assert_eq!(d.category, "vcard");
    assert_eq!(d.owner, tessera_sdk::OwnerKind::User);
    assert_eq!(d.visibility, tessera_sdk::Visibility::Public);
    assert_eq!(
        (d.default_max_age_seconds, d.default_max_items),
        (None, None)
    );
}

// ---- avatars: XEP-0153 hash in presence, XEP-0398 vCard to PEP ----

/// A 1×1 PNG, and its SHA-1.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn png_sha1() -> String {
    tessera_sdk::avatar::image_id(&tessera_sdk::avatar::decode_base64(PNG_B64).unwrap())
}

fn photo_vcard() -> String {
    // Clients wrap BINVAL; the hash is the image's, whitespace aside.
    let (a, b) = PNG_B64.split_at(20);
    format!(
        "<vCard xmlns='vcard-temp'><FN>Juliet</FN><PHOTO><TYPE>image/png</TYPE>\
         <BINVAL>{a}\n {b}</BINVAL></PHOTO></vCard>"
    )
}

fn presence(h: &Harness<Vcard>, xml: &str) -> Verdict {
    let ctx = Context::new(Hook::Outgoing)
        .with_account(JULIET)
        .with_session(JULIET_FULL);
    h.stanza(&ctx, xml)
}

#[test]
fn a_photo_is_published_to_pep_and_its_hash_goes_into_presence() {
    let h = harness();
    testing::answer_requests(|_| {
        Ok("<iq xmlns='jabber:client' type='result' id='vcard-avatar'/>".to_owned())
    });
    assert!(matches!(
        iq(&h, JULIET_FULL, None, "set", &photo_vcard()),
        Verdict::Handled
    ));
    result(&h);
    let hash = png_sha1();
    // XEP-0398 §2.2: the data item, id = the image's SHA-1, then the metadata naming it.
    let asked = testing::take_requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[0].contains("node='urn:xmpp:avatar:data'"),
        "{}",
        asked[0]
    );
    assert!(asked[0].contains(&format!("id='{hash}'")), "{}", asked[0]);
    assert!(
        asked[0].contains(PNG_B64),
        "whitespace removed: {}",
        asked[0]
    );
    assert!(
        asked[1].contains("node='urn:xmpp:avatar:metadata'"),
        "{}",
        asked[1]
    );
    assert!(asked[1].contains("type='image/png'"), "{}", asked[1]);
    assert!(asked[1].contains("bytes='70'"), "{}", asked[1]);
    assert_eq!(
        testing::marked(JULIET),
        Some(tessera_sdk::scope::Lifetime::Durable),
        "presence hook narrowed to accounts with a photo"
    );

    // XEP-0398 §3: added to an available presence, filled into an empty <x/>, left alone with
    // an empty <photo/> (the client's "none here") and for unavailable presence.
    let Verdict::Replace(xml) = presence(&h, "<presence xmlns='jabber:client'/>") else {
        panic!("the hash is added");
    };
    assert!(xml.contains(&format!("<photo>{hash}</photo>")), "{xml}");
    let Verdict::Replace(xml) = presence(
        &h,
        "<presence xmlns='jabber:client' to='room@muc.localhost/j'><x xmlns='vcard-temp:x:update'/></presence>",
    ) else {
        panic!("filled in");
    };
    assert!(xml.contains(&format!("<photo>{hash}</photo>")), "{xml}");
    assert!(matches!(
        presence(
            &h,
            "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'><photo/></x></presence>"
        ),
        Verdict::Pass
    ));
    assert!(matches!(
        presence(&h, "<presence xmlns='jabber:client' type='unavailable'/>"),
        Verdict::Pass
    ));

    // The same photo again converts nothing; no photo disables the PEP avatar and the hash goes.
    iq(&h, JULIET_FULL, None, "set", &photo_vcard());
    result(&h);
    assert!(testing::take_requests().is_empty(), "unchanged");
    iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        "<vCard xmlns='vcard-temp'><FN>J</FN></vCard>",
    );
    result(&h);
    let asked = testing::take_requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("<metadata xmlns='urn:xmpp:avatar:metadata'/>"),
        "{}",
        asked[0]
    );
    assert_eq!(testing::marked(JULIET), None);
    assert!(matches!(
        presence(&h, "<presence xmlns='jabber:client'/>"),
        Verdict::Pass
    ));
}

#[test]
fn without_pep_the_vcard_is_still_stored() {
    let h = harness();
    // No answerer: no plugin owns pubsub (as without `pep`).
    assert!(matches!(
        iq(&h, JULIET_FULL, None, "set", &photo_vcard()),
        Verdict::Handled
    ));
    result(&h);
    iq(&h, JULIET_FULL, None, "get", "<vCard xmlns='vcard-temp'/>");
    let card = card_of(&result(&h));
    assert!(card.get_child("PHOTO", ns::VCARD_TEMP).is_some());
}
