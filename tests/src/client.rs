//! [`TestClient`]: `tokio-xmpp`, a real third-party client, pointed at an [`Endpoint`].
//!
//! `tokio-xmpp` resolves the JID's domain over DNS and trusts the system roots; neither suits a
//! server on `127.0.0.1:<port>` with a throwaway CA. [`TestConnector`] is our `ServerConnector`:
//! it dials the listener directly, negotiates STARTTLS (RFC 6120 §5.4) or TLS from the first byte
//! (XEP-0368), verifies the certificate against the test CA for the domain `localhost`, and hands
//! `tokio-xmpp` the `tls-exporter` channel binding (RFC 9266) when asked, so the client picks
//! SCRAM-*-PLUS. SASL, resource binding and the stanza stream are all `tokio-xmpp`'s own.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{SinkExt as _, StreamExt as _};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use sasl::common::{ChannelBinding, Credentials};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::error::{AuthError, Error as XmppError, ProtocolError};
use tokio_xmpp::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::caps;
use tokio_xmpp::parsers::disco::{DiscoInfoResult, Identity};
use tokio_xmpp::parsers::hashes::Algo;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::sasl::DefinedCondition;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    PendingFeaturesRecv, ReadError, StreamHeader, Timeouts, XmppStreamElement, initiate_stream,
};
use tokio_xmpp::{Client, Event, IqRequest, IqResponse, Stanza};

use crate::{Endpoint, TIMEOUT};

/// How a [`TestClient`] reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// The c2s listener, upgraded with STARTTLS.
    #[default]
    StartTls,
    /// The direct-TLS listener (XEP-0368).
    DirectTls,
}

/// Connection options for a [`TestClient`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Which listener.
    pub transport: Transport,
    /// Offer `tls-exporter` channel binding: `tokio-xmpp` then only uses SCRAM-*-PLUS.
    pub channel_binding: bool,
    /// Request this resource (otherwise the server picks one).
    pub resource: Option<String>,
    /// Dial this address (a [`crate::link::FlakyLink`] in front of the listener) instead.
    pub via: Option<SocketAddr>,
    /// XEP-0115: the features this client supports. When set, [`TestClient::caps`] is the `<c/>`
    /// to put in its presence (SHA-1 `ver` computed with xmpp-parsers over these features and
    /// the identity client/pc, node [`CAPS_NODE`]), and the client answers a disco#info query
    /// for `<node>#<ver>` by itself while it waits for stanzas ([`TestClient::recv_until`]),
    /// as a real client does. `None` (the default): no caps, no automatic answer.
    pub caps_features: Option<Vec<String>>,
}

/// The XEP-0115 `node` a [`TestClient`] with [`ClientOptions::caps_features`] announces.
pub const CAPS_NODE: &str = "https://tessera.example/e2e-client";

/// What a client with caps announces and answers (XEP-0115 §4, §6.2).
#[derive(Debug, Clone)]
struct OwnCaps {
    /// The `<c/>` element.
    element: Element,
    /// `<node>#<ver>`.
    node: String,
    /// The disco#info answer.
    info: DiscoInfoResult,
}

impl OwnCaps {
    fn new(features: &[String]) -> anyhow::Result<Self> {
        let info = DiscoInfoResult {
            node: None,
            identities: vec![Identity::new("client", "pc", "en", "tessera e2e")],
            features: features.iter().cloned().collect(),
            extensions: vec![],
        };
        let hash = caps::hash_caps(&caps::compute_disco(&info), Algo::Sha_1)
            .map_err(|e| anyhow::anyhow!("caps hash: {e}"))?;
        let node = format!("{CAPS_NODE}#{}", hash.to_base64());
        let element = caps::Caps::new(CAPS_NODE, hash).into();
        Ok(Self {
            element,
            node,
            info,
        })
    }

