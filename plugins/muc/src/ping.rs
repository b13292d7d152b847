//! XEP-0410 MUC self-ping: an occupant's client pings its own occupant JID to learn whether it is
//! still in the room, and the room answers at once rather than relaying the ping to the client
//! itself (§5, the "self-ping optimization", advertised on the room's disco#info).

use tessera_sdk::minidom::Element;
use tessera_sdk::{StanzaError, Verdict};

use crate::ns;
use crate::occupant;

/// Whether an IQ payload is an XEP-0199 `<ping/>`.
pub(crate) fn is_ping(q: &Element) -> bool {
    q.is("ping", ns::PING)
}

/// A ping of type `get` from the full JID `from` to `room/nick`: `Some(Ok)` when it is `from`
/// pinging itself (answer `result`), `Some(Err(not-acceptable))` when `from` is not in the room
/// (XEP-0410 §4: the client is not joined, or not any more), `None` when it is an occupant
/// pinging someone else, which is an IQ to another occupant like any other (§7.9).
pub(crate) fn self_ping(room: &str, nick: &str, from: &str) -> Option<Result<(), StanzaError>> {
    match occupant::by_jid(room, from) {
        None => Some(Err(
            StanzaError::not_acceptable().with_text("not an occupant of this room")
        )),
        Some(me) if me.nick == nick => Some(Ok(())),
        Some(_) => None,
    }
}

/// The verdict for a ping IQ to an occupant JID: answered, refused, or `None` to go on.
pub(crate) fn handle(
    room: &str,
    nick: &str,
    iq: &tessera_sdk::Stanza,
    q: &Element,
) -> Option<Verdict> {
    if iq.type_attr() != "get" || !is_ping(q) {
        return None;
    }
    Some(match self_ping(room, nick, iq.from())? {
        Ok(()) => crate::answer(iq, None),
        Err(e) => Verdict::Error(e),
    })
}
