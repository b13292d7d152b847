//! The [`Plugin`] trait and the values crossing it.

use crate::bindings::exports::tessera::plugin::handler as wit;
use crate::bindings::tessera::plugin::http_types as wit_http;
use crate::error::{ParseError, StanzaError};
use crate::manifest::{EventKind, Hook, Manifest};
use crate::stanza::Stanza;
use minidom::Element;

/// A Tessera plugin. Implement it on a [`Default`] type and export it with
/// [`crate::export_plugin!`] (or `#[tessera_sdk::plugin]`).
///
/// Only [`describe`](Plugin::describe) is required; every hook defaults to doing nothing.
///
/// **State.** The host keeps a pool of instances per plugin and replaces any that trapped, so a
/// plugin must not rely on state kept in `self` across calls beyond what [`init`](Plugin::init)
/// derives from its config: shared state lives in host services ([`crate::kv`],
/// [`crate::ephemeral`]).
pub trait Plugin {
    /// The plugin's declarations. Called once at load; must not depend on config.
    fn describe(&self) -> Manifest;

    /// Receives the operator's configuration for this plugin (a TOML table, serialised).
    ///
    /// # Errors
    ///
    /// A message naming the bad key; the host refuses to load the plugin with it.
    fn init(&mut self, config: &str) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// A stanza for one of the plugin's subscriptions or IQ handlers.
    fn on_stanza(&self, ctx: &Context, stanza: &Stanza) -> Verdict {
        let _ = (ctx, stanza);
        Verdict::Pass
    }

    /// A server event.
    fn on_event(&self, event: &Event) {
        let _ = event;
    }

    /// An ad-hoc command execution (XEP-0050): returns the `<command/>` element to send back
    /// ([`crate::commands`] builds it).
    ///
    /// # Errors
    ///
    /// The stanza error to answer with; the default is `<item-not-found/>` (XEP-0050 §4.4 for an
    /// unknown node).
    fn on_command(&self, req: &CommandRequest) -> Result<Element, StanzaError> {
        let _ = req;
        Err(StanzaError::item_not_found())
    }

    /// An HTTP request on one of the plugin's routes; the default answers 404.
    fn on_http(&self, req: &HttpRequest) -> HttpResponse {
        let _ = req;
        HttpResponse::status(404)
    }
}

/// The context of a stanza call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// Which hook fired.
    pub hook: Hook,
    /// The local account concerned: the sender for `outgoing` and `iq`, the recipient for
    /// `incoming` and `undeliverable`; none for `service`.
    pub account: Option<String>,
    /// For `outgoing` and `iq`, the full JID of the sending session.
    pub session: Option<String>,
}

impl Context {
    /// A context for `hook`, without account or session.
    pub fn new(hook: Hook) -> Self {
        Self {
            hook,
            account: None,
            session: None,
        }
    }

    /// Sets the account concerned.
    #[must_use]
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Sets the sending session.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl From<wit::StanzaContext> for Context {
    fn from(c: wit::StanzaContext) -> Self {
        Self {
            hook: c.hook.into(),
            account: c.account,
            session: c.session,
        }
    }
}

/// What to do with a stanza. Plugins run by priority; `Handled`, `Drop` and `Error` end the chain,
/// `Pass` and `Replace` go on to the next plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Not mine, or done looking: the next plugin (then the server) gets it.
    Pass,
    /// I took care of it; the server does nothing more with it.
    Handled,
    /// Discard it silently.
    Drop,
    /// Continue with this stanza instead (serialised): the next plugin, then the server, gets it.
    /// Its kind and addresses must not change.
    Replace(String),
    /// Answer the sender with this error (never for a stanza that is itself an error).
    Error(StanzaError),
}

impl Verdict {
    /// `Replace` with an element.
    pub fn replace(stanza: &Element) -> Self {
        Verdict::Replace(String::from(stanza))
    }
}

impl From<Verdict> for wit::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => wit::Verdict::Pass,
            Verdict::Handled => wit::Verdict::Handled,
            Verdict::Drop => wit::Verdict::Drop,
            Verdict::Replace(xml) => wit::Verdict::Replace(xml),
            Verdict::Error(e) => wit::Verdict::Error(e.into()),
        }
    }
}

/// Something that happened on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An account was created (bare JID).
    UserCreated(String),
    /// An account was removed; the host already deleted everything it owned.
    UserRemoved(String),
    /// A session became available (full JID).
    SessionAvailable(String),
    /// A session went unavailable or disconnected (full JID).
    SessionUnavailable(String),
    /// One of the plugin's timers fired.
    Timer(String),
}

impl Event {
    /// The subscription kind that brings this event; `None` for a timer (timers need none).
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            Event::UserCreated(_) => Some(EventKind::UserCreated),
            Event::UserRemoved(_) => Some(EventKind::UserRemoved),
            Event::SessionAvailable(_) => Some(EventKind::SessionAvailable),
            Event::SessionUnavailable(_) => Some(EventKind::SessionUnavailable),
            Event::Timer(_) => None,
        }
    }
}

impl From<wit::Event> for Event {
    fn from(e: wit::Event) -> Self {
        match e {
            wit::Event::UserCreated(j) => Event::UserCreated(j),
            wit::Event::UserRemoved(j) => Event::UserRemoved(j),
            wit::Event::SessionAvailable(j) => Event::SessionAvailable(j),
            wit::Event::SessionUnavailable(j) => Event::SessionUnavailable(j),
            wit::Event::Timer(t) => Event::Timer(t),
        }
    }
}

/// An XEP-0050 command execution request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandRequest {
    /// The command node.
    pub node: String,
    /// The full JID of the requester (the host already checked the command's access).
    pub requester: String,
    /// The `<command/>` element as received, serialised.
    pub xml: String,
}

impl CommandRequest {
    /// A request, for tests.
    pub fn new(
        node: impl Into<String>,
        requester: impl Into<String>,
        xml: impl Into<String>,
    ) -> Self {
        Self {
            node: node.into(),
            requester: requester.into(),
            xml: xml.into(),
        }
    }

    /// The `<command/>` element, parsed.
    ///
    /// # Errors
    ///
    /// The XML does not parse.
    pub fn element(&self) -> Result<Element, ParseError> {
        Ok(self.xml.parse()?)
    }
}

impl From<wit::CommandRequest> for CommandRequest {
    fn from(r: wit::CommandRequest) -> Self {
        Self {
            node: r.node,
            requester: r.requester,
            xml: r.xml,
        }
    }
}

/// An inbound HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query, e.g. `/upload/abc?x=1`.
    pub uri: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request without headers or body, for tests.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            uri: uri.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<wit_http::Request> for HttpRequest {
    fn from(r: wit_http::Request) -> Self {
        Self {
            method: r.method,
            uri: r.uri,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl From<HttpResponse> for wit_http::Response {
    fn from(r: HttpResponse) -> Self {
        wit_http::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}
