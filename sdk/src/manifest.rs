//! What a plugin declares about itself ([`crate::Plugin::describe`]): the host builds dispatch,
//! disco, commands, HTTP routes, timers and the published privacy policy from it.

use crate::bindings::tessera::plugin::manifest as wit;
use crate::stanza::{QName, StanzaKind};

/// Where in the stanza flow a subscription hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hook {
    /// A stanza a local client sent, before the server routes it.
    Outgoing,
    /// A stanza for a local account, before its sessions get it.
    Incoming,
    /// A message for a local account that no session can take now (RFC 6121 §8.5.2.2).
    Undeliverable,
    /// A stanza addressed to one of the plugin's services (`label.<domain>` or `*@label.<domain>`).
    Service,
    /// An IQ get or set whose payload the plugin owns ([`Manifest::iq_handler`]), sent to the
    /// server's domain, the sender's own bare JID or with no `to`; the context's account is the
    /// sender's bare JID and its session the sender's full JID. Answer it with
    /// [`crate::router::send`] from the server's domain and [`crate::Verdict::Handled`], or with
    /// [`crate::Verdict::Error`]; [`crate::Verdict::Pass`] answers `service-unavailable`. Not for
    /// [`Subscription`]s: the host refuses a manifest subscribing to it.
    Iq,
}

impl From<Hook> for wit::Hook {
    fn from(h: Hook) -> Self {
        match h {
            Hook::Outgoing => wit::Hook::Outgoing,
            Hook::Incoming => wit::Hook::Incoming,
            Hook::Undeliverable => wit::Hook::Undeliverable,
            Hook::Service => wit::Hook::Service,
            Hook::Iq => wit::Hook::Iq,
        }
    }
}

impl From<wit::Hook> for Hook {
    fn from(h: wit::Hook) -> Self {
        match h {
            wit::Hook::Outgoing => Hook::Outgoing,
            wit::Hook::Incoming => Hook::Incoming,
            wit::Hook::Undeliverable => Hook::Undeliverable,
            wit::Hook::Service => Hook::Service,
            wit::Hook::Iq => Hook::Iq,
        }
    }
}

/// One stanza subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// Where it hooks in.
    pub hook: Hook,
    /// Which kind of stanza.
    pub kind: StanzaKind,
    /// Only stanzas whose first child is this element (none: every stanza of the kind).
    pub payload: Option<QName>,
    /// Higher runs first; ties run in plugin load order.
    pub priority: i32,
}

impl Subscription {
    /// Every stanza of `kind` at `hook`, priority 0.
    pub fn new(hook: Hook, kind: StanzaKind) -> Self {
        Self {
            hook,
            kind,
            payload: None,
            priority: 0,
        }
    }

    /// Every stanza of `kind` addressed to the plugin's services.
    pub fn service(kind: StanzaKind) -> Self {
        Self::new(Hook::Service, kind)
    }

    /// Only stanzas whose first child is `name` in `namespace`.
    #[must_use]
    pub fn payload(mut self, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        self.payload = Some(QName::new(namespace, name));
        self
    }

    /// Sets the priority (higher runs first).
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
}

/// Who may run an ad-hoc command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandAccess {
    /// Server administrators.
    Admin,
    /// Any local account.
    LocalUser,
}

/// An XEP-0050 ad-hoc command the plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Command {
    /// The command node, e.g. `urn:tessera:mam:purge`.
    pub node: String,
    /// The human-readable name shown in clients.
    pub name: String,
    /// Who may run it.
    pub access: CommandAccess,
}

/// An XEP-0030 identity the plugin adds to disco#info.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// Category, e.g. `conference`.
    pub category: String,
    /// Type, e.g. `text`.
    pub type_: String,
    /// Optional name.
    pub name: Option<String>,
}

/// An HTTP route under the host's HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRoute {
    /// Method, e.g. `GET`; `*` for any.
    pub method: String,
    /// Path prefix, e.g. `/upload/`.
    pub path_prefix: String,
}

/// A periodic timer; the host calls `on_event(Event::Timer(name))`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timer {
    /// The name passed back to the plugin.
    pub name: String,
    /// The period in seconds (at least 1).
    pub interval_seconds: u32,
}

/// A kind of server event a plugin subscribes to with [`Manifest::on`]. Only subscribers get
/// [`crate::Plugin::on_event`] for it; timers need no subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// An account was created on the running server (not by the `tessera user add` CLI).
    UserCreated,
    /// An account was removed on the running server.
    UserRemoved,
    /// A session sent initial available presence.
    SessionAvailable,
    /// An available session went unavailable or disconnected.
    SessionUnavailable,
}

