//! Validation: [`RawConfig`] into [`Config`], each problem reported under its dotted key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::{RawConfig, RawPlugin, RawSize};
use super::{
    Capability, Config, ConfigError, FailMode, FeaturesConfig, IpLogging, LimitsConfig,
    ListenConfig, LoggingConfig, PluginConfig, PluginSource, ResourceConflict, Retention,
    SaslConfig, SaslMechanism, SessionsConfig, StorageConfig, TlsConfig,
};

/// RFC 7677 §4: "the hash iteration-count announced by a server SHOULD be at least 4096".
const MIN_SCRAM_ITERATIONS: u32 = 4096;
/// A stanza limit below this cannot carry a roster push or a disco#info result.
const MIN_STANZA_BYTES: u64 = 4096;
/// Above this a single client could pin a large share of memory with one stanza.
const MAX_STANZA_BYTES: u64 = 64 * 1024 * 1024;

type Result<T> = std::result::Result<T, ConfigError>;

/// Validates the whole file.
pub(crate) fn validate(raw: RawConfig) -> Result<Config> {
    let domain = domain(raw.domain.unwrap_or_else(super::raw::default_domain))?;
    let data_dir = non_empty_path(
        "data_dir",
        raw.data_dir.unwrap_or_else(super::raw::default_data_dir),
    )?;

    let listen = ListenConfig {
        c2s: addrs("listen.c2s", &raw.listen.c2s)?,
        c2s_direct_tls: addrs("listen.c2s_direct_tls", &raw.listen.c2s_direct_tls)?,
    };
    if listen.c2s.is_empty() && listen.c2s_direct_tls.is_empty() {
        return Err(ConfigError::invalid(
            "listen",
            "at least one of c2s and c2s_direct_tls must have an address",
        ));
    }

    let tls = TlsConfig {
        cert: raw
            .tls
            .cert
            .map(|p| non_empty_path("tls.cert", p))
            .transpose()?,
        key: raw
            .tls
            .key
            .map(|p| non_empty_path("tls.key", p))
            .transpose()?,
        require_encryption: raw.tls.require_encryption,
    };
    match (&tls.cert, &tls.key) {
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                "tls.key",
                "required when tls.cert is set",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "tls.cert",
                "required when tls.key is set",
            ));
        }
        (Some(_), Some(_)) | (None, None) => {}
    }

    let sasl = SaslConfig {
        mechanisms: mechanisms(&raw.sasl.mechanisms)?,
        scram_iterations: at_least(
            "sasl.scram_iterations",
            raw.sasl.scram_iterations,
            MIN_SCRAM_ITERATIONS,
        )?,
        max_failures_per_ip: at_least("sasl.max_failures_per_ip", raw.sasl.max_failures_per_ip, 1)?,
        max_failures_per_account: at_least(
            "sasl.max_failures_per_account",
            raw.sasl.max_failures_per_account,
            1,
        )?,
        failure_window: duration("sasl.failure_window", &raw.sasl.failure_window)?,
        fast_token_lifetime: off_or_duration(
            "sasl.fast_token_lifetime",
            &raw.sasl.fast_token_lifetime,
        )?,
    };

    let storage = storage(
        raw.storage.url.as_deref(),
        raw.storage.max_connections,
        &data_dir,
    )?;

    let l = &raw.limits;
    let stanza_bytes = size("limits.stanza_bytes", &l.stanza_bytes)?;
    if stanza_bytes < MIN_STANZA_BYTES {
        return Err(ConfigError::invalid(
            "limits.stanza_bytes",
            format!("must be at least {MIN_STANZA_BYTES}"),
        ));
    }
    if stanza_bytes > MAX_STANZA_BYTES {
        return Err(ConfigError::invalid(
            "limits.stanza_bytes",
            format!("must be at most {MAX_STANZA_BYTES} (64 MiB)"),
        ));
    }
    let limits = LimitsConfig {
        stanza_bytes: usize::try_from(stanza_bytes)
            .map_err(|_| ConfigError::invalid("limits.stanza_bytes", "too large"))?,
        // A stanza is already depth 2 inside the stream; its payload needs a few more levels.
        depth: count("limits.depth", l.depth, 4)?,
        attributes: count("limits.attributes", l.attributes, 4)?,
        namespaces: count("limits.namespaces", l.namespaces, 2)?,
        handshake_timeout: duration("limits.handshake_timeout", &l.handshake_timeout)?,
        idle_timeout: duration("limits.idle_timeout", &l.idle_timeout)?,
        ping_timeout: duration("limits.ping_timeout", &l.ping_timeout)?,
        session_queue: count("limits.session_queue", l.session_queue, 1)?,
        max_connections: count("limits.max_connections", l.max_connections, 1)?,
        shutdown_grace: duration("limits.shutdown_grace", &l.shutdown_grace)?,
        stanza_timeout: duration("limits.stanza_timeout", &l.stanza_timeout)?,
        stanza_rate: off_or_count("limits.stanza_rate", l.stanza_rate)?,
        stanza_burst: count("limits.stanza_burst", l.stanza_burst, 1)?,
        connections_per_ip: off_or_count("limits.connections_per_ip", l.connections_per_ip)?,
        connect_rate_per_ip: off_or_count("limits.connect_rate_per_ip", l.connect_rate_per_ip)?,
        loopback_exempt: l.loopback_exempt,
    };

    let sessions = SessionsConfig {
        resource_conflict: match raw.sessions.resource_conflict.as_str() {
            "kick-old" => ResourceConflict::KickOld,
            "refuse" => ResourceConflict::Refuse,
            "rename" => ResourceConflict::Rename,
            other => {
                return Err(ConfigError::invalid(
                    "sessions.resource_conflict",
                    format!("\"{other}\" is not one of \"kick-old\", \"refuse\", \"rename\""),
                ));
            }
        },
        max_per_account: count("sessions.max_per_account", raw.sessions.max_per_account, 1)?,
        resumption_timeout: off_or_duration(
            "sessions.resumption_timeout",
            &raw.sessions.resumption_timeout,
        )?,
    };

    let logging = LoggingConfig {
        level: log_level(raw.logging.level)?,
        ips: match raw.logging.ips.as_str() {
            "never" => IpLogging::Never,
            "failed-logins" => IpLogging::FailedLogins,
            "always" => IpLogging::Always,
            other => {
                return Err(ConfigError::invalid(
                    "logging.ips",
                    format!("\"{other}\" is not one of \"never\", \"failed-logins\", \"always\""),
                ));
            }
        },
    };

    let admins = admins(&raw.admins, &domain)?;
    let http = super::http::validate(&raw.http)?;
    let contact = super::contact::validate(&raw.contact)?;

    let plugins = raw
        .plugins
        .map_or_else(default_plugins, Ok)?
        .into_iter()
        .map(|(name, p)| plugin(name, p))
        .collect::<Result<Vec<_>>>()?;

    Ok(Config {
        domain,
        data_dir,
        admins,
        listen,
        tls,
        sasl,
        storage,
        limits,
        sessions,
        features: FeaturesConfig {
            version: raw.features.version,
        },
        logging,
        http,
        contact,
        plugins,
    })
}

