//! Retry policy: which failures are retried, how long to wait, and `Retry-After`.
//!
//! flare-plus used urllib3's `Retry(total=3, backoff_factor=1)` on 429/500/502/503/504 (spec 2.1):
//! up to 4 attempts, deterministic 0/2/4 s sleeps, `Retry-After` honoured on 429/503. We keep the
//! attempt budget and the status set, but sleep with *full jitter* (a uniform draw from
//! `[0, min(retry_max, base * 2^k)]`) so that several pollers failing together (an upstream
//! outage) do not retry in lock-step.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Statuses worth another attempt: rate limiting and the transient server/gateway errors.
/// Same set as flare-plus's urllib3 `status_forcelist`.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Statuses whose `Retry-After` we obey (urllib3's default `RETRY_AFTER_STATUS_CODES`).
pub(crate) fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// The upper bound of the backoff before retry number `retry_index` (0 for the first retry):
/// `base * 2^retry_index`, capped at `max`, without overflow for any index.
pub(crate) fn backoff_ceiling(base: Duration, max: Duration, retry_index: u32) -> Duration {
    let factor = 2u32.checked_pow(retry_index).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// Full jitter: a uniform draw from `[0, ceiling]`.
pub(crate) fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// Parses a `Retry-After` value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, relative to `now`; a date in the past means "now").
/// Anything else is `None`, and the caller falls back to the jittered backoff.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd numbers instead of rejecting them: the caller caps at retry_max.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn retryable_statuses_match_flare_plus() {
        let retried: Vec<u16> = (100..600).filter(|s| is_retryable_status(*s)).collect();
        assert_eq!(retried, vec![429, 500, 502, 503, 504]);
        assert!(honours_retry_after(429) && honours_retry_after(503));
        assert!(!honours_retry_after(500) && !honours_retry_after(502));
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let base = 1000 * MS;
        let max = 30_000 * MS;
        let ceilings: Vec<u128> = (0..7)
            .map(|k| backoff_ceiling(base, max, k).as_millis())
            .collect();
        assert_eq!(ceilings, vec![1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff_ceiling(base, max, 40), max);
        assert_eq!(backoff_ceiling(base, max, u32::MAX), max);
        assert_eq!(backoff_ceiling(Duration::MAX, max, 3), max);
    }

    #[test]
    fn jitter_stays_within_the_ceiling_and_varies() {
        let ceiling = 50 * MS;
        let draws: Vec<Duration> = (0..200).map(|_| full_jitter(ceiling)).collect();
        assert!(draws.iter().all(|d| *d <= ceiling));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(
            distinct.len() > 100,
            "only {} distinct draws",
            distinct.len()
        );
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // In the past: retry at once.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // The obsolete RFC 850 and asctime forms are HTTP-dates too.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:10 2015", now),
            Some(Duration::from_secs(10))
        );
    }
}
