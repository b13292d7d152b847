//! The capability interfaces, implemented on [`HostState`].
//!
//! Every function first checks the grant (the load-time import check already refuses a plugin
//! importing an ungranted interface; checking again here means no future shim can skip it), then
//! validates the guest's input. Guest mistakes are `Ok(Err(error))`; a trap (`Err`) is kept for
//! host invariants, so a bad argument never kills the instance.
//!
//! `kv` and `archive` go to storage under the plugin's config name, after the data checks of
//! `data`; so does `blobs`, implemented in `plugins::blobs`. `http-outbound` is
//! `super::http`'s.

use jid::BareJid;

use super::bindings::tessera::plugin::{
    accounts, archive, caps as entity_caps, clock, ephemeral, http_outbound, http_types, kv, log,
    manifest, requests, roster, router, sessions, types,
};
use super::data;
use super::instance::HostState;
use super::route;
use crate::config::Capability;
use crate::im::stanza::parse_bare;
use crate::storage::{Owner, Subscription};

type Error = types::Error;
type Guest<T> = wasmtime::Result<Result<T, Error>>;

/// Unwraps a check's result, or returns its error to the guest.
macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

pub(super) use guest_try;

impl HostState {
    fn check(&self, cap: Capability) -> Result<(), Error> {
        if self.plugin.granted(cap) {
            Ok(())
        } else {
            Err(Error::NotGranted)
        }
    }

    /// A local account's bare JID, validated against our domain.
    pub(super) fn local_user(&self, user: &str) -> Result<BareJid, Error> {
        // The stream's guards (a trailing dot, two-pass normalisation): one account, one key.
        let jid = parse_bare(user).ok_or_else(|| Error::Invalid("not a bare JID".to_owned()))?;
        if jid.domain().as_str() != self.plugin.domain || jid.node().is_none() {
            return Err(Error::Invalid("not a local account JID".to_owned()));
        }
        Ok(jid)
    }

    pub(super) fn server(&self) -> Result<std::sync::Arc<crate::server::Shared>, Error> {
        self.plugin
            .server()
            .ok_or_else(|| Error::Unavailable("the server is not running yet".to_owned()))
    }

    /// The grant, then the running server: what every call that reaches the server checks.
    fn granted_server(
        &self,
        cap: Capability,
    ) -> Result<std::sync::Arc<crate::server::Shared>, Error> {
        self.check(cap)?;
        self.server()
    }
}

/// What a plugin is told when creating or removing an account fails. The texts name the rule,
/// never the password.
fn account_error(e: &crate::accounts::AccountError) -> Error {
    use crate::accounts::AccountError;
    match e {
        AccountError::InvalidUsername(why) => Error::Invalid(format!("invalid username: {why}")),
        AccountError::InvalidPassword(_) => Error::Invalid("invalid password".to_owned()),
        AccountError::Exists => Error::Invalid("the username is taken".to_owned()),
        AccountError::Storage(e) => storage_error(e),
    }
}

pub(super) fn storage_error(e: &crate::storage::StorageError) -> Error {
    tracing::error!(error = %e, "storage failure in a plugin call");
    Error::Unavailable("storage failure".to_owned())
}

impl types::Host for HostState {}
impl manifest::Host for HostState {}
impl http_types::Host for HostState {}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.check(Capability::Log).is_err() {
            return Ok(());
        }
        // The message is the plugin's own text: plugins must keep content out of it (WIT docs);
        // we cap its length so a plugin cannot flood the log with a stanza's worth of it.
        let message: String = message.chars().take(512).collect();
        let plugin = self.plugin.name.as_str();
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for HostState {
    async fn now(&mut self) -> wasmtime::Result<types::Timestamp> {
        // A host without a clock grant still answers: time is not a secret, and `now` has no
        // error to return. The import check is what keeps ungranted plugins from importing it.
        let ms = chrono::Utc::now().timestamp_millis();
        Ok(u64::try_from(ms).unwrap_or(0))
    }
}

