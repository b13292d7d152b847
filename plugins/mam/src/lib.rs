//! plugin-mam: XEP-0313 Message Archive Management (`urn:xmpp:mam:2` and `#extended`) with
//! XEP-0359 stanza-ids, as a Tessera plugin.
//!
//! Each local user has one archive of the 1:1 messages they sent and received, written only
//! when their preferences ask for it: the default is `never` (archiving is opt-in), and the
//! operator may make it `roster` or `always`. A user queries the archive from any device by
//! date, counterpart or id, paging both ways (XEP-0059), sees its first and last entries
//! (`<metadata/>`), and can delete all of it or a date range with an ad-hoc command. The host
//! deletes everything when the account goes, keeps at most `max_items` entries per user (oldest
//! dropped; 100 000 unless the operator says otherwise) and applies the operator's `max_age`.
//!
//! ```toml
//! [plugins.mam]
//! grants = ["log", "router", "router.impersonate", "kv", "archive", "roster"]
//! fail = "open"
//! timeout = "250ms"  # a page is up to `max_page` sends in one call
//! [plugins.mam.retention.messages]
//! max_age = "30d"
//! [plugins.mam.config]
//! default = "never"   # or "roster", "always"
//! max_page = 250      # most results one query page returns
//! ```
//!
//! # Layout
//!
//! - this file: the manifest, the config, the hook and IQ dispatch;
//! - `archiving`: which messages are stored, the `outgoing`/`incoming` hooks, stanza-ids;
//! - `prefs`: preferences (XEP-0441) and the archiving decision;
//! - `query`: queries, result messages, `<fin/>`, the fields form and metadata;
//! - `purge`: the XEP-0050 purge command; `stamp`: XEP-0082 date-times; `ns`: namespaces.

mod archiving;
mod ns;
mod prefs;
mod purge;
mod query;
mod stamp;

use tessera_sdk::archive::Archive;
use tessera_sdk::minidom::Element;
use tessera_sdk::xmpp_parsers::mam_prefs::DefaultPrefs;
use tessera_sdk::{
    CommandAccess, CommandRequest, Context, DataDeclaration, Hook, HostError, Manifest, Owner,
    OwnerKind, Plugin, QName, Stanza, StanzaError, StanzaKind, Subscription, Verdict, Visibility,
    log, router, scope,
};

/// The archive category (declared in the manifest).
pub(crate) const MESSAGES: &str = "messages";
/// The one stream per user in it.
const STREAM: &str = "mam";
/// Default cap on entries per user; the operator's `retention.messages.max_items` overrides.
const DEFAULT_MAX_ITEMS: u64 = 100_000;
/// The most a page may hold whatever the config says (the host caps a page at 1000).
const PAGE_LIMIT: u32 = 1000;
/// `incoming` runs ahead of the plugins at lower priorities (carbons subscribes at 100), so that
/// what they see, and copy to the user's other devices, already carries the stanza-id and no
/// forged one: a `replace` continues the chain with the new stanza.
const INCOMING_PRIORITY: i32 = 200;

/// The operator's settings (`[plugins.<name>.config]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    /// The preference of users who never set one.
    pub(crate) default: DefaultPrefs,
    /// Most results per page.
    pub(crate) max_page: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default: DefaultPrefs::Never,
            max_page: 250,
        }
    }
}

