//! Message Archive Management (XEP-0313) with the `plugin-mam` component, driven by real clients:
//! `tokio-xmpp` for the scenarios, slixmpp's `xep_0313` as a second device paging both ways.
//!
//! Issue 4: a second device syncs history through MAM with paging both ways; a `no-store`
//! message is not archived; prefs `never` archives nothing; purge works; a removed account leaves
//! no archived message behind.

use std::time::Duration;

use tessera_tests::parsers::disco::{DiscoInfoQuery, DiscoInfoResult};
use tessera_tests::parsers::mam::{Fin, Result_};
use tessera_tests::parsers::message::Message;
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::tokio_xmpp::jid::Jid;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{TestClient, TestServer, slix};

use crate::support::{bare, befriend, chat, is_message, is_presence, jid};

const PW: &str = "a password for the archive";
const MAM: &str = "urn:xmpp:mam:2";
const SID: &str = "urn:xmpp:sid:0";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

/// A server with the MAM component as the built-in defaults load it (its grants, `fail`,
/// `timeout`), `default` as the operator's preference, and the accounts alice, bob and carol.
async fn server(default: &str) -> anyhow::Result<TestServer> {
    let config = format!(
        "[plugins.mam]\npath = {:?}\n\
         grants = [\"log\", \"router\", \"router.impersonate\", \"kv\", \"archive\", \"roster\"]\n\
         fail = \"open\"\ntimeout = \"250ms\"\n\
         [plugins.mam.config]\ndefault = {default:?}\n",
        plugins_build::PLUGIN_MAM
    );
    let server = TestServer::with_config(&config).await?;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user, PW).await?;
    }
    Ok(server)
}

/// Logs `user` in and sends initial presence, so that messages to the bare JID reach the session
/// (RFC 6121 §8.5.2.1.1: only available resources get them).
async fn online(server: &TestServer, user: &str) -> anyhow::Result<TestClient> {
    let mut client = TestClient::connect(server, user, PW).await?;
    client.send(Presence::available()).await?;
    // Available once the server broadcast it back (RFC 6121 §4.2.2): a message to the bare JID
    // sent before that would find no available resource.
    let me = Jid::from(client.jid().clone());
    client
        .recv(|s| is_presence(s, &PresenceType::None, &me))
        .await?;
    Ok(client)
}

/// One archived message as a query returned it.
#[derive(Debug)]
struct Archived {
    id: String,
    stamp_ms: i64,
    /// The XEP-0203 stamp, as XEP-0082 text.
    stamp: String,
    body: String,
    message: Message,
}

/// Sends `<query queryid='…'>inner</query>` and returns the result messages, in the order they
/// arrived, and the `<fin/>`. Every result must precede the IQ result (XEP-0313, "Query results"): they are
/// all waiting in the client's backlog by the time the IQ result is matched.
async fn query(
    client: &mut TestClient,
    queryid: &str,
    inner: &str,
) -> anyhow::Result<(Vec<Archived>, Fin)> {
    let payload: Element =
        format!("<query xmlns='{MAM}' queryid='{queryid}'>{inner}</query>").parse()?;
    let IqResponse::Result(Some(fin)) = client.iq(None, IqRequest::Set(payload)).await? else {
        anyhow::bail!("query {queryid} was not answered with a <fin/>");
    };
    let fin = Fin::try_from(fin)?;
    let mut results = Vec::new();
    let is_ours = |s: &Stanza| matches!(s, Stanza::Message(m) if result_of(m).is_some_and(|r| r.queryid.as_ref().map(|q| q.0.as_str()) == Some(queryid)));
    while let Ok(Stanza::Message(m)) = client.recv_until(is_ours, Duration::ZERO).await {
        let r = result_of(&m).expect("matched above");
        let forwarded = r.forwarded.message;
        results.push(Archived {
            id: r.id,
            stamp_ms: r
                .forwarded
                .delay
                .as_ref()
                .map_or(0, |d| d.stamp.0.timestamp_millis()),
            stamp: r
                .forwarded
                .delay
                .as_ref()
                .map(|d| d.stamp.format("%Y-%m-%dT%H:%M:%S%.3f%:z"))
                .unwrap_or_default(),
            body: forwarded
                .bodies
                .values()
                .next()
                .cloned()
                .unwrap_or_default(),
            message: forwarded,
        });
    }
    Ok((results, fin))
}

