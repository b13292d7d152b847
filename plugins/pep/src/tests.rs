//! The plugin against the SDK's fake host: addressing, the pubsub requests and their errors,
//! notifications and their audience, the last items at login, bookmarks both ways.

use tessera_sdk::roster::{Item, Subscription};
use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Event, Hook, Plugin, Stanza, Verdict};

use super::*;

const ALICE: &str = "alice@localhost";
const ALICE_FULL: &str = "alice@localhost/phone";
const BOB: &str = "bob@localhost";
const BOB_FULL: &str = "bob@localhost/pc";
const CAROL_FULL: &str = "carol@localhost/x";

fn harness() -> Harness<Pep> {
    let mut h = Harness::new(Pep::default());
    h.init("").expect("no config is valid");
    for a in [ALICE, BOB, "carol@localhost"] {
        testing::add_account(a);
    }
    testing::add_roster_item(ALICE, Item::new(BOB, Subscription::Both));
    testing::add_roster_item(BOB, Item::new(ALICE, Subscription::Both));
    testing::add_session(ALICE_FULL, Some(0));
    testing::add_session(BOB_FULL, Some(0));
    testing::add_session(CAROL_FULL, Some(0));
    // Every session asks for the events of the nodes these tests use (XEP-0163 §4.3).
    let notify: Vec<String> = [
        "urn:x:nick",
        "n",
        "secret",
        "urn:xmpp:bookmarks:1",
        "storage:bookmarks",
    ]
    .iter()
    .map(|n| format!("{n}+notify"))
    .collect();
    let notify: Vec<&str> = notify.iter().map(String::as_str).collect();
    for s in [ALICE_FULL, BOB_FULL, CAROL_FULL] {
        testing::set_caps(s, &notify);
    }
    h
}

fn own(h: &Harness<Pep>, type_: &str, to: Option<&str>, payload: &str) -> Verdict {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    let ctx = Context::new(Hook::Iq)
        .with_account(ALICE)
        .with_session(ALICE_FULL);
    h.stanza(
        &ctx,
        &format!("<iq xmlns='jabber:client' from='{ALICE_FULL}'{to} type='{type_}' id='p1'>{payload}</iq>"),
    )
}

fn from_other(h: &Harness<Pep>, sender: &str, type_: &str, payload: &str) -> Verdict {
    let ctx = Context::new(Hook::Incoming).with_account(ALICE);
    h.stanza(
        &ctx,
        &format!("<iq xmlns='jabber:client' from='{sender}' to='{ALICE}' type='{type_}' id='p2'>{payload}</iq>"),
    )
}

fn publish_xml(node: &str, id: &str, payload: &str, opts: &str) -> String {
    format!(
        "<pubsub xmlns='{}'><publish node='{node}'><item id='{id}'>{payload}</item></publish>{opts}</pubsub>",
        ns::PUBSUB
    )
}

fn items_xml(node: &str) -> String {
    format!(
        "<pubsub xmlns='{}'><items node='{node}'/></pubsub>",
        ns::PUBSUB
    )
}

/// The IQ answer among the sent stanzas (and the rest: notifications).
fn split(sent: Vec<Stanza>) -> (Stanza, Vec<Stanza>) {
    let (iqs, rest): (Vec<Stanza>, Vec<Stanza>) = sent
        .into_iter()
        .partition(|s| s.kind() == tessera_sdk::StanzaKind::Iq);
    assert_eq!(iqs.len(), 1, "one answer");
    (iqs.into_iter().next().unwrap(), rest)
}

fn app_condition(answer: &Stanza) -> (String, Option<String>) {
    let el = answer.element().unwrap();
    let error = el.get_child("error", ns::CLIENT).expect("an error");
    let defined = error
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas")
        .map(|c| c.name().to_owned())
        .unwrap();
    let app = error
        .children()
        .find(|c| c.ns() == ns::PUBSUB_ERRORS)
        .map(|c| c.name().to_owned());
    (defined, app)
}

fn publish(h: &Harness<Pep>, node: &str, id: &str, payload: &str, opts: &str) -> Vec<Stanza> {
    assert_eq!(
        own(h, "set", None, &publish_xml(node, id, payload, opts)),
        Verdict::Handled
    );
    let (answer, notes) = split(h.take_sent());
    assert_eq!(answer.type_attr(), "result", "{}", answer.xml());
    assert_eq!(answer.from(), ALICE, "answered from the bare JID");
    notes
}

fn opts(fields: &[(&str, &str)]) -> String {
    let mut x = format!(
        "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>{}</value></field>",
        ns::PUBLISH_OPTIONS
    );
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    x + "</x></publish-options>"
}

