//! XEP-0484 FAST: a client that logged in over SASL2 asks for a token, and logs in with it next
//! time in one round trip (the Hashed Token mechanisms, `tessera_sasl::ht`), without its password.
//!
//! Tokens belong to one account and one client installation (its XEP-0388 `<user-agent id>`, kept
//! only as a SHA-256 hash) and are bound to the mechanism they were issued for. Each installation
//! has at most two (§6.1): the token in use and a newer one issued but not used yet; using the
//! newer one retires the older, so a client that missed a new token (a dropped connection) still
//! logs in with the one it has. A token is valid for `sasl.fast_token_lifetime` and replaced once
//! half of that has passed; a password change deletes them all, `invalidate='true'` deletes the one
//! used, and they go with the account.
//!
//! FAST is offered only over TLS (§7: whoever sees the exchange could replay it), `-EXPR` only
//! when the connection has a `tls-exporter` value to bind to. TLS 0-RTT is not offered, so the
//! replay `count` is not needed and is ignored. A token login counts as a login like any other
//! for the failure throttle, and tokens never reach the logs.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minidom::Element;
use sha2::{Digest, Sha256};
use tessera_sasl::SaslError;
use tessera_sasl::ht::{self, HtMechanism};

use super::error::ConnError;
use crate::ns;
use crate::server::Shared;

/// How a token login went: what its `<success/>` may carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Used {
    /// The mechanism the token was used with (and issued for).
    pub(crate) mechanism: HtMechanism,
    /// Half its lifetime has passed: a new one goes out with `<success/>`.
    pub(crate) rotate: bool,
    /// The client asked for it to be invalidated, and it was.
    pub(crate) invalidated: bool,
}

/// The FAST mechanisms offered on a stream: none without TLS or with FAST turned off.
pub(crate) fn offered(
    shared: &Shared,
    tls: bool,
    exporter: bool,
) -> impl Iterator<Item = HtMechanism> + '_ {
    let on = tls && !shared.config.sasl.fast_token_lifetime.is_zero();
    HtMechanism::ALL
        .into_iter()
        .filter(move |m| on && (exporter || !m.binds_channel()))
}

/// Writes the `<fast/>` SASL2 inline feature (§3.1), if FAST is offered here.
pub(crate) fn write_feature(shared: &Shared, f: &mut String, tls: bool, exporter: bool) {
    let mut mechanisms = offered(shared, tls, exporter).peekable();
    if mechanisms.peek().is_none() {
        return;
    }
    let _ = write!(f, "<fast xmlns='{}'>", ns::FAST);
    for m in mechanisms {
        let _ = write!(f, "<mechanism>{}</mechanism>", m.name());
    }
    f.push_str("</fast>");
}

