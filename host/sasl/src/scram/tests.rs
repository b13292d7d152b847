//! SCRAM exchanges end to end: the RFC vectors, round trips, channel binding, and every refusal.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::ChannelBinding;
use crate::{
    Credentials, HashAlg, MIN_ITERATIONS, Mechanism, SaslError, ScramClient, ScramServer,
    ServerFirst, derive_credentials, derive_keys,
};

const SCRAM: [Mechanism; 4] = [
    Mechanism::ScramSha1,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha256Plus,
];

fn no_tls() -> ChannelBinding {
    ChannelBinding {
        tls_exporter: None,
        plus_advertised: false,
    }
}

fn tls(exporter: u8) -> ChannelBinding {
    ChannelBinding {
        tls_exporter: Some(vec![exporter; 32]),
        plus_advertised: true,
    }
}

fn creds() -> &'static Credentials {
    static CREDS: std::sync::OnceLock<Credentials> = std::sync::OnceLock::new();
    CREDS.get_or_init(|| derive_credentials("pencil", MIN_ITERATIONS).unwrap())
}

/// Runs a whole exchange; the first error from either side wins.
fn exchange(
    mech: Mechanism,
    server_cb: ChannelBinding,
    client_cb: Option<Vec<u8>>,
    creds: Option<&Credentials>,
    user: &str,
    password: &str,
) -> Result<String, SaslError> {
    let alg = mech.hash().unwrap();
    let mut client = ScramClient::new(mech, user, password, client_cb)?;
    let server = ScramServer::new(mech, server_cb)?;
    let first = server.client_first(&client.client_first())?;
    let (server, challenge) = first.server_first(creds.map(|c| c.keys(alg)));
    let response = client.handle_server_first(&challenge)?;
    let (success, username) = server.client_final(&response)?;
    client.verify_server_final(&success)?;
    Ok(username)
}

/// Replays a published exchange with fixed nonces and checks every message byte for byte.
fn vector(mech: Mechanism, messages: [&str; 4], cnonce: &str, snonce: &str, salt: &str) {
    let keys = derive_keys(
        mech.hash().unwrap(),
        "pencil",
        &STANDARD.decode(salt).unwrap(),
        4096,
    )
    .unwrap();
    let mut client = ScramClient::with_nonce(mech, "user", "pencil", None, cnonce).unwrap();
    let server = ScramServer::with_nonce(mech, no_tls(), snonce).unwrap();
    let client_first = client.client_first();
    assert_eq!(client_first, messages[0].as_bytes());
    let first = server.client_first(&client_first).unwrap();
    assert_eq!(first.username(), "user");
    assert_eq!(first.authzid(), None);
    let (server, server_first) = first.server_first(Some(&keys));
    assert_eq!(server_first, messages[1].as_bytes());
    let client_final = client.handle_server_first(&server_first).unwrap();
    assert_eq!(client_final, messages[2].as_bytes());
    let (server_final, username) = server.client_final(&client_final).unwrap();
    assert_eq!(server_final, messages[3].as_bytes());
    assert_eq!(username, "user");
    client.verify_server_final(&server_final).unwrap();
}

#[test]
fn rfc5802_section5_sha1_vector() {
    vector(
        Mechanism::ScramSha1,
        [
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        ],
        "fyko+d2lbbFgONRv9qkxdawL",
        "3rfcNHYJY1ZVvWVs7j",
        "QSXCR+Q6sek8bf92",
    );
}

#[test]
fn rfc7677_section3_sha256_vector() {
    vector(
        Mechanism::ScramSha256,
        [
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,\
             i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        ],
        "rOprNGfwEbeRWgbNEkqO",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
    );
}

#[test]
fn round_trip_all_scram_mechanisms() {
    for mech in SCRAM {
        let (server_cb, client_cb) = if mech.is_plus() {
            (tls(7), Some(vec![7; 32]))
        } else {
            (no_tls(), None)
        };
        let user = exchange(
            mech,
            server_cb,
            client_cb,
            Some(creds()),
            "juliet",
            "pencil",
        );
        assert_eq!(user.as_deref(), Ok("juliet"), "{mech}");
    }
}