#[test]
fn a_publish_notifies_the_owner_and_contacts_only() {
    let h = harness();
    let notes = publish(
        &h,
        "urn:x:nick",
        "current",
        "<nick xmlns='urn:x:nick'>A</nick>",
        "",
    );
    let mut to: Vec<&str> = notes.iter().map(Stanza::to).collect();
    to.sort_unstable();
    assert_eq!(to, [ALICE_FULL, BOB_FULL]);
    for n in &notes {
        assert_eq!((n.from(), n.type_attr()), (ALICE, "headline"));
        assert!(n.xml().contains(ns::PUBSUB_EVENT));
    }
}

#[test]
fn only_sessions_asking_for_the_node_are_notified() {
    let h = harness();
    testing::set_caps(BOB_FULL, &["urn:x:other+notify"]);
    let notes = publish(
        &h,
        "urn:x:nick",
        "current",
        "<nick xmlns='urn:x:nick'>A</nick>",
        "",
    );
    let to: Vec<&str> = notes.iter().map(Stanza::to).collect();
    assert_eq!(to, [ALICE_FULL], "bob's client did not ask for the nick");
    testing::clear_caps(ALICE_FULL);
    let notes = publish(
        &h,
        "urn:x:nick",
        "current",
        "<nick xmlns='urn:x:nick'>B</nick>",
        "",
    );
    assert!(notes.is_empty(), "a client without caps gets nothing");
}

