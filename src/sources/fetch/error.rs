//! Why a fetch failed, as a kind the poller can branch on and a bounded code for metrics.
//!
//! The error never keeps a `reqwest::Error`: its `Display` prints the request URL, which for
//! DONKI carries the API key. Lower-layer text is kept only as `detail`, built from an error chain
//! with the URL stripped and every secret value scrubbed.

use std::fmt;
use std::time::Duration;

use super::redact::RedactedUrl;
use super::retry::is_retryable_status;

/// What went wrong, coarse enough to branch on and to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// The URL could not be parsed or built (configuration error: never retried).
    InvalidUrl,
    /// The HTTP client could not be built (TLS setup); only from [`super::Fetcher::new`].
    Client,
    /// An attempt took longer than the configured timeout (connect + whole response).
    Timeout,
    /// No connection could be made (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// The connection failed after it was made and before a response head arrived
    /// (closed or reset while sending the request or waiting for the status line).
    Transport,
    /// The final response had this non-success status.
    Status(u16),
    /// The body is larger than `limit` bytes (declared or, after decompression, actual).
    TooLarge { limit: u64 },
    /// The body was cut off mid-transfer (connection closed or reset before its declared end).
    Body,
    /// The body arrived but could not be decoded (bad gzip stream).
    Decode,
    /// The caller cancelled the fetch (shutdown).
    Cancelled,
    /// Anything else (redirect loop, a request the client refused to send).
    Other,
}

impl FetchErrorKind {
    /// A short, bounded label for metrics (`error_code`); never contains URLs or free text.
    pub fn code(&self) -> &'static str {
        match self {
            FetchErrorKind::InvalidUrl => "invalid_url",
            FetchErrorKind::Client => "client",
            FetchErrorKind::Timeout => "timeout",
            FetchErrorKind::Connect => "connect",
            FetchErrorKind::Transport => "transport",
            FetchErrorKind::Status(429) => "http_429",
            FetchErrorKind::Status(s) if (400..500).contains(s) => "http_4xx",
            FetchErrorKind::Status(s) if (500..600).contains(s) => "http_5xx",
            FetchErrorKind::Status(_) => "http_other",
            FetchErrorKind::TooLarge { .. } => "too_large",
            FetchErrorKind::Body => "body",
            FetchErrorKind::Decode => "decode",
            FetchErrorKind::Cancelled => "cancelled",
            FetchErrorKind::Other => "other",
        }
    }

    /// Whether another attempt may succeed: transient network trouble and the statuses flare-plus
    /// retried. A too-large body, a bad gzip stream, a 404 or a bad URL will not get better.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchErrorKind::Timeout
            | FetchErrorKind::Connect
            | FetchErrorKind::Transport
            | FetchErrorKind::Body => true,
            FetchErrorKind::Status(status) => is_retryable_status(*status),
            FetchErrorKind::InvalidUrl
            | FetchErrorKind::Client
            | FetchErrorKind::TooLarge { .. }
            | FetchErrorKind::Decode
            | FetchErrorKind::Cancelled
            | FetchErrorKind::Other => false,
        }
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchErrorKind::InvalidUrl => f.write_str("invalid URL"),
            FetchErrorKind::Client => f.write_str("cannot build the HTTP client"),
            FetchErrorKind::Timeout => f.write_str("timed out"),
            FetchErrorKind::Connect => f.write_str("cannot connect"),
            FetchErrorKind::Transport => f.write_str("connection failed before the response"),
            FetchErrorKind::Status(status) => write!(f, "HTTP status {status}"),
            FetchErrorKind::TooLarge { limit } => {
                write!(f, "response larger than the {limit}-byte limit")
            }
            FetchErrorKind::Body => f.write_str("response body cut off"),
            FetchErrorKind::Decode => f.write_str("response body cannot be decoded"),
            FetchErrorKind::Cancelled => f.write_str("cancelled"),
            FetchErrorKind::Other => f.write_str("request failed"),
        }
    }
}