impl From<EventKind> for wit::EventKind {
    fn from(k: EventKind) -> Self {
        match k {
            EventKind::UserCreated => wit::EventKind::UserCreated,
            EventKind::UserRemoved => wit::EventKind::UserRemoved,
            EventKind::SessionAvailable => wit::EventKind::SessionAvailable,
            EventKind::SessionUnavailable => wit::EventKind::SessionUnavailable,
        }
    }
}

/// Who may see data of a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Visibility {
    /// Only its owner.
    Owner,
    /// The owner and the room's occupants.
    Occupants,
    /// Server administrators as well as the owner.
    Admins,
    /// Anyone who can reach the service.
    Public,
}

/// The owner kind of a data category's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerKind {
    /// Local accounts.
    User,
    /// Rooms or other served entities.
    Room,
    /// The service.
    Service,
}

/// A category of data the plugin stores. Every `kv`, `archive` or `blobs` record names one; an
/// undeclared category is refused by the host, which enforces the operator's retention for it and
/// renders it in the privacy policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataDeclaration {
    /// Short identifier, e.g. `offline-messages`.
    pub category: String,
    /// Why it is stored, in one sentence for the privacy policy.
    pub purpose: String,
    /// Who owns its records.
    pub owner: OwnerKind,
    /// Who may see it.
    pub visibility: Visibility,
    /// Third parties it is sent to; empty for none.
    pub third_parties: Vec<String>,
    /// Default maximum age in seconds; the operator's config overrides.
    pub default_max_age_seconds: Option<u64>,
    /// Default maximum records per owner and stream; the operator's config overrides.
    pub default_max_items: Option<u64>,
}

impl DataDeclaration {
    /// A category with no third parties and no default limits.
    pub fn new(
        category: impl Into<String>,
        purpose: impl Into<String>,
        owner: OwnerKind,
        visibility: Visibility,
    ) -> Self {
        Self {
            category: category.into(),
            purpose: purpose.into(),
            owner,
            visibility,
            third_parties: Vec::new(),
            default_max_age_seconds: None,
            default_max_items: None,
        }
    }

    /// Names a third party the data is sent to.
    #[must_use]
    pub fn third_party(mut self, who: impl Into<String>) -> Self {
        self.third_parties.push(who.into());
        self
    }

    /// Sets the default maximum age.
    #[must_use]
    pub fn max_age_seconds(mut self, seconds: u64) -> Self {
        self.default_max_age_seconds = Some(seconds);
        self
    }

    /// Sets the default maximum number of records per owner and stream.
    #[must_use]
    pub fn max_items(mut self, items: u64) -> Self {
        self.default_max_items = Some(items);
        self
    }
}

/// Everything a plugin declares, built with chained calls:
///
/// ```
/// use tessera_sdk::{DataDeclaration, Manifest, OwnerKind, StanzaKind, Subscription, Visibility};
///
/// let manifest = Manifest::new("offline", "0.1.0")
///     .subscribe(Subscription::new(tessera_sdk::Hook::Undeliverable, StanzaKind::Message))
///     .feature("msgoffline")
///     .data(
///         DataDeclaration::new("offline-messages", "Messages kept until you come online.",
///             OwnerKind::User, Visibility::Owner)
///             .max_age_seconds(30 * 24 * 3600),
///     );
/// assert_eq!(manifest.data[0].category, "offline-messages");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Manifest {
    /// Unique name, e.g. `offline`.
    pub name: String,
    /// The plugin's version (semver).
    pub version: String,
    /// Stanza subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// IQ payloads the plugin answers; one owner per namespace and element.
    pub iq_handlers: Vec<QName>,
    /// Features added to disco#info.
    pub features: Vec<String>,
    /// Identities added to disco#info.
    pub identities: Vec<Identity>,
    /// Subdomain labels it serves (`conference` serves `conference.<domain>`).
    pub services: Vec<String>,
    /// Ad-hoc commands.
    pub commands: Vec<Command>,
    /// HTTP routes.
    pub http_routes: Vec<HttpRoute>,
    /// Timers.
    pub timers: Vec<Timer>,
    /// Server events it wants `on_event` for (timers are implied by `timers`).
    pub events: Vec<EventKind>,
    /// Data it stores.
    pub data: Vec<DataDeclaration>,
}

