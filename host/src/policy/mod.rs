//! The published privacy policy (DESIGN.md "Privacy engine"): what this server stores, why, who
//! sees it, who else gets it and how long it is kept, built from what is true at run time: the
//! validated config (host facts, the operator's retention) and the loaded plugins' manifests
//! (their data declarations). Nothing in it is hand-written by the operator, so it cannot drift
//! from what the server does.
//!
//! Served as `GET /privacy` (HTML) and `/privacy.json` by `crate::http`, and printed by
//! `tessera policy` (text, JSON or HTML) without starting the server.
//!
//! ## Layout
//! - this file: the model ([`Policy`]) and how it is built.
//! - `render`: the text and HTML renderings (JSON is serde's).

mod render;

use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, IpLogging, PluginConfig, SaslMechanism};
use crate::plugins::{DataCategory, Manifest, Plugins, owner_name, visibility_name};

/// The policy of one server.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// The XMPP domain it is for.
    pub domain: String,
    /// What the server itself does.
    pub host: HostFacts,
    /// What each loaded plugin stores, in load order.
    pub plugins: Vec<PluginPolicy>,
}

/// What the server itself does with accounts, passwords and addresses.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HostFacts {
    /// How passwords are stored.
    pub password_storage: String,
    /// PBKDF2 iterations of the stored keys (`sasl.scram_iterations`).
    pub scram_iterations: u32,
    /// Login mechanisms offered (`sasl.mechanisms`).
    pub login_mechanisms: Vec<String>,
    /// Whether clients must encrypt the connection before logging in (`tls.require_encryption`).
    pub tls_required: bool,
    /// When the server's logs contain client IP addresses (`logging.ips`): `never`,
    /// `failed-logins` or `always`.
    pub ip_logging: String,
    /// The same, in a sentence.
    pub ip_logging_text: String,
    /// How long account data (the account, its roster) is kept.
    pub account_data: String,
    /// What the logs never contain.
    pub logs: String,
}

/// What one plugin stores, and where it may send requests.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PluginPolicy {
    /// The operator's name for it (`[plugins.<name>]`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its data declarations.
    pub categories: Vec<CategoryPolicy>,
    /// Hosts it may send HTTP requests to (`http_allow`), empty when it may not.
    pub outbound_hosts: Vec<String>,
}

/// One declared data category with its effective retention.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CategoryPolicy {
    /// Its identifier, e.g. `offline-messages`.
    pub category: String,
    /// Why it is stored.
    pub purpose: String,
    /// Whose records they are: `user`, `room` or `service`.
    pub owner: String,
    /// Who may see it: `owner`, `occupants`, `admins` or `public`.
    pub visibility: String,
    /// Third parties it goes to.
    pub third_parties: Vec<String>,
    /// Records older than this many seconds are deleted; none: no age limit.
    pub max_age_seconds: Option<u64>,
    /// Only this many newest records per owner are kept; none: no count limit.
    pub max_items: Option<u64>,
    /// Who set the age limit: `operator`, `plugin` (its declared default) or `none`.
    pub max_age_set_by: String,
    /// Who set the count limit: `operator`, `plugin` or `none`.
    pub max_items_set_by: String,
    /// The effective retention, in a sentence.
    pub retention: String,
}

fn ip_logging(ips: IpLogging) -> (&'static str, &'static str) {
    match ips {
        IpLogging::Never => (
            "never",
            "Client IP addresses are never written to the logs.",
        ),
        IpLogging::FailedLogins => (
            "failed-logins",
            "Client IP addresses are written to the logs only next to failed logins, to handle abuse.",
        ),
        IpLogging::Always => (
            "always",
            "Client IP addresses are written to the logs with every connection.",
        ),
    }
}

fn host_facts(config: &Config) -> HostFacts {
    let (ips, ips_text) = ip_logging(config.logging.ips);
    HostFacts {
        password_storage: format!(
            "Passwords are never stored: only salted SCRAM-SHA-1 and SCRAM-SHA-256 keys derived \
             with PBKDF2 ({} iterations), from which the password cannot be recovered.",
            config.sasl.scram_iterations
        ),
        scram_iterations: config.sasl.scram_iterations,
        login_mechanisms: config
            .sasl
            .mechanisms
            .iter()
            .map(|m: &SaslMechanism| m.name().to_owned())
            .collect(),
        tls_required: config.tls.require_encryption,
        ip_logging: ips.to_owned(),
        ip_logging_text: ips_text.to_owned(),
        account_data: account_data(config),
        logs: "Message bodies, stanza XML, passwords, keys and tokens are never logged.".to_owned(),
    }
}