fn result_of(m: &Message) -> Option<Result_> {
    m.payloads
        .iter()
        .find(|p| p.is("result", MAM))
        .and_then(|p| Result_::try_from(p.clone()).ok())
}

fn rsm(inner: &str) -> String {
    format!("<set xmlns='http://jabber.org/protocol/rsm'>{inner}</set>")
}

fn bodies(results: &[Archived]) -> Vec<&str> {
    results.iter().map(|r| r.body.as_str()).collect()
}

/// (complete, first, last, count) of a `<fin/>`.
fn summary(fin: &Fin) -> (bool, Option<&str>, Option<&str>, Option<usize>) {
    (
        fin.complete,
        fin.set.first.as_ref().map(|f| f.item.as_str()),
        fin.set.last.as_deref(),
        fin.set.count,
    )
}

/// Sets the caller's archiving preferences (XEP-0441) and checks the echo.
async fn set_prefs(client: &mut TestClient, default: &str) -> anyhow::Result<()> {
    let prefs: Element =
        format!("<prefs xmlns='{MAM}' default='{default}'><always/><never/></prefs>").parse()?;
    match client.iq(None, IqRequest::Set(prefs)).await? {
        IqResponse::Result(Some(echo)) if echo.attr("default") == Some(default) => Ok(()),
        other => anyhow::bail!("prefs set answered {other:?}"),
    }
}

