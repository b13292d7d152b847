//! A deliberately small XMPP client for host integration tests that need the wire itself (the
//! binary's log, plugin limits): our own `tessera-sasl` SCRAM client and `tessera-xml` parser over
//! any byte stream. Functional behaviour is tested with third-party clients in `tessera-tests`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use minidom::Element;
use tessera_sasl::{Mechanism, ScramClient};
use tessera_xml::{Event, Limits, StreamParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long any one wait on the server may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";

/// The client's stream header.
pub const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/// One stream over `Io`.
pub struct Client<Io> {
    pub io: Io,
    pub parser: StreamParser,
    /// The bound full JID, once bound.
    pub jid: String,
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Client<Io> {
    pub fn new(io: Io) -> Self {
        Self {
            io,
            parser: StreamParser::new(Limits::default()),
            jid: String::new(),
        }
    }

    /// Sends our header and returns the server's features.
    pub async fn open(&mut self) -> anyhow::Result<Element> {
        self.send(HEADER).await?;
        anyhow::ensure!(
            matches!(self.event().await?, Event::StreamOpen(_)),
            "expected the server's stream header"
        );
        self.next().await
    }

    /// SCRAM-SHA-256 (server signature verified), stream restart, resource binding.
    pub async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        let mut scram = ScramClient::new(Mechanism::ScramSha256, user, password, None)?;
        let first = tessera_sasl::encode_payload(&scram.client_first());
        self.send(&format!(
            "<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>"
        ))
        .await?;
        let challenge = self.next().await?;
        let server_first = tessera_sasl::decode_payload(&challenge.text())?;
        let fin = tessera_sasl::encode_payload(&scram.handle_server_first(&server_first)?);
        self.send(&format!("<response xmlns='{SASL}'>{fin}</response>"))
            .await?;
        let success = self.next().await?;
        anyhow::ensure!(success.name() == "success", "login as {user} failed");
        scram.verify_server_final(&tessera_sasl::decode_payload(&success.text())?)?;
        self.parser.reset(true);
        self.open().await?;
        self.send(&format!(
            "<iq type='set' id='b'><bind xmlns='{BIND}'/></iq>"
        ))
        .await?;
        let bound = self.next().await?;
        self.jid = bound
            .get_child("bind", BIND)
            .and_then(|b| b.get_child("jid", BIND))
            .map(Element::text)
            .context("bind result has no jid")?;
        Ok(())
    }

    pub async fn send(&mut self, s: &str) -> anyhow::Result<()> {
        self.io.write_all(s.as_bytes()).await?;
        Ok(self.io.flush().await?)
    }

    pub async fn event(&mut self) -> anyhow::Result<Event> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(ev);
            }
            let n = tokio::time::timeout(TIMEOUT, self.io.read(&mut buf))
                .await
                .context("timed out waiting for the server")??;
            if n == 0 {
                bail!("server closed the connection");
            }
            self.parser.feed(&buf[..n]);
        }
    }

    pub async fn next(&mut self) -> anyhow::Result<Element> {
        match self.event().await? {
            Event::Stanza(el) => Ok(el),
            other => bail!("expected an element, got {other:?}"),
        }
    }

    /// The next stanza named `name`, skipping others (presence from contacts, say).
    pub async fn next_named(&mut self, name: &str) -> anyhow::Result<Element> {
        loop {
            let el = self.next().await?;
            if el.name() == name {
                return Ok(el);
            }
        }
    }
}
