//! Plugins in the running server, driven by a real client: the `echo-bot` example component, as
//! the `plugins-build` build script compiled it for wasm32-wasip2; and the XEP-0050 admin command
//! that reloads it, run by slixmpp's `xep_0050`.

use tessera_tests::{TestClient, TestServer, slix};

use crate::support::{bare, chat, is_message, jid};

const PW: &str = "alice's password";

fn echo_bot_config(grants: &str) -> String {
    format!(
        "[plugins.echo-bot]\npath = {:?}\ngrants = {grants}\n",
        plugins_build::ECHO_BOT
    )
}

/// Issue 3: "echo-bot answers a real client". A message to the service domain, and one to a JID
/// under it, come back with the same body from the address they were sent to.
#[tokio::test]
async fn echo_bot_answers_a_real_client() -> anyhow::Result<()> {
    let server = TestServer::with_config(&echo_bot_config(r#"["log", "router"]"#)).await?;
    server.add_user("alice", PW).await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;

    alice
        .send(chat(jid("echo.localhost"), "hello echo"))
        .await?;
    alice
        .recv(|s| is_message(s, &bare("echo.localhost"), "hello echo"))
        .await?;

    alice
        .send(chat(jid("parrot@echo.localhost"), "polly"))
        .await?;
    alice
        .recv(|s| is_message(s, &bare("parrot@echo.localhost"), "polly"))
        .await?;
    alice.close().await
}

/// The operator's grants are enforced at load: echo-bot imports `router`, so without that grant
/// the server refuses to start, naming the plugin and the capability.
#[tokio::test]
async fn echo_bot_without_router_grant_is_refused() -> anyhow::Result<()> {
    let Err(err) = TestServer::with_config(&echo_bot_config(r#"["log"]"#)).await else {
        anyhow::bail!("a plugin importing an ungranted capability was loaded");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("echo-bot") && msg.contains("router"),
        "error names plugin and capability: {msg}"
    );
    Ok(())
}

/// Issue 3: "reload by admin command". slixmpp's XEP-0050 plugin lists the server's commands as
/// the admin alice, runs `urn:tessera:admin:reload-plugin`, picks echo-bot in the form and
/// completes; bob's session, open throughout, still gets echoes afterwards.
#[tokio::test]
async fn slixmpp_reloads_a_plugin_with_the_admin_command() -> anyhow::Result<()> {
    let config = format!(
        "admins = [\"alice@localhost\"]\n{}",
        echo_bot_config(r#"["log", "router"]"#)
    );
    let server = TestServer::with_config(&config).await?;
    server.add_user("alice", PW).await?;
    server.add_user("bob", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;

    let args = [
        "--jid",
        "alice@localhost",
        "--password",
        PW,
        "--mech",
        "SCRAM-SHA-256",
        "--command",
        "urn:tessera:admin:reload-plugin",
        "--command-field",
        "plugin=echo-bot",
        "--expect-note",
        "Plugin echo-bot reloaded.",
    ];
    let Some(run) = slix::run_script(&server, "client.py", &args).await? else {
        return bob.close().await;
    };
    assert_eq!(
        run.code,
        Some(0),
        "slixmpp's reload command failed: {run:?}"
    );
    assert!(run.has_result("command-listed"), "{run:?}");
    assert!(run.has_result("command-completed"), "{run:?}");

    bob.send(chat(jid("echo.localhost"), "still here")).await?;
    bob.recv(|s| is_message(s, &bare("echo.localhost"), "still here"))
        .await?;
    bob.close().await
}
