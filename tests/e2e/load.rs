//! The load generator against the real server, small and short: what the throughput benchmark
//! (`tests/benches/throughput.rs`) and the issue-5 comparison build on must itself be right.

use std::time::Duration;

use tessera_tests::TestServer;
use tessera_tests::load::{self, Session, Target, Throughput};

/// Two pairs, one second: every counted message was delivered, latencies are ordered and
/// plausible, and a rate limit holds.
#[tokio::test]
async fn load_generator_measures_throughput_and_latency() -> anyhow::Result<()> {
    // The stanza rate limit is off: this measures the server, not its flood protection.
    let server = TestServer::with_config("[plugins]\n[limits]\nstanza_rate = 0\n").await?;
    let target = Target {
        addr: server.c2s_addr(),
        domain: server.domain().to_owned(),
        tls: server.ca.client_config(),
    };
    let mut pairs = Vec::new();
    for i in 0..2 {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        server.add_user(&a, "pw").await?;
        server.add_user(&b, "pw").await?;
        pairs.push((
            Session::login(&target, &a, "pw").await?,
            Session::login(&target, &b, "pw").await?,
        ));
    }
    let run = Throughput {
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
        rate: Some(200),
        ..Throughput::default()
    };
    let report = load::throughput(pairs, run).await?;
    // 200/s for one second, give or take the edges of the counted period.
    assert!(
        (150..=230).contains(&report.received),
        "received {} at 200/s for 1 s",
        report.received
    );
    let l = report.latency;
    assert!(
        l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
    assert!(l.p50 < 1_000_000, "median latency {} µs on loopback", l.p50);
    server.shutdown().await
}