/// The plugins loaded when the config has no `[plugins]` table: the built-ins a public service
/// needs, with their grants, as an operator would write them.
/// The grant that lets a plugin's `router.send` speak for local accounts (WIT `router`).
const IMPERSONATE: &str = "router.impersonate";

fn default_plugins() -> Result<std::collections::BTreeMap<String, RawPlugin>> {
    toml::from_str(include_str!("default_plugins.toml"))
        .map_err(|e| ConfigError::invalid("plugins", format!("built-in defaults: {e}")))
}

/// Where a plugin's component comes from: `path`, `builtin`, or the built-in named like the table.
fn source(name: &str, path: Option<String>, builtin: Option<String>) -> Result<PluginSource> {
    let key = |k: &str| format!("plugins.{name}.{k}");
    match (path, builtin) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            &key("builtin"),
            "set either `path` or `builtin`, not both",
        )),
        (Some(path), None) => Ok(PluginSource::File(non_empty_path(&key("path"), path)?)),
        (None, builtin) => {
            let (which, key) = match builtin {
                Some(b) => (b, key("builtin")),
                None => (name.to_owned(), key("path")),
            };
            if crate::plugins::builtin::get(&which).is_some() {
                Ok(PluginSource::Builtin(which))
            } else {
                let known: Vec<_> = crate::plugins::builtin::names().collect();
                Err(ConfigError::invalid(
                    &key,
                    format!(
                        "no component file given, and \"{which}\" is not a built-in plugin \
                         (built-ins: {})",
                        known.join(", ")
                    ),
                ))
            }
        }
    }
}

