//! The server side of SCRAM (RFC 5802 §5) as a typestate: each step consumes the previous one,
//! so a message can only be handled in the state that awaits it (as rustls' `Expect*` states).
//!
//! ```text
//! ScramServer ──client_first(msg)──▶ ClientFirst ──server_first(keys)──▶ ServerFirst
//!     ──client_final(msg)──▶ (server-final message, username)
//! ```
//!
//! The host looks the account up between `client_first` and `server_first`; for an unknown
//! account it passes `None` and the exchange carries on with decoy keys, failing only at
//! `client_final`, exactly where a wrong password fails (RFC 5802 §9 asks servers not to reveal
//! account existence).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{
    CbFlag, ChannelBinding, TLS_EXPORTER, attr, b64, check_extensions, check_nonce,
    decode_saslname, new_nonce, parse_gs2_header, utf8,
};
use crate::creds::SALT_LEN;
use crate::{HashAlg, MIN_ITERATIONS, Mechanism, SaslError, ScramKeys, hash};

/// A SCRAM exchange waiting for the client-first message.
pub struct ScramServer {
    mech: Mechanism,
    alg: HashAlg,
    cb: ChannelBinding,
    fixed_nonce: Option<String>,
    decoy_iterations: u32,
}

impl ScramServer {
    /// Starts an exchange for a SCRAM mechanism the client selected.
    ///
    /// # Errors
    /// [`SaslError::InvalidMechanism`] for PLAIN, or for a -PLUS mechanism when `cb` carries no
    /// exporter data (it must not have been offered).
    pub fn new(mech: Mechanism, cb: ChannelBinding) -> Result<Self, SaslError> {
        let alg = mech.hash().ok_or(SaslError::InvalidMechanism)?;
        if mech.is_plus() && cb.tls_exporter.is_none() {
            return Err(SaslError::InvalidMechanism);
        }
        Ok(Self {
            mech,
            alg,
            cb,
            fixed_nonce: None,
            decoy_iterations: MIN_ITERATIONS,
        })
    }

    /// As [`ScramServer::new`] with a fixed server nonce, for test vectors only.
    ///
    /// # Errors
    /// As [`ScramServer::new`].
    #[doc(hidden)]
    pub fn with_nonce(mech: Mechanism, cb: ChannelBinding, nonce: &str) -> Result<Self, SaslError> {
        let mut server = Self::new(mech, cb)?;
        server.fixed_nonce = Some(nonce.to_owned());
        Ok(server)
    }

    /// Sets the iteration count announced for unknown accounts (default [`MIN_ITERATIONS`]).
    /// Set it to the count real accounts are derived with, or the count gives the decoy away.
    #[must_use]
    pub fn decoy_iterations(mut self, iterations: u32) -> Self {
        self.decoy_iterations = iterations;
        self
    }

    /// Handles the client-first message (RFC 5802 §5.1, §7 `client-first-message`).
    ///
    /// # Errors
    /// [`SaslError::MalformedRequest`] for anything off-grammar (including empty input);
    /// [`SaslError::UnsupportedExtension`] for `m=`; [`SaslError::Saslprep`] for a username
    /// SASLprep refuses; [`SaslError::ChannelBindingDowngrade`] for flag `y` after we offered
    /// -PLUS; [`SaslError::UnsupportedChannelBinding`] when the flag does not fit the mechanism.
    pub fn client_first(self, msg: &[u8]) -> Result<ClientFirst, SaslError> {
        let text = utf8(msg)?;
        let (gs2, bare) = parse_gs2_header(text)?;

        // RFC 5802 §6 and RFC 9266: which flag goes with which mechanism.
        let cb_data: &[u8] = match (gs2.flag, self.mech.is_plus()) {
            (CbFlag::None, false) => &[],
            (CbFlag::ClientOnly, false) if self.cb.plus_advertised => {
                return Err(SaslError::ChannelBindingDowngrade);
            }
            (CbFlag::ClientOnly, false) => &[],
            (CbFlag::Bound(TLS_EXPORTER), true) => self
                .cb
                .tls_exporter
                .as_deref()
                .ok_or(SaslError::UnsupportedChannelBinding)?,
            (CbFlag::Bound(_), _) | (CbFlag::None | CbFlag::ClientOnly, true) => {
                return Err(SaslError::UnsupportedChannelBinding);
            }
        };

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        let mut parts = bare.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(SaslError::UnsupportedExtension);
        }
        let username = decode_saslname(attr(first, b'n', "expected username n=")?)?;
        let username = stringprep::saslprep(&username)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or(SaslError::Saslprep { field: "username" })?
            .into_owned();
        let client_nonce = attr(parts.next(), b'r', "expected nonce r=")?;
        check_nonce(client_nonce)?;
        check_extensions(parts)?;

