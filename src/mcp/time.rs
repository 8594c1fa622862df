//! Times on the wire: RFC 3339 in UTC out; RFC 3339 or a plain date in.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// A time as results show it: RFC 3339, UTC, milliseconds.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time as a model writes it: RFC 3339 (`2026-03-01T12:00:00Z`), the same without an
/// offset (taken as UTC), or a date (`2026-03-01`, its midnight UTC). `None` when it is none
/// of these.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse() {
        let midnight = parse("2020-01-01").unwrap();
        assert_eq!(format(midnight), "2020-01-01T00:00:00.000Z");
        assert_eq!(parse("2020-01-01T00:00:00Z"), Some(midnight));
        assert_eq!(parse("2020-01-01T01:00:00+01:00"), Some(midnight));
        assert_eq!(parse("2020-01-01T00:00:00"), Some(midnight));
        for bad in ["", "yesterday", "2020-13-01", "2020-01-01 00:00"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
