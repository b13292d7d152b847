//! What the script-driven clients share (`slix`: slixmpp scripts in `tests/py/`, `xmppjs`:
//! xmpp.js scripts in `tests/js/`): the run's outcome, the skip-or-fail rule when the client is
//! not installed, and waiting for the script.

use anyhow::{Context as _, bail};
use tokio::process::Child;

use crate::TIMEOUT;

/// What a script printed and how it ended.
#[derive(Debug)]
pub struct ScriptRun {
    /// Exit status code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout (the `RESULT:` lines).
    pub stdout: String,
    /// Everything on stderr (the client's own log, for failure messages).
    pub stderr: String,
}

impl ScriptRun {
    /// Whether a `RESULT: <line>` was printed.
    pub fn has_result(&self, line: &str) -> bool {
        self.stdout
            .lines()
            .any(|l| l.strip_prefix("RESULT: ") == Some(line))
    }
}

/// A client that cannot run: `Ok(Some(reason))` to skip, or an error when `require_var` is `1`
/// (CI sets it, so a missing client fails the run instead of skipping its tests).
pub(crate) fn skip_or_fail(reason: String, require_var: &str) -> anyhow::Result<Option<String>> {
    if std::env::var(require_var).as_deref() == Ok("1") {
        bail!("{reason} ({require_var}=1)");
    }
    Ok(Some(reason))
}

/// Says on stderr that the script `name` was skipped, and why.
pub(crate) fn report_skip(name: &str, reason: &str) {
    #[allow(
        clippy::print_stderr,
        reason = "the skip must be visible in the test output"
    )]
    {
        eprintln!("SKIPPED {name}: {reason}");
    }
}

/// Waits for the script `name` (at most twice [`TIMEOUT`]) and collects what it printed.
pub(crate) async fn finish(child: Child, name: &str) -> anyhow::Result<ScriptRun> {
    let output = tokio::time::timeout(TIMEOUT * 2, child.wait_with_output())
        .await
        .with_context(|| format!("{name} did not finish"))??;
    Ok(ScriptRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
