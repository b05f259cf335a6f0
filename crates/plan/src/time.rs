//! Plan times and durations.
//!
//! Plan authors write local wall-clock times (`2026-09-30T10:00`) in the
//! event's time zone, or instants with an explicit offset; everything inside
//! Seawall is a UTC [`Timestamp`]. The time-zone database is bundled, so the
//! result does not depend on the machine.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Look up an IANA time-zone name in the bundled database.
pub fn zone(name: &str) -> Option<TimeZone> {
    if name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Some(TimeZone::UTC);
    }
    TimeZone::get(name).ok()
}

/// Parse a plan time: RFC 3339 with offset (`2026-09-30T10:00:00+08:00`,
/// `…Z`), or a civil date-time or date (`2026-09-30T10:00`,
/// `2026-09-30 10:00`, `2026-09-30`) taken in `tz`.
pub fn parse_time(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil = s.parse::<DateTime>().or_else(|_| {
        s.parse::<Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil {
        Ok(dt) => tz
            .to_ambiguous_timestamp(dt)
            .compatible()
            .map_err(|e| format!("`{s}` does not exist in the event's time zone: {e}")),
        Err(_) => Err(format!(
            "`{s}` is not a time; write `YYYY-MM-DDTHH:MM` (event time zone) or RFC 3339 with an offset"
        )),
    }
}

/// Parse a duration: a number of seconds, or a friendly span such as `90s`,
/// `10m`, `1h 30m`, `2h`. Returns seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n);
    }
    s.parse::<SignedDuration>()
        .map(|d| d.as_secs_f64())
        .map_err(|_| {
            format!("`{s}` is not a duration; write seconds or e.g. `90s`, `10m`, `1h 30m`")
        })
}

/// Render an instant in `tz` as `YYYY-MM-DDTHH:MM:SS±HH:MM`.
pub fn format_time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_times_use_the_event_zone() {
        let tz = zone("Asia/Shanghai").expect("bundled zone");
        let t = parse_time("2026-09-30T10:00", &tz).expect("time");
        assert_eq!(t.to_string(), "2026-09-30T02:00:00Z");
        let t = parse_time("2026-09-30 10:00", &tz).expect("time");
        assert_eq!(t.to_string(), "2026-09-30T02:00:00Z");
        let d = parse_time("2026-09-30", &tz).expect("date");
        assert_eq!(d.to_string(), "2026-09-29T16:00:00Z");
    }

    #[test]
    fn explicit_offsets_win() {
        let tz = zone("Asia/Shanghai").expect("bundled zone");
        let t = parse_time("2026-09-30T10:00:00Z", &tz).expect("time");
        assert_eq!(t.to_string(), "2026-09-30T10:00:00Z");
        let t = parse_time("2026-09-30T10:00:00-05:00", &tz).expect("time");
        assert_eq!(t.to_string(), "2026-09-30T15:00:00Z");
    }

    #[test]
    fn rejects_garbage() {
        let tz = TimeZone::UTC;
        assert!(parse_time("tomorrow", &tz).is_err());
        assert!(parse_time("2026-13-01T00:00", &tz).is_err());
        assert!(zone("Mars/Olympus").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").ok(), Some(90.0));
        assert_eq!(parse_duration("10m").ok(), Some(600.0));
        assert_eq!(parse_duration("1h 30m").ok(), Some(5400.0));
        assert!(parse_duration("soon").is_err());
    }
}