/// How tokens are keyed: the SHA-256 of the `<user-agent id>`, so the id is never stored.
pub(crate) fn agent_key(agent_id: &str) -> String {
    Sha256::digest(agent_id.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token login: `auth` is the `<authenticate/>` naming `mech`. The account (normalised
/// localpart), the server's proof for `<additional-data/>`, and how the token was used.
pub(crate) async fn authenticate(
    shared: &Shared,
    auth: &Element,
    mech: HtMechanism,
    exporter: Option<&[u8]>,
    account: &mut Option<String>,
) -> Result<Result<(String, Option<Vec<u8>>, Used), SaslError>, ConnError> {
    // §4: a token login says so, and names the installation the token was issued to.
    let Some(fast) = auth.get_child("fast", ns::FAST) else {
        return Ok(Err(SaslError::MalformedRequest {
            reason: "a FAST mechanism without <fast/>",
        }));
    };
    let Some(agent) = super::sasl2::agent_id(auth) else {
        return Ok(Err(SaslError::NotAuthorized));
    };
    let data = match auth.get_child("initial-response", ns::SASL2) {
        Some(el) => match tessera_sasl::decode_payload(&el.text()) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        },
        None => {
            return Ok(Err(SaslError::MalformedRequest {
                reason: "FAST needs an initial response",
            }));
        }
    };
    let request = match ht::parse_initial(&data) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let Some(user) = super::sasl::localpart(request.username()) else {
        return Ok(Err(SaslError::NotAuthorized));
    };
    *account = Some(user.clone());
    if shared.throttle.account_blocked(&user) {
        return Ok(Err(SaslError::TemporaryAuthFailure));
    }
    let agent = agent_key(agent);
    let storage_err = |e| ConnError::Internal(format!("FAST tokens: {e}"));
    let now = now();
    let tokens = shared
        .storage
        .fast_tokens(&user, &agent, now)
        .await
        .map_err(storage_err)?;
    let cb = if mech.binds_channel() {
        match exporter {
            Some(cb) => cb,
            None => return Ok(Err(SaslError::NotAuthorized)),
        }
    } else {
        &[]
    };
    // §6.1: the newer token first; both are checked against the mechanism they were issued for.
    let Some((token, proof)) = tokens.iter().find_map(|t| {
        (t.mechanism == mech.name())
            .then(|| request.verify(mech, t.token.as_bytes(), cb))
            .flatten()
            .map(|proof| (t, proof))
    }) else {
        return Ok(Err(SaslError::NotAuthorized));
    };
    if token.newer {
        shared
            .storage
            .promote_fast_token(&user, &agent)
            .await
            .map_err(storage_err)?;
    }
    let invalidated = matches!(fast.attr("invalidate"), Some("true" | "1"));
    if invalidated {
        shared
            .storage
            .delete_fast_token(&user, &agent, false)
            .await
            .map_err(storage_err)?;
    }
    let half =
        i64::try_from(shared.config.sasl.fast_token_lifetime.as_secs() / 2).unwrap_or(i64::MAX);
    let used = Used {
        mechanism: mech,
        rotate: !invalidated && token.expires_at.saturating_sub(now) < half,
        invalidated,
    };
    Ok(Ok((user, Some(proof), used)))
}

/// The `<token/>` a `<success/>` carries (§5, §6), if any: one the client asked for with
/// `<request-token/>`, or a replacement for a token past half its life. `None` when there is none
/// to give, or storing it failed (logged; the login goes on without).
pub(crate) async fn token_for(
    shared: &Shared,
    user: &str,
    agent_id: Option<&str>,
    requested: Option<HtMechanism>,
    used: Option<Used>,
    tls: bool,
    exporter: bool,
) -> Option<String> {
    let mechanism = match used {
        // §6.2: after an invalidation, a new token only when asked for.
        Some(u) if u.invalidated => requested,
        Some(u) if u.rotate => requested.or(Some(u.mechanism)),
        _ => requested,
    }?;
    if !offered(shared, tls, exporter).any(|m| m == mechanism) {
        return None;
    }
    // §8: tokens are per installation; a client that names none gets none.
    let agent = agent_key(agent_id?);
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let now = now();
    let lifetime =
        i64::try_from(shared.config.sasl.fast_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(lifetime);
    if let Err(e) = shared
        .storage
        .put_fast_token(user, &agent, mechanism.name(), &token, expires_at, now)
        .await
    {
        tracing::warn!(error = %e, "could not store a FAST token");
        return None;
    }
    let expiry = chrono::DateTime::from_timestamp(expires_at, 0)?
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    Some(format!(
        "<token xmlns='{}' expiry='{expiry}' token='{token}'/>",
        ns::FAST
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_keyed_by_hash() {
        let k = agent_key("d4565fa7-4d72-4749-b3d3-740edbf87770");
        assert_eq!(k.len(), 64);
        assert!(!k.contains("d4565fa7"));
        assert_eq!(k, agent_key("d4565fa7-4d72-4749-b3d3-740edbf87770"));
        assert_ne!(k, agent_key("another"));
    }
}
