//! `loadgen`: loads any XMPP server on loopback and prints one JSON line per result (issue 5).
//!
//! ```text
//! loadgen --addr 127.0.0.1:5222 --domain localhost --ca ca.pem \
//!         --user-prefix u --users 2000 --password P [--pid PID]... <test>
//!   sessions   --count 19000 [--hold 10s] [--concurrency 50]
//!   throughput --pairs 40 [--duration 10s] [--warmup 2s] [--rate 5000] [--window 32]
//!   login-rate --count 2000 [--concurrency 50]
//! ```
//!
//! Accounts `<prefix>0..<prefix><users-1>` must exist with the one password. Each test first logs
//! every account it uses in once, uncounted, so the client's PBKDF2 is cached (see
//! `tessera_tests::load::scram`). With `--pid` (repeatable: a server that forks, such as
//! ejabberd's `beam.smp` plus `epmd`), the generator reads those processes' resident memory
//! (`VmRSS`) and CPU time (`utime + stime`) around the measured part itself, so the figures
//! cover exactly that part. Loopback only: a non-loopback `--addr` is refused.

#![allow(
    clippy::print_stdout,
    reason = "the JSON lines on stdout are the output"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::json;
use tessera_tests::load::{self, Accounts, Hash, ScramCache, Session, Target, Throughput};

#[derive(Parser, Debug)]
#[command(about = "Load an XMPP server on loopback; one JSON line per result")]
struct Args {
    /// The server's STARTTLS client port (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// The XMPP domain; the certificate must name it.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// PEM file of the CA (or self-signed certificate) to trust.
    #[arg(
        long,
        conflicts_with = "insecure_loopback",
        required_unless_present = "insecure_loopback"
    )]
    ca: Option<PathBuf>,
    /// Accept any certificate. Refused unless `--addr` is a loopback address.
    #[arg(long)]
    insecure_loopback: bool,
    /// Account names are this prefix followed by 0, 1, ...
    #[arg(long, default_value = "u")]
    user_prefix: String,
    /// How many accounts are registered.
    #[arg(long)]
    users: usize,
    /// Every account's password.
    #[arg(long)]
    password: String,
    /// A server process to measure (repeat for each process of a server that forks).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// The SCRAM mechanism: `sha-1` or `sha-256` (the login fails if the server does not offer
    /// it); without it, SHA-256 when offered, else SHA-1.
    #[arg(long, value_parser = parse_scram)]
    scram: Option<Hash>,
    /// Logins at once while warming the client's SCRAM cache.
    #[arg(long, default_value_t = 20)]
    warm_concurrency: usize,
    #[command(subcommand)]
    test: Test,
}

#[derive(Subcommand, Debug)]
enum Test {
    /// Log in `count` sessions, hold them idle, report how many made it and the memory.
    Sessions {
        #[arg(long)]
        count: usize,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        hold: Duration,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// 1:1 chat between `pairs` pairs of online accounts, with receiver-measured latency.
    Throughput {
        #[arg(long, default_value_t = 40)]
        pairs: usize,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        warmup: Duration,
        /// Messages per second offered over all pairs; without it, as fast as the window allows.
        #[arg(long)]
        rate: Option<u64>,
        /// Messages each sender may have in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
    },
    /// Full logins (TLS, SCRAM, bind, roster, presence) per second.
    LoginRate {
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!(
            "{} is not a loopback address: the load generator only loads this machine",
            args.addr
        );
    }
    let tls = client_config(&args)?;
    let target = Target {
        addr: args.addr,
        domain: args.domain.clone(),
        tls,
    };
    let accounts = Accounts {
        prefix: args.user_prefix.clone(),
        count: args.users,
        password: args.password.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args, target, accounts))
}

