//! Owned IQ payloads, disco from manifests and XEP-0050 ad-hoc commands, with the `oracle`
//! fixture (`tests/plugins/oracle`) in a real server: the owned IQ is answered by the plugin with
//! the `iq` hook's context, others still by the host; claiming a built-in namespace or a payload
//! another plugin owns is a load error; disco#info carries the plugin's feature and identity;
//! command listing and execution follow `admins`; the admin reload command keeps sessions.

use anyhow::Context as _;
use minidom::Element;

mod common;
use common::plugin_server::*;

const ORACLE: &str = "urn:tessera:test:oracle";
const COMMANDS: &str = "http://jabber.org/protocol/commands";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const DATA_FORMS: &str = "jabber:x:data";
const RELOAD: &str = "urn:tessera:admin:reload-plugin";

fn oracle() -> String {
    plugin("oracle", "grants = [\"router\", \"accounts\"]")
}

/// [`TestServer::start`], with `admins` set (a top-level key, which the plugin tables that
/// `start` appends cannot carry).
async fn start_with_admins(plugins: &str, admins: &[&str]) -> anyhow::Result<TestServer> {
    let admins = admins
        .iter()
        .map(|a| jid::BareJid::new(a))
        .collect::<Result<_, _>>()?;
    TestServer::start_with(plugins, |config| config.admins = admins).await
}

/// Sends an IQ and returns the answer with that id.
async fn iq(client: &mut Client, xml: &str) -> anyhow::Result<Element> {
    client.send(xml).await?;
    client.next_named("iq").await
}

/// Runs a command: an IQ set to the server with `<command node=… {extra}>{body}</command>`.
async fn command(
    client: &mut Client,
    node: &str,
    extra: &str,
    body: &str,
) -> anyhow::Result<Element> {
    iq(
        client,
        &format!(
            "<iq type='set' id='c' to='localhost'><command xmlns='{COMMANDS}' node='{node}'{extra}>{body}</command></iq>"
        ),
    )
    .await
}

/// The `node` attributes of a disco#items answer on the commands node.
async fn listed_commands(client: &mut Client) -> anyhow::Result<Vec<String>> {
    let answer = iq(
        client,
        &format!("<iq type='get' id='l' to='localhost'><query xmlns='{DISCO_ITEMS}' node='{COMMANDS}'/></iq>"),
    )
    .await?;
    let query = answer
        .get_child("query", DISCO_ITEMS)
        .context("items query")?;
    assert_eq!(query.attr("node"), Some(COMMANDS));
    Ok(query
        .children()
        .inspect(|i| assert_eq!(i.attr("jid"), Some("localhost")))
        .filter_map(|i| i.attr("node").map(str::to_owned))
        .collect())
}

