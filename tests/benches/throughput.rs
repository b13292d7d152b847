//! Issue 4: "message throughput with mam+offline loaded stays within 80% of throughput without
//! them" — archive writes must stay off the routing path.
//!
//! `cargo bench -p tessera-tests --bench throughput`. Starts the real server twice on loopback (in
//! this process, sharing its cores with the load: the figure that matters is the ratio), once
//! with no plugins and once with the built-in `offline` and `mam` plugins (MAM archiving every
//! message: `default = "always"`, so each message is two archive writes, the sender's copy and
//! the recipient's), logs in `PAIRS` pairs of users and runs 1:1 chat at full speed, then at half
//! the peak for latency. Prints a Markdown table for `docs/benchmarks.md`.

#![allow(clippy::print_stdout, reason = "a benchmark's output is its report")]

use std::time::Duration;

use anyhow::Context as _;
use tessera_tests::TestServer;
use tessera_tests::load::{self, Report, Session, Target, Throughput};

/// Sender/receiver pairs: enough concurrent sessions to keep both cores busy.
const PAIRS: usize = 40;
const PASSWORD: &str = "load-test password";

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let run = Throughput {
            duration: Duration::from_secs(8),
            warmup: Duration::from_secs(2),
            ..Throughput::default()
        };
        let without = measure("[plugins]\n", run)
            .await
            .context("without plugins")?;
        let with = measure(&with_plugins().await?, run)
            .await
            .context("with offline and mam")?;
        println!("| plugins | messages/s | p50 ms | p99 ms | at half peak: p50 ms | p99 ms |");
        println!("|---|---|---|---|---|---|");
        for (name, (peak, half)) in [("none", &without), ("offline + mam (archiving all)", &with)] {
            println!(
                "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                peak.per_second(),
                ms(peak.latency.p50),
                ms(peak.latency.p99),
                ms(half.latency.p50),
                ms(half.latency.p99),
            );
        }
        println!(
            "\nwith/without: {:.0}% of the throughput (target: at least 80%)",
            100.0 * with.0.per_second() / without.0.per_second()
        );
        anyhow::Ok(())
    })
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The built-in offline and MAM plugins, granted what they import plus `router.impersonate`
/// (they send as users), MAM archiving everything.
async fn with_plugins() -> anyhow::Result<String> {
    let mut toml = String::new();
    for name in ["offline", "mam"] {
        let imports = tessera::plugins::inspect_builtin(name)
            .await
            .with_context(|| format!("built-in {name}"))?
            .capabilities;
        let grants: Vec<String> = imports
            .iter()
            .map(|c| format!("{c:?}"))
            .chain(["\"router.impersonate\"".to_owned()])
            .collect();
        toml.push_str(&format!(
            "[plugins.{name}]\ngrants = [{}]\n",
            grants.join(", ")
        ));
    }
    toml.push_str("[plugins.mam.config]\ndefault = \"always\"\n");
    Ok(toml)
}

/// Peak throughput, then a run at half of it for latency.
async fn measure(plugins: &str, run: Throughput) -> anyhow::Result<(Report, Report)> {
    let server = TestServer::with_config(plugins).await?;
    let target = Target {
        addr: server.c2s_addr(),
        domain: server.domain().to_owned(),
        tls: server.ca.client_config(),
    };
    for i in 0..PAIRS * 2 {
        server.add_user(&format!("u{i}"), PASSWORD).await?;
    }
    let peak = load::throughput(login_pairs(&target).await?, run).await?;
    let half = Throughput {
        rate: Some((peak.per_second() / 2.0) as u64),
        ..run
    };
    let half = load::throughput(login_pairs(&target).await?, half).await?;
    server.shutdown().await?;
    Ok((peak, half))
}

async fn login_pairs(target: &Target) -> anyhow::Result<Vec<(Session, Session)>> {
    let mut pairs = Vec::with_capacity(PAIRS);
    for i in 0..PAIRS {
        let from = Session::login(target, &format!("u{}", 2 * i), PASSWORD).await?;
        let to = Session::login(target, &format!("u{}", 2 * i + 1), PASSWORD).await?;
        pairs.push((from, to));
    }
    Ok(pairs)
}
