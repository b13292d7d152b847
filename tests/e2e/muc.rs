//! Multi-User Chat (XEP-0045) with the `plugin-muc` component on `conference.localhost`, driven
//! by tokio-xmpp clients on a server with the built-in defaults: issue 7.
//!
//! Each test is a conversation between real clients: creating a room (110, 201, the instant-room
//! form), entering it (the others' presence first, then one's own with 110), groupchat and the
//! subject, nickname changes (303), private messages, kick (307), ban (301, and no way back),
//! password and members-only rooms, an occupant whose client went away without leaving, disco
//! and destruction (its `kv` records gone); and, for part 2, room logs: status 170, stanza-ids,
//! XEP-0313 queries on the room with RSM paging and a `with` filter, logging off purging the
//! log, history on entering with `maxstanzas`, and an idle persistent room expiring; and, for part
//! 3, XEP-0410 self-ping, XEP-0421 occupant ids, mediated invitations and declines (§7.8.2) and
//! registered nicknames (§7.10), including their release when the account is deleted; and, for
//! part 4, voice requests and their approval (§7.13, §8.6), `muc#roomconfig_allowinvites`, and
//! IQs relayed between occupants' clients.

use tessera_tests::parsers::iq::Iq;
use tessera_tests::parsers::message::{Lang, Message, MessageType};
use tessera_tests::parsers::minidom::Element;
use tessera_tests::parsers::presence::{Presence, Type as PresenceType};
use tessera_tests::tokio_xmpp::jid::Jid;
use tessera_tests::tokio_xmpp::{IqRequest, IqResponse, Stanza};
use tessera_tests::{TestClient, TestServer, slix};

use crate::support::jid;

const PW: &str = "a password for muc";
const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const SERVICE: &str = "conference.localhost";

/// A server on the built-in defaults (`muc` is one of them) with alice, bob and carol, each
/// connected and available.
async fn setup() -> anyhow::Result<(TestServer, TestClient, TestClient, TestClient)> {
    let server = TestServer::start().await?;
    for user in ["alice", "bob", "carol"] {
        server.add_user(user, PW).await?;
    }
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    let mut bob = TestClient::connect(&server, "bob", PW).await?;
    let mut carol = TestClient::connect(&server, "carol", PW).await?;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send(Presence::available()).await?;
    }
    Ok((server, alice, bob, carol))
}

fn room_jid(room: &str) -> Jid {
    jid(&format!("{room}@{SERVICE}"))
}

fn occupant(room: &str, nick: &str) -> Jid {
    jid(&format!("{room}@{SERVICE}/{nick}"))
}

/// The joining presence (§7.2.2), with a password if given.
fn enter(room: &str, nick: &str, password: Option<&str>) -> anyhow::Result<Presence> {
    let pw = password.map_or(String::new(), |p| format!("<password>{p}</password>"));
    let x: Element = format!("<x xmlns='{MUC}'>{pw}</x>").parse()?;
    Ok(Presence::available()
        .with_to(occupant(room, nick))
        .with_payloads(vec![x]))
}

/// The `muc#user` `<x/>` of a presence or message.
fn muc_x(payloads: &[Element]) -> Option<&Element> {
    payloads.iter().find(|p| p.is("x", MUC_USER))
}