fn note(answer: &Element) -> Option<(String, String)> {
    let note = answer
        .get_child("command", COMMANDS)?
        .get_child("note", COMMANDS)?;
    Some((note.attr("type")?.to_owned(), note.text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_iq_is_answered_by_its_plugin_and_others_by_the_host() -> anyhow::Result<()> {
    let server = start_with_admins(&oracle(), &["alice@localhost"]).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;

    // To the server, with no `to`, and to the sender's own bare JID: the plugin answers, with
    // the `iq` hook, the sender as account and session, and `accounts.is-admin` from `admins`.
    for to in [" to='localhost'", "", " to='alice@localhost'"] {
        let answer = iq(
            &mut alice,
            &format!("<iq type='get' id='o'{to}><query xmlns='{ORACLE}'/></iq>"),
        )
        .await?;
        assert_eq!(answer.attr("type"), Some("result"), "to{to}");
        assert_eq!(answer.attr("id"), Some("o"));
        let a = answer.get_child("answer", ORACLE).context("answer")?;
        assert_eq!(a.attr("hook"), Some("iq"));
        assert_eq!(a.attr("account"), Some("alice@localhost"));
        assert_eq!(a.attr("session"), Some(alice.jid.as_str()));
        assert_eq!(a.attr("admin"), Some("true"));
    }
    let answer = iq(
        &mut bob,
        &format!("<iq type='get' id='o'><query xmlns='{ORACLE}'/></iq>"),
    )
    .await?;
    let a = answer.get_child("answer", ORACLE).context("answer")?;
    assert_eq!(a.attr("admin"), Some("false"));

    // To another account: the host answers for it, and it does not serve this payload.
    let answer = iq(
        &mut alice,
        &format!("<iq type='get' id='o' to='bob@localhost'><query xmlns='{ORACLE}'/></iq>"),
    )
    .await?;
    assert_eq!(condition(&answer).as_deref(), Some("service-unavailable"));

    // pass → service-unavailable (RFC 6120 §8.4); error verdict as given; a trap → fail mode
    // (closed by default: internal-server-error).
    for (mode, expected) in [
        ("pass", "service-unavailable"),
        ("error", "not-acceptable"),
        ("crash", "internal-server-error"),
    ] {
        let answer = iq(
            &mut alice,
            &format!(
                "<iq type='get' id='m' to='localhost'><query xmlns='{ORACLE}' mode='{mode}'/></iq>"
            ),
        )
        .await?;
        assert_eq!(answer.attr("type"), Some("error"), "{mode}");
        assert_eq!(condition(&answer).as_deref(), Some(expected), "{mode}");
    }

    // Payloads nobody owns: the host's answers are unchanged.
    let pong = iq(
        &mut alice,
        "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .await?;
    assert_eq!(pong.attr("type"), Some("result"));
    let vcard = iq(
        &mut alice,
        "<iq type='get' id='v' to='localhost'><vCard xmlns='vcard-temp'/></iq>",
    )
    .await?;
    assert_eq!(condition(&vcard).as_deref(), Some("service-unavailable"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_builtin_namespace_and_two_owners_are_load_errors() -> anyhow::Result<()> {
    let grants = "grants = [\"router\", \"accounts\"]";
    let Err(err) = TestServer::start(&(oracle() + &plugin("oracle2", grants))).await else {
        anyhow::bail!("two owners of one IQ payload were loaded");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("oracle ") && msg.contains("oracle2") && msg.contains(ORACLE),
        "names both plugins and the payload: {msg}"
    );

    let Err(err) = TestServer::start(&plugin("oracle_roster", grants)).await else {
        anyhow::bail!("a plugin claiming the roster namespace was loaded");
    };
    let msg = format!("{err:#}");
    assert!(
        msg.contains("oracle_roster") && msg.contains("jabber:iq:roster"),
        "names the plugin and the namespace: {msg}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disco_info_carries_the_manifest_feature_and_identity() -> anyhow::Result<()> {
    let server = TestServer::start(&oracle()).await?;
    let mut alice = server.login("alice").await?;
    let info = iq(
        &mut alice,
        &format!("<iq type='get' id='d' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await?;
    let query = info.get_child("query", DISCO_INFO).context("info query")?;
    let features: Vec<&str> = query
        .children()
        .filter(|c| c.is("feature", DISCO_INFO))
        .filter_map(|c| c.attr("var"))
        .collect();
    for f in [ORACLE, COMMANDS, DISCO_INFO, "urn:xmpp:ping"] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
    let mut sorted = features.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(features, sorted, "sorted and unique");
    let identities: Vec<_> = query
        .children()
        .filter(|c| c.is("identity", DISCO_INFO))
        .map(|c| (c.attr("category"), c.attr("type"), c.attr("name")))
        .collect();
    assert!(identities.contains(&(Some("server"), Some("im"), None)));
    assert!(identities.contains(&(Some("directory"), Some("user"), Some("Oracle"))));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_listed_and_run_by_access() -> anyhow::Result<()> {
    let server = start_with_admins(&oracle(), &["alice@localhost"]).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let ask = format!("{ORACLE}:ask");
    let purge = format!("{ORACLE}:purge");

    // XEP-0050 §2.2: each requester sees what it may run.
    assert_eq!(
        listed_commands(&mut alice).await?,
        [RELOAD, ask.as_str(), purge.as_str()]
    );
    assert_eq!(listed_commands(&mut bob).await?, [ask.as_str()]);

    // §2.3: disco#info on a command node.
    let info = iq(
        &mut bob,
        &format!(
            "<iq type='get' id='i' to='localhost'><query xmlns='{DISCO_INFO}' node='{ask}'/></iq>"
        ),
    )
    .await?;
    let query = info.get_child("query", DISCO_INFO).context("info")?;
    let id = query
        .get_child("identity", DISCO_INFO)
        .context("identity")?;
    assert_eq!(
        (id.attr("category"), id.attr("type"), id.attr("name")),
        (
            Some("automation"),
            Some("command-node"),
            Some("Ask the oracle")
        )
    );
    let features: Vec<_> = query.children().filter_map(|f| f.attr("var")).collect();
    assert_eq!(features, [COMMANDS, DATA_FORMS]);
    let info = iq(
        &mut bob,
        &format!(
            "<iq type='get' id='i' to='localhost'><query xmlns='{DISCO_INFO}' node='{purge}'/></iq>"
        ),
    )
    .await?;
    assert_eq!(condition(&info).as_deref(), Some("forbidden"));

    // §3: execution, with the requester's full JID passed to the plugin.
    let done = command(&mut bob, &ask, "", "").await?;
    assert_eq!(done.attr("type"), Some("result"));
    let c = done.get_child("command", COMMANDS).context("command")?;
    assert_eq!(
        (c.attr("node"), c.attr("status")),
        (Some(ask.as_str()), Some("completed"))
    );
    assert_eq!(
        note(&done),
        Some(("info".to_owned(), format!("asked by {}", bob.jid)))
    );
    for node in [purge.as_str(), RELOAD] {
        let refused = command(&mut bob, node, "", "").await?;
        assert_eq!(condition(&refused).as_deref(), Some("forbidden"), "{node}");
    }
    let unknown = command(&mut bob, "urn:nowhere", "", "").await?;
    assert_eq!(condition(&unknown).as_deref(), Some("item-not-found"));
    let done = command(&mut alice, &purge, "", "").await?;
    assert_eq!(done.attr("type"), Some("result"));
    // An answer for another node is refused by the host.
    let bad = command(&mut alice, &purge, " sessionid='bad'", "").await?;
    assert_eq!(condition(&bad).as_deref(), Some("internal-server-error"));
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_command_keeps_sessions() -> anyhow::Result<()> {
    let server = start_with_admins(&oracle(), &["alice@localhost"]).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;

    // Stage 1: the form lists the loaded plugins.
    let stage1 = command(&mut alice, RELOAD, " action='execute'", "").await?;
    let c = stage1.get_child("command", COMMANDS).context("command")?;
    assert_eq!(c.attr("status"), Some("executing"));
    let session = c.attr("sessionid").context("sessionid")?.to_owned();
    let field = c
        .get_child("x", DATA_FORMS)
        .and_then(|x| x.get_child("field", DATA_FORMS))
        .context("form field")?;
    assert_eq!(field.attr("var"), Some("plugin"));
    let options: Vec<String> = field
        .children()
        .filter_map(|o| o.get_child("value", DATA_FORMS))
        .map(Element::text)
        .collect();
    assert_eq!(options, ["oracle"]);

    // Stage 2: submitting reloads; both sessions stay and the plugin answers again.
    let form = |plugin: &str| {
        format!(
            "<x xmlns='{DATA_FORMS}' type='submit'><field var='plugin'><value>{plugin}</value></field></x>"
        )
    };
    let extra = format!(" action='complete' sessionid='{session}'");
    let done = command(&mut alice, RELOAD, &extra, &form("oracle")).await?;
    let c = done.get_child("command", COMMANDS).context("command")?;
    assert_eq!(c.attr("status"), Some("completed"));
    assert_eq!(c.attr("sessionid"), Some(session.as_str()));
    assert_eq!(
        note(&done),
        Some(("info".to_owned(), "Plugin oracle reloaded.".to_owned()))
    );
    for client in [&mut alice, &mut bob] {
        let answer = iq(
            client,
            &format!("<iq type='get' id='o'><query xmlns='{ORACLE}'/></iq>"),
        )
        .await?;
        assert!(
            answer.has_child("answer", ORACLE),
            "plugin answers after reload"
        );
    }

    // An unknown plugin completes with an error note; a missing field is bad-request.
    let done = command(&mut alice, RELOAD, &extra, &form("nonesuch")).await?;
    let (kind, text) = note(&done).context("note")?;
    assert_eq!(kind, "error");
    assert!(text.contains("nonesuch"), "{text}");
    let bad = command(&mut alice, RELOAD, &extra, "").await?;
    assert_eq!(condition(&bad).as_deref(), Some("bad-request"));
    let canceled = command(&mut alice, RELOAD, " action='cancel' sessionid='x'", "").await?;
    let c = canceled.get_child("command", COMMANDS).context("command")?;
    assert_eq!(c.attr("status"), Some("canceled"));
    server.stop().await
}