        let mut expected_cb = gs2.raw.as_bytes().to_vec();
        expected_cb.extend_from_slice(cb_data);
        Ok(ClientFirst {
            mech: self.mech,
            alg: self.alg,
            fixed_nonce: self.fixed_nonce,
            decoy_iterations: self.decoy_iterations,
            expected_cb,
            authzid: gs2.authzid,
            username,
            bare: bare.to_owned(),
            client_nonce: client_nonce.to_owned(),
        })
    }
}

/// A SCRAM exchange that has read the client-first message and waits for the host to look the
/// account up.
pub struct ClientFirst {
    mech: Mechanism,
    alg: HashAlg,
    fixed_nonce: Option<String>,
    decoy_iterations: u32,
    expected_cb: Vec<u8>,
    authzid: Option<String>,
    username: String,
    bare: String,
    client_nonce: String,
}

impl ClientFirst {
    /// The SASLprep'd authentication identity; the host nodepreps it and looks it up.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The authorization identity from the gs2 header, if any (a JID in XMPP; not prepared).
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    /// Produces the server-first message (RFC 5802 §5.1) from the account's keys for this
    /// mechanism's hash.
    ///
    /// `None` means there is no such account: the exchange continues with a salt derived from a
    /// per-process secret and the username (so it is stable across attempts, like a real one)
    /// and fails with [`SaslError::NotAuthorized`] at [`ServerFirst::client_final`]. Keys for the
    /// wrong hash are treated the same way, failing closed.
    pub fn server_first(self, keys: Option<&ScramKeys>) -> (ServerFirst, Vec<u8>) {
        let real = keys.filter(|k| k.alg == self.alg);
        let decoy;
        let keys = match real {
            Some(keys) => keys,
            None => {
                decoy = decoy_keys(self.alg, &self.username, self.decoy_iterations);
                &decoy
            }
        };
        let server_nonce = self.fixed_nonce.unwrap_or_else(new_nonce);
        let nonce = format!("{}{server_nonce}", self.client_nonce);
        let message = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&keys.salt),
            keys.iterations
        );
        let state = ServerFirst {
            mech: self.mech,
            alg: self.alg,
            known: real.is_some(),
            expected_cb: self.expected_cb,
            auth_prefix: format!("{},{message},", self.bare),
            nonce,
            stored_key: Zeroizing::new(keys.stored_key.clone()),
            server_key: Zeroizing::new(keys.server_key.clone()),
            authzid: self.authzid,
            username: self.username,
        };
        (state, message.into_bytes())
    }
}

/// A SCRAM exchange that has sent the server-first message and waits for the client-final one.
pub struct ServerFirst {
    mech: Mechanism,
    alg: HashAlg,
    known: bool,
    expected_cb: Vec<u8>,
    /// `client-first-message-bare + "," + server-first-message + ","`, the start of AuthMessage.
    auth_prefix: String,
    nonce: String,
    stored_key: Zeroizing<Vec<u8>>,
    server_key: Zeroizing<Vec<u8>>,
    authzid: Option<String>,
    username: String,
}

