//! The presence subscription state machine of RFC 6121 §3 and Appendix A, with no I/O.
//!
//! A [`State`] is one side's view of one contact: the `subscription` attribute plus the "Pending
//! Out" (`ask='subscribe'`), "Pending In" (a request awaiting the user's answer) and pre-approval
//! (§3.4) flags. [`outbound`] is what the user's server does when the user sends a subscription
//! stanza (Appendix A.2), [`inbound`] what the contact's server does when one arrives (A.3).
//! `subscription_io` drives both sides, loads and stores the states, and delivers the stanzas.

use crate::storage::Subscription;

/// The four subscription-related presence types (RFC 6121 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Request a subscription to the contact's presence (§3.1).
    Subscribe,
    /// Approve a request, or pre-approve one (§3.1.5, §3.4).
    Subscribed,
    /// Cancel the user's subscription to the contact (§3.3).
    Unsubscribe,
    /// Deny a request, or cancel the contact's subscription to the user (§3.2).
    Unsubscribed,
}

impl Kind {
    /// The presence `type` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Subscribed => "subscribed",
            Self::Unsubscribe => "unsubscribe",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    /// Parses a presence `type`; `None` for non-subscription types.
    pub(crate) fn parse(ty: &str) -> Option<Self> {
        match ty {
            "subscribe" => Some(Self::Subscribe),
            "subscribed" => Some(Self::Subscribed),
            "unsubscribe" => Some(Self::Unsubscribe),
            "unsubscribed" => Some(Self::Unsubscribed),
            _ => None,
        }
    }
}

/// One side's subscription state for one contact (RFC 6121 Appendix A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct State {
    /// The `subscription` attribute.
    pub(crate) sub: Subscription,
    /// "Pending Out": the user asked to subscribe and has no answer yet.
    pub(crate) pending_out: bool,
    /// "Pending In": the contact asked to subscribe and the user has not answered.
    pub(crate) pending_in: bool,
    /// §3.4: the user pre-approved a future request from the contact.
    pub(crate) approved: bool,
}

/// The user receives the contact's presence.
fn has_to(sub: Subscription) -> bool {
    matches!(sub, Subscription::To | Subscription::Both)
}

/// The contact receives the user's presence.
fn has_from(sub: Subscription) -> bool {
    matches!(sub, Subscription::From | Subscription::Both)
}

fn make(to: bool, from: bool) -> Subscription {
    match (to, from) {
        (false, false) => Subscription::None,
        (true, false) => Subscription::To,
        (false, true) => Subscription::From,
        (true, true) => Subscription::Both,
    }
}

impl State {
    /// The user is subscribed to the contact's presence ("to" or "both").
    pub(crate) fn has_to(self) -> bool {
        has_to(self.sub)
    }

    /// The contact is subscribed to the user's presence ("from" or "both").
    pub(crate) fn has_from(self) -> bool {
        has_from(self.sub)
    }

    fn set_to(&mut self, on: bool) {
        self.sub = make(on, self.has_from());
    }

    fn set_from(&mut self, on: bool) {
        self.sub = make(self.has_to(), on);
    }

    /// Drops flags that cannot coexist with the subscription (Appendix A.1 lists the nine legal
    /// states): Pending Out only without "to", Pending In and pre-approval only without "from".
    /// Stored data is normalised on load so that a hand-edited row cannot wedge the machine.
    pub(crate) fn normalized(mut self) -> Self {
        if self.has_to() {
            self.pending_out = false;
        }
        if self.has_from() {
            self.pending_in = false;
            self.approved = false;
        }
        self
    }
}

/// What the user's server does with an outbound subscription stanza (Appendix A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outbound {
    /// The user's new state for the contact.
    pub(crate) state: State,
    /// Whether the stanza goes on to the contact.
    pub(crate) route: bool,
}

/// What the contact's server does with an inbound subscription stanza (Appendix A.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inbound {
    /// The contact's new state for the user.
    pub(crate) state: State,
    /// Whether the stanza is delivered to the contact's resources.
    pub(crate) deliver: bool,
    /// Whether the contact's server answers `subscribed` on the contact's behalf (§3.1.3: the
    /// user is already subscribed; §3.4: the contact pre-approved the user).
    pub(crate) auto_subscribed: bool,
}