/// Its status codes, in order.
fn codes(payloads: &[Element]) -> Vec<String> {
    muc_x(payloads)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", MUC_USER))
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An attribute of its `<item/>`.
fn item(payloads: &[Element], attr: &str) -> Option<String> {
    muc_x(payloads)?
        .get_child("item", MUC_USER)?
        .attr(attr)
        .map(str::to_owned)
}

/// A presence of `type_` from exactly `from`.
fn is_presence_from(s: &Stanza, type_: &PresenceType, from: &Jid) -> bool {
    matches!(s, Stanza::Presence(p) if p.type_ == *type_ && p.from.as_ref() == Some(from))
}

/// Waits for the presence of `type_` from `from` and returns it.
async fn presence_from(
    client: &mut TestClient,
    type_: PresenceType,
    from: &Jid,
) -> anyhow::Result<Presence> {
    match client.recv(|s| is_presence_from(s, &type_, from)).await? {
        Stanza::Presence(p) => Ok(p),
        _ => unreachable!("matched a presence"),
    }
}

/// The defined condition of an error presence from `from`.
async fn presence_error(client: &mut TestClient, from: &Jid) -> anyhow::Result<String> {
    let p = presence_from(client, PresenceType::Error, from).await?;
    let error = p
        .payloads
        .iter()
        .find(|e| e.is("error", "jabber:client"))
        .ok_or_else(|| anyhow::anyhow!("error presence without <error/>"))?;
    error
        .children()
        .find(|c| c.ns() == STANZAS)
        .map(|c| c.name().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no defined condition"))
}

/// Waits for a message from `from` with `body` and returns it.
async fn message_from(client: &mut TestClient, from: &Jid, body: &str) -> anyhow::Result<Message> {
    let s = client
        .recv(|s| {
            matches!(s, Stanza::Message(m)
                if m.from.as_ref() == Some(from) && m.bodies.values().any(|b| b == body))
        })
        .await?;
    match s {
        Stanza::Message(m) => Ok(m),
        _ => unreachable!("matched a message"),
    }
}

fn groupchat(room: &str, body: &str) -> Message {
    Message::new_with_type(MessageType::Groupchat, Some(room_jid(room)))
        .with_body(Lang::new(), body.to_owned())
}

/// An IQ that must succeed; its payload.
async fn ok(client: &mut TestClient, to: Jid, req: IqRequest) -> anyhow::Result<Option<Element>> {
    match client.iq(Some(to), req).await? {
        IqResponse::Result(payload) => Ok(payload),
        IqResponse::Error(e) => anyhow::bail!("IQ refused: {:?}", e.defined_condition),
    }
}

/// An IQ that must fail; its defined condition, as the client parsed it.
async fn refused(client: &mut TestClient, to: Jid, req: IqRequest) -> anyhow::Result<String> {
    match client.iq(Some(to), req).await? {
        IqResponse::Result(_) => anyhow::bail!("IQ accepted"),
        IqResponse::Error(e) => Ok(format!("{:?}", e.defined_condition)),
    }
}

/// The room's `kv` keys in the `rooms` category, as stored (owner `room:<room JID>`).
async fn room_keys(server: &TestServer, room: &str) -> anyhow::Result<Vec<String>> {
    let owner = tessera::storage::Owner::Room(room_jid(room).to_bare().to_string().parse()?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let mut keys = server
        .storage()
        .kv_keys("muc", "rooms", &owner, "", 100, u64::try_from(now)?)
        .await?;
    keys.sort();
    Ok(keys)
}

/// `<query xmlns='…muc#owner'>` with a submitted `muc#roomconfig` form of `fields` (none: the
/// instant room of §10.1.2).
fn config_form(fields: &[(&str, &str)]) -> anyhow::Result<Element> {
    let mut x = String::from("<x xmlns='jabber:x:data' type='submit'>");
    if !fields.is_empty() {
        x.push_str("<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>");
    }
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    Ok(format!("<query xmlns='{MUC_OWNER}'>{x}</x></query>").parse()?)
}

fn admin(items: &str) -> anyhow::Result<Element> {
    Ok(format!("<query xmlns='{MUC_ADMIN}'>{items}</query>").parse()?)
}

/// Alice creates `room` as nick `A` (110 and 201, owner, moderator) and accepts the instant
/// configuration (or `fields`).
async fn create(alice: &mut TestClient, room: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
    alice.send(enter(room, "A", None)?).await?;
    let own = presence_from(alice, PresenceType::None, &occupant(room, "A")).await?;
    assert_eq!(codes(&own.payloads), ["110", "201"], "a new room (§10.1.1)");
    assert_eq!(item(&own.payloads, "affiliation").as_deref(), Some("owner"));
    assert_eq!(item(&own.payloads, "role").as_deref(), Some("moderator"));
    ok(alice, room_jid(room), IqRequest::Set(config_form(fields)?)).await?;
    Ok(())
}

/// Creating, entering, groupchat, subject, nickname change, private message, leaving.
#[tokio::test]
async fn a_room_is_created_entered_and_talked_in() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    // Before the owner configures it, the room is locked (§10.1.1).
    alice.send(enter("tea", "A", None)?).await?;
    let own = presence_from(&mut alice, PresenceType::None, &occupant("tea", "A")).await?;
    assert_eq!(codes(&own.payloads), ["110", "201"]);
    bob.send(enter("tea", "B", None)?).await?;
    assert_eq!(
        presence_error(&mut bob, &occupant("tea", "B")).await?,
        "item-not-found"
    );
    ok(
        &mut alice,
        room_jid("tea"),
        IqRequest::Set(config_form(&[])?),
    )
    .await?;

    // §7.2.3: bob gets alice's presence first, then his own with 110.
    bob.send(enter("tea", "B", None)?).await?;
    let first = bob
        .recv(|s| matches!(s, Stanza::Presence(p) if p.from.as_ref().is_some_and(|f| f.to_bare() == room_jid("tea").to_bare())))
        .await?;
    assert!(
        is_presence_from(&first, &PresenceType::None, &occupant("tea", "A")),
        "others first"
    );
    let own = presence_from(&mut bob, PresenceType::None, &occupant("tea", "B")).await?;
    assert_eq!(codes(&own.payloads), ["110"]);
    assert_eq!(item(&own.payloads, "role").as_deref(), Some("participant"));
    // Alice, a moderator of a semi-anonymous room, sees bob's real JID.
    let seen = presence_from(&mut alice, PresenceType::None, &occupant("tea", "B")).await?;
    assert_eq!(item(&seen.payloads, "jid"), Some(bob.jid().to_string()));
    // §7.2.15: the subject (empty) after the presence.
    bob.recv(|s| matches!(s, Stanza::Message(m) if m.subjects.values().all(String::is_empty) && m.from == Some(room_jid("tea"))))
        .await?;

    // A taken nickname (§7.2.9).
    carol.send(enter("tea", "A", None)?).await?;
    assert_eq!(
        presence_error(&mut carol, &occupant("tea", "A")).await?,
        "conflict"
    );

    // §7.4: fan-out to everyone, the sender included, from the nickname.
    bob.send(groupchat("tea", "hello room")).await?;
    message_from(&mut alice, &occupant("tea", "B"), "hello room").await?;
    let echo = message_from(&mut bob, &occupant("tea", "B"), "hello room").await?;
    assert_eq!(echo.type_, MessageType::Groupchat);

    // §8.1: the subject, then sent to a newcomer (§7.2.15).
    let mut subject = Message::new_with_type(MessageType::Groupchat, Some(room_jid("tea")));
    subject
        .subjects
        .insert(Lang::new(), "Darjeeling".to_owned());
    alice.send(subject).await?;
    carol.send(enter("tea", "C", None)?).await?;
    let told = carol
        .recv(|s| matches!(s, Stanza::Message(m) if m.subjects.values().any(|t| t == "Darjeeling")))
        .await?;
    let Stanza::Message(told) = told else {
        unreachable!("matched")
    };
    assert_eq!(told.from, Some(occupant("tea", "A")));

    // §7.6: bob becomes "Bee": 303 with the new nick, then the new presence.
    bob.send(enter("tea", "Bee", None)?).await?;
    let gone = presence_from(&mut carol, PresenceType::Unavailable, &occupant("tea", "B")).await?;
    assert_eq!(codes(&gone.payloads), ["303"]);
    assert_eq!(item(&gone.payloads, "nick").as_deref(), Some("Bee"));
    let own_gone =
        presence_from(&mut bob, PresenceType::Unavailable, &occupant("tea", "B")).await?;
    assert_eq!(codes(&own_gone.payloads), ["303", "110"]);
    presence_from(&mut carol, PresenceType::None, &occupant("tea", "Bee")).await?;

    // §7.5: a private message, from the sender's nickname, to carol alone.
    let pm = Message::new_with_type(MessageType::Chat, Some(occupant("tea", "C")))
        .with_body(Lang::new(), "just for you".to_owned());
    bob.send(pm).await?;
    let got = message_from(&mut carol, &occupant("tea", "Bee"), "just for you").await?;
    assert!(
        muc_x(&got.payloads).is_some(),
        "marked as a MUC private message"
    );

    // §7.14: carol leaves; she gets 110, the others see her go.
    carol
        .send(Presence::new(PresenceType::Unavailable).with_to(occupant("tea", "C")))
        .await?;
    let bye = presence_from(&mut carol, PresenceType::Unavailable, &occupant("tea", "C")).await?;
    assert_eq!(codes(&bye.payloads), ["110"]);
    presence_from(&mut alice, PresenceType::Unavailable, &occupant("tea", "C")).await?;
    Ok(())
}

/// Kick (307) and ban (301): the banned user cannot come back; a participant may do neither.
#[tokio::test]
async fn kicked_and_banned_occupants_are_told_and_the_banned_stay_out() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    create(&mut alice, "den", &[]).await?;
    bob.send(enter("den", "B", None)?).await?;
    presence_from(&mut bob, PresenceType::None, &occupant("den", "B")).await?;
    carol.send(enter("den", "C", None)?).await?;
    presence_from(&mut carol, PresenceType::None, &occupant("den", "C")).await?;

    let kick_carol = admin("<item nick='C' role='none'><reason>too loud</reason></item>")?;
    let why = refused(
        &mut bob,
        room_jid("den"),
        IqRequest::Set(kick_carol.clone()),
    )
    .await?;
    assert_eq!(why, "Forbidden", "a participant kicks nobody");
    let kick_alice = admin("<item nick='A' role='none'/>")?;
    ok(
        &mut alice,
        room_jid("den"),
        IqRequest::Set(admin("<item nick='B' role='moderator'/>")?),
    )
    .await?;
    let why = refused(&mut bob, room_jid("den"), IqRequest::Set(kick_alice)).await?;
    assert_eq!(why, "NotAllowed", "nobody kicks the owner (§8.2)");

    ok(&mut alice, room_jid("den"), IqRequest::Set(kick_carol)).await?;
    let kicked =
        presence_from(&mut carol, PresenceType::Unavailable, &occupant("den", "C")).await?;
    assert_eq!(codes(&kicked.payloads), ["307", "110"]);
    let seen = presence_from(&mut bob, PresenceType::Unavailable, &occupant("den", "C")).await?;
    assert_eq!(codes(&seen.payloads), ["307"]);

    let ban =
        admin("<item affiliation='outcast' jid='bob@localhost'><reason>spam</reason></item>")?;
    ok(&mut alice, room_jid("den"), IqRequest::Set(ban)).await?;
    let banned = presence_from(&mut bob, PresenceType::Unavailable, &occupant("den", "B")).await?;
    assert_eq!(codes(&banned.payloads), ["301", "110"]);
    assert_eq!(
        item(&banned.payloads, "affiliation").as_deref(),
        Some("outcast")
    );
    bob.send(enter("den", "B2", None)?).await?;
    assert_eq!(
        presence_error(&mut bob, &occupant("den", "B2")).await?,
        "forbidden"
    );

    // The outcast list (§9.3) has him.
    let list = ok(
        &mut alice,
        room_jid("den"),
        IqRequest::Get(admin("<item affiliation='outcast'/>")?),
    )
    .await?
    .expect("a list");
    assert!(
        list.children()
            .any(|i| i.attr("jid") == Some("bob@localhost"))
    );
    Ok(())
}

/// Password-protected (§7.2.6) and members-only (§7.2.7) rooms.
#[tokio::test]
async fn password_and_members_only_rooms_keep_strangers_out() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    create(
        &mut alice,
        "vault",
        &[
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "open sesame"),
        ],
    )
    .await?;
    bob.send(enter("vault", "B", None)?).await?;
    assert_eq!(
        presence_error(&mut bob, &occupant("vault", "B")).await?,
        "not-authorized"
    );
    bob.send(enter("vault", "B", Some("wrong"))?).await?;
    assert_eq!(
        presence_error(&mut bob, &occupant("vault", "B")).await?,
        "not-authorized"
    );
    bob.send(enter("vault", "B", Some("open sesame"))?).await?;
    presence_from(&mut bob, PresenceType::None, &occupant("vault", "B")).await?;

    create(&mut alice, "club", &[("muc#roomconfig_membersonly", "1")]).await?;
    carol.send(enter("club", "C", None)?).await?;
    assert_eq!(
        presence_error(&mut carol, &occupant("club", "C")).await?,
        "registration-required"
    );
    ok(
        &mut alice,
        room_jid("club"),
        IqRequest::Set(admin("<item affiliation='member' jid='carol@localhost'/>")?),
    )
    .await?;
    carol.send(enter("club", "C", None)?).await?;
    let own = presence_from(&mut carol, PresenceType::None, &occupant("club", "C")).await?;
    assert_eq!(
        item(&own.payloads, "affiliation").as_deref(),
        Some("member")
    );
    Ok(())
}

