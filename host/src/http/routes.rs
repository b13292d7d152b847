//! The router: the host's own pages first (`/privacy`, `/privacy.json`), then every other
//! request to the plugin whose `http-routes` prefix matches longest (`plugins::http`), else 404.
//!
//! A plugin's request body is read here, capped at `http.max_body` (413) within
//! `http.body_timeout` (408), before the plugin is called; its response is checked before it
//! goes out: a status outside 200–999 (hyper cannot send an interim `1xx` as the answer) is the
//! plugin's bug and becomes 500; hop-by-hop and malformed headers are dropped (the host frames
//! the message itself). Logs name the plugin, method and status, never the path (upload URLs
//! carry secrets in it), the query or the body.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt as _, Limited};

use super::client::HOP_BY_HOP;
use crate::plugins::{HttpFailure, HttpRequest, HttpResponse, call_http};
use crate::policy::Policy;
use crate::server::Shared;

/// Most headers a plugin's response may carry; the rest are dropped.
const MAX_RESPONSE_HEADERS: usize = 64;

/// The router over `shared`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/privacy", get(privacy_html))
        .route("/privacy.json", get(privacy_json))
        .fallback(plugin)
        .with_state(shared)
}

/// Built per request, so it shows the plugins loaded now (after a reload, too).
fn policy(shared: &Shared) -> Policy {
    Policy::build(&shared.config, &shared.plugins)
}

async fn privacy_html(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        policy(&shared).to_html(),
    )
        .into_response()
}

async fn privacy_json(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        policy(&shared).to_json(),
    )
        .into_response()
}

fn status(code: StatusCode) -> Response {
    (code, code.canonical_reason().unwrap_or_default().to_owned()).into_response()
}

async fn plugin(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let registry = shared.plugins.registry();
    if registry.http.lookup(&method, &path).is_none() {
        return status(StatusCode::NOT_FOUND);
    }
    let http = &shared.config.http;
    let collected = tokio::time::timeout(
        http.body_timeout,
        Limited::new(body, http.max_body).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Ok(Err(_)) => return status(StatusCode::BAD_REQUEST),
        Err(_) => return status(StatusCode::REQUEST_TIMEOUT),
    };
    let request = HttpRequest {
        method: method.clone(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    match call_http(&registry, &path, request).await {
        Ok((name, response)) => {
            let out = response_of(&name, response);
            tracing::debug!(plugin = %name, %method, status = out.status().as_u16(), "HTTP request");
            out
        }
        Err(HttpFailure::NoRoute) => status(StatusCode::NOT_FOUND),
        Err(HttpFailure::Trapped) => status(StatusCode::INTERNAL_SERVER_ERROR),
        Err(HttpFailure::Unavailable) => status(StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// The plugin's response, checked.
fn response_of(plugin: &str, r: HttpResponse) -> Response {
    let code = match StatusCode::from_u16(r.status) {
        Ok(c) if !c.is_informational() => c,
        _ => {
            tracing::warn!(
                plugin,
                status = r.status,
                "plugin answered HTTP with an invalid status"
            );
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = code;
    let mut dropped = 0_usize;
    for (name, value) in r.headers {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            dropped += 1;
            continue;
        };
        if HOP_BY_HOP.contains(&n.as_str()) || out.headers().len() >= MAX_RESPONSE_HEADERS {
            dropped += 1;
            continue;
        }
        out.headers_mut().append(n, v);
    }
    if dropped > 0 {
        tracing::debug!(
            plugin,
            dropped,
            "dropped invalid or hop-by-hop response headers"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> Response {
        response_of(
            "p",
            HttpResponse {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                body: b"x".to_vec(),
            },
        )
    }

    #[test]
    fn statuses_are_checked() {
        assert_eq!(resp(201, &[]).status(), StatusCode::CREATED);
        assert_eq!(resp(999, &[]).status().as_u16(), 999);
        for bad in [0, 99, 100, 101, 1000, 65535] {
            assert_eq!(
                resp(bad, &[]).status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{bad}"
            );
        }
    }

    #[test]
    fn hop_by_hop_and_invalid_headers_are_dropped() {
        let r = resp(
            200,
            &[
                ("content-type", "text/plain"),
                ("Connection", "close"),
                ("transfer-encoding", "chunked"),
                ("bad name", "x"),
                ("x-ok", "line\nbreak"),
                ("x-fine", "yes"),
            ],
        );
        let names: Vec<_> = r.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "x-fine"]);
    }
}