    /// The answer to `stanza` if it is a disco#info query for our caps node.
    fn answer(&self, stanza: &Stanza) -> Option<Iq> {
        let Stanza::Iq(Iq::Get {
            from, id, payload, ..
        }) = stanza
        else {
            return None;
        };
        if !payload.is("query", tokio_xmpp::parsers::ns::DISCO_INFO)
            || payload.attr("node") != Some(self.node.as_str())
        {
            return None;
        }
        let mut info = self.info.clone();
        info.node = Some(self.node.clone());
        Some(Iq::Result {
            from: None,
            to: from.clone(),
            id: id.clone(),
            payload: Some(info.into()),
        })
    }
}

/// A `ServerConnector` that dials one address and trusts only the test CA.
#[derive(Debug, Clone)]
pub struct TestConnector {
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    transport: Transport,
    channel_binding: bool,
}

impl TestConnector {
    /// A connector for `server` with `opts`' transport and channel binding.
    pub fn new(server: &impl Endpoint, opts: &ClientOptions) -> Self {
        let addr = opts.via.unwrap_or(match opts.transport {
            Transport::StartTls => server.c2s_addr(),
            Transport::DirectTls => server.direct_tls_addr(),
        });
        Self {
            addr,
            tls: server.ca().client_config(),
            transport: opts.transport,
            channel_binding: opts.channel_binding,
        }
    }
}

type TestStream = BufStream<TlsStream<TcpStream>>;

impl ServerConnector for TestConnector {
    type Stream = TestStream;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<TestStream>, ChannelBinding), XmppError> {
        let domain = jid.domain().as_str();
        let header = || StreamHeader {
            to: Some(Cow::Borrowed(domain)),
            from: None,
            id: None,
        };
        let mut tcp = TcpStream::connect(self.addr).await?;
        // As interactive clients do: with XEP-0198 the client writes small `<a/>`s between its
        // stanzas, and Nagle's algorithm would hold the next stanza until the server's delayed
        // ACK (40 ms on Linux).
        tcp.set_nodelay(true)?;
        if self.transport == Transport::StartTls {
            let stream = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
            let (features, mut stream) = stream.recv_features().await?;
            if !features.can_starttls() {
                return Err(ProtocolError::NoTls.into());
            }
            let request = starttls::Nonza::Request(starttls::Request);
            stream.send(&XmppStreamElement::Starttls(request)).await?;
            loop {
                match stream.next().await.map(|r| {
                    r.and_then(tokio_xmpp::xmlstream::FallibleStreamElement::into_read_error)
                }) {
                    Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
                    Some(Ok(_) | Err(ReadError::SoftTimeout)) => {}
                    Some(Err(ReadError::HardError(e))) => return Err(e.into()),
                    Some(Err(ReadError::ParseError(e))) => {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e).into());
                    }
                    None | Some(Err(ReadError::StreamFooterReceived)) => {
                        return Err(XmppError::Disconnected);
                    }
                }
            }
            tcp = stream.into_inner().into_inner();
        }
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?;
        let channel_binding = if self.channel_binding {
            exporter(&tls)?
        } else {
            ChannelBinding::None
        };
        let stream = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((stream, channel_binding))
    }
}

/// RFC 9266 `tls-exporter`: 32 bytes of keying material, defined for TLS 1.3 only.
fn exporter(tls: &TlsStream<TcpStream>) -> Result<ChannelBinding, XmppError> {
    let (_, conn) = tls.get_ref();
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return Err(io::Error::other("tls-exporter needs TLS 1.3").into());
    }
    let data = conn
        .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
        .map_err(io::Error::other)?;
    Ok(ChannelBinding::TlsExporter(data))
}

/// Kind, type and addresses of a stanza, for failure messages (no payloads).
fn summary(stanza: &Stanza) -> String {
    let show = |j: Option<&Jid>| j.map_or_else(|| "-".to_owned(), ToString::to_string);
    match stanza {
        Stanza::Message(m) => format!("message type={:?} from={}", m.type_, show(m.from.as_ref())),
        Stanza::Presence(p) => {
            format!("presence type={:?} from={}", p.type_, show(p.from.as_ref()))
        }
        Stanza::Iq(iq) => format!("iq id={} from={}", iq.id(), show(iq.from())),
    }
}

