//! The SASL exchange (RFC 6120 §6.4) over `tessera-sasl`'s sans-IO mechanisms.
//!
//! What is logged: that a login failed and why (the condition), with the client address only when
//! `logging.ips` allows it. Never usernames, challenges, responses or passwords (SASL data).

use std::fmt::Write as _;
use std::net::SocketAddr;

use minidom::Element;
use tessera_sasl::{ChannelBinding, Credentials, HashAlg, Mechanism, SaslError, ScramServer};

use super::conn::Conn;
use super::error::ConnError;
use crate::config::{IpLogging, SaslMechanism};
use crate::ns;
use crate::server::Shared;

/// How an exchange ended, when the stream goes on.
pub(crate) enum SaslOutcome {
    /// Authenticated as this (normalised) localpart.
    Success(String),
    /// A `<failure/>` was sent; the client may retry.
    Failure,
}

fn to_sasl(m: SaslMechanism) -> Mechanism {
    match m {
        SaslMechanism::ScramSha1 => Mechanism::ScramSha1,
        SaslMechanism::ScramSha1Plus => Mechanism::ScramSha1Plus,
        SaslMechanism::ScramSha256 => Mechanism::ScramSha256,
        SaslMechanism::ScramSha256Plus => Mechanism::ScramSha256Plus,
        SaslMechanism::Plain => Mechanism::Plain,
    }
}

/// The mechanisms offered on this stream: PLAIN only over TLS, -PLUS only with channel binding.
fn offered(shared: &Shared, tls: bool, exporter: bool) -> impl Iterator<Item = Mechanism> + '_ {
    shared
        .config
        .sasl
        .mechanisms
        .iter()
        .map(|&m| to_sasl(m))
        .filter(move |m| match m {
            Mechanism::Plain => tls,
            m if m.is_plus() => exporter,
            _ => true,
        })
}

/// Whether any -PLUS mechanism is configured (so a `y` GS2 flag is a downgrade).
pub(crate) fn offers_plus(shared: &Shared) -> bool {
    shared
        .config
        .sasl
        .mechanisms
        .iter()
        .any(|&m| to_sasl(m).is_plus())
}