/// An occupant whose client disconnects without leaving is removed for the others: the server
/// retracts the session's directed presence to the room (RFC 6121 §4.6.3).
#[tokio::test]
async fn an_occupant_whose_client_vanishes_leaves_the_room() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, _carol) = setup().await?;
    create(&mut alice, "pub", &[]).await?;
    bob.send(enter("pub", "B", None)?).await?;
    presence_from(&mut alice, PresenceType::None, &occupant("pub", "B")).await?;
    bob.close().await?;
    let gone = presence_from(&mut alice, PresenceType::Unavailable, &occupant("pub", "B")).await?;
    assert_eq!(item(&gone.payloads, "role").as_deref(), Some("none"));
    // The nickname is free again: the room holds nothing of the session.
    let list = ok(
        &mut alice,
        room_jid("pub"),
        IqRequest::Get(admin("<item role='participant'/>")?),
    )
    .await?
    .expect("a list");
    assert_eq!(list.children().count(), 0);
    Ok(())
}

/// The service and its public rooms in disco (§6), a persistent room, and its destruction
/// (§10.9): the occupants are told and the room's stored records are gone.
#[tokio::test]
async fn disco_finds_rooms_and_destruction_removes_them() -> anyhow::Result<()> {
    let (server, mut alice, mut bob, _carol) = setup().await?;
    // The server lists the service; the service is a text conference.
    let items = ok(
        &mut alice,
        jid("localhost"),
        IqRequest::Get(format!("<query xmlns='{DISCO_ITEMS}'/>").parse()?),
    )
    .await?
    .expect("items");
    assert!(items.children().any(|i| i.attr("jid") == Some(SERVICE)));
    let info = ok(
        &mut alice,
        jid(SERVICE),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}'/>").parse()?),
    )
    .await?
    .expect("info");
    assert!(
        info.children()
            .any(|c| c.attr("category") == Some("conference") && c.attr("type") == Some("text"))
    );
    assert!(info.children().any(|c| c.attr("var") == Some(MUC)));

    create(
        &mut alice,
        "lounge",
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_roomname", "The Lounge"),
        ],
    )
    .await?;
    let rooms = ok(
        &mut bob,
        jid(SERVICE),
        IqRequest::Get(format!("<query xmlns='{DISCO_ITEMS}'/>").parse()?),
    )
    .await?
    .expect("items");
    assert!(
        rooms
            .children()
            .any(|i| i.attr("jid") == Some("lounge@conference.localhost")
                && i.attr("name") == Some("The Lounge"))
    );
    let room_info = ok(
        &mut bob,
        room_jid("lounge"),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}'/>").parse()?),
    )
    .await?
    .expect("info");
    let features: Vec<&str> = room_info.children().filter_map(|c| c.attr("var")).collect();
    for f in [
        MUC,
        "muc_persistent",
        "muc_public",
        "muc_open",
        "muc_unsecured",
        "muc_semianonymous",
    ] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
    assert_eq!(
        room_keys(&server, "lounge").await?,
        ["aff/alice@localhost", "config"]
    );

    bob.send(enter("lounge", "B", None)?).await?;
    presence_from(&mut bob, PresenceType::None, &occupant("lounge", "B")).await?;
    let destroy: Element = format!(
        "<query xmlns='{MUC_OWNER}'><destroy jid='other@{SERVICE}'><reason>closing</reason></destroy></query>"
    )
    .parse()?;
    let why = refused(
        &mut bob,
        room_jid("lounge"),
        IqRequest::Set(destroy.clone()),
    )
    .await?;
    assert_eq!(why, "Forbidden");
    ok(&mut alice, room_jid("lounge"), IqRequest::Set(destroy)).await?;
    let told = presence_from(
        &mut bob,
        PresenceType::Unavailable,
        &occupant("lounge", "B"),
    )
    .await?;
    let d = muc_x(&told.payloads)
        .and_then(|x| x.get_child("destroy", MUC_USER))
        .expect("<destroy/>");
    assert_eq!(d.attr("jid"), Some("other@conference.localhost"));
    let why = refused(
        &mut bob,
        room_jid("lounge"),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}'/>").parse()?),
    )
    .await?;
    assert_eq!(why, "ItemNotFound");
    assert!(
        room_keys(&server, "lounge").await?.is_empty(),
        "deleted with the room"
    );
    Ok(())
}

