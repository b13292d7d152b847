//! The blocklist (XEP-0191 §3.2–§3.5) in `kv`, and JID matching (XEP-0191 §6, which defers to
//! XEP-0016 §2.1).
//!
//! One value per blocked JID, keyed by the JID as the `jid` crate normalises it (nodeprep,
//! nameprep, resourceprep), with an empty value: checking whether an address is blocked is then
//! at most four `kv.get`s (one per form the address matches, below), which the host's `kv` cache
//! answers from memory after the first read, absent keys included. Reading a whole list per
//! stanza would not be: a list of 1000 items is far larger than the 1 KiB values the cache keeps.
//!
//! The category is owned by the user, so removing the account deletes the list, and has no
//! default expiry: a block holds until the user lifts it. The plugin caps a list at
//! [`MAX_ITEMS`] and an item at [`MAX_JID_BYTES`] itself (the host caps neither).
//!
//! Enforcement runs on narrowed hooks (`scope`): an account is marked (durably) before its first
//! item is stored, and unmarked after its last is gone, so the hooks of users who block nobody
//! never enter the plugin.

use tessera_sdk::jid::Jid;
use tessera_sdk::kv::Kv;
use tessera_sdk::scope::{self, Lifetime};
use tessera_sdk::{HostError, Owner, StanzaError, log};

/// The `kv` category (declared in the manifest).
pub(crate) const CATEGORY: &str = "blocklist";
/// The most items one account may block: far more than anyone blocks by hand, and it bounds a
/// blocklist result (1000 items of at most [`MAX_JID_BYTES`]) and the storage one account uses.
pub(crate) const MAX_ITEMS: usize = 1000;
/// The longest item accepted: it is a key, and keys are indexed.
pub(crate) const MAX_JID_BYTES: usize = 1024;

fn store(user: &str) -> Kv {
    Kv::new(CATEGORY, Owner::user(user))
}

/// Our own failure: logged with the account only (never a blocked JID), answered
/// `internal-server-error`.
pub(crate) fn internal(doing: &str, user: &str, e: &HostError) -> StanzaError {
    log::error(&format!("could not {doing} of {user}: {e}"));
    StanzaError::internal_server_error()
}

/// An item's JID normalised as the host compares JIDs, or `None` if it is not a JID.
pub(crate) fn normalise(text: &str) -> Option<String> {
    Jid::new(text).ok().map(|j| j.to_string())
}

/// The forms of `address` an item can name (XEP-0016 §2.1, shared with other plugins in the
/// SDK).
pub(crate) use tessera_sdk::blocking::forms;

/// Whether `user` blocked `address` (a JID as written in a stanza; one that does not parse is
/// never blocked: the host refuses such addresses before any hook).
///
/// # Errors
///
/// Storage failed, or `user` is not a local account.
pub(crate) fn blocks(user: &str, address: &str) -> Result<bool, HostError> {
    let Ok(address) = Jid::new(address) else {
        return Ok(false);
    };
    let kv = store(user);
    for form in forms(&address) {
        if kv.get(&form)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every item `user` blocks, in key order.
///
/// # Errors
///
/// As [`blocks`].
pub(crate) fn list(user: &str) -> Result<Vec<String>, HostError> {
    let limit = u32::try_from(MAX_ITEMS + 1).unwrap_or(u32::MAX);
    store(user).keys("", limit)
}

/// Adds `items` (normalised) to the list; returns those that were not on it yet. Checks the cap
/// first, so a refused request changes nothing; marks the account before the first item is
/// stored, so the hooks are in force once the block is.
///
/// # Errors
///
/// `resource-constraint` past [`MAX_ITEMS`] or the host's quota, `internal-server-error` when
/// storage or the mark fails (a failure after the first write leaves the earlier items stored).
pub(crate) fn add(user: &str, items: &[String]) -> Result<Vec<String>, StanzaError> {
    let existing = list(user).map_err(|e| internal("read the blocklist", user, &e))?;
    let mut new: Vec<String> = Vec::new();
    for item in items {
        if !existing.contains(item) && !new.contains(item) {
            new.push(item.clone());
        }
    }
    if existing.len() + new.len() > MAX_ITEMS {
        return Err(StanzaError::resource_constraint()
            .with_text(format!("at most {MAX_ITEMS} blocked addresses per account")));
    }
    if new.is_empty() {
        return Ok(new);
    }
    scope::mark(user, Lifetime::Durable).map_err(|e| internal("mark the account", user, &e))?;
    let kv = store(user);
    for item in &new {
        match kv.set(item, b"") {
            Ok(()) => {}
            Err(HostError::QuotaExceeded) => {
                return Err(StanzaError::resource_constraint()
                    .with_text("the server's storage quota is exhausted"));
            }
            Err(e) => return Err(internal("store the blocklist", user, &e)),
        }
    }
    Ok(new)
}

/// Removes `items` (normalised; `None`: every item, XEP-0191 §3.5). Unmarks the account once its
/// list is empty (after the last delete: a failure there only costs calls).
///
/// # Errors
///
/// `internal-server-error` when storage fails.
pub(crate) fn remove(user: &str, items: Option<&[String]>) -> Result<(), StanzaError> {
    let kv = store(user);
    let all;
    let items = match items {
        Some(items) => items,
        None => {
            all = list(user).map_err(|e| internal("read the blocklist", user, &e))?;
            &all
        }
    };
    for item in items {
        kv.delete(item)
            .map_err(|e| internal("update the blocklist", user, &e))?;
    }
    match kv.keys("", 1) {
        Ok(left) if left.is_empty() => {
            if let Err(e) = scope::unmark(user) {
                log::warn(&format!("could not unmark {user}: {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => log::warn(&format!("could not read the blocklist of {user}: {e}")),
    }
    Ok(())
}
