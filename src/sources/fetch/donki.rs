//! NASA DONKI FLR requests (spec 2.5): the query URL and the backfill date windows.

use chrono::{Days, NaiveDate};
use url::Url;

use super::error::{FetchError, FetchErrorKind};
use super::redact::RedactedUrl;

/// `GET {base}?startDate=YYYY-MM-DD&endDate=YYYY-MM-DD&api_key=KEY` (spec 2.5). Both dates are
/// inclusive on DONKI's side. Parameters already in `base` are kept. The key is percent-encoded,
/// so an odd key cannot change the query's shape. Only `base` can be invalid, and the error shows
/// it redacted.
pub fn donki_url(
    base: &str,
    start: NaiveDate,
    end: NaiveDate,
    api_key: &str,
) -> Result<Url, FetchError> {
    let mut url = Url::parse(base).map_err(|e| {
        FetchError::new(
            FetchErrorKind::InvalidUrl,
            Some(RedactedUrl::from_unparsed(base)),
            0,
            std::time::Duration::ZERO,
            Some(e.to_string()),
        )
    })?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::new(
            FetchErrorKind::InvalidUrl,
            Some(RedactedUrl::new(&url)),
            0,
            std::time::Duration::ZERO,
            Some("not an http(s) URL".into()),
        ));
    }
    url.query_pairs_mut()
        .append_pair("startDate", &start.format("%Y-%m-%d").to_string())
        .append_pair("endDate", &end.format("%Y-%m-%d").to_string())
        .append_pair("api_key", api_key);
    Ok(url)
}

/// Inclusive `[from, to]` windows covering `start..=end` with no gap and no overlap, by the rule
/// of flare-plus's CLI (`DonkiClient.iter_flares_chunked`, spec 2.5 (c)):
/// `chunk_end = min(cur + chunk_days, end)`, then `cur = chunk_end + 1 day`. So a window spans up
/// to `chunk_days + 1` calendar days. `start == end` gives one window (the Q31 fix: the script
/// path made no request at all); `start > end` gives none.
pub fn donki_windows(
    start: NaiveDate,
    end: NaiveDate,
    chunk_days: u32,
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut windows = Vec::new();
    let mut cur = start;
    while cur <= end {
        let chunk_end = cur
            .checked_add_days(Days::new(u64::from(chunk_days)))
            .map_or(end, |d| d.min(end));
        windows.push((cur, chunk_end));
        match chunk_end.succ_opt() {
            Some(next) => cur = next,
            None => break,
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn windows(start: &str, end: &str, chunk: u32) -> Vec<(String, String)> {
        donki_windows(d(start), d(end), chunk)
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn spec_8_3_cli_example() {
        assert_eq!(
            windows("2024-01-01", "2024-01-20", 10),
            pairs(&[("2024-01-01", "2024-01-11"), ("2024-01-12", "2024-01-20")])
        );
    }

    #[test]
    fn spec_8_3_script_example_gives_the_same_windows_under_the_cli_rule() {
        // The script's fetch_date_range differs from the CLI rule only at start == end.
        assert_eq!(
            windows("2024-01-01", "2024-03-15", 30),
            pairs(&[
                ("2024-01-01", "2024-01-31"),
                ("2024-02-01", "2024-03-02"),
                ("2024-03-03", "2024-03-15"),
            ])
        );
    }

    #[test]
    fn single_day_and_empty_ranges() {
        assert_eq!(
            windows("2024-01-05", "2024-01-05", 30),
            pairs(&[("2024-01-05", "2024-01-05")])
        );
        assert!(windows("2024-01-06", "2024-01-05", 30).is_empty());
        assert_eq!(
            windows("2024-01-01", "2024-01-03", 0),
            pairs(&[
                ("2024-01-01", "2024-01-01"),
                ("2024-01-02", "2024-01-02"),
                ("2024-01-03", "2024-01-03"),
            ])
        );
    }

    #[test]
    fn windows_tile_the_range_exactly() {
        for chunk in [0u32, 1, 6, 7, 30, 365] {
            let (start, end) = (d("2023-11-17"), d("2025-02-03"));
            let w = donki_windows(start, end, chunk);
            assert_eq!(w.first().map(|x| x.0), Some(start));
            assert_eq!(w.last().map(|x| x.1), Some(end));
            for (a, b) in &w {
                assert!(a <= b);
                assert!((*b - *a).num_days() <= i64::from(chunk));
            }
            for pair in w.windows(2) {
                assert_eq!(pair[0].1.succ_opt(), Some(pair[1].0), "gap or overlap");
            }
        }
    }

    #[test]
    fn windows_stop_at_the_end_of_the_calendar() {
        let w = donki_windows(NaiveDate::MAX, NaiveDate::MAX, 30);
        assert_eq!(w, vec![(NaiveDate::MAX, NaiveDate::MAX)]);
    }

    #[test]
    fn donki_url_builds_the_flr_query() {
        let url = donki_url(
            "https://api.nasa.gov/DONKI/FLR",
            d("2024-01-01"),
            d("2024-01-08"),
            "KEY&x=1",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.nasa.gov/DONKI/FLR?startDate=2024-01-01&endDate=2024-01-08&api_key=KEY%26x%3D1"
        );
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[2], ("api_key".into(), "KEY&x=1".into()));
    }

    #[test]
    fn donki_url_rejects_a_bad_base_without_showing_the_key() {
        let err = donki_url("not a url", d("2024-01-01"), d("2024-01-02"), "SEKRIT").unwrap_err();
        assert_eq!(err.kind(), FetchErrorKind::InvalidUrl);
        assert!(!format!("{err} {err:?}").contains("SEKRIT"));
        let err = donki_url("mailto:x@y", d("2024-01-01"), d("2024-01-02"), "SEKRIT").unwrap_err();
        assert_eq!(err.kind(), FetchErrorKind::InvalidUrl);
    }
}
