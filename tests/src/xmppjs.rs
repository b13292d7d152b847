//! Runs the xmpp.js (`@xmpp/client`) scripts in `tests/js/`: a third real client, the one web and
//! Node applications use, and the first here that logs in with XEP-0388 SASL2 and XEP-0386 Bind 2
//! on its own whenever a server offers them.
//!
//! A test calls [`run_script`]; the script connects to the server's STARTTLS listener trusting
//! the test CA (through `NODE_EXTRA_CA_CERTS`), does its scenario, prints `RESULT: …` lines and
//! exits 0 only on success. Without Node.js or without `tests/js/node_modules` (`npm ci` there
//! installs it from `package-lock.json`) the test is skipped with a reason on stderr, unless
//! `TESSERA_REQUIRE_XMPPJS=1` (as in CI), which turns the skip into a failure.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::process::Command;

pub use crate::script::ScriptRun;
use crate::{Endpoint, TIMEOUT};

fn node() -> String {
    std::env::var("TESSERA_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// `tests/js/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// `Ok(None)` when Node.js runs and `@xmpp/client` is installed; `Ok(Some(reason))` to skip.
///
/// # Errors
/// Either is missing and `TESSERA_REQUIRE_XMPPJS=1`.
pub async fn skip_reason() -> anyhow::Result<Option<String>> {
    let probe = Command::new(node())
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    let reason = match probe {
        Ok(status) if status.success() => {
            if dir()
                .join("node_modules/@xmpp/client/package.json")
                .is_file()
            {
                return Ok(None);
            }
            format!(
                "{} has no node_modules (run `npm ci` there)",
                dir().display()
            )
        }
        Ok(_) => format!("{} --version failed", node()),
        Err(e) => format!("cannot run {}: {e}", node()),
    };
    crate::script::skip_or_fail(reason, "TESSERA_REQUIRE_XMPPJS")
}

/// Runs `tests/js/<name>` against `server`'s STARTTLS listener with `--host --port --timeout`
/// filled in and `args` after them. `Ok(None)` means skipped.
///
/// # Errors
/// The script cannot start, runs past twice [`TIMEOUT`], or xmpp.js is required but missing.
pub async fn run_script(
    server: &impl Endpoint,
    name: &str,
    args: &[&str],
) -> anyhow::Result<Option<ScriptRun>> {
    if let Some(reason) = skip_reason().await? {
        crate::script::report_skip(name, &reason);
        return Ok(None);
    }
    let addr = server.c2s_addr();
    let child = Command::new(node())
        .arg(dir().join(name))
        .args(["--host", &addr.ip().to_string()])
        .args(["--port", &addr.port().to_string()])
        .args(["--timeout", &TIMEOUT.as_secs().to_string()])
        .args(args)
        .env("NODE_EXTRA_CA_CERTS", &server.ca().ca_pem_path)
        .current_dir(dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    crate::script::finish(child, name).await.map(Some)
}