impl router::Host for HostState {
    async fn send(&mut self, xml: String) -> Guest<()> {
        // Parsing, routing and queueing are the host's work, not the guest's: a MAM page of 250
        // result messages should not run out of the plugin's deadline on them.
        let _wait = self.host_wait();
        if let Err(e) = self.check(Capability::Router) {
            return Ok(Err(e));
        }
        let shared = match self.server() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        Ok(route::send(&shared, &self.plugin, &xml))
    }
}

impl ephemeral::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(match self.check(Capability::Ephemeral) {
            Ok(()) => self.plugin.ephemeral.get(&key),
            Err(_) => None,
        })
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Guest<()> {
        Ok(self.check(Capability::Ephemeral).and_then(|()| {
            self.plugin
                .ephemeral
                .set(key, value)
                .map_err(|_| Error::QuotaExceeded)
        }))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Guest<bool> {
        Ok(self.check(Capability::Ephemeral).and_then(|()| {
            self.plugin
                .ephemeral
                .compare_and_swap(key, expected.as_deref(), value)
                .map_err(|_| Error::QuotaExceeded)
        }))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        Ok(self.check(Capability::Ephemeral).is_ok() && self.plugin.ephemeral.delete(&key))
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> wasmtime::Result<Vec<String>> {
        Ok(match self.check(Capability::Ephemeral) {
            Ok(()) => self.plugin.ephemeral.keys(&prefix, limit.min(10_000)),
            Err(_) => Vec::new(),
        })
    }
}

impl accounts::Host for HostState {
    async fn exists(&mut self, user: String) -> Guest<bool> {
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Accounts));
        let jid = match self.local_user(&user) {
            Ok(j) => j,
            // A JID that cannot be a local account is not one.
            Err(_) => return Ok(Ok(false)),
        };
        let Some(name) = jid.node() else {
            return Ok(Ok(false));
        };
        Ok(shared
            .storage
            .account_exists(name.as_str())
            .await
            .map_err(|e| storage_error(&e)))
    }

    async fn create(&mut self, username: String, password: String) -> Guest<String> {
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Accounts));
        // Same rules and SCRAM settings as `tessera user add`; the password is never logged.
        Ok(crate::accounts::create_live(&shared, &username, &password)
            .await
            .map(|jid| jid.to_string())
            .map_err(|e| account_error(&e)))
    }

    async fn remove(&mut self, user: String) -> Guest<bool> {
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Accounts));
        let jid = guest_try!(self.local_user(&user));
        Ok(crate::accounts::remove_live(&shared, &jid)
            .await
            .map_err(|e| account_error(&e)))
    }

    async fn is_admin(&mut self, user: String) -> wasmtime::Result<bool> {
        // cmds: the operator's `admins` list. No error to return: an ungranted call, a JID that
        // is not a local account's, or no running server all answer "not an admin".
        let (Ok(()), Ok(shared), Ok(jid)) = (
            self.check(Capability::Accounts),
            self.server(),
            self.local_user(&user),
        ) else {
            return Ok(false);
        };
        Ok(shared.config.is_admin(&jid))
    }
}

fn wit_subscription(s: Subscription) -> roster::Subscription {
    match s {
        Subscription::None => roster::Subscription::None,
        Subscription::To => roster::Subscription::To,
        Subscription::From => roster::Subscription::From,
        Subscription::Both => roster::Subscription::Both,
    }
}