#[test]
fn plus_with_mismatching_exporter_fails() {
    for mech in [Mechanism::ScramSha1Plus, Mechanism::ScramSha256Plus] {
        let err = exchange(
            mech,
            tls(1),
            Some(vec![2; 32]),
            Some(creds()),
            "juliet",
            "pencil",
        );
        assert_eq!(err, Err(SaslError::ChannelBindingMismatch), "{mech}");
        assert_eq!(
            SaslError::ChannelBindingMismatch.condition(),
            "not-authorized"
        );
    }
}

#[test]
fn y_flag_after_plus_was_offered_is_a_downgrade() {
    // The client could bind (it has exporter data) but picked plain SCRAM: it sends `y`.
    let mut client = ScramClient::new(
        Mechanism::ScramSha256,
        "juliet",
        "pencil",
        Some(vec![7; 32]),
    )
    .unwrap();
    let client_first = client.client_first();
    assert!(client_first.starts_with(b"y,,"));
    let server = ScramServer::new(Mechanism::ScramSha256, tls(7)).unwrap();
    assert_eq!(
        server.client_first(&client_first).unwrap_err(),
        SaslError::ChannelBindingDowngrade
    );

    // Without a -PLUS offer, `y` is honest and the exchange succeeds (c= carries "y,,").
    let plain_tls = ChannelBinding {
        tls_exporter: Some(vec![7; 32]),
        plus_advertised: false,
    };
    let user = exchange(
        Mechanism::ScramSha256,
        plain_tls,
        Some(vec![7; 32]),
        Some(creds()),
        "juliet",
        "pencil",
    );
    assert_eq!(user.as_deref(), Ok("juliet"));
}

#[test]
fn flag_must_fit_the_mechanism() {
    let cases: [(Mechanism, &[u8]); 5] = [
        (Mechanism::ScramSha256, b"p=tls-exporter,,n=user,r=abc"),
        (Mechanism::ScramSha1Plus, b"p=tls-unique,,n=user,r=abc"),
        (
            Mechanism::ScramSha256Plus,
            b"p=tls-server-end-point,,n=user,r=abc",
        ),
        (Mechanism::ScramSha256Plus, b"n,,n=user,r=abc"),
        (Mechanism::ScramSha1Plus, b"y,,n=user,r=abc"),
    ];
    for (mech, msg) in cases {
        let err = ScramServer::new(mech, tls(3))
            .unwrap()
            .client_first(msg)
            .unwrap_err();
        assert_eq!(err, SaslError::UnsupportedChannelBinding, "{mech} {msg:?}");
    }
}

#[test]
fn plus_without_exporter_and_plain_are_not_scram_mechanisms() {
    for mech in [
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256Plus,
        Mechanism::Plain,
    ] {
        assert_eq!(
            ScramServer::new(mech, no_tls()).unwrap_err(),
            SaslError::InvalidMechanism
        );
    }
    assert_eq!(
        ScramClient::new(Mechanism::ScramSha256Plus, "u", "p", None).unwrap_err(),
        SaslError::UnsupportedChannelBinding
    );
    assert_eq!(
        ScramClient::new(Mechanism::Plain, "u", "p", None).unwrap_err(),
        SaslError::InvalidMechanism
    );
}

#[test]
fn wrong_password_is_not_authorized() {
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let err = exchange(mech, no_tls(), None, Some(creds()), "juliet", "pencil2");
        assert_eq!(err, Err(SaslError::NotAuthorized), "{mech}");
    }
}

fn server_first_for(user: &str, keys: Option<&crate::ScramKeys>) -> (ServerFirst, String) {
    let first = ScramServer::new(Mechanism::ScramSha256, no_tls())
        .unwrap()
        .client_first(format!("n,,n={user},r=abc").as_bytes())
        .unwrap();
    let (state, msg) = first.server_first(keys);
    (state, String::from_utf8(msg).unwrap())
}

