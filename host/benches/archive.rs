//! The archive behind MAM (issue 4), on SQLite and on PostgreSQL (when
//! `TESSERA_TEST_POSTGRES_URL` is set; `eval "$(bash .ci/postgres.sh)"` starts one):
//!
//! - query latency: one user's stream of 100 000 entries (~400-byte stanzas, a handful of
//!   counterparts, one a minute), among other users' entries, then pages of 50 of five kinds
//!   (newest, after a random id, before a random id, `with`-filtered, a time range), p50/p99/max
//!   each; the target is p99 under 10 ms;
//! - write path: 100 000 appends from 64 tasks to 1 000 owners through the write-behind writer:
//!   the latency of `append` itself (what a routed message waits for) and the sustained rate
//!   until everything is committed; the target is 10 000 messages/s without slowing routing.
//!
//! `cargo bench -p tessera --bench archive` (CI only compiles it). Figures go in
//! `docs/benchmarks.md`. Percentiles come from the sorted samples, no statistics crate.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use jid::{BareJid, Jid};
use tessera::storage::{ArchiveQuery, NewEntry, Owner, Storage};

#[path = "../tests/common/mod.rs"]
mod common;
use common::TestDb;

const P: &str = "mam";
const C: &str = "messages";
/// 2023-11-14T22:13:20Z: the first entry's time.
const T0: u64 = 1_700_000_000_000;
/// One entry a minute: 100 000 entries span about 69 days.
const STEP_MS: u64 = 60_000;
const ENTRIES: usize = 100_000;
const PAGE: u32 = 50;
const QUERIES: usize = 1_000;
const APPENDS: usize = 100_000;
const TASKS: usize = 64;
const OWNERS: usize = 1_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        println!("== sqlite ==");
        let db = TestDb::sqlite().await;
        run(&db.storage).await;
        db.finish().await;
        match TestDb::postgres().await {
            Some(db) => {
                println!("== postgres ==");
                run(&db.storage).await;
                db.finish().await;
            }
            None => println!("== postgres: skipped (TESSERA_TEST_POSTGRES_URL is not set) =="),
        }
    });
}

async fn run(s: &Storage) {
    let (ids, counterparts) = fill(s).await;
    queries(s, &ids, &counterparts).await;
    appends(s).await;
}

fn user(name: &str) -> Owner {
    Owner::User(BareJid::new(&format!("{name}@example.com")).expect("valid JID"))
}

/// A ~400-byte chat message as MAM stores it (XEP-0313 keeps the whole stanza).
fn stanza(n: usize, with: &Jid) -> String {
    format!(
        "<message xmlns='jabber:client' from='{with}' to='alice@example.com/phone' \
         type='chat' id='msg-{n:08}'><body>Message number {n}: lorem ipsum dolor sit amet, \
         consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.</body>\
         <active xmlns='http://jabber.org/protocol/chatstates'/>\
         <request xmlns='urn:xmpp:receipts'/>\
         <origin-id xmlns='urn:xmpp:sid:0' id='5f2c8e1a-{n:08}'/></message>"
    )
}

/// Alice's 100 000 entries (and 50 000 of other users, so her stream is not the whole table).
async fn fill(s: &Storage) -> (Vec<String>, Vec<Jid>) {
    let counterparts: Vec<Jid> = ["juliet", "romeo", "mercutio", "tybalt", "nurse"]
        .iter()
        .enumerate()
        .map(|(i, name)| Jid::new(&format!("{name}@example.net/device{i}")).expect("JID"))
        .collect();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(ENTRIES);
    let datas: Vec<String> = (0..ENTRIES)
        .map(|n| stanza(n, &counterparts[n % counterparts.len()]))
        .collect();
    for (n, data) in datas.iter().enumerate() {
        let with = &counterparts[n % counterparts.len()];
        let at = T0 + n as u64 * STEP_MS;
        // Write-behind: each returns at once, the writer batches them.
        let id = s
            .archive_append(P, C, &user("alice"), "messages", Some(with), data, at)
            .await
            .expect("fill");
        ids.push(id);
    }
    for o in 0..50 {
        let owner = user(&format!("other{o}"));
        let entries: Vec<NewEntry<'_>> = datas[..1000]
            .iter()
            .enumerate()
            .map(|(n, data)| NewEntry {
                with: Some(&counterparts[n % counterparts.len()]),
                data,
            })
            .collect();
        s.archive_append_many(P, C, &owner, "messages", &entries, T0)
            .await
            .expect("fill others");
    }
    s.flush_archive().await;
    println!(
        "fill: {ENTRIES} entries for one user + 50 000 for 50 others in {:.1?}",
        started.elapsed()
    );
    (ids, counterparts)
}

