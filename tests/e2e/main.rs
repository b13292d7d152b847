//! Tessera's end-to-end suites: the real server, real third-party clients (`tokio-xmpp`, and
//! `slixmpp` through `tests/py/`), and raw sockets for hostile input. One binary, one module per
//! area. Every test starts its own server on `127.0.0.1:0`, so they run in parallel.
//!
//! Tests use `#[tokio::test]`'s current-thread runtime: with two worker threads, `tokio-xmpp`
//! 6.0's internal client worker occasionally stalled for the rest of a test after being handed a
//! stanza (about one failing test per twenty suite runs; the server's trace log showed every
//! stanza written on time). On one thread that never happened in 60+ runs under heavy load, and
//! nothing deadlocks, which also shows nothing in the server or harness blocks a thread.
//!
//! - `auth`: TLS is required before SASL; SCRAM-SHA-1, SCRAM-SHA-256 and SCRAM-*-PLUS logins;
//!   refused and rate-limited logins.
//! - `im`: subscriptions, presence, messages, roster pushes, disconnects (RFC 6121).
//! - `abuse`: malformed XML, oversized stanzas, DTDs and entities (RFC 6120 §11).
//! - `sasl2`: XEP-0388 SASL2 with XEP-0386 Bind 2: inline stream management, carbons, client
//!   state and resumption; failures and the fallback to RFC 6120 binding.
//! - `services`: direct TLS (XEP-0368), ping and disco#info to the server, graceful shutdown.
//! - `session`: idle pings and timeouts, resource conflict policies, session limits, post-SASL
//!   features and the legacy session, the server's time/version/unknown IQs, account removal.
//! - `roster`: roster versioning, pre-approval, probes and directed presence, message routing by
//!   priority and bounces (RFC 6121 §2.6, §3.4, §4, §8.5).
//! - `load`: the load generator (`tessera_tests::load`) measures a small, rate-limited run.
//! - `loadgen`: its login paths (held sessions, login rate) used by the issue-5 comparison.
//! - `offline`, `carbons`, `mam`: the XEP-0160, XEP-0280 and XEP-0313 plugins (issue 4), with
//!   tokio-xmpp and slixmpp.
//! - `private`, `external_services`, `blocking`: the XEP-0049, XEP-0215 and XEP-0191 plugins
//!   (issue 6).
//! - `muc`: the XEP-0045 plugin: creating and configuring rooms, entering (presence order and
//!   status codes), groupchat, subject, nickname changes, private messages, kick, ban, password
//!   and members-only rooms, an occupant whose client vanished, disco, destruction (issue 7).
//! - `plugins`: the plugin platform with the `echo-bot` example.
//! - `caps`: XEP-0115 caps of client sessions, verified by the server and read by a plugin
//!   through the 0.1.2 `caps` interface (the `capsy` test fixture).
//! - `hardening`: per-IP connection limits, the stanza rate, slowloris and handshake deadlines,
//!   a slow reader closed (issue 5).
//! - `csi`: XEP-0352 client state indication: an inactive client is spared presence floods.
//! - `sm`: XEP-0198 stream management: acks, resumption (raw and with tokio-xmpp's resuming
//!   client through a `FlakyLink`), unacknowledged messages of a session never resumed (issue 6).
//! - `support`: stanza builders and predicates shared by the suites.
//! - `vcard`: the XEP-0054 plugin: one's own vCard, another user's, the forbidden set, the size
//!   cap, removal with the account.
//! - `pep`: the XEP-0163 plugin: notifications, access models, publish-options, OMEMO-style
//!   nodes, max_items, retraction, deletion, the last item at login, XEP-0402/XEP-0048
//!   bookmarks both ways, disco, removal with the account.

mod abuse;
mod auth;
mod blocking;
mod caps;
mod carbons;
mod csi;
mod external_services;
mod hardening;
mod im;
mod load;
mod loadgen;
mod mam;
mod muc;
mod offline;
mod pep;
mod plugins;
mod private;
mod roster;
mod sasl2;
mod services;
mod session;
mod sm;
mod support;
mod vcard;

/// Every plugin the build produces has a suite here, checked at compile time (STYLE 36,
/// wasmtime's `foreach_*!`): `foreach_plugin!` names each plugin crate, and a crate with no arm
/// below (a new directory under `plugins/`) fails the build with "no rules expected" its name.
macro_rules! has_e2e_suite {
    (echo_bot, $path:ident) => {
        has_e2e_suite!(@suite plugins);
    };
    (plugin_blocking, $path:ident) => {
        has_e2e_suite!(@suite blocking);
    };
    (plugin_carbons, $path:ident) => {
        has_e2e_suite!(@suite carbons);
    };
    (plugin_external_services, $path:ident) => {
        has_e2e_suite!(@suite external_services);
    };
    (plugin_mam, $path:ident) => {
        has_e2e_suite!(@suite mam);
    };
    (plugin_muc, $path:ident) => {
        has_e2e_suite!(@suite muc);
    };
    (plugin_offline, $path:ident) => {
        has_e2e_suite!(@suite offline);
    };
    (plugin_pep, $path:ident) => {
        has_e2e_suite!(@suite pep);
    };
    (plugin_private, $path:ident) => {
        has_e2e_suite!(@suite private);
    };
    (plugin_vcard, $path:ident) => {
        has_e2e_suite!(@suite vcard);
    };
    (@suite $module:ident) => {
        #[allow(unused_imports, reason = "only asserts that the suite's module exists")]
        use self::$module as _;
    };
}
plugins_build::foreach_plugin!(has_e2e_suite);
