//! The TOML file as written: serde types with `deny_unknown_fields` and named defaults.
//!
//! Nothing here is validated beyond TOML types. Durations and sizes stay strings (or integers) so
//! that `validate` can report a bad one under its key (`limits.idle_timeout: …`) instead of as a
//! bare serde message. Each default lives in a named function so that `examples/tessera.toml`, the
//! docs and the code can be checked against one place.

use serde::Deserialize;

/// The whole file. Every section may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    pub(crate) domain: Option<String>,
    pub(crate) data_dir: Option<String>,
    /// Server administrators: bare JIDs of local accounts (none by default).
    pub(crate) admins: Vec<String>,
    pub(crate) listen: RawListen,
    pub(crate) tls: RawTls,
    pub(crate) sasl: RawSasl,
    pub(crate) storage: RawStorage,
    pub(crate) limits: RawLimits,
    pub(crate) sessions: RawSessions,
    pub(crate) features: RawFeatures,
    pub(crate) logging: RawLogging,
    pub(crate) http: super::http::RawHttp,
    pub(crate) contact: super::contact::RawContact,
    /// `[plugins.<name>]`, loaded in name order (a `BTreeMap`), which is also the tie-break for
    /// hook priorities. Absent: the built-in defaults (`default_plugins.toml`); present, even
    /// empty: exactly what it lists.
    pub(crate) plugins: Option<std::collections::BTreeMap<String, RawPlugin>>,
}

pub(crate) fn default_domain() -> String {
    "localhost".to_owned()
}

pub(crate) fn default_data_dir() -> String {
    "./data".to_owned()
}

/// `[listen]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawListen {
    pub(crate) c2s: Vec<String>,
    pub(crate) c2s_direct_tls: Vec<String>,
}

impl Default for RawListen {
    fn default() -> Self {
        Self {
            c2s: default_c2s(),
            c2s_direct_tls: default_c2s_direct_tls(),
        }
    }
}

// IPv4 only by default: on hosts where `[::]` is dual-stack, binding both it and `0.0.0.0` to
// the same port fails, and on hosts without IPv6 `[::]` fails outright. Operators add `[::]:5222`.
pub(crate) fn default_c2s() -> Vec<String> {
    vec!["0.0.0.0:5222".to_owned()]
}

pub(crate) fn default_c2s_direct_tls() -> Vec<String> {
    vec!["0.0.0.0:5223".to_owned()]
}

/// `[tls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) require_encryption: bool,
}

impl Default for RawTls {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            require_encryption: default_require_encryption(),
        }
    }
}

pub(crate) fn default_require_encryption() -> bool {
    true
}

/// `[sasl]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSasl {
    pub(crate) mechanisms: Vec<String>,
    pub(crate) scram_iterations: u32,
    pub(crate) max_failures_per_ip: u32,
    pub(crate) max_failures_per_account: u32,
    pub(crate) failure_window: String,
    pub(crate) fast_token_lifetime: String,
}

impl Default for RawSasl {
    fn default() -> Self {
        Self {
            mechanisms: default_mechanisms(),
            scram_iterations: default_scram_iterations(),
            max_failures_per_ip: default_max_failures(),
            max_failures_per_account: default_max_failures(),
            failure_window: default_failure_window(),
            fast_token_lifetime: default_fast_token_lifetime(),
        }
    }
}

/// Strongest first: channel binding defeats a MITM holding a mis-issued certificate (RFC 9266).
pub(crate) fn default_mechanisms() -> Vec<String> {
    [
        "SCRAM-SHA-256-PLUS",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1",
        "PLAIN",
    ]
    .map(str::to_owned)
    .to_vec()
}

pub(crate) fn default_scram_iterations() -> u32 {
    10_000
}

pub(crate) fn default_max_failures() -> u32 {
    5
}

pub(crate) fn default_failure_window() -> String {
    "5m".to_owned()
}

/// Two weeks: a phone left off over a holiday still logs in with its token.
pub(crate) fn default_fast_token_lifetime() -> String {
    "14d".to_owned()
}

/// `[storage]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawStorage {
    /// `sqlite://PATH` or `postgres://…`; unset means SQLite at `data_dir/tessera.db`.
    pub(crate) url: Option<String>,
    pub(crate) max_connections: u32,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: default_max_db_connections(),
        }
    }
}

