//! XEP-0082 date-times: the XEP-0203 `<delay/>` stamps on archived results, the XEP-0313
//! `start`/`end` form fields and `<metadata/>` timestamps. The archive counts milliseconds since
//! the Unix epoch; the wire wants `CCYY-MM-DDThh:mm:ss[.sss]Z`.

use tessera_sdk::xmpp_parsers::date::DateTime;

/// `ms` as an XEP-0082 §3.3 DateTime in UTC with millisecond precision, e.g.
/// `2010-07-10T23:08:25.123Z`.
pub(crate) fn format(ms: u64) -> String {
    tessera_sdk::clock::xep0082(ms)
}

/// `ms` as a typed [`DateTime`], for the `xmpp-parsers` structures that carry one.
pub(crate) fn datetime(ms: u64) -> DateTime {
    format(ms)
        .parse()
        .expect("invariant: `format` writes a valid XEP-0082 DateTime")
}

/// Parses an XEP-0082 DateTime (any offset, fractions allowed) into ms since the epoch; `None`
/// if it is not one or lies before 1970 (nothing in an archive is that old).
pub(crate) fn parse(text: &str) -> Option<u64> {
    let date: DateTime = text.trim().parse().ok()?;
    u64::try_from(date.0.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        // XEP-0313 Example 4's stamp, plus 123 ms.
        assert_eq!(format(1_278_803_305_123), "2010-07-10T23:08:25.123Z");
        // A leap day and the turn of a century that is a leap year.
        assert_eq!(format(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn parse_round_trips_and_honours_offsets() {
        for ms in [0, 1_278_803_305_123, 951_782_400_000, 1_700_000_000_001] {
            assert_eq!(parse(&format(ms)), Some(ms));
        }
        assert_eq!(parse("2010-07-10T23:08:25Z"), Some(1_278_803_305_000));
        assert_eq!(parse("2010-07-11T01:08:25+02:00"), Some(1_278_803_305_000));
        assert_eq!(
            datetime(1_278_803_305_123).0.timestamp_millis(),
            1_278_803_305_123
        );
    }

    #[test]
    fn parse_refuses_garbage_and_the_distant_past() {
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2010-07-10"), None);
        assert_eq!(parse("1969-12-31T23:59:59Z"), None);
    }
}
