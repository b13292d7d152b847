//! Logins under load: many idle sessions held at once, and the login rate.
//!
//! Accounts are `<prefix><n>` for `n` in `0..count`, all with one password, registered
//! beforehand by whoever runs the server. A login is the whole client path: TCP, STARTTLS
//! (RFC 6120 §5), SCRAM (§6, through [`ScramCache`] so the client's PBKDF2 is not measured as
//! the server's), bind (§7), roster get (RFC 6121 §2.1.3) and initial presence (RFC 6121 §4.2).
//! Every resource is unique within a run, so no login kicks out another.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt as _;
use tokio::task::JoinSet;

use super::scram::{self, Hash, ScramCache};
use super::{Latency, Session, Target};
use crate::RawConn;

/// The accounts a run logs in as.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// Account names are this followed by a number.
    pub prefix: String,
    /// How many accounts exist: `<prefix>0` to `<prefix><count - 1>`.
    pub count: usize,
    /// Every account's password.
    pub password: String,
}

impl Accounts {
    /// The account used by the `n`th login of a run: the accounts in turn.
    pub fn user(&self, n: usize) -> String {
        format!("{}{}", self.prefix, n % self.count.max(1))
    }
}

impl Session {
    /// Logs in as `user` with `resource`, deriving the salted password through `cache`.
    /// Returns the session and the SCRAM iteration count the server asked for.
    ///
    /// # Errors
    /// Any step fails or times out (each wait is bounded by [`crate::TIMEOUT`]).
    pub async fn login_cached(
        target: &Target,
        user: &str,
        password: &str,
        resource: &str,
        cache: &ScramCache,
    ) -> anyhow::Result<(Self, u32)> {
        let mut conn = RawConn::connect(target.addr).await?;
        conn.open_stream().await?;
        conn.starttls(target.tls.clone()).await?;
        let features = conn.open_stream().await?;
        let hash = Hash::choose(&features, cache.forced())?;
        let iterations = scram::authenticate(&mut conn, hash, user, password, cache).await?;
        conn.open_stream().await?;
        let jid = conn.bind(resource).await?;
        let session = Self::available(conn, jid).await?;
        Ok((session, iterations))
    }

    /// Closes the stream (RFC 6120 §4.4) and drops the connection without waiting for the
    /// server's own close.
    ///
    /// # Errors
    /// The write fails.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.writer.write_all(b"</stream:stream>").await?;
        self.writer.flush().await?;
        Ok(())
    }
}

/// What a run of logins achieved.
#[derive(Debug, Clone)]
pub struct Logins {
    /// Logins that completed.
    pub ok: usize,
    /// Logins that failed; `first_error` says why the first did.
    pub failed: usize,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// From the first connect to the last login's end.
    pub elapsed: Duration,
    /// Time per login (connect to initial presence sent), in µs.
    pub latency: Latency,
    /// The SCRAM iteration count the server asked for (the last login's).
    pub iterations: Option<u32>,
}