/// slixmpp's `xep_0045` enters a room alice created: it sees her among the occupants and the
/// subject she set, gets its own presence with 110, and its groupchat message is reflected to
/// it and reaches alice from its nickname.
#[tokio::test]
async fn slixmpp_enters_a_room_and_talks() -> anyhow::Result<()> {
    let (server, mut alice, _bob, _carol) = setup().await?;
    create(&mut alice, "py", &[]).await?;
    let mut subject = Message::new_with_type(MessageType::Groupchat, Some(room_jid("py")));
    subject.subjects.insert(Lang::new(), "Snakes".to_owned());
    alice.send(subject).await?;
    alice
        .recv(|s| matches!(s, Stanza::Message(m) if m.subjects.values().any(|t| t == "Snakes")))
        .await?;
    let args = [
        "--jid",
        "carol@localhost/slix",
        "--password",
        PW,
        "--mech",
        "SCRAM-SHA-256",
        "--room",
        "py@conference.localhost",
        "--nick",
        "Slix",
        "--expect-nick",
        "A",
        "--expect-subject",
        "Snakes",
        "--body",
        "hiss",
    ];
    let Some(run) = slix::run_script(&server, "muc.py", &args).await? else {
        return Ok(());
    };
    assert_eq!(run.code, Some(0), "muc.py failed: {run:?}");
    for r in [
        "joined 110",
        "occupant-seen",
        "subject-seen",
        "message-reflected",
    ] {
        assert!(run.has_result(r), "{r}: {run:?}");
    }
    message_from(&mut alice, &occupant("py", "Slix"), "hiss").await?;
    Ok(())
}

const MAM: &str = "urn:xmpp:mam:2";
const RSM: &str = "http://jabber.org/protocol/rsm";

/// A MAM query on `room` (XEP-0313) with `inner` children; the bodies of the result messages
/// (each checked: from the room, with the `queryid`, forwarded with a delay stamp and a
/// stanza-id-able archive id) and the `<fin/>`.
async fn room_archive(
    client: &mut TestClient,
    room: &str,
    queryid: &str,
    inner: &str,
) -> anyhow::Result<(Vec<(String, String)>, Element)> {
    let q: Element = format!("<query xmlns='{MAM}' queryid='{queryid}'>{inner}</query>").parse()?;
    let fin = ok(client, room_jid(room), IqRequest::Set(q))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no <fin/>"))?;
    assert!(fin.is("fin", MAM), "{fin:?}");
    let from = room_jid(room);
    let is_result = |s: &Stanza| {
        matches!(s, Stanza::Message(m) if m.from.as_ref() == Some(&from)
            && m.payloads.iter().any(|p| p.is("result", MAM) && p.attr("queryid") == Some(queryid)))
    };
    let mut out = Vec::new();
    // The results were sent before the IQ result, so they are already in the backlog.
    while let Ok(Stanza::Message(m)) = client
        .recv_until(is_result, std::time::Duration::from_millis(50))
        .await
    {
        let result = m
            .payloads
            .iter()
            .find(|p| p.is("result", MAM))
            .expect("matched");
        let fwd = result
            .get_child("forwarded", "urn:xmpp:forward:0")
            .expect("forwarded");
        assert!(fwd.get_child("delay", "urn:xmpp:delay").is_some());
        let msg = fwd.get_child("message", "jabber:client").expect("message");
        let body = msg
            .get_child("body", "jabber:client")
            .map(Element::text)
            .unwrap_or_default();
        out.push((msg.attr("from").unwrap_or_default().to_owned(), body));
    }
    Ok((out, fin))
}

fn bodies(results: &[(String, String)]) -> Vec<&str> {
    results.iter().map(|(_, b)| b.as_str()).collect()
}