fn salt_of(server_first: &str) -> Vec<u8> {
    let salt = server_first
        .split(',')
        .nth(1)
        .unwrap()
        .strip_prefix("s=")
        .unwrap();
    STANDARD.decode(salt).unwrap()
}

#[test]
fn unknown_user_fails_only_at_final() {
    // The password is right for *some* account: nothing but the missing account fails it.
    let err = exchange(
        Mechanism::ScramSha256,
        no_tls(),
        None,
        None,
        "romeo",
        "pencil",
    );
    assert_eq!(err, Err(SaslError::NotAuthorized));
    let err = exchange(
        Mechanism::ScramSha1,
        no_tls(),
        None,
        None,
        "romeo",
        "pencil",
    );
    assert_eq!(err, Err(SaslError::NotAuthorized));

    // The decoy looks like a real account: same salt length and iteration count, stable per
    // name (and per case-folded name), different between names.
    let (_, real) = server_first_for("juliet", Some(&creds().sha256));
    let (_, decoy) = server_first_for("romeo", None);
    assert_eq!(salt_of(&real).len(), salt_of(&decoy).len());
    assert!(decoy.ends_with(",i=4096"), "{decoy}");
    assert_eq!(salt_of(&decoy), salt_of(&server_first_for("romeo", None).1));
    assert_eq!(salt_of(&decoy), salt_of(&server_first_for("Romeo", None).1));
    assert_ne!(
        salt_of(&decoy),
        salt_of(&server_first_for("mercutio", None).1)
    );

    // Keys for the wrong hash fail closed the same way.
    let err = exchange(
        Mechanism::ScramSha256,
        no_tls(),
        None,
        Some(&Credentials {
            sha1: creds().sha1.clone(),
            sha256: creds().sha1.clone(),
        }),
        "juliet",
        "pencil",
    );
    assert_eq!(err, Err(SaslError::NotAuthorized));
}

#[test]
fn decoy_iterations_follow_the_host() {
    let first = ScramServer::new(Mechanism::ScramSha1, no_tls())
        .unwrap()
        .decoy_iterations(10_000)
        .client_first(b"n,,n=romeo,r=abc")
        .unwrap();
    let (_, msg) = first.server_first(None);
    assert!(msg.ends_with(b",i=10000"));
}

#[test]
fn non_ascii_password_and_escaped_username() {
    let creds = derive_credentials("p\u{E4}ssw\u{F6}rd", MIN_ITERATIONS).unwrap();
    // Decomposed umlauts and a soft hyphen: the same password after SASLprep.
    let password = "pa\u{308}ss\u{AD}wo\u{308}rd";
    let user = exchange(
        Mechanism::ScramSha256,
        no_tls(),
        None,
        Some(&creds),
        "a,b=c",
        password,
    );
    assert_eq!(user.as_deref(), Ok("a,b=c"));
    let err = exchange(
        Mechanism::ScramSha256,
        no_tls(),
        None,
        Some(&creds),
        "u",
        "passwort",
    );
    assert_eq!(err, Err(SaslError::NotAuthorized));
}

#[test]
fn username_escapes_and_authzid() {
    let server = ScramServer::new(Mechanism::ScramSha256, no_tls()).unwrap();
    let first = server
        .client_first(b"n,a=admin=40x=2Cy,n=a=2Cb=3Dc,r=abc,x=ignored")
        .unwrap_err();
    assert_eq!(first, SaslError::malformed("bad '=' escape in saslname"));
    let server = ScramServer::new(Mechanism::ScramSha256, no_tls()).unwrap();
    let first = server
        .client_first(b"n,a=admin@example.org,n=a=2Cb=3Dc,r=abc,x=ok")
        .unwrap();
    assert_eq!(first.username(), "a,b=c");
    assert_eq!(first.authzid(), Some("admin@example.org"));
    assert_eq!(first.mechanism(), Mechanism::ScramSha256);
    let (second, _) = first.server_first(None);
    assert_eq!(second.authzid(), Some("admin@example.org"));
    assert_eq!(second.username(), "a,b=c");
}

