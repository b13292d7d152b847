//! XEP-0059 result set management: an RSM `<set/>` request becomes an [`archive::Query`], and an
//! [`archive::Page`] becomes the `<set/>` answer. Uses `xmpp-parsers`' [`SetQuery`] and
//! [`SetResult`].

use minidom::Element;
pub use xmpp_parsers::rsm::{First, SetQuery, SetResult};

use crate::archive::{self, Page};
use crate::error::ParseError;

/// `http://jabber.org/protocol/rsm` (XEP-0059 §7).
pub const NS: &str = "http://jabber.org/protocol/rsm";

/// The `<set/>` child of `element`, if any.
///
/// # Errors
///
/// The `<set/>` child is malformed (e.g. a non-numeric `<max/>`).
pub fn find(element: &Element) -> Result<Option<SetQuery>, ParseError> {
    element
        .get_child("set", NS)
        .map(|set| SetQuery::try_from(set.clone()).map_err(|e| ParseError::new(e.to_string())))
        .transpose()
}

/// The query a `<set/>` asks for: `max` capped at `max_limit` (`default_limit` when absent),
/// `<after/>` pages forward, `<before>id</before>` pages backward and an empty `<before/>` asks
/// for the last page (XEP-0059 §2.5). Other filters (`with`, time range) are the caller's.
pub fn query(set: Option<&SetQuery>, default_limit: u32, max_limit: u32) -> archive::Query {
    let Some(set) = set else {
        return archive::Query::new(default_limit.min(max_limit));
    };
    let limit = set
        .max
        .map_or(default_limit, |m| u32::try_from(m).unwrap_or(u32::MAX))
        .min(max_limit);
    let mut q = archive::Query::new(limit);
    if let Some(after) = &set.after {
        q = q.after(after.clone());
    }
    match set.before.as_deref() {
        Some("") => q = q.last_page(),
        Some(before) => q = q.before(before),
        None => {}
    }
    q
}

/// The `<set/>` answer for a page (XEP-0059 §2.1): `first`, `last` and `count`; an empty page
/// carries only the count.
pub fn result(page: &Page) -> SetResult {
    SetResult {
        first: page.entries.first().map(|e| First {
            index: None,
            item: e.id.clone(),
        }),
        last: page.entries.last().map(|e| e.id.clone()),
        count: Some(usize::try_from(page.count).unwrap_or(usize::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Entry;

    fn set(xml: &str) -> SetQuery {
        let q: Element = format!("<query xmlns='urn:xmpp:mam:2'>{xml}</query>")
            .parse()
            .unwrap();
        find(&q).unwrap().unwrap()
    }

    #[test]
    fn after_pages_forward() {
        let q = query(
            Some(&set(
                "<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>a1</after></set>",
            )),
            50,
            100,
        );
        assert_eq!(
            (q.limit, q.after_id.as_deref(), q.reverse),
            (10, Some("a1"), false)
        );
    }

    #[test]
    fn before_pages_backward_and_empty_before_is_the_last_page() {
        let q = query(
            Some(&set(
                "<set xmlns='http://jabber.org/protocol/rsm'><before>b9</before></set>",
            )),
            50,
            100,
        );
        assert_eq!(
            (q.limit, q.before_id.as_deref(), q.reverse),
            (50, Some("b9"), true)
        );
        let q = query(
            Some(&set(
                "<set xmlns='http://jabber.org/protocol/rsm'><max>5</max><before/></set>",
            )),
            50,
            100,
        );
        assert_eq!((q.limit, q.before_id, q.reverse), (5, None, true));
    }

    #[test]
    fn max_is_capped_and_defaults_apply() {
        let q = query(
            Some(&set(
                "<set xmlns='http://jabber.org/protocol/rsm'><max>100000</max></set>",
            )),
            50,
            100,
        );
        assert_eq!(q.limit, 100);
        assert_eq!(query(None, 50, 100).limit, 50);
    }

    #[test]
    fn malformed_set_is_an_error() {
        let q: Element = "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>ten</max></set></query>"
            .parse()
            .unwrap();
        assert!(find(&q).is_err());
        let none: Element = "<query xmlns='urn:xmpp:mam:2'/>".parse().unwrap();
        assert_eq!(find(&none).unwrap(), None);
    }

    #[test]
    fn page_becomes_a_set_result() {
        let e = |id: &str| Entry {
            id: id.into(),
            timestamp: 0,
            with: String::new(),
            data: String::new(),
        };
        let r = result(&Page::new(vec![e("a"), e("b"), e("c")], 7, false));
        assert_eq!(r.first.map(|f| f.item).as_deref(), Some("a"));
        assert_eq!((r.last.as_deref(), r.count), (Some("c"), Some(7)));
        let empty = result(&Page::new(vec![], 7, true));
        assert_eq!(
            (empty.first, empty.last, empty.count),
            (None, None, Some(7))
        );
        assert!(Element::from(result(&Page::new(vec![e("x")], 1, true))).is("set", NS));
    }
}
