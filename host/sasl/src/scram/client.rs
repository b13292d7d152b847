//! The client side of SCRAM (RFC 5802 §5), for tests and the load generator.
//!
//! One value walks through the exchange: [`ScramClient::client_first`], then
//! [`ScramClient::handle_server_first`], then [`ScramClient::verify_server_final`]. Calling them
//! out of order, or again after a failure, is an error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{
    TLS_EXPORTER, attr, b64, check_extensions, check_nonce, encode_saslname, new_nonce, utf8,
};
use crate::creds::prep_password;
use crate::{HashAlg, MIN_ITERATIONS, Mechanism, SaslError, ScramKeys, hash};

/// The most PBKDF2 iterations a client computes: a hostile server must not make it spin for
/// minutes. Real deployments use thousands to a few hundred thousand.
const MAX_ITERATIONS: u32 = 10_000_000;

/// A client-side SCRAM exchange.
pub struct ScramClient {
    mech: Mechanism,
    alg: HashAlg,
    password: Zeroizing<String>,
    /// The gs2 header, e.g. `n,,` or `p=tls-exporter,,`.
    gs2_header: String,
    /// Binding data appended to the gs2 header in `c=`: the exporter for -PLUS, else empty.
    cb_data: Vec<u8>,
    bare: String,
    client_nonce: String,
    state: State,
}

enum State {
    Start,
    AwaitServerFirst,
    AwaitServerFinal {
        server_signature: Zeroizing<Vec<u8>>,
    },
    Done,
}

impl ScramClient {
    /// Prepares an exchange. `cb_data` is this connection's RFC 9266 `tls-exporter` value, if
    /// the client can bind: a -PLUS mechanism binds with it; with a plain SCRAM mechanism its
    /// presence makes the gs2 flag `y` ("I could bind, but you did not offer -PLUS").
    ///
    /// # Errors
    /// [`SaslError::InvalidMechanism`] for PLAIN; [`SaslError::UnsupportedChannelBinding`] for
    /// a -PLUS mechanism without `cb_data`; [`SaslError::Saslprep`] for a username or password
    /// SASLprep refuses.
    pub fn new(
        mech: Mechanism,
        username: &str,
        password: &str,
        cb_data: Option<Vec<u8>>,
    ) -> Result<Self, SaslError> {
        Self::with_nonce(mech, username, password, cb_data, &new_nonce())
    }

    /// As [`ScramClient::new`] with a fixed client nonce, for test vectors only.
    ///
    /// # Errors
    /// As [`ScramClient::new`].
    #[doc(hidden)]
    pub fn with_nonce(
        mech: Mechanism,
        username: &str,
        password: &str,
        cb_data: Option<Vec<u8>>,
        nonce: &str,
    ) -> Result<Self, SaslError> {
        let alg = mech.hash().ok_or(SaslError::InvalidMechanism)?;
        check_nonce(nonce)?;
        let (gs2_header, cb_data) = match (mech.is_plus(), cb_data) {
            (true, Some(data)) => (format!("p={TLS_EXPORTER},,"), data),
            (true, None) => return Err(SaslError::UnsupportedChannelBinding),
            (false, Some(_)) => ("y,,".to_owned(), Vec::new()),
            (false, None) => ("n,,".to_owned(), Vec::new()),
        };
        // RFC 5802 §5.1: the client SHOULD SASLprep the username.
        let username = stringprep::saslprep(username)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or(SaslError::Saslprep { field: "username" })?;
        Ok(Self {
            mech,
            alg,
            password: prep_password(password)?,
            gs2_header,
            cb_data,
            bare: format!("n={},r={nonce}", encode_saslname(&username)),
            client_nonce: nonce.to_owned(),
            state: State::Start,
        })
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    /// The client-first message, to send as the initial response in `<auth/>`.
    pub fn client_first(&mut self) -> Vec<u8> {
        if matches!(self.state, State::Start) {
            self.state = State::AwaitServerFirst;
        }
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    /// Handles the server-first message (the first `<challenge/>`) and returns the
    /// client-final message. Runs PBKDF2: CPU heavy.
    ///
    /// # Errors
    /// [`SaslError::MalformedRequest`] if out of order, off-grammar, or the server nonce does
    /// not extend ours; [`SaslError::IncorrectEncoding`] for a bad salt;
    /// [`SaslError::IterationsOutOfRange`] below [`MIN_ITERATIONS`] or above a sanity cap;
    /// [`SaslError::UnsupportedExtension`] for `m=`.
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::AwaitServerFirst) {
            self.state = State::Done;
            return Err(SaslError::malformed("server-first out of order"));
        }
        self.state = State::Done;
        let server_first = utf8(msg)?;
        // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
        //                        ["," extensions]
        let mut parts = server_first.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(SaslError::UnsupportedExtension);
        }
        let nonce = attr(first, b'r', "expected nonce r=")?;
        check_nonce(nonce)?;
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err(SaslError::malformed("server nonce does not extend ours"));
        }
        let salt = b64(attr(parts.next(), b's', "expected salt s=")?, "salt")?;
        let iterations: u32 = attr(parts.next(), b'i', "expected iteration count i=")?
            .parse()
            .map_err(|_| SaslError::malformed("bad iteration count"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::IterationsOutOfRange { iterations });
        }
        check_extensions(parts)?;

        let salted = hash::hi(self.alg, self.password.as_bytes(), &salt, iterations);
        let keys = ScramKeys::from_salted_password(self.alg, salt, iterations, &salted);
        let client_key = Zeroizing::new(hash::hmac(self.alg, &salted, b"Client Key"));
        let mut cb = self.gs2_header.as_bytes().to_vec();
        cb.extend_from_slice(&self.cb_data);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(cb));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        // RFC 5802 §3: ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage).
        let signature = hash::hmac(self.alg, &keys.stored_key, auth_message.as_bytes());
        let proof = hash::xor(&client_key, &signature);
        let server_signature = hash::hmac(self.alg, &keys.server_key, auth_message.as_bytes());
        self.state = State::AwaitServerFinal {
            server_signature: Zeroizing::new(server_signature),
        };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks the server-final message (the data of `<success/>`), which proves the server
    /// knew our keys (RFC 5802 §3 `ServerSignature`).
    ///
    /// # Errors
    /// [`SaslError::ServerRejected`] for `e=`; [`SaslError::ServerSignatureMismatch`] for a
    /// wrong `v=`; [`SaslError::MalformedRequest`] if out of order or off-grammar.
    pub fn verify_server_final(&mut self, msg: &[u8]) -> Result<(), SaslError> {
        let State::AwaitServerFinal { server_signature } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(SaslError::malformed("server-final out of order"));
        };
        let text = utf8(msg)?;
        let mut parts = text.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("e=")) {
            return Err(SaslError::ServerRejected);
        }
        let verifier = b64(attr(first, b'v', "expected verifier v=")?, "verifier")?;
        check_extensions(parts)?;
        if bool::from(verifier.ct_eq(&server_signature)) {
            Ok(())
        } else {
            Err(SaslError::ServerSignatureMismatch)
        }
    }
}

impl std::fmt::Debug for ScramClient {
    // No password, nonce or username.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mech", &self.mech)
            .finish_non_exhaustive()
    }
}