#[test]
fn the_domain_is_no_pubsub_service() {
    let h = harness();
    match own(&h, "get", Some("localhost"), &items_xml("n")) {
        Verdict::Error(e) => assert_eq!(e.condition, "service-unavailable"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn access_models_refuse_with_the_pubsub_conditions() {
    let h = harness();
    publish(&h, "p", "1", "<x xmlns='urn:x'/>", "");
    publish(
        &h,
        "w",
        "1",
        "<x xmlns='urn:x'/>",
        &opts(&[("pubsub#access_model", "whitelist")]),
    );
    publish(
        &h,
        "o",
        "1",
        "<x xmlns='urn:x'/>",
        &opts(&[("pubsub#access_model", "open")]),
    );
    let ask = |sender: &str, node: &str| {
        assert_eq!(
            from_other(&h, sender, "get", &items_xml(node)),
            Verdict::Handled
        );
        split(h.take_sent()).0
    };
    assert_eq!(ask(BOB_FULL, "p").type_attr(), "result");
    assert_eq!(
        app_condition(&ask(CAROL_FULL, "p")),
        (
            "not-authorized".to_owned(),
            Some("presence-subscription-required".to_owned())
        )
    );
    assert_eq!(
        app_condition(&ask(BOB_FULL, "w")),
        ("not-allowed".to_owned(), Some("closed-node".to_owned()))
    );
    assert_eq!(ask(CAROL_FULL, "o").type_attr(), "result");
    assert_eq!(ask(CAROL_FULL, "o").from(), ALICE);
}

#[test]
fn publish_options_are_preconditions_on_an_existing_node() {
    let h = harness();
    let open = opts(&[("pubsub#access_model", "open"), ("pubsub#max_items", "max")]);
    publish(&h, "d", "current", "<x xmlns='urn:x'/>", &open);
    publish(&h, "d", "current", "<x xmlns='urn:x'/>", &open);
    let bad = opts(&[("pubsub#access_model", "presence")]);
    own(
        &h,
        "set",
        None,
        &publish_xml("d", "current", "<x xmlns='urn:x'/>", &bad),
    );
    let (answer, notes) = split(h.take_sent());
    assert!(notes.is_empty());
    assert_eq!(
        app_condition(&answer),
        (
            "conflict".to_owned(),
            Some("precondition-not-met".to_owned())
        )
    );
}

#[test]
fn max_items_drops_the_oldest_and_oversize_is_refused() {
    let mut h = harness();
    h.init("max_items = 2\nmax_item_bytes = 64").unwrap();
    let max = opts(&[("pubsub#max_items", "max")]);
    for id in ["a", "b", "c"] {
        publish(&h, "m", id, "<x xmlns='urn:x'/>", &max);
    }
    own(&h, "get", None, &items_xml("m"));
    let (answer, _) = split(h.take_sent());
    assert!(!answer.xml().contains("id='a'") && !answer.xml().contains("id=\"a\""));
    let big = format!("<x xmlns='urn:x'>{}</x>", "z".repeat(100));
    own(&h, "set", None, &publish_xml("m", "d", &big, ""));
    assert_eq!(
        app_condition(&split(h.take_sent()).0),
        (
            "not-acceptable".to_owned(),
            Some("payload-too-big".to_owned())
        )
    );
}

#[test]
fn others_cannot_publish_or_configure() {
    let h = harness();
    from_other(
        &h,
        BOB_FULL,
        "set",
        &publish_xml("n", "1", "<x xmlns='urn:x'/>", ""),
    );
    assert_eq!(app_condition(&split(h.take_sent()).0).0, "forbidden");
    let configure = format!(
        "<pubsub xmlns='{}'><delete node='n'/></pubsub>",
        ns::PUBSUB_OWNER
    );
    from_other(&h, BOB_FULL, "set", &configure);
    assert_eq!(app_condition(&split(h.take_sent()).0).0, "forbidden");
}

#[test]
fn a_session_coming_online_gets_the_last_items() {
    let h = harness();
    publish(
        &h,
        "n",
        "1",
        "<x xmlns='urn:x'>old</x>",
        &opts(&[("pubsub#max_items", "5")]),
    );
    publish(
        &h,
        "n",
        "2",
        "<x xmlns='urn:x'>new</x>",
        &opts(&[("pubsub#max_items", "5")]),
    );
    publish(
        &h,
        "secret",
        "1",
        "<x xmlns='urn:x'/>",
        &opts(&[("pubsub#access_model", "whitelist")]),
    );
    assert!(h.event(&Event::SessionAvailable(BOB_FULL.to_owned())));
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1, "the visible node's last item only");
    assert!(sent[0].xml().contains("new"));
    assert_eq!(sent[0].to(), BOB_FULL);
}

#[test]
fn bookmarks_convert_both_ways() {
    let h = harness();
    publish(
        &h,
        ns::BOOKMARKS2,
        "room@muc.example",
        "<conference xmlns='urn:xmpp:bookmarks:1' name='R' autojoin='1'><nick>al</nick></conference>",
        "",
    );
    let ctx = Context::new(Hook::Outgoing)
        .with_account(ALICE)
        .with_session(ALICE_FULL);
    let get = format!(
        "<iq xmlns='jabber:client' from='{ALICE_FULL}' type='get' id='b'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>"
    );
    assert_eq!(h.stanza(&ctx, &get), Verdict::Handled);
    let answer = split(h.take_sent()).0;
    let el = answer.element().unwrap();
    let storage = el
        .get_child("query", ns::PRIVATE)
        .and_then(|q| q.get_child("storage", ns::BOOKMARKS))
        .expect("storage");
    let c = storage
        .get_child("conference", ns::BOOKMARKS)
        .expect("conference");
    assert_eq!(
        (c.attr("jid"), c.attr("name"), c.attr("autojoin")),
        (Some("room@muc.example"), Some("R"), Some("true"))
    );

    // Other private XML passes to the private plugin.
    let other = format!(
        "<iq xmlns='jabber:client' from='{ALICE_FULL}' type='get' id='b'><query xmlns='jabber:iq:private'><notes xmlns='urn:example'/></query></iq>"
    );
    assert_eq!(h.stanza(&ctx, &other), Verdict::Pass);

    let set = format!(
        "<iq xmlns='jabber:client' from='{ALICE_FULL}' type='set' id='b'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
         <conference jid='other@muc.example' autojoin='true'><nick>n</nick><x xmlns='urn:ext'/></conference></storage></query></iq>"
    );
    assert_eq!(h.stanza(&ctx, &set), Verdict::Handled);
    let (_, notes) = split(h.take_sent());
    let retracted = notes
        .iter()
        .any(|n| n.xml().contains("retract") && n.xml().contains("room@muc.example"));
    assert!(retracted, "the removed room is retracted");
    own(&h, "get", None, &items_xml(ns::BOOKMARKS2));
    let answer = split(h.take_sent()).0;
    let xml = answer.xml().to_owned();
    assert!(
        xml.contains("other@muc.example") && !xml.contains("room@muc.example"),
        "{xml}"
    );
    assert!(
        xml.contains("extensions") && xml.contains("urn:ext"),
        "{xml}"
    );
}

#[test]
fn bad_config_names_the_key() {
    let mut p = Pep::default();
    let err = p.init("max_nodes = 0").unwrap_err();
    assert!(err.starts_with("max_nodes: "), "{err}");
}

/// A 1×1 PNG and its SHA-1 (XEP-0084 §4.2: the item id).
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The requests asked since the last call, but the blocklist reads every broadcast makes.
fn vcard_requests() -> Vec<String> {
    testing::take_requests()
        .into_iter()
        .filter(|r| !r.contains("urn:xmpp:blocking"))
        .collect()
}

fn png_sha1() -> String {
    tessera_sdk::avatar::image_id(&tessera_sdk::avatar::decode_base64(PNG_B64).unwrap())
}

#[test]
fn a_published_avatar_goes_into_the_vcard() {
    let h = harness();
    // The vcard plugin, standing in: the vCard has a name; a set is accepted.
    testing::answer_requests(|xml| {
        Ok(if xml.contains("type='get'") || xml.contains("type=\"get\"") {
            "<iq xmlns='jabber:client' type='result' id='pep-avatar'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>"
        } else {
            "<iq xmlns='jabber:client' type='result' id='pep-avatar'/>"
        }
        .to_owned())
    });
    let id = png_sha1();
    publish(
        &h,
        avatar::DATA,
        &id,
        &format!("<data xmlns='urn:xmpp:avatar:data'>{PNG_B64}</data>"),
        "",
    );
    assert!(
        vcard_requests().is_empty(),
        "the data alone converts nothing"
    );
    publish(
        &h,
        avatar::METADATA,
        &id,
        &format!(
            "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='{id}' bytes='70' type='image/png' url='https://example.org/a.png'/>\
             <info id='{id}' bytes='70' type='image/png'/></metadata>"
        ),
        "",
    );
    let asked = vcard_requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[0].contains("<vCard xmlns=\"vcard-temp\"/>")
            || asked[0].contains("<vCard xmlns='vcard-temp'/>"),
        "{}",
        asked[0]
    );
    let set: Element = asked[1].parse().unwrap();
    assert_eq!(set.attr("type"), Some("set"));
    assert_eq!(set.attr("from"), Some(ALICE));
    let card = set.get_child("vCard", "vcard-temp").expect("a vCard");
    assert!(
        card.get_child("FN", "vcard-temp").is_some(),
        "the rest is kept"
    );
    let photo = card.get_child("PHOTO", "vcard-temp").expect("a photo");
    assert_eq!(
        photo
            .get_child("BINVAL", "vcard-temp")
            .map(Element::text)
            .as_deref(),
        Some(PNG_B64)
    );
    assert_eq!(
        photo
            .get_child("TYPE", "vcard-temp")
            .map(Element::text)
            .as_deref(),
        Some("image/png")
    );

    // Metadata whose id is not the image's hash: nothing is copied (§2: verify).
    publish(
        &h,
        avatar::METADATA,
        "bad",
        "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='0000' bytes='70' type='image/png'/></metadata>",
        "",
    );
    assert!(vcard_requests().is_empty());
    // Avatar disabled (no info): the photo is taken out.
    testing::answer_requests(|xml| {
        Ok(
            if xml.contains("type='get'") || xml.contains("type=\"get\"") {
                format!(
                    "<iq xmlns='jabber:client' type='result' id='pep-avatar'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><BINVAL>{PNG_B64}</BINVAL></PHOTO></vCard></iq>"
                )
            } else {
                "<iq xmlns='jabber:client' type='result' id='pep-avatar'/>".to_owned()
            },
        )
    });
    publish(
        &h,
        avatar::METADATA,
        "off",
        "<metadata xmlns='urn:xmpp:avatar:metadata'/>",
        "",
    );
    let asked = vcard_requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(!asked[1].contains("PHOTO"), "{}", asked[1]);
    assert!(asked[1].contains("FN"), "{}", asked[1]);
}

#[test]
fn a_contact_the_owner_blocked_gets_no_notifications() {
    let h = harness();
    // The blocking plugin, standing in: alice blocked bob.
    testing::answer_requests(|xml| {
        assert!(xml.contains("urn:xmpp:blocking"), "{xml}");
        Ok("<iq xmlns='jabber:client' type='result' id='blocklist'><blocklist xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></blocklist></iq>".to_owned())
    });
    let notes = publish(
        &h,
        "urn:x:nick",
        "current",
        "<nick xmlns='urn:x:nick'>A</nick>",
        "",
    );
    let to: Vec<&str> = notes.iter().map(Stanza::to).collect();
    assert_eq!(to, [ALICE_FULL], "bob is blocked");
    // Nor does his session coming online get alice's last item.
    assert!(h.event(&Event::SessionAvailable(BOB_FULL.to_owned())));
    assert!(h.take_sent().is_empty());
    // A blocklist that cannot be read holds the notification back from everyone but alice.
    testing::answer_requests(|_| Err(tessera_sdk::HostError::Unavailable("down".to_owned())));
    let notes = publish(
        &h,
        "urn:x:nick",
        "current",
        "<nick xmlns='urn:x:nick'>B</nick>",
        "",
    );
    let to: Vec<&str> = notes.iter().map(Stanza::to).collect();
    assert_eq!(to, [ALICE_FULL]);
}
