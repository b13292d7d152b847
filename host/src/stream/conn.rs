//! A connection: the transport, the incremental parser and the stream's own bookkeeping.

use std::time::Duration;

use bytes::BytesMut;
use tessera_xml::{Event, StreamParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ConnError;
use super::transport::Transport;

/// Read chunk while a stanza is arriving: large enough for typical stanzas in one read.
const READ_CHUNK: usize = 4096;
/// The buffer kept between stanzas, where an idle session spends its life: 19 000 idle sessions
/// holding a full chunk each would be 75 MiB. A read that fills it is followed at once by
/// full-chunk reads (the TLS layer already holds the rest of the record).
const IDLE_READ: usize = 512;

pub(crate) struct Conn {
    pub(crate) io: Transport,
    pub(crate) parser: StreamParser,
    write_timeout: Duration,
    /// Our stream header went out, so a stream error can be sent as is (RFC 6120 §4.9.1.1).
    pub(crate) header_sent: bool,
}

impl Conn {
    pub(crate) fn new(io: Transport, parser: StreamParser, write_timeout: Duration) -> Self {
        Self {
            io,
            parser,
            write_timeout,
            header_sent: false,
        }
    }

    /// The next parsed event, reading as needed.
    ///
    /// # Cancel safety
    /// Cancel safe: its only await is `read_buf`, and bytes read are fed to the parser before the
    /// next await, so nothing is lost if the future is dropped.
    pub(crate) async fn next_event(&mut self) -> Result<Event, ConnError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(ev);
            }
            self.fill().await?;
        }
    }

    /// The next top-level element during negotiation, where a stream close ends the connection
    /// and a second stream header is a protocol error.
    ///
    /// # Cancel safety
    /// Cancel safe (see [`Conn::next_event`]).
    pub(crate) async fn next_element(&mut self) -> Result<minidom::Element, ConnError> {
        match self.next_event().await? {
            Event::Stanza(el) => Ok(el),
            Event::StreamClose => Err(ConnError::PeerClosed),
            Event::StreamOpen(_) => Err(ConnError::stream(
                "not-well-formed",
                "stream header inside stream",
            )),
        }
    }

    /// Takes the connection out, leaving an empty one whose I/O fails (a resumption hands the
    /// connection to the session it resumes).
    pub(crate) fn take(&mut self) -> Self {
        let empty = Self::new(
            Transport::Upgrading,
            StreamParser::new(tessera_xml::Limits::default()),
            self.write_timeout,
        );
        std::mem::replace(self, empty)
    }

    /// Reads once from the transport into the parser, straight into its buffer (no copy).
    ///
    /// # Cancel safety
    /// Cancel safe (see [`Conn::next_event`]): `read_buf` appends all it read or nothing.
    pub(crate) async fn fill(&mut self) -> Result<(), ConnError> {
        let buf = self.parser.buffer_mut();
        if buf.is_empty() {
            // Between stanzas: give back a grown buffer (see `IDLE_READ`).
            if buf.capacity() != IDLE_READ {
                *buf = BytesMut::with_capacity(IDLE_READ);
            }
        } else if buf.capacity() - buf.len() < READ_CHUNK / 2 {
            buf.reserve(READ_CHUNK);
        }
        let n = self.io.read_buf(buf).await?;
        if n == 0 {
            return Err(ConnError::Eof);
        }
        Ok(())
    }

    /// Writes and flushes, within the write deadline (a peer that stops reading cannot hold us).
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let io = &mut self.io;
        tokio::time::timeout(self.write_timeout, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        .map_err(|_| ConnError::Timeout("write"))??;
        Ok(())
    }

    /// Sends the stream error for `err` (if any can be sent), closes the stream and the transport.
    /// Best effort: the peer may already be gone.
    pub(crate) async fn close(&mut self, err: Option<&ConnError>, domain: &str) {
        let mut out = Vec::new();
        if let Some(condition) = err.and_then(ConnError::condition) {
            if !self.header_sent {
                // RFC 6120 §4.9.1.1: even an error triggered by the initial header is preceded by
                // our own stream header.
                out.extend_from_slice(&tessera_xml::stream_header(
                    domain,
                    None,
                    &super::negotiate::new_stream_id(),
                    "en",
                ));
            }
            let error = tessera_xml::stream_error(condition, None);
            // RFC 6120 §4.9.4: an application-specific condition follows the defined one.
            const END: &[u8] = b"</stream:error></stream:stream>";
            match (
                err.and_then(ConnError::application_condition),
                error.strip_suffix(END),
            ) {
                (Some(app), Some(head)) => {
                    out.extend_from_slice(head);
                    out.extend_from_slice(app.as_bytes());
                    out.extend_from_slice(END);
                }
                _ => out.extend_from_slice(&error),
            }
        } else if self.header_sent {
            out.extend_from_slice(tessera_xml::STREAM_CLOSE);
        }
        if !out.is_empty() {
            let _ = self.write(&out).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.io.shutdown()).await;
        // Closing a socket with unread input makes the kernel send a RST, which can destroy the
        // stream error still in flight (the oversized stanza's tail, typically). Read and discard
        // briefly, bounded in time and bytes, so the peer gets to read why it was closed.
        // The sink is on the heap: an array here would sit in every connection task's future for
        // the whole session (the task's state machine is as large as its largest state), 4 KiB
        // per idle session for a buffer only used while closing.
        let drain = async {
            let mut sink = vec![0u8; 4096];
            let mut left: usize = 1 << 20;
            while left > 0 {
                match self.io.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }
}