/// Room logs (issue 7, part 2): 170 on entering a logged room and not an unlogged one, the
/// stanza-id occupants receive, a MAM query on the room paged with RSM and filtered by
/// occupant, an outsider refused, and logging off purging the archive for good.
#[tokio::test]
async fn a_logged_room_archives_and_answers_mam_queries() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    // An unlogged room: no 170, no stanza-id, no archive.
    create(&mut alice, "quiet", &[]).await?;
    bob.send(enter("quiet", "B", None)?).await?;
    let own = presence_from(&mut bob, PresenceType::None, &occupant("quiet", "B")).await?;
    assert_eq!(codes(&own.payloads), ["110"]);
    bob.send(groupchat("quiet", "unlogged")).await?;
    let m = message_from(&mut bob, &occupant("quiet", "B"), "unlogged").await?;
    assert!(
        !m.payloads
            .iter()
            .any(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
    );
    let q: Element = format!("<query xmlns='{MAM}'/>").parse()?;
    assert_eq!(
        refused(&mut bob, room_jid("quiet"), IqRequest::Set(q)).await?,
        "ServiceUnavailable"
    );

    // A logged room.
    create(
        &mut alice,
        "logged",
        &[("muc#roomconfig_enablelogging", "1")],
    )
    .await?;
    bob.send(enter("logged", "B", None)?).await?;
    let own = presence_from(&mut bob, PresenceType::None, &occupant("logged", "B")).await?;
    assert_eq!(codes(&own.payloads), ["170", "110"], "§7.2.12");
    let info = ok(
        &mut bob,
        room_jid("logged"),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}'/>").parse()?),
    )
    .await?
    .expect("info");
    assert!(info.children().any(|c| c.attr("var") == Some(MAM)));
    for n in 1..=3 {
        alice.send(groupchat("logged", &format!("a{n}"))).await?;
        message_from(&mut bob, &occupant("logged", "A"), &format!("a{n}")).await?;
    }
    bob.send(groupchat("logged", "b1")).await?;
    let m = message_from(&mut bob, &occupant("logged", "B"), "b1").await?;
    let sid = m
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .expect("XEP-0359 stanza-id");
    assert_eq!(sid.attr("by"), Some("logged@conference.localhost"));

    // Two at a time, then the rest after the last one.
    let (page, fin) = room_archive(
        &mut bob,
        "logged",
        "p1",
        &format!("<set xmlns='{RSM}'><max>2</max></set>"),
    )
    .await?;
    assert_eq!(bodies(&page), ["a1", "a2"]);
    assert_eq!(page[0].0, "logged@conference.localhost/A");
    assert_ne!(fin.attr("complete"), Some("true"));
    let last = fin
        .get_child("set", RSM)
        .and_then(|s| s.get_child("last", RSM))
        .map(Element::text)
        .expect("rsm last");
    let (page, fin) = room_archive(
        &mut bob,
        "logged",
        "p2",
        &format!("<set xmlns='{RSM}'><max>10</max><after>{last}</after></set>"),
    )
    .await?;
    assert_eq!(bodies(&page), ["a3", "b1"]);
    assert_eq!(fin.attr("complete"), Some("true"));
    // The last one's id is the stanza-id occupants got.
    assert_eq!(
        fin.get_child("set", RSM)
            .and_then(|s| s.get_child("last", RSM))
            .map(Element::text)
            .as_deref(),
        sid.attr("id")
    );
    // One occupant's messages.
    let with = format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>{MAM}</value></field>\
         <field var='with'><value>logged@{SERVICE}/B</value></field></x>"
    );
    let (page, _) = room_archive(&mut bob, "logged", "w", &with).await?;
    assert_eq!(bodies(&page), ["b1"]);
    // Carol never entered and is no member.
    let q: Element = format!("<query xmlns='{MAM}'/>").parse()?;
    assert_eq!(
        refused(&mut carol, room_jid("logged"), IqRequest::Set(q)).await?,
        "Forbidden"
    );

    // Logging off: 171, and the log is gone even once logging is back on.
    ok(
        &mut alice,
        room_jid("logged"),
        IqRequest::Set(config_form(&[("muc#roomconfig_enablelogging", "0")])?),
    )
    .await?;
    let told = bob
        .recv(|s| matches!(s, Stanza::Message(m) if codes(&m.payloads).contains(&"171".to_owned())))
        .await?;
    let Stanza::Message(told) = told else {
        unreachable!("matched a message")
    };
    assert_eq!(codes(&told.payloads), ["104", "171"]);
    ok(
        &mut alice,
        room_jid("logged"),
        IqRequest::Set(config_form(&[("muc#roomconfig_enablelogging", "1")])?),
    )
    .await?;
    let (page, fin) = room_archive(&mut bob, "logged", "after", "").await?;
    assert!(page.is_empty(), "nothing old: {page:?}");
    assert_eq!(fin.attr("complete"), Some("true"));
    Ok(())
}

/// §7.2.14: entering a logged room with `<history maxstanzas='2'/>` brings the last two
/// messages, stamped (XEP-0203) and before the subject; an unlogged room has none to give.
#[tokio::test]
async fn history_on_entering_honours_maxstanzas() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, _carol) = setup().await?;
    create(&mut alice, "hist", &[("muc#roomconfig_enablelogging", "1")]).await?;
    for n in 1..=4 {
        alice.send(groupchat("hist", &format!("h{n}"))).await?;
        message_from(&mut alice, &occupant("hist", "A"), &format!("h{n}")).await?;
    }
    let x: Element = format!("<x xmlns='{MUC}'><history maxstanzas='2'/></x>").parse()?;
    bob.send(
        Presence::available()
            .with_to(occupant("hist", "B"))
            .with_payloads(vec![x]),
    )
    .await?;
    let from = room_jid("hist");
    let mut got = Vec::new();
    loop {
        let s = bob
            .recv(|s| {
                matches!(s, Stanza::Message(m) if m.type_ == MessageType::Groupchat
                    && m.from.as_ref().is_some_and(|f| f.to_bare() == from.to_bare()))
            })
            .await?;
        let Stanza::Message(m) = s else {
            unreachable!("matched a message")
        };
        if m.subjects.values().next().is_some() || m.bodies.is_empty() {
            break; // §7.2.15: the subject closes the history
        }
        let delay = m
            .payloads
            .iter()
            .find(|p| p.is("delay", "urn:xmpp:delay"))
            .expect("a delay stamp");
        assert_eq!(delay.attr("from"), Some("hist@conference.localhost"));
        got.push(m.bodies.values().next().cloned().unwrap_or_default());
    }
    assert_eq!(got, ["h3", "h4"]);
    Ok(())
}

