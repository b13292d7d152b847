//! `[http]` (the host's HTTP listener and the `http-outbound` client) and the per-plugin outbound
//! allow-list `[plugins.<name>] http_allow`.
//!
//! Kept apart from `raw`/`validate` so the HTTP keys live in one place: the raw serde types, their
//! defaults, the validated types and the checks.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::raw::RawSize;

/// `[http]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHttp {
    pub(crate) listen: Vec<String>,
    pub(crate) listen_tls: Vec<String>,
    pub(crate) max_body: RawSize,
    pub(crate) header_timeout: String,
    pub(crate) body_timeout: String,
    pub(crate) outbound_timeout: String,
    pub(crate) outbound_max_body: RawSize,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            listen_tls: Vec::new(),
            max_body: RawSize::Text("10MiB".to_owned()),
            header_timeout: "10s".to_owned(),
            body_timeout: "30s".to_owned(),
            outbound_timeout: "10s".to_owned(),
            outbound_max_body: RawSize::Text("1MiB".to_owned()),
        }
    }
}

/// Loopback only: a reverse proxy (which terminates TLS and owns the public port) fronts it.
pub(crate) fn default_listen() -> Vec<String> {
    vec!["127.0.0.1:5280".to_owned()]
}

/// The HTTP listener and the outbound client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Plain HTTP/1.1 sockets (default `127.0.0.1:5280`; empty: no plain listener).
    pub listen: Vec<SocketAddr>,
    /// HTTPS sockets, served with the server's certificate (default none).
    pub listen_tls: Vec<SocketAddr>,
    /// Largest request body accepted, in bytes (default 10 MiB); larger gets `413`.
    pub max_body: usize,
    /// Time allowed for a request's headers to arrive (default 10 s), also the TLS handshake's.
    pub header_timeout: Duration,
    /// Time allowed for a request's body to arrive (default 30 s); slower gets `408`.
    pub body_timeout: Duration,
    /// Time one `http-outbound` fetch may take, connect to last body byte (default 10 s).
    pub outbound_timeout: Duration,
    /// Largest response body an `http-outbound` fetch reads (default 1 MiB).
    pub outbound_max_body: usize,
}

/// One entry of a plugin's `http_allow`: a host (`push.example.org`), a host and port
/// (`127.0.0.1:8080`), or every subdomain of a domain (`*.example.org`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllowedHost {
    /// The host, lowercase (an IPv6 address without brackets); for a wildcard, the parent domain.
    pub host: String,
    /// The only port allowed; `None`: the scheme's default port only.
    pub port: Option<u16>,
    /// `*.host`: any subdomain of `host` (not `host` itself).
    pub wildcard: bool,
}

impl AllowedHost {
    /// Whether a URL's host and effective port are covered by this entry.
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        };
        host_ok && port == self.port.unwrap_or(default_port)
    }

    /// Whether this entry names a loopback host explicitly (`127.0.0.1`, `[::1]`, `localhost`),
    /// the only case where plain `http` is allowed.
    pub fn is_explicit_loopback(&self) -> bool {
        !self.wildcard
            && (self.host == "localhost"
                || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let wild = if self.wildcard { "*." } else { "" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{wild}{host}:{p}"),
            None => write!(f, "{wild}{host}"),
        }
    }
}

fn duration(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(raw.trim()).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("invalid duration \"{raw}\" ({e}); write e.g. \"10s\""),
        )
    })?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be longer than zero"));
    }
    Ok(d)
}

fn addrs(key: &str, raw: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    raw.iter()
        .map(|a| {
            a.parse().map_err(|_| {
                ConfigError::invalid(
                    key,
                    format!("\"{a}\" is not an IP:port address (e.g. \"127.0.0.1:5280\")"),
                )
            })
        })
        .collect()
}

fn bytes(key: &str, raw: &RawSize, min: u64) -> Result<usize, ConfigError> {
    let n = super::validate::size(key, raw)?;
    if n < min {
        return Err(ConfigError::invalid(key, format!("must be at least {min}")));
    }
    usize::try_from(n).map_err(|_| ConfigError::invalid(key, "too large"))
}

/// Validates `[http]`.
pub(crate) fn validate(raw: &RawHttp) -> Result<HttpConfig, ConfigError> {
    Ok(HttpConfig {
        listen: addrs("http.listen", &raw.listen)?,
        listen_tls: addrs("http.listen_tls", &raw.listen_tls)?,
        max_body: bytes("http.max_body", &raw.max_body, 1024)?,
        header_timeout: duration("http.header_timeout", &raw.header_timeout)?,
        body_timeout: duration("http.body_timeout", &raw.body_timeout)?,
        outbound_timeout: duration("http.outbound_timeout", &raw.outbound_timeout)?,
        outbound_max_body: bytes("http.outbound_max_body", &raw.outbound_max_body, 1024)?,
    })
}