impl roster::Host for HostState {
    async fn items(&mut self, user: String) -> Guest<Vec<roster::Item>> {
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Roster));
        let jid = guest_try!(self.local_user(&user));
        let name = jid
            .node()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        Ok(match shared.storage.roster(&name).await {
            Ok((_, items)) => Ok(items
                .into_iter()
                .map(|i| roster::Item {
                    jid: i.jid.to_string(),
                    name: i.name,
                    groups: i.groups,
                    subscription: wit_subscription(i.subscription),
                })
                .collect()),
            Err(e) => Err(storage_error(&e)),
        })
    }

    async fn subscription_of(
        &mut self,
        user: String,
        contact: String,
    ) -> Guest<roster::Subscription> {
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Roster));
        let jid = guest_try!(self.local_user(&user));
        let Some(contact) = parse_bare(&contact) else {
            return Ok(Err(Error::Invalid("contact is not a bare JID".to_owned())));
        };
        let name = jid
            .node()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        Ok(match shared.storage.roster_item(&name, &contact).await {
            Ok(item) => Ok(item.map_or(roster::Subscription::None, |i| {
                wit_subscription(i.subscription)
            })),
            Err(e) => Err(storage_error(&e)),
        })
    }
}

impl sessions::Host for HostState {
    async fn list(&mut self, user: String) -> wasmtime::Result<Vec<sessions::Session>> {
        let (Ok(()), Ok(shared), Ok(jid)) = (
            self.check(Capability::Sessions),
            self.server(),
            self.local_user(&user),
        ) else {
            return Ok(Vec::new());
        };
        Ok(shared
            .router
            .sessions(&jid)
            .into_iter()
            .map(|s| sessions::Session {
                jid: s.jid.to_string(),
                priority: s.priority,
            })
            .collect())
    }

    async fn send_presence(&mut self, session: String, to: String) -> Guest<bool> {
        let shared = guest_try!(self.granted_server(Capability::Sessions));
        // It speaks for the account: the same grant as sending as it.
        if !self.plugin.impersonate {
            return Ok(Err(Error::NotGranted));
        }
        let Some(jid) = crate::im::stanza::parse_jid(&session)
            .and_then(|j| j.try_into_full().ok())
            .filter(|j| j.domain().as_str() == self.plugin.domain)
        else {
            return Ok(Err(Error::Invalid("not a local session".to_owned())));
        };
        let to = guest_try!(parse_jid("to", &to));
        let Some(bytes) = shared.router.session(&jid).and_then(|s| s.last_presence) else {
            return Ok(Ok(false));
        };
        let presence = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|xml| super::wire::parse(xml, &shared.config.limits).ok());
        let Some(mut presence) = presence else {
            return Ok(Err(Error::Unavailable(
                "the session's presence does not parse".to_owned(),
            )));
        };
        for (name, value) in [("from", jid.to_string()), ("to", to.to_string())] {
            presence
                .attrs_mut()
                .remove(&minidom::rxml::Namespace::NONE, name);
            presence.set_attr(
                minidom::rxml::Namespace::NONE,
                minidom::rxml::NcName::try_from(name).expect("invariant: a valid NCName"),
                value,
            );
        }
        let xml = tessera_xml::serialize_document(&presence);
        Ok(route::send(&shared, &self.plugin, &xml).map(|()| true))
    }
}

/// `caps` (WIT 0.1.2): the XEP-0115 features the host verified for local sessions
/// (`crate::im::caps`). Both functions answer "no" rather than fail: without the grant, for a
/// JID that is not a local session or account, or before the server runs.
impl entity_caps::Host for HostState {
    async fn has_feature(&mut self, session: String, feature: String) -> wasmtime::Result<bool> {
        let (Ok(()), Ok(shared)) = (self.check(Capability::Caps), self.server()) else {
            return Ok(false);
        };
        let Some(jid) = crate::im::stanza::parse_jid(&session)
            .and_then(|j| j.try_into_full().ok())
            .filter(|j| j.domain().as_str() == self.plugin.domain)
        else {
            return Ok(false);
        };
        Ok(shared.caps.has_feature(&jid, &feature))
    }