/// `from` sends `to` one chat message per body and `to` receives each one; the messages as
/// delivered.
async fn converse(
    from: &mut TestClient,
    to: &mut TestClient,
    texts: &[String],
) -> anyhow::Result<Vec<Message>> {
    let sender = from.jid().to_bare();
    let mut delivered = Vec::new();
    for text in texts {
        from.send(chat(to.jid().to_bare().into(), text)).await?;
        let Stanza::Message(m) = to.recv(|s| is_message(s, &sender, text)).await? else {
            unreachable!("is_message matched a message")
        };
        delivered.push(m);
    }
    Ok(delivered)
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

/// Issue 4: "a second device syncs history through MAM with paging both ways". Alice's phone
/// sends 26 messages; her desk pages through them forward with `after` and backward with
/// `before`, checking order, `count`, `complete`, `first` and `last`, then a flipped page; and
/// slixmpp pages the same history both ways with its own XEP-0313 and XEP-0059 code.
#[tokio::test]
async fn second_device_syncs_history_both_ways() -> anyhow::Result<()> {
    let server = server("always").await?;
    let mut phone = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    let sent = texts("m", 26);
    converse(&mut phone, &mut bob, &sent).await?;
    let mut desk = online(&server, "alice").await?;

    // Forward: three pages of at most 10, each `after` the previous `last`.
    let mut ids: Vec<String> = Vec::new();
    let mut after = String::new();
    for (page, expect) in [(0, 0..10), (1, 10..20), (2, 20..26)] {
        let set = if after.is_empty() {
            rsm("<max>10</max>")
        } else {
            rsm(&format!("<max>10</max><after>{after}</after>"))
        };
        let (results, fin) = query(&mut desk, &format!("fwd{page}"), &set).await?;
        assert_eq!(
            bodies(&results),
            sent[expect.clone()]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        let (complete, first, last, count) = summary(&fin);
        assert_eq!((complete, count), (page == 2, Some(26)), "page {page}");
        assert_eq!(
            (first, last),
            (
                Some(results[0].id.as_str()),
                results.last().map(|r| r.id.as_str())
            )
        );
        assert!(results.iter().all(|r| {
            r.message
                .from
                .as_ref()
                .is_some_and(|f| f.to_bare() == bare("alice@localhost"))
        }));
        after = results.last().map(|r| r.id.clone()).unwrap_or_default();
        ids.extend(results.into_iter().map(|r| r.id));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "archive ids follow the order of the messages");

    // Backward: the last page first (`<before/>`), then `before` the previous `first`.
    let mut before = String::new();
    for (page, expect) in [(0, 16..26), (1, 6..16), (2, 0..6)] {
        let set = rsm(&format!("<max>10</max><before>{before}</before>"));
        let (results, fin) = query(&mut desk, &format!("back{page}"), &set).await?;
        assert_eq!(
            bodies(&results),
            sent[expect.clone()]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            summary(&fin),
            (
                page == 2,
                Some(ids[expect.start].as_str()),
                Some(ids[expect.end - 1].as_str()),
                Some(26)
            )
        );
        before = ids[expect.start].clone();
    }

    // Flipped: the newest five, newest first; `first` names the first one sent.
    let (results, fin) = query(
        &mut desk,
        "flip",
        &format!("{}<flip-page/>", rsm("<max>5</max><before/>")),
    )
    .await?;
    assert_eq!(bodies(&results), ["m25", "m24", "m23", "m22", "m21"]);
    assert_eq!(summary(&fin).1, Some(ids[25].as_str()));

    // An id the archive never issued is item-not-found, not an empty page.
    let payload: Element = format!(
        "<query xmlns='{MAM}'>{}</query>",
        rsm("<after>0000000000000000</after>")
    )
    .parse()?;
    match desk.iq(None, IqRequest::Set(payload)).await? {
        IqResponse::Error(e) => assert_eq!(
            e.defined_condition,
            tessera_tests::parsers::stanza_error::DefinedCondition::ItemNotFound
        ),
        other => anyhow::bail!("unknown `after` answered {other:?}"),
    }

    // slixmpp, a client in another language, pages the same history both ways.
    let expect = sent.join(",");
    for direction in [None, Some("--backward")] {
        let mut args = vec![
            "--jid",
            "alice@localhost",
            "--password",
            PW,
            "--mech",
            "SCRAM-SHA-256",
            "--page",
            "7",
            "--expect",
            &expect,
        ];
        args.extend(direction);
        let Some(run) = slix::run_script(&server, "mam.py", &args).await? else {
            break;
        };
        assert_eq!(
            run.code,
            Some(0),
            "slixmpp MAM sync {direction:?} failed: {run:?}"
        );
        assert!(
            run.has_result("mam-received 26") && run.has_result("mam-order-ok"),
            "{run:?}"
        );
        assert!(run.has_result("metadata-ok"), "{run:?}");
    }
    for c in [phone, bob, desk] {
        c.close().await?;
    }
    Ok(())
}

/// XEP-0313 ("Determining support"): a client looks for `urn:xmpp:mam:2` in the disco#info of the user's own bare JID
/// (Conversations does, before it syncs); the account lists it with `#extended` and XEP-0359.
#[tokio::test]
async fn the_account_advertises_mam_and_stanza_ids() -> anyhow::Result<()> {
    let server = server("never").await?;
    let mut alice = online(&server, "alice").await?;
    let query = Element::from(DiscoInfoQuery { node: None });
    let info = match alice
        .iq(Some(jid("alice@localhost")), IqRequest::Get(query))
        .await?
    {
        IqResponse::Result(Some(payload)) => DiscoInfoResult::try_from(payload)?,
        other => anyhow::bail!("disco#info on the account answered {other:?}"),
    };
    for feature in [MAM, "urn:xmpp:mam:2#extended", SID] {
        assert!(
            info.features.iter().any(|f| f == feature),
            "{feature} missing: {:?}",
            info.features
        );
    }
    alice.close().await
}

/// Issue 4: "prefs `never` archives nothing" and "a `no-store` message is not archived": with the
/// operator's default, nothing is archived; once alice asks for `always`, her messages are, but
/// not one with a XEP-0334 `no-store` hint, and bob (still `never`) keeps nothing. Then bob picks
/// `roster`: only alice, his contact, gets into his archive, not carol.
#[tokio::test]
async fn preferences_and_hints_decide_what_is_archived() -> anyhow::Result<()> {
    let server = server("never").await?;
    let mut alice = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    let mut carol = online(&server, "carol").await?;

    converse(&mut alice, &mut bob, &["before opting in".to_owned()]).await?;
    let (results, fin) = query(&mut alice, "q1", "").await?;
    assert!(
        results.is_empty() && fin.set.count == Some(0),
        "default never archives nothing"
    );

    set_prefs(&mut alice, "always").await?;
    converse(&mut alice, &mut bob, &["kept".to_owned()]).await?;
    let mut secret = chat(jid("bob@localhost"), "not for the archive");
    secret
        .payloads
        .push(Element::bare("no-store", "urn:xmpp:hints"));
    alice.send(secret).await?;
    bob.recv(|s| is_message(s, &bare("alice@localhost"), "not for the archive"))
        .await?;
    let (results, _) = query(&mut alice, "q2", "").await?;
    assert_eq!(bodies(&results), ["kept"]);
    let (results, _) = query(&mut bob, "q3", "").await?;
    assert!(results.is_empty(), "bob's own preference is still never");

    set_prefs(&mut bob, "roster").await?;
    befriend(&mut alice, &mut bob).await?;
    converse(&mut carol, &mut bob, &["from a stranger".to_owned()]).await?;
    converse(&mut alice, &mut bob, &["from a contact".to_owned()]).await?;
    let (results, _) = query(&mut bob, "q4", "").await?;
    assert_eq!(bodies(&results), ["from a contact"]);
    for c in [alice, bob, carol] {
        c.close().await?;
    }
    Ok(())
}

/// XEP-0359: the message bob receives carries `<stanza-id by='bob@localhost'/>` equal to the id
/// his archive returns for it, and a stanza-id alice forged under bob's name is gone (one by
/// someone else stays: it is not bob's server's to judge).
#[tokio::test]
async fn delivered_stanza_id_is_the_archive_id_and_forgeries_are_stripped() -> anyhow::Result<()> {
    let server = server("always").await?;
    let mut alice = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    let mut forged = chat(jid("bob@localhost"), "with a forged id");
    for by in ["bob@localhost", "alice@localhost"] {
        forged
            .payloads
            .push(format!("<stanza-id xmlns='{SID}' by='{by}' id='forged'/>").parse()?);
    }
    alice.send(forged).await?;
    let Stanza::Message(got) = bob
        .recv(|s| is_message(s, &bare("alice@localhost"), "with a forged id"))
        .await?
    else {
        unreachable!()
    };
    let ids: Vec<(&str, &str)> = got
        .payloads
        .iter()
        .filter(|p| p.is("stanza-id", SID))
        .map(|p| {
            (
                p.attr("by").unwrap_or_default(),
                p.attr("id").unwrap_or_default(),
            )
        })
        .collect();
    let by_bob: Vec<&str> = ids
        .iter()
        .filter(|(by, _)| *by == "bob@localhost")
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(by_bob.len(), 1, "{ids:?}");
    assert_ne!(by_bob[0], "forged");
    assert!(ids.contains(&("alice@localhost", "forged")), "{ids:?}");
    let (results, _) = query(&mut bob, "q", "").await?;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].id, by_bob[0]);
    alice.close().await?;
    bob.close().await
}

