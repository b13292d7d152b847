//! The SASL exchange (RFC 6120 §6.4) over `tessera-sasl`'s sans-IO mechanisms.
//!
//! What is logged: that a login failed and why (the condition), with the client address only when
//! `logging.ips` allows it. Never usernames, challenges, responses or passwords (SASL data).

use std::fmt::Write as _;
use std::net::SocketAddr;

use minidom::Element;
use tessera_sasl::ht::HtMechanism;
use tessera_sasl::{ChannelBinding, Credentials, HashAlg, Mechanism, SaslError, ScramServer};

use super::conn::Conn;
use super::error::ConnError;
use crate::config::{IpLogging, SaslMechanism};
use crate::ns;
use crate::server::Shared;

/// How an exchange ended, when the stream goes on.
pub(crate) enum SaslOutcome {
    /// Authenticated as this (normalised) localpart. For [`Profile::Rfc6120`] the `<success/>`
    /// was sent; for [`Profile::Sasl2`] it is the caller's to send (it carries what the inline
    /// requests produced), with the mechanism's additional data.
    Success {
        /// The account's localpart.
        user: String,
        /// The mechanism's last data for the client (SCRAM's server-final message), if any.
        additional: Option<Vec<u8>>,
        /// For an XEP-0484 FAST token login, how the token was used.
        fast: Option<super::fast::Used>,
    },
    /// A `<failure/>` was sent; the client may retry.
    Failure,
}

/// Which framing the SASL exchange uses: the mechanisms and their data are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// RFC 6120 §6: `<auth/>`, `<challenge/>`, `<response/>`, `<success/>`, `<failure/>` in
    /// `urn:ietf:params:xml:ns:xmpp-sasl`, and a stream restart after success.
    Rfc6120,
    /// XEP-0388: `<authenticate/>` with an `<initial-response/>` child, `<challenge/>` and
    /// `<response/>` in `urn:xmpp:sasl:2`; no restart, and a `<success/>` the caller builds.
    Sasl2,
}

impl Profile {
    fn ns(self) -> &'static str {
        match self {
            Self::Rfc6120 => ns::SASL,
            Self::Sasl2 => ns::SASL2,
        }
    }

    /// The `<failure/>` for an RFC 6120 §6.5 condition (XEP-0388 §2.6.2 keeps the condition
    /// element in the RFC 6120 namespace).
    pub(crate) fn failure(self, condition: &str) -> Vec<u8> {
        match self {
            Self::Rfc6120 => failure(condition),
            Self::Sasl2 => format!(
                "<failure xmlns='{}'><{condition} xmlns='{}'/></failure>",
                ns::SASL2,
                ns::SASL
            )
            .into_bytes(),
        }
    }
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

