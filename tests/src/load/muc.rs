//! Issue 7's benchmark: one multi-user chat room (XEP-0045) with many occupants; some of them post
//! groupchat messages, and the room fans each out to every occupant. Measured at the occupants:
//! deliveries per second (one message to 200 occupants is 200 deliveries) and the latency of each
//! delivery, from the sender's write to the occupant's read.
//!
//! Every occupant joins as a client does (§7.2: presence to `room/nick` with the MUC `<x/>`, then
//! its own presence back, status 110); the first creates the room and accepts the default
//! configuration (§10.1.2, an instant room). Each sender keeps at most `window` of its messages in
//! flight, a slot freed when the room reflects the message back to it (§7.4: the sender gets its
//! own message too), so a fast sender measures the server. With `rate`, messages are offered at
//! that rate (over all senders) instead. Everything is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Semaphore;

use super::{Latency, Report, Session, find, read_messages, sent_micros};

/// A fan-out run's parameters.
#[derive(Debug, Clone, Copy)]
pub struct RoomRun {
    /// How many of the occupants post (the first ones).
    pub senders: usize,
    /// Messages each sender may have in flight (posted, not yet reflected to it).
    pub window: usize,
    /// Sent and received but not counted.
    pub warmup: Duration,
    /// Counted.
    pub duration: Duration,
    /// Messages per second posted over all senders; `None`: as fast as the windows allow.
    pub rate: Option<u64>,
    /// Bytes of body text per message.
    pub body: usize,
}

impl Default for RoomRun {
    fn default() -> Self {
        Self {
            senders: 4,
            window: 4,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: None,
            body: 64,
        }
    }
}

/// What a fan-out run measured.
#[derive(Debug, Clone, Copy)]
pub struct FanOut {
    /// Occupants in the room.
    pub occupants: usize,
    /// Deliveries (a message read by an occupant) in the counted period, and their latency.
    pub deliveries: Report,
    /// Messages posted in the counted period.
    pub posted: u64,
}

impl FanOut {
    /// Messages posted per second.
    pub fn posted_per_second(&self) -> f64 {
        self.posted as f64 / self.deliveries.elapsed.as_secs_f64()
    }
}

impl Session {
    /// Writes raw bytes.
    async fn write(&mut self, data: &str) -> anyhow::Result<()> {
        tokio::time::timeout(crate::TIMEOUT, self.writer.write_all(data.as_bytes()))
            .await
            .context("write timed out")??;
        Ok(())
    }

    /// Reads until `pred` holds for the unconsumed text, which is then consumed and returned.
    async fn read_until(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if pred(&text) {
                self.pending.clear();
                return Ok(text);
            }
            match tokio::time::timeout_at(deadline, self.reader.read(&mut chunk)).await {
                Err(_) => bail!("{}: timed out waiting for {what}", self.jid),
                Ok(Ok(0)) => bail!("{}: closed while waiting for {what}", self.jid),
                Ok(Ok(n)) => self.pending.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e).context("read"),
            }
        }
    }

    /// Joins `room` (a bare room JID) as `nick` (§7.2) and waits for its own presence (status
    /// 110). Returns whether the room was created by this join (status 201).
    async fn join(&mut self, room: &str, nick: &str) -> anyhow::Result<bool> {
        self.write(&format!(
            "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>\
             <history maxstanzas='0'/></x></presence>"
        ))
        .await?;
        let own = self
            .read_until("own presence in the room", |t| {
                t.contains("code='110'") || t.contains("code=\"110\"") || t.contains("type='error'")
            })
            .await?;
        if own.contains("type='error'") && !own.contains("code='110'") {
            bail!("{}: joining {room} failed: {own}", self.jid);
        }
        Ok(own.contains("code='201'") || own.contains("code=\"201\""))
    }

    /// Accepts the default configuration of a room it just created (§10.1.2: an instant room).
    async fn unlock(&mut self, room: &str) -> anyhow::Result<()> {
        self.write(&format!(
            "<iq type='set' to='{room}' id='unlock1'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'/></query></iq>"
        ))
        .await?;
        let answer = self
            .read_until("the room unlocked", |t| t.contains("unlock1"))
            .await?;
        if answer.contains("type='error'") || answer.contains("type=\"error\"") {
            bail!("{}: the instant room was refused: {answer}", self.jid);
        }
        Ok(())
    }
}

