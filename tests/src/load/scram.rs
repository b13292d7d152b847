//! The load generator's SCRAM client (RFC 5802, RFC 7677), with a cache of salted passwords.
//!
//! A SCRAM client spends `i` HMAC rounds per login deriving `SaltedPassword` from the password
//! and the account's salt. On two cores shared with the server under test, that client-side cost
//! would be measured as if it were the server's. RFC 5802 §3 lets a client store
//! `SaltedPassword` (or the keys derived from it) for a given salt and iteration count, as real
//! clients do, so [`ScramCache`] derives it once per (account, hash, salt, iterations) and the
//! login rate measures what the server does. The server cannot tell the difference: every login
//! still runs the whole exchange with fresh nonces and checks the server's signature.
//!
//! Channel binding is not used (`n,,`): the three servers compared do not all offer it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::RawConn;
use crate::raw::{closes_element, element_text};

/// The hash a SCRAM mechanism names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl Hash {
    /// The mechanism to use from a `<mechanisms/>` list: `only` if given (and offered), else
    /// SHA-256 if offered, else SHA-1.
    pub(crate) fn choose(features: &str, only: Option<Self>) -> anyhow::Result<Self> {
        if let Some(only) = only {
            if !features.contains(&format!(">{}<", only.mechanism())) {
                bail!("the server does not offer {}", only.mechanism());
            }
            return Ok(only);
        }
        if features.contains(">SCRAM-SHA-256<") {
            Ok(Self::Sha256)
        } else if features.contains(">SCRAM-SHA-1<") {
            Ok(Self::Sha1)
        } else {
            bail!("the server offers neither SCRAM-SHA-256 nor SCRAM-SHA-1")
        }
    }

    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            Self::Sha1 => "SCRAM-SHA-1",
            Self::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut mac = <Hmac<Sha1>>::new_from_slice(key)
                    .expect("invariant: HMAC takes a key of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let mut mac = <Hmac<Sha256>>::new_from_slice(key)
                    .expect("invariant: HMAC takes a key of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)` (RFC 5802 §2.2): PBKDF2 with this hash's HMAC.
    fn hi(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(password.as_bytes(), salt, iterations)
                    .to_vec()
            }
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations)
                    .to_vec()
            }
        }
    }
}

type CacheKey = (String, Hash, Vec<u8>, u32);

/// Salted passwords already derived, shared by every login of one load run, and the mechanism
/// those logins use.
#[derive(Debug, Clone, Default)]
pub struct ScramCache {
    salted: Arc<Mutex<HashMap<CacheKey, Vec<u8>>>>,
    only: Option<Hash>,
}

impl ScramCache {
    /// A cache whose logins use `hash` only (a server that does not offer it fails the login),
    /// so servers offering different mechanisms can be compared doing the same work.
    pub fn only(hash: Hash) -> Self {
        Self {
            only: Some(hash),
            ..Self::default()
        }
    }

    /// The mechanism forced by [`ScramCache::only`], if any.
    pub(crate) fn forced(&self) -> Option<Hash> {
        self.only
    }