#[test]
fn malformed_client_first() {
    let m = SaslError::malformed;
    let cases: [(&[u8], SaslError); 18] = [
        (b"", m("no gs2 header")),
        (b"garbage", m("no gs2 header")),
        (b"n,", m("gs2 header is incomplete")),
        (b"x,,n=user,r=abc", m("bad gs2 channel binding flag")),
        (b"p=,,n=user,r=abc", m("bad channel binding name")),
        (b"n,x,n=user,r=abc", m("bad gs2 authzid")),
        (b"n,a=,n=user,r=abc", m("empty saslname")),
        (b"n,,m=ext,n=user,r=abc", SaslError::UnsupportedExtension),
        (b"n,,n=user,r=abc,m=ext", SaslError::UnsupportedExtension),
        (b"n,,n=user", m("expected nonce r=")),
        (b"n,,r=abc,n=user", m("expected username n=")),
        (b"n,,n=us=2Xer,r=abc", m("bad '=' escape in saslname")),
        (b"n,,n=,r=abc", m("empty saslname")),
        (b"n,,n=user,r=", m("bad nonce")),
        (b"n,,n=user,r=a\x7fb", m("bad nonce")),
        (b"n,,n=user,r=abc,1=x", m("bad attribute")),
        (b"n,,n=\xff,r=abc", m("SCRAM message is not UTF-8")),
        (
            b"n,,n=bell\x07,r=abc",
            SaslError::Saslprep { field: "username" },
        ),
    ];
    for (msg, want) in cases {
        let server = ScramServer::new(Mechanism::ScramSha256, no_tls()).unwrap();
        assert_eq!(server.client_first(msg).unwrap_err(), want, "{msg:?}");
    }
}

/// Builds a client-final message from the `r=` attribute the server expects.
type MakeFinal<'a> = &'a dyn Fn(&str) -> String;

