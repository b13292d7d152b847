//! HTTP and plugins, with real components (`tests/plugins/webby`, `webclash`) in a real server on
//! `127.0.0.1:0`, driven by a real HTTP client (hyper): a plugin route answers from its request,
//! an unknown path is 404, a trapping route is 500 and the server lives on, route clashes and
//! claims on `/privacy` are load errors; `/privacy` and `/privacy.json` state the host's facts
//! and each plugin's categories with the operator's retention, and `tessera policy` prints the
//! same; `http-outbound` reaches an allowed loopback server (also past the plugin's call
//! deadline) and nothing else, without any network access; `listen_tls` serves HTTPS with the
//! server's certificate, and a body over `max_body` is 413.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::plugin_server::*;

/// A response as the test client sees it.
struct Got {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

/// One request over a fresh HTTP/1.1 connection (hyper's client).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Got> {
    request_on(TcpStream::connect(addr).await?, method, path, headers, body).await
}

/// One request over `io` (plain TCP or TLS).
async fn request_on<T>(
    io: T,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Got>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let response = sender
        .send_request(req.body(Full::new(Bytes::copy_from_slice(body)))?)
        .await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    drop(sender);
    driver.abort();
    Ok(Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Got> {
    request(addr, "GET", path, &[], b"").await
}

/// `webby` with its grants; `allow` is its `http_allow`.
fn webby(allow: &str, extra: &str) -> String {
    plugin(
        "webby",
        &format!("grants = [\"router\", \"http-outbound\"]\nhttp_allow = [{allow}]\n{extra}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_routes_answer_unknown_is_404_and_a_trap_is_500() -> anyhow::Result<()> {
    let server = TestServer::start(&webby("\"127.0.0.1:9\"", "")).await?;
    let http = server.http;

    let r = request(
        http,
        "GET",
        "/webby/hello?q=1&r=2",
        &[("x-test", "42")],
        b"",
    )
    .await?;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "webby saw GET /webby/hello?q=1&r=2 x-test=42 body=0"
    );
    assert_eq!(
        r.headers.get("x-webby").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    // The plugin's `transfer-encoding: bogus` was dropped; the host framed the body itself.
    assert!(r.headers.get("transfer-encoding").is_none());
    assert_eq!(
        r.headers.get("content-length").map(|v| v.as_bytes()),
        Some(r.body.len().to_string().as_bytes())
    );

    let r = request(http, "POST", "/webby/form", &[], b"12345").await?;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "webby saw POST /webby/form x-test=- body=5")
    );

    // No route: unknown path, a method the plugin did not declare, the bare prefix without '/'.
    assert_eq!(get(http, "/nothing").await?.status, 404);
    assert_eq!(
        request(http, "PUT", "/webby/x", &[], b"").await?.status,
        404
    );
    assert_eq!(get(http, "/webby").await?.status, 404);

    // An invalid status from the plugin is its bug: 500. A valid unusual one goes through.
    assert_eq!(get(http, "/webby/status/101").await?.status, 500);
    assert_eq!(get(http, "/webby/status/418").await?.status, 418);

    // A trap is a 500; the instance is replaced and the next request is served.
    assert_eq!(get(http, "/webby/trap").await?.status, 500);
    let r = get(http, "/webby/after").await?;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "webby saw GET /webby/after x-test=- body=0")
    );
    assert_eq!(server.plugins.is_disabled("webby"), Some(false));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_clash_and_a_claim_on_privacy_are_load_errors() -> anyhow::Result<()> {
    let allow = "\"127.0.0.1:9\"";
    let both = format!("{}{}", webby(allow, ""), plugin("webclash", ""));
    let e = format!(
        "{:#}",
        TestServer::start(&both)
            .await
            .err()
            .context("clash loaded")?
    );
    assert!(
        e.contains("plugins webby and webclash both claim HTTP route GET /webby/"),
        "{e}"
    );

    let e = format!(
        "{:#}",
        TestServer::start(&plugin("webclash", ""))
            .await
            .err()
            .context("a /privacy claim loaded")?
    );
    assert!(e.contains("plugin webclash"), "{e}");
    assert!(e.contains("\"/privacy/x\" is under /privacy"), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_policy_is_served_and_printed_from_what_is_loaded() -> anyhow::Result<()> {
    let extra = "[plugins.webby.retention.visits]\nmax_age = \"7d\"\n";
    let plugins = webby("\"push.example.org\"", extra);
    let server = TestServer::start(&plugins).await?;

    let r = get(server.http, "/privacy.json").await?;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let json: serde_json::Value = serde_json::from_str(&r.body)?;
    let host = &json["host"];
    assert_eq!(host["scram_iterations"], 4096);
    assert_eq!(host["tls_required"], false);
    assert_eq!(host["ip_logging"], "never");
    assert!(
        host["password_storage"]
            .as_str()
            .is_some_and(|s| s.contains("4096 iterations"))
    );
    assert!(
        host["account_data"]
            .as_str()
            .is_some_and(|s| s.contains("until the account is deleted"))
    );
    let webby = &json["plugins"][0];
    assert_eq!(webby["name"], "webby");
    assert_eq!(
        webby["outbound_hosts"],
        serde_json::json!(["push.example.org"])
    );
    let visits = &webby["categories"][0];
    assert_eq!(visits["category"], "visits");
    assert_eq!(visits["owner"], "service");
    assert_eq!(visits["visibility"], "admins");
    assert_eq!(
        visits["third_parties"],
        serde_json::json!(["push.example.org"])
    );
    // The operator's 7 days override the declared day; the declared 10 items stay.
    assert_eq!(visits["max_age_seconds"], 7 * 86_400);
    assert_eq!(visits["max_age_set_by"], "operator");
    assert_eq!(visits["max_items"], 10);
    assert_eq!(visits["max_items_set_by"], "plugin");
    let bookmarks = &webby["categories"][1];
    assert_eq!(bookmarks["max_age_seconds"], serde_json::Value::Null);
    assert!(
        bookmarks["retention"]
            .as_str()
            .is_some_and(|s| s.starts_with("kept until deleted"))
    );

    let html = get(server.http, "/privacy").await?;
    assert_eq!(html.status, 200);
    for needle in [
        "Privacy policy of localhost",
        "4096 iterations",
        "Data category <code>visits</code>",
        "deleted after 7 days; at most the 10 newest kept per owner",
        "age limit set by: operator",
        // Plugin text is escaped.
        "Keeps the URLs a user asked to &lt;fetch&gt;.",
    ] {
        assert!(
            html.body.contains(needle),
            "{needle} missing from\n{}",
            html.body
        );
    }
    // Self-contained: no scripts, no external assets.
    assert!(!html.body.contains("<script") && !html.body.contains("src="));

    // `tessera policy` prints the same, from the same config, without a running server.
    let file = server.dir.path().join("tessera.toml");
    let toml = format!(
        "data_dir = {:?}\n[sasl]\nscram_iterations = 4096\n[tls]\nrequire_encryption = false\n{plugins}",
        server.dir.path().join("cli-data")
    );
    std::fs::write(&file, toml)?;
    let run = |format: &'static str| {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
                .arg("--config")
                .arg(&file)
                .args(["policy", "--format", format])
                .env_remove("RUST_LOG")
                .output()
        })
    };
    let out = run("json").await??;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed, json);
    let out = run("text").await??;
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("Data category visits"), "{text}");
    assert!(text.contains("Retention: deleted after 7 days"), "{text}");
    server.stop().await
}

