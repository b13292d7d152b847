//! Issue 4: "message throughput with mam+offline loaded stays within 80% of throughput without
//! them" — archive writes must stay off the routing path.
//!
//! `cargo bench -p tessera-tests --bench throughput`. Starts the real server three times on
//! loopback (in this process, sharing its cores with the load: the figure that matters is the
//! ratio): with no plugins; with the built-in `offline` and `mam` plugins at MAM's shipped default
//! (`never`: archiving is opt-in); and with MAM archiving every message (`default = "always"`, so
//! each message is two archive writes, the sender's copy and the recipient's). It logs in `PAIRS`
//! pairs of users and runs 1:1 chat at full speed, then at 10 000 messages/s offered. Prints a
//! Markdown table for `docs/benchmarks.md`. `THROUGHPUT_ONLY=always` (any part of a row's name)
//! runs the matching rows alone, to profile one of them.

#![allow(clippy::print_stdout, reason = "a benchmark's output is its report")]

use std::time::Duration;

use anyhow::Context as _;
use tessera_tests::TestServer;
use tessera_tests::load::{self, Report, Session, Target, Throughput};

/// Sender/receiver pairs: enough concurrent sessions to keep both cores busy.
const PAIRS: usize = 40;
/// The archive rate: messages per second offered in the fixed-rate run.
const OFFERED: u64 = 10_000;
const PASSWORD: &str = "load-test password";
/// A load test measures the server, not its flood protection: the per-session stanza rate limit
/// is off (every sender here sends thousands a second).
const NO_RATE_LIMIT: &str = "[limits]\nstanza_rate = 0\n";

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
        let configs = [
            ("none", "[plugins]\n".to_owned()),
            (
                "offline + mam, shipped defaults (archiving opt-in: nobody opted in)",
                with_plugins("never").await?,
            ),
            (
                "offline + mam archiving every message (2 archive writes each)",
                with_plugins("always").await?,
            ),
        ];
        let only = std::env::var("THROUGHPUT_ONLY").unwrap_or_default();
        let mut rows = Vec::new();
        for (name, toml) in configs.iter().filter(|(name, _)| name.contains(&*only)) {
            rows.push((*name, measure(toml, run).await.with_context(|| name.to_string())?));
        }
        println!(
            "| plugins | peak messages/s | p50 ms | p99 ms | at {OFFERED}/s offered: delivered/s | p50 ms | p99 ms |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (name, (peak, fixed)) in &rows {
            println!(
                "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
                peak.per_second(),
                ms(peak.latency.p50),
                ms(peak.latency.p99),
                fixed.per_second(),
                ms(fixed.latency.p50),
                ms(fixed.latency.p99),
            );
        }
        let Some(((_, base), rest)) = rows.split_first().filter(|_| only.is_empty()) else {
            return anyhow::Ok(());
        };
        for (name, (peak, fixed)) in rest {
            println!(
                "\n{name}: {:.0}% of the peak throughput without plugins, {:.0}% of the delivered rate at {OFFERED}/s (target: at least 80%)",
                100.0 * peak.per_second() / base.0.per_second(),
                100.0 * fixed.per_second() / base.1.per_second(),
            );
        }
        anyhow::Ok(())
    })
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The built-in offline and MAM plugins, granted what they import plus `router.impersonate`
/// (they send as users), with MAM's default preference `default`.
async fn with_plugins(default: &str) -> anyhow::Result<String> {
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
    toml.push_str(&format!("[plugins.mam.config]\ndefault = \"{default}\"\n"));
    Ok(toml)
}

/// Peak throughput, then a run at [`OFFERED`] messages per second.
async fn measure(plugins: &str, run: Throughput) -> anyhow::Result<(Report, Report)> {
    let server = TestServer::with_config(&format!("{NO_RATE_LIMIT}{plugins}")).await?;
    let target = Target {
        addr: server.c2s_addr(),
        domain: server.domain().to_owned(),
        tls: server.ca.client_config(),
    };
    for i in 0..PAIRS * 2 {
        server.add_user(&format!("u{i}"), PASSWORD).await?;
    }
    let peak = load::throughput(login_pairs(&target).await?, run).await?;
    let fixed = Throughput {
        rate: Some(OFFERED),
        ..run
    };
    let fixed = load::throughput(login_pairs(&target).await?, fixed).await?;
    server.shutdown().await?;
    Ok((peak, fixed))
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