/// Why a [`try_login`] did not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The server answered `<failure/>` with this condition (RFC 6120 §6.5).
    #[error("SASL failure: {0:?}")]
    Failed(DefinedCondition),
    /// Anything else: transport, TLS, no common mechanism, a timeout.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs `tokio-xmpp`'s SASL negotiation once, without the reconnecting client around it (which
/// retries a refused login forever). `Ok` means the server sent `<success/>` and `tokio-xmpp`
/// verified the server's SCRAM signature.
///
/// # Errors
/// [`LoginError::Failed`] with the server's condition, or [`LoginError::Other`].
pub async fn try_login(
    server: &impl Endpoint,
    user: &str,
    password: &str,
    opts: &ClientOptions,
) -> Result<(), LoginError> {
    let jid = Jid::from(
        BareJid::new(&format!("{user}@{}", server.domain())).map_err(anyhow::Error::from)?,
    );
    let connector = TestConnector::new(server, opts);
    let attempt = async {
        let (stream, cb) = connector
            .connect(
                &jid,
                tokio_xmpp::parsers::ns::JABBER_CLIENT,
                Timeouts::default(),
            )
            .await?;
        let (features, stream) = stream.recv_features().await?;
        let creds = Credentials::default()
            .with_username(user)
            .with_password(password)
            .with_channel_binding(cb);
        tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds).await?;
        Ok::<_, XmppError>(())
    };
    match tokio::time::timeout(TIMEOUT, attempt).await {
        Err(_) => Err(anyhow::anyhow!("login timed out").into()),
        Ok(Ok(())) => Ok(()),
        Ok(Err(XmppError::Auth(AuthError::Fail(condition)))) => Err(LoginError::Failed(condition)),
        Ok(Err(e)) => Err(anyhow::Error::from(e).context("login").into()),
    }
}

/// Sessions [`TestClient::connect_with`] tries before giving up.
const PROBE_ATTEMPTS: u32 = 3;
/// How long a new session's first IQ may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A logged-in `tokio-xmpp` client with a backlog, so a test can wait for stanzas in any order.
#[derive(Debug)]
pub struct TestClient {
    client: Client,
    jid: FullJid,
    backlog: VecDeque<Stanza>,
    iq_counter: u64,
    resumptions: usize,
    caps: Option<OwnCaps>,
}

impl TestClient {
    /// Logs in over STARTTLS without channel binding; the server assigns the resource.
    ///
    /// # Errors
    /// The session is not bound within [`TIMEOUT`].
    pub async fn connect(
        server: &impl Endpoint,
        user: &str,
        password: &str,
    ) -> anyhow::Result<Self> {
        Self::connect_with(server, user, password, &ClientOptions::default()).await
    }

    /// Logs in with `opts` and waits until a resource is bound.
    ///
    /// # Errors
    /// The session is not bound within [`TIMEOUT`] (a refused login shows up as this: `tokio-xmpp`
    /// keeps retrying; use [`try_login`] to see the SASL condition).
    pub async fn connect_with(
        server: &impl Endpoint,
        user: &str,
        password: &str,
        opts: &ClientOptions,
    ) -> anyhow::Result<Self> {
        // Each new session is checked with one IQ round trip (RFC 6120 §8.4: the server must
        // answer even an unknown payload), and one that never answers is replaced. On a
        // multi-threaded test runtime `tokio-xmpp` 6.0's internal client worker was seen to stall
        // for good after the stream worker handed it a stanza (its channel then filled up while the
        // server kept answering); the e2e tests therefore run on a current-thread runtime, where
        // that never happened in 60+ runs under load. This check stays as a cheap guard.
        for attempt in 1..=PROBE_ATTEMPTS {
            let mut client = Self::connect_once(server, user, password, opts).await?;
            if client.probe().await? {
                return Ok(client);
            }
            tracing::warn!(attempt, jid = %client.jid, "tokio-xmpp session delivers nothing; reconnecting");
            let _ = tokio::time::timeout(PROBE_TIMEOUT, client.client.send_end()).await;
        }
        bail!(
            "{user}: the server never answered an IQ in {PROBE_ATTEMPTS} sessions \
             (RFC 6120 §8.4 requires an answer, even to an unknown payload)"
        )
    }