impl Manifest {
    /// An empty manifest: the plugin subscribes to nothing and stores nothing.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            subscriptions: Vec::new(),
            iq_handlers: Vec::new(),
            features: Vec::new(),
            identities: Vec::new(),
            services: Vec::new(),
            commands: Vec::new(),
            http_routes: Vec::new(),
            timers: Vec::new(),
            events: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Adds a stanza subscription.
    #[must_use]
    pub fn subscribe(mut self, subscription: Subscription) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    /// Claims IQs whose payload is `name` in `namespace` (the plugin must answer them).
    #[must_use]
    pub fn iq_handler(mut self, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        self.iq_handlers.push(QName::new(namespace, name));
        self
    }

    /// Adds a disco#info feature.
    #[must_use]
    pub fn feature(mut self, var: impl Into<String>) -> Self {
        self.features.push(var.into());
        self
    }

    /// Adds a disco#info identity.
    #[must_use]
    pub fn identity(
        mut self,
        category: impl Into<String>,
        type_: impl Into<String>,
        name: Option<&str>,
    ) -> Self {
        self.identities.push(Identity {
            category: category.into(),
            type_: type_.into(),
            name: name.map(str::to_owned),
        });
        self
    }

    /// Serves the subdomain `label.<domain>` (the operator may rename it).
    #[must_use]
    pub fn service(mut self, label: impl Into<String>) -> Self {
        self.services.push(label.into());
        self
    }

    /// Offers an ad-hoc command.
    #[must_use]
    pub fn command(
        mut self,
        node: impl Into<String>,
        name: impl Into<String>,
        access: CommandAccess,
    ) -> Self {
        self.commands.push(Command {
            node: node.into(),
            name: name.into(),
            access,
        });
        self
    }

    /// Serves HTTP requests under `path_prefix`.
    #[must_use]
    pub fn http_route(mut self, method: impl Into<String>, path_prefix: impl Into<String>) -> Self {
        self.http_routes.push(HttpRoute {
            method: method.into(),
            path_prefix: path_prefix.into(),
        });
        self
    }

    /// Subscribes to a kind of server event (listing it twice changes nothing).
    #[must_use]
    pub fn on(mut self, kind: EventKind) -> Self {
        if !self.events.contains(&kind) {
            self.events.push(kind);
        }
        self
    }

    /// Whether the plugin gets [`crate::Plugin::on_event`] for `event`: a subscribed kind, or
    /// one of its own timers.
    pub fn receives(&self, event: &crate::Event) -> bool {
        match event.kind() {
            Some(kind) => self.events.contains(&kind),
            None => {
                matches!(event, crate::Event::Timer(name) if self.timers.iter().any(|t| &t.name == name))
            }
        }
    }

    /// Asks for `on_event(Event::Timer(name))` every `interval_seconds` (at least 1: the host
    /// refuses a 0, and a name declared twice), first one interval after load.
    #[must_use]
    pub fn timer(mut self, name: impl Into<String>, interval_seconds: u32) -> Self {
        self.timers.push(Timer {
            name: name.into(),
            interval_seconds,
        });
        self
    }

    /// Declares a data category.
    #[must_use]
    pub fn data(mut self, declaration: DataDeclaration) -> Self {
        self.data.push(declaration);
        self
    }

    /// The declaration of `category`, if any.
    pub fn data_category(&self, category: &str) -> Option<&DataDeclaration> {
        self.data.iter().find(|d| d.category == category)
    }
}

