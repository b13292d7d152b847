//! `sasl`: the server side of `tessera_sasl` fed arbitrary bytes at each step of a real exchange,
//! against one fixed stored credential (`juliet` / `pencil`, fixed salt, 4096 iterations).
//!
//! Input: `[mode, config, bytes…]`. `config` picks the mechanism (SCRAM-SHA-1/-256, their -PLUS
//! variants, PLAIN), whether the account exists, whether the stream has `tls-exporter` data and
//! whether -PLUS was advertised. `mode`:
//! - 0: client-first and client-final both arbitrary (`bytes` split at the first 0xFF, which
//!   never occurs in UTF-8);
//! - 1: the real client-first, then an arbitrary client-final;
//! - 2: the real client-first, then the real client-final edited by `bytes` (pairs of
//!   position/byte: overwrite, insert or delete);
//! - 3: `bytes` as the base64 text of an `<auth/>`/`<response/>` (RFC 6120 §6.4.2), decoded as the
//!   host decodes it and used as the client-first message.
//!
//! PLAIN gets `bytes` as its one message. Checked, besides "never panics": the server accepts a
//! client-final iff it is byte for byte the real one, the account exists and the binding matches,
//! and then answers the real server-final; SCRAM output is deterministic for fixed nonces; the
//! base64 framing round-trips; a parsed PLAIN message has no NUL and nothing empty in it.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_sasl::{
    ChannelBinding, HashAlg, MIN_ITERATIONS, Mechanism, SaslError, ScramClient, ScramKeys,
    ScramServer, decode_payload, encode_payload, parse_plain,
};

const USER: &str = "juliet";
const PASSWORD: &str = "pencil";
const SALT: &[u8] = b"tessera-fuzz-slt";
const CLIENT_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_NONCE: &str = "3rfcNHYJY1ZVvWVs7j";
const EXPORTER: [u8; 32] = [0x5a; 32];

const MECHS: [Mechanism; 5] = [
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256Plus,
    Mechanism::Plain,
];

fn keys(alg: HashAlg) -> &'static ScramKeys {
    static SHA1: OnceLock<ScramKeys> = OnceLock::new();
    static SHA256: OnceLock<ScramKeys> = OnceLock::new();
    // `HashAlg` is non-exhaustive: a new hash gets SHA-256's keys, which `server_first`
    // refuses as keys for the wrong hash (the decoy path), so nothing is wrongly accepted.
    let cell = if alg == HashAlg::Sha1 { &SHA1 } else { &SHA256 };
    cell.get_or_init(|| {
        tessera_sasl::derive_keys(alg, PASSWORD, SALT, MIN_ITERATIONS).expect("fixed credential")
    })
}

/// One real exchange, computed once per (mechanism, binding data present) with the real client.
struct Real {
    client_first: Vec<u8>,
    server_first: Vec<u8>,
    client_final: Vec<u8>,
    server_final: Vec<u8>,
}

