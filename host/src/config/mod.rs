//! Operator configuration.
//!
//! The TOML file is read into serde types with `deny_unknown_fields` and named defaults (`raw`),
//! then validated into [`Config`], the type the server uses. A bad file is a [`ConfigError`] that
//! names the key and the problem. Durations are human-readable (`"30s"`, `"7d"`).
//!
//! Every key is documented in `examples/tessera.toml`; a test parses every shipped config.

mod contact;
mod error;
mod http;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use contact::ContactConfig;
pub use error::ConfigError;
pub use http::{AllowedHost, HttpConfig};

/// The file `tessera` reads when no `--config` is given, if it exists.
pub const DEFAULT_PATH: &str = "tessera.toml";

/// The validated server configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The XMPP domain this server hosts (`localhost` by default), lowercase, a valid JID domainpart.
    pub domain: String,
    /// Where the SQLite database and the generated certificate live (`./data`).
    pub data_dir: PathBuf,
    /// Server administrators (`admins`): bare JIDs of local accounts, normalised and
    /// deduplicated. They may run the admin ad-hoc commands (XEP-0050) and plugins ask
    /// `accounts.is-admin` about them.
    pub admins: Vec<jid::BareJid>,
    /// Listening sockets.
    pub listen: ListenConfig,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Authentication settings.
    pub sasl: SaslConfig,
    /// Storage backend.
    pub storage: StorageConfig,
    /// Stream and stanza limits, timeouts and queue sizes.
    pub limits: LimitsConfig,
    /// Session (resource binding) policy.
    pub sessions: SessionsConfig,
    /// Optional server features.
    pub features: FeaturesConfig,
    /// What the server's own logs may contain.
    pub logging: LoggingConfig,
    /// The HTTP listener (`[http]`) and the plugins' outbound HTTP client.
    pub http: HttpConfig,
    /// `[contact]`: contact addresses published in disco (XEP-0157).
    pub contact: ContactConfig,
    /// WebAssembly plugins (`[plugins.<name>]`), in load order (by name).
    pub plugins: Vec<PluginConfig>,
}

