//! Plugins and HTTP: the index of the manifests' `http-routes`, `on-http` calls for the host's
//! listener (`crate::http`), and the guest side of `http-outbound` (the allow-list and the WIT
//! mapping; the transport is `crate::http::client`).
//!
//! Routes are a method (`*` for any) and a path prefix; a request goes to the longest matching
//! prefix. Two plugins on the same method and prefix are a load error naming both, like two
//! owners of an IQ payload. Paths the host serves itself ([`HOST_PATHS`]) cannot be claimed.

use super::bindings::tessera::plugin::http_types::{Request, Response};
use super::bindings::tessera::plugin::types::Error;
use super::instance::{Failure, HostState, LoadedPlugin};
use super::{PluginError, dispatch::Registry};
use crate::config::{AllowedHost, Capability};
use crate::http::client::{self, FetchError};

/// Path prefixes the host serves: the published privacy policy (DESIGN.md "Privacy engine").
pub(crate) const HOST_PATHS: [&str; 1] = ["/privacy"];

/// One plugin route.
#[derive(Debug)]
struct Route {
    /// Uppercase method; `None` for `*`.
    method: Option<String>,
    prefix: String,
    plugin: usize,
}

/// The routes of every loaded plugin.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    routes: Vec<Route>,
}

/// What is wrong with one declared route, if anything.
fn route_problem(method: &str, prefix: &str) -> Option<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if method.is_empty() || !method.chars().all(token) {
        return Some(format!(
            "HTTP route method \"{method}\" is not a method or \"*\""
        ));
    }
    if !prefix.starts_with('/')
        || prefix
            .chars()
            .any(|c| c.is_ascii_control() || c.is_whitespace() || c == '?' || c == '#')
    {
        return Some(format!(
            "HTTP route prefix \"{prefix}\" must be a path starting with '/' (no query)"
        ));
    }
    if let Some(host) = HOST_PATHS.iter().find(|h| prefix.starts_with(*h)) {
        return Some(format!(
            "HTTP route prefix \"{prefix}\" is under {host}, which the host serves"
        ));
    }
    None
}

impl Routes {
    /// Indexes the routes of `plugins` (in registry order).
    ///
    /// # Errors
    /// A malformed route or one under a host path ([`PluginError::Manifest`]); the same method
    /// (or `*`) and prefix in two plugins ([`PluginError::Clash`]).
    pub(crate) fn build(plugins: &[std::sync::Arc<LoadedPlugin>]) -> Result<Self, PluginError> {
        let mut routes: Vec<Route> = Vec::new();
        for (i, p) in plugins.iter().enumerate() {
            for r in &p.manifest.http_routes {
                if let Some(problem) = route_problem(&r.method, &r.path_prefix) {
                    return Err(PluginError::Manifest {
                        plugin: p.name().to_owned(),
                        problem,
                    });
                }
                let method = (r.method != "*").then(|| r.method.to_ascii_uppercase());
                let clash = routes.iter().find(|o| {
                    o.prefix == r.path_prefix
                        && (o.method.is_none() || method.is_none() || o.method == method)
                });
                if let Some(other) = clash {
                    // The same plugin twice is its own business; the longest-prefix lookup takes
                    // the first.
                    if other.plugin != i {
                        return Err(PluginError::Clash {
                            what: format!("HTTP route {} {}", r.method, r.path_prefix),
                            first: plugins[other.plugin].name().to_owned(),
                            second: p.name().to_owned(),
                        });
                    }
                }
                routes.push(Route {
                    method,
                    prefix: r.path_prefix.clone(),
                    plugin: i,
                });
            }
        }
        Ok(Self { routes })
    }

    /// The plugin serving `method` on `path`: the longest matching prefix.
    pub(crate) fn lookup(&self, method: &str, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .filter(|r| path.starts_with(&r.prefix))
            .filter(|r| r.method.as_deref().is_none_or(|m| m == method))
            .max_by_key(|r| r.prefix.len())
            .map(|r| r.plugin)
    }
}

/// Why a plugin gave no response of its own; the listener answers with the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpFailure {
    /// No route matches: `404`.
    NoRoute,
    /// The call trapped: `500`.
    Trapped,
    /// Timed out, disabled, or every instance busy: `503`.
    Unavailable,
}

/// Calls `on-http` of the plugin routing `method` and `path`, on a pooled instance with the
/// usual deadline, memory cap and breaker.
///
/// # Cancel safety
/// Cancel safe in that nothing is left half done: a cancelled call discards its instance.
pub(crate) async fn call(
    registry: &Registry,
    path: &str,
    req: Request,
) -> Result<(String, Response), HttpFailure> {
    let index = registry
        .http
        .lookup(&req.method, path)
        .ok_or(HttpFailure::NoRoute)?;
    let plugin = &registry.plugins[index];
    let outcome = async {
        let mut lease = plugin.acquire().await?;
        let instance = &mut lease.instance;
        let result = instance
            .bindings
            .tessera_plugin_handler()
            .call_on_http(&mut instance.store, &req)
            .await;
        plugin.finish(lease, "on-http", result)
    }
    .await;
    // The fail mode decides for stanzas whether to pass on; an HTTP request has nobody to pass
    // to, so a crash is the server's error and anything else is "try again later".
    match outcome {
        Ok(response) => Ok((plugin.name().to_owned(), response)),
        Err(Failure::Crash | Failure::Memory) => Err(HttpFailure::Trapped),
        Err(Failure::Timeout | Failure::Disabled | Failure::Busy) => Err(HttpFailure::Unavailable),
    }
}