    /// How many salted passwords are cached.
    pub fn len(&self) -> usize {
        self.salted.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `SaltedPassword` for this account, derived off the async workers on a miss.
    async fn salted(
        &self,
        user: &str,
        password: &str,
        hash: Hash,
        salt: Vec<u8>,
        iterations: u32,
    ) -> anyhow::Result<Vec<u8>> {
        let key = (user.to_owned(), hash, salt, iterations);
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let (password, salt) = (password.to_owned(), key.2.clone());
        let salted = tokio::task::spawn_blocking(move || hash.hi(&password, &salt, iterations))
            .await
            .context("PBKDF2 task")?;
        if let Ok(mut map) = self.salted.lock() {
            map.insert(key, salted.clone());
        }
        Ok(salted)
    }

    fn lookup(&self, key: &CacheKey) -> Option<Vec<u8>> {
        self.salted.lock().ok()?.get(key).cloned()
    }
}

/// Runs the SCRAM exchange on `conn` (RFC 6120 §6.4); returns the server's iteration count.
/// Verifies the server signature. The stream must be reopened next.
///
/// # Errors
/// `<failure/>`, a malformed server message, a wrong server signature, or a timeout.
pub(crate) async fn authenticate(
    conn: &mut RawConn,
    hash: Hash,
    user: &str,
    password: &str,
    cache: &ScramCache,
) -> anyhow::Result<u32> {
    let nonce: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    // Our account names never hold ',' or '=' (RFC 5802 §5.1 would escape them).
    let client_first_bare = format!("n={user},r={nonce}");
    conn.send(format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{}'>{}</auth>",
        hash.mechanism(),
        B64.encode(format!("n,,{client_first_bare}"))
    ))
    .await?;
    let server_first = String::from_utf8(sasl_data(conn, "challenge").await?)
        .context("server-first-message is not UTF-8")?;
    let (mut server_nonce, mut salt, mut iterations) = (None, None, None);
    for attr in server_first.split(',') {
        match attr.split_at_checked(2) {
            Some(("r=", v)) => server_nonce = Some(v),
            Some(("s=", v)) => salt = Some(B64.decode(v).context("salt is not base64")?),
            Some(("i=", v)) => iterations = Some(v.parse::<u32>().context("iteration count")?),
            _ => {}
        }
    }
    let (Some(server_nonce), Some(salt), Some(iterations)) = (server_nonce, salt, iterations)
    else {
        bail!("server-first-message lacks r, s or i");
    };
    if !server_nonce.starts_with(&nonce) {
        bail!("the server nonce does not extend ours (RFC 5802 §5.1)");
    }
    let salted = cache.salted(user, password, hash, salt, iterations).await?;
    let client_key = hash.hmac(&salted, b"Client Key");
    let stored_key = hash.digest(&client_key);
    let without_proof = format!("c=biws,r={server_nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hash.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    conn.send(format!(
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
        B64.encode(format!("{without_proof},p={}", B64.encode(proof)))
    ))
    .await?;
    let server_key = hash.hmac(&salted, b"Server Key");
    let expected = B64.encode(hash.hmac(&server_key, auth_message.as_bytes()));
    let server_final = String::from_utf8(sasl_data(conn, "success").await?)
        .context("server-final-message is not UTF-8")?;
    if server_final.strip_prefix("v=") != Some(expected.as_str()) {
        bail!("wrong server signature");
    }
    Ok(iterations)
}

/// Reads the next SASL element and returns its decoded payload. `want` is the element the
/// exchange expects; a server-final message in a `<challenge/>` (allowed by RFC 6120 §6.4.3) is
/// answered with an empty response and the `<success/>` that follows is taken as `want`.
async fn sasl_data(conn: &mut RawConn, want: &str) -> anyhow::Result<Vec<u8>> {
    let reply = conn
        .read_until("SASL answer", |t| {
            ["challenge", "success", "failure"]
                .iter()
                .any(|e| closes_element(t, e))
        })
        .await?;
    if closes_element(&reply, "failure") {
        bail!("SASL failure: {}", first_chars(&reply));
    }
    let got = if closes_element(&reply, "success") {
        "success"
    } else {
        "challenge"
    };
    let data = B64
        .decode(element_text(&reply, got).unwrap_or_default().trim())
        .context("SASL data is not base64")?;
    if got == want {
        return Ok(data);
    }
    if want == "success" {
        // The server-final message came as a challenge: acknowledge, expect an empty success.
        conn.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            .await?;
        let _ = Box::pin(sasl_data(conn, "success")).await?;
        return Ok(data);
    }
    bail!("expected <{want}/>, got <{got}/>")
}

fn first_chars(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's SCRAM-SHA-256 example: user "user", password "pencil", 4096 iterations.
    #[test]
    fn rfc7677_example_proof() {
        let hash = Hash::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("test vector");
        let salted = hash.hi("pencil", &salt, 4096);
        let client_key = hash.hmac(&salted, b"Client Key");
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
                    r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                    s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
                    c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hash.hmac(&hash.digest(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        assert_eq!(
            B64.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_key = hash.hmac(&salted, b"Server Key");
        assert_eq!(
            B64.encode(hash.hmac(&server_key, auth.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn mechanism_choice_prefers_sha256() {
        let both = "<mechanisms><mechanism>SCRAM-SHA-1</mechanism>\
                    <mechanism>SCRAM-SHA-256</mechanism></mechanisms>";
        assert_eq!(Hash::choose(both, None).ok(), Some(Hash::Sha256));
        assert_eq!(Hash::choose(both, Some(Hash::Sha1)).ok(), Some(Hash::Sha1));
        let one = "<mechanisms><mechanism>SCRAM-SHA-1</mechanism></mechanisms>";
        assert_eq!(Hash::choose(one, None).ok(), Some(Hash::Sha1));
        assert!(Hash::choose(one, Some(Hash::Sha256)).is_err());
        let plain = "<mechanisms><mechanism>PLAIN</mechanism></mechanisms>";
        assert!(Hash::choose(plain, None).is_err());
    }
}