#[test]
fn malformed_client_final() {
    let m = SaslError::malformed;
    let nonce = |state: &str| state.split(',').next().unwrap().to_owned(); // "r=…"
    let proof = STANDARD.encode([0u8; 32]);
    let cases: [(MakeFinal<'_>, SaslError); 9] = [
        (&|_| String::new(), m("expected proof p=")),
        (&|r| format!("c=biws,{r}"), m("expected proof p=")),
        (
            &|r| format!("{r},c=biws,p={proof}"),
            m("expected channel binding c="),
        ),
        (
            &|r| format!("c=!!!,{r},p={proof}"),
            SaslError::IncorrectEncoding {
                field: "channel-binding",
            },
        ),
        (
            &|_| format!("c=biws,r=abcother,p={proof}"),
            m("nonce does not match"),
        ),
        (
            &|r| format!("c=eSws,{r},p={proof}"),
            SaslError::ChannelBindingMismatch,
        ),
        (
            &|r| format!("c=biws,{r},m=x,p={proof}"),
            SaslError::UnsupportedExtension,
        ),
        (
            &|r| format!("c=biws,{r},p=***"),
            SaslError::IncorrectEncoding { field: "proof" },
        ),
        (
            &|r| format!("c=biws,{r},p=AAAA"),
            m("proof has the wrong length"),
        ),
    ];
    for (make, want) in cases {
        let (state, server_first) = server_first_for("juliet", Some(&creds().sha256));
        let msg = make(&nonce(&server_first));
        assert_eq!(
            state.client_final(msg.as_bytes()).unwrap_err(),
            want,
            "{msg}"
        );
    }
    // Well-formed but a guessed proof: not authorized.
    let (state, server_first) = server_first_for("juliet", Some(&creds().sha256));
    let msg = format!("c=biws,{},p={proof}", nonce(&server_first));
    assert_eq!(
        state.client_final(msg.as_bytes()).unwrap_err(),
        SaslError::NotAuthorized
    );
}

#[test]
fn client_refuses_bad_server_messages() {
    let client = || {
        let mut c =
            ScramClient::with_nonce(Mechanism::ScramSha256, "user", "pencil", None, "abc").unwrap();
        c.client_first();
        c
    };
    let m = SaslError::malformed;
    let cases: [(&[u8], SaslError); 8] = [
        (b"", m("expected nonce r=")),
        (
            b"r=abc,s=QSXCR+Q6sek8bf92,i=4096",
            m("server nonce does not extend ours"),
        ),
        (
            b"r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096",
            m("server nonce does not extend ours"),
        ),
        (
            b"r=abcdef,s=***,i=4096",
            SaslError::IncorrectEncoding { field: "salt" },
        ),
        (
            b"r=abcdef,s=QSXCR+Q6sek8bf92,i=many",
            m("bad iteration count"),
        ),
        (
            b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4095",
            SaslError::IterationsOutOfRange { iterations: 4095 },
        ),
        (
            b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4000000000",
            SaslError::IterationsOutOfRange {
                iterations: 4_000_000_000,
            },
        ),
        (
            b"m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096",
            SaslError::UnsupportedExtension,
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(
            client().handle_server_first(msg).unwrap_err(),
            want,
            "{msg:?}"
        );
    }

    // Out of order: server-first before client-first, server-final before server-first.
    let mut fresh =
        ScramClient::with_nonce(Mechanism::ScramSha256, "user", "pencil", None, "abc").unwrap();
    assert_eq!(
        fresh.verify_server_final(b"v=AAAA").unwrap_err(),
        m("server-final out of order")
    );
    let mut fresh =
        ScramClient::with_nonce(Mechanism::ScramSha256, "user", "pencil", None, "abc").unwrap();
    let err = fresh
        .handle_server_first(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")
        .unwrap_err();
    assert_eq!(err, m("server-first out of order"));

    // Server-final: an e= error, and a v= that does not prove knowledge of our keys.
    let good = b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096";
    let mut c = client();
    c.handle_server_first(good).unwrap();
    assert_eq!(
        c.verify_server_final(b"e=invalid-proof").unwrap_err(),
        SaslError::ServerRejected
    );
    let mut c = client();
    c.handle_server_first(good).unwrap();
    let forged = format!("v={}", STANDARD.encode([0u8; 32]));
    assert_eq!(
        c.verify_server_final(forged.as_bytes()).unwrap_err(),
        SaslError::ServerSignatureMismatch
    );
    // A finished exchange cannot be replayed.
    assert_eq!(
        c.verify_server_final(forged.as_bytes()).unwrap_err(),
        m("server-final out of order")
    );
}

#[test]
fn debug_never_prints_sasl_data() {
    let secret_cb = ChannelBinding {
        tls_exporter: Some(b"EXPORTERSECRET".to_vec()),
        plus_advertised: true,
    };
    let server = ScramServer::new(Mechanism::ScramSha256Plus, secret_cb.clone()).unwrap();
    let mut client = ScramClient::with_nonce(
        Mechanism::ScramSha256Plus,
        "juliet",
        "hunter2",
        Some(b"EXPORTERSECRET".to_vec()),
        "NONCENONCE",
    )
    .unwrap();
    let mut shown = format!("{server:?} {client:?} {secret_cb:?}");
    let first = server.client_first(&client.client_first()).unwrap();
    shown += &format!("{first:?}");
    let (state, _) = first.server_first(Some(&creds().sha256));
    shown += &format!("{state:?}");
    for secret in [
        "hunter2",
        "juliet",
        "NONCENONCE",
        "EXPORTERSECRET",
        "69, 88",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("ScramSha256Plus"));
}

#[test]
fn hash_alg_of_keys_matches_mechanism() {
    assert_eq!(creds().keys(HashAlg::Sha1).stored_key.len(), 20);
    assert_eq!(creds().keys(HashAlg::Sha256).stored_key.len(), 32);
}
