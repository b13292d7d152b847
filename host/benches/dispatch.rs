//! Plugin costs: what a routed message pays for the `incoming` hook with 0, 1 and 5 subscribed
//! plugins (each a real component that passes: `tests/plugins/pass`), and server start-up with
//! every built-in plugin, its compiled code taken from the on-disk cache.
//!
//! `cargo bench -p tessera --bench dispatch` (CI only compiles it). Figures go in
//! `docs/benchmarks.md`.

use std::path::Path;

use divan::{Bencher, black_box};
use minidom::Element;
use tessera::Server;

#[path = "../tests/common/mod.rs"]
mod common;
use common::plugin_server::{config, fixture};

fn main() {
    divan::main();
}

/// A current-thread runtime: `block_on` then costs least, and what is measured is the hook.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A server (bound, not serving: the hook needs its state, not its sockets) with `n` copies of
/// the `pass` plugin, each subscribed to incoming messages.
fn server_with_passes(rt: &tokio::runtime::Runtime, dir: &Path, n: usize) -> Server {
    let plugins: String = if n == 0 {
        "[plugins]\n".to_owned()
    } else {
        (0..n)
            .map(|i| format!("[plugins.pass{i}]\npath = {:?}\n", fixture("pass")))
            .collect()
    };
    let config = config(dir, &plugins).expect("config");
    rt.block_on(Server::bind(config)).expect("server binds")
}

/// A typical chat message as the stream layer hands it on (with its stamped `from`).
fn chat_message() -> Element {
    "<message xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' type='chat' \
     id='a3f9c2e1'><body>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</body>\
     <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        .parse()
        .expect("valid message")
}

/// What a message pays when no plugin subscribed: the router's subscription check, nothing else.
#[divan::bench]
fn no_subscriber_check(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_passes(&rt, dir.path(), 0);
    let message = chat_message();
    bencher.bench_local(|| tessera::bench::incoming_subscribed(&server, black_box(&message)));
}

/// The harness's own share of `incoming_hook`: entering the runtime and dropping the message.
#[divan::bench]
fn harness_baseline(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let message = chat_message();
    bencher
        .with_inputs(|| message.clone())
        .bench_local_values(|m| rt.block_on(async { drop(black_box(m)) }));
}

/// The part of `incoming_hook` paid once per stanza, however many plugins are called: the
/// call context and the WIT stanza record (header fields, the stanza serialised as a document).
#[divan::bench(sample_count = 1000)]
fn stanza_record(bencher: Bencher<'_, '_>) {
    let bob: jid::BareJid = "bob@localhost".parse().expect("jid");
    let message = chat_message();
    bencher.bench_local(|| tessera::bench::stanza_record(&bob, black_box(&message)));
}

/// The `incoming` hook over one message, by number of subscribed plugins. Per plugin call,
/// `docs/benchmarks.md` quotes the marginal cost, (5 − 1) / 4, and the first plugin's, 1 − 0.
/// 1000 samples: the median and the fastest are both stable at that count on a shared VM.
#[divan::bench(args = [0, 1, 5], sample_count = 1000)]
fn incoming_hook(bencher: Bencher<'_, '_>, plugins: usize) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_passes(&rt, dir.path(), plugins);
    bench_incoming(bencher, &rt, &server);
}

/// Runs the `incoming` hook for bob over [`chat_message`], after a warm-up in which every pooled
/// instance comes to exist and runs once.
fn bench_incoming(bencher: Bencher<'_, '_>, rt: &tokio::runtime::Runtime, server: &Server) {
    let bob: jid::BareJid = "bob@localhost".parse().expect("jid");
    let message = chat_message();
    for _ in 0..16 {
        assert!(rt.block_on(tessera::bench::incoming_hook(server, &bob, message.clone())));
    }
    bencher
        .with_inputs(|| message.clone())
        .bench_local_values(|m| {
            black_box(rt.block_on(tessera::bench::incoming_hook(server, &bob, m)))
        });
}

/// The built-in `mam` plugin's `incoming` hook over one chat message, by the recipient's
/// archiving preference (the operator's default here, as nobody set their own): `never` is what
/// every message pays on a server with the shipped defaults (a cached `kv` read, no parsing);
/// `always` parses the message, appends it to the write-behind archive and adds a stanza-id.
#[divan::bench(args = ["never", "always"], sample_count = 1000)]
fn mam_incoming(bencher: Bencher<'_, '_>, default: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let grants = rt
        .block_on(tessera::plugins::inspect_builtin("mam"))
        .expect("built-in mam")
        .capabilities;
    let plugins = format!(
        "[plugins.mam]\ngrants = {grants:?}\n[plugins.mam.config]\ndefault = \"{default}\"\n"
    );
    let config = config(dir.path(), &plugins).expect("config");
    let server = rt.block_on(Server::bind(config)).expect("server binds");
    bench_incoming(bencher, &rt, &server);
}

/// `Server::bind` with every built-in plugin loaded (compiled code from the cache, warmed by a
/// first start), the database opened and migrated, the certificate loaded: what an operator
/// waits for at a restart.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn startup_with_all_builtins(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Each built-in granted exactly what it imports, as an operator would.
    let plugins: String = tessera::plugins::builtin::names()
        .map(|name| {
            let imports = rt
                .block_on(tessera::plugins::inspect_builtin(name))
                .expect("inspect")
                .capabilities;
            let grants: Vec<String> = imports.iter().map(|c| format!("{c:?}")).collect();
            format!("[plugins.{name}]\ngrants = [{}]\n", grants.join(", "))
        })
        .collect();
    let config = config(dir.path(), &plugins).expect("config");
    drop(
        rt.block_on(Server::bind(config.clone()))
            .expect("first start fills the cache"),
    );
    bencher.bench_local(|| {
        let server = rt
            .block_on(Server::bind(config.clone()))
            .expect("server binds");
        black_box(server.plugins().names().len())
    });
}