/// A persistent room nobody uses is destroyed after `room_expiry` with its records.
#[tokio::test]
async fn an_idle_persistent_room_expires() -> anyhow::Result<()> {
    let server = TestServer::with_config(
        "[plugins.muc]\ngrants = [\"log\", \"router\", \"kv\", \"ephemeral\", \"archive\", \"clock\"]\n\
         [plugins.muc.config]\nroom_expiry = \"2s\"\n",
    )
    .await?;
    server.add_user("alice", PW).await?;
    let mut alice = TestClient::connect(&server, "alice", PW).await?;
    alice.send(Presence::available()).await?;
    create(
        &mut alice,
        "idle",
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_enablelogging", "1"),
        ],
    )
    .await?;
    alice.send(groupchat("idle", "last words")).await?;
    message_from(&mut alice, &occupant("idle", "A"), "last words").await?;
    // Occupied, it cannot expire yet; its activity is noted.
    assert!(
        room_keys(&server, "idle")
            .await?
            .contains(&"active".to_owned())
    );
    alice
        .send(Presence::new(PresenceType::Unavailable).with_to(occupant("idle", "A")))
        .await?;
    presence_from(
        &mut alice,
        PresenceType::Unavailable,
        &occupant("idle", "A"),
    )
    .await?;
    // The timer ticks every 5 s; 2 s of idleness is enough. Bounded wait.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !room_keys(&server, "idle").await?.is_empty() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the idle room was not destroyed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Gone: entering makes a new room.
    alice.send(enter("idle", "A", None)?).await?;
    let own = presence_from(&mut alice, PresenceType::None, &occupant("idle", "A")).await?;
    assert_eq!(codes(&own.payloads), ["110", "201"]);
    Ok(())
}

const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";

/// The XEP-0421 occupant id of a presence's or message's payloads (exactly one).
fn occupant_id(payloads: &[Element]) -> anyhow::Result<String> {
    let ids: Vec<&Element> = payloads
        .iter()
        .filter(|p| p.is("occupant-id", OCCUPANT_ID))
        .collect();
    anyhow::ensure!(ids.len() == 1, "{} occupant ids", ids.len());
    ids[0]
        .attr("id")
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("occupant-id without id"))
}

/// XEP-0410: an occupant's self-ping is answered by the room; from outside, `not-acceptable`;
/// the room advertises the optimization and occupant ids.
#[tokio::test]
async fn self_ping_tells_an_occupant_whether_it_is_still_in() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, _carol) = setup().await?;
    create(&mut alice, "pong", &[]).await?;
    let ping = || -> anyhow::Result<IqRequest> {
        Ok(IqRequest::Get("<ping xmlns='urn:xmpp:ping'/>".parse()?))
    };
    ok(&mut alice, occupant("pong", "A"), ping()?).await?;
    assert_eq!(
        refused(&mut bob, occupant("pong", "B"), ping()?).await?,
        "NotAcceptable",
        "bob never joined"
    );
    assert_eq!(
        refused(&mut bob, occupant("pong", "A"), ping()?).await?,
        "NotAcceptable"
    );
    let info = ok(
        &mut bob,
        room_jid("pong"),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}'/>").parse()?),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("empty disco#info"))?;
    let features: Vec<&str> = info
        .children()
        .filter(|c| c.is("feature", DISCO_INFO))
        .filter_map(|c| c.attr("var"))
        .collect();
    assert!(features.contains(&"http://jabber.org/protocol/muc#self-ping-optimization"));
    assert!(features.contains(&OCCUPANT_ID));
    // Alice leaves: her next self-ping says so.
    alice
        .send(Presence::new(PresenceType::Unavailable).with_to(occupant("pong", "A")))
        .await?;
    presence_from(
        &mut alice,
        PresenceType::Unavailable,
        &occupant("pong", "A"),
    )
    .await?;
    assert_eq!(
        refused(&mut alice, occupant("pong", "A"), ping()?).await?,
        "NotAcceptable"
    );
    Ok(())
}

/// XEP-0421: one id per person and room, the same in presence and messages and after coming
/// back under another nickname, another in another room.
#[tokio::test]
async fn occupant_ids_are_stable_and_per_room() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, _carol) = setup().await?;
    create(&mut alice, "ids", &[]).await?;
    create(&mut alice, "ids2", &[]).await?;
    bob.send(enter("ids", "B", None)?).await?;
    let seen = presence_from(&mut alice, PresenceType::None, &occupant("ids", "B")).await?;
    let id = occupant_id(&seen.payloads)?;
    let own = presence_from(&mut bob, PresenceType::None, &occupant("ids", "B")).await?;
    assert_eq!(occupant_id(&own.payloads)?, id);

    // A forged id in bob's message is replaced by his own.
    let forged: Element = format!("<occupant-id xmlns='{OCCUPANT_ID}' id='not-bob'/>").parse()?;
    bob.send(groupchat("ids", "with an id").with_payloads(vec![forged]))
        .await?;
    let m = message_from(&mut alice, &occupant("ids", "B"), "with an id").await?;
    assert_eq!(occupant_id(&m.payloads)?, id);

    // Back under another nickname: the same id.
    bob.send(Presence::new(PresenceType::Unavailable).with_to(occupant("ids", "B")))
        .await?;
    presence_from(&mut alice, PresenceType::Unavailable, &occupant("ids", "B")).await?;
    bob.send(enter("ids", "Bob", None)?).await?;
    let back = presence_from(&mut alice, PresenceType::None, &occupant("ids", "Bob")).await?;
    assert_eq!(occupant_id(&back.payloads)?, id);

    // Another room, another id; alice's differs from bob's.
    bob.send(enter("ids2", "B", None)?).await?;
    let there = presence_from(&mut alice, PresenceType::None, &occupant("ids2", "B")).await?;
    assert_ne!(occupant_id(&there.payloads)?, id);
    let alice_seen = presence_from(&mut bob, PresenceType::None, &occupant("ids2", "A")).await?;
    assert_ne!(
        occupant_id(&alice_seen.payloads)?,
        occupant_id(&there.payloads)?
    );
    Ok(())
}

/// A message with a `muc#user` `<x/>` holding `inner`, to `room`.
fn muc_user_message(room: &str, inner: &str) -> anyhow::Result<Message> {
    let x: Element = format!("<x xmlns='{MUC_USER}'>{inner}</x>").parse()?;
    Ok(Message::new(Some(room_jid(room))).with_payloads(vec![x]))
}

/// Waits for a message from the room with a `muc#user` `<name/>` and returns that element.
async fn from_room(client: &mut TestClient, room: &str, name: &str) -> anyhow::Result<Element> {
    let s = client
        .recv(|s| {
            matches!(s, Stanza::Message(m) if m.from == Some(room_jid(room))
                && muc_x(&m.payloads).is_some_and(|x| x.has_child(name, MUC_USER)))
        })
        .await?;
    let Stanza::Message(m) = s else {
        unreachable!("matched a message")
    };
    muc_x(&m.payloads)
        .and_then(|x| x.get_child(name, MUC_USER))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no <{name}/>"))
}