    async fn interested(&mut self, user: String, feature: String) -> wasmtime::Result<Vec<String>> {
        let (Ok(()), Ok(shared), Ok(jid)) = (
            self.check(Capability::Caps),
            self.server(),
            self.local_user(&user),
        ) else {
            return Ok(Vec::new());
        };
        Ok(shared
            .caps
            .interested(&jid, &feature)
            .into_iter()
            .map(|j| j.to_string())
            .collect())
    }
}

/// `requests` (WIT 0.1.2): IQs to other plugins on an account's behalf (`super::request`).
impl requests::Host for HostState {
    async fn ask(&mut self, xml: String) -> Guest<String> {
        // The other plugin's call is the host's wait, not this guest's work.
        let _wait = self.host_wait();
        let shared = guest_try!(self.granted_server(Capability::Requests));
        Ok(super::request::ask(&shared, &self.plugin, &xml).await)
    }

    async fn answers(&mut self, namespace: String, name: String) -> wasmtime::Result<bool> {
        let Ok(shared) = self.granted_server(Capability::Requests) else {
            return Ok(false);
        };
        Ok(super::request::answers(
            &shared,
            &self.plugin,
            &namespace,
            &name,
        ))
    }
}

/// Most entries one archive page returns, whatever the guest asks (XEP-0313 lets the server
/// cap a page; a plugin's own `limit` is usually smaller).
const MAX_PAGE: u32 = 1000;

/// Most keys one `kv.keys` call returns.
const MAX_KEYS: u32 = 10_000;

impl HostState {
    /// The checks every `kv` and `archive` call makes, in order: the grant, the running server,
    /// the declared category, the owner's kind and form.
    pub(super) fn data_scope(
        &self,
        cap: Capability,
        category: &str,
        owner: &types::Owner,
    ) -> Result<(std::sync::Arc<crate::server::Shared>, data::Category, Owner), Error> {
        let shared = self.granted_server(cap)?;
        let categories = self.plugin.data.get().map_or(&[][..], Vec::as_slice);
        let (c, owner) = data::scope(categories, &self.plugin.domain, category, owner)?;
        Ok((shared, c.clone(), owner))
    }

    pub(super) fn data_error(&self, e: &crate::storage::StorageError) -> Error {
        data::storage_error(&self.plugin.name, e)
    }
}

fn parse_jid(what: &str, text: &str) -> Result<jid::Jid, Error> {
    crate::im::stanza::parse_jid(text).ok_or_else(|| Error::Invalid(format!("{what} is not a JID")))
}

impl kv::Host for HostState {
    async fn get(
        &mut self,
        category: String,
        owner: types::Owner,
        key: String,
    ) -> Guest<Option<Vec<u8>>> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Kv, &category, &owner));
        Ok(shared
            .storage
            .kv_get(&self.plugin.name, &c.name, &owner, &key, data::now_ms())
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn set(
        &mut self,
        category: String,
        owner: types::Owner,
        key: String,
        value: Vec<u8>,
        expires_at: Option<types::Timestamp>,
    ) -> Guest<()> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Kv, &category, &owner));
        let now = data::now_ms();
        let expires_at = data::cap_expiry(&c, now, expires_at);
        Ok(shared
            .storage
            .kv_set(
                &self.plugin.name,
                &c.name,
                &owner,
                &key,
                &value,
                expires_at,
                now,
            )
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn delete(&mut self, category: String, owner: types::Owner, key: String) -> Guest<bool> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Kv, &category, &owner));
        Ok(shared
            .storage
            .kv_delete(&self.plugin.name, &c.name, &owner, &key, data::now_ms())
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn keys(
        &mut self,
        category: String,
        owner: types::Owner,
        prefix: String,
        limit: u32,
    ) -> Guest<Vec<String>> {
        let _wait = self.host_wait();
        let (shared, c, owner) = guest_try!(self.data_scope(Capability::Kv, &category, &owner));
        Ok(shared
            .storage
            .kv_keys(
                &self.plugin.name,
                &c.name,
                &owner,
                &prefix,
                limit.min(MAX_KEYS),
                data::now_ms(),
            )
            .await
            .map_err(|e| self.data_error(&e)))
    }
}