/// Appendix A.2: the user sent `kind` to the contact.
pub(crate) fn outbound(state: State, kind: Kind) -> Outbound {
    let old = state.normalized();
    let mut new = old;
    let route = match kind {
        // A.2.1 / §3.1.2: Pending Out unless already subscribed; always routed, so that the
        // contact's server can re-answer a request it already approved.
        Kind::Subscribe => {
            if !old.has_to() {
                new.pending_out = true;
            }
            true
        }
        // A.2.2 / §3.3.2: drop "to" and Pending Out; always routed.
        Kind::Unsubscribe => {
            new.pending_out = false;
            new.set_to(false);
            true
        }
        // A.2.3 / §3.1.5: approving a pending request adds "from". Without one, §3.4 makes it a
        // pre-approval, which is not routed.
        Kind::Subscribed => {
            if old.pending_in {
                new.pending_in = false;
                new.approved = false;
                new.set_from(true);
                true
            } else {
                if !old.has_from() {
                    new.approved = true;
                }
                false
            }
        }
        // A.2.4 / §3.2.2: deny a pending request, or cancel "from"; either way it also cancels
        // a pre-approval (§3.4). Routed only when the contact's side changes.
        Kind::Unsubscribed => {
            new.approved = false;
            if old.pending_in {
                new.pending_in = false;
                true
            } else if old.has_from() {
                new.set_from(false);
                true
            } else {
                false
            }
        }
    };
    Outbound { state: new, route }
}