/// Writes the `<mechanisms/>` feature, and XEP-0440's channel-binding types when -PLUS is offered.
pub(crate) fn write_mechanisms(shared: &Shared, f: &mut String, tls: bool, exporter: bool) {
    f.push_str("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
    for m in offered(shared, tls, exporter) {
        let _ = write!(f, "<mechanism>{}</mechanism>", m.name());
    }
    f.push_str("</mechanisms>");
    if exporter && offers_plus(shared) {
        f.push_str("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>");
    }
}

/// A `<failure/>` with its RFC 6120 §6.5 condition.
pub(crate) fn failure(condition: &str) -> Vec<u8> {
    format!("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>")
        .into_bytes()
}

/// RFC 6120 §6.4.2: `=` is an empty initial response; no text means none was sent.
fn decode(el: &Element) -> Result<Option<Vec<u8>>, SaslError> {
    let text = el.text();
    match text.trim() {
        "" => Ok(None),
        t => tessera_sasl::decode_payload(t).map(Some),
    }
}

/// The next `<response/>` (or `<abort/>`) from the client.
async fn response(conn: &mut Conn) -> Result<Result<Vec<u8>, SaslError>, ConnError> {
    let el = conn.next_element().await?;
    if el.is("abort", ns::SASL) {
        return Ok(Err(SaslError::Aborted));
    }
    if !el.is("response", ns::SASL) {
        return Err(ConnError::stream(
            "not-authorized",
            "unexpected element during SASL",
        ));
    }
    Ok(decode(&el).map(Option::unwrap_or_default))
}

/// The initial response carried by `<auth/>`, or, when it carried none, the one the client sends
/// after an empty challenge (RFC 6120 §6.4.2).
async fn initial_response(
    conn: &mut Conn,
    auth: &Element,
) -> Result<Result<Vec<u8>, SaslError>, ConnError> {
    match decode(auth) {
        Ok(Some(d)) => Ok(Ok(d)),
        Ok(None) => {
            challenge(conn, &[]).await?;
            response(conn).await
        }
        Err(e) => Ok(Err(e)),
    }
}

async fn challenge(conn: &mut Conn, data: &[u8]) -> Result<(), ConnError> {
    let body = if data.is_empty() {
        "=".to_owned()
    } else {
        tessera_sasl::encode_payload(data)
    };
    conn.write(
        format!("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{body}</challenge>")
            .as_bytes(),
    )
    .await
}

/// Normalises a SASL authcid into a localpart (nodeprep, RFC 7622 §3.3).
fn localpart(name: &str) -> Option<String> {
    jid::NodePart::new(name).ok().map(|n| n.to_string())
}

/// Runs one exchange started by `auth`.
pub(crate) async fn exchange(
    shared: &Shared,
    conn: &mut Conn,
    auth: &Element,
    peer: SocketAddr,
    exporter: Option<Vec<u8>>,
    plus_advertised: bool,
) -> Result<SaslOutcome, ConnError> {
    let tls = conn.io.is_tls();
    let mech = auth
        .attr("mechanism")
        .and_then(Mechanism::from_name)
        .filter(|m| offered(shared, tls, exporter.is_some()).any(|o| o == *m));
    let mut account = None;
    let result = match mech {
        None => Err(SaslError::InvalidMechanism),
        Some(_) if shared.throttle.ip_blocked(peer.ip()) => Err(SaslError::TemporaryAuthFailure),
        Some(Mechanism::Plain) => plain(shared, conn, auth, &mut account).await?,
        Some(m) => {
            scram(
                shared,
                conn,
                auth,
                m,
                exporter,
                plus_advertised,
                &mut account,
            )
            .await?
        }
    };
    match result {
        Ok(user) => {
            shared.throttle.success(&user);
            // Kept to the day, and written once a day (`accounts::LastLogins`).
            if let Some(day) = shared
                .last_logins
                .to_record(&user, chrono::Utc::now().timestamp())
                && let Err(e) = shared.storage.record_login(&user, day).await
            {
                shared.last_logins.forget(&user);
                tracing::warn!(error = %e, "could not record last login");
            }
            tracing::info!("authenticated");
            Ok(SaslOutcome::Success(user))
        }
        Err(e) => {
            // A throttled attempt is not counted again; everything else is.
            if !matches!(e, SaslError::TemporaryAuthFailure | SaslError::Aborted) {
                shared.throttle.failure(peer.ip(), account.as_deref());
            }
            if shared.config.logging.ips == IpLogging::Never {
                tracing::info!(condition = e.condition(), "authentication failed");
            } else {
                tracing::info!(condition = e.condition(), ip = %peer.ip(), "authentication failed");
            }
            conn.write(&failure(e.condition())).await?;
            Ok(SaslOutcome::Failure)
        }
    }
}

async fn lookup(shared: &Shared, user: &str) -> Result<Option<Credentials>, ConnError> {
    shared
        .storage
        .credentials(user)
        .await
        .map_err(|e| ConnError::Internal(format!("credential lookup: {e}")))
}

#[allow(clippy::too_many_arguments)]
async fn scram(
    shared: &Shared,
    conn: &mut Conn,
    auth: &Element,
    mech: Mechanism,
    exporter: Option<Vec<u8>>,
    plus_advertised: bool,
    account: &mut Option<String>,
) -> Result<Result<String, SaslError>, ConnError> {
    let server = match ScramServer::new(
        mech,
        ChannelBinding {
            tls_exporter: exporter,
            plus_advertised,
        },
    ) {
        // Unknown accounts are answered with the configured iteration count, like real ones.
        Ok(s) => s.decoy_iterations(shared.config.sasl.scram_iterations),
        Err(e) => return Ok(Err(e)),
    };
    let first = match initial_response(conn, auth).await? {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let client_first = match server.client_first(&first) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let user = localpart(client_first.username());
    *account = user.clone();
    if user
        .as_deref()
        .is_some_and(|u| shared.throttle.account_blocked(u))
    {
        return Ok(Err(SaslError::TemporaryAuthFailure));
    }
    let creds = match &user {
        Some(u) => lookup(shared, u).await?,
        None => None,
    };
    let alg = mech.hash().unwrap_or(HashAlg::Sha256);
    // Unknown accounts go through the same steps with fake keys, so timing and replies do not
    // reveal which accounts exist.
    let (server_first, msg) = client_first.server_first(creds.as_ref().map(|c| c.keys(alg)));
    challenge(conn, &msg).await?;
    let fin = match response(conn).await? {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    match server_first.client_final(&fin) {
        Ok((server_final, _)) => {
            let Some(user) = user.filter(|_| creds.is_some()) else {
                return Ok(Err(SaslError::NotAuthorized));
            };
            conn.write(
                format!(
                    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</success>",
                    tessera_sasl::encode_payload(&server_final)
                )
                .as_bytes(),
            )
            .await?;
            Ok(Ok(user))
        }
        Err(e) => Ok(Err(e)),
    }
}

async fn plain(
    shared: &Shared,
    conn: &mut Conn,
    auth: &Element,
    account: &mut Option<String>,
) -> Result<Result<String, SaslError>, ConnError> {
    let data = match initial_response(conn, auth).await? {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let req = match tessera_sasl::parse_plain(&data) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let Some(user) = localpart(&req.username) else {
        return Ok(Err(SaslError::NotAuthorized));
    };
    *account = Some(user.clone());
    if shared.throttle.account_blocked(&user) {
        return Ok(Err(SaslError::TemporaryAuthFailure));
    }
    // RFC 6120 §6.3.8: an authzid, if given, must be the account's own bare JID.
    if let Some(authz) = req.authzid.as_deref().filter(|a| !a.is_empty()) {
        let own = format!("{user}@{}", shared.domain);
        if jid::BareJid::new(authz).map(|j| j.to_string()) != Ok(own) {
            return Ok(Err(SaslError::InvalidAuthzid));
        }
    }
    let Some(creds) = lookup(shared, &user).await? else {
        return Ok(Err(SaslError::NotAuthorized));
    };
    // PBKDF2 is CPU-bound: keep it off the async workers.
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        tessera_sasl::verify_password(&creds.sha256, &password)
    })
    .await
    .map_err(|e| ConnError::Internal(format!("password check task: {e}")))?;
    if !ok {
        return Ok(Err(SaslError::NotAuthorized));
    }
    conn.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await?;
    Ok(Ok(user))
}