fn wit_entry(e: crate::storage::ArchiveEntry) -> archive::Entry {
    archive::Entry {
        id: e.id,
        timestamp: e.timestamp,
        with: e.with.map(|j| j.to_string()).unwrap_or_default(),
        data: e.data,
    }
}

impl archive::Host for HostState {
    async fn append(
        &mut self,
        category: String,
        owner: types::Owner,
        stream: String,
        with: String,
        data: String,
    ) -> Guest<String> {
        let _wait = self.host_wait();
        let (shared, c, owner) =
            guest_try!(self.data_scope(Capability::Archive, &category, &owner));
        let with = if with.is_empty() {
            None
        } else {
            Some(guest_try!(parse_jid("with", &with)))
        };
        // Write-behind: the id comes back at once; the category's `max_items` is applied by
        // the archive writer when it commits (`storage::plugin_data::writer`).
        let id = shared
            .storage
            .archive_append_capped(
                &self.plugin.name,
                &c.name,
                &owner,
                &stream,
                c.max_items,
                with.as_ref(),
                &data,
                data::now_ms(),
            )
            .await;
        if id.is_ok() {
            self.appended = Some(shared.storage.archive_mark());
        }
        Ok(id.map_err(|e| self.data_error(&e)))
    }

    async fn query(
        &mut self,
        category: String,
        owner: types::Owner,
        stream: String,
        q: archive::ArchiveQuery,
    ) -> Guest<archive::Page> {
        let _wait = self.host_wait();
        let (shared, c, owner) =
            guest_try!(self.data_scope(Capability::Archive, &category, &owner));
        let with = match q.with.as_deref() {
            Some(w) => Some(guest_try!(parse_jid("with", w))),
            None => None,
        };
        let query = crate::storage::ArchiveQuery {
            with,
            start: q.start,
            end: q.end,
            after_id: q.after_id,
            before_id: q.before_id,
            ids: q.ids,
            limit: q.limit.min(MAX_PAGE),
            reverse: q.reverse,
        };
        Ok(shared
            .storage
            .archive_query(&self.plugin.name, &c.name, &owner, &stream, &query)
            .await
            .map(|page| archive::Page {
                entries: page.entries.into_iter().map(wit_entry).collect(),
                count: page.count,
                complete: page.complete,
            })
            .map_err(|e| self.data_error(&e)))
    }

    async fn remove(
        &mut self,
        category: String,
        owner: types::Owner,
        stream: String,
        start: Option<types::Timestamp>,
        end: Option<types::Timestamp>,
    ) -> Guest<u64> {
        let _wait = self.host_wait();
        let (shared, c, owner) =
            guest_try!(self.data_scope(Capability::Archive, &category, &owner));
        Ok(shared
            .storage
            .archive_remove(&self.plugin.name, &c.name, &owner, &stream, start, end)
            .await
            .map_err(|e| self.data_error(&e)))
    }

    async fn remove_ids(
        &mut self,
        category: String,
        owner: types::Owner,
        stream: String,
        ids: Vec<String>,
    ) -> Guest<u64> {
        let _wait = self.host_wait();
        let (shared, c, owner) =
            guest_try!(self.data_scope(Capability::Archive, &category, &owner));
        Ok(shared
            .storage
            .archive_remove_ids(&self.plugin.name, &c.name, &owner, &stream, &ids)
            .await
            .map_err(|e| self.data_error(&e)))
    }
}

impl http_outbound::Host for HostState {
    async fn fetch(&mut self, req: http_types::Request) -> Guest<http_types::Response> {
        let _wait = self.host_wait();
        // The allow-list, the transport and the deadline are `super::http`'s.
        Ok(self.http_fetch(req).await)
    }
}