/// Appendix A.3: `kind` arrived from the user at the contact's server; `state` is the contact's.
pub(crate) fn inbound(state: State, kind: Kind) -> Inbound {
    let old = state.normalized();
    let mut new = old;
    let mut auto_subscribed = false;
    let deliver = match kind {
        Kind::Subscribe => {
            if old.has_from() {
                // A.3.1 "*" / §3.1.3: already subscribed: auto-reply, do not bother the contact.
                auto_subscribed = true;
                false
            } else if old.approved {
                // §3.4.2: pre-approved: the subscription is granted without asking.
                new.approved = false;
                new.set_from(true);
                auto_subscribed = true;
                false
            } else if old.pending_in {
                // A.3.1: a duplicate request is not delivered again.
                false
            } else {
                new.pending_in = true;
                true
            }
        }
        // A.3.2 / §3.3.3: the user no longer wants the contact's presence: clears Pending In
        // and "from".
        Kind::Unsubscribe => {
            if old.pending_in || old.has_from() {
                new.pending_in = false;
                new.set_from(false);
                true
            } else {
                false
            }
        }
        // A.3.3 / §3.1.6: only an answer to our own request counts.
        Kind::Subscribed => {
            if old.pending_out {
                new.pending_out = false;
                new.set_to(true);
                true
            } else {
                false
            }
        }
        // A.3.4 / §3.2.3: our request was denied or our subscription cancelled.
        Kind::Unsubscribed => {
            if old.pending_out || old.has_to() {
                new.pending_out = false;
                new.set_to(false);
                true
            } else {
                false
            }
        }
    };
    Inbound {
        state: new,
        deliver,
        auto_subscribed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Subscription::{Both, From, None as N, To};

    /// The nine states of Appendix A.1, by their names there.
    const fn s(sub: Subscription, pending_out: bool, pending_in: bool) -> State {
        State {
            sub,
            pending_out,
            pending_in,
            approved: false,
        }
    }
    const NONE: State = s(N, false, false);
    const NONE_PO: State = s(N, true, false);
    const NONE_PI: State = s(N, false, true);
    const NONE_PO_PI: State = s(N, true, true);
    const TO: State = s(To, false, false);
    const TO_PI: State = s(To, false, true);
    const FROM: State = s(From, false, false);
    const FROM_PO: State = s(From, true, false);
    const BOTH: State = s(Both, false, false);
    const ALL: [State; 9] = [
        NONE, NONE_PO, NONE_PI, NONE_PO_PI, TO, TO_PI, FROM, FROM_PO, BOTH,
    ];

    fn check_outbound(kind: Kind, table: [State; 9]) {
        for (old, want) in ALL.into_iter().zip(table) {
            let got = outbound(old, kind).state;
            assert_eq!(
                State {
                    approved: false,
                    ..got
                },
                want,
                "{kind:?} from {old:?}"
            );
        }
    }

    fn check_inbound(kind: Kind, table: [(bool, State); 9]) {
        for (old, (deliver, want)) in ALL.into_iter().zip(table) {
            let got = inbound(old, kind);
            assert_eq!(
                (got.deliver, got.state),
                (deliver, want),
                "{kind:?} from {old:?}"
            );
        }
    }

    #[test]
    fn a_2_1_outbound_subscribe() {
        check_outbound(
            Kind::Subscribe,
            [
                NONE_PO, NONE_PO, NONE_PO_PI, NONE_PO_PI, TO, TO_PI, FROM_PO, FROM_PO, BOTH,
            ],
        );
        assert!(ALL.iter().all(|s| outbound(*s, Kind::Subscribe).route));
    }

    #[test]
    fn a_2_2_outbound_unsubscribe() {
        check_outbound(
            Kind::Unsubscribe,
            [
                NONE, NONE, NONE_PI, NONE_PI, NONE, NONE_PI, FROM, FROM, FROM,
            ],
        );
    }

    #[test]
    fn a_2_3_outbound_subscribed() {
        check_outbound(
            Kind::Subscribed,
            [NONE, NONE_PO, FROM, FROM_PO, TO, BOTH, FROM, FROM_PO, BOTH],
        );
        let routed: Vec<bool> = ALL
            .iter()
            .map(|s| outbound(*s, Kind::Subscribed).route)
            .collect();
        assert_eq!(
            routed,
            [false, false, true, true, false, true, false, false, false]
        );
    }

    #[test]
    fn a_2_4_outbound_unsubscribed() {
        check_outbound(
            Kind::Unsubscribed,
            [NONE, NONE_PO, NONE, NONE_PO, TO, TO, NONE, NONE_PO, TO],
        );
        let routed: Vec<bool> = ALL
            .iter()
            .map(|s| outbound(*s, Kind::Unsubscribed).route)
            .collect();
        assert_eq!(
            routed,
            [false, false, true, true, false, true, true, true, true]
        );
    }

    #[test]
    fn a_3_1_inbound_subscribe() {
        check_inbound(
            Kind::Subscribe,
            [
                (true, NONE_PI),
                (true, NONE_PO_PI),
                (false, NONE_PI),
                (false, NONE_PO_PI),
                (true, TO_PI),
                (false, TO_PI),
                (false, FROM),
                (false, FROM_PO),
                (false, BOTH),
            ],
        );
        let auto: Vec<bool> = ALL
            .iter()
            .map(|s| inbound(*s, Kind::Subscribe).auto_subscribed)
            .collect();
        assert_eq!(
            auto,
            [false, false, false, false, false, false, true, true, true]
        );
    }

    #[test]
    fn a_3_2_inbound_unsubscribe() {
        check_inbound(
            Kind::Unsubscribe,
            [
                (false, NONE),
                (false, NONE_PO),
                (true, NONE),
                (true, NONE_PO),
                (false, TO),
                (true, TO),
                (true, NONE),
                (true, NONE_PO),
                (true, TO),
            ],
        );
    }

    #[test]
    fn a_3_3_inbound_subscribed() {
        check_inbound(
            Kind::Subscribed,
            [
                (false, NONE),
                (true, TO),
                (false, NONE_PI),
                (true, TO_PI),
                (false, TO),
                (false, TO_PI),
                (false, FROM),
                (true, BOTH),
                (false, BOTH),
            ],
        );
    }

    #[test]
    fn a_3_4_inbound_unsubscribed() {
        check_inbound(
            Kind::Unsubscribed,
            [
                (false, NONE),
                (true, NONE),
                (false, NONE_PI),
                (true, NONE_PI),
                (true, NONE),
                (true, NONE_PI),
                (false, FROM),
                (true, FROM),
                (true, FROM),
            ],
        );
    }

    #[test]
    fn pre_approval_grants_the_next_request() {
        // §3.4.1: "subscribed" without a pending request pre-approves, unrouted.
        let pre = outbound(NONE_PO, Kind::Subscribed);
        assert!(!pre.route);
        assert!(pre.state.approved);
        // §3.4.2: the contact's request is then approved without asking the user.
        let got = inbound(pre.state, Kind::Subscribe);
        assert!(got.auto_subscribed);
        assert!(!got.deliver);
        assert_eq!(got.state, FROM_PO);
        // Already subscribed: nothing to pre-approve.
        assert!(!outbound(FROM, Kind::Subscribed).state.approved);
    }

    #[test]
    fn unsubscribed_cancels_pre_approval() {
        let approved = State {
            approved: true,
            ..TO
        };
        let got = outbound(approved, Kind::Unsubscribed);
        assert!(!got.state.approved);
        assert!(!got.route);
    }

    #[test]
    fn impossible_states_are_normalised() {
        let stale = State {
            sub: Both,
            pending_out: true,
            pending_in: true,
            approved: true,
        };
        assert_eq!(stale.normalized(), BOTH);
    }

    #[test]
    fn kind_round_trips() {
        for k in [
            Kind::Subscribe,
            Kind::Subscribed,
            Kind::Unsubscribe,
            Kind::Unsubscribed,
        ] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("probe"), None);
    }
}