impl Config {
    /// Parses and validates a TOML document. The empty document gives the defaults.
    ///
    /// Relative paths (`data_dir`, `tls.cert`, `sqlite://…`) are kept relative: they resolve
    /// against the server's working directory, not the file's.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key and the problem.
    pub fn from_toml_str(source: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig =
            toml::from_str(source).map_err(|e| ConfigError::from_toml(source, &e))?;
        validate::validate(raw)
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read, else as [`Config::from_toml_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|io| ConfigError::Read {
            path: path.to_owned(),
            io,
        })?;
        Self::from_toml_str(&source)
    }

    /// The embedded defaults, with `data_dir` (and so the default SQLite file and generated
    /// certificate) under `data_dir`. Tests use this with a temporary directory.
    pub fn default_with(data_dir: PathBuf) -> Self {
        let mut config = validate::validate(raw::RawConfig::default())
            .expect("invariant: the embedded defaults are valid");
        config.storage = StorageConfig::Sqlite {
            path: data_dir.join("tessera.db"),
        };
        config.data_dir = data_dir;
        config
    }

    /// Whether `user` is one of the operator's administrators (`admins`).
    pub fn is_admin(&self, user: &jid::BareJid) -> bool {
        self.admins.contains(user)
    }

    /// Checks that the files the config names can be read (`tls.cert`, `tls.key`), for
    /// `tessera check-config`. [`Config::load`] does not, so a config can be validated elsewhere.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key whose file is unreadable.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for (key, path) in [("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
            if let Some(path) = path {
                std::fs::File::open(path).map_err(|e| {
                    ConfigError::invalid(key, format!("cannot read {}: {e}", path.display()))
                })?;
            }
        }
        Ok(())
    }
}

/// Listening sockets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenConfig {
    /// Client connections that negotiate STARTTLS (RFC 6120 §5); default `0.0.0.0:5222`.
    pub c2s: Vec<SocketAddr>,
    /// Client connections with TLS from the first byte (XEP-0368); default `0.0.0.0:5223`.
    pub c2s_direct_tls: Vec<SocketAddr>,
}

/// TLS settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM certificate chain; when unset with `key`, a self-signed certificate is generated on first
    /// start under `data_dir`.
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    pub key: Option<PathBuf>,
    /// Refuse to authenticate a client that did not negotiate TLS (default `true`).
    pub require_encryption: bool,
}

/// A SASL mechanism the operator may enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// RFC 5802.
    ScramSha1,
    /// RFC 5802 with channel binding (RFC 9266 `tls-exporter`).
    ScramSha1Plus,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with channel binding (RFC 9266 `tls-exporter`).
    ScramSha256Plus,
    /// RFC 4616; only ever offered over TLS.
    Plain,
}

impl SaslMechanism {
    /// The IANA mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::Plain => "PLAIN",
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaslConfig {
    /// Mechanisms offered, in the order offered (default: all, strongest first).
    pub mechanisms: Vec<SaslMechanism>,
    /// PBKDF2 iterations for new or changed passwords (default 10 000; RFC 7677 asks at least 4096).
    pub scram_iterations: u32,
    /// Failed logins allowed per client IP within `failure_window` before `temporary-auth-failure`.
    pub max_failures_per_ip: u32,
    /// Failed logins allowed per account within `failure_window` before `temporary-auth-failure`.
    pub max_failures_per_account: u32,
    /// The window over which failures are counted (default 5 minutes).
    pub failure_window: Duration,
    /// How long an XEP-0484 FAST token stays valid (default 14 days); zero (`"0s"`) does not
    /// offer FAST.
    pub fast_token_lifetime: Duration,
}

/// Storage backend. `Debug` hides the PostgreSQL URL's credentials and query.
#[derive(Clone)]
#[non_exhaustive]
pub enum StorageConfig {
    /// Embedded SQLite (WAL) at this path (default `data_dir/tessera.db`).
    Sqlite {
        /// Database file.
        path: PathBuf,
    },
    /// PostgreSQL at this URL (`storage.url = "postgres://…"`).
    Postgres {
        /// Connection URL; never logged (it may hold a password).
        url: String,
        /// Pool size (`storage.max_connections`, default 10).
        max_connections: u32,
    },
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgres {
                url,
                max_connections,
            } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

/// `postgres://user:pw@host/db?password=x` → `postgres://***@host/db?***`: enough to tell
/// databases apart in a log, nothing that authenticates.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, has_query) = match rest.split_once('?') {
        Some((before, _)) => (before, true),
        None => (rest, false),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let query = if has_query { "?***" } else { "" };
    format!("{scheme}://{host}/{path}{query}")
}

/// Limits, timeouts and queue sizes. Counted before a stanza is materialised (RFC 6120 §13.12).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Largest stanza accepted, in bytes (default 256 KiB); larger gets `policy-violation`.
    pub stanza_bytes: usize,
    /// Deepest element nesting inside a stanza (default 32).
    pub depth: usize,
    /// Most attributes on one element (default 64).
    pub attributes: usize,
    /// Most namespace declarations in one stanza (default 32).
    pub namespaces: usize,
    /// Time allowed from TCP accept to a bound resource (default 60 s).
    pub handshake_timeout: Duration,
    /// Silence after which the server pings the client (default 5 min).
    pub idle_timeout: Duration,
    /// Time the client has to answer that ping before the hard close (default 60 s).
    pub ping_timeout: Duration,
    /// Stanzas queued to one session before it is closed as too slow (default 1024).
    pub session_queue: usize,
    /// Most concurrent client connections (default 20 000; keep it below the fd limit).
    pub max_connections: usize,
    /// Time allowed to drain sessions on shutdown (default 10 s).
    pub shutdown_grace: Duration,
    /// Time a client has to finish a stanza it started, once bound (default 60 s; before that,
    /// `handshake_timeout` bounds everything): a slowloris is closed with `policy-violation`.
    pub stanza_timeout: Duration,
    /// Stanzas per second one session may send on average (default 200; `None`: no limit).
    /// Beyond it the server stops reading from that client until it is back under the rate.
    pub stanza_rate: Option<usize>,
    /// Stanzas a session may send at once above the rate (default 1000).
    pub stanza_burst: usize,
    /// Most concurrent connections from one IP address, or one IPv6 /64 (default 100; `None`:
    /// no limit). Further connections are closed at once.
    pub connections_per_ip: Option<usize>,
    /// New connections per second from one IP address or IPv6 /64, on average, with bursts up
    /// to `connections_per_ip` (default 10; `None`: no limit).
    pub connect_rate_per_ip: Option<usize>,
    /// Whether loopback addresses are exempt from the per-IP limits (default true).
    pub loopback_exempt: bool,
}

/// What to do when a client binds a resource that is already bound (RFC 6120 §7.7.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceConflict {
    /// Close the existing session with a `conflict` stream error (default; what most servers do).
    KickOld,
    /// Refuse the new bind with a `conflict` stanza error.
    Refuse,
    /// Bind the new session to a server-generated resource instead.
    Rename,
}