/// Runs the purge command with optional dates; the note it completes with.
async fn purge(
    client: &mut TestClient,
    start: Option<String>,
    end: Option<String>,
) -> anyhow::Result<String> {
    let node = "urn:tessera:mam:purge";
    let domain = Some(jid("localhost"));
    let execute: Element =
        format!("<command xmlns='{COMMANDS}' node='{node}' action='execute'/>").parse()?;
    let IqResponse::Result(Some(form)) = client.iq(domain.clone(), IqRequest::Set(execute)).await?
    else {
        anyhow::bail!("the purge command did not start");
    };
    assert_eq!(form.attr("status"), Some("executing"));
    let session = form.attr("sessionid").unwrap_or_default().to_owned();
    let field = |var: &str, v: Option<String>| {
        v.map(|v| format!("<field var='{var}'><value>{v}</value></field>"))
            .unwrap_or_default()
    };
    let submit: Element = format!(
        "<command xmlns='{COMMANDS}' node='{node}' action='complete' sessionid='{session}'>\
         <x xmlns='jabber:x:data' type='submit'>{}{}</x></command>",
        field("start", start),
        field("end", end)
    )
    .parse()?;
    let IqResponse::Result(Some(done)) = client.iq(domain, IqRequest::Set(submit)).await? else {
        anyhow::bail!("the purge command did not complete");
    };
    assert_eq!(done.attr("status"), Some("completed"));
    Ok(done
        .get_child("note", COMMANDS)
        .map(Element::text)
        .unwrap_or_default())
}

