//! Serialisation.

use bytes::Bytes;
use minidom::Element;

/// Serialises a stanza for a `jabber:client` stream.
pub fn serialize(el: &Element) -> Bytes {
    let mut out = Vec::with_capacity(256);
    // Writing into a Vec cannot fail; minidom only errors on I/O.
    el.write_to(&mut out)
        .expect("invariant: writing XML into a Vec<u8> is infallible");
    Bytes::from(out)
}