impl From<Manifest> for wit::Manifest {
    fn from(m: Manifest) -> Self {
        wit::Manifest {
            name: m.name,
            version: m.version,
            subscriptions: m
                .subscriptions
                .into_iter()
                .map(|s| wit::Subscription {
                    hook: s.hook.into(),
                    kind: s.kind.into(),
                    payload: s.payload.map(Into::into),
                    priority: s.priority,
                })
                .collect(),
            iq_handlers: m.iq_handlers.into_iter().map(Into::into).collect(),
            features: m.features,
            identities: m
                .identities
                .into_iter()
                .map(|i| wit::Identity {
                    category: i.category,
                    type_: i.type_,
                    name: i.name,
                })
                .collect(),
            services: m.services,
            commands: m
                .commands
                .into_iter()
                .map(|c| wit::Command {
                    node: c.node,
                    name: c.name,
                    access: match c.access {
                        CommandAccess::Admin => wit::CommandAccess::Admin,
                        CommandAccess::LocalUser => wit::CommandAccess::LocalUser,
                    },
                })
                .collect(),
            http_routes: m
                .http_routes
                .into_iter()
                .map(|r| wit::HttpRoute {
                    method: r.method,
                    path_prefix: r.path_prefix,
                })
                .collect(),
            timers: m
                .timers
                .into_iter()
                .map(|t| wit::Timer {
                    name: t.name,
                    interval_seconds: t.interval_seconds,
                })
                .collect(),
            events: m.events.into_iter().map(Into::into).collect(),
            data: m.data.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<DataDeclaration> for wit::DataDeclaration {
    fn from(d: DataDeclaration) -> Self {
        wit::DataDeclaration {
            category: d.category,
            purpose: d.purpose,
            owner: match d.owner {
                OwnerKind::User => wit::OwnerKind::User,
                OwnerKind::Room => wit::OwnerKind::Room,
                OwnerKind::Service => wit::OwnerKind::Service,
            },
            visibility: match d.visibility {
                Visibility::Owner => wit::Visibility::Owner,
                Visibility::Occupants => wit::Visibility::Occupants,
                Visibility::Admins => wit::Visibility::Admins,
                Visibility::Public => wit::Visibility::Public,
            },
            third_parties: d.third_parties,
            default_max_age_seconds: d.default_max_age_seconds,
            default_max_items: d.default_max_items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_converts_to_the_wire_record() {
        let m = Manifest::new("muc", "1.2.3")
            .service("conference")
            .subscribe(
                Subscription::service(StanzaKind::Presence)
                    .payload("http://jabber.org/protocol/muc", "x")
                    .priority(5),
            )
            .iq_handler("urn:xmpp:mam:2", "query")
            .feature("urn:xmpp:mam:2")
            .identity("conference", "text", Some("Rooms"))
            .command(
                "urn:tessera:muc:destroy",
                "Destroy a room",
                CommandAccess::Admin,
            )
            .http_route("GET", "/rooms/")
            .timer("gc", 60)
            .data(
                DataDeclaration::new(
                    "history",
                    "Room history.",
                    OwnerKind::Room,
                    Visibility::Occupants,
                )
                .third_party("nobody")
                .max_items(100),
            );
        assert_eq!(
            m.data_category("history").map(|d| d.owner),
            Some(OwnerKind::Room)
        );
        assert!(m.data_category("other").is_none());
        let w: wit::Manifest = m.into();
        assert_eq!(w.name, "muc");
        assert_eq!(w.services, ["conference"]);
        assert_eq!(w.subscriptions[0].priority, 5);
        assert!(matches!(w.subscriptions[0].hook, wit::Hook::Service));
        assert_eq!(
            w.subscriptions[0].payload.as_ref().map(|q| q.name.as_str()),
            Some("x")
        );
        assert_eq!(w.iq_handlers[0].namespace, "urn:xmpp:mam:2");
        assert_eq!(w.identities[0].name.as_deref(), Some("Rooms"));
        assert!(matches!(w.commands[0].access, wit::CommandAccess::Admin));
        assert_eq!(w.http_routes[0].path_prefix, "/rooms/");
        assert_eq!(w.timers[0].interval_seconds, 60);
        assert_eq!(w.data[0].default_max_items, Some(100));
        assert_eq!(w.data[0].third_parties, ["nobody"]);
        assert!(matches!(w.data[0].visibility, wit::Visibility::Occupants));
        assert!(w.events.is_empty());
    }

    #[test]
    fn event_subscriptions_convert_and_filter() {
        use crate::Event;
        let m = Manifest::new("watch", "0.1.0")
            .on(EventKind::SessionAvailable)
            .on(EventKind::UserRemoved)
            .on(EventKind::SessionAvailable)
            .timer("tick", 1);
        assert_eq!(
            m.events,
            [EventKind::SessionAvailable, EventKind::UserRemoved]
        );
        assert!(m.receives(&Event::SessionAvailable("a@b/c".into())));
        assert!(m.receives(&Event::UserRemoved("a@b".into())));
        assert!(!m.receives(&Event::UserCreated("a@b".into())));
        assert!(!m.receives(&Event::SessionUnavailable("a@b/c".into())));
        assert!(m.receives(&Event::Timer("tick".into())));
        assert!(!m.receives(&Event::Timer("other".into())));
        let w: wit::Manifest = m.into();
        assert!(matches!(
            w.events[..],
            [
                wit::EventKind::SessionAvailable,
                wit::EventKind::UserRemoved
            ]
        ));
    }
}