impl Config {
    /// Parses the serialised TOML table; every error names its key.
    fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| format!("config is not a TOML table: {e}"))?;
        let mut config = Self::default();
        for (key, value) in &table {
            match key.as_str() {
                "default" => {
                    config.default = value
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .ok_or("config.default: expected \"never\", \"roster\" or \"always\"")?;
                }
                "max_page" => {
                    config.max_page = value
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| (1..=PAGE_LIMIT).contains(n))
                        .ok_or(format!(
                            "config.max_page: expected an integer from 1 to {PAGE_LIMIT}"
                        ))?;
                }
                other => {
                    return Err(format!(
                        "config.{other}: unknown key (known: default, max_page)"
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// The plugin.
#[derive(Debug, Default)]
#[tessera_sdk::plugin]
pub struct Mam {
    config: Config,
}

/// The bare part of a JID string.
pub(crate) fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// `user`'s message archive.
pub(crate) fn archive_of(user: &str) -> Archive {
    Archive::new(MESSAGES, Owner::user(user), STREAM)
}

/// Our own failure: logged (metadata only), answered `internal-server-error`.
pub(crate) fn internal(doing: &str, e: &HostError) -> StanzaError {
    log::error(&format!("could not {doing}: {e}"));
    StanzaError::internal_server_error()
}

impl Mam {
    /// An owned IQ (the `iq` hook): `account` is the requester's bare JID.
    fn iq(&self, ctx: &Context, iq: &Stanza) -> Verdict {
        let (Some(account), Some(session)) = (ctx.account.as_deref(), ctx.session.as_deref())
        else {
            return Verdict::Error(StanzaError::bad_request());
        };
        // The host brings IQs to the server's domain, the sender's bare JID or without `to`;
        // anything else would be another user's archive, which only its owner may query
        // (XEP-0313, "Querying an archive").
        let to = iq.to();
        let domain = account.split_once('@').map_or(account, |(_, d)| d);
        if !to.is_empty() && to != domain && bare(to) != account {
            return Verdict::Error(StanzaError::forbidden());
        }
        let from = iq.answering_as(account);
        let Some(name) = iq.payload().map(|p| p.name.as_str()) else {
            return Verdict::Error(StanzaError::bad_request());
        };
        if name != "prefs" && self.config.default == DefaultPrefs::Never {
            // Clients query their archive at every login: the moment to mark a user whose
            // preferences were stored before marks existed (a no-op for one already marked).
            prefs::ensure_mark(account, &self.config.default);
        }
        let answer = match (name, iq.type_attr()) {
            ("prefs", "get") => prefs::get(account, &self.config.default).map(Some),
            ("prefs", "set") => prefs::set(account, iq).map(Some),
            ("metadata", "get") => query::metadata(&archive_of(account)).map(Some),
            ("query", "get") => Ok(Some(query::fields_form())),
            ("query", "set") => return self.query(account, session, from, iq),
            _ => Err(StanzaError::bad_request()),
        };
        match answer {
            Ok(payload) => send_answer(iq.iq_result_from(from, payload)),
            Err(e) => Verdict::Error(e),
        }
    }

    /// `<iq type='set'><query/></iq>`: the result messages, then the `<fin/>` (XEP-0313, "Query results":
    /// the IQ result comes after every result message, and the host keeps our sending order).
    fn query(&self, account: &str, session: &str, from: &str, iq: &Stanza) -> Verdict {
        let page = iq
            .element()
            .map_err(|e| StanzaError::bad_request().with_text(e.to_string()))
            .and_then(|el| {
                let q = el.children().next().ok_or_else(StanzaError::bad_request)?;
                query::Request::parse(q, self.config.max_page)
            })
            .and_then(|req| Ok((query::run(&archive_of(account), &req)?, req)));
        let (page, req) = match page {
            Ok(p) => p,
            Err(e) => return Verdict::Error(e),
        };
        for entry in &page.entries {
            let message = query::result_message(account, session, req.queryid.as_deref(), entry);
            match router::send_xml(&message) {
                Ok(()) => {}
                // A stored entry the host refuses as a stanza: skip it, the page goes on.
                Err(HostError::Invalid(_)) => {
                    log::warn(&format!(
                        "archive entry {} of {account} is not a valid stanza; skipped",
                        entry.id
                    ));
                }
                // The requesting session went away: nobody is left to answer.
                Err(e) => {
                    log::info(&format!("archive query of {account} abandoned: {e}"));
                    return Verdict::Handled;
                }
            }
        }
        send_answer(iq.iq_result_from(from, Some(query::fin(&page))))
    }
}

/// Sends an IQ answer; a session that went away meanwhile needs none.
/// Sends the answer to a get or set (the `iq` hook delivers nothing else, so there is one).
fn send_answer(answer: Option<Element>) -> Verdict {
    if let Some(answer) = answer
        && let Err(e) = router::send(&answer)
    {
        log::info(&format!("archive answer undeliverable: {e}"));
    }
    Verdict::Handled
}

impl Plugin for Mam {
    fn describe(&self) -> Manifest {
        Manifest::new("mam", env!("CARGO_PKG_VERSION"))
            .subscribe(Subscription::new(Hook::Outgoing, StanzaKind::Message))
            .subscribe(
                Subscription::new(Hook::Incoming, StanzaKind::Message).priority(INCOMING_PRIORITY),
            )
            .iq_handler(ns::MAM, "query")
            .iq_handler(ns::MAM, "prefs")
            .iq_handler(ns::MAM, "metadata")
            .feature(ns::MAM)
            .feature(ns::MAM_EXTENDED)
            .feature(ns::SID)
            .command(
                purge::NODE,
                "Delete archived messages",
                CommandAccess::LocalUser,
            )
            .data(
                DataDeclaration::new(
                    MESSAGES,
                    "The one-to-one messages you sent and received, kept only if your archiving \
                     preferences ask for it, so that all your devices can show your history.",
                    OwnerKind::User,
                    Visibility::Owner,
                )
                .max_items(DEFAULT_MAX_ITEMS),
            )
            .data(DataDeclaration::new(
                prefs::CATEGORY,
                "Your message archiving preferences: whether and with whom messages are archived.",
                OwnerKind::User,
                Visibility::Owner,
            ))
    }

    fn init(&mut self, config: &str) -> Result<(), String> {
        self.config = Config::parse(config)?;
        // Archiving is opt-in by default: then the host enters the archiving hooks only for
        // users whose preferences can archive something (marked when they set them, see
        // `prefs::set`), and for messages carrying a `<stanza-id/>` that may need stripping.
        // With another default every user may archive, so every message is looked at.
        let hooks: &[Hook] = if self.config.default == DefaultPrefs::Never {
            &[Hook::Outgoing, Hook::Incoming]
        } else {
            &[]
        };
        scope::narrow(hooks, &[QName::new(ns::SID, "stanza-id")])
            .map_err(|e| format!("cannot narrow the archiving hooks: {e}"))
    }

    fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
        match ctx.hook {
            Hook::Outgoing => archiving::outgoing(&self.config.default, ctx, stanza),
            Hook::Incoming => archiving::incoming(&self.config.default, ctx, stanza),
            Hook::Iq => self.iq(ctx, stanza),
            _ => Verdict::Pass,
        }
    }

    fn on_command(&self, req: &CommandRequest) -> Result<Element, StanzaError> {
        match req.node.as_str() {
            purge::NODE => purge::execute(req),
            _ => Err(StanzaError::item_not_found()),
        }
    }
}

#[cfg(test)]
mod tests;