pub(crate) fn default_max_db_connections() -> u32 {
    10
}

/// A byte count: an integer, or a string with a binary unit (`"256KiB"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "must be a number of bytes or a size like \"256KiB\" or \"1MiB\""
)]
pub(crate) enum RawSize {
    Bytes(i64),
    Text(String),
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    pub(crate) stanza_bytes: RawSize,
    pub(crate) depth: i64,
    pub(crate) attributes: i64,
    pub(crate) namespaces: i64,
    pub(crate) handshake_timeout: String,
    pub(crate) idle_timeout: String,
    pub(crate) ping_timeout: String,
    pub(crate) session_queue: i64,
    pub(crate) max_connections: i64,
    pub(crate) shutdown_grace: String,
    pub(crate) stanza_timeout: String,
    pub(crate) stanza_rate: i64,
    pub(crate) stanza_burst: i64,
    pub(crate) connections_per_ip: i64,
    pub(crate) connect_rate_per_ip: i64,
    pub(crate) loopback_exempt: bool,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            stanza_bytes: default_stanza_bytes(),
            depth: default_depth(),
            attributes: default_attributes(),
            namespaces: default_namespaces(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: default_idle_timeout(),
            ping_timeout: default_ping_timeout(),
            session_queue: default_session_queue(),
            max_connections: default_max_connections(),
            shutdown_grace: default_shutdown_grace(),
            stanza_timeout: default_stanza_timeout(),
            stanza_rate: default_stanza_rate(),
            stanza_burst: default_stanza_burst(),
            connections_per_ip: default_connections_per_ip(),
            connect_rate_per_ip: default_connect_rate_per_ip(),
            loopback_exempt: true,
        }
    }
}

/// 256 KiB, as Prosody: big enough for avatars in vCards, small enough to bound memory.
pub(crate) fn default_stanza_bytes() -> RawSize {
    RawSize::Bytes(256 * 1024)
}

pub(crate) fn default_depth() -> i64 {
    32
}

pub(crate) fn default_attributes() -> i64 {
    64
}

pub(crate) fn default_namespaces() -> i64 {
    32
}

pub(crate) fn default_handshake_timeout() -> String {
    "60s".to_owned()
}

pub(crate) fn default_idle_timeout() -> String {
    "5m".to_owned()
}

pub(crate) fn default_ping_timeout() -> String {
    "60s".to_owned()
}

pub(crate) fn default_session_queue() -> i64 {
    1024
}

pub(crate) fn default_max_connections() -> i64 {
    20_000
}

pub(crate) fn default_shutdown_grace() -> String {
    "10s".to_owned()
}

/// A slowloris bound: a client gets this long to finish a stanza it started.
pub(crate) fn default_stanza_timeout() -> String {
    "60s".to_owned()
}

/// Stanzas per second per session: far above a person typing or a client syncing, far below a
/// flood.
pub(crate) fn default_stanza_rate() -> i64 {
    200
}

pub(crate) fn default_stanza_burst() -> i64 {
    1000
}

/// Concurrent connections per IP address (per /64 for IPv6): a household or an office behind
/// one address fits; one host opening thousands does not.
pub(crate) fn default_connections_per_ip() -> i64 {
    100
}

pub(crate) fn default_connect_rate_per_ip() -> i64 {
    10
}

/// `[sessions]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSessions {
    pub(crate) resource_conflict: String,
    pub(crate) max_per_account: i64,
    pub(crate) resumption_timeout: String,
}

impl Default for RawSessions {
    fn default() -> Self {
        Self {
            resource_conflict: default_resource_conflict(),
            max_per_account: default_max_per_account(),
            resumption_timeout: default_resumption_timeout(),
        }
    }
}

pub(crate) fn default_resource_conflict() -> String {
    "kick-old".to_owned()
}

pub(crate) fn default_max_per_account() -> i64 {
    32
}

/// ejabberd's default; Conversations and Monal expect minutes, not seconds.
pub(crate) fn default_resumption_timeout() -> String {
    "5m".to_owned()
}