/// A small deterministic generator (xorshift64*), so runs query the same pages.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Draws one query of a kind.
type MakeQuery<'a> = dyn Fn(&mut Rng) -> ArchiveQuery + 'a;

async fn queries(s: &Storage, ids: &[String], counterparts: &[Jid]) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let page = |reverse| ArchiveQuery {
        limit: PAGE,
        reverse,
        ..ArchiveQuery::default()
    };
    let kinds: [(&str, &MakeQuery<'_>); 5] = [
        ("newest page (reverse)", &|_| page(true)),
        ("after a random id", &|r| ArchiveQuery {
            after_id: Some(ids[r.below(ids.len())].clone()),
            ..page(false)
        }),
        ("before a random id (reverse)", &|r| ArchiveQuery {
            before_id: Some(ids[r.below(ids.len())].clone()),
            ..page(true)
        }),
        ("with a counterpart, before a random id", &|r| {
            ArchiveQuery {
                with: Some(Jid::from(
                    counterparts[r.below(counterparts.len())].to_bare(),
                )),
                before_id: Some(ids[r.below(ids.len())].clone()),
                ..page(true)
            }
        }),
        ("a one-day time range", &|r| {
            let start = T0 + r.below(ENTRIES) as u64 * STEP_MS;
            ArchiveQuery {
                start: Some(start),
                end: Some(start + 86_400_000),
                ..page(false)
            }
        }),
    ];
    println!("pages of {PAGE} from a stream of {ENTRIES} ({QUERIES} queries each):");
    for (name, make) in kinds {
        let mut samples = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let q = make(&mut rng);
            let started = Instant::now();
            let result = s
                .archive_query(P, C, &user("alice"), "messages", &q)
                .await
                .expect("query");
            samples.push(started.elapsed());
            assert!(result.entries.len() <= PAGE as usize);
        }
        report(name, &mut samples);
    }
}

async fn appends(s: &Storage) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let s = s.clone();
        tasks.spawn(async move {
            let with = Jid::new("juliet@example.net/balcony").expect("JID");
            let data = stanza(t, &with);
            let mut samples = Vec::with_capacity(APPENDS / TASKS);
            for n in 0..APPENDS / TASKS {
                let owner = user(&format!("owner{}", (t * 7919 + n) % OWNERS));
                let at = T0 + n as u64;
                let call = Instant::now();
                s.archive_append_capped(
                    P,
                    C,
                    &owner,
                    "messages",
                    Some(100_000),
                    Some(&with),
                    &data,
                    at,
                )
                .await
                .expect("append");
                samples.push(call.elapsed());
                // A routed message does other work between appends; yield like one would.
                tokio::task::yield_now().await;
            }
            samples
        });
    }
    let mut samples: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    let queued = started.elapsed();
    s.flush_archive().await;
    let committed = started.elapsed();
    let n = samples.len();
    println!(
        "appends: {n} from {TASKS} tasks to {OWNERS} owners: all returned in {queued:.2?}, \
         all committed in {committed:.2?}: {:.0} appends/s sustained",
        n as f64 / committed.as_secs_f64()
    );
    report("append call latency", &mut samples);
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "  {name:<40} p50 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}