/// `[plugins.<name>]`.
fn plugin(name: String, raw: RawPlugin) -> Result<PluginConfig> {
    let key = |k: &str| format!("plugins.{name}.{k}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(ConfigError::invalid(
            "plugins",
            format!("\"{name}\" is not a plugin name (lowercase letters, digits, '-', '_')"),
        ));
    }
    let source = source(&name, raw.path, raw.builtin)?;
    let mut grants = Vec::with_capacity(raw.grants.len());
    let mut impersonate = false;
    for g in &raw.grants {
        // Not an interface but a wider `router`: sending as a local account. It implies `router`.
        if g == IMPERSONATE {
            impersonate = true;
            if !grants.contains(&Capability::Router) {
                grants.push(Capability::Router);
            }
            continue;
        }
        let cap = Capability::ALL
            .into_iter()
            .find(|c| c.interface() == g)
            .ok_or_else(|| {
                let mut known: Vec<_> = Capability::ALL.iter().map(|c| c.interface()).collect();
                known.push(IMPERSONATE);
                ConfigError::invalid(
                    &key("grants"),
                    format!("unknown capability \"{g}\" (known: {})", known.join(", ")),
                )
            })?;
        if !grants.contains(&cap) {
            grants.push(cap);
        }
    }
    let fail = match raw.fail.as_str() {
        "closed" => FailMode::Closed,
        "open" => FailMode::Open,
        other => {
            return Err(ConfigError::invalid(
                &key("fail"),
                format!("\"{other}\" is not one of \"closed\", \"open\""),
            ));
        }
    };
    let memory = size(&key("memory"), &raw.memory)?;
    // A Rust guest needs a few pages for its stack and allocator before it does anything.
    if memory < 1 << 20 {
        return Err(ConfigError::invalid(
            &key("memory"),
            "must be at least 1MiB",
        ));
    }
    let ephemeral = size(&key("ephemeral"), &raw.ephemeral)?;
    let blob_max = size(&key("blob_max"), &raw.blob_max)?;
    if blob_max == 0 {
        return Err(ConfigError::invalid(&key("blob_max"), "must be at least 1"));
    }
    let blob_quota = size(&key("blob_quota"), &raw.blob_quota)?;
    let config = toml::to_string(&raw.config)
        .map_err(|e| ConfigError::invalid(&key("config"), e.to_string()))?;
    let mut retention = std::collections::BTreeMap::new();
    for (category, r) in raw.retention {
        let key = |k: &str| format!("plugins.{name}.retention.{category}.{k}");
        let max_age = match &r.max_age {
            Some(text) => Some(duration(&key("max_age"), text)?),
            None => None,
        };
        let max_items =
            match r.max_items {
                Some(n) => Some(u64::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                    ConfigError::invalid(&key("max_items"), "must be at least 1")
                })?),
                None => None,
            };
        retention.insert(category, Retention { max_age, max_items });
    }
    for (declared, served) in &raw.services {
        // One DNS label (RFC 1035 §2.3.1, lowercase): it becomes `<label>.<domain>`.
        let ok = !served.is_empty()
            && served.len() <= 63
            && served
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !served.starts_with('-')
            && !served.ends_with('-');
        if !ok {
            return Err(ConfigError::invalid(
                &format!("plugins.{name}.services.{declared}"),
                format!("\"{served}\" is not a DNS label (a-z, 0-9, '-')"),
            ));
        }
    }
    let http_allow = super::http::allow_list(
        &name,
        &raw.http_allow,
        grants.contains(&Capability::HttpOutbound),
    )?;
    Ok(PluginConfig {
        impersonate,
        services: raw.services,
        http_allow,
        retention,
        source,
        grants,
        fail,
        memory: usize::try_from(memory)
            .map_err(|_| ConfigError::invalid(&key("memory"), "too large"))?,
        timeout: duration(&key("timeout"), &raw.timeout)?,
        instances: count(&key("instances"), raw.instances, 1)?,
        max_traps: u32::try_from(count(&key("max_traps"), raw.max_traps, 1)?)
            .map_err(|_| ConfigError::invalid(&key("max_traps"), "too large"))?,
        ephemeral_bytes: usize::try_from(ephemeral)
            .map_err(|_| ConfigError::invalid(&key("ephemeral"), "too large"))?,
        blob_max,
        blob_quota,
        event_queue: count(&key("event_queue"), raw.event_queue, 1)?,
        config,
        name,
    })
}

