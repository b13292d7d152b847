//! The plugin against the SDK's fake host: the hook, the cap, delivery order, stamps and deletion.

use tessera_sdk::archive::Query;
use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Event, Hook, StanzaError, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const BALCONY: &str = "juliet@localhost/balcony";

fn harness(config: &str) -> Harness<Offline> {
    let mut h = Harness::new(Offline::default());
    h.init(config).expect("config");
    testing::add_account(JULIET);
    testing::add_account("romeo@localhost");
    h
}

fn undeliverable(h: &Harness<Offline>, type_: &str, payload: &str) -> Verdict {
    let xml = format!(
        "<message xmlns='jabber:client' from='romeo@localhost/orchard' to='{JULIET}' \
         type='{type_}' id='m'>{payload}</message>"
    );
    h.stanza(
        &Context::new(Hook::Undeliverable).with_account(JULIET),
        &xml,
    )
}

fn body(n: usize) -> String {
    format!("<body>secret {n}</body>")
}

fn queued() -> Vec<String> {
    store::queue(JULIET)
        .query(&Query::new(100))
        .expect("query")
        .entries
        .into_iter()
        .map(|e| e.data)
        .collect()
}

fn login(h: &Harness<Offline>, priority: i8) {
    testing::add_session(BALCONY, Some(priority));
    assert!(h.event(&Event::SessionAvailable(BALCONY.to_owned())));
}

#[test]
fn manifest_declares_hook_event_feature_and_retention() {
    let m = Offline::default().describe();
    assert_eq!(m.name, "offline");
    assert_eq!(
        m.subscriptions,
        [Subscription::new(Hook::Undeliverable, StanzaKind::Message)]
    );
    assert_eq!(m.events, [EventKind::SessionAvailable]);
    assert_eq!(m.features, ["msgoffline"]);
    let d = m.data_category("messages").expect("declared");
    assert_eq!(
        (d.owner, d.visibility),
        (OwnerKind::User, Visibility::Owner)
    );
    assert_eq!(d.default_max_age_seconds, Some(7 * 86_400));
    assert_eq!(d.default_max_items, Some(1000));
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    let mut h = Harness::new(Offline::default());
    let err = h.init("when_full = \"sometimes\"").unwrap_err();
    assert!(err.starts_with("when_full: "), "{err}");
}

#[test]
fn stores_what_the_rules_allow_and_passes_the_rest() {
    let h = harness("");
    assert_eq!(undeliverable(&h, "chat", &body(1)), Verdict::Handled);
    assert_eq!(undeliverable(&h, "normal", &body(2)), Verdict::Handled);
    for (type_, payload) in [
        ("headline", body(3)),
        ("groupchat", body(4)),
        ("error", body(5)),
        (
            "chat",
            format!("{}<no-store xmlns='urn:xmpp:hints'/>", body(6)),
        ),
        (
            "chat",
            "<active xmlns='http://jabber.org/protocol/chatstates'/>".to_owned(),
        ),
    ] {
        assert_eq!(
            undeliverable(&h, type_, &payload),
            Verdict::Pass,
            "{type_} {payload}"
        );
    }
    let q = queued();
    assert_eq!(q.len(), 2);
    assert!(q[0].contains("secret 1") && q[1].contains("secret 2"));
    assert!(
        testing::logs().iter().all(|(_, l)| !l.contains("secret")),
        "no content in logs: {:?}",
        testing::logs()
    );
}

#[test]
fn other_hooks_are_ignored() {
    let h = harness("");
    let xml = format!(
        "<message xmlns='jabber:client' from='romeo@localhost/o' to='{JULIET}' type='chat'><body>x</body></message>"
    );
    assert_eq!(
        h.stanza(&Context::new(Hook::Incoming).with_account(JULIET), &xml),
        Verdict::Pass
    );
    assert!(queued().is_empty());
}

#[test]
fn drop_oldest_keeps_storing_past_the_bounce_cap() {
    // The host's max_items drops the oldest; the plugin itself never refuses.
    let h = harness("");
    for n in 0..5 {
        assert_eq!(undeliverable(&h, "chat", &body(n)), Verdict::Handled);
    }
    assert_eq!(queued().len(), 5);
}

#[test]
fn bounce_refuses_with_resource_constraint_once_full() {
    let h = harness("when_full = \"bounce\"\nmax_messages = 2");
    assert_eq!(undeliverable(&h, "chat", &body(1)), Verdict::Handled);
    assert_eq!(undeliverable(&h, "chat", &body(2)), Verdict::Handled);
    assert_eq!(
        undeliverable(&h, "chat", &body(3)),
        Verdict::Error(StanzaError::resource_constraint())
    );
    let q = queued();
    assert_eq!(q.len(), 2, "nothing stored when full");
    assert!(q[1].contains("secret 2"));
}

#[test]
fn storage_failure_is_an_error_for_the_sender() {
    let h = harness("");
    testing::deny("archive");
    assert_eq!(
        undeliverable(&h, "chat", &body(1)),
        Verdict::Error(StanzaError::internal_server_error())
    );
}

