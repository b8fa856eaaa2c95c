//! ISO-8601 timestamps as the upstreams write them, converted to UTC.
//!
//! Accepted: `YYYY-MM-DD` (midnight UTC, as flare-plus's date-only parse), or
//! `YYYY-MM-DD(T|t| )HH:MM[:SS[(.|,)fraction]][Z|z|±HH[[:]MM]]`. DONKI writes minutes only
//! (`2024-01-01T12:00Z`, spec 2.5); SWPC writes seconds. No zone means UTC (flare-plus's
//! naive-UTC convention, spec 0). An offset is converted to UTC; flare-plus dropped it without
//! converting (Q10 fix; identical for the `Z` inputs the live feeds send).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

/// Parses one timestamp; the error says what is wrong, for reject details.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4, "year")?;
    c.expect_byte(b'-')?;
    let month = c.digits(2, "month")?;
    c.expect_byte(b'-')?;
    let day = c.digits(2, "day")?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)
        .ok_or_else(|| format!("no such date {year:04}-{month:02}-{day:02}"))?;
    if c.done() {
        return Ok(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    match c.next() {
        Some(b'T' | b't' | b' ') => {}
        _ => return Err("expected 'T' between date and time".into()),
    }
    let hour = c.digits(2, "hour")?;
    c.expect_byte(b':')?;
    let minute = c.digits(2, "minute")?;
    let (mut second, mut nanos) = (0, 0);
    if c.peek() == Some(b':') {
        c.pos += 1;
        second = c.digits(2, "second")?;
        if matches!(c.peek(), Some(b'.' | b',')) {
            c.pos += 1;
            nanos = c.fraction()?;
        }
    }
    let offset_seconds = c.zone()?;
    if !c.done() {
        return Err(format!("unexpected text after position {}", c.pos));
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .filter(|_| second < 60)
        .ok_or_else(|| format!("no such time {hour:02}:{minute:02}:{second:02}"))?;
    date.and_time(time)
        .checked_sub_signed(Duration::seconds(i64::from(offset_seconds)))
        .map(|naive| Utc.from_utc_datetime(&naive))
        .ok_or_else(|| "outside the representable time range".into())
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect_byte(&mut self, want: u8) -> Result<(), String> {
        match self.next() {
            Some(b) if b == want => Ok(()),
            _ => Err(format!(
                "expected {:?} at position {}",
                want as char, self.pos
            )),
        }
    }

    fn digits(&mut self, count: usize, what: &str) -> Result<u32, String> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.next() {
                Some(b @ b'0'..=b'9') => value = value * 10 + u32::from(b - b'0'),
                _ => return Err(format!("expected {count} digits for the {what}")),
            }
        }
        Ok(value)
    }

    /// 1 to 9 fraction digits, as nanoseconds.
    fn fraction(&mut self) -> Result<u32, String> {
        let start = self.pos;
        let mut nanos = 0u32;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if self.pos - start == 9 {
                return Err("more than 9 fraction digits".into());
            }
            nanos = nanos * 10 + u32::from(b - b'0');
            self.pos += 1;
        }
        let len = self.pos - start;
        if len == 0 {
            return Err("empty fraction of a second".into());
        }
        Ok(nanos * 10u32.pow((9 - len) as u32))
    }

    /// Optional zone: `Z`, `±HH`, `±HHMM` or `±HH:MM`; returns the offset east of UTC.
    fn zone(&mut self) -> Result<i32, String> {
        let sign = match self.peek() {
            None => return Ok(0),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Ok(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return Err(format!("unexpected text at position {}", self.pos)),
        };
        self.pos += 1;
        let hours = self.digits(2, "offset hours")?;
        let mut minutes = 0;
        if !self.done() {
            if self.peek() == Some(b':') {
                self.pos += 1;
            }
            minutes = self.digits(2, "offset minutes")?;
        }
        if hours > 23 || minutes > 59 {
            return Err(format!("offset {hours:02}:{minutes:02} out of range"));
        }
        Ok(sign * (hours * 3600 + minutes * 60) as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepted_forms() {
        let noon = utc("2024-01-01T12:00:00Z");
        for s in [
            "2024-01-01T12:00Z",
            "2024-01-01T12:00:00Z",
            "2024-01-01T12:00:00",
            "2024-01-01 12:00:00",
            "2024-01-01T12:00:00.000Z",
            "2024-01-01T12:00:00+00:00",
            "2024-01-01T14:00:00+02:00",
            "2024-01-01T14:00+0200",
            "2024-01-01T07:00-05",
        ] {
            assert_eq!(parse_timestamp(s), Ok(noon), "{s}");
        }
        assert_eq!(
            parse_timestamp("2025-10-30"),
            Ok(utc("2025-10-30T00:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-01-01T00:30:00+01:00"),
            Ok(utc("2023-12-31T23:30:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-05-01T00:00:00.123456789Z"),
            Ok(utc("2024-05-01T00:00:00.123456789Z"))
        );
    }

    #[test]
    fn rejected_forms() {
        for s in [
            "",
            "invalid",
            "2024-13-01",
            "2024-02-30",
            "2024-01-01T",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:60Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T12:00:00.Z",
            "2024-01-01T12:00:00.1234567890Z",
            "2024-01-01T12:00:00+24:00",
            "2024-01-01T12:00:00Zjunk",
            " 2024-01-01",
            "99999-01-01",
            "２０２４-01-01",
        ] {
            assert!(parse_timestamp(s).is_err(), "{s:?} should be rejected");
        }
    }
}