/// §7.8.2: a mediated invitation reaches the invitee from the room, with the reason and the
/// inviter; a decline reaches the inviter; in a members-only room the owner's invitation lets
/// the invitee in. XEP-0249 direct invitations, a message between users, still pass.
#[tokio::test]
async fn mediated_invitations_and_declines() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    create(&mut alice, "club", &[("muc#roomconfig_membersonly", "1")]).await?;
    carol.send(enter("club", "C", None)?).await?;
    assert_eq!(
        presence_error(&mut carol, &occupant("club", "C")).await?,
        "registration-required"
    );
    alice
        .send(muc_user_message(
            "club",
            "<invite to='carol@localhost'><reason>join us</reason></invite>",
        )?)
        .await?;
    let invite = from_room(&mut carol, "club", "invite").await?;
    assert_eq!(invite.attr("from"), Some("alice@localhost"));
    assert_eq!(
        invite
            .get_child("reason", MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("join us")
    );
    // The invitation made carol a member: she gets in.
    carol.send(enter("club", "C", None)?).await?;
    let own = presence_from(&mut carol, PresenceType::None, &occupant("club", "C")).await?;
    assert_eq!(
        item(&own.payloads, "affiliation").as_deref(),
        Some("member")
    );

    // Bob, invited, declines; alice is told.
    alice
        .send(muc_user_message("club", "<invite to='bob@localhost'/>")?)
        .await?;
    from_room(&mut bob, "club", "invite").await?;
    bob.send(muc_user_message(
        "club",
        "<decline to='alice@localhost'><reason>no time</reason></decline>",
    )?)
    .await?;
    let declined = from_room(&mut alice, "club", "decline").await?;
    assert_eq!(declined.attr("from"), Some("bob@localhost"));
    assert_eq!(
        declined
            .get_child("reason", MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("no time")
    );

    // XEP-0249: a direct invitation is a message from carol to bob, untouched by the room.
    let direct: Element =
        format!("<x xmlns='jabber:x:conference' jid='club@{SERVICE}' reason='come'/>").parse()?;
    carol
        .send(Message::new(Some(bob.jid().to_bare().into())).with_payloads(vec![direct]))
        .await?;
    let got = bob
        .recv(|s| matches!(s, Stanza::Message(m) if m.payloads.iter().any(|p| p.is("x", "jabber:x:conference"))))
        .await?;
    let Stanza::Message(got) = got else {
        unreachable!("matched")
    };
    assert_eq!(got.from.map(|f| f.to_bare()), Some(carol.jid().to_bare()));
    Ok(())
}

fn register_nick(nick: &str) -> anyhow::Result<IqRequest> {
    Ok(IqRequest::Set(
        format!(
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>{MUC}#register</value></field>\
             <field var='muc#register_roomnick'><value>{nick}</value></field></x></query>"
        )
        .parse()?,
    ))
}

/// §7.10: a registered nickname is reserved against others, told by `x-roomuser-item`,
/// released by unregistering; deleting the account frees it too.
#[tokio::test]
async fn registered_nicknames_are_reserved_and_go_with_the_account() -> anyhow::Result<()> {
    let (server, mut alice, mut bob, mut carol) = setup().await?;
    create(&mut alice, "reg", &[("muc#roomconfig_persistentroom", "1")]).await?;
    ok(&mut bob, room_jid("reg"), register_nick("Bobby")?).await?;
    let item = ok(
        &mut bob,
        room_jid("reg"),
        IqRequest::Get(format!("<query xmlns='{DISCO_INFO}' node='x-roomuser-item'/>").parse()?),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("empty answer"))?;
    let name = item
        .get_child("identity", DISCO_INFO)
        .and_then(|i| i.attr("name"));
    assert_eq!(name, Some("Bobby"));

    carol.send(enter("reg", "Bobby", None)?).await?;
    assert_eq!(
        presence_error(&mut carol, &occupant("reg", "Bobby")).await?,
        "conflict"
    );
    assert_eq!(
        refused(&mut carol, room_jid("reg"), register_nick("Bobby")?).await?,
        "Conflict"
    );
    // Unregistering releases it.
    ok(
        &mut bob,
        room_jid("reg"),
        IqRequest::Set("<query xmlns='jabber:iq:register'><remove/></query>".parse()?),
    )
    .await?;
    carol.send(enter("reg", "Bobby", None)?).await?;
    presence_from(&mut carol, PresenceType::None, &occupant("reg", "Bobby")).await?;
    carol
        .send(Presence::new(PresenceType::Unavailable).with_to(occupant("reg", "Bobby")))
        .await?;
    presence_from(
        &mut carol,
        PresenceType::Unavailable,
        &occupant("reg", "Bobby"),
    )
    .await?;

    // Bob registers again, then his account is deleted: the nickname is free.
    ok(&mut bob, room_jid("reg"), register_nick("Bobby")?).await?;
    carol.send(enter("reg", "Bobby", None)?).await?;
    assert_eq!(
        presence_error(&mut carol, &occupant("reg", "Bobby")).await?,
        "conflict"
    );
    assert!(tessera::accounts::remove(server.storage(), "bob").await?);
    carol.send(enter("reg", "Bobby", None)?).await?;
    presence_from(&mut carol, PresenceType::None, &occupant("reg", "Bobby")).await?;
    Ok(())
}

const MUC_REQUEST: &str = "http://jabber.org/protocol/muc#request";

/// A message to `room` carrying a submitted `muc#request` form with `fields` (§7.13, §8.6).
fn request_form(room: &str, fields: &[(&str, &str)]) -> anyhow::Result<Message> {
    let mut x = format!(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>{MUC_REQUEST}</value></field>"
    );
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    x.push_str("</x>");
    Ok(Message::new(Some(room_jid(room))).with_payloads(vec![x.parse()?]))
}

/// A field's first value in a data form.
fn field(form: &Element, var: &str) -> Option<String> {
    form.children()
        .find(|f| f.is("field", "jabber:x:data") && f.attr("var") == Some(var))?
        .get_child("value", "jabber:x:data")
        .map(Element::text)
}

/// The defined condition of an error message from `from`.
async fn message_error(client: &mut TestClient, from: &Jid) -> anyhow::Result<String> {
    let s = client
        .recv(|s| {
            matches!(s, Stanza::Message(m)
                if m.type_ == MessageType::Error && m.from.as_ref() == Some(from))
        })
        .await?;
    let Stanza::Message(m) = s else {
        unreachable!("matched a message")
    };
    m.payloads
        .iter()
        .find(|e| e.is("error", "jabber:client"))
        .and_then(|e| e.children().find(|c| c.ns() == STANZAS))
        .map(|c| c.name().to_owned())
        .ok_or_else(|| anyhow::anyhow!("error message without a defined condition"))
}

/// §7.13, §8.6: a visitor in a moderated room asks for voice, the moderator gets the form
/// (nickname and real JID), approves it, and the visitor, now a participant, can talk.
#[tokio::test]
async fn a_voice_request_reaches_the_moderator_and_approval_gives_voice() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, _carol) = setup().await?;
    create(
        &mut alice,
        "stage",
        &[("muc#roomconfig_moderatedroom", "1")],
    )
    .await?;
    bob.send(enter("stage", "B", None)?).await?;
    let own = presence_from(&mut bob, PresenceType::None, &occupant("stage", "B")).await?;
    assert_eq!(item(&own.payloads, "role").as_deref(), Some("visitor"));

    bob.send(request_form("stage", &[("muc#role", "participant")])?)
        .await?;
    let s = alice
        .recv(|s| {
            matches!(s, Stanza::Message(m) if m.from == Some(room_jid("stage"))
                && m.payloads.iter().any(|p| p.is("x", "jabber:x:data")))
        })
        .await?;
    let Stanza::Message(m) = s else {
        unreachable!("matched a message")
    };
    let form = m
        .payloads
        .iter()
        .find(|p| p.is("x", "jabber:x:data"))
        .ok_or_else(|| anyhow::anyhow!("no form"))?;
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(field(form, "FORM_TYPE").as_deref(), Some(MUC_REQUEST));
    assert_eq!(field(form, "muc#roomnick").as_deref(), Some("B"));
    assert_eq!(
        field(form, "muc#jid"),
        Some(bob.jid().to_string()),
        "moderators see the requester's JID"
    );

    alice
        .send(request_form(
            "stage",
            &[
                ("muc#role", "participant"),
                ("muc#roomnick", "B"),
                ("muc#request_allow", "true"),
            ],
        )?)
        .await?;
    let now = presence_from(&mut bob, PresenceType::None, &occupant("stage", "B")).await?;
    assert_eq!(item(&now.payloads, "role").as_deref(), Some("participant"));
    bob.send(groupchat("stage", "my first words")).await?;
    message_from(&mut alice, &occupant("stage", "B"), "my first words").await?;
    Ok(())
}