/// `admins`: bare JIDs (RFC 7622 §3) of accounts on our own domain, normalised, no duplicates.
fn admins(raw: &[String], domain: &str) -> Result<Vec<jid::BareJid>> {
    let mut admins: Vec<jid::BareJid> = Vec::with_capacity(raw.len());
    for text in raw {
        let jid = jid::BareJid::new(text).map_err(|e| {
            ConfigError::invalid("admins", format!("\"{text}\" is not a bare JID: {e}"))
        })?;
        if jid.node().is_none() || jid.domain().as_str() != domain {
            return Err(ConfigError::invalid(
                "admins",
                format!("\"{text}\" is not an account of this server (user@{domain})"),
            ));
        }
        if !admins.contains(&jid) {
            admins.push(jid);
        }
    }
    Ok(admins)
}

/// RFC 7622 §3.2: a domainpart, normalised (lowercased, IDNA) as the `jid` crate does.
fn domain(raw: String) -> Result<String> {
    if raw.is_empty() {
        return Err(ConfigError::invalid("domain", "must not be empty"));
    }
    if raw.contains(['@', '/']) {
        return Err(ConfigError::invalid(
            "domain",
            format!("\"{raw}\" is a JID, not a domain (no '@' or '/')"),
        ));
    }
    let part = jid::DomainPart::new(&raw).map_err(|e| {
        ConfigError::invalid("domain", format!("\"{raw}\" is not a valid domain: {e}"))
    })?;
    Ok(part.as_str().to_ascii_lowercase())
}

fn non_empty_path(key: &str, raw: String) -> Result<PathBuf> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(key, "must not be empty"));
    }
    Ok(PathBuf::from(raw))
}

fn addrs(key: &str, raw: &[String]) -> Result<Vec<SocketAddr>> {
    raw.iter()
        .map(|a| {
            a.parse().map_err(|_| {
                ConfigError::invalid(
                    key,
                    format!("\"{a}\" is not an IP:port address (e.g. \"0.0.0.0:5222\")"),
                )
            })
        })
        .collect()
}

fn mechanisms(raw: &[String]) -> Result<Vec<SaslMechanism>> {
    const KEY: &str = "sasl.mechanisms";
    const ALL: [SaslMechanism; 5] = [
        SaslMechanism::ScramSha256Plus,
        SaslMechanism::ScramSha1Plus,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha1,
        SaslMechanism::Plain,
    ];
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            KEY,
            "must list at least one mechanism",
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for name in raw {
        let mech = ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<_> = ALL.iter().map(|m| m.name()).collect();
                ConfigError::invalid(
                    KEY,
                    format!("unknown mechanism \"{name}\" (known: {})", known.join(", ")),
                )
            })?;
        if out.contains(&mech) {
            return Err(ConfigError::invalid(
                KEY,
                format!("\"{}\" is listed twice", mech.name()),
            ));
        }
        out.push(mech);
    }
    Ok(out)
}

fn storage(
    url: Option<&str>,
    max_connections: u32,
    data_dir: &std::path::Path,
) -> Result<StorageConfig> {
    const KEY: &str = "storage.url";
    let Some(url) = url else {
        return Ok(StorageConfig::Sqlite {
            path: data_dir.join("tessera.db"),
        });
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        // `sqlite://data/x.db` is relative, `sqlite:///var/lib/x.db` absolute.
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(ConfigError::invalid(KEY, "sqlite:// URL has no file path"));
        }
        return Ok(StorageConfig::Sqlite {
            path: PathBuf::from(path),
        });
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StorageConfig::Postgres {
            url: url.to_owned(),
            max_connections: at_least("storage.max_connections", max_connections, 1)?,
        });
    }
    // Never echo the URL: it may carry a password.
    Err(ConfigError::invalid(
        KEY,
        "must start with \"sqlite://\" or \"postgres://\"",
    ))
}

fn at_least(key: &str, value: u32, min: u32) -> Result<u32> {
    if value < min {
        return Err(ConfigError::invalid(key, format!("must be at least {min}")));
    }
    Ok(value)
}

fn count(key: &str, value: i64, min: usize) -> Result<usize> {
    match usize::try_from(value) {
        Ok(v) if v >= min => Ok(v),
        _ => Err(ConfigError::invalid(key, format!("must be at least {min}"))),
    }
}

