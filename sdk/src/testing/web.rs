//! The fake host's `http-outbound`: an allow-list checked as the host checks the operator's
//! `http_allow` (host and effective port; `*.` for subdomains; plain `http` only to a loopback
//! host named explicitly), canned responses by URL, and a record of what was fetched.

use std::collections::BTreeMap;

use super::{FakeHost, HOST};
use crate::error::HostError;
use crate::http_outbound::{split_authority, split_url};
use crate::plugin::{HttpRequest, HttpResponse};

/// The fake's outbound HTTP.
#[derive(Debug, Default)]
pub(super) struct Web {
    /// (wildcard, host, port if given).
    allow: Vec<(bool, String, Option<u16>)>,
    responses: BTreeMap<String, HttpResponse>,
    fetched: Vec<HttpRequest>,
}

impl Web {
    fn permitted(&self, https: bool, host: &str, port: u16) -> bool {
        let default_port = if https { 443 } else { 80 };
        let host = host.trim_end_matches('.');
        self.allow.iter().any(|(wildcard, allowed, allowed_port)| {
            let host_ok = if *wildcard {
                host.strip_suffix(allowed.as_str())
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            } else {
                host == allowed
            };
            let loopback = !*wildcard
                && (allowed == "localhost"
                    || allowed
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback()));
            host_ok && port == allowed_port.unwrap_or(default_port) && (https || loopback)
        })
    }
}

fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// Adds an entry to the plugin's allow-list, written as in the operator's `http_allow`:
/// `host`, `host:port`, `*.domain` or `[v6]:port`.
///
/// # Panics
///
/// If the entry is malformed: a mistake in the test.
pub fn allow_http(entry: &str) {
    let (wildcard, rest) = match entry.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let (host, port) = split_authority(rest).expect("test http_allow entry");
    with(|h| h.web.allow.push((wildcard, host, port)));
}

/// Answers every later fetch of exactly `url` with `response`.
pub fn serve_http(url: &str, response: HttpResponse) {
    with(|h| h.web.responses.insert(url.to_owned(), response));
}

/// The requests the plugin fetched (the permitted ones) since the last call, oldest first.
pub fn take_fetched() -> Vec<HttpRequest> {
    with(|h| std::mem::take(&mut h.web.fetched))
}

pub(super) mod fake {
    use super::*;

    pub(crate) fn http_fetch(req: &HttpRequest) -> Result<HttpResponse, HostError> {
        with(|h| {
            h.granted("http-outbound")?;
            let (https, host, port) = split_url(&req.uri)?;
            if !h.web.permitted(https, &host, port) {
                return Err(HostError::NotGranted);
            }
            h.web.fetched.push(req.clone());
            // An unknown URL is an unreachable peer, as on the host.
            h.web.responses.get(&req.uri).cloned().ok_or_else(|| {
                HostError::Unavailable("fake host: no response for this URL".to_owned())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{deny, reset};
    use super::*;
    use crate::http_outbound::fetch;

    #[test]
    fn fetch_checks_the_allow_list_like_the_host() {
        reset();
        allow_http("push.example.org");
        allow_http("*.cdn.example");
        allow_http("127.0.0.1:8080");
        serve_http(
            "https://push.example.org/v1?t=1",
            HttpResponse::status(201).header("Location", "/v1/7"),
        );
        let resp = fetch(&HttpRequest::post("https://push.example.org/v1?t=1", "{}")).unwrap();
        assert_eq!(resp.status, 201);
        assert!(resp.is_success());
        assert_eq!(resp.get_header("location"), Some("/v1/7"));
        let fetched = take_fetched();
        assert_eq!(
            (fetched[0].method.as_str(), &fetched[0].body[..]),
            ("POST", &b"{}"[..])
        );

        let refused = |url: &str| fetch(&HttpRequest::get(url));
        assert_eq!(refused("https://evil.example/"), Err(HostError::NotGranted));
        assert_eq!(
            refused("https://push.example.org:8443/"),
            Err(HostError::NotGranted),
            "another port"
        );
        assert_eq!(
            refused("http://push.example.org/"),
            Err(HostError::NotGranted),
            "plain http only to loopback"
        );
        assert_eq!(refused("https://cdn.example/"), Err(HostError::NotGranted));
        assert!(matches!(
            refused("https://a.cdn.example/x"),
            Err(HostError::Unavailable(_))
        ));
        assert!(matches!(
            refused("http://127.0.0.1:8080/hook"),
            Err(HostError::Unavailable(_))
        ));
        assert!(matches!(
            refused("https://user:pw@push.example.org/"),
            Err(HostError::Invalid(_))
        ));
        assert!(matches!(
            refused("ftp://push.example.org/"),
            Err(HostError::Invalid(_))
        ));
        assert!(
            take_fetched().len() == 2,
            "only permitted requests are recorded"
        );
        deny("http-outbound");
        assert_eq!(
            refused("https://push.example.org/v1?t=1"),
            Err(HostError::NotGranted)
        );
    }
}