fn account_data(config: &Config) -> String {
    let mut text = "An account, its contact list, when it was created and the day (not the time) \
                    of its last login are kept until the account is deleted; deleting it also \
                    deletes everything plugins stored for it."
        .to_owned();
    let lifetime = config.sasl.fast_token_lifetime;
    if !lifetime.is_zero() {
        text.push_str(&format!(
            " A client that asks for a login token (XEP-0484 FAST) gets a random one, kept with \
             a hash of the client's installation id for {} at most: it is deleted when it \
             expires, when the client replaces or revokes it, when the password changes and \
             with the account.",
            human(lifetime)
        ));
    }
    text
}

/// Who set a limit: the operator's value wins over the plugin's default.
fn source(operator: bool, plugin: bool) -> &'static str {
    match (operator, plugin) {
        (true, _) => "operator",
        (false, true) => "plugin",
        (false, false) => "none",
    }
}

/// The categories of one plugin. The limits are the ones `plugins::data` resolved at load and
/// the garbage collector enforces (`enforced`); who set each one is read from the config.
fn categories(
    config: &PluginConfig,
    manifest: &Manifest,
    enforced: &[DataCategory],
) -> Vec<CategoryPolicy> {
    manifest
        .data
        .iter()
        .map(|d| {
            let op = config
                .retention
                .get(&d.category)
                .copied()
                .unwrap_or_default();
            let e = enforced.iter().find(|c| c.name == d.category);
            let age = e.and_then(|c| c.max_age).map(|a| a.as_secs());
            let items = e.and_then(|c| c.max_items);
            let age_by = source(op.max_age.is_some(), d.default_max_age_seconds.is_some());
            let items_by = source(op.max_items.is_some(), d.default_max_items.is_some());
            CategoryPolicy {
                category: d.category.clone(),
                purpose: d.purpose.clone(),
                owner: owner_name(d.owner).to_owned(),
                visibility: visibility_name(d.visibility).to_owned(),
                third_parties: d.third_parties.clone(),
                max_age_seconds: age,
                max_items: items,
                max_age_set_by: age_by.to_owned(),
                max_items_set_by: items_by.to_owned(),
                retention: render::retention(age, items),
            }
        })
        .collect()
}

impl Policy {
    /// The policy of a server with this config and these loaded plugins (as they are now: a
    /// reload shows in the next one built).
    pub fn build(config: &Config, plugins: &Plugins) -> Self {
        let registry = plugins.registry();
        Self {
            domain: config.domain.clone(),
            host: host_facts(config),
            plugins: registry
                .plugins
                .iter()
                .map(|p| PluginPolicy {
                    name: p.name().to_owned(),
                    version: p.manifest.version.clone(),
                    categories: categories(
                        &p.config,
                        &p.manifest,
                        p.ctx.data.get().map_or(&[][..], Vec::as_slice),
                    ),
                    outbound_hosts: p
                        .config
                        .http_allow
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                })
                .collect(),
        }
    }

    /// Loads the configured plugins (to read their manifests; no server is started) and builds
    /// the policy, for `tessera policy`.
    ///
    /// # Errors
    /// A plugin that cannot be loaded.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is kept.
    pub async fn load(config: &Config) -> Result<Self, crate::plugins::PluginError> {
        let plugins = Plugins::load(config).await?;
        Ok(Self::build(config, &plugins))
    }

    /// The policy as pretty-printed JSON (what `/privacy.json` serves).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("invariant: the policy is plain strings, numbers and lists")
    }

    /// The policy as plain text.
    pub fn to_text(&self) -> String {
        render::text(self)
    }

    /// The policy as a self-contained HTML page (what `/privacy` serves).
    pub fn to_html(&self) -> String {
        render::html(self)
    }
}

/// A duration in the largest whole unit: `7 days`, `36 hours`, `90 seconds`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match s {
        0 => "0 seconds".to_owned(),
        _ if s.is_multiple_of(86_400) => unit(s / 86_400, "day"),
        _ if s.is_multiple_of(3_600) => unit(s / 3_600, "hour"),
        _ if s.is_multiple_of(60) => unit(s / 60, "minute"),
        _ => unit(s, "second"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tokens_are_in_the_account_data_as_configured() {
        let on = Config::from_toml_str("").expect("defaults");
        let text = account_data(&on);
        assert!(text.contains("XEP-0484 FAST"), "{text}");
        assert!(text.contains("for 14 days at most"), "{text}");
        let off = Config::from_toml_str("[sasl]\nfast_token_lifetime = \"0s\"\n").expect("off");
        assert!(
            !account_data(&off).contains("token"),
            "no FAST, no tokens to speak of"
        );
    }
}
