//! XEP-0202 entity time.
//!
//! The server reports UTC with a zero offset: its local time zone says where it runs, which is
//! nobody's business (privacy is the product).

use chrono::{DateTime, SecondsFormat, Utc};
use minidom::Element;

use crate::ns;

/// Whether `payload` is a time request (`<time xmlns='urn:xmpp:time'/>`, XEP-0202 §3).
pub(crate) fn is_time(payload: &Element) -> bool {
    payload.is("time", ns::TIME)
}

/// The `<time/>` answer for `now` (XEP-0202 §3: `tzo` as ±hh:mm, `utc` as XEP-0082 DateTime).
pub(crate) fn payload(now: DateTime<Utc>) -> Element {
    let mut tzo = Element::bare("tzo", ns::TIME);
    tzo.append_text("+00:00");
    let mut utc = Element::bare("utc", ns::TIME);
    utc.append_text(now.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut el = Element::bare("time", ns::TIME);
    el.append_child(tzo);
    el.append_child(utc);
    el
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_xep0082() {
        let now = DateTime::parse_from_rfc3339("2006-12-19T17:58:35.123Z")
            .expect("date")
            .with_timezone(&Utc);
        let el = payload(now);
        assert!(is_time(&el));
        assert_eq!(
            el.get_child("tzo", ns::TIME).map(Element::text).as_deref(),
            Some("+00:00")
        );
        assert_eq!(
            el.get_child("utc", ns::TIME).map(Element::text).as_deref(),
            Some("2006-12-19T17:58:35.123Z")
        );
    }
}