/// A tiny origin server on `127.0.0.1:0`: `/ok` is 201 "hello", `/moved` a 302 to the
/// internet, `/slow` answers after 300 ms.
async fn origin() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/ok",
            get(|| async { (axum::http::StatusCode::CREATED, "hello") }),
        )
        .route(
            "/moved",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "https://example.org/")],
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reaches_an_allowed_loopback_server_and_nothing_else() -> anyhow::Result<()> {
    let (origin, origin_task) = origin().await?;
    // A port nobody listed (and, being just bound and released, nobody serves).
    let other = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let server = TestServer::start(&webby(&format!("\"{origin}\""), "timeout = \"50ms\"")).await?;
    let mut alice = server.login("alice").await?;
    let mut ask = async |url: &str| -> anyhow::Result<Option<String>> {
        alice.chat("webby.localhost", url).await?;
        Ok(body(&alice.next_named("message").await?))
    };

    let said = |s: &str| Some(s.to_owned());
    assert_eq!(
        ask(&format!("http://{origin}/ok")).await?,
        said("status 201 len 5")
    );
    // The fetch outlasts the plugin's 50 ms deadline: waiting on I/O is not the guest's time.
    assert_eq!(
        ask(&format!("http://{origin}/slow")).await?,
        said("status 200 len 4")
    );
    // Redirects are not followed: the plugin gets the 302 itself.
    assert_eq!(
        ask(&format!("http://{origin}/moved")).await?,
        said("status 302 len 0")
    );
    for refused in [
        format!("http://{other}/ok"),
        format!("http://localhost:{}/ok", origin.port()),
        "https://example.org/".to_owned(),
        "ftp://127.0.0.1/".to_owned(),
    ] {
        assert_eq!(ask(&refused).await?, said("error not-granted"), "{refused}");
    }
    // Listed, but it speaks plain HTTP: the TLS handshake fails, which the plugin sees as such.
    assert_eq!(
        ask(&format!("https://{origin}/ok")).await?,
        said("error unavailable")
    );
    assert_eq!(ask("not a url").await?, said("error invalid"));
    assert_eq!(server.plugins.is_disabled("webby"), Some(false));
    origin_task.abort();
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_uses_the_server_certificate_and_bodies_are_capped() -> anyhow::Result<()> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, ServerName};
    use std::sync::Arc;

    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = tessera::Config::from_toml_str(&format!(
        "data_dir = {data:?}\n[listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = []\n\
         [tls]\nrequire_encryption = false\n\
         [http]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\nmax_body = \"1KiB\"\n\
         {}",
        webby("\"127.0.0.1:9\"", "")
    ))?;
    let server = tessera::Server::bind(config).await?;
    let addrs = server.addrs();
    let (http, https) = (
        *addrs.http.first().context("http")?,
        *addrs.https.first().context("https")?,
    );
    let stop = server.shutdown_token();
    let task = tokio::spawn(server.run());

    // `http.max_body`: over it is 413 before the plugin sees anything; at it is served.
    let r = request(http, "POST", "/webby/big", &[], &[b'x'; 1025]).await?;
    assert_eq!(r.status, 413);
    let r = request(http, "POST", "/webby/fits", &[], &[b'x'; 1024]).await?;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "webby saw POST /webby/fits x-test=- body=1024")
    );

    // HTTPS with the server's (here generated) certificate, verified by a client trusting it.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(data.join("tls/cert.pem"))?)?;
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(
            ServerName::try_from("localhost")?,
            TcpStream::connect(https).await?,
        )
        .await?;
    let r = request_on(tls, "GET", "/privacy.json", &[], b"").await?;
    assert_eq!(r.status, 200);
    let json: serde_json::Value = serde_json::from_str(&r.body)?;
    assert_eq!(json["plugins"][0]["name"], "webby");

    stop.cancel();
    task.await?
}