/// Parses one `http_allow` entry.
fn allowed_host(key: &str, entry: &str) -> Result<AllowedHost, ConfigError> {
    let bad = |why: &str| ConfigError::invalid(key, format!("\"{entry}\": {why}"));
    let text = entry.trim().to_ascii_lowercase();
    let (wildcard, rest) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    // `[::1]:8080`, `[::1]`, `host:port`, `host`; a bare IPv6 address is not accepted (ambiguous).
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("expected :port"))?),
        };
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address"))?;
        (addr.to_owned(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().ok().filter(|&p| p != 0))
        .map(|p| p.ok_or_else(|| bad("the port must be 1-65535")))
        .transpose()?;
    let dns_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !dns_ok && host.parse::<IpAddr>().is_err() {
        return Err(bad("not a host name, an IP address, or *.domain"));
    }
    if wildcard && host.parse::<IpAddr>().is_ok() {
        return Err(bad("a wildcard needs a domain, not an address"));
    }
    Ok(AllowedHost {
        host,
        port,
        wildcard,
    })
}

/// Validates `[plugins.<plugin>] http_allow`: required (non-empty) when the plugin is granted
/// `http-outbound`, and meaningless (so refused) without the grant.
pub(crate) fn allow_list(
    plugin: &str,
    raw: &[String],
    granted: bool,
) -> Result<Vec<AllowedHost>, ConfigError> {
    let key = format!("plugins.{plugin}.http_allow");
    if granted && raw.is_empty() {
        return Err(ConfigError::invalid(
            &key,
            "the plugin is granted \"http-outbound\" but may reach no host: list the hosts \
             (\"push.example.org\", \"127.0.0.1:8080\") or remove the grant",
        ));
    }
    if !granted && !raw.is_empty() {
        return Err(ConfigError::invalid(
            &key,
            "set, but \"http-outbound\" is not in the plugin's grants",
        ));
    }
    raw.iter().map(|e| allowed_host(&key, e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(e: &str) -> AllowedHost {
        allowed_host("k", e).expect("valid entry")
    }

    #[test]
    fn entries_parse_and_match() {
        let a = allow("Push.Example.org");
        assert!(a.matches("push.example.org", 443, 443));
        assert!(!a.matches("push.example.org", 8443, 443));
        assert!(!a.matches("evil.push.example.org", 443, 443));
        let a = allow("127.0.0.1:8080");
        assert!(a.matches("127.0.0.1", 8080, 80));
        assert!(!a.matches("127.0.0.1", 8081, 80));
        assert!(a.is_explicit_loopback());
        let a = allow("*.example.org");
        assert!(a.matches("a.example.org", 443, 443));
        assert!(a.matches("a.b.example.org", 443, 443));
        assert!(!a.matches("example.org", 443, 443));
        assert!(!a.matches("badexample.org", 443, 443));
        assert!(!a.is_explicit_loopback());
        let a = allow("[::1]:9000");
        assert!(a.matches("::1", 9000, 80));
        assert_eq!(a.to_string(), "[::1]:9000");
    }

    #[test]
    fn bad_entries_are_refused_by_key() {
        for bad in [
            "",
            "a b",
            "host:0",
            "host:99999",
            "*.127.0.0.1",
            "[::1",
            "x/y",
        ] {
            let e = allowed_host("plugins.p.http_allow", bad).expect_err(bad);
            assert_eq!(e.key().as_deref(), Some("plugins.p.http_allow"), "{bad}");
        }
    }

    #[test]
    fn defaults_and_named_errors() {
        let c = crate::Config::from_toml_str("").expect("defaults");
        let loopback: SocketAddr = "127.0.0.1:5280".parse().expect("literal");
        assert_eq!(c.http.listen, vec![loopback]);
        assert!(c.http.listen_tls.is_empty());
        assert_eq!(c.http.max_body, 10 << 20);
        assert_eq!(c.http.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.body_timeout, Duration::from_secs(30));
        assert_eq!(c.http.outbound_timeout, Duration::from_secs(10));
        assert_eq!(c.http.outbound_max_body, 1 << 20);
        let off = crate::Config::from_toml_str("[http]\nlisten = []\n").expect("off");
        assert!(off.http.listen.is_empty());
        for (toml, key) in [
            ("listen = [\"localhost:80\"]", "http.listen"),
            ("listen_tls = [\"x\"]", "http.listen_tls"),
            ("max_body = 10", "http.max_body"),
            ("header_timeout = \"0s\"", "http.header_timeout"),
            ("outbound_timeout = \"soon\"", "http.outbound_timeout"),
        ] {
            let e = crate::Config::from_toml_str(&format!("[http]\n{toml}\n")).expect_err(toml);
            assert_eq!(e.key().as_deref(), Some(key), "{toml}");
        }
    }

    #[test]
    fn grant_and_list_go_together() {
        let e = allow_list("p", &[], true).expect_err("grant without hosts");
        assert_eq!(e.key().as_deref(), Some("plugins.p.http_allow"));
        let e = allow_list("p", &["a.org".into()], false).expect_err("hosts without grant");
        assert_eq!(e.key().as_deref(), Some("plugins.p.http_allow"));
        assert!(allow_list("p", &[], false).expect("neither").is_empty());
    }
}
