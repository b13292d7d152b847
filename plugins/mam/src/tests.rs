//! The plugin end to end against the SDK's fake host: hooks, IQs and the purge command.

use tessera_sdk::testing::{self, Harness};
use tessera_sdk::xmpp_parsers::mam_prefs::DefaultPrefs;
use tessera_sdk::{CommandRequest, Context, Hook, Plugin, Stanza, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const JULIET_FULL: &str = "juliet@localhost/balcony";
const ROMEO: &str = "romeo@localhost";
const ROMEO_FULL: &str = "romeo@localhost/orchard";

fn harness(config: &str) -> Harness<Mam> {
    let mut h = Harness::new(Mam::default());
    h.init(config).expect("config");
    testing::add_account(JULIET);
    testing::add_account(ROMEO);
    h
}

fn chat(from: &str, to: &str, payload: &str) -> String {
    format!(
        "<message xmlns='jabber:client' from='{from}' to='{to}' type='chat' id='m'>{payload}</message>"
    )
}

/// Romeo sends Juliet a message: his `outgoing`, then her `incoming`. Her verdict.
fn romeo_to_juliet(h: &Harness<Mam>, payload: &str) -> Verdict {
    let m = chat(ROMEO_FULL, JULIET, payload);
    let out = Context::new(Hook::Outgoing)
        .with_account(ROMEO)
        .with_session(ROMEO_FULL);
    assert_eq!(
        h.stanza(&out, &m),
        Verdict::Pass,
        "outgoing never changes the message"
    );
    h.stanza(&Context::new(Hook::Incoming).with_account(JULIET), &m)
}

fn iq(h: &Harness<Mam>, user_full: &str, to: Option<&str>, type_: &str, payload: &str) -> Verdict {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    let xml = format!(
        "<iq xmlns='jabber:client' from='{user_full}'{to} type='{type_}' id='q'>{payload}</iq>"
    );
    let ctx = Context::new(Hook::Iq)
        .with_account(bare(user_full))
        .with_session(user_full);
    h.stanza(&ctx, &xml)
}

fn set_prefs(h: &Harness<Mam>, user_full: &str, default: &str, always: &str) {
    let p = format!(
        "<prefs xmlns='urn:xmpp:mam:2' default='{default}'><always>{always}</always><never/></prefs>"
    );
    assert_eq!(iq(h, user_full, None, "set", &p), Verdict::Handled);
    h.take_sent();
}

fn count(user: &str) -> u64 {
    archive_of(user)
        .query(&tessera_sdk::archive::Query::new(0))
        .unwrap()
        .count
}

/// The stanza-id Juliet's server put on a delivered message.
fn stanza_id_of(verdict: &Verdict) -> Option<String> {
    let Verdict::Replace(xml) = verdict else {
        return None;
    };
    let m = Stanza::parse(xml.clone()).unwrap();
    let el = m.element().unwrap();
    el.children()
        .find(|c| c.is("stanza-id", ns::SID) && c.attr("by") == Some(JULIET))
        .and_then(|c| c.attr("id").map(str::to_owned))
}

#[test]
fn manifest_declares_data_features_handlers_and_the_command() {
    let m = Mam::default().describe();
    assert_eq!(m.name, "mam");
    let messages = m.data_category(MESSAGES).unwrap();
    assert_eq!(
        (messages.owner, messages.visibility),
        (OwnerKind::User, Visibility::Owner)
    );
    assert_eq!(
        (messages.default_max_items, messages.default_max_age_seconds),
        (Some(100_000), None)
    );
    assert_eq!(m.data_category("prefs").unwrap().owner, OwnerKind::User);
    assert_eq!(m.features, [ns::MAM, ns::MAM_EXTENDED, ns::SID]);
    let handlers: Vec<_> = m
        .iq_handlers
        .iter()
        .map(|q| (q.namespace.as_str(), q.name.as_str()))
        .collect();
    assert_eq!(
        handlers,
        [
            (ns::MAM, "query"),
            (ns::MAM, "prefs"),
            (ns::MAM, "metadata")
        ]
    );
    assert_eq!(m.commands[0].node, purge::NODE);
    assert_eq!(m.commands[0].access, CommandAccess::LocalUser);
}

#[test]
fn config_defaults_and_errors_name_the_key() {
    assert_eq!(Config::parse("").unwrap(), Config::default());
    assert_eq!(Config::default().default, DefaultPrefs::Never);
    let c = Config::parse("default = \"roster\"\nmax_page = 20\n").unwrap();
    assert_eq!((c.default, c.max_page), (DefaultPrefs::Roster, 20));
    assert!(
        Config::parse("default = \"sometimes\"")
            .unwrap_err()
            .contains("config.default")
    );
    assert!(
        Config::parse("default = 1")
            .unwrap_err()
            .contains("config.default")
    );
    assert!(
        Config::parse("max_page = 0")
            .unwrap_err()
            .contains("config.max_page")
    );
    assert!(
        Config::parse("max_page = 5000")
            .unwrap_err()
            .contains("config.max_page")
    );
    assert!(
        Config::parse("defualt = \"always\"")
            .unwrap_err()
            .contains("config.defualt")
    );
    let mut m = Mam::default();
    assert!(m.init("default = \"nope\"").is_err());
}

#[test]
fn never_by_default_archives_nothing_but_still_strips_forged_ids() {
    let h = harness("");
    assert_eq!(romeo_to_juliet(&h, "<body>hi</body>"), Verdict::Pass);
    let forged = "<body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='juliet@localhost' id='x'/>";
    let v = romeo_to_juliet(&h, forged);
    assert!(
        matches!(&v, Verdict::Replace(xml) if !xml.contains("stanza-id")),
        "{v:?}"
    );
    assert_eq!((count(JULIET), count(ROMEO)), (0, 0));
}

#[test]
fn opting_in_marks_the_user_so_the_host_calls_the_hooks() {
    // Opt-in (the default): the host enters the hooks only for marked users (`scope`), and the
    // harness skips them as the host does.
    let h = harness("");
    assert_eq!(testing::marked(JULIET), None);
    set_prefs(&h, JULIET_FULL, "always", "");
    assert_eq!(testing::marked(JULIET), Some(scope::Lifetime::Durable));
    assert!(stanza_id_of(&romeo_to_juliet(&h, "<body>hi</body>")).is_some());
    assert_eq!(
        (count(JULIET), count(ROMEO)),
        (1, 0),
        "romeo never opted in"
    );

    // `never` with an `always` list still archives some: still marked.
    set_prefs(&h, JULIET_FULL, "never", "<jid>romeo@localhost</jid>");
    assert_eq!(testing::marked(JULIET), Some(scope::Lifetime::Durable));
    // `never` with nothing listed archives nothing: unmarked, and the hooks are skipped.
    set_prefs(&h, JULIET_FULL, "never", "");
    assert_eq!(testing::marked(JULIET), None);
    assert_eq!(romeo_to_juliet(&h, "<body>bye</body>"), Verdict::Pass);
    assert_eq!(count(JULIET), 1);

    // Preferences stored without a mark (by a version before marks) get one at the user's
    // next archive query.
    prefs::save(
        JULIET,
        &tessera_sdk::xmpp_parsers::mam_prefs::Prefs {
            default_: DefaultPrefs::Always,
            always: Vec::new(),
            never: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(testing::marked(JULIET), None);
    assert!(matches!(
        iq(
            &h,
            JULIET_FULL,
            None,
            "get",
            "<metadata xmlns='urn:xmpp:mam:2'/>"
        ),
        Verdict::Handled
    ));
    assert_eq!(testing::marked(JULIET), Some(scope::Lifetime::Durable));

    // With another default no hook is narrowed: every user's messages are looked at.
    let h = harness("default = \"always\"");
    assert_eq!(testing::marked(JULIET), None);
    assert!(stanza_id_of(&romeo_to_juliet(&h, "<body>hi</body>")).is_some());
}

#[test]
fn always_archives_both_copies_with_the_delivered_stanza_id() {
    let h = harness("default = \"always\"");
    let forged = "<body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='juliet@localhost' id='x'/>";
    let v = romeo_to_juliet(&h, forged);
    let id = stanza_id_of(&v).expect("a stanza-id by juliet");
    assert_ne!(id, "x");
    let page = archive_of(JULIET)
        .query(&tessera_sdk::archive::Query::new(10))
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(
        (page.entries[0].id.as_str(), page.entries[0].with.as_str()),
        (id.as_str(), ROMEO)
    );
    assert!(
        !page.entries[0].data.contains("stanza-id"),
        "the forged id is not stored"
    );
    let sent = archive_of(ROMEO)
        .query(&tessera_sdk::archive::Query::new(10))
        .unwrap();
    assert_eq!((sent.count, sent.entries[0].with.as_str()), (1, JULIET));
    // Not archived: no-store, chat states.
    romeo_to_juliet(&h, "<body>secret</body><no-store xmlns='urn:xmpp:hints'/>");
    romeo_to_juliet(
        &h,
        "<active xmlns='http://jabber.org/protocol/chatstates'/>",
    );
    assert_eq!((count(JULIET), count(ROMEO)), (1, 1));
}

#[test]
fn a_message_to_oneself_is_archived_once() {
    let h = harness("default = \"always\"");
    let m = chat(JULIET_FULL, JULIET, "<body>note to self</body>");
    let out = Context::new(Hook::Outgoing)
        .with_account(JULIET)
        .with_session(JULIET_FULL);
    assert_eq!(h.stanza(&out, &m), Verdict::Pass);
    assert_eq!(count(JULIET), 0);
    let v = h.stanza(&Context::new(Hook::Incoming).with_account(JULIET), &m);
    assert!(stanza_id_of(&v).is_some());
    assert_eq!(count(JULIET), 1);
}

#[test]
fn roster_default_archives_only_contacts_and_prefs_override() {
    let h = harness("default = \"roster\"");
    romeo_to_juliet(&h, "<body>stranger</body>");
    assert_eq!(count(JULIET), 0);
    testing::add_roster_item(
        JULIET,
        tessera_sdk::roster::Item::new(ROMEO, tessera_sdk::roster::Subscription::Both),
    );
    romeo_to_juliet(&h, "<body>contact</body>");
    assert_eq!(count(JULIET), 1);
    // Juliet opts out of everything but Romeo's resource... which is not the one he uses.
    set_prefs(
        &h,
        JULIET_FULL,
        "never",
        "<jid>romeo@localhost/elsewhere</jid>",
    );
    romeo_to_juliet(&h, "<body>again</body>");
    assert_eq!(count(JULIET), 1);
}

#[test]
fn prefs_get_and_set_answer_from_the_address_asked() {
    let h = harness("default = \"roster\"");
    assert_eq!(
        iq(
            &h,
            JULIET_FULL,
            Some("localhost"),
            "get",
            "<prefs xmlns='urn:xmpp:mam:2'/>"
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(
        (sent[0].from(), sent[0].to(), sent[0].type_attr()),
        ("localhost", JULIET_FULL, "result")
    );
    assert!(
        sent[0].xml().contains("default='roster'") || sent[0].xml().contains("default=\"roster\"")
    );
    set_prefs(&h, JULIET_FULL, "always", "<jid>romeo@localhost</jid>");
    assert_eq!(
        iq(
            &h,
            JULIET_FULL,
            None,
            "get",
            "<prefs xmlns='urn:xmpp:mam:2'/>"
        ),
        Verdict::Handled
    );
    let sent = h.take_sent();
    assert_eq!(sent[0].from(), JULIET, "no `to`: answered from the account");
    assert!(sent[0].xml().contains("romeo@localhost"));
    // Another user's archive is not Juliet's to read.
    let v = iq(
        &h,
        JULIET_FULL,
        Some(ROMEO),
        "get",
        "<prefs xmlns='urn:xmpp:mam:2'/>",
    );
    assert!(matches!(v, Verdict::Error(e) if e.condition == "forbidden"));
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        "<metadata xmlns='urn:xmpp:mam:2'/>",
    );
    assert!(matches!(v, Verdict::Error(e) if e.condition == "bad-request"));
}

/// Archives `n` messages from Romeo to Juliet, one per second from t = 1000 s; their ids.
fn fill(h: &Harness<Mam>, n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            testing::set_now(1_000_000 + i * 1000);
            stanza_id_of(&romeo_to_juliet(h, &format!("<body>m{i}</body>"))).unwrap()
        })
        .collect()
}

/// Runs a query as Juliet: (bodies in sending order, the final IQ).
fn query(h: &Harness<Mam>, inner: &str) -> (Vec<String>, Stanza) {
    let v = iq(
        h,
        JULIET_FULL,
        None,
        "set",
        &format!("<query xmlns='urn:xmpp:mam:2' queryid='f'>{inner}</query>"),
    );
    assert_eq!(v, Verdict::Handled);
    let mut sent = h.take_sent();
    let fin = sent.pop().expect("the IQ result comes last");
    assert_eq!((fin.kind(), fin.type_attr()), (StanzaKind::Iq, "result"));
    let bodies = sent
        .iter()
        .map(|m| {
            assert_eq!((m.from(), m.to()), (JULIET, JULIET_FULL));
            let result = m.element().unwrap().get_child("result", ns::MAM).unwrap();
            assert_eq!(result.attr("queryid"), Some("f"));
            let fwd = result.get_child("forwarded", ns::FORWARD).unwrap();
            assert!(
                fwd.get_child("delay", ns::DELAY)
                    .unwrap()
                    .attr("stamp")
                    .unwrap()
                    .ends_with('Z')
            );
            fwd.get_child("message", "jabber:client")
                .unwrap()
                .get_child("body", "jabber:client")
                .unwrap()
                .text()
        })
        .collect();
    (bodies, fin)
}

/// (complete, first, last, count) of a `<fin/>`.
fn summary(fin: &Stanza) -> (bool, Option<String>, Option<String>, Option<usize>) {
    let f = fin
        .parse_payload::<tessera_sdk::xmpp_parsers::mam::Fin>()
        .unwrap();
    (
        f.complete,
        f.set.first.map(|x| x.item),
        f.set.last,
        f.set.count,
    )
}

fn rsm(inner: &str) -> String {
    format!("<set xmlns='http://jabber.org/protocol/rsm'>{inner}</set>")
}

fn form(fields: &str) -> String {
    format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>{fields}</x>"
    )
}

fn names(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

#[test]
fn queries_page_forward_backward_and_flipped() {
    let h = harness("default = \"always\"");
    let ids = fill(&h, 7);
    let (bodies, fin) = query(&h, &rsm("<max>3</max>"));
    assert_eq!(bodies, names(0..3));
    assert_eq!(
        summary(&fin),
        (false, Some(ids[0].clone()), Some(ids[2].clone()), Some(7))
    );
    let (bodies, fin) = query(&h, &rsm(&format!("<max>3</max><after>{}</after>", ids[5])));
    assert_eq!(bodies, names(6..7));
    assert!(summary(&fin).0, "the forward end is reached");
    let (bodies, fin) = query(&h, &rsm("<max>3</max><before/>"));
    assert_eq!(bodies, names(4..7));
    assert_eq!(
        summary(&fin),
        (false, Some(ids[4].clone()), Some(ids[6].clone()), Some(7))
    );
    let (bodies, fin) = query(
        &h,
        &rsm(&format!("<max>3</max><before>{}</before>", ids[2])),
    );
    assert_eq!(bodies, names(0..2));
    assert!(summary(&fin).0, "the backward end is reached");
    let (bodies, fin) = query(&h, &format!("{}<flip-page/>", rsm("<max>3</max><before/>")));
    assert_eq!(bodies, ["m6", "m5", "m4"]);
    assert_eq!(
        summary(&fin).1.as_deref(),
        Some(ids[6].as_str()),
        "first is the first sent"
    );
    // The config caps a page.
    let h2 = harness("default = \"always\"\nmax_page = 2");
    fill(&h2, 3);
    assert_eq!(query(&h2, &rsm("<max>100</max>")).0.len(), 2);
}

#[test]
fn queries_filter_by_form_fields() {
    let h = harness("default = \"always\"");
    let ids = fill(&h, 6);
    let field = |var: &str, v: &str| format!("<field var='{var}'><value>{v}</value></field>");
    let (bodies, fin) = query(&h, &form(&field("start", &stamp::format(1_002_000))));
    assert_eq!((bodies, summary(&fin).3), (names(2..6), Some(4)));
    let range = format!(
        "{}{}",
        field("start", "1970-01-01T00:16:41Z"),
        field("end", "1970-01-01T00:16:43Z")
    );
    assert_eq!(query(&h, &form(&range)).0, names(1..4));
    assert_eq!(query(&h, &form(&field("with", ROMEO))).0.len(), 6);
    assert!(
        query(&h, &form(&field("with", "paris@localhost")))
            .0
            .is_empty()
    );
    let window = format!(
        "{}{}",
        field("after-id", &ids[1]),
        field("before-id", &ids[4])
    );
    assert_eq!(query(&h, &form(&window)).0, names(2..4));
    let pick = format!(
        "<field var='ids'><value>{}</value><value>{}</value></field>",
        ids[0], ids[5]
    );
    assert_eq!(query(&h, &form(&pick)).0, ["m0", "m5"]);
}

#[test]
fn bad_queries_are_refused_with_the_right_condition() {
    let h = harness("default = \"always\"");
    fill(&h, 2);
    let cond = |inner: &str| match iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        &format!("<query xmlns='urn:xmpp:mam:2'>{inner}</query>"),
    ) {
        Verdict::Error(e) => e.condition,
        other => panic!("{other:?}"),
    };
    assert_eq!(cond(&rsm("<after>nope</after>")), "item-not-found");
    assert_eq!(cond(&rsm("<before>nope</before>")), "item-not-found");
    let field =
        |var: &str, v: &str| form(&format!("<field var='{var}'><value>{v}</value></field>"));
    assert_eq!(cond(&field("after-id", "nope")), "item-not-found");
    assert_eq!(cond(&field("before-id", "nope")), "item-not-found");
    assert_eq!(cond(&field("start", "last tuesday")), "bad-request");
    assert_eq!(cond(&field("with", "@@")), "bad-request");
    assert_eq!(cond(&field("colour", "red")), "bad-request");
    assert_eq!(cond(&rsm("<max>many</max>")), "bad-request");
    assert!(
        h.take_sent().is_empty(),
        "no result message before an error"
    );
}

#[test]
fn query_get_lists_the_fields_and_metadata_names_both_ends() {
    let h = harness("default = \"always\"");
    assert_eq!(
        iq(
            &h,
            JULIET_FULL,
            None,
            "get",
            "<query xmlns='urn:xmpp:mam:2'/>"
        ),
        Verdict::Handled
    );
    let form = h.take_sent().remove(0);
    for var in ["with", "start", "end", "before-id", "after-id", "ids"] {
        assert!(
            form.xml().contains(&format!("var='{var}'"))
                || form.xml().contains(&format!("var=\"{var}\"")),
            "{var}"
        );
    }
    let meta = |h: &Harness<Mam>| {
        assert_eq!(
            iq(
                h,
                JULIET_FULL,
                None,
                "get",
                "<metadata xmlns='urn:xmpp:mam:2'/>"
            ),
            Verdict::Handled
        );
        h.take_sent()
            .remove(0)
            .parse_payload::<tessera_sdk::xmpp_parsers::mam::MetadataResponse>()
            .unwrap()
    };
    let empty = meta(&h);
    assert!(empty.start.is_none() && empty.end.is_none());
    let ids = fill(&h, 3);
    let m = meta(&h);
    assert_eq!(
        (m.start.unwrap().id, m.end.as_ref().unwrap().id.clone()),
        (ids[0].clone(), ids[2].clone())
    );
    assert_eq!(m.end.unwrap().timestamp.0.timestamp_millis(), 1_002_000);
}

fn purge(h: &Harness<Mam>, xml: &str) -> tessera_sdk::minidom::Element {
    h.command(&CommandRequest::new(purge::NODE, JULIET_FULL, xml))
        .expect("command answer")
}

#[test]
fn purge_shows_a_form_then_deletes_a_range_or_everything() {
    let h = harness("default = \"always\"");
    fill(&h, 5);
    testing::set_now(2_000_000);
    romeo_to_juliet(&h, "<body>later</body>");
    let first = purge(
        &h,
        "<command xmlns='http://jabber.org/protocol/commands' node='urn:tessera:mam:purge' action='execute'/>",
    );
    assert_eq!(first.attr("status"), Some("executing"));
    assert!(first.has_child("x", "jabber:x:data"));
    let submit = |fields: &str| {
        format!(
            "<command xmlns='http://jabber.org/protocol/commands' node='urn:tessera:mam:purge' action='complete' sessionid='purge'><x xmlns='jabber:x:data' type='submit'>{fields}</x></command>"
        )
    };
    let range = "<field var='start'><value>1970-01-01T00:16:41Z</value></field><field var='end'><value>1970-01-01T00:16:42Z</value></field>";
    let done = purge(&h, &submit(range));
    assert_eq!(done.attr("status"), Some("completed"));
    assert!(String::from(&done).contains("Deleted 2 archived messages."));
    assert_eq!(count(JULIET), 4);
    assert_eq!(count(ROMEO), 6, "only the requester's own archive");
    let all = purge(&h, &submit("<field var='start'><value></value></field>"));
    assert!(String::from(&all).contains("Deleted 4 archived messages."));
    assert_eq!(count(JULIET), 0);
    let bad = h.command(&CommandRequest::new(
        purge::NODE,
        JULIET_FULL,
        submit("<field var='end'><value>soon</value></field>"),
    ));
    assert_eq!(bad.unwrap_err().condition, "bad-request");
    let cancel = purge(
        &h,
        "<command xmlns='http://jabber.org/protocol/commands' node='urn:tessera:mam:purge' action='cancel'/>",
    );
    assert_eq!(cancel.attr("status"), Some("canceled"));
}

#[test]
fn result_messages_escape_the_queryid_and_skip_entries_the_host_refuses() {
    let h = harness("default = \"always\"");
    fill(&h, 2);
    // A stored entry that is not XML (written behind the plugin's back) is skipped, not fatal.
    archive_of(JULIET).append(ROMEO, "<broken").unwrap();
    let v = iq(
        &h,
        JULIET_FULL,
        None,
        "set",
        "<query xmlns='urn:xmpp:mam:2' queryid='a&apos;b&amp;c'/>",
    );
    assert_eq!(v, Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 3, "two results and the fin");
    let result = sent[0]
        .element()
        .unwrap()
        .get_child("result", ns::MAM)
        .unwrap();
    assert_eq!(result.attr("queryid"), Some("a'b&c"));
    assert!(
        testing::logs()
            .iter()
            .any(|(_, l)| l.contains("not a valid stanza") && !l.contains("<broken"))
    );
}
