//! The load generator's core: many authenticated sessions and 1:1 message throughput with
//! receiver-measured latency, against any XMPP server reachable on loopback.
//!
//! A session logs in the way a client does (STARTTLS, SCRAM, bind, roster get, initial presence:
//! RFC 6120 §5–7, RFC 6121 §2.1.3 and §4.2) through [`RawConn`], then is split into a reader and
//! a writer. Throughput runs over online pairs: each sender keeps at most [`Throughput::window`]
//! messages in flight to its partner (so a fast sender measures the server, not its own
//! queue), and the receiver stamps each arrival against the send time carried in the message id.
//! Everything is bounded: a run lasts `warmup + duration` and every wait has a timeout.
//!
//! Used by the benchmarks in `tests/benches/` (issue 4: throughput with and without the MAM and
//! offline plugins) and by the side-by-side comparison with other servers (issue 5, through the
//! `loadgen` binary, `tests/src/bin/loadgen.rs`).
//!
//! - [`login`]: idle sessions held at once ([`sessions`]) and full logins per second
//!   ([`login_rate`]), over registered [`Accounts`].
//! - [`muc`]: one room's fan-out to many occupants (issue 7), [`muc::room_fanout`].
//! - [`scram`]: the SCRAM client they log in with, caching salted passwords ([`ScramCache`]) so
//!   the client's PBKDF2 does not count against the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::client::TlsStream;

use crate::RawConn;
use crate::raw::closes_element;

pub mod login;
pub mod muc;
pub mod scram;

pub use login::{Accounts, Held, Logins, login_rate, sessions, warm};
pub use scram::{Hash, ScramCache};

/// A server to load: its STARTTLS address, its domain and a TLS config that trusts it.
#[derive(Clone)]
pub struct Target {
    /// The STARTTLS listener.
    pub addr: SocketAddr,
    /// The XMPP domain (JIDs are `<user>@<domain>`).
    pub domain: String,
    /// Trusts the server's certificate.
    pub tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// One logged-in, available session, split for concurrent reading and writing.
#[derive(Debug)]
pub struct Session {
    /// The full JID the server bound.
    pub jid: String,
    reader: ReadHalf<TlsStream<TcpStream>>,
    writer: WriteHalf<TlsStream<TcpStream>>,
    /// Read but not yet consumed.
    pending: Vec<u8>,
}

impl Session {
    /// Logs in as a client would: STARTTLS, SCRAM, bind, roster get, initial presence.
    ///
    /// # Errors
    /// Any step fails or times out.
    pub async fn login(target: &Target, user: &str, password: &str) -> anyhow::Result<Self> {
        let (conn, jid) =
            RawConn::login(target.addr, target.tls.clone(), user, password, "load").await?;
        Self::available(conn, jid).await
    }

    /// The rest of a client's login on a bound connection: roster get, initial presence (RFC
    /// 6121 §2.1.3, §4.2); then the connection is split into a session.
    pub(crate) async fn available(mut conn: RawConn, jid: String) -> anyhow::Result<Self> {
        conn.send("<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>")
            .await?;
        conn.read_until("roster result", |t| {
            t.contains("roster1") && closes_element(t, "iq")
        })
        .await?;
        conn.send("<presence/>").await?;
        let (tls, pending) = conn.into_tls()?;
        let (reader, writer) = tokio::io::split(tls);
        Ok(Self {
            jid,
            reader,
            writer,
            pending,
        })
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
}

impl Latency {
    /// Percentiles of `samples` (sorted in place); all zero for none.
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of all at or below it.
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// A throughput run's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Messages each sender may have in flight to its partner.
    pub window: usize,
    /// Sent and received but not counted, so sessions, caches and the allocator settle first.
    pub warmup: Duration,
    /// Counted.
    pub duration: Duration,
    /// Messages per second over all pairs; `None` sends as fast as the window allows.
    pub rate: Option<u64>,
    /// Bytes of body text per message.
    pub body: usize,
}

impl Default for Throughput {
    fn default() -> Self {
        Self {
            window: 32,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: None,
            body: 64,
        }
    }
}

/// What a throughput run measured over its counted period.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Messages received in the counted period.
    pub received: u64,
    /// The counted period's length.
    pub elapsed: Duration,
    /// Delivery latency, sender's write to receiver's read.
    pub latency: Latency,
}

impl Report {
    /// Messages delivered per second.
    pub fn per_second(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64()
    }
}

/// State one pair's sender and receiver share.
struct Pair {
    /// Free slots in the window.
    window: Semaphore,
}

/// Runs 1:1 chat messages over `pairs` (sender, receiver), both already logged in; every pair
/// is independent. Returns what the receivers saw during the counted period.
///
/// # Errors
/// A session fails, or a receiver waits longer than 10 s for a message it is owed.
pub async fn throughput(pairs: Vec<(Session, Session)>, run: Throughput) -> anyhow::Result<Report> {
    if pairs.is_empty() {
        bail!("no pairs to load");
    }
    let start = Instant::now();
    let count_from = start + run.warmup;
    let stop_at = count_from + run.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    // Each sender's share of the rate, as the gap between its messages.
    let gap = run
        .rate
        .map(|r| Duration::from_secs_f64(pairs.len() as f64 / r.max(1) as f64));
    let body = "x".repeat(run.body);
    let mut receivers = Vec::with_capacity(pairs.len());
    let mut senders = Vec::with_capacity(pairs.len());
    for (from, to) in pairs {
        let pair = Arc::new(Pair {
            window: Semaphore::new(run.window),
        });
        let target = to.jid.clone();
        receivers.push(tokio::spawn(receive(
            to,
            pair.clone(),
            start,
            count_from,
            stop_at,
            stop.clone(),
            received.clone(),
        )));
        senders.push(tokio::spawn(send(
            from,
            target,
            body.clone(),
            pair,
            start,
            gap,
            stop.clone(),
        )));
    }
    tokio::time::sleep_until((stop_at).into()).await;
    stop.store(true, Ordering::Release);
    let mut samples = Vec::new();
    for r in receivers {
        samples.extend(r.await.context("receiver task")??);
    }
    for s in senders {
        s.await.context("sender task")??;
    }
    Ok(Report {
        received: received.load(Ordering::Acquire),
        elapsed: run.duration,
        latency: Latency::of(&mut samples),
    })
}

/// Sends messages to `to` until told to stop, each id carrying its send time in µs since `start`.
async fn send(
    mut session: Session,
    to: String,
    body: String,
    pair: Arc<Pair>,
    start: Instant,
    gap: Option<Duration>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut next = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        // A slot frees when the receiver reads one of ours; a stalled server stops us here.
        let permit = tokio::time::timeout(Duration::from_millis(200), pair.window.acquire()).await;
        let Ok(permit) = permit else { continue };
        permit.context("window closed")?.forget();
        if let Some(gap) = gap {
            next += gap;
            tokio::time::sleep_until(next.into()).await;
        }
        let sent = start.elapsed().as_micros();
        n += 1;
        let stanza = format!(
            "<message type='chat' to='{to}' id='t{sent}-{n}'><body>{body}</body></message>"
        );
        session.writer.write_all(stanza.as_bytes()).await?;
    }
    session.writer.write_all(b"</stream:stream>").await?;
    session.writer.flush().await?;
    Ok(())
}

