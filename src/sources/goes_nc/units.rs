//! CF time units (`"<unit> since <date>[ <time>][ <zone>]"`) -> UTC instants.
//!
//! NCEI's GOES files use `seconds since 2000-01-01 12:00:00` (GOES-R, reprocessed avg1m; also
//! written with a `T`) and `seconds since 1970-01-01 00:00:00.0 UTC` (GOES-13/15 2-s files).
//! Nothing assumes an epoch: each file's own attribute is parsed. Times neglect leap seconds
//! (the files say so; a day is 86,400 s), as chrono and cftime do.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// A parsed `units` attribute of a time variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeUnits {
    /// Length of one unit in microseconds.
    unit_micros: i64,
    /// The reference instant, converted to UTC.
    epoch: DateTime<Utc>,
}

impl TimeUnits {
    /// Parses `"<unit> since <YYYY-MM-DD>[(T| )HH:MM[:SS[.f]]][ ](Z|UTC|GMT|±HH[:MM])"`.
    /// Units: days, hours, minutes, seconds, milliseconds, microseconds (and their CF
    /// abbreviations). The error text says what did not parse.
    pub fn parse(units: &str) -> Result<Self, String> {
        let lower = units.trim().to_ascii_lowercase();
        let (unit, reference) = lower
            .split_once(" since ")
            .ok_or_else(|| "expected \"<unit> since <date>\"".to_string())?;
        let unit_micros = unit_micros(unit.trim())
            .ok_or_else(|| format!("unknown time unit {:?}", unit.trim()))?;
        let epoch = parse_reference(reference.trim())?;
        Ok(TimeUnits { unit_micros, epoch })
    }

    /// The reference instant (`since ...`) in UTC.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    /// Converts one stored value; `None` for NaN, infinities and values outside chrono's range.
    /// Rounded to the microsecond: an f64 of seconds since 1970 carries no more than that.
    pub fn to_utc(&self, value: f64) -> Option<DateTime<Utc>> {
        let micros = (value * self.unit_micros as f64).round();
        // i64::MAX as f64 rounds up to 2^63, so the bound is exclusive.
        if !micros.is_finite() || micros.abs() >= 9.2e18 {
            return None;
        }
        self.epoch
            .checked_add_signed(TimeDelta::microseconds(micros as i64))
    }
}

fn unit_micros(unit: &str) -> Option<i64> {
    Some(match unit {
        "days" | "day" | "d" => 86_400_000_000,
        "hours" | "hour" | "hrs" | "hr" | "h" => 3_600_000_000,
        "minutes" | "minute" | "mins" | "min" => 60_000_000,
        "seconds" | "second" | "secs" | "sec" | "s" => 1_000_000,
        "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 1_000,
        "microseconds" | "microsecond" | "usecs" | "usec" | "us" => 1,
        _ => return None,
    })
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][ ]zone?`, already lower-cased.
fn parse_reference(text: &str) -> Result<DateTime<Utc>, String> {
    let (date_part, rest) = text.split_at(text.find(['t', ' ']).unwrap_or(text.len()));
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .map_err(|_| format!("reference date {date_part:?} is not YYYY-MM-DD"))?;
    let rest = rest.strip_prefix(['t', ' ']).unwrap_or(rest).trim_start();
    let (clock, zone) = split_zone(rest);
    let time = if clock.is_empty() {
        NaiveTime::MIN
    } else {
        parse_clock(clock)?
    };
    let offset_seconds = parse_zone(zone.trim())?;
    let local = NaiveDateTime::new(date, time);
    local
        .checked_sub_signed(TimeDelta::seconds(offset_seconds))
        .map(|utc| utc.and_utc())
        .ok_or_else(|| "reference time is out of range".to_string())
}

/// Splits `"12:00:00.0 utc"` / `"12:00:00z"` / `"12:00:00+01:00"` into clock and zone.
fn split_zone(rest: &str) -> (&str, &str) {
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    rest.split_at(end)
}

fn parse_clock(clock: &str) -> Result<NaiveTime, String> {
    ["%H:%M:%S%.f", "%H:%M"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(clock, format).ok())
        .ok_or_else(|| format!("reference time {clock:?} is not HH:MM[:SS[.f]]"))
}

/// Zone suffix -> seconds east of UTC.
fn parse_zone(zone: &str) -> Result<i64, String> {
    if matches!(zone, "" | "z" | "utc" | "gmt") {
        return Ok(0);
    }
    let bad = || format!("time zone {zone:?} is not Z, UTC or ±HH[:MM]");
    let (sign, digits) = match zone.as_bytes().first() {
        Some(b'+') => (1, &zone[1..]),
        Some(b'-') => (-1, &zone[1..]),
        _ => return Err(bad()),
    };
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let hours: i64 = hours.parse().map_err(|_| bad())?;
    let minutes: i64 = minutes.parse().map_err(|_| bad())?;
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ncei_forms_parse() {
        let cases = [
            ("seconds since 2000-01-01 12:00:00", "2000-01-01T12:00:00Z"),
            ("seconds since 2000-01-01T12:00:00", "2000-01-01T12:00:00Z"),
            (
                "seconds since 1970-01-01 00:00:00.0 UTC",
                "1970-01-01T00:00:00Z",
            ),
            ("Seconds Since 1970-01-01", "1970-01-01T00:00:00Z"),
            ("seconds since 2000-01-01 12:00:00Z", "2000-01-01T12:00:00Z"),
            (
                "hours since 2000-01-01 12:00 +02:00",
                "2000-01-01T10:00:00Z",
            ),
            (
                "days since 2000-01-01T00:00:00.5-0130",
                "2000-01-01T01:30:00.5Z",
            ),
        ];
        for (units, epoch) in cases {
            let parsed = TimeUnits::parse(units).unwrap_or_else(|e| panic!("{units}: {e}"));
            assert_eq!(parsed.epoch(), utc(epoch), "{units}");
        }
    }

    #[test]
    fn values_convert_with_the_unit() {
        let s = TimeUnits::parse("seconds since 2000-01-01 12:00:00").unwrap();
        assert_eq!(s.to_utc(662811600.0), Some(utc("2021-01-01T22:20:00Z")));
        assert_eq!(s.to_utc(-0.5), Some(utc("2000-01-01T11:59:59.5Z")));
        let ms = TimeUnits::parse("milliseconds since 1970-01-01").unwrap();
        assert_eq!(ms.to_utc(1500.0), Some(utc("1970-01-01T00:00:01.5Z")));
        let min = TimeUnits::parse("minutes since 2024-05-01").unwrap();
        assert_eq!(min.to_utc(1439.0), Some(utc("2024-05-01T23:59:00Z")));
        // Sub-microsecond noise of an f64 rounds to the nearest microsecond.
        let unix = TimeUnits::parse("seconds since 1970-01-01").unwrap();
        assert_eq!(
            unix.to_utc(1504224000.631),
            Some(utc("2017-09-01T00:00:00.631Z"))
        );
        for bad in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300, -1e17] {
            assert_eq!(s.to_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_units_say_why() {
        for (units, needle) in [
            ("seconds", "since"),
            ("fortnights since 2000-01-01", "unknown time unit"),
            ("seconds since 2000-13-01", "YYYY-MM-DD"),
            ("seconds since 2000-01-01 25:00", "HH:MM"),
            ("seconds since 2000-01-01 12:00 EST", "time zone"),
            ("seconds since yesterday", "YYYY-MM-DD"),
        ] {
            let err = TimeUnits::parse(units).unwrap_err();
            assert!(err.contains(needle), "{units}: {err}");
        }
    }
}
