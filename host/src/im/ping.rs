//! XEP-0199 XMPP ping: the server answers pings addressed to itself, and to an account's bare JID
//! on the account's behalf (XEP-0199 §4.2 "client-to-server", §4.3 via the server).

use minidom::Element;

use crate::ns;

/// Whether `payload` is a ping request (`<ping xmlns='urn:xmpp:ping'/>`, XEP-0199 §4.2).
pub(crate) fn is_ping(payload: &Element) -> bool {
    payload.is("ping", ns::PING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ping() {
        let ping: Element = "<ping xmlns='urn:xmpp:ping'/>".parse().expect("xml");
        assert!(is_ping(&ping));
        let other: Element = "<ping xmlns='urn:xmpp:other'/>".parse().expect("xml");
        assert!(!is_ping(&other));
    }
}
