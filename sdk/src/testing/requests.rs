//! The fake host's `requests` (plugin API 0.1.2): a test says how the other plugins answer
//! ([`answer_requests`]) and reads what was asked ([`take_requests`]). With no answerer set, a
//! request is `unavailable` and `answers` is false, as on a host where no other plugin owns the
//! payload; with one, every payload is answered.

use super::{FakeHost, HOST};
use crate::error::HostError;

/// How the fake answers requests: the serialised IQ in, the serialised answer out.
type Answerer = Box<dyn Fn(&str) -> Result<String, HostError>>;

#[derive(Default)]
pub(super) struct Requests {
    answerer: Option<Answerer>,
    asked: Vec<String>,
}

/// Sets how requests are answered, standing in for the plugins that own their payloads.
pub fn answer_requests(answerer: impl Fn(&str) -> Result<String, HostError> + 'static) {
    HOST.with(|h| h.borrow_mut().requests.answerer = Some(Box::new(answerer)));
}

/// The requests asked since the last call, serialised.
pub fn take_requests() -> Vec<String> {
    HOST.with(|h| std::mem::take(&mut h.borrow_mut().requests.asked))
}

impl FakeHost {
    fn record_request(&mut self, xml: &str) -> Result<(), HostError> {
        self.granted("requests")?;
        self.requests.asked.push(xml.to_owned());
        Ok(())
    }
}

/// The fake's side of `requests.ask` and `requests.answers`.
pub(crate) mod fake {
    use super::*;

    /// Every payload is answered while an answerer is set (and the grant is not denied).
    pub(crate) fn answers(_namespace: &str, _name: &str) -> bool {
        HOST.with(|h| {
            let h = h.borrow();
            h.granted("requests").is_ok() && h.requests.answerer.is_some()
        })
    }

    pub(crate) fn ask(xml: &str) -> Result<String, HostError> {
        // The answerer runs outside the borrow: it may use the fake host itself.
        let answerer = HOST.with(|h| {
            let mut h = h.borrow_mut();
            h.record_request(xml)?;
            Ok::<_, HostError>(h.requests.answerer.take())
        })?;
        let Some(answerer) = answerer else {
            return Err(HostError::Unavailable(
                "no plugin answers this payload".to_owned(),
            ));
        };
        let answer = answerer(xml);
        HOST.with(|h| {
            h.borrow_mut().requests.answerer.get_or_insert(answerer);
        });
        answer
    }
}
