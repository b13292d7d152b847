//! SCRAM (RFC 5802, RFC 7677) with `tls-exporter` channel binding (RFC 9266): the message grammar
//! of RFC 5802 §7 shared by both sides.
//!
//! - [`server`]: the server exchange as a typestate, `ScramServer → ClientFirst → ServerFirst`.
//! - [`client`]: the client exchange, for tests and the load generator.
//!
//! Messages are handled as the raw bytes inside the base64 payload; the host does the base64 of
//! RFC 6120 §6.4.2 with [`decode_payload`](crate::decode_payload).

pub(crate) mod client;
pub(crate) mod server;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;

use crate::SaslError;

/// The only channel binding type we support: RFC 9266, the one defined for TLS 1.3 (and for
/// TLS 1.2 with extended master secret, which the host must ensure before supplying data).
pub(crate) const TLS_EXPORTER: &str = "tls-exporter";

/// What the host knows about the TLS channel, for SCRAM's channel binding (RFC 5802 §6).
#[derive(Clone, Default)]
pub struct ChannelBinding {
    /// The RFC 9266 `tls-exporter` value: 32 bytes exported with label
    /// `EXPORTER-Channel-Binding` and an empty context. `None` without TLS, or on a TLS 1.2
    /// session lacking extended master secret (RFC 9266 §3).
    pub tls_exporter: Option<Vec<u8>>,
    /// Whether this stream's `<mechanisms/>` offered any -PLUS mechanism. If it did, a client
    /// answering with gs2 flag `y` has been downgraded (RFC 5802 §6).
    pub plus_advertised: bool,
}

impl std::fmt::Debug for ChannelBinding {
    // The exporter value is key material for this session: show only whether there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBinding")
            .field(
                "tls_exporter",
                &self.tls_exporter.as_ref().map(|_| "<redacted>"),
            )
            .field("plus_advertised", &self.plus_advertised)
            .finish()
    }
}

/// The gs2 channel binding flag (RFC 5802 §7 `gs2-cbind-flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CbFlag<'a> {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports it but believes the server does not.
    ClientOnly,
    /// `p=<cb-name>`: the client binds with this type.
    Bound(&'a str),
}

/// A parsed `gs2-header` (RFC 5802 §7, RFC 5801 §4).
#[derive(Debug)]
pub(crate) struct Gs2Header<'a> {
    pub(crate) flag: CbFlag<'a>,
    pub(crate) authzid: Option<String>,
    /// The header exactly as sent, up to and including its second comma: `c=` must echo it.
    pub(crate) raw: &'a str,
}

/// Splits a client-first message into its gs2 header and the bare message.
pub(crate) fn parse_gs2_header(msg: &str) -> Result<(Gs2Header<'_>, &str), SaslError> {
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(SaslError::malformed("no gs2 header"))?;
    let (authz, bare) = rest
        .split_once(',')
        .ok_or(SaslError::malformed("gs2 header is incomplete"))?;
    // Both commas are ASCII, so this is a char boundary.
    let raw = &msg[..flag.len() + authz.len() + 2];
    let flag = match flag {
        "n" => CbFlag::None,
        "y" => CbFlag::ClientOnly,
        _ => {
            let name = flag
                .strip_prefix("p=")
                .ok_or(SaslError::malformed("bad gs2 channel binding flag"))?;
            // RFC 5056 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-").
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                return Err(SaslError::malformed("bad channel binding name"));
            }
            CbFlag::Bound(name)
        }
    };
    let authzid = match authz {
        "" => None,
        _ => {
            let value = authz
                .strip_prefix("a=")
                .ok_or(SaslError::malformed("bad gs2 authzid"))?;
            Some(decode_saslname(value)?)
        }
    };
    Ok((Gs2Header { flag, authzid, raw }, bare))
}

/// Decodes a `saslname` (RFC 5802 §5.1): `=2C` is `,`, `=3D` is `=`, any other `=` is an error,
/// as is an empty name or NUL.
pub(crate) fn decode_saslname(value: &str) -> Result<String, SaslError> {
    if value.is_empty() {
        return Err(SaslError::malformed("empty saslname"));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::malformed("bad '=' escape in saslname")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.contains('\0') {
        return Err(SaslError::malformed("NUL in saslname"));
    }
    Ok(out)
}

/// Encodes a `saslname` (RFC 5802 §5.1), the inverse of [`decode_saslname`].
pub(crate) fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Returns the value of attribute `name` (`name=value`), or fails with `missing`.
pub(crate) fn attr<'a>(
    part: Option<&'a str>,
    name: u8,
    missing: &'static str,
) -> Result<&'a str, SaslError> {
    part.and_then(|p| p.strip_prefix(name as char))
        .and_then(|p| p.strip_prefix('='))
        .ok_or(SaslError::malformed(missing))
}

/// Checks the attributes that may follow the mandatory ones (RFC 5802 §7 `extensions`):
/// well-formed `attr-val`s are ignored, as the RFC lets optional extensions be, but the reserved
/// mandatory-extension attribute `m` is refused.
pub(crate) fn check_extensions<'a>(rest: impl Iterator<Item = &'a str>) -> Result<(), SaslError> {
    for ext in rest {
        let mut bytes = ext.bytes();
        match (bytes.next(), bytes.next()) {
            (Some(b'm'), Some(b'=')) => return Err(SaslError::UnsupportedExtension),
            (Some(a), Some(b'=')) if a.is_ascii_alphabetic() => {}
            _ => return Err(SaslError::malformed("bad attribute")),
        }
    }
    Ok(())
}

/// Checks a nonce is `printable` (RFC 5802 §7: `%x21-2B / %x2D-7E`, i.e. visible ASCII but `,`).
pub(crate) fn check_nonce(nonce: &str) -> Result<(), SaslError> {
    if nonce.is_empty()
        || !nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(SaslError::malformed("bad nonce"));
    }
    Ok(())
}

/// A fresh nonce: 18 random bytes, base64 (24 printable characters without `,`).
pub(crate) fn new_nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// Decodes a base64 attribute value, naming the attribute on failure.
pub(crate) fn b64(value: &str, field: &'static str) -> Result<Vec<u8>, SaslError> {
    STANDARD
        .decode(value)
        .map_err(|_| SaslError::IncorrectEncoding { field })
}

/// Refuses non-UTF-8 messages: every SCRAM message is UTF-8 (RFC 5802 §7).
pub(crate) fn utf8(msg: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(msg).map_err(|_| SaslError::malformed("SCRAM message is not UTF-8"))
}
