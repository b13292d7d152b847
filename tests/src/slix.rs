//! Runs the `slixmpp` scripts in `tests/py/`: a second real client, in another language.
//!
//! A test calls [`run_script`] with the script's arguments; the script connects to the given
//! address with the test CA, does its scenario, prints `RESULT: …` lines and exits 0 only on
//! success. Without `slixmpp` installed the test is skipped with a reason on stderr, unless
//! `TESSERA_REQUIRE_SLIXMPP=1` (as in CI), which turns the skip into a failure.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::process::Command;

use crate::{Endpoint, TIMEOUT};

pub use crate::script::ScriptRun;

fn python() -> String {
    std::env::var("TESSERA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// The script's path under `tests/py/`.
pub fn script_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(name)
}

/// `Ok(None)` when `slixmpp` imports; `Ok(Some(reason))` to skip; `Err` when it is required.
///
/// # Errors
/// `slixmpp` is missing and `TESSERA_REQUIRE_SLIXMPP=1`.
pub async fn skip_reason() -> anyhow::Result<Option<String>> {
    let probe = Command::new(python())
        .args(["-c", "import slixmpp"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    let reason = match probe {
        Ok(status) if status.success() => return Ok(None),
        Ok(_) => format!("{} cannot import slixmpp", python()),
        Err(e) => format!("cannot run {}: {e}", python()),
    };
    crate::script::skip_or_fail(reason, "TESSERA_REQUIRE_SLIXMPP")
}

/// Runs `tests/py/<name>` against `server`'s STARTTLS listener (or `--direct-tls` if the caller
/// passes it), with `--host --port --ca` filled in and `args` after them. `Ok(None)` means skipped.
///
/// # Errors
/// The script cannot start, runs past twice [`TIMEOUT`], or slixmpp is required but missing.
pub async fn run_script(
    server: &impl Endpoint,
    name: &str,
    args: &[&str],
) -> anyhow::Result<Option<ScriptRun>> {
    if let Some(reason) = skip_reason().await? {
        crate::script::report_skip(name, &reason);
        return Ok(None);
    }
    let direct = args.contains(&"--direct-tls");
    let addr = if direct {
        server.direct_tls_addr()
    } else {
        server.c2s_addr()
    };
    let child = Command::new(python())
        .arg(script_path(name))
        .args(["--host", &addr.ip().to_string()])
        .args(["--port", &addr.port().to_string()])
        .arg("--ca")
        .arg(&server.ca().ca_pem_path)
        .args(["--timeout", &TIMEOUT.as_secs().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    crate::script::finish(child, name).await.map(Some)
}