async fn run(args: Args, target: Target, accounts: Accounts) -> anyhow::Result<()> {
    let cache = args.scram.map(ScramCache::only).unwrap_or_default();
    let procs = Procs(args.pids.clone());
    match args.test {
        Test::Sessions {
            count,
            hold,
            concurrency,
        } => {
            let start = procs.sample()?;
            let used = Accounts {
                count: accounts.count.min(count),
                ..accounts.clone()
            };
            load::warm(&target, &used, args.warm_concurrency, &cache).await?;
            // Let the server free what the warm-up sessions held.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let before = procs.sample()?;
            let held = load::sessions(&target, &used, count, concurrency, &cache).await?;
            let n = held.len();
            tokio::time::sleep(hold).await;
            let during = procs.sample()?;
            let per_session = (n > 0).then(|| (during.rss_kib - before.rss_kib) as f64 / n as f64);
            println!(
                "{}",
                json!({
                    "test": "sessions",
                    "requested": count,
                    "held": n,
                    "failed": held.logins.failed,
                    "first_error": held.logins.first_error,
                    "accounts": used.count,
                    "login_seconds": held.logins.elapsed.as_secs_f64(),
                    "logins_per_second": held.logins.per_second(),
                    "iterations": held.logins.iterations,
                    "rss_start_kib": start.rss_kib,
                    "rss_before_kib": before.rss_kib,
                    "rss_held_kib": during.rss_kib,
                    "kib_per_session": per_session,
                    "hold_seconds": hold.as_secs_f64(),
                })
            );
            held.close().await?;
        }
        Test::Throughput {
            pairs,
            duration,
            warmup,
            rate,
            window,
        } => {
            if accounts.count < 2 * pairs {
                bail!("{pairs} pairs need {} accounts", 2 * pairs);
            }
            let used = Accounts {
                count: 2 * pairs,
                ..accounts.clone()
            };
            load::warm(&target, &used, args.warm_concurrency, &cache).await?;
            let mut sessions = Vec::with_capacity(pairs);
            for i in 0..pairs {
                let mut pair = Vec::with_capacity(2);
                for n in [2 * i, 2 * i + 1] {
                    let resource = format!("tp{n}");
                    let user = used.user(n);
                    let (session, _) =
                        Session::login_cached(&target, &user, &used.password, &resource, &cache)
                            .await?;
                    pair.push(session);
                }
                let to = pair.pop().context("a pair's receiver")?;
                let from = pair.pop().context("a pair's sender")?;
                sessions.push((from, to));
            }
            let run = Throughput {
                window,
                warmup,
                duration,
                rate,
                ..Throughput::default()
            };
            // CPU is read at the edges of the counted period, beside the receivers' own clock.
            let sampler = {
                let procs = procs.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(warmup).await;
                    let a = procs.sample()?;
                    tokio::time::sleep(duration).await;
                    let b = procs.sample()?;
                    anyhow::Ok(b.cpu_seconds - a.cpu_seconds)
                })
            };
            let report = load::throughput(sessions, run).await?;
            let cpu = sampler.await.context("CPU sampler")??;
            let l = report.latency;
            println!(
                "{}",
                json!({
                    "test": "throughput",
                    "pairs": pairs,
                    "rate": rate,
                    "window": window,
                    "seconds": duration.as_secs_f64(),
                    "received": report.received,
                    "per_second": report.per_second(),
                    "p50_us": l.p50, "p90_us": l.p90, "p99_us": l.p99, "max_us": l.max,
                    "server_cpu_seconds": cpu,
                    "messages_per_cpu_second": (cpu > 0.0).then(|| report.received as f64 / cpu),
                })
            );
        }
        Test::LoginRate { count, concurrency } => {
            let used = Accounts {
                count: accounts.count.min(count),
                ..accounts.clone()
            };
            load::warm(&target, &used, args.warm_concurrency, &cache).await?;
            let a = procs.sample()?;
            let logins = load::login_rate(&target, &used, count, concurrency, &cache).await?;
            let b = procs.sample()?;
            let cpu = b.cpu_seconds - a.cpu_seconds;
            println!(
                "{}",
                json!({
                    "test": "login-rate",
                    "count": count,
                    "concurrency": concurrency,
                    "ok": logins.ok,
                    "failed": logins.failed,
                    "first_error": logins.first_error,
                    "seconds": logins.elapsed.as_secs_f64(),
                    "per_second": logins.per_second(),
                    "p50_us": logins.latency.p50,
                    "p99_us": logins.latency.p99,
                    "iterations": logins.iterations,
                    "server_cpu_seconds": cpu,
                    "server_cpu_ms_per_login": (logins.ok > 0).then(|| 1000.0 * cpu / logins.ok as f64),
                })
            );
        }
    }
    Ok(())
}

fn parse_scram(s: &str) -> Result<Hash, String> {
    match s.to_ascii_lowercase().as_str() {
        "sha-1" | "sha1" => Ok(Hash::Sha1),
        "sha-256" | "sha256" => Ok(Hash::Sha256),
        other => Err(format!("unknown SCRAM hash {other:?}: sha-1 or sha-256")),
    }
}

/// The server processes measured.
#[derive(Debug, Clone)]
struct Procs(Vec<u32>);

/// Their resident memory and CPU time, summed.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: i64,
    cpu_seconds: f64,
}

/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/PID/stat`; 100 on every Linux ABI we run on.
const TICKS_PER_SECOND: f64 = 100.0;

impl Procs {
    fn sample(&self) -> anyhow::Result<Sample> {
        let mut total = Sample::default();
        for pid in &self.0 {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .with_context(|| format!("server process {pid} is gone"))?;
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
                .with_context(|| format!("no VmRSS for {pid}"))?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .with_context(|| format!("server process {pid} is gone"))?;
            // Fields after the parenthesised command name: state is the 3rd field of the line,
            // utime the 14th and stime the 15th (proc(5)).
            let rest = stat
                .rsplit_once(')')
                .map(|(_, r)| r)
                .context("malformed /proc stat")?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| -> anyhow::Result<f64> {
                Ok(fields
                    .get(i)
                    .context("short /proc stat")?
                    .parse::<u64>()
                    .context("/proc stat field")? as f64)
            };
            total.rss_kib += rss;
            total.cpu_seconds += (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND;
        }
        Ok(total)
    }
}

fn client_config(args: &Args) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?;
    let config = if let Some(ca) = &args.ca {
        let mut roots = RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))?
        {
            roots.add(cert.with_context(|| format!("{}", ca.display()))?)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `--insecure-loopback`: accepts any certificate (signatures are still checked, so the
/// handshake itself is real). Only reachable for a loopback `--addr`.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
