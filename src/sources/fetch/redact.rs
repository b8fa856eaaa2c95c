//! URLs that are safe to print.
//!
//! NASA DONKI takes its API key in the query string (`api_key=...`), so the URL a poller fetches
//! is itself a secret. Every error, log line and span field of the fetcher carries a
//! [`RedactedUrl`] instead of the URL, and the redaction is done once, when the value is built,
//! so no formatting path (`Display`, `Debug`, `{:#?}`) can reach the original.

use std::fmt;

use url::Url;

/// Query parameter names whose values are replaced by `***` (compared ASCII case-insensitively).
/// The first four are the ones our upstreams and common APIs use; the rest are cheap insurance.
const SENSITIVE_PARAMS: &[&str] = &[
    "api_key",
    "token",
    "key",
    "password",
    "apikey",
    "access_token",
    "secret",
];

/// What replaces a secret.
const MASK: &str = "***";

/// A URL with the values of sensitive query parameters (and any userinfo password) replaced by
/// `***`. Both `Display` and `Debug` show only the redacted text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// Redacts a parsed URL: other parameters, their order and their encoding stay as they were,
    /// so the text still identifies the request (dates, paths) in logs.
    pub fn new(url: &Url) -> RedactedUrl {
        let mut shown = url.clone();
        if shown.password().is_some() {
            // Cannot fail: a URL that has a password can have it replaced.
            let _ = shown.set_password(Some(MASK));
        }
        if let Some(query) = url.query() {
            shown.set_query(Some(&redact_query(query)));
        }
        RedactedUrl(shown.into())
    }

    /// Redacts text that may not parse as a URL (for `InvalidUrl` errors): everything after the
    /// first `?` is treated as a query and redacted the same way, and userinfo is dropped.
    pub fn from_unparsed(raw: &str) -> RedactedUrl {
        let (before, query) = match raw.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (raw, None),
        };
        let before = match before.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_userinfo, host)) => format!("{scheme}://{MASK}@{host}"),
                None => before.to_string(),
            },
            None => before.to_string(),
        };
        match query {
            Some(q) => RedactedUrl(format!("{before}?{}", redact_query(q))),
            None => RedactedUrl(before),
        }
    }

    /// The redacted text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// `a=1&api_key=XYZ&b=2` -> `a=1&api_key=***&b=2`. Names are percent-decoded before the
/// comparison, so `api%5Fkey=...` is caught too; the raw name is kept in the output.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|segment| {
            let raw_name = segment.split_once('=').map_or(segment, |(name, _)| name);
            if is_sensitive(&decoded_name(raw_name)) && segment.contains('=') {
                format!("{raw_name}={MASK}")
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decoded_name(raw_name: &str) -> String {
    url::form_urlencoded::parse(raw_name.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default()
}

fn is_sensitive(name: &str) -> bool {
    SENSITIVE_PARAMS
        .iter()
        .any(|sensitive| name.eq_ignore_ascii_case(sensitive))
}

/// The non-empty values of sensitive parameters (and the userinfo password) of `url`, so that
/// free text from lower layers (error chains) can be scrubbed of them before it is kept.
pub(crate) fn secret_values(url: &Url) -> Vec<String> {
    let mut secrets: Vec<String> = url
        .query_pairs()
        .filter(|(name, value)| is_sensitive(name) && !value.is_empty())
        .map(|(_, value)| value.into_owned())
        .collect();
    if let Some(password) = url.password() {
        if !password.is_empty() {
            secrets.push(password.to_string());
        }
    }
    // Also the raw (percent-encoded) spelling, in case a layer prints the URL as sent.
    if let Some(query) = url.query() {
        for segment in query.split('&') {
            if let Some((name, value)) = segment.split_once('=') {
                if is_sensitive(&decoded_name(name)) && !value.is_empty() {
                    secrets.push(value.to_string());
                }
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Replaces every occurrence of every secret in `text` by `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |acc, secret| {
        acc.replace(secret.as_str(), MASK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(s: &str) -> String {
        RedactedUrl::new(&Url::parse(s).unwrap()).to_string()
    }

    #[test]
    fn masks_sensitive_parameters_and_keeps_the_rest() {
        assert_eq!(
            redacted("https://api.nasa.gov/DONKI/FLR?startDate=2024-01-01&endDate=2024-01-08&api_key=ABC123"),
            "https://api.nasa.gov/DONKI/FLR?startDate=2024-01-01&endDate=2024-01-08&api_key=***"
        );
        assert_eq!(
            redacted("http://h/p?token=t&KEY=k&Password=p&x=1#frag"),
            "http://h/p?token=***&KEY=***&Password=***&x=1#frag"
        );
        assert_eq!(
            redacted("http://h/p?api%5Fkey=zz"),
            "http://h/p?api%5Fkey=***"
        );
        assert_eq!(
            redacted("http://h/p?keyring=1&monkey=2"),
            "http://h/p?keyring=1&monkey=2"
        );
        assert_eq!(redacted("http://h/p"), "http://h/p");
    }

    #[test]
    fn masks_userinfo_password() {
        assert_eq!(redacted("https://u:hunter2@h/p"), "https://u:***@h/p");
    }

    #[test]
    fn debug_shows_only_the_redacted_text() {
        let url = RedactedUrl::new(&Url::parse("http://h/p?api_key=SEKRIT").unwrap());
        assert_eq!(format!("{url:?}"), "\"http://h/p?api_key=***\"");
        assert!(!format!("{url:#?}").contains("SEKRIT"));
    }

    #[test]
    fn unparsed_text_is_redacted_too() {
        assert_eq!(
            RedactedUrl::from_unparsed("ht!tp://u:pw@h/p?api_key=SEKRIT&a=1").as_str(),
            "ht!tp://***@h/p?api_key=***&a=1"
        );
        assert_eq!(
            RedactedUrl::from_unparsed("not a url").as_str(),
            "not a url"
        );
    }

    #[test]
    fn scrub_removes_raw_and_decoded_secret_spellings() {
        let url = Url::parse("http://h/p?api_key=a%2Bb&x=1").unwrap();
        let secrets = secret_values(&url);
        assert_eq!(secrets, vec!["a%2Bb".to_string(), "a+b".to_string()]);
        assert_eq!(scrub("sent a+b and a%2Bb", &secrets), "sent *** and ***");
    }
}
