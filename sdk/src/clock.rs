//! The `clock` capability: wall-clock time from the host.

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::tessera::plugin::clock::now();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::fake::now();
}

/// `ms` (milliseconds since the Unix epoch) as an XEP-0082 §3.3 DateTime in UTC with millisecond
/// precision, e.g. `2010-07-10T23:08:25.123Z`: the form of XEP-0203 delay stamps and XEP-0313
/// timestamps.
pub fn xep0082(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let day_secs = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01: Howard
/// Hinnant's `civil_from_days` ("chrono-Compatible Low-Level Date Algorithms"), for days ≥ 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so a leap day is the last day of its 400-year era's year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xep0082_formats_known_instants() {
        assert_eq!(xep0082(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(xep0082(1_278_803_305_123), "2010-07-10T23:08:25.123Z");
        // A leap day, and the turn of a century that is (2000) and is not (2100) a leap year.
        assert_eq!(xep0082(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(xep0082(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }
}