/// A limit where 0 means "no limit" (`None`).
fn off_or_count(key: &str, value: i64) -> Result<Option<usize>> {
    match usize::try_from(value) {
        Ok(0) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(_) => Err(ConfigError::invalid(
            key,
            "must be 0 (no limit) or a positive number",
        )),
    }
}

/// A positive human-readable duration: `"30s"`, `"5m"`, `"7d"`, `"1h 30m"`.
fn duration(key: &str, raw: &str) -> Result<Duration> {
    let d = humantime::parse_duration(raw.trim()).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("invalid duration \"{raw}\" ({e}); write e.g. \"30s\", \"5m\" or \"7d\""),
        )
    })?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be longer than zero"));
    }
    Ok(d)
}

/// A human-readable duration where zero (`"0s"`) turns the feature off.
fn off_or_duration(key: &str, raw: &str) -> Result<Duration> {
    if humantime::parse_duration(raw.trim()).is_ok_and(|d| d.is_zero()) {
        return Ok(Duration::ZERO);
    }
    duration(key, raw)
}

/// A byte count: an integer, or a number with a unit (`B`, `KiB`, `MiB`, `GiB`; `KB`/`MB`/`GB`
/// are read as the binary units too, as most operators mean them).
pub(crate) fn size(key: &str, raw: &RawSize) -> Result<u64> {
    let bad = || {
        ConfigError::invalid(
            key,
            "must be a number of bytes or a size like \"256KiB\" or \"1MiB\"",
        )
    };
    match raw {
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| bad()),
        RawSize::Text(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (digits, unit) = text.split_at(split);
            let n: u64 = digits.parse().map_err(|_| bad())?;
            let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                _ => return Err(bad()),
            };
            n.checked_mul(mult).ok_or_else(bad)
        }
    }
}