impl Logins {
    /// Completed logins per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs `count` logins, at most `concurrency` at a time, handing each session to `keep`
/// (which holds or closes it). Logins are numbered `0..count`; the `n`th uses
/// `accounts.user(n)` and resource `<tag><n>`.
async fn logins<F, Fut>(
    target: &Target,
    accounts: &Accounts,
    count: usize,
    concurrency: usize,
    tag: &str,
    cache: &ScramCache,
    keep: F,
) -> anyhow::Result<Logins>
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    if concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    let next = Arc::new(AtomicUsize::new(0));
    let keep = Arc::new(keep);
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(count) {
        let (next, keep, target, accounts, cache, tag) = (
            next.clone(),
            keep.clone(),
            target.clone(),
            accounts.clone(),
            cache.clone(),
            tag.to_owned(),
        );
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return mine;
                }
                let began = Instant::now();
                let user = accounts.user(n);
                let login = Session::login_cached(
                    &target,
                    &user,
                    &accounts.password,
                    &format!("{tag}{n}"),
                    &cache,
                )
                .await;
                let outcome = match login {
                    Ok((session, iterations)) => {
                        let took = began.elapsed();
                        keep(session)
                            .await
                            .map(|()| (took, iterations))
                            .with_context(|| format!("{user} after login"))
                    }
                    Err(e) => Err(e.context(format!("login {n} as {user}"))),
                };
                mine.push(outcome);
            }
        });
    }
    let mut samples = Vec::with_capacity(count);
    let (mut failed, mut first_error, mut iterations) = (0, None, None);
    while let Some(done) = workers.join_next().await {
        for outcome in done.context("login worker")? {
            match outcome {
                Ok((took, i)) => {
                    samples.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                    iterations = Some(i);
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    Ok(Logins {
        ok: samples.len(),
        failed,
        first_error,
        elapsed: start.elapsed(),
        latency: Latency::of(&mut samples),
        iterations,
    })
}

/// Logs each account in once and out again, so the salted passwords are in `cache` before a
/// measured run. Not counted anywhere.
///
/// # Errors
/// A login fails: the accounts are not all registered, or the password is wrong.
pub async fn warm(
    target: &Target,
    accounts: &Accounts,
    concurrency: usize,
    cache: &ScramCache,
) -> anyhow::Result<()> {
    let run = logins(
        target,
        accounts,
        accounts.count,
        concurrency,
        "warm",
        cache,
        Session::close,
    )
    .await?;
    match run.first_error {
        Some(e) => bail!(
            "{} of {} warm-up logins failed: {e}",
            run.failed,
            accounts.count
        ),
        None => Ok(()),
    }
}

/// Full logins per second: `count` logins, `concurrency` at a time, each closed once it is
/// available. Failures are counted, not fatal.
///
/// # Errors
/// `concurrency` is zero, or a worker task panics.
pub async fn login_rate(
    target: &Target,
    accounts: &Accounts,
    count: usize,
    concurrency: usize,
    cache: &ScramCache,
) -> anyhow::Result<Logins> {
    logins(
        target,
        accounts,
        count,
        concurrency,
        "rate",
        cache,
        Session::close,
    )
    .await
}

/// `count` sessions logged in (at most `concurrency` logging in at a time) and then held idle,
/// for the caller to measure the server while they are.
#[derive(Debug)]
pub struct Held {
    /// The logins' outcome.
    pub logins: Logins,
    sessions: Arc<std::sync::Mutex<Vec<Session>>>,
}

impl Held {
    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether no session made it.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every held session.
    ///
    /// # Errors
    /// Never for a session that is already gone: those are skipped.
    pub async fn close(self) -> anyhow::Result<()> {
        let sessions = match self.sessions.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => bail!("a login worker panicked"),
        };
        for s in sessions {
            // A session the server already closed has nothing left to close.
            let _ = tokio::time::timeout(Duration::from_secs(1), s.close()).await;
        }
        Ok(())
    }
}

/// Logs `count` sessions in and keeps them open, idle (nothing is read from them: they receive
/// only each other's presence, which the socket buffers hold).
///
/// # Errors
/// `concurrency` is zero, or a worker task panics. Failed logins are counted in
/// [`Held::logins`].
pub async fn sessions(
    target: &Target,
    accounts: &Accounts,
    count: usize,
    concurrency: usize,
    cache: &ScramCache,
) -> anyhow::Result<Held> {
    let held = Arc::new(std::sync::Mutex::new(Vec::with_capacity(count)));
    let into = held.clone();
    let logins = logins(
        target,
        accounts,
        count,
        concurrency,
        "idle",
        cache,
        move |s| {
            let into = into.clone();
            async move {
                into.lock()
                    .map_err(|_| anyhow::anyhow!("session list poisoned"))?
                    .push(s);
                Ok(())
            }
        },
    )
    .await?;
    Ok(Held {
        logins,
        sessions: held,
    })
}