/// The purge command's note for `n` deleted messages.
fn deleted(n: usize) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("Deleted {n} archived message{s}.")
}

/// Issue 4: "purge works". Alice deletes the messages archived between the second and fourth
/// ones' stamps (and whatever shares their milliseconds), then everything; bob's archive of the
/// same conversation is his and stays.
#[tokio::test]
async fn purge_deletes_a_date_range_then_everything() -> anyhow::Result<()> {
    let server = server("always").await?;
    let mut alice = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    converse(&mut alice, &mut bob, &texts("p", 5)).await?;
    let (all, _) = query(&mut alice, "before", "").await?;
    assert_eq!(all.len(), 5);
    let (from, to) = (&all[1], &all[3]);
    let doomed: Vec<&str> = all
        .iter()
        .filter(|r| (from.stamp_ms..=to.stamp_ms).contains(&r.stamp_ms))
        .map(|r| r.body.as_str())
        .collect();
    let note = purge(&mut alice, Some(from.stamp.clone()), Some(to.stamp.clone())).await?;
    assert_eq!(note, deleted(doomed.len()));
    let (left, fin) = query(&mut alice, "after-range", "").await?;
    assert_eq!(fin.set.count, Some(5 - doomed.len()));
    assert!(bodies(&left).iter().all(|b| !doomed.contains(b)));

    let note = purge(&mut alice, None, None).await?;
    assert_eq!(note, deleted(5 - doomed.len()));
    let (left, _) = query(&mut alice, "after-all", "").await?;
    assert!(left.is_empty());
    let (bobs, _) = query(&mut bob, "bobs", "").await?;
    assert_eq!(bobs.len(), 5, "bob's archive is not alice's to purge");
    alice.close().await?;
    bob.close().await
}

/// Issue 4: "a removed account leaves no archived message behind". Bob's archive goes with his
/// account (the host deletes what the account owned); an account created again under the same
/// name starts empty, while alice keeps her own copies.
#[tokio::test]
async fn removed_account_leaves_no_archived_message() -> anyhow::Result<()> {
    let server = server("always").await?;
    let mut alice = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    converse(&mut alice, &mut bob, &texts("r", 3)).await?;
    let (bobs, _) = query(&mut bob, "bobs", "").await?;
    assert_eq!(bobs.len(), 3);
    bob.close().await?;

    let storage = tessera::storage::Storage::open(&server.config().storage).await?;
    assert!(tessera::accounts::remove(&storage, "bob").await?);
    let owner = tessera::storage::Owner::User("bob@localhost".parse()?);
    let left = storage
        .archive_query(
            "mam",
            "messages",
            &owner,
            "mam",
            &tessera::storage::ArchiveQuery::default(),
        )
        .await?;
    assert_eq!(left.count, 0, "nothing of bob's archive is left in storage");
    storage.close().await;

    server.add_user("bob", PW).await?;
    let mut bob = online(&server, "bob").await?;
    let (bobs, fin) = query(&mut bob, "new-bob", "").await?;
    assert!(bobs.is_empty() && fin.set.count == Some(0));
    let (alices, _) = query(&mut alice, "alices", "").await?;
    assert_eq!(alices.len(), 3);
    alice.close().await?;
    bob.close().await
}