fn log_level(raw: String) -> Result<String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(&raw)
        .map_err(|e| {
            ConfigError::invalid("logging.level", format!("invalid filter \"{raw}\": {e}"))
        })?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_units() {
        let s = |t: &str| size("k", &RawSize::Text(t.to_owned()));
        assert_eq!(s("256KiB").unwrap(), 262_144);
        assert_eq!(s("1 MiB").unwrap(), 1_048_576);
        assert_eq!(s("4096").unwrap(), 4096);
        assert!(s("12 parsecs").is_err());
        assert!(s("KiB").is_err());
        assert!(size("k", &RawSize::Bytes(-1)).is_err());
    }

    #[test]
    fn durations_are_positive() {
        assert_eq!(
            duration("k", "7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(duration("k", "0s").is_err());
        assert!(duration("k", "soon").is_err());
    }

    #[test]
    fn plugin_sources_are_files_or_builtins() {
        let one = |toml: &str| {
            Config::from_toml_str(toml).map(|c| c.plugins.into_iter().next().map(|p| p.source))
        };
        assert_eq!(
            one("[plugins.x]\npath = \"x.wasm\"\n").unwrap(),
            Some(PluginSource::File("x.wasm".into()))
        );
        // No path: the table's name, or `builtin`, names a component in the binary.
        assert_eq!(
            one("[plugins.echo-bot]\n").unwrap(),
            Some(PluginSource::Builtin("echo-bot".to_owned()))
        );
        assert_eq!(
            one("[plugins.echo]\nbuiltin = \"echo-bot\"\n").unwrap(),
            Some(PluginSource::Builtin("echo-bot".to_owned()))
        );
        let e = one("[plugins.nope]\n").unwrap_err().to_string();
        assert!(e.starts_with("plugins.nope.path: "), "{e}");
        assert!(e.contains("built-ins: blocking, carbons, echo-bot"), "{e}");
        let e = one("[plugins.x]\nbuiltin = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("plugins.x.builtin: "), "{e}");
        let e = one("[plugins.x]\nbuiltin = \"echo-bot\"\npath = \"x.wasm\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        // No `[plugins]` table: the built-in defaults, which must be valid and name built-ins
        // only; an empty table: none.
        let defaults = Config::from_toml_str("")
            .expect("defaults are valid")
            .plugins;
        assert!(
            defaults
                .iter()
                .all(|p| matches!(p.source, PluginSource::Builtin(_)))
        );
        assert_eq!(one("[plugins]\n").unwrap(), None);
    }

    #[test]
    fn plugins_have_defaults_and_named_errors() {
        let c = Config::from_toml_str(
            "[plugins.echo]\npath = \"echo.wasm\"\ngrants = [\"log\", \"http-outbound\"]\n\
             http_allow = [\"push.example.org\"]\n\
             [plugins.echo.config]\napi_key = \"s3cret\"\n",
        )
        .expect("valid");
        let p = &c.plugins[0];
        assert_eq!(p.name, "echo");
        assert_eq!(p.grants, [Capability::Log, Capability::HttpOutbound]);
        assert_eq!(p.fail, FailMode::Closed);
        assert_eq!(p.memory, 64 << 20);
        assert_eq!(p.timeout, Duration::from_millis(50));
        assert_eq!(
            (p.instances, p.max_traps, p.ephemeral_bytes),
            (2, 5, 1 << 20)
        );
        assert!(p.config.contains("api_key"));
        assert!(p.retention.is_empty());
        assert_eq!((p.blob_max, p.blob_quota), (16 << 20, 1 << 30));
        assert_eq!(p.event_queue, 256);
        let c = Config::from_toml_str(
            "[plugins.mam]\npath = \"mam.wasm\"\n\
             [plugins.mam.retention.archive]\nmax_age = \"7d\"\nmax_items = 1000\n",
        )
        .expect("valid");
        assert_eq!(
            c.plugins[0].retention["archive"],
            Retention {
                max_age: Some(Duration::from_secs(7 * 86_400)),
                max_items: Some(1000),
            }
        );
        // The plugin's own config may hold secrets: never in Debug.
        assert!(!format!("{c:?}").contains("s3cret"));

        let err = |toml: &str| {
            Config::from_toml_str(&format!("[plugins.x]\npath = \"x.wasm\"\n{toml}"))
                .expect_err("invalid")
                .to_string()
        };
        assert!(err("grants = [\"sockets\"]").contains("plugins.x.grants"));
        assert!(err("fail = \"maybe\"").contains("plugins.x.fail"));
        assert!(err("memory = \"12KiB\"").contains("plugins.x.memory"));
        assert!(err("timeout = \"0s\"").contains("plugins.x.timeout"));
        assert!(err("instances = 0").contains("plugins.x.instances"));
        assert!(err("blob_max = 0").contains("plugins.x.blob_max"));
        assert!(err("blob_quota = \"lots\"").contains("plugins.x.blob_quota"));
        assert!(err("event_queue = 0").contains("plugins.x.event_queue"));
        assert!(
            err("[plugins.x.retention.notes]\nmax_age = \"never\"")
                .contains("plugins.x.retention.notes.max_age")
        );
        assert!(
            err("[plugins.x.retention.notes]\nmax_items = 0")
                .contains("plugins.x.retention.notes.max_items")
        );
        assert!(err("[plugins.x.retention.notes]\nmax_size = 1").contains("max_size"));
        assert!(Config::from_toml_str("[plugins.Bad]\npath = \"x\"\n").is_err());
        assert!(Config::from_toml_str("[plugins.x]\ngrants = []\n").is_err());
        assert!(!p.impersonate);
        // `router.impersonate` widens `router` and implies it.
        let c = Config::from_toml_str(
            "[plugins.mam]\npath = \"m.wasm\"\ngrants = [\"router.impersonate\", \"kv\"]\n",
        )
        .expect("valid");
        assert!(c.plugins[0].impersonate);
        assert_eq!(c.plugins[0].grants, [Capability::Router, Capability::Kv]);
    }

    #[test]
    fn admins_are_local_bare_jids() {
        let ok = Config::from_toml_str(
            "domain = \"example.org\"\nadmins = [\"Admin@example.org\", \"admin@example.org\"]",
        )
        .expect("valid admins");
        let admin = jid::BareJid::new("admin@example.org").expect("jid");
        assert!(ok.is_admin(&admin));
        assert_eq!(ok.admins, [admin]);
        for bad in [
            "admins = [\"admin@elsewhere.org\"]",
            "admins = [\"localhost\"]",
            "admins = [\"admin@localhost/phone\"]",
            "admins = [\"@@\"]",
        ] {
            let err = Config::from_toml_str(bad).expect_err(bad);
            assert_eq!(err.key().as_deref(), Some("admins"), "{bad}: {err}");
        }
    }

    #[test]
    fn domain_is_normalised() {
        assert_eq!(domain("Example.COM".to_owned()).unwrap(), "example.com");
        assert!(domain("user@example.com".to_owned()).is_err());
        assert!(domain("bad domain".to_owned()).is_err());
    }
}
