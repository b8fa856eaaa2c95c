//! URLs that are safe to print.
//!
//! NASA DONKI takes its API key in the query string (`api_key=...`), so the URL a poller fetches
//! is itself a secret. Every error, log line and span field of the fetcher carries a
//! [`RedactedUrl`] instead of the URL, and the redaction is done once, when the value is built,
//! so no formatting path (`Display`, `Debug`, `{:#?}`) can reach the original. The rules are
//! the project's one redaction ([`crate::config::secret`]).

use std::fmt;

use url::Url;

use crate::config::secret::{redact_url, secrets_in_url};

/// A URL with its credentials masked (see [`crate::config::secret`]). Both `Display` and
/// `Debug` show only the redacted text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// Redacts a parsed URL: other parameters, their order and their encoding stay as they
    /// were, so the text still identifies the request (dates, paths) in logs.
    pub fn new(url: &Url) -> RedactedUrl {
        RedactedUrl(redact_url(url.as_str()))
    }

    /// Redacts text that may not parse as a URL (for `InvalidUrl` errors), by the same rules.
    pub fn from_unparsed(raw: &str) -> RedactedUrl {
        RedactedUrl(redact_url(raw))
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

/// The secrets of `url`, to scrub free text from lower layers (error chains) before it is
/// kept.
pub(crate) fn secret_values(url: &Url) -> Vec<String> {
    secrets_in_url(url.as_str())
}

pub(crate) use crate::config::secret::scrub;

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
            "ht!tp://u:***@h/p?api_key=***&a=1"
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