/// Reads the partner's messages, frees window slots and records latencies of those that arrive
/// in the counted period. Returns the latencies.
#[allow(clippy::too_many_arguments, reason = "one task's whole state")]
async fn receive(
    mut session: Session,
    pair: Arc<Pair>,
    start: Instant,
    count_from: Instant,
    stop_at: Instant,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<Vec<u64>> {
    let mut latencies = Vec::new();
    let mut buf = std::mem::take(&mut session.pending);
    read_messages(
        &session.jid,
        &mut session.reader,
        &mut buf,
        &stop,
        |stanza| {
            let Some(sent) = sent_micros(stanza) else {
                return;
            };
            pair.window.add_permits(1);
            let now = Instant::now();
            if now >= count_from && now < stop_at {
                received.fetch_add(1, Ordering::Relaxed);
                let now = u64::try_from((now - start).as_micros()).unwrap_or(u64::MAX);
                latencies.push(now.saturating_sub(sent));
            }
        },
    )
    .await?;
    Ok(latencies)
}

/// Reads whole `<message/>` stanzas (what precedes `</message>`) until `stop`, handing each to
/// `on_message`; unconsumed bytes stay in `buf`. A bounced message (type `error`) fails the run.
async fn read_messages(
    jid: &str,
    reader: &mut ReadHalf<TlsStream<TcpStream>>,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
    mut on_message: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Consume every whole message in the buffer.
        let mut consumed = 0;
        while let Some(end) = find(&buf[consumed..], b"</message>") {
            let stanza = &buf[consumed..consumed + end];
            consumed += end + b"</message>".len();
            if find(stanza, b"type='error'").is_some() || find(stanza, b"type=\"error\"").is_some()
            {
                bail!("{jid}: a message bounced");
            }
            on_message(stanza);
        }
        buf.drain(..consumed);
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let read = tokio::time::timeout(Duration::from_millis(200), reader.read(&mut chunk));
        match read.await {
            Err(_) => {}
            Ok(Ok(0)) => bail!("{jid}: server closed the stream"),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e).context("read"),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The send time in an id `t<micros>-<n>`, quoted either way.
fn sent_micros(stanza: &[u8]) -> Option<u64> {
    let at = find(stanza, b"id=")? + 3;
    let rest = stanza.get(at + 1..)?;
    let rest = rest.strip_prefix(b"t")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            Latency::of(&mut s),
            Latency {
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            }
        );
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn send_time_comes_from_the_id_in_either_quote() {
        assert_eq!(
            sent_micros(b"<message to='a' id='t1234-5' type='chat'><body>x</body>"),
            Some(1234)
        );
        assert_eq!(sent_micros(b"<message id=\"t77-1\">"), Some(77));
        assert_eq!(sent_micros(b"<message id='other'>"), None);
    }
}
