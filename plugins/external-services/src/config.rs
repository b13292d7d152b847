//! The operator's settings (`[plugins.external-services.config]`), checked in `init`.
//!
//! ```toml
//! [plugins.external-services.config]
//! secret = "the static-auth-secret of coturn"   # required when a service is restricted
//! lifetime = "1d"                                # how long issued TURN credentials last
//!
//! [[plugins.external-services.config.services]]
//! type = "turn"            # "stun", "turn" or "turns"
//! host = "turn.example.org"
//! port = 3478              # default: 3478, 5349 for "turns"
//! transport = "udp"        # "udp" or "tcp"; default: "udp", "tcp" for "turns"
//! name = "Example relay"   # optional, shown by some clients
//! restricted = true        # needs credentials; default: true except for "stun"
//! ```
//!
//! serde checks the shape: every table refuses unknown keys (`deny_unknown_fields`). Each value
//! is then read on its own, so that every error starts with its key (`services[1].port: …`),
//! as the host's own config errors do, and no error ever quotes the secret.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Value;

/// How long credentials last unless the operator says otherwise: a day, as Prosody and
/// ejabberd default to; a call set up near the end of it still has the TURN allocation it made.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The shortest lifetime accepted: shorter would expire while a client sets up a call.
const MIN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest lifetime accepted: a credential that outlives a month is a standing password,
/// not a time-limited one, and the relay has no way to revoke it.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The shared secret (coturn's `static-auth-secret`). Never printed: `Debug` is redacted and
/// nothing else formats it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret's bytes, for the HMAC key.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A service type from the XEP-0215 §8.3 registry (`turns`, TURN over TLS, as RFC 7065 names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServiceType {
    /// STUN (RFC 8489).
    Stun,
    /// TURN (RFC 8656).
    Turn,
    /// TURN over TLS (RFC 7065 `turns:`).
    Turns,
}

impl ServiceType {
    /// The `type` attribute value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServiceType::Stun => "stun",
            ServiceType::Turn => "turn",
            ServiceType::Turns => "turns",
        }
    }
}

/// The transport protocol (XEP-0215 §2, `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl Transport {
    /// The `transport` attribute value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One external service, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    pub(crate) type_: ServiceType,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) transport: Transport,
    pub(crate) name: Option<String>,
    /// Clients need credentials for it (XEP-0215 §2, `restricted`): the plugin issues them.
    pub(crate) restricted: bool,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `None` only when no service is restricted.
    pub(crate) secret: Option<Secret>,
    pub(crate) lifetime: Duration,
    /// In the order configured, which is the order clients get them in.
    pub(crate) services: Vec<Service>,
}

impl Default for Settings {
    /// No services: what a plugin that was never initialised answers with.
    fn default() -> Self {
        Self {
            secret: None,
            lifetime: DEFAULT_LIFETIME,
            services: Vec::new(),
        }
    }
}

pub(crate) use tessera_sdk::config::ConfigError;

/// The top-level table's shape; values are read one by one ([`typed`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    secret: Option<Value>,
    lifetime: Option<Value>,
    services: Option<Value>,
}

/// One `[[services]]` table's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(rename = "type")]
    type_: Option<Value>,
    host: Option<Value>,
    port: Option<Value>,
    transport: Option<Value>,
    name: Option<Value>,
    restricted: Option<Value>,
}

/// Reads one value as `T`; the error names `key`. Not for the secret (serde's messages quote
/// the value).
fn typed<T: for<'de> Deserialize<'de>>(key: &str, value: Value) -> Result<T, ConfigError> {
    T::deserialize(value).map_err(|e| ConfigError::new(key, e.message().to_owned()))
}

/// Reads a table's shape; an unknown key is named by serde's message.
fn shape<T: for<'de> Deserialize<'de>>(key: &str, value: Value) -> Result<T, ConfigError> {
    match value {
        Value::Table(_) => typed(key, value),
        _ => Err(ConfigError::new(key, "expected a table")),
    }
}