#[test]
fn login_delivers_oldest_first_with_delay_stamps_then_deletes() {
    let h = harness("");
    for n in 0..(delivery::PAGE as usize + 3) {
        // One second apart, from 2002-09-10T23:08:25Z.
        testing::set_now(1_031_699_305_000 + n as u64 * 1000);
        assert_eq!(undeliverable(&h, "chat", &body(n)), Verdict::Handled);
    }
    login(&h, 0);
    let sent = h.take_sent();
    assert_eq!(sent.len(), delivery::PAGE as usize + 3, "every page");
    for (n, m) in sent.iter().enumerate() {
        assert_eq!(m.body().as_deref(), Some(format!("secret {n}").as_str()));
        assert_eq!((m.from(), m.to()), ("romeo@localhost/orchard", BALCONY));
        let e = m.element().expect("parsed");
        let delay = e.get_child("delay", "urn:xmpp:delay").expect("delay");
        assert_eq!(delay.attr("from"), Some("localhost"));
        let stamp = delivery::stamp(1_031_699_305_000 + n as u64 * 1000);
        assert_eq!(delay.attr("stamp"), Some(stamp.as_str()));
    }
    assert_eq!(
        sent[0]
            .element()
            .expect("parsed")
            .get_child("delay", "urn:xmpp:delay")
            .and_then(|d| d.attr("stamp")),
        Some("2002-09-10T23:08:25.000Z")
    );
    assert!(queued().is_empty(), "delivered messages are deleted");
    // A second login gets nothing more.
    login(&h, 0);
    assert!(h.take_sent().is_empty());
}

#[test]
fn a_failed_send_deletes_nothing_and_keeps_the_queue() {
    let h = harness("");
    for n in 0..3 {
        undeliverable(&h, "chat", &body(n));
    }
    testing::add_session(BALCONY, Some(1));
    testing::deny("router");
    assert!(h.event(&Event::SessionAvailable(BALCONY.to_owned())));
    assert!(h.take_sent().is_empty());
    assert_eq!(
        queued().len(),
        3,
        "nothing deleted without a successful send"
    );
    let logs = testing::logs();
    let stop = logs
        .iter()
        .find(|(_, l)| l.contains("stopped"))
        .expect("the failure is logged");
    assert!(stop.1.contains("romeo@localhost") && stop.1.contains(BALCONY));
    assert!(!stop.1.contains("secret"), "metadata only: {}", stop.1);
}

#[test]
fn negative_priority_and_gone_sessions_get_nothing() {
    let h = harness("");
    undeliverable(&h, "chat", &body(1));
    login(&h, -1);
    assert!(h.take_sent().is_empty());
    testing::remove_session(BALCONY);
    assert!(h.event(&Event::SessionAvailable(BALCONY.to_owned())));
    assert!(h.take_sent().is_empty());
    assert_eq!(queued().len(), 1, "still waiting for an available resource");
}

#[test]
fn an_unreadable_stored_entry_is_discarded_and_the_rest_delivered() {
    let h = harness("");
    store::queue(JULIET)
        .append("romeo@localhost", "<message")
        .expect("append");
    undeliverable(&h, "chat", &body(1));
    login(&h, 0);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body().as_deref(), Some("secret 1"));
    assert!(queued().is_empty());
}

#[test]
fn removing_the_account_removes_its_queue() {
    let h = harness("");
    undeliverable(&h, "chat", &body(1));
    assert_eq!(tessera_sdk::accounts::remove(JULIET), Ok(true));
    assert!(queued().is_empty());
    drop(h);
}

#[test]
fn a_message_queued_while_a_session_is_available_goes_out_at_once() {
    // The login's own run already read the (empty) queue: the hook's request delivers it.
    let h = harness("");
    testing::add_session(BALCONY, Some(0));
    assert_eq!(undeliverable(&h, "chat", &body(1)), Verdict::Handled);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), BALCONY);
    assert!(queued().is_empty());
    // Nobody available (negative priority only): it waits for a login.
    testing::remove_session(BALCONY);
    testing::add_session(BALCONY, Some(-1));
    assert_eq!(undeliverable(&h, "chat", &body(2)), Verdict::Handled);
    assert!(h.take_sent().is_empty());
    assert_eq!(queued().len(), 1);
}

#[test]
fn runs_for_one_account_never_overlap_and_a_stale_lock_is_taken_over() {
    let h = harness("");
    testing::set_now(1_700_000_000_000);
    assert_eq!(undeliverable(&h, "chat", &body(1)), Verdict::Handled);
    // Another instance is delivering to Juliet: this request leaves it a mark and sends nothing.
    let lock = format!("run/{JULIET}");
    assert!(
        tessera_sdk::ephemeral::compare_and_swap(&lock, None, &1_700_000_000_000u64.to_be_bytes())
            .unwrap()
    );
    login(&h, 0);
    assert!(h.take_sent().is_empty());
    assert_eq!(queued().len(), 1);
    assert!(tessera_sdk::ephemeral::get(&format!("again/{JULIET}")).is_some());
    // That run trapped and never let go: a minute on, the next request takes the lock over.
    testing::set_now(1_700_000_000_000 + delivery::LOCK_STALE_MS + 1);
    assert!(h.event(&Event::SessionAvailable(BALCONY.to_owned())));
    assert_eq!(h.take_sent().len(), 1);
    assert!(queued().is_empty());
    assert_eq!(tessera_sdk::ephemeral::get(&lock), None, "released");
    assert_eq!(
        tessera_sdk::ephemeral::get(&format!("again/{JULIET}")),
        None
    );
}
