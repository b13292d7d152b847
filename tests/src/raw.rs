//! [`RawConn`]: a client that speaks bytes, for tests that must misbehave.
//!
//! Real clients cannot send malformed XML, oversized stanzas or entity bombs, so the abuse tests
//! drive the server through this: TCP (optionally upgraded with STARTTLS, RFC 6120 §5, or TLS from
//! the first byte, XEP-0368), `send` arbitrary bytes, and `read_until` a predicate holds, always
//! within a timeout. [`RawConn::login`] negotiates up to a bound resource (SCRAM via the
//! `sasl` crate, RFC 5802 and RFC 7677) so abuse can also come from an authenticated session.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use sasl::client::mechanisms::Scram;
use sasl::client::{Mechanism, MechanismError};
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::{ChannelBinding, Credentials};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::TIMEOUT;

/// The opening stream header a client sends (RFC 6120 §4.7).
pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

enum Transport {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A byte-level client connection. Everything it reads is kept as text until a `read_*` call
/// consumes it.
pub struct RawConn {
    transport: Option<Transport>,
    buf: Vec<u8>,
    eof: bool,
}

impl std::fmt::Debug for RawConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConn")
            .field("buffered", &self.buf.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl RawConn {
    /// Opens a plain TCP connection (for the STARTTLS listener).
    ///
    /// # Errors
    /// The connection is refused or times out.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .context("TCP connect timed out")??;
        Ok(Self {
            transport: Some(Transport::Tcp(tcp)),
            buf: Vec::new(),
            eof: false,
        })
    }

    /// Opens a TLS connection from the first byte (XEP-0368) and checks the certificate.
    ///
    /// # Errors
    /// Connect or handshake failures.
    pub async fn connect_direct_tls(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
    ) -> anyhow::Result<Self> {
        let mut conn = Self::connect(addr).await?;
        conn.upgrade(tls).await?;
        Ok(conn)
    }

    /// Connects to the STARTTLS listener and negotiates up to a bound resource.
    /// Returns the connection and the full JID the server bound.
    ///
    /// Uses SCRAM-SHA-256 if offered, else SCRAM-SHA-1 (no channel binding).
    ///
    /// # Errors
    /// Any negotiation step fails or times out.
    pub async fn login(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
        user: &str,
        password: &str,
        resource: &str,
    ) -> anyhow::Result<(Self, String)> {
        let (mut conn, _) = Self::authenticated(addr, tls, user, password).await?;
        let jid = conn.bind(resource).await?;
        Ok((conn, jid))
    }

    /// Connects to the STARTTLS listener, authenticates and opens the restarted stream, stopping
    /// before resource binding (where XEP-0198 resumption happens). Returns the connection and
    /// the features of the authenticated stream.
    ///
    /// # Errors
    /// Any negotiation step fails or times out.
    pub async fn authenticated(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
        user: &str,
        password: &str,
    ) -> anyhow::Result<(Self, String)> {
        let mut conn = Self::connect(addr).await?;
        conn.open_stream().await?;
        conn.starttls(tls).await?;
        let features = conn.open_stream().await?;
        let mechanism = if features.contains(">SCRAM-SHA-256<") {
            "SCRAM-SHA-256"
        } else {
            "SCRAM-SHA-1"
        };
        conn.authenticate(mechanism, user, password).await?;
        let features = conn.open_stream().await?;
        Ok((conn, features))
    }

    /// Connects to the STARTTLS listener, upgrades and opens the encrypted stream, stopping
    /// where authentication is offered. Returns the connection and those features.
    ///
    /// # Errors
    /// Any negotiation step fails or times out.
    pub async fn encrypted(
        addr: SocketAddr,
        tls: Arc<ClientConfig>,
    ) -> anyhow::Result<(Self, String)> {
        let mut conn = Self::connect(addr).await?;
        conn.open_stream().await?;
        conn.starttls(tls).await?;
        let features = conn.open_stream().await?;
        Ok((conn, features))
    }

    /// XEP-0388 SASL2 with SCRAM-SHA-256 (no channel binding): sends `<authenticate/>` with the
    /// initial response and `extra` (inline requests such as Bind 2's `<bind/>`, serialised),
    /// answers the challenge, verifies the server signature in `<additional-data/>` and reads up
    /// to the stream features that follow `<success/>` (§2.6.1). Returns everything read, from
    /// `<success>` on (with whatever followed in the same reads).
    ///
    /// # Errors
    /// `<failure/>` (its text is in the message), a bad server signature, or a timeout.
    pub async fn sasl2(
        &mut self,
        user: &str,
        password: &str,
        extra: &str,
    ) -> anyhow::Result<String> {
        let creds = Credentials::default()
            .with_username(user)
            .with_password(password)
            .with_channel_binding(ChannelBinding::None);
        let mut scram = Scram::<Sha256>::from_credentials(creds).map_err(scram_err)?;
        let initial = B64.encode(scram.initial());
        self.send(format!(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>\
             <initial-response>{initial}</initial-response>{extra}</authenticate>"
        ))
        .await?;
        let challenge = self
            .read_until("SASL2 challenge", |t| {
                closes_element(t, "challenge") || closes_element(t, "failure")
            })
            .await?;
        if closes_element(&challenge, "failure") {
            bail!("SASL2 failure: {}", excerpt(&challenge));
        }
        let data = B64
            .decode(
                element_text(&challenge, "challenge")
                    .unwrap_or_default()
                    .trim(),
            )
            .context("SASL2 challenge is not base64")?;
        let response = scram
            .response(&data)
            .map_err(|e| anyhow::anyhow!("SCRAM challenge: {e}"))?;
        self.send(format!(
            "<response xmlns='urn:xmpp:sasl:2'>{}</response>",
            B64.encode(response)
        ))
        .await?;
        let reply = self
            .read_until("SASL2 outcome", |t| {
                closes_element(t, "failure")
                    || (closes_element(t, "success") && closes_element(t, "features"))
            })
            .await?;
        if !closes_element(&reply, "success") {
            bail!("SASL2 failure: {}", excerpt(&reply));
        }
        let data = B64
            .decode(
                element_text(&reply, "additional-data")
                    .unwrap_or_default()
                    .trim(),
            )
            .context("SASL2 additional data is not base64")?;
        scram
            .success(&data)
            .map_err(|e| anyhow::anyhow!("server signature: {e}"))?;
        Ok(reply)
    }

    /// XEP-0484 FAST with HT-SHA-256-NONE: logs in with `token` in one round trip, sending
    /// `<fast/>` (with `fast_attrs`, e.g. ` invalidate='true'`) and `extra`; checks the server's
    /// proof and reads up to the features after `<success/>`. Returns what was read.
    ///
    /// # Errors
    /// `<failure/>` (its text is in the message), a wrong server proof, or a timeout.
    pub async fn sasl2_fast(
        &mut self,
        user: &str,
        token: &str,
        fast_attrs: &str,
        extra: &str,
    ) -> anyhow::Result<String> {
        self.sasl2_fast_with("HT-SHA-256-NONE", &[], user, token, fast_attrs, extra)
            .await
    }

    /// As [`RawConn::sasl2_fast`] with HT-SHA-256-EXPR: the proofs bound to this TLS connection
    /// (RFC 9266 `tls-exporter`, TLS 1.3).
    ///
    /// # Errors
    /// As [`RawConn::sasl2_fast`], or no exporter on this connection.
    pub async fn sasl2_fast_bound(
        &mut self,
        user: &str,
        token: &str,
        extra: &str,
    ) -> anyhow::Result<String> {
        let cb = self
            .tls_exporter()
            .context("no tls-exporter on this connection")?;
        self.sasl2_fast_with("HT-SHA-256-EXPR", &cb, user, token, "", extra)
            .await
    }

    /// The RFC 9266 `tls-exporter` value of this TLS 1.3 connection.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        let Some(Transport::Tls(s)) = self.transport.as_ref() else {
            return None;
        };
        let mut out = vec![0u8; 32];
        s.get_ref()
            .1
            .export_keying_material(&mut out, b"EXPORTER-Channel-Binding", None)
            .ok()?;
        Some(out)
    }

    async fn sasl2_fast_with(
        &mut self,
        mechanism: &str,
        cb: &[u8],
        user: &str,
        token: &str,
        fast_attrs: &str,
        extra: &str,
    ) -> anyhow::Result<String> {
        use hmac::Mac as _;
        let mac = |label: &[u8]| -> anyhow::Result<Vec<u8>> {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes())?;
            m.update(label);
            m.update(cb);
            Ok(m.finalize().into_bytes().to_vec())
        };
        let mut initial = format!("{user}\0").into_bytes();
        initial.extend(mac(b"Initiator")?);
        self.send(format!(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='{mechanism}'>\
             <initial-response>{}</initial-response><fast xmlns='urn:xmpp:fast:0'{fast_attrs}/>{extra}\
             </authenticate>",
            B64.encode(initial)
        ))
        .await?;
        let reply = self
            .read_until("FAST outcome", |t| {
                closes_element(t, "failure")
                    || (closes_element(t, "success") && closes_element(t, "features"))
            })
            .await?;
        if !closes_element(&reply, "success") {
            bail!("SASL2 failure: {}", excerpt(&reply));
        }
        let proof = B64
            .decode(
                element_text(&reply, "additional-data")
                    .unwrap_or_default()
                    .trim(),
            )
            .context("FAST additional data is not base64")?;
        if proof != mac(b"Responder")? {
            bail!("the server's FAST proof is wrong");
        }
        Ok(reply)
    }

    /// Writes raw bytes.
    ///
    /// # Errors
    /// The connection is gone.
    pub async fn send(&mut self, data: impl AsRef<[u8]>) -> anyhow::Result<()> {
        let data = data.as_ref();
        let write = async {
            match self.transport.as_mut().context("connection closed")? {
                Transport::Tcp(s) => s.write_all(data).await?,
                Transport::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await?;
                }
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(TIMEOUT, write)
            .await
            .context("write timed out")?
    }

    /// Reads until `pred` holds for the unconsumed text, then consumes and returns it.
    /// `what` names the wait in the error.
    ///
    /// # Errors
    /// [`TIMEOUT`] passes, or the server closes the connection first.
    pub async fn read_until(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            if pred(&text) {
                self.buf.clear();
                return Ok(text);
            }
            if self.eof {
                bail!(
                    "connection closed while waiting for {what}; got: {}",
                    excerpt(&text)
                );
            }
            if tokio::time::timeout_at(deadline, self.fill())
                .await
                .is_err()
            {
                bail!("timed out waiting for {what}; got: {}", excerpt(&text));
            }
        }
    }

    /// Reads until the unconsumed text contains `needle`.
    ///
    /// # Errors
    /// As [`RawConn::read_until`].
    pub async fn read_until_contains(&mut self, needle: &str) -> anyhow::Result<String> {
        self.read_until(needle, |t| t.contains(needle)).await
    }

    /// Reads until the server closes the connection; returns everything unconsumed.
    ///
    /// # Errors
    /// The server keeps the connection open past [`TIMEOUT`].
    pub async fn read_to_close(&mut self) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !self.eof {
            if tokio::time::timeout_at(deadline, self.fill())
                .await
                .is_err()
            {
                let text = String::from_utf8_lossy(&self.buf);
                bail!("server kept the connection open; got: {}", excerpt(&text));
            }
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        Ok(text)
    }

    /// Sends the stream header and reads up to the end of `<stream:features/>`; returns them.
    ///
    /// # Errors
    /// As [`RawConn::read_until`].
    pub async fn open_stream(&mut self) -> anyhow::Result<String> {
        self.send(STREAM_HEADER).await?;
        self.read_until("stream features", |t| closes_element(t, "features"))
            .await
    }

    /// Negotiates STARTTLS (RFC 6120 §5.4.2) and upgrades; the stream must be reopened next.
    ///
    /// # Errors
    /// The server does not `<proceed/>`, or the handshake fails.
    pub async fn starttls(&mut self, tls: Arc<ClientConfig>) -> anyhow::Result<()> {
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await?;
        let reply = self
            .read_until("STARTTLS answer", |t| {
                t.contains("<proceed") || t.contains("<failure")
            })
            .await?;
        if !reply.contains("<proceed") {
            bail!("STARTTLS refused: {}", excerpt(&reply));
        }
        self.upgrade(tls).await
    }

    /// SCRAM-SHA-1 or SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677, RFC 6120 §6.4).
    /// Verifies the server signature in `<success/>`; the stream must be reopened next.
    ///
    /// # Errors
    /// Another mechanism, `<failure/>` (its text is in the message), a bad server signature, or
    /// a timeout.
    pub async fn authenticate(
        &mut self,
        mechanism: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        let creds = Credentials::default()
            .with_username(user)
            .with_password(password)
            .with_channel_binding(ChannelBinding::None);
        let mut scram: Box<dyn Mechanism + Send> = match mechanism {
            "SCRAM-SHA-1" => Box::new(Scram::<Sha1>::from_credentials(creds).map_err(scram_err)?),
            "SCRAM-SHA-256" => {
                Box::new(Scram::<Sha256>::from_credentials(creds).map_err(scram_err)?)
            }
            other => bail!("RawConn does not speak {other}"),
        };
        let initial = B64.encode(scram.initial());
        self.send(format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{initial}</auth>"
        ))
        .await?;
        loop {
            let reply = self
                .read_until("SASL answer", |t| {
                    closes_element(t, "challenge")
                        || closes_element(t, "success")
                        || closes_element(t, "failure")
                })
                .await?;
            if closes_element(&reply, "failure") {
                bail!("SASL failure: {}", excerpt(&reply));
            }
            let success = closes_element(&reply, "success");
            let name = if success { "success" } else { "challenge" };
            let data = B64
                .decode(element_text(&reply, name).unwrap_or_default().trim())
                .context("SASL data is not base64")?;
            if success {
                return scram
                    .success(&data)
                    .map_err(|e| anyhow::anyhow!("server signature: {e}"));
            }
            let response = scram
                .response(&data)
                .map_err(|e| anyhow::anyhow!("SCRAM challenge: {e}"))?;
            self.send(format!(
                "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
                B64.encode(response)
            ))
            .await?;
        }
    }

    /// Binds `resource` (RFC 6120 §7); returns the full JID the server assigned.
    ///
    /// # Errors
    /// The server answers with an error or no `<jid/>`.
    pub async fn bind(&mut self, resource: &str) -> anyhow::Result<String> {
        self.send(format!(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>{resource}</resource></bind></iq>"
        ))
        .await?;
        let reply = self
            .read_until("bind result", |t| closes_element(t, "iq"))
            .await?;
        element_text(&reply, "jid")
            .map(str::to_owned)
            .with_context(|| format!("bind failed: {}", excerpt(&reply)))
    }

    /// Gives up the byte-level API for the TLS stream itself and whatever was read but not
    /// consumed (the load generator splits it into a reader and a writer).
    ///
    /// # Errors
    /// The connection is not TLS, or is gone.
    pub fn into_tls(self) -> anyhow::Result<(TlsStream<TcpStream>, Vec<u8>)> {
        match self.transport {
            Some(Transport::Tls(s)) => Ok((*s, self.buf)),
            _ => bail!("not a TLS connection"),
        }
    }

    /// The ALPN protocol negotiated on a TLS connection (XEP-0368 asks for `xmpp-client`).
    pub fn alpn(&self) -> Option<Vec<u8>> {
        match self.transport.as_ref()? {
            Transport::Tls(s) => s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec),
            Transport::Tcp(_) => None,
        }
    }

    async fn upgrade(&mut self, tls: Arc<ClientConfig>) -> anyhow::Result<()> {
        let Some(Transport::Tcp(tcp)) = self.transport.take() else {
            bail!("TLS is already up, or the connection is gone");
        };
        let name = ServerName::try_from(crate::DOMAIN)?.to_owned();
        let stream = tokio::time::timeout(TIMEOUT, TlsConnector::from(tls).connect(name, tcp))
            .await
            .context("TLS handshake timed out")?
            .context("TLS handshake")?;
        self.transport = Some(Transport::Tls(Box::new(stream)));
        Ok(())
    }

    /// Reads once into the buffer. Cancel-safe: a cancelled read loses no data.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let read = match self.transport.as_mut() {
            Some(Transport::Tcp(s)) => s.read(&mut chunk).await,
            Some(Transport::Tls(s)) => s.read(&mut chunk).await,
            None => Ok(0),
        };
        match read {
            Ok(0) | Err(_) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn scram_err(e: MechanismError) -> anyhow::Error {
    anyhow::anyhow!("SCRAM client: {e}")
}

/// Whether `text` holds the end of an element named `local` (any prefix): `</p:local>`,
/// `</local>` or a self-closing `<p:local .../>`.
pub fn closes_element(text: &str, local: &str) -> bool {
    text.match_indices(local).any(|(at, _)| {
        let after = &text[at + local.len()..];
        let before = &text[..at];
        let tag_start = before.rfind('<');
        let Some(start) = tag_start else {
            return false;
        };
        let name = &before[start + 1..];
        let prefix_ok = |n: &str| n.is_empty() || (n.ends_with(':') && !n.contains([' ', '>']));
        if let Some(closing) = name.strip_prefix('/') {
            return prefix_ok(closing) && after.starts_with('>');
        }
        // A self-closing start tag: `<p:local` then attributes then `/>` before any `>`.
        prefix_ok(name)
            && after.starts_with([' ', '/', '\t', '\n'])
            && after.find('>').is_some_and(|gt| after[..gt].ends_with('/'))
    })
}

/// The text content of the first `<local ...>text</local>` (any prefix on the start tag).
pub fn element_text<'t>(text: &'t str, local: &str) -> Option<&'t str> {
    let open = text.find(&format!("<{local}")).or_else(|| {
        text.find(&format!(":{local}"))
            .and_then(|i| text[..i].rfind('<'))
    })?;
    let body_start = open + text[open..].find('>')? + 1;
    if text[..body_start].ends_with("/>") {
        return Some("");
    }
    let body_end = body_start + text[body_start..].find("</")?;
    Some(&text[body_start..body_end])
}

/// At most 2000 characters of received text for an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 2000;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_element_sees_closing_and_self_closing_tags() {
        assert!(closes_element(
            "<stream:features><x/></stream:features>",
            "features"
        ));
        assert!(closes_element("<stream:features/>", "features"));
        assert!(closes_element("<success xmlns='a'/>", "success"));
        assert!(!closes_element("<stream:features><starttls", "features"));
        assert!(!closes_element("<success xmlns='a'>dj1", "success"));
        assert!(closes_element("<iq type='result'><bind/></iq>", "iq"));
    }

    #[test]
    fn element_text_reads_bodies() {
        let reply = "<iq><bind xmlns='b'><jid>a@localhost/r</jid></bind></iq>";
        assert_eq!(element_text(reply, "jid"), Some("a@localhost/r"));
        assert_eq!(element_text("<success xmlns='s'/>", "success"), Some(""));
        assert_eq!(
            element_text("<challenge xmlns='s'>cj1</challenge>", "challenge"),
            Some("cj1")
        );
    }
}