/// A page holds at most `max_page` results (250 by default), however many the client asks for,
/// and a full page of them is sent within the plugin's default call deadline; the rest follows
/// with `after`.
#[tokio::test]
async fn a_page_is_capped_at_max_page() -> anyhow::Result<()> {
    let server = server("always").await?;
    let mut alice = online(&server, "alice").await?;
    let mut bob = online(&server, "bob").await?;
    let sent = texts("c", 260);
    for text in &sent {
        alice.send(chat(jid("bob@localhost"), text)).await?;
    }
    // Delivered in order: the last one arriving means every one was routed (and archived).
    bob.recv(|s| is_message(s, &bare("alice@localhost"), "c259"))
        .await?;
    let (results, fin) = query(&mut alice, "big", &rsm("<max>1000</max>")).await?;
    assert_eq!(results.len(), 250);
    assert_eq!((fin.complete, fin.set.count), (false, Some(260)));
    let last = fin.set.last.clone().unwrap_or_default();
    let (rest, fin) = query(
        &mut alice,
        "rest",
        &rsm(&format!("<max>1000</max><after>{last}</after>")),
    )
    .await?;
    assert_eq!(
        bodies(&rest),
        sent[250..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(fin.complete);
    alice.close().await?;
    bob.close().await
}

/// A message to a name nobody holds is bounced, and archived for nobody: whoever registers the
/// name later must not find it in their archive, even when the operator archives by default.
#[tokio::test]
async fn a_message_to_a_missing_account_is_not_archived_for_its_future_owner() -> anyhow::Result<()>
{
    let server = server("always").await?;
    let mut alice = online(&server, "alice").await?;
    alice
        .send(chat(jid("dave@localhost"), "anyone there?"))
        .await?;
    alice
        .recv(|s| matches!(s, Stanza::Message(m) if m.type_ == tessera_tests::parsers::message::MessageType::Error))
        .await?;
    server.add_user("dave", PW).await?;
    let mut dave = online(&server, "dave").await?;
    let (results, fin) = query(&mut dave, "fresh", "").await?;
    assert!(
        results.is_empty() && fin.set.count == Some(0),
        "{results:?}"
    );
    alice.close().await?;
    dave.close().await
}

/// With the built-in defaults (offline, carbons and mam together), a message that waits for bob
/// offline is archived once, when it arrives, and redelivered later carrying the stanza-id of
/// that archive entry (the redelivery is plugin traffic, which no hook archives again).
#[tokio::test]
async fn with_the_defaults_an_offline_message_is_archived_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for user in ["alice", "bob"] {
        server.add_user(user, PW).await?;
    }
    let mut bob = online(&server, "bob").await?;
    set_prefs(&mut bob, "always").await?;
    bob.close().await?;

    let mut alice = online(&server, "alice").await?;
    alice
        .send(chat(jid("bob@localhost"), "while you were out"))
        .await?;
    // Alice's stanzas are routed in order: once her note to herself is back, bob's message has
    // gone through the hooks (archived, then queued by offline).
    alice.send(chat(jid("alice@localhost"), "sync")).await?;
    alice
        .recv(|s| is_message(s, &bare("alice@localhost"), "sync"))
        .await?;

    let mut bob = online(&server, "bob").await?;
    let Stanza::Message(got) = bob
        .recv(|s| is_message(s, &bare("alice@localhost"), "while you were out"))
        .await?
    else {
        unreachable!()
    };
    assert!(
        got.payloads.iter().any(|p| p.is("delay", "urn:xmpp:delay")),
        "offline delivery"
    );
    let sid = got
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", SID) && p.attr("by") == Some("bob@localhost"))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned);
    let (results, _) = query(&mut bob, "once", "").await?;
    assert_eq!(bodies(&results), ["while you were out"]);
    assert_eq!(sid.as_deref(), Some(results[0].id.as_str()));
    alice.close().await?;
    bob.close().await
}