impl Settings {
    /// Parses the serialised `[plugins.<name>.config]` table.
    ///
    /// # Errors
    ///
    /// Not TOML, an unknown key, a value of the wrong type or out of range, no services, or a
    /// restricted service without a secret.
    pub(crate) fn parse(text: &str) -> Result<Self, ConfigError> {
        // Only the message: a TOML syntax error's snippet could show the secret's line.
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))?;
        let raw: RawSettings = shape("config", Value::Table(table))?;
        let secret = match raw.secret {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(Secret(s)),
            Some(Value::String(_)) => return Err(ConfigError::new("secret", "must not be empty")),
            Some(_) => return Err(ConfigError::new("secret", "expected a string")),
        };
        let lifetime = match raw.lifetime {
            None => DEFAULT_LIFETIME,
            Some(v) => lifetime(typed::<String>("lifetime", v)?.as_str())?,
        };
        let services = match raw.services {
            None => Vec::new(),
            Some(v) => typed::<Vec<Value>>("services", v)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| service(&format!("services[{i}]"), v))
                .collect::<Result<Vec<_>, _>>()?,
        };
        if services.is_empty() {
            return Err(ConfigError::new(
                "services",
                "list at least one service ([[plugins.<name>.config.services]])",
            ));
        }
        if secret.is_none()
            && let Some(i) = services.iter().position(|s| s.restricted)
        {
            return Err(ConfigError::new(
                "secret",
                format!(
                    "required: services[{i}] is restricted (set the TURN server's \
                     static-auth-secret here, or restricted = false)"
                ),
            ));
        }
        Ok(Self {
            secret,
            lifetime,
            services,
        })
    }
}

/// A human-readable duration (`"1d"`, `"12h"`) within the accepted range.
fn lifetime(text: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(text).map_err(|e| {
        ConfigError::new("lifetime", format!("expected a duration like \"1d\": {e}"))
    })?;
    if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&d) {
        return Err(ConfigError::new(
            "lifetime",
            "must be from \"1m\" to \"30d\"",
        ));
    }
    Ok(d)
}