/// The entry of `allow` that permits `uri`, if any: host and effective port must match, and
/// plain `http` needs an entry naming a loopback host explicitly.
fn permitted<'a>(allow: &'a [AllowedHost], uri: &hyper::Uri) -> Option<&'a AllowedHost> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return None,
    };
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let default_port = if https { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    allow
        .iter()
        .find(|a| a.matches(host, port, default_port))
        .filter(|a| https || a.is_explicit_loopback())
}

impl HostState {
    /// `http-outbound.fetch`: the grant, the allow-list, then the request under
    /// `http.outbound_timeout`.
    ///
    /// The guest waits for the response inside this host call, which does not count against
    /// its deadline (`caps` holds a `HostWait` around it, see `super::deadline`): the
    /// budget measures the guest's own work, and the fetch has its own timeout. While it waits,
    /// the instance stays leased, so other calls to the plugin use its other instances.
    pub(crate) async fn http_fetch(&mut self, req: Request) -> Result<Response, Error> {
        if !self.plugin.granted(Capability::HttpOutbound) {
            return Err(Error::NotGranted);
        }
        let shared = self
            .plugin
            .server()
            .ok_or_else(|| Error::Unavailable("the server is not running yet".to_owned()))?;
        let uri: hyper::Uri = req
            .uri
            .parse()
            .map_err(|_| Error::Invalid("not an absolute http(s) URL".to_owned()))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(Error::Invalid("URLs with user info are refused".to_owned()));
        }
        let allow = shared
            .config
            .plugins
            .iter()
            .find(|p| p.name == self.plugin.name)
            .map_or(&[][..], |p| p.http_allow.as_slice());
        if permitted(allow, &uri).is_none() {
            // The host only: a URL's path or query may carry tokens.
            tracing::info!(
                plugin = %self.plugin.name,
                host = uri.host().unwrap_or(""),
                "http-outbound to a host outside the plugin's http_allow refused"
            );
            return Err(Error::NotGranted);
        }
        let result = client::fetch(&shared.config.http, uri, req).await;
        result.map_err(|e| match e {
            FetchError::Invalid(what) => Error::Invalid(what),
            FetchError::TooLarge => Error::QuotaExceeded,
            other => {
                tracing::debug!(plugin = %self.plugin.name, error = %other, "http-outbound fetch failed");
                Error::Unavailable(other.to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> Vec<AllowedHost> {
        let raw: Vec<_> = entries.iter().map(|e| format!("{e:?}")).collect();
        let config = crate::Config::from_toml_str(&format!(
            "[plugins.p]\npath = \"p.wasm\"\ngrants = [\"http-outbound\"]\nhttp_allow = [{}]\n",
            raw.join(", ")
        ))
        .expect("valid config");
        config.plugins[0].http_allow.clone()
    }

    fn ok(allow: &[AllowedHost], url: &str) -> bool {
        permitted(allow, &url.parse().expect("uri")).is_some()
    }

    #[test]
    fn only_listed_hosts_and_https_or_explicit_loopback() {
        let a = allow(&["push.example.org", "127.0.0.1:8080", "*.cdn.example.org"]);
        assert!(ok(&a, "https://push.example.org/v1?token=x"));
        assert!(!ok(&a, "http://push.example.org/v1"));
        assert!(!ok(&a, "https://push.example.org:8443/"));
        assert!(!ok(&a, "https://example.org/"));
        assert!(ok(&a, "http://127.0.0.1:8080/x"));
        assert!(!ok(&a, "http://127.0.0.1:8081/x"));
        assert!(!ok(&a, "http://127.0.0.1/x"));
        assert!(ok(&a, "https://a.cdn.example.org/"));
        assert!(!ok(&a, "http://a.cdn.example.org/"));
        assert!(!ok(&a, "ftp://push.example.org/"));
        assert!(!ok(&a, "/relative"));
    }

    #[test]
    fn routes_are_checked() {
        assert!(route_problem("GET", "/upload/").is_none());
        assert!(route_problem("*", "/").is_none());
        assert!(route_problem("GET", "/privacy").is_some());
        assert!(route_problem("GET", "/privacy.json").is_some());
        assert!(route_problem("GET", "upload/").is_some());
        assert!(route_problem("GET", "/a?b").is_some());
        assert!(route_problem("G ET", "/a").is_some());
    }

    #[test]
    fn longest_prefix_and_method_win() {
        let r = Routes {
            routes: vec![
                Route {
                    method: None,
                    prefix: "/".into(),
                    plugin: 0,
                },
                Route {
                    method: Some("GET".into()),
                    prefix: "/up/".into(),
                    plugin: 1,
                },
            ],
        };
        assert_eq!(r.lookup("GET", "/up/x"), Some(1));
        assert_eq!(r.lookup("PUT", "/up/x"), Some(0));
        assert_eq!(r.lookup("GET", "/other"), Some(0));
        assert_eq!(Routes::default().lookup("GET", "/"), None);
    }
}