/// `[features]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawFeatures {
    /// XEP-0092; `false` by default (see `FeaturesConfig::version`).
    pub(crate) version: bool,
}

/// `[logging]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLogging {
    pub(crate) level: String,
    pub(crate) ips: String,
}

impl Default for RawLogging {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            ips: default_log_ips(),
        }
    }
}

pub(crate) fn default_log_level() -> String {
    "info".to_owned()
}

pub(crate) fn default_log_ips() -> String {
    "never".to_owned()
}

/// `[plugins.<name>]`: one WebAssembly plugin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugin {
    /// The component file (`.wasm`); relative paths resolve against the working directory.
    pub(crate) path: Option<String>,
    /// A component embedded in the binary (`tessera plugin list`); without `path` or `builtin`
    /// the table's name is taken as the built-in's.
    pub(crate) builtin: Option<String>,
    /// Capability interfaces the plugin may import (`"log"`, `"router"`, …).
    #[serde(default)]
    pub(crate) grants: Vec<String>,
    /// `"closed"` (default) or `"open"`.
    #[serde(default = "default_plugin_fail")]
    pub(crate) fail: String,
    /// Linear memory cap per instance.
    #[serde(default = "default_plugin_memory")]
    pub(crate) memory: RawSize,
    /// Wall-clock deadline of one call.
    #[serde(default = "default_plugin_timeout")]
    pub(crate) timeout: String,
    /// Long-lived instances kept (calls run one at a time per instance).
    #[serde(default = "default_plugin_instances")]
    pub(crate) instances: i64,
    /// Consecutive traps after which the plugin is disabled until reloaded.
    #[serde(default = "default_plugin_max_traps")]
    pub(crate) max_traps: i64,
    /// Bytes the plugin may keep in `ephemeral` (keys plus values).
    #[serde(default = "default_plugin_ephemeral")]
    pub(crate) ephemeral: RawSize,
    /// Largest single blob the plugin may store through `blobs`.
    #[serde(default = "default_plugin_blob_max")]
    pub(crate) blob_max: RawSize,
    /// Total bytes of blobs the plugin may keep.
    #[serde(default = "default_plugin_blob_quota")]
    pub(crate) blob_quota: RawSize,
    /// Server events queued for the plugin before further ones are dropped.
    #[serde(default = "default_plugin_event_queue")]
    pub(crate) event_queue: i64,
    /// The plugin's own configuration, handed to its `init` as TOML.
    #[serde(default)]
    pub(crate) config: toml::Table,
    /// `[plugins.<name>.retention.<category>]`: the operator's retention per data category.
    #[serde(default)]
    pub(crate) retention: std::collections::BTreeMap<String, RawRetention>,
    /// `[plugins.<name>.services]`: declared service label → the label served instead.
    #[serde(default)]
    pub(crate) services: std::collections::BTreeMap<String, String>,
    /// Hosts `http-outbound` may reach (`"push.example.org"`, `"127.0.0.1:8080"`, `"*.x.org"`).
    #[serde(default)]
    pub(crate) http_allow: Vec<String>,
}

/// `[plugins.<name>.retention.<category>]`: overrides the plugin's declared defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    /// Records older than this are deleted (`"7d"`).
    pub(crate) max_age: Option<String>,
    /// Only this many newest records per owner (and stream) are kept.
    pub(crate) max_items: Option<i64>,
}

pub(crate) fn default_plugin_fail() -> String {
    "closed".to_owned()
}

pub(crate) fn default_plugin_memory() -> RawSize {
    RawSize::Text("64MiB".to_owned())
}

pub(crate) fn default_plugin_timeout() -> String {
    "50ms".to_owned()
}

pub(crate) fn default_plugin_instances() -> i64 {
    2
}

pub(crate) fn default_plugin_max_traps() -> i64 {
    5
}

pub(crate) fn default_plugin_event_queue() -> i64 {
    256
}

pub(crate) fn default_plugin_ephemeral() -> RawSize {
    RawSize::Text("1MiB".to_owned())
}

pub(crate) fn default_plugin_blob_max() -> RawSize {
    RawSize::Text("16MiB".to_owned())
}

pub(crate) fn default_plugin_blob_quota() -> RawSize {
    RawSize::Text("1GiB".to_owned())
}