fn real(mech_index: usize, cb_present: bool) -> Option<&'static Real> {
    static CACHE: [OnceLock<Option<Real>>; 8] = [const { OnceLock::new() }; 8];
    CACHE[mech_index * 2 + usize::from(cb_present)]
        .get_or_init(|| {
            let mech = MECHS[mech_index];
            let alg = mech.hash()?;
            let cb_data = cb_present.then(|| EXPORTER.to_vec());
            let mut client =
                ScramClient::with_nonce(mech, USER, PASSWORD, cb_data.clone(), CLIENT_NONCE)
                    .ok()?;
            let cb = ChannelBinding {
                tls_exporter: cb_data,
                plus_advertised: false,
            };
            let client_first = client.client_first();
            let server = ScramServer::with_nonce(mech, cb, SERVER_NONCE)
                .expect("real exchange: server")
                .client_first(&client_first)
                .expect("real exchange: client-first");
            let (server, server_first) = server.server_first(Some(keys(alg)));
            let client_final = client
                .handle_server_first(&server_first)
                .expect("real exchange: server-first");
            let (server_final, user) = server
                .client_final(&client_final)
                .expect("real exchange: client-final");
            assert_eq!(user, USER);
            client
                .verify_server_final(&server_final)
                .expect("real exchange: server-final");
            Some(Real {
                client_first,
                server_first,
                client_final,
                server_final,
            })
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let [mode, config, bytes @ ..] = data else {
        return;
    };
    let mech_index = usize::from(config % 5);
    let mech = MECHS[mech_index];
    let known = config & 0x10 != 0;
    let cb_present = config & 0x20 != 0;
    let plus_advertised = config & 0x40 != 0;

    let Some(alg) = mech.hash() else {
        plain(bytes);
        return;
    };
    let cb = ChannelBinding {
        tls_exporter: cb_present.then(|| EXPORTER.to_vec()),
        plus_advertised,
    };
    let server = match ScramServer::with_nonce(mech, cb, SERVER_NONCE) {
        Ok(s) => s,
        Err(e) => {
            // Only a -PLUS mechanism without binding data may be refused up front.
            assert!(matches!(e, SaslError::InvalidMechanism));
            assert!(mech.is_plus() && !cb_present);
            return;
        }
    };
    let real = real(mech_index, cb_present);

    let (client_first, client_final): (Vec<u8>, Vec<u8>) = match mode % 4 {
        0 => {
            let mut parts = bytes.splitn(2, |b| *b == 0xFF);
            let first = parts.next().unwrap_or_default().to_vec();
            let last = parts.next().unwrap_or_default().to_vec();
            (first, last)
        }
        1 => {
            let Some(real) = real else { return };
            (real.client_first.clone(), bytes.to_vec())
        }
        2 => {
            let Some(real) = real else { return };
            (real.client_first.clone(), edit(&real.client_final, bytes))
        }
        _ => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            let Ok(decoded) = decode_payload(text) else {
                return;
            };
            // The framing round-trips: what we would send decodes to what we meant.
            assert_eq!(
                decode_payload(&encode_payload(&decoded)).as_deref(),
                Ok(&decoded[..])
            );
            (decoded, Vec::new())
        }
    };

    let first = match server.client_first(&client_first) {
        Ok(first) => first,
        Err(e) => {
            assert!(!e.condition().is_empty());
            return;
        }
    };
    assert_eq!(first.mechanism(), mech);
    assert!(!first.username().is_empty());
    let username = first.username().to_owned();
    let (server, server_first) = first.server_first(known.then(|| keys(alg)));
    assert_eq!(server.username(), username);
    let replaying_real = real.is_some_and(|r| r.client_first == client_first);
    if known && let Some(real) = real.filter(|_| replaying_real) {
        // Fixed nonces and keys: the server's challenge is reproducible.
        assert_eq!(server_first, real.server_first);
    }

    match server.client_final(&client_final) {
        Ok((server_final, user)) => {
            let real = real.expect("accepted without a real exchange to match");
            assert!(known, "an unknown account authenticated");
            assert!(replaying_real, "accepted after a forged client-first");
            assert_eq!(client_final, real.client_final, "accepted a forged proof");
            assert_eq!(server_final, real.server_final);
            assert_eq!(user, USER);
        }
        Err(e) => {
            assert!(!e.condition().is_empty());
            if let Some(real) = real
                && known
                && replaying_real
                && client_final == real.client_final
            {
                panic!("the real client-final was refused: {e:?}");
            }
        }
    }
});

/// Edits `base` by (position, byte) pairs: a byte below 0x20 deletes, 0x20..0x80 overwrites,
/// anything above inserts (its low seven bits). Positions wrap around the current length.
fn edit(base: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for op in ops.chunks_exact(2) {
        let (pos, byte) = (usize::from(op[0]), op[1]);
        let len = out.len().max(1);
        let at = pos % len;
        match byte {
            0x00..0x20 if at < out.len() => {
                out.remove(at);
            }
            0x20..0x80 if at < out.len() => out[at] = byte,
            _ => out.insert(at.min(out.len()), byte & 0x7f),
        }
    }
    out
}

/// PLAIN (RFC 4616 §2): one message. A parse yields non-empty, NUL-free identities.
fn plain(bytes: &[u8]) {
    match parse_plain(bytes) {
        Ok(req) => {
            assert!(!req.username.is_empty() && !req.username.contains('\0'));
            assert!(!req.password.is_empty() && !req.password.contains('\0'));
            if let Some(authzid) = &req.authzid {
                assert!(!authzid.is_empty() && !authzid.contains('\0'));
            }
        }
        Err(e) => assert!(!e.condition().is_empty()),
    }
}