/// Session policy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionsConfig {
    /// Resource conflict policy.
    pub resource_conflict: ResourceConflict,
    /// Most sessions one account may hold at once (default 32).
    pub max_per_account: usize,
    /// How long a stream-managed session whose connection dropped waits for the client to
    /// resume it (XEP-0198 §5; default 5 minutes, zero: resumption is not offered).
    pub resumption_timeout: Duration,
}

/// Optional server features.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeaturesConfig {
    /// Answer XEP-0092 software version queries (default `false`: it tells attackers what to try).
    pub version: bool,
}

/// How much the server's own logs may say about clients' addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpLogging {
    /// Never (default).
    Never,
    /// Only with failed logins, so abuse can be handled.
    FailedLogins,
    /// With every connection.
    Always,
}

/// Logging settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// `tracing` filter directive, e.g. `"info"` or `"tessera=debug"` (default `"info"`).
    pub level: String,
    /// IP address logging.
    pub ips: IpLogging,
}

/// A capability interface of `tessera:plugin` that the operator may grant a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `log`: structured logging under the plugin's name.
    Log,
    /// `clock`: wall-clock time.
    Clock,
    /// `router`: sending stanzas from the server's or the plugin's service domains.
    Router,
    /// `kv`: owner-scoped persistent key-value storage.
    Kv,
    /// `archive`: append-only archives.
    Archive,
    /// `ephemeral`: shared in-memory state of the plugin's instances.
    Ephemeral,
    /// `accounts`: local accounts.
    Accounts,
    /// `roster`: read access to rosters.
    Roster,
    /// `sessions`: who is online.
    Sessions,
    /// `blobs`: binary objects on disk.
    Blobs,
    /// `http-outbound`: outbound HTTP.
    HttpOutbound,
    /// `caps` (plugin API 0.1.2): the XEP-0115 features the host verified for local sessions.
    Caps,
    /// `requests` (plugin API 0.1.2): IQs to other plugins on an account's behalf, answered to
    /// the caller.
    Requests,
}

impl Capability {
    /// Every capability, in WIT order.
    pub const ALL: [Capability; 13] = [
        Self::Log,
        Self::Clock,
        Self::Router,
        Self::Kv,
        Self::Archive,
        Self::Ephemeral,
        Self::Accounts,
        Self::Roster,
        Self::Sessions,
        Self::Blobs,
        Self::HttpOutbound,
        Self::Caps,
        Self::Requests,
    ];

    /// The WIT interface name (`http-outbound`), which is also how the config spells the grant.
    pub fn interface(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Clock => "clock",
            Self::Router => "router",
            Self::Kv => "kv",
            Self::Archive => "archive",
            Self::Ephemeral => "ephemeral",
            Self::Accounts => "accounts",
            Self::Roster => "roster",
            Self::Sessions => "sessions",
            Self::Blobs => "blobs",
            Self::HttpOutbound => "http-outbound",
            Self::Caps => "caps",
            Self::Requests => "requests",
        }
    }
}

/// What a plugin's failure (trap, timeout, disabled) means for the stanza it was handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailMode {
    /// The stanza is answered with an error (`internal-server-error` for a trap,
    /// `service-unavailable` while disabled). The default: a filter that fails lets nothing by.
    Closed,
    /// The stanza goes on as if the plugin had passed.
    Open,
}

