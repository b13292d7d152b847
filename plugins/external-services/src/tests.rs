//! The plugin against the SDK's fake host: both requests, the type filter, the credentials and
//! every error, with the exact condition the requester gets.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tessera_sdk::testing::{self, Harness};
use tessera_sdk::{Context, Hook, Plugin, Verdict};

use super::*;

const JULIET: &str = "juliet@localhost";
const JULIET_FULL: &str = "juliet@localhost/balcony";
const SECRET: &str = "north-of-the-wall";
/// 2023-11-14T22:13:20Z.
const NOW_MS: u64 = 1_700_000_000_000;

const CONFIG: &str = "secret = \"north-of-the-wall\"\nlifetime = \"1h\"\n\
    [[services]]\ntype = \"stun\"\nhost = \"stun.example.org\"\n\
    [[services]]\ntype = \"turn\"\nhost = \"turn.example.org\"\nname = \"Relay\"\n\
    [[services]]\ntype = \"turn\"\nhost = \"turn.example.org\"\nport = 80\ntransport = \"tcp\"\n\
    [[services]]\ntype = \"turns\"\nhost = \"turn.example.org\"\n";

fn harness(config: &str) -> Harness<ExternalServices> {
    let mut h = Harness::new(ExternalServices::default());
    h.init(config).expect("config");
    testing::set_now(NOW_MS);
    h
}

/// Juliet sends a get (or `type_`) with `payload`, to `to`.
fn iq(h: &Harness<ExternalServices>, to: Option<&str>, type_: &str, payload: &str) -> Verdict {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    let xml = format!(
        "<iq xmlns='jabber:client' from='{JULIET_FULL}'{to} type='{type_}' id='x1'>{payload}</iq>"
    );
    let ctx = Context::new(Hook::Iq)
        .with_account(JULIET)
        .with_session(JULIET_FULL);
    h.stanza(&ctx, &xml)
}

/// The payload of the one result sent.
fn answer(h: &Harness<ExternalServices>) -> Element {
    let mut sent = h.take_sent();
    assert_eq!(sent.len(), 1, "one answer");
    let a = sent.remove(0);
    assert_eq!(
        (a.type_attr(), a.id(), a.to()),
        ("result", "x1", JULIET_FULL)
    );
    a.element()
        .unwrap()
        .children()
        .next()
        .expect("a payload")
        .clone()
}

fn get(h: &Harness<ExternalServices>, payload: &str) -> Element {
    assert_eq!(iq(h, Some("localhost"), "get", payload), Verdict::Handled);
    answer(h)
}

