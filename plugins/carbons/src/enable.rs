//! Enabling and disabling carbons per session (XEP-0280 §4, §5), kept in `ephemeral`.
//!
//! The state is one key per enabled session, `on/<full JID>`, so the enabled resources of an
//! account are one prefix scan (`on/<bare JID>/`) and a message for an account without any costs
//! nothing more. It lives only as long as the session: `session-unavailable` deletes it, a send
//! to a session that has gone deletes it, and a periodic sweep deletes keys of sessions that
//! ended without an event (one that never sent presence, or an event dropped from a full queue).
//! A restart forgets everything, as it ends every session.

use tessera_sdk::minidom::rxml::{Namespace, NcName};
use tessera_sdk::scope::{self, Lifetime};
use tessera_sdk::{Context, Stanza, StanzaError, Verdict, ephemeral, log, router, sessions};

use crate::ns;

/// The most sessions of one account looked at per message, and per sweep.
pub(crate) const SCAN_LIMIT: u32 = 1000;

fn key(session: &str) -> String {
    format!("on/{session}")
}

/// The carbons-enabled sessions (full JIDs) of `account` (a bare JID).
pub(crate) fn enabled(account: &str) -> Vec<String> {
    ephemeral::keys(&format!("on/{account}/"), SCAN_LIMIT)
        .into_iter()
        .filter_map(|k| k.strip_prefix("on/").map(str::to_owned))
        .collect()
}

/// Forgets `session`'s state.
pub(crate) fn forget(session: &str) {
    ephemeral::delete(&key(session));
}

/// Deletes the state of sessions that are no longer bound.
pub(crate) fn sweep() {
    let mut after = String::new();
    for k in ephemeral::keys("on/", SCAN_LIMIT) {
        let Some(session) = k.strip_prefix("on/") else {
            continue;
        };
        let Some((bare, _)) = session.split_once('/') else {
            continue;
        };
        if bare == after {
            continue;
        }
        after = bare.to_owned();
        let bound = sessions::list(bare);
        for stale in enabled(bare)
            .into_iter()
            .filter(|e| !bound.iter().any(|s| &s.jid == e))
        {
            forget(&stale);
        }
    }
}

/// An `<enable/>` or `<disable/>` IQ (the `iq` hook) from `ctx.session`.
pub(crate) fn handle_iq(ctx: &Context, iq: &Stanza) -> Verdict {
    let Some(payload) = iq.payload().filter(|p| p.namespace == ns::CARBONS) else {
        return Verdict::Pass;
    };
    if iq.type_attr() != "set" {
        // XEP-0280 §4, §5 define only IQ-set; there is nothing to get.
        return Verdict::Error(StanzaError::bad_request());
    }
    // §4.1: the request must come from a client of this server; the host gives the session.
    let Some(session) = ctx.session.as_deref() else {
        return Verdict::Error(StanzaError::not_allowed());
    };
    let Some((account, _)) = session.split_once('/') else {
        return Verdict::Error(StanzaError::not_allowed());
    };
    match payload.name.as_str() {
        "enable" => {
            if let Err(e) = ephemeral::set(&key(session), b"1") {
                log::warn(&format!("could not enable carbons for {session}: {e}"));
                return Verdict::Error(StanzaError::resource_constraint());
            }
            // The host enters the copying hooks only for marked accounts: without the mark
            // no copy would ever be made, so carbons are not enabled.
            if let Err(e) = scope::mark(account, Lifetime::Online) {
                forget(session);
                log::warn(&format!("could not enable carbons for {session}: {e}"));
                return Verdict::Error(StanzaError::internal_server_error());
            }
        }
        "disable" => {
            forget(session);
            unmark_if_none_enabled(account);
        }
        _ => return Verdict::Error(StanzaError::bad_request()),
    }
    answer(iq, session)
}

/// Unmarks `account` when none of its sessions has carbons enabled any more. An `enable` racing
/// with this sets its key before marking, so looking again after the unmark and marking back
/// when a key is there never leaves an enabled session unmarked. (The host drops the mark
/// itself when the account's last session ends.)
pub(crate) fn unmark_if_none_enabled(account: &str) {
    if !enabled(account).is_empty() {
        return;
    }
    let result = scope::unmark(account).and_then(|_| {
        if enabled(account).is_empty() {
            Ok(())
        } else {
            scope::mark(account, Lifetime::Online)
        }
    });
    if let Err(e) = result {
        // Metadata only. A failed unmark leaves the mark (calls that find nothing to copy). An
        // `online` mark fails only for a JID that is not a local account's, so the re-mark
        // cannot fail here.
        log::warn(&format!(
            "could not update the carbons mark of {account}: {e}"
        ));
    }
}

/// The IQ result (§4: "from the user's bare JID", as the request was addressed to it, or from
/// the server when it had no `to`).
fn answer(iq: &Stanza, session: &str) -> Verdict {
    let Some(mut result) = iq.iq_result(None) else {
        return Verdict::Error(StanzaError::bad_request());
    };
    if iq.to().is_empty() {
        let domain = session
            .split_once('/')
            .and_then(|(bare, _)| bare.split_once('@'))
            .map_or("", |(_, d)| d);
        let from = NcName::try_from("from").expect("invariant: a valid attribute name");
        result.set_attr(Namespace::NONE, from, domain);
    }
    match router::send(&result) {
        Ok(()) => Verdict::Handled,
        Err(e) => {
            log::warn(&format!(
                "could not answer {session}'s carbons request: {e}"
            ));
            Verdict::Error(StanzaError::internal_server_error())
        }
    }
}