fn service(key: &str, value: Value) -> Result<Service, ConfigError> {
    let raw: RawService = shape(key, value)?;
    let field = |name: &str| format!("{key}.{name}");
    let type_: ServiceType = match raw.type_ {
        Some(v) => typed(&field("type"), v)?,
        None => {
            return Err(ConfigError::new(
                field("type"),
                "required: \"stun\", \"turn\" or \"turns\"",
            ));
        }
    };
    let host: String = match raw.host {
        Some(v) => typed(&field("host"), v)?,
        None => return Err(ConfigError::new(field("host"), "required")),
    };
    // XEP-0215 §2: a domain name or an IP address, sent as an attribute.
    if host.is_empty()
        || host.len() > 255
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::new(
            field("host"),
            "expected a domain name or an IP address",
        ));
    }
    let port = match raw.port {
        Some(v) => {
            let port: u16 = typed(&field("port"), v)?;
            if port == 0 {
                return Err(ConfigError::new(field("port"), "expected 1 to 65535"));
            }
            port
        }
        // RFC 8489 §9 and RFC 8656 §4: 3478 for STUN and TURN, 5349 over TLS.
        None if type_ == ServiceType::Turns => 5349,
        None => 3478,
    };
    let transport = match raw.transport {
        Some(v) => typed(&field("transport"), v)?,
        None if type_ == ServiceType::Turns => Transport::Tcp,
        None => Transport::Udp,
    };
    let name = match raw.name {
        Some(v) => {
            let name: String = typed(&field("name"), v)?;
            if name.is_empty() {
                return Err(ConfigError::new(
                    field("name"),
                    "must not be empty (leave it out)",
                ));
            }
            Some(name)
        }
        None => None,
    };
    let restricted = match raw.restricted {
        Some(v) => typed(&field("restricted"), v)?,
        None => type_ != ServiceType::Stun,
    };
    Ok(Service {
        type_,
        host,
        port,
        transport,
        name,
        restricted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "secret = \"s3cr3t\"\n\
        [[services]]\ntype = \"turn\"\nhost = \"turn.example.org\"\n";

    #[test]
    fn defaults_fill_in_port_transport_restriction_and_lifetime() {
        let s = Settings::parse(
            "secret = \"s3cr3t\"\n\
             [[services]]\ntype = \"stun\"\nhost = \"stun.example.org\"\n\
             [[services]]\ntype = \"turn\"\nhost = \"turn.example.org\"\n\
             [[services]]\ntype = \"turns\"\nhost = \"turn.example.org\"\n",
        )
        .unwrap();
        assert_eq!(s.lifetime, DEFAULT_LIFETIME);
        let summary: Vec<_> = s
            .services
            .iter()
            .map(|s| (s.type_, s.port, s.transport, s.restricted, s.name.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (ServiceType::Stun, 3478, Transport::Udp, false, None),
                (ServiceType::Turn, 3478, Transport::Udp, true, None),
                (ServiceType::Turns, 5349, Transport::Tcp, true, None),
            ]
        );
    }

    #[test]
    fn every_setting_is_read() {
        let s = Settings::parse(
            "secret = \"s3cr3t\"\nlifetime = \"12h\"\n\
             [[services]]\ntype = \"turn\"\nhost = \"192.0.2.1\"\nport = 80\n\
             transport = \"tcp\"\nname = \"Relay\"\nrestricted = false\n",
        )
        .unwrap();
        assert_eq!(s.secret.as_ref().map(Secret::expose), Some(&b"s3cr3t"[..]));
        assert_eq!(s.lifetime, Duration::from_secs(12 * 3600));
        assert_eq!(
            s.services,
            [Service {
                type_: ServiceType::Turn,
                host: "192.0.2.1".into(),
                port: 80,
                transport: Transport::Tcp,
                name: Some("Relay".into()),
                restricted: false,
            }]
        );
    }

    #[test]
    fn only_restricted_services_need_the_secret() {
        let s = Settings::parse("[[services]]\ntype = \"stun\"\nhost = \"stun.example.org\"\n")
            .unwrap();
        assert_eq!(s.secret, None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Settings::parse(MINIMAL).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn every_error_names_its_key() {
        let svc = |extra: &str| {
            format!("secret = \"s3cr3t\"\n[[services]]\ntype = \"turn\"\nhost = \"h\"\n{extra}")
        };
        for (text, key) in [
            (
                "secrett = \"x\"\n".to_owned(),
                "config: unknown field `secrett`",
            ),
            (
                svc("colour = \"red\""),
                "services[0]: unknown field `colour`",
            ),
            (
                "secret = 5\n[[services]]\ntype = \"turn\"\nhost = \"h\"".to_owned(),
                "secret: ",
            ),
            (
                "secret = \"\"\n[[services]]\ntype = \"turn\"\nhost = \"h\"".to_owned(),
                "secret: ",
            ),
            (
                svc("").replace("secret = \"s3cr3t\"\n", ""),
                "secret: required",
            ),
            ("secret = \"x\"\n".to_owned(), "services: "),
            ("secret = \"x\"\nservices = []\n".to_owned(), "services: "),
            ("secret = \"x\"\nservices = 3\n".to_owned(), "services: "),
            (
                "secret = \"x\"\nservices = [3]\n".to_owned(),
                "services[0]: ",
            ),
            (format!("lifetime = 3\n{}", svc("")), "lifetime: "),
            (format!("lifetime = \"soon\"\n{}", svc("")), "lifetime: "),
            (format!("lifetime = \"59s\"\n{}", svc("")), "lifetime: "),
            (format!("lifetime = \"31d\"\n{}", svc("")), "lifetime: "),
            (svc("port = 0"), "services[0].port: "),
            (svc("port = 65536"), "services[0].port: "),
            (svc("port = \"3478\""), "services[0].port: "),
            (svc("transport = \"sctp\""), "services[0].transport: "),
            (svc("name = \"\""), "services[0].name: "),
            (svc("restricted = \"yes\""), "services[0].restricted: "),
            (
                "secret = \"x\"\n[[services]]\ntype = \"ftp\"\nhost = \"h\"".to_owned(),
                "services[0].type: ",
            ),
            (
                "secret = \"x\"\n[[services]]\nhost = \"h\"".to_owned(),
                "services[0].type: ",
            ),
            (
                "secret = \"x\"\n[[services]]\ntype = \"turn\"".to_owned(),
                "services[0].host: ",
            ),
            (
                "secret = \"x\"\n[[services]]\ntype = \"turn\"\nhost = \"a b\"".to_owned(),
                "services[0].host: ",
            ),
            ("secret = ".to_owned(), "config: "),
        ] {
            let err = Settings::parse(&text).expect_err(&text).to_string();
            assert!(err.starts_with(key), "{text:?}: {err}");
        }
    }

    #[test]
    fn no_error_quotes_the_secret() {
        for text in [
            "secret = 123456\n[[services]]\ntype = \"turn\"\nhost = \"h\"",
            "secret = \"hunter2\" oops\n",
            "secret = \"hunter2\"\nbogus = 1\n",
        ] {
            let err = Settings::parse(text).unwrap_err().to_string();
            assert!(!err.contains("123456") && !err.contains("hunter2"), "{err}");
        }
    }
}