impl ServerFirst {
    /// The SASLprep'd authentication identity.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The authorization identity from the gs2 header, if any.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Checks the client-final message (RFC 5802 §5.1, §7 `client-final-message`) and returns
    /// the server-final message (`v=…`, to send in `<success/>`) and the authenticated username.
    ///
    /// # Errors
    /// [`SaslError::MalformedRequest`] / [`SaslError::IncorrectEncoding`] for bad input or a
    /// nonce that is not ours; [`SaslError::ChannelBindingMismatch`] if `c=` is not the gs2
    /// header plus our exporter data; [`SaslError::NotAuthorized`] for a wrong proof or an
    /// unknown account.
    pub fn client_final(self, msg: &[u8]) -> Result<(Vec<u8>, String), SaslError> {
        let text = utf8(msg)?;
        // The proof is the last attribute and values never contain ',' (RFC 5802 §7).
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(SaslError::malformed("expected proof p="))?;
        let mut parts = without_proof.split(',');
        let cb = b64(
            attr(parts.next(), b'c', "expected channel binding c=")?,
            "channel-binding",
        )?;
        let nonce = attr(parts.next(), b'r', "expected nonce r=")?;
        check_extensions(parts)?;
        // RFC 5802 §6: c= carries the gs2 header, then the binding data if the flag was p.
        if !bool::from(cb.ct_eq(&self.expected_cb)) {
            return Err(SaslError::ChannelBindingMismatch);
        }
        if nonce != self.nonce {
            return Err(SaslError::malformed("nonce does not match"));
        }
        let proof = b64(proof, "proof")?;
        if proof.len() != self.alg.output_len() {
            return Err(SaslError::malformed("proof has the wrong length"));
        }

        // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and the proof
        // holds iff H(ClientKey) = StoredKey. The decoy path computes the same, then fails.
        let auth_message = format!("{}{without_proof}", self.auth_prefix);
        let client_signature = hash::hmac(self.alg, &self.stored_key, auth_message.as_bytes());
        let client_key = Zeroizing::new(hash::xor(&proof, &client_signature));
        let matches = hash::digest(self.alg, &client_key).ct_eq(&self.stored_key);
        if !bool::from(matches & subtle::Choice::from(u8::from(self.known))) {
            return Err(SaslError::NotAuthorized);
        }
        let server_signature = hash::hmac(self.alg, &self.server_key, auth_message.as_bytes());
        let server_final = format!("v={}", STANDARD.encode(server_signature));
        Ok((server_final.into_bytes(), self.username))
    }
}

/// Keys for an account that does not exist (RFC 5802 §9: the salt of an unknown user should look
/// like a real one). The salt is deterministic per username, so asking twice gives the same
/// answer as for a real account, until the process restarts. The username is lowercased first:
/// the host's nodeprep (RFC 7613) folds case, so real accounts answer "Alice" and "alice" alike.
fn decoy_keys(alg: HashAlg, username: &str, iterations: u32) -> ScramKeys {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    let secret = SECRET.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        secret
    });
    let label: &[u8] = match alg {
        HashAlg::Sha1 => b"tessera decoy sha1\0",
        HashAlg::Sha256 => b"tessera decoy sha256\0",
    };
    let mut input = label.to_vec();
    input.extend_from_slice(username.to_lowercase().as_bytes());
    let mut salt = hash::hmac(HashAlg::Sha256, secret, &input);
    salt.truncate(SALT_LEN);
    ScramKeys {
        alg,
        salt,
        iterations,
        stored_key: hash::hmac(alg, secret, b"tessera decoy stored key"),
        server_key: hash::hmac(alg, secret, b"tessera decoy server key"),
    }
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramServer")
            .field("mech", &self.mech)
            .field("cb", &self.cb)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientFirst {
    // No username, nonce or binding data: SASL data stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFirst")
            .field("mech", &self.mech)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ServerFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFirst")
            .field("mech", &self.mech)
            .finish_non_exhaustive()
    }
}
