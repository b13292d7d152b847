//! The `http-outbound` capability: HTTP requests to the hosts the operator listed for this
//! plugin (`http_allow`), e.g. a push gateway (XEP-0357) or a link preview.
//!
//! The host enforces the grant per request: the URL must be absolute `https://` (plain `http://`
//! only to a loopback host the operator listed explicitly), without user info, to a listed host
//! and port. Redirects are not followed (a 3xx comes back as is, so a listed host cannot bounce
//! the plugin to an unlisted one). The response body is capped and the request has a timeout,
//! both set by the operator (`[http]`). Waiting for the response does not count against the
//! plugin's call deadline.
//!
//! URLs can carry tokens: never log them whole (log the host at most).
//!
//! ```
//! use tessera_sdk::{http_outbound, HttpRequest, HttpResponse};
//!
//! # tessera_sdk::testing::reset();
//! # tessera_sdk::testing::allow_http("push.example.org");
//! # tessera_sdk::testing::serve_http("https://push.example.org/notify", HttpResponse::status(204));
//! let req = HttpRequest::post("https://push.example.org/notify", r#"{"unread":1}"#)
//!     .with_header("content-type", "application/json");
//! let resp = http_outbound::fetch(&req)?;
//! assert!(resp.is_success());
//! # Ok::<(), tessera_sdk::HostError>(())
//! ```

use crate::error::HostError;
use crate::plugin::{HttpRequest, HttpResponse};

/// Performs `req` (whose `uri` is the full URL) and returns the response, whatever its status.
///
/// # Errors
///
/// [`HostError::NotGranted`] without the grant or for a host outside `http_allow`;
/// [`HostError::Invalid`] for a URL that is not absolute `http(s)` or carries user info;
/// [`HostError::QuotaExceeded`] for a response body over the operator's cap;
/// [`HostError::Unavailable`] when the peer cannot be reached or times out.
pub fn fetch(req: &HttpRequest) -> Result<HttpResponse, HostError> {
    #[cfg(target_arch = "wasm32")]
    return {
        use crate::bindings::tessera::plugin::{http_outbound, http_types};
        let wit_req = http_types::Request {
            method: req.method.clone(),
            uri: req.uri.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
        };
        http_outbound::fetch(&wit_req)
            .map(|r| HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(HostError::from)
    };
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::http_fetch(req);
}

/// Builders for outbound requests (inbound ones come from the host in [`crate::Plugin::on_http`]).
impl HttpRequest {
    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", url).with_body(body)
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Reading a fetched response.
impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text, or `None` if it is not valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// Whether an absolute `http(s)` URL is `https`, its host (lowercased) and effective port, as
/// the host reads them before checking `http_allow`. Natively only: the fake host's check.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn split_url(url: &str) -> Result<(bool, String, u16), HostError> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(not_a_url());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(HostError::Invalid(
            "URLs with user info are refused".to_owned(),
        ));
    }
    let (host, port) = split_authority(authority)?;
    Ok((https, host, port.unwrap_or(if https { 443 } else { 80 })))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` into the host (lowercased, without brackets) and
/// the port if given.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn split_authority(authority: &str) -> Result<(String, Option<u16>), HostError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(not_a_url)?;
        match after {
            "" => (h, None),
            _ => (h, Some(after.strip_prefix(':').ok_or_else(not_a_url)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(not_a_url());
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| not_a_url()))
        .transpose()?;
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(not(target_arch = "wasm32"))]
fn not_a_url() -> HostError {
    HostError::Invalid("not an absolute http(s) URL".to_owned())
}