    async fn connect_once(
        server: &impl Endpoint,
        user: &str,
        password: &str,
        opts: &ClientOptions,
    ) -> anyhow::Result<Self> {
        let mut jid = format!("{user}@{}", server.domain());
        if let Some(resource) = &opts.resource {
            jid = format!("{jid}/{resource}");
        }
        let jid = Jid::new(&jid)?;
        let connector = TestConnector::new(server, opts);
        let mut client = Client::new_with_connector(jid, password, connector, Timeouts::default());
        let online = async {
            while let Some(event) = client.next().await {
                if let Event::Online { bound_jid, .. } = event {
                    return Ok(bound_jid);
                }
            }
            bail!("client stopped before it was online")
        };
        let bound = tokio::time::timeout(TIMEOUT, online)
            .await
            .with_context(|| format!("{user} did not get a bound session"))??;
        let jid = bound
            .try_into_full()
            .map_err(|_| anyhow::anyhow!("bound JID has no resource"))?;
        let caps = opts
            .caps_features
            .as_deref()
            .map(OwnCaps::new)
            .transpose()?;
        Ok(Self {
            client,
            jid,
            backlog: VecDeque::new(),
            iq_counter: 0,
            resumptions: 0,
            caps,
        })
    }

    /// Sends the server an IQ with a payload nobody serves; `true` if any answer (result or, as
    /// RFC 6120 §8.4 has it, `service-unavailable`) arrives within [`PROBE_TIMEOUT`].
    async fn probe(&mut self) -> anyhow::Result<bool> {
        let payload = Element::builder("probe", "urn:tessera:e2e:probe").build();
        let to = Jid::from(self.jid.to_bare().domain().to_owned());
        let id = "e2e-probe".to_owned();
        self.send(Iq::Get {
            from: None,
            to: Some(to),
            id: id.clone(),
            payload,
        })
        .await?;
        let answered = self
            .recv_until(
                |s| matches!(s, Stanza::Iq(Iq::Result { id: i, .. } | Iq::Error { id: i, .. }) if *i == id),
                PROBE_TIMEOUT,
            )
            .await;
        Ok(answered.is_ok())
    }

