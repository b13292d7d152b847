//! The SCRAM primitives of RFC 5802 §2.2 (`H`, `HMAC`, `Hi`), dispatched on [`HashAlg`].

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::HashAlg;

impl HashAlg {
    /// The digest size in bytes: the length of `StoredKey`, `ServerKey` and a client proof.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

/// `HMAC(key, data)`.
pub(crate) fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac =
            <M as Mac>::new_from_slice(key).expect("invariant: HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        HashAlg::Sha1 => run::<Hmac<Sha1>>(key, data),
        HashAlg::Sha256 => run::<Hmac<Sha256>>(key, data),
    }
}

/// `H(data)`.
pub(crate) fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => Sha1::digest(data).to_vec(),
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// `Hi(password, salt, i)`, which is PBKDF2 with HMAC as the PRF and one output block
/// (RFC 5802 §2.2). The expensive step: run it off the async executor.
pub(crate) fn hi(
    alg: HashAlg,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; alg.output_len()]);
    match alg {
        HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
        HashAlg::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
    }
    out
}

/// `a XOR b` for equal-length digests.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hi_is_pbkdf2_rfc6070() {
        // RFC 6070 §2, PBKDF2-HMAC-SHA1 "password"/"salt", c = 4096.
        let out = hi(HashAlg::Sha1, b"password", b"salt", 4096);
        assert_eq!(
            out.as_slice(),
            [
                0x4b, 0x00, 0x79, 0x01, 0xb7, 0x65, 0x48, 0x9a, 0xbe, 0xad, 0x49, 0xd9, 0x26, 0xf7,
                0x21, 0xd0, 0x65, 0xa4, 0x29, 0xc1
            ]
        );
    }

    #[test]
    fn output_lengths() {
        for alg in [HashAlg::Sha1, HashAlg::Sha256] {
            assert_eq!(digest(alg, b"").len(), alg.output_len());
            assert_eq!(hmac(alg, b"k", b"d").len(), alg.output_len());
        }
    }
}