/// `muc#roomconfig_allowinvites` off: a participant's invitation is refused, the owner's goes.
#[tokio::test]
async fn allowinvites_off_refuses_a_participants_invitation() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    create(
        &mut alice,
        "closed",
        &[("muc#roomconfig_allowinvites", "0")],
    )
    .await?;
    bob.send(enter("closed", "B", None)?).await?;
    presence_from(&mut bob, PresenceType::None, &occupant("closed", "B")).await?;
    bob.send(muc_user_message(
        "closed",
        "<invite to='carol@localhost'/>",
    )?)
    .await?;
    assert_eq!(
        message_error(&mut bob, &room_jid("closed")).await?,
        "forbidden"
    );
    alice
        .send(muc_user_message(
            "closed",
            "<invite to='carol@localhost'/>",
        )?)
        .await?;
    let invite = from_room(&mut carol, "closed", "invite").await?;
    assert_eq!(invite.attr("from"), Some("alice@localhost"));
    Ok(())
}

/// IQs to an occupant JID reach that occupant's client from the sender's occupant JID, and the
/// client's answer comes back through the room, with the sender's own id; outsiders and
/// unknown nicknames are refused.
#[tokio::test]
async fn an_iq_to_an_occupant_is_answered_by_its_client_through_the_room() -> anyhow::Result<()> {
    let (_server, mut alice, mut bob, mut carol) = setup().await?;
    create(&mut alice, "relay", &[]).await?;
    bob.send(enter("relay", "B", None)?).await?;
    presence_from(&mut bob, PresenceType::None, &occupant("relay", "B")).await?;

    let version: Element = "<query xmlns='jabber:iq:version'/>".parse()?;
    bob.send(Iq::Get {
        from: None,
        to: Some(occupant("relay", "A")),
        id: "bob-version-1".to_owned(),
        payload: version.clone(),
    })
    .await?;
    let s = alice
        .recv(|s| matches!(s, Stanza::Iq(Iq::Get { payload, .. }) if payload.is("query", "jabber:iq:version")))
        .await?;
    let Stanza::Iq(Iq::Get { from, id, .. }) = s else {
        unreachable!("matched an IQ get")
    };
    assert_eq!(
        from,
        Some(occupant("relay", "B")),
        "from bob's occupant JID"
    );
    assert_ne!(id, "bob-version-1", "the room's own id");
    let answer: Element =
        "<query xmlns='jabber:iq:version'><name>alice's client</name><version>1</version></query>"
            .parse()?;
    alice
        .send(Iq::Result {
            from: None,
            to: Some(occupant("relay", "B")),
            id,
            payload: Some(answer),
        })
        .await?;
    let s = bob
        .recv(|s| matches!(s, Stanza::Iq(Iq::Result { id, .. }) if id == "bob-version-1"))
        .await?;
    let Stanza::Iq(Iq::Result { from, payload, .. }) = s else {
        unreachable!("matched an IQ result")
    };
    assert_eq!(
        from,
        Some(occupant("relay", "A")),
        "from alice's occupant JID"
    );
    let name = payload
        .and_then(|p| p.get_child("name", "jabber:iq:version").map(Element::text))
        .ok_or_else(|| anyhow::anyhow!("no version in the answer"))?;
    assert_eq!(name, "alice's client");

    assert_eq!(
        refused(
            &mut carol,
            occupant("relay", "A"),
            IqRequest::Get(version.clone())
        )
        .await?,
        "NotAcceptable",
        "carol is not in the room"
    );
    assert_eq!(
        refused(
            &mut bob,
            occupant("relay", "Nobody"),
            IqRequest::Get(version)
        )
        .await?,
        "ItemNotFound"
    );
    Ok(())
}