/// One plugin (`[plugins.<name>]`). `Debug` does not print the plugin's own config, which may
/// hold secrets (a push service's key).
#[derive(Clone)]
#[non_exhaustive]
pub struct PluginConfig {
    /// The config's name for it (`[plugins.echo]`), used in logs and errors.
    pub name: String,
    /// Where the component comes from.
    pub source: PluginSource,
    /// Capabilities it may import; importing any other one refuses the plugin at load.
    pub grants: Vec<Capability>,
    /// The `router.impersonate` grant: `router.send` may use a local account (bare or full JID)
    /// as `from` (offline delivery, MAM results, carbons). Implies the `router` grant.
    pub impersonate: bool,
    /// Fail mode (default closed).
    pub fail: FailMode,
    /// Memory cap per instance in bytes (default 64 MiB).
    pub memory: usize,
    /// Deadline of one call (default 50 ms).
    pub timeout: Duration,
    /// Long-lived instances (default 2).
    pub instances: usize,
    /// Consecutive traps that disable it until reloaded (default 5).
    pub max_traps: u32,
    /// Bytes it may keep in `ephemeral` (default 1 MiB).
    pub ephemeral_bytes: usize,
    /// Largest single blob it may store through `blobs` (default 16 MiB).
    pub blob_max: u64,
    /// Total bytes of blobs it may keep (default 1 GiB).
    pub blob_quota: u64,
    /// Server events queued for it before further ones are dropped (default 256).
    pub event_queue: usize,
    /// `[plugins.<name>.config]` serialised as TOML, handed to `init`.
    pub config: String,
    /// `[plugins.<name>.retention.<category>]`, by category; what is not set here falls back to
    /// the plugin's declared defaults.
    pub retention: std::collections::BTreeMap<String, Retention>,
    /// `[plugins.<name>.services]`: the operator's label for a declared service label
    /// (`echo = "bot"` serves `bot.<domain>` instead of `echo.<domain>`).
    pub services: std::collections::BTreeMap<String, String>,
    /// Hosts `http-outbound` may reach (`http_allow`); non-empty exactly when it is granted.
    pub http_allow: Vec<AllowedHost>,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginSource {
    /// A `.wasm` file (`path`), read at every load and reload.
    File(PathBuf),
    /// A component embedded in the binary (`builtin`, or the table's name), by crate name.
    Builtin(String),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Builtin(name) => write!(f, "built-in {name}"),
        }
    }
}

/// The operator's retention for one data category of a plugin. `None` keeps the plugin's
/// declared default (and without one, no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Records older than this are deleted.
    pub max_age: Option<Duration>,
    /// Only this many newest records per owner (and archive stream) are kept.
    pub max_items: Option<u64>,
}

impl std::fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConfig")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("grants", &self.grants)
            .field("impersonate", &self.impersonate)
            .field("fail", &self.fail)
            .field("memory", &self.memory)
            .field("timeout", &self.timeout)
            .field("instances", &self.instances)
            .field("max_traps", &self.max_traps)
            .field("ephemeral_bytes", &self.ephemeral_bytes)
            .field("blob_max", &self.blob_max)
            .field("blob_quota", &self.blob_quota)
            .field("event_queue", &self.event_queue)
            .field("retention", &self.retention)
            .field("services", &self.services)
            .field("http_allow", &self.http_allow)
            .field("config", &format_args!("<{} bytes>", self.config.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_keeps_host_and_database_only() {
        let shown = redact_url("postgres://tessera:hunter2@db.internal:5432/xmpp?password=x");
        assert_eq!(shown, "postgres://***@db.internal:5432/xmpp?***");
        assert_eq!(redact_url("postgres://db/xmpp"), "postgres://db/xmpp");
    }

    #[test]
    fn debug_never_prints_the_postgres_password() {
        let config = Config::from_toml_str(
            "[storage]\nurl = \"postgres://tessera:hunter2@localhost/xmpp\"\n",
        )
        .expect("valid config");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("localhost/xmpp"), "{debug}");
    }
}