    /// How often tokio-xmpp resumed the session on a new connection (XEP-0198), as seen so far.
    pub fn resumptions(&self) -> usize {
        self.resumptions
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// The XEP-0115 `<c/>` this client announces, if it was given
    /// [`ClientOptions::caps_features`]; add it to its presence.
    pub fn caps(&self) -> Option<Element> {
        self.caps.as_ref().map(|c| c.element.clone())
    }

    /// Sends a stanza and waits until it is written. A client with
    /// [`ClientOptions::caps_features`] adds its XEP-0115 `<c/>` to the available presence it
    /// broadcasts (§4: with every one, as real clients do), unless the stanza carries one already.
    ///
    /// # Errors
    /// The stream is gone.
    pub async fn send(&mut self, stanza: impl Into<Stanza>) -> anyhow::Result<()> {
        let mut stanza = stanza.into();
        if let (Stanza::Presence(p), Some(caps)) = (&mut stanza, &self.caps) {
            let broadcast = p.to.is_none() && p.type_ == tokio_xmpp::parsers::presence::Type::None;
            if broadcast
                && !p
                    .payloads
                    .iter()
                    .any(|e| e.is("c", tokio_xmpp::parsers::ns::CAPS))
            {
                p.payloads.push(caps.element.clone());
            }
        }
        tokio::time::timeout(TIMEOUT, self.client.send_stanza(stanza))
            .await
            .context("send timed out")??;
        Ok(())
    }

    /// Sends an IQ request and waits for the `result` or `error` with its id (RFC 6120 §8.2.3).
    ///
    /// Matched by id alone, not by `tokio-xmpp`'s tracker, which also keys on the answer's
    /// `from` and so depends on how the server addresses it: that is for the tests to check.
    ///
    /// # Errors
    /// No answer within [`TIMEOUT`], or the stream failed.
    pub async fn iq(&mut self, to: Option<Jid>, request: IqRequest) -> anyhow::Result<IqResponse> {
        self.iq_counter += 1;
        let id = format!("e2e-iq-{}", self.iq_counter);
        let iq = match request {
            IqRequest::Get(payload) => Iq::Get {
                from: None,
                to,
                id: id.clone(),
                payload,
            },
            IqRequest::Set(payload) => Iq::Set {
                from: None,
                to,
                id: id.clone(),
                payload,
            },
        };
        self.send(iq).await?;
        let answer = self
            .recv(|s| matches!(s, Stanza::Iq(Iq::Result { id: i, .. } | Iq::Error { id: i, .. }) if *i == id))
            .await?;
        match answer {
            Stanza::Iq(Iq::Result { payload, .. }) => Ok(IqResponse::Result(payload)),
            Stanza::Iq(Iq::Error { error, .. }) => Ok(IqResponse::Error(error)),
            _ => unreachable!("matched an IQ answer above"),
        }
    }

    /// Waits up to `timeout` for a stanza `pred` accepts; earlier ones are kept for later calls.
    ///
    /// # Errors
    /// Nothing matches in time, or the session ends or restarts (the server closed it).
    pub async fn recv_until(
        &mut self,
        pred: impl Fn(&Stanza) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Stanza> {
        if let Some(at) = self.backlog.iter().position(&pred) {
            return Ok(self
                .backlog
                .remove(at)
                .expect("invariant: index from position"));
        }
        let wait = async {
            loop {
                match self.client.next().await {
                    // XEP-0115 §6.2: a client with caps answers the query for its caps node.
                    Some(Event::Stanza(stanza))
                        if let Some(answer) =
                            self.caps.as_ref().and_then(|c| c.answer(&stanza)) =>
                    {
                        self.client.send_stanza(answer.into()).await?;
                    }
                    Some(Event::Stanza(stanza)) if pred(&stanza) => return Ok(stanza),
                    Some(Event::Stanza(stanza)) => self.backlog.push_back(stanza),
                    // XEP-0198: tokio-xmpp reconnected and resumed; the session goes on.
                    Some(Event::Online { resumed: true, .. }) => self.resumptions += 1,
                    Some(Event::Online { .. }) => bail!("session restarted (the server closed it)"),
                    Some(Event::Disconnected(e)) => bail!("disconnected: {e}"),
                    None => bail!("client stopped"),
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => bail!(
                "{}: no matching stanza within {timeout:?}; unmatched: [{}]",
                self.jid,
                self.backlog
                    .iter()
                    .map(summary)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// [`TestClient::recv_until`] with the default [`TIMEOUT`].
    ///
    /// # Errors
    /// As [`TestClient::recv_until`].
    pub async fn recv(&mut self, pred: impl Fn(&Stanza) -> bool) -> anyhow::Result<Stanza> {
        self.recv_until(pred, TIMEOUT).await
    }

    /// Closes the stream cleanly (`</stream:stream>`, RFC 6120 §4.4).
    ///
    /// # Errors
    /// The close did not finish in time.
    pub async fn close(self) -> anyhow::Result<()> {
        tokio::time::timeout(TIMEOUT, self.client.send_end())
            .await
            .context("close timed out")??;
        Ok(())
    }
}