fn condition(v: Verdict) -> String {
    match v {
        Verdict::Error(e) => e.condition,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// (type, host, port, transport) of each `<service/>`.
fn summary(list: &Element) -> Vec<(String, String, String, String)> {
    list.children()
        .map(|s| {
            assert!(s.is("service", ns::EXTDISCO));
            let a = |n: &str| s.attr(n).unwrap_or_default().to_owned();
            (a("type"), a("host"), a("port"), a("transport"))
        })
        .collect()
}

/// Checks a `<service/>`'s credentials the way the relay does: the username's expiry, the
/// password as HMAC-SHA1 over the username with the shared secret (computed here with `hmac`
/// directly, not the plugin's code), and `expires` as the same instant.
fn assert_valid_credentials(service: &Element, lifetime_secs: u64) {
    let username = service.attr("username").expect("username");
    let password = service.attr("password").expect("password");
    let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
    assert_eq!(user, JULIET);
    let expiry: u64 = expiry.parse().unwrap();
    assert_eq!(expiry, NOW_MS / 1000 + lifetime_secs);
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(password, expected);
    assert_eq!(service.attr("expires"), Some(clock_text(expiry).as_str()));
    assert_eq!(service.attr("restricted"), Some("1"));
}

fn clock_text(secs: u64) -> String {
    tessera_sdk::clock::xep0082(secs * 1000)
}

#[test]
fn services_lists_every_service_in_order() {
    let h = harness(CONFIG);
    let list = get(&h, "<services xmlns='urn:xmpp:extdisco:2'/>");
    assert!(list.is("services", ns::EXTDISCO));
    assert_eq!(list.attr("type"), None);
    let s = |t: &str, h: &str, p: &str, tr: &str| (t.into(), h.into(), p.into(), tr.into());
    assert_eq!(
        summary(&list),
        [
            s("stun", "stun.example.org", "3478", "udp"),
            s("turn", "turn.example.org", "3478", "udp"),
            s("turn", "turn.example.org", "80", "tcp"),
            s("turns", "turn.example.org", "5349", "tcp"),
        ]
    );
    let services: Vec<&Element> = list.children().collect();
    // STUN is open: no credentials, not restricted.
    for attr in ["username", "password", "expires", "restricted"] {
        assert_eq!(services[0].attr(attr), None, "{attr}");
    }
    assert_eq!(services[1].attr("name"), Some("Relay"));
    for turn in &services[1..] {
        assert_valid_credentials(turn, 3600);
    }
}

#[test]
fn the_expiry_is_the_lifetime_ahead_of_now() {
    let h = harness(&CONFIG.replace("lifetime = \"1h\"\n", ""));
    let list = get(&h, "<services xmlns='urn:xmpp:extdisco:2' type='turn'/>");
    let first = list.children().next().unwrap();
    assert_valid_credentials(first, 24 * 3600);
    assert_eq!(first.attr("expires"), Some("2023-11-15T22:13:20.000Z"));
}

#[test]
fn the_type_filter_keeps_one_type_and_is_echoed() {
    let h = harness(CONFIG);
    let turn = get(&h, "<services xmlns='urn:xmpp:extdisco:2' type='turn'/>");
    assert_eq!(turn.attr("type"), Some("turn"));
    assert_eq!(
        summary(&turn)
            .iter()
            .map(|s| s.2.as_str())
            .collect::<Vec<_>>(),
        ["3478", "80"]
    );
    let stun = get(&h, "<services xmlns='urn:xmpp:extdisco:2' type='stun'/>");
    assert_eq!(summary(&stun).len(), 1);
    assert!(stun.children().all(|s| s.attr("password").is_none()));
    let turns = get(&h, "<services xmlns='urn:xmpp:extdisco:2' type='turns'/>");
    assert_eq!(summary(&turns).len(), 1);
    // A type nobody serves: an empty list, not an error.
    let ftp = get(&h, "<services xmlns='urn:xmpp:extdisco:2' type='ftp'/>");
    assert_eq!((ftp.attr("type"), ftp.children().count()), (Some("ftp"), 0));
}

#[test]
fn credentials_for_a_service_by_host_and_type() {
    let h = harness(CONFIG);
    let creds = get(
        &h,
        "<credentials xmlns='urn:xmpp:extdisco:2'>\
         <service host='turn.example.org' type='turn'/></credentials>",
    );
    assert!(creds.is("credentials", ns::EXTDISCO));
    // XEP-0215 §3.3: several services may match (the same host on two ports).
    assert_eq!(summary(&creds).len(), 2);
    for s in creds.children() {
        assert_valid_credentials(s, 3600);
    }
}

#[test]
fn a_port_narrows_the_credentials_request() {
    let h = harness(CONFIG);
    let creds = get(
        &h,
        "<credentials xmlns='urn:xmpp:extdisco:2'>\
         <service host='turn.example.org' type='turn' port='80'/></credentials>",
    );
    assert_eq!(
        summary(&creds),
        [(
            "turn".into(),
            "turn.example.org".into(),
            "80".into(),
            "tcp".into()
        )]
    );
    assert_valid_credentials(creds.children().next().unwrap(), 3600);
}

#[test]
fn an_open_service_comes_back_without_credentials() {
    let h = harness(CONFIG);
    let creds = get(
        &h,
        "<credentials xmlns='urn:xmpp:extdisco:2'>\
         <service host='stun.example.org' type='stun'/></credentials>",
    );
    let s = creds.children().next().unwrap();
    assert_eq!((s.attr("username"), s.attr("restricted")), (None, None));
}

#[test]
fn credentials_for_an_unknown_service_are_item_not_found() {
    let h = harness(CONFIG);
    for service in [
        "<service host='turn.example.net' type='turn'/>",
        "<service host='turn.example.org' type='stun'/>",
        "<service host='turn.example.org' type='turn' port='3479'/>",
    ] {
        let v = iq(
            &h,
            None,
            "get",
            &format!("<credentials xmlns='urn:xmpp:extdisco:2'>{service}</credentials>"),
        );
        assert_eq!(condition(v), "item-not-found", "{service}");
    }
    assert!(h.take_sent().is_empty());
}

/// XEP-0215 §3.3: the `<service/>` MUST include `host` and `type`.
#[test]
fn malformed_credentials_requests_are_bad_request() {
    let h = harness(CONFIG);
    for inner in [
        "",
        "<service host='turn.example.org'/>",
        "<service type='turn'/>",
        "<service host='turn.example.org' type='turn' port='http'/>",
        "<service host='turn.example.org' type='turn' port='70000'/>",
        "<other xmlns='urn:example' host='turn.example.org' type='turn'/>",
    ] {
        let v = iq(
            &h,
            None,
            "get",
            &format!("<credentials xmlns='urn:xmpp:extdisco:2'>{inner}</credentials>"),
        );
        assert_eq!(condition(v), "bad-request", "{inner}");
    }
}

#[test]
fn a_set_is_bad_request() {
    let h = harness(CONFIG);
    for payload in [
        "<services xmlns='urn:xmpp:extdisco:2'/>",
        "<credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn'/></credentials>",
    ] {
        assert_eq!(condition(iq(&h, None, "set", payload)), "bad-request");
    }
}

#[test]
fn answers_come_from_where_the_request_went() {
    let h = harness(CONFIG);
    for (to, from) in [
        (Some("localhost"), "localhost"),
        (Some(JULIET), JULIET),
        (Some("LOCALHOST"), "LOCALHOST"),
        (None, JULIET),
    ] {
        assert_eq!(
            iq(&h, to, "get", "<services xmlns='urn:xmpp:extdisco:2'/>"),
            Verdict::Handled
        );
        let sent = h.take_sent();
        assert_eq!(sent[0].from(), from, "to {to:?}");
    }
}

#[test]
fn another_entity_is_forbidden() {
    let h = harness(CONFIG);
    for to in ["romeo@localhost", "example.org", "juliet@localhost/balcony"] {
        let v = iq(
            &h,
            Some(to),
            "get",
            "<services xmlns='urn:xmpp:extdisco:2'/>",
        );
        assert_eq!(condition(v), "forbidden", "{to}");
    }
}

#[test]
fn logs_never_carry_a_password_or_the_secret() {
    let h = harness(CONFIG);
    let list = get(&h, "<services xmlns='urn:xmpp:extdisco:2'/>");
    let password = list
        .children()
        .find_map(|s| s.attr("password"))
        .unwrap()
        .to_owned();
    testing::deny("router");
    iq(&h, None, "get", "<services xmlns='urn:xmpp:extdisco:2'/>");
    let logs = testing::logs();
    assert!(logs.iter().any(|(_, l)| l.contains(JULIET)));
    for (_, line) in &logs {
        assert!(
            !line.contains(&password) && !line.contains(SECRET),
            "{line}"
        );
    }
}

#[test]
fn without_restricted_services_no_credentials_are_issued() {
    let h = harness(
        "[[services]]\ntype = \"stun\"\nhost = \"stun.example.org\"\n\
         [[services]]\ntype = \"turn\"\nhost = \"open.example.org\"\nrestricted = false\n",
    );
    let list = get(&h, "<services xmlns='urn:xmpp:extdisco:2'/>");
    assert_eq!(list.children().count(), 2);
    assert!(list.children().all(|s| s.attr("password").is_none()));
    assert!(testing::logs().is_empty());
}

#[test]
fn init_refuses_a_bad_config_naming_the_key() {
    let mut h = Harness::new(ExternalServices::default());
    let err = h.init("secret = \"x\"\n").unwrap_err();
    assert!(err.starts_with("services: "), "{err}");
    let err = h
        .init(&CONFIG.replace("name = \"Relay\"", "nmae = \"Relay\""))
        .unwrap_err();
    assert!(
        err.starts_with("services[1]: unknown field `nmae`"),
        "{err}"
    );
}

#[test]
fn the_manifest_owns_both_requests_and_stores_nothing() {
    let m = ExternalServices::default().describe();
    let owned: Vec<(&str, &str)> = m
        .iq_handlers
        .iter()
        .map(|q| (q.namespace.as_str(), q.name.as_str()))
        .collect();
    assert_eq!(
        owned,
        [
            ("urn:xmpp:extdisco:2", "services"),
            ("urn:xmpp:extdisco:2", "credentials")
        ]
    );
    assert_eq!(m.features, ["urn:xmpp:extdisco:2"]);
    assert!(m.data.is_empty() && m.subscriptions.is_empty());
}

/// The commented example in `examples/tessera.toml` is a valid config: uncommented, its
/// `[plugins.external-services.config]` section parses.
#[test]
fn the_documented_example_parses() {
    let example = include_str!("../../../examples/tessera.toml");
    let mut section = String::new();
    let mut inside = false;
    for line in example.lines() {
        if line == "# [plugins.external-services.config]" {
            inside = true;
            continue;
        }
        if inside {
            let Some(rest) = line.strip_prefix('#') else {
                break;
            };
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            if rest.starts_with("[plugins.")
                && !rest.starts_with("[plugins.external-services.config")
            {
                break;
            }
            section.push_str(&rest.replace(
                "[[plugins.external-services.config.services]]",
                "[[services]]",
            ));
            section.push('\n');
        }
    }
    assert!(
        section.contains("[[services]]"),
        "the example is in examples/tessera.toml"
    );
    let settings = Settings::parse(&section).unwrap_or_else(|e| panic!("{e}\n{section}"));
    assert!(settings.secret.is_some() && !settings.services.is_empty());
}