/// A failed fetch: the kind, where (redacted), and what it cost (attempts, time).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct FetchError {
    kind: FetchErrorKind,
    url: Option<RedactedUrl>,
    attempts: u32,
    elapsed: Duration,
    detail: Option<String>,
}

impl FetchError {
    pub(crate) fn new(
        kind: FetchErrorKind,
        url: Option<RedactedUrl>,
        attempts: u32,
        elapsed: Duration,
        detail: Option<String>,
    ) -> FetchError {
        FetchError {
            kind,
            url,
            attempts,
            elapsed,
            detail,
        }
    }

    pub fn kind(&self) -> FetchErrorKind {
        self.kind
    }

    /// Bounded label for metrics; see [`FetchErrorKind::code`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The URL (redacted); `None` for errors that precede any URL (client construction).
    pub fn url(&self) -> Option<&RedactedUrl> {
        self.url.as_ref()
    }

    /// Attempts made (0 when the fetch was cancelled or rejected before the first one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from the start of the fetch to the error, backoff sleeps included.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Lower-layer explanation (`tcp connect error: Connection refused`), secrets scrubbed.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    fn render(&self) -> String {
        let mut text = match &self.url {
            Some(url) => format!("GET {url}: {}", self.kind),
            None => self.kind.to_string(),
        };
        if self.attempts > 0 {
            let plural = if self.attempts == 1 { "" } else { "s" };
            text.push_str(&format!(
                " ({} attempt{plural}, {} ms)",
                self.attempts,
                self.elapsed.as_millis()
            ));
        }
        if let Some(detail) = &self.detail {
            text.push_str(": ");
            text.push_str(detail);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_bounded_and_statuses_grouped() {
        assert_eq!(FetchErrorKind::Status(429).code(), "http_429");
        assert_eq!(FetchErrorKind::Status(404).code(), "http_4xx");
        assert_eq!(FetchErrorKind::Status(418).code(), "http_4xx");
        assert_eq!(FetchErrorKind::Status(503).code(), "http_5xx");
        assert_eq!(FetchErrorKind::Status(302).code(), "http_other");
        assert_eq!(FetchErrorKind::TooLarge { limit: 7 }.code(), "too_large");
    }

    #[test]
    fn retry_classification() {
        for kind in [
            FetchErrorKind::Timeout,
            FetchErrorKind::Connect,
            FetchErrorKind::Transport,
            FetchErrorKind::Body,
            FetchErrorKind::Status(429),
            FetchErrorKind::Status(500),
            FetchErrorKind::Status(502),
            FetchErrorKind::Status(503),
            FetchErrorKind::Status(504),
        ] {
            assert!(kind.is_retryable(), "{kind:?}");
        }
        for kind in [
            FetchErrorKind::Status(400),
            FetchErrorKind::Status(401),
            FetchErrorKind::Status(404),
            FetchErrorKind::Status(501),
            FetchErrorKind::TooLarge { limit: 1 },
            FetchErrorKind::Decode,
            FetchErrorKind::InvalidUrl,
            FetchErrorKind::Cancelled,
            FetchErrorKind::Other,
        ] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
    }

    #[test]
    fn display_names_kind_url_and_cost() {
        let url = RedactedUrl::from_unparsed("https://h/p?api_key=K");
        let err = FetchError::new(
            FetchErrorKind::Status(404),
            Some(url),
            1,
            Duration::from_millis(12),
            None,
        );
        assert_eq!(
            err.to_string(),
            "GET https://h/p?api_key=***: HTTP status 404 (1 attempt, 12 ms)"
        );
        let err = FetchError::new(
            FetchErrorKind::Connect,
            None,
            4,
            Duration::from_millis(3),
            Some("tcp connect error".into()),
        );
        assert_eq!(
            err.to_string(),
            "cannot connect (4 attempts, 3 ms): tcp connect error"
        );
    }
}