/// Joins every session to `room` (`occupant0`…), the first creating it; then runs the fan-out.
///
/// # Errors
/// A join fails, a session fails, or an occupant waits longer than 10 s for a message.
pub async fn room_fanout(
    room: &str,
    mut occupants: Vec<Session>,
    run: RoomRun,
) -> anyhow::Result<FanOut> {
    if occupants.len() < 2 || run.senders == 0 || run.senders > occupants.len() {
        bail!("a room needs at least two occupants and between one and all of them sending");
    }
    for (i, s) in occupants.iter_mut().enumerate() {
        let created = s.join(room, &format!("occupant{i}")).await?;
        if created {
            s.unlock(room).await?;
        }
    }
    // Presence of later joiners reached the earlier ones; none of it is a message.
    for s in &mut occupants {
        s.pending.clear();
    }
    let count = occupants.len();
    let start = Instant::now();
    let count_from = start + run.warmup;
    let stop_at = count_from + run.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let posted = Arc::new(AtomicU64::new(0));
    let gap = run
        .rate
        .map(|r| Duration::from_secs_f64(run.senders as f64 / r.max(1) as f64));
    let body = "x".repeat(run.body);
    let mut tasks = Vec::with_capacity(count);
    // The writers of occupants that only read, kept open until the end (a stream ends with
    // `</stream:stream>`, not with a dropped half).
    let mut quiet = Vec::new();
    for (i, session) in occupants.into_iter().enumerate() {
        let nick = format!("occupant{i}");
        let window = (i < run.senders).then(|| Arc::new(Semaphore::new(run.window)));
        let (reader, writer) = (session.reader, session.writer);
        let pending = session.pending;
        let jid = session.jid;
        if let Some(window) = &window {
            tasks.push(tokio::spawn(post(
                writer,
                room.to_owned(),
                body.clone(),
                window.clone(),
                start,
                count_from,
                stop_at,
                gap,
                stop.clone(),
                posted.clone(),
            )));
        } else {
            quiet.push(writer);
        }
        tasks.push(tokio::spawn(read(
            jid,
            reader,
            pending,
            nick,
            window,
            start,
            count_from,
            stop_at,
            stop.clone(),
            delivered.clone(),
        )));
    }
    tokio::time::sleep_until(stop_at.into()).await;
    stop.store(true, Ordering::Release);
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.context("occupant task")??);
    }
    for mut w in quiet {
        let _ = w.write_all(b"</stream:stream>").await;
    }
    Ok(FanOut {
        occupants: count,
        deliveries: Report {
            received: delivered.load(Ordering::Acquire),
            elapsed: run.duration,
            latency: Latency::of(&mut samples),
        },
        posted: posted.load(Ordering::Acquire),
    })
}

/// Posts groupchat messages to `room` until told to stop, each id carrying its send time.
#[allow(clippy::too_many_arguments, reason = "one task's whole state")]
async fn post(
    mut writer: tokio::io::WriteHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    room: String,
    body: String,
    window: Arc<Semaphore>,
    start: Instant,
    count_from: Instant,
    stop_at: Instant,
    gap: Option<Duration>,
    stop: Arc<AtomicBool>,
    posted: Arc<AtomicU64>,
) -> anyhow::Result<Vec<u64>> {
    let mut next = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let permit = tokio::time::timeout(Duration::from_millis(200), window.acquire()).await;
        let Ok(permit) = permit else { continue };
        permit.context("window closed")?.forget();
        if let Some(gap) = gap {
            next += gap;
            tokio::time::sleep_until(next.into()).await;
        }
        let now = Instant::now();
        let sent = (now - start).as_micros();
        n += 1;
        let stanza = format!(
            "<message type='groupchat' to='{room}' id='t{sent}-{n}'><body>{body}</body></message>"
        );
        writer.write_all(stanza.as_bytes()).await?;
        if now >= count_from && now < stop_at {
            posted.fetch_add(1, Ordering::Relaxed);
        }
    }
    writer.write_all(b"</stream:stream>").await?;
    writer.flush().await?;
    Ok(Vec::new())
}

/// Reads the room's messages; frees the sender's window slot on its own reflected messages;
/// records the latency of every message read in the counted period.
#[allow(clippy::too_many_arguments, reason = "one task's whole state")]
async fn read(
    jid: String,
    mut reader: tokio::io::ReadHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    mut buf: Vec<u8>,
    nick: String,
    window: Option<Arc<Semaphore>>,
    start: Instant,
    count_from: Instant,
    stop_at: Instant,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
) -> anyhow::Result<Vec<u64>> {
    let own = format!("/{nick}'");
    let own_dq = format!("/{nick}\"");
    let mut latencies = Vec::new();
    read_messages(&jid, &mut reader, &mut buf, &stop, |stanza| {
        let Some(sent) = sent_micros(stanza) else {
            return;
        };
        if let Some(window) = &window
            && (find(stanza, own.as_bytes()).is_some() || find(stanza, own_dq.as_bytes()).is_some())
        {
            window.add_permits(1);
        }
        let now = Instant::now();
        if now >= count_from && now < stop_at {
            delivered.fetch_add(1, Ordering::Relaxed);
            let now = u64::try_from((now - start).as_micros()).unwrap_or(u64::MAX);
            latencies.push(now.saturating_sub(sent));
        }
    })
    .await?;
    Ok(latencies)
}
