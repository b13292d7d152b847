//! Issue 7: "a room with 200 occupants: messages fanned out per second and p99 delivery latency".
//!
//! `cargo bench -p tessera-tests --bench muc_fanout`. Starts the real server on loopback with its
//! built-in defaults (the `muc` plugin among them; in this process, sharing its cores with the
//! load), logs in `OCCUPANTS` users, joins them all to one room (the first creates it as an
//! instant room), then has `SENDERS` of them post groupchat messages: at full speed (each
//! sender at most `WINDOW` messages in flight), then at `OFFERED` messages per second. Every
//! message goes to every occupant, the sender included (XEP-0045 §7.4). Prints a Markdown table
//! for `docs/benchmarks.md`. `OCCUPANTS=…` overrides the room's size.

#![allow(clippy::print_stdout, reason = "a benchmark's output is its report")]

use std::time::Duration;

use tessera_tests::TestServer;
use tessera_tests::load::muc::{FanOut, RoomRun, room_fanout};
use tessera_tests::load::{Session, Target};

const OCCUPANTS: usize = 200;
const SENDERS: usize = 4;
const WINDOW: usize = 4;
/// Messages per second posted in the fixed-rate run: 200 occupants make it 10 000 deliveries/s.
const OFFERED: u64 = 50;
const PASSWORD: &str = "load-test password";
/// A load test measures the server, not its flood protection.
const NO_RATE_LIMIT: &str = "[limits]\nstanza_rate = 0\n";

fn main() -> anyhow::Result<()> {
    let occupants: usize = std::env::var("OCCUPANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OCCUPANTS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = TestServer::with_config(NO_RATE_LIMIT).await?;
        let target = Target {
            addr: server.c2s_addr(),
            domain: server.domain().to_owned(),
            tls: server.ca.client_config(),
        };
        for i in 0..occupants {
            server.add_user(&format!("u{i}"), PASSWORD).await?;
        }
        let room = format!("bench@conference.{}", server.domain());
        let run = RoomRun {
            senders: SENDERS,
            window: WINDOW,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(8),
            ..RoomRun::default()
        };
        let peak = room_fanout(&room, login(&target, occupants).await?, run).await?;
        let fixed = RoomRun {
            rate: Some(OFFERED),
            ..run
        };
        let room = format!("bench2@conference.{}", server.domain());
        let fixed = room_fanout(&room, login(&target, occupants).await?, fixed).await?;
        server.shutdown().await?;
        println!(
            "| run | occupants | messages posted/s | deliveries/s | p50 ms | p99 ms | max ms |"
        );
        println!("|---|---|---|---|---|---|---|");
        row("peak", &peak);
        row(&format!("{OFFERED} messages/s offered"), &fixed);
        anyhow::Ok(())
    })
}

fn row(name: &str, r: &FanOut) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "| {name} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
        r.occupants,
        r.posted_per_second(),
        r.deliveries.per_second(),
        ms(r.deliveries.latency.p50),
        ms(r.deliveries.latency.p99),
        ms(r.deliveries.latency.max),
    );
}

async fn login(target: &Target, n: usize) -> anyhow::Result<Vec<Session>> {
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        sessions.push(Session::login(target, &format!("u{i}"), PASSWORD).await?);
    }
    Ok(sessions)
}
