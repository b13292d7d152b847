//! Avatars as XMPP carries them: an image in base64 inside an element (XEP-0084 `<data/>`,
//! XEP-0054 `<BINVAL/>`), named by its SHA-1 (XEP-0084 §4.2 item ids, XEP-0153 presence hashes).
//!
//! ```
//! use tessera_sdk::avatar;
//!
//! // Clients wrap long base64 lines; the whitespace is not part of the data.
//! let bytes = avatar::decode_base64("aGVs\n  bG8=").expect("base64");
//! assert_eq!(bytes, b"hello");
//! assert_eq!(avatar::image_id(&bytes), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
//! ```

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

/// The id of an image (XEP-0084 §4.2, XEP-0153 §4.1): its SHA-1, lower-case hex.
pub fn image_id(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .fold(String::with_capacity(40), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decodes base64 element text, ignoring the whitespace clients wrap it with; `None` when it is
/// not base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Encodes bytes as base64 for element text.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