/// Writes the `<mechanisms/>` feature, XEP-0388's `<authentication/>` with the same mechanisms,
/// and XEP-0440's channel-binding types when -PLUS is offered.
pub(crate) fn write_mechanisms(shared: &Shared, f: &mut String, tls: bool, exporter: bool) {
    f.push_str("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
    for m in offered(shared, tls, exporter) {
        let _ = write!(f, "<mechanism>{}</mechanism>", m.name());
    }
    f.push_str("</mechanisms>");
    super::sasl2::write_feature(shared, f, offered(shared, tls, exporter), tls, exporter);
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

/// The initial response an `<auth/>` (RFC 6120: its text, `=` for empty) or `<authenticate/>`
/// (XEP-0388 §2.3: an `<initial-response/>` child, empty for empty) carries; `None` for none.
fn initial_data(profile: Profile, auth: &Element) -> Result<Option<Vec<u8>>, SaslError> {
    match profile {
        Profile::Rfc6120 => decode(auth),
        Profile::Sasl2 => match auth.get_child("initial-response", ns::SASL2) {
            None => Ok(None),
            Some(el) => tessera_sasl::decode_payload(&el.text()).map(Some),
        },
    }
}

/// The next `<response/>` (or `<abort/>`) from the client.
async fn response(
    conn: &mut Conn,
    profile: Profile,
) -> Result<Result<Vec<u8>, SaslError>, ConnError> {
    let el = conn.next_element().await?;
    if el.is("abort", profile.ns()) {
        return Ok(Err(SaslError::Aborted));
    }
    if !el.is("response", profile.ns()) {
        return Err(ConnError::stream(
            "not-authorized",
            "unexpected element during SASL",
        ));
    }
    Ok(decode(&el).map(Option::unwrap_or_default))
}

/// The initial response carried by `<auth/>`/`<authenticate/>`, or, when it carried none, the
/// one the client sends after an empty challenge (RFC 6120 §6.4.2, XEP-0388 §2.2).
async fn initial_response(
    conn: &mut Conn,
    profile: Profile,
    auth: &Element,
) -> Result<Result<Vec<u8>, SaslError>, ConnError> {
    match initial_data(profile, auth) {
        Ok(Some(d)) => Ok(Ok(d)),
        Ok(None) => {
            challenge(conn, profile, &[]).await?;
            response(conn, profile).await
        }
        Err(e) => Ok(Err(e)),
    }
}

async fn challenge(conn: &mut Conn, profile: Profile, data: &[u8]) -> Result<(), ConnError> {
    let body = match profile {
        // RFC 6120 §6.4.2: `=` for empty data.
        Profile::Rfc6120 => tessera_sasl::encode_payload(data),
        // XEP-0388 §2.2: an empty element is empty data.
        Profile::Sasl2 if data.is_empty() => String::new(),
        Profile::Sasl2 => tessera_sasl::encode_payload(data),
    };
    conn.write(format!("<challenge xmlns='{}'>{body}</challenge>", profile.ns()).as_bytes())
        .await
}

/// Normalises a SASL authcid into a localpart (nodeprep, RFC 7622 §3.3).
pub(super) fn localpart(name: &str) -> Option<String> {
    jid::NodePart::new(name).ok().map(|n| n.to_string())
}

/// Runs one exchange started by `auth` (`<auth/>` or, for [`Profile::Sasl2`], `<authenticate/>`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange(
    shared: &Shared,
    conn: &mut Conn,
    profile: Profile,
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
    // XEP-0388 §2.3: an `upgrade` we did not offer (we offer none) fails the attempt.
    let upgrade = profile == Profile::Sasl2 && auth.attr("upgrade").is_some();
    // XEP-0484: token mechanisms exist only in SASL2.
    let ht = (profile == Profile::Sasl2)
        .then(|| auth.attr("mechanism").and_then(HtMechanism::from_name))
        .flatten()
        .filter(|m| super::fast::offered(shared, tls, exporter.is_some()).any(|o| o == *m));
    let mut account = None;
    let mut fast = None;
    let result = match mech {
        None if ht.is_none() => Err(SaslError::InvalidMechanism),
        _ if upgrade => Err(SaslError::InvalidMechanism),
        _ if shared.throttle.ip_blocked(peer.ip()) => Err(SaslError::TemporaryAuthFailure),
        None => {
            let ht = ht.ok_or_else(|| ConnError::Internal("no FAST mechanism".into()))?;
            super::fast::authenticate(shared, auth, ht, exporter.as_deref(), &mut account)
                .await?
                .map(|(user, proof, used)| {
                    fast = Some(used);
                    (user, proof)
                })
        }
        Some(Mechanism::Plain) => plain(shared, conn, profile, auth, &mut account).await?,
        Some(m) => {
            scram(
                shared,
                conn,
                profile,
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
        Ok((user, additional)) => {
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
            if profile == Profile::Rfc6120 {
                let data = additional
                    .as_deref()
                    .map(tessera_sasl::encode_payload)
                    .unwrap_or_default();
                conn.write(format!("<success xmlns='{}'>{data}</success>", ns::SASL).as_bytes())
                    .await?;
            }
            Ok(SaslOutcome::Success {
                user,
                additional,
                fast,
            })
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
            conn.write(&profile.failure(e.condition())).await?;
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
    profile: Profile,
    auth: &Element,
    mech: Mechanism,
    exporter: Option<Vec<u8>>,
    plus_advertised: bool,
    account: &mut Option<String>,
) -> Result<Result<(String, Option<Vec<u8>>), SaslError>, ConnError> {
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
    let first = match initial_response(conn, profile, auth).await? {
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
    challenge(conn, profile, &msg).await?;
    let fin = match response(conn, profile).await? {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    match server_first.client_final(&fin) {
        Ok((server_final, _)) => {
            let Some(user) = user.filter(|_| creds.is_some()) else {
                return Ok(Err(SaslError::NotAuthorized));
            };
            Ok(Ok((user, Some(server_final))))
        }
        Err(e) => Ok(Err(e)),
    }
}

async fn plain(
    shared: &Shared,
    conn: &mut Conn,
    profile: Profile,
    auth: &Element,
    account: &mut Option<String>,
) -> Result<Result<(String, Option<Vec<u8>>), SaslError>, ConnError> {
    let data = match initial_response(conn, profile, auth).await? {
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
    Ok(Ok((user, None)))
}
