//! The upstream HTTP client of every ingest poller (SWPC X-ray, SWPC regions, NASA DONKI).
//!
//! flare-plus (spec 2.1) used one `requests` session per fetcher with urllib3 retries
//! (`total=3`, `backoff_factor=1`, on 429/500/502/503/504, `Retry-After` honoured) and a 30 s
//! timeout, and turned every failure into a silent sentinel. [`Fetcher`] keeps that retry budget
//! and timeout and adds what a process that polls forever needs:
//!
//! - **conditional GET**: the caller keeps [`Validators`] (ETag / Last-Modified) per URL in its
//!   checkpoint; an unchanged feed costs a 304 and nothing downstream ([`FetchOutcome::NotModified`]);
//! - **full-jitter backoff** so pollers hit by the same outage do not retry in lock-step, with
//!   `Retry-After` capped at `retry_max` so one header cannot stall a poller for hours;
//! - **a response size cap** applied before buffering (declared length) and while streaming
//!   (decoded bytes), so a runaway or malicious body cannot exhaust memory;
//! - **typed errors** ([`FetchError`]: a kind to branch on, a bounded code for metrics) instead of
//!   sentinels, so a failed DONKI window is visible rather than an empty list (Q31);
//! - **secret-free diagnostics**: the DONKI key travels in the query string, so errors, logs and
//!   span fields only ever carry a [`RedactedUrl`];
//! - **cancellation**: a shutdown interrupts an attempt or a backoff sleep at once.
//!
//! Payload interpretation is not done here: an HTML error page served with status 200 is a
//! [`FetchOutcome::Fresh`] body, and the source's parser rejects it.

mod donki;
mod error;
mod redact;
mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

pub use donki::{donki_url, donki_windows};
pub use error::{FetchError, FetchErrorKind};
pub use redact::RedactedUrl;
pub use url::Url;

use retry::{backoff_ceiling, full_jitter, honours_retry_after, parse_retry_after};

/// `[http_client]`: how every upstream fetch behaves (spec 2.1 made robust).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Limit for one attempt: connecting plus receiving the whole response. flare-plus used 30 s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest body accepted, counted after gzip decoding: the memory one fetch may hold.
    pub max_response_bytes: u64,
    /// Retries after the first attempt (3 gives 4 attempts, like urllib3 `total=3`).
    pub max_retries: u32,
    /// Backoff before retry `k` (0-based) is drawn from `[0, min(retry_max, retry_base * 2^k)]`.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest wait between attempts, also the cap on an upstream's `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Sent on every request, so upstream operators can tell who polls them.
    pub user_agent: String,
}

impl Default for FetchConfig {
    /// The `[http_client]` of `config/default.toml` (spec 2.1's 30 s timeout and 3 retries).
    fn default() -> FetchConfig {
        crate::config::embedded_section("http_client")
    }
}

impl crate::config::Validate for FetchConfig {
    fn validate(&self, problems: &mut crate::config::Problems) {
        problems.check(
            !self.timeout.is_zero() && self.max_response_bytes > 0,
            || "http_client.timeout and max_response_bytes must be positive".into(),
        );
    }
}

/// Conditional-GET state for one URL. The caller owns it and checkpoints it, so a restarted
/// poller still gets a 304 for a feed it has already published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The last `ETag` seen, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The last `Last-Modified` seen, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

impl Validators {
    /// No validators: the request is unconditional.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    fn from_headers(headers: &HeaderMap) -> Validators {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        }
    }
}

/// A successful fetch.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// A 2xx body (decoded) and the validators to send next time (empty if the upstream gave none).
    Fresh {
        body: Bytes,
        validators: Validators,
        attempts: u32,
        elapsed: Duration,
    },
    /// 304: the feed has not changed since the validators were taken; nothing to parse.
    NotModified { attempts: u32, elapsed: Duration },
}

impl FetchOutcome {
    pub fn attempts(&self) -> u32 {
        match self {
            FetchOutcome::Fresh { attempts, .. } | FetchOutcome::NotModified { attempts, .. } => {
                *attempts
            }
        }
    }

    /// Time from the start of the fetch to the outcome, backoff sleeps included.
    pub fn elapsed(&self) -> Duration {
        match self {
            FetchOutcome::Fresh { elapsed, .. } | FetchOutcome::NotModified { elapsed, .. } => {
                *elapsed
            }
        }
    }
}

/// The HTTP client: one per process, cloned cheaply into every poller (it shares the connection
/// pool, so SWPC's keep-alive connections are reused across feeds).
#[derive(Clone)]
pub struct Fetcher {
    /// reqwest's client, an `Arc` inside; holds the pool, the timeout and the TLS setup.
    client: reqwest::Client,
    /// Retry, size and timeout policy.
    cfg: Arc<FetchConfig>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("cfg", &self.cfg).finish()
    }
}

/// Installs rustls's *ring* provider as the process default unless one is already installed.
/// The project builds reqwest with `rustls-no-provider` to avoid aws-lc-rs's C build, and reqwest
/// then panics when it builds a client without a process-wide provider. Safe to call repeatedly.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed (by an earlier call or by the application).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Fetcher {
    /// Builds the client. Fails (kind `Client`) on a zero timeout or size cap, or an invalid
    /// user agent: configuration mistakes that would otherwise make every fetch fail.
    pub fn new(cfg: FetchConfig) -> Result<Fetcher, FetchError> {
        let reject = |detail: String| {
            FetchError::new(
                FetchErrorKind::Client,
                None,
                0,
                Duration::ZERO,
                Some(detail),
            )
        };
        if cfg.timeout.is_zero() {
            return Err(reject("http_client.timeout must be > 0".into()));
        }
        if cfg.max_response_bytes == 0 {
            return Err(reject("http_client.max_response_bytes must be > 0".into()));
        }
        install_crypto_provider();
        let client = reqwest::Client::builder()
            // Total per attempt: covers connect, TLS, head and the whole body.
            .timeout(cfg.timeout)
            .user_agent(cfg.user_agent.clone())
            .gzip(true)
            .build()
            .map_err(|e| reject(error_chain(&e.without_url(), &[])))?;
        Ok(Fetcher {
            client,
            cfg: Arc::new(cfg),
        })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.cfg
    }

    /// GETs `url` with retries. Sends `validators` as conditional headers; returns
    /// [`FetchOutcome::NotModified`] on 304. Returns `Cancelled` as soon as `cancel` fires, whether
    /// an attempt is in flight or the fetcher is waiting to retry.
    pub async fn get(
        &self,
        url: &Url,
        validators: &Validators,
        cancel: &CancellationToken,
    ) -> Result<FetchOutcome, FetchError> {
        let shown = RedactedUrl::new(url);
        // One span per fetch (retries included): what the slow-operation warning and
        // `flare-plus profile` report as the fetch stage, with the outcome recorded at the end.
        let span = tracing::debug_span!(
            "fetch",
            url = %shown,
            outcome = tracing::field::Empty,
            bytes = tracing::field::Empty,
            attempts = tracing::field::Empty
        );
        let result = self
            .get_with_retries(url, &shown, validators, cancel)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(FetchOutcome::Fresh { body, attempts, .. }) => {
                span.record("outcome", "fresh");
                span.record("bytes", body.len());
                span.record("attempts", attempts);
            }
            Ok(FetchOutcome::NotModified { attempts, .. }) => {
                span.record("outcome", "not_modified");
                span.record("attempts", attempts);
            }
            Err(e) => {
                span.record("outcome", e.code());
                span.record("attempts", e.attempts());
            }
        }
        result
    }

    async fn get_with_retries(
        &self,
        url: &Url,
        shown: &RedactedUrl,
        validators: &Validators,
        cancel: &CancellationToken,
    ) -> Result<FetchOutcome, FetchError> {
        let started = Instant::now();
        let error = |kind, attempts, detail| {
            FetchError::new(
                kind,
                Some(shown.clone()),
                attempts,
                started.elapsed(),
                detail,
            )
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(error(
                FetchErrorKind::InvalidUrl,
                0,
                Some("not an http(s) URL".into()),
            ));
        }
        let secrets = redact::secret_values(url);
        let mut attempts: u32 = 0;
        loop {
            if cancel.is_cancelled() {
                debug!(attempts, "fetch cancelled");
                return Err(error(FetchErrorKind::Cancelled, attempts, None));
            }
            attempts = attempts.saturating_add(1);
            debug!(attempt = attempts, "fetch attempt");
            let result = tokio::select! {
                biased;
                () = cancel.cancelled() => Err(Failure::of(FetchErrorKind::Cancelled)),
                result = self.attempt(url, validators, &secrets) => result,
            };
            let failure = match result {
                Ok(Attempt::Fresh { body, validators }) => {
                    debug!(attempt = attempts, bytes = body.len(), "fetch fresh");
                    return Ok(FetchOutcome::Fresh {
                        body,
                        validators,
                        attempts,
                        elapsed: started.elapsed(),
                    });
                }
                Ok(Attempt::NotModified) => {
                    debug!(attempt = attempts, "fetch not modified");
                    return Ok(FetchOutcome::NotModified {
                        attempts,
                        elapsed: started.elapsed(),
                    });
                }
                Err(failure) => failure,
            };
            if failure.kind == FetchErrorKind::Cancelled {
                debug!(attempts, "fetch cancelled");
                return Err(error(failure.kind, attempts, None));
            }
            if !failure.kind.is_retryable() || attempts > self.cfg.max_retries {
                let err = error(failure.kind, attempts, failure.detail);
                let elapsed_ms = u64::try_from(err.elapsed().as_millis()).unwrap_or(u64::MAX);
                // The error's text carries the redacted URL.
                if err.kind() == FetchErrorKind::Status(404) {
                    // "Not there" is an answer, not a fault: the caller decides what it means
                    // (a backfill's absent day file; a poller's wrong URL, which the poller
                    // logs once per incident), so it is not a warning here.
                    debug!(kind = err.code(), attempts, elapsed_ms, error = %err, "fetch failed");
                } else {
                    warn!(kind = err.code(), attempts, elapsed_ms, error = %err, "fetch failed");
                }
                return Err(err);
            }
            let delay = self.retry_delay(attempts - 1, failure.retry_after);
            debug!(
                attempt = attempts,
                kind = failure.kind.code(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                detail = failure.detail.as_deref().unwrap_or(""),
                "fetch attempt failed; retrying"
            );
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    debug!(attempts, "fetch cancelled during backoff");
                    return Err(error(FetchErrorKind::Cancelled, attempts, None));
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// The wait before retry `retry_index` (0-based): the upstream's `Retry-After` when it sent
    /// one (capped at `retry_max`), else full-jitter exponential backoff.
    fn retry_delay(&self, retry_index: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wanted) if wanted > self.cfg.retry_max => {
                info!(
                    wanted_secs = wanted.as_secs(),
                    capped_ms = u64::try_from(self.cfg.retry_max.as_millis()).unwrap_or(u64::MAX),
                    "Retry-After longer than http_client.retry_max; waiting retry_max instead"
                );
                self.cfg.retry_max
            }
            Some(wanted) => wanted,
            None => full_jitter(backoff_ceiling(
                self.cfg.retry_base,
                self.cfg.retry_max,
                retry_index,
            )),
        }
    }

    /// One request and, for a 2xx, its whole body (capped).
    async fn attempt(
        &self,
        url: &Url,
        validators: &Validators,
        secrets: &[String],
    ) -> Result<Attempt, Failure> {
        let mut request = self.client.get(url.clone());
        if let Some(value) = header_value(validators.etag.as_deref()) {
            request = request.header(IF_NONE_MATCH, value);
        }
        if let Some(value) = header_value(validators.last_modified.as_deref()) {
            request = request.header(IF_MODIFIED_SINCE, value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(e, secrets))?;
        let status = response.status().as_u16();
        if status == 304 && !validators.is_empty() {
            return Ok(Attempt::NotModified);
        }
        if !response.status().is_success() {
            let retry_after = if honours_retry_after(status) {
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
            } else {
                None
            };
            return Err(Failure {
                kind: FetchErrorKind::Status(status),
                retry_after,
                detail: None,
            });
        }
        let limit = self.cfg.max_response_bytes;
        if let Some(declared) = response.content_length() {
            if declared > limit {
                return Err(Failure::too_large(
                    limit,
                    format!("Content-Length {declared}"),
                ));
            }
        }
        let fresh_validators = Validators::from_headers(response.headers());
        let body = read_capped(&mut response, limit, secrets).await?;
        Ok(Attempt::Fresh {
            body,
            validators: fresh_validators,
        })
    }
}

/// A validator as a header value; one that is not a valid header value (a corrupted checkpoint)
/// is dropped, which only makes the request unconditional.
fn header_value(value: Option<&str>) -> Option<HeaderValue> {
    let value = value?;
    match HeaderValue::from_str(value) {
        Ok(v) => Some(v),
        Err(_) => {
            debug!("validator is not a valid header value; sending an unconditional GET");
            None
        }
    }
}

/// Streams the body into memory, failing as soon as it would exceed `limit` bytes. At most
/// `limit` bytes are ever held, plus the one chunk in hand; growth never over-allocates past
/// `limit`.
async fn read_capped(
    response: &mut reqwest::Response,
    limit: u64,
    secrets: &[String],
) -> Result<Bytes, Failure> {
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let declared = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body: Vec<u8> = Vec::with_capacity(declared.min(limit_bytes));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_reqwest(e, secrets))?
    {
        let needed = body.len().saturating_add(chunk.len());
        if needed > limit_bytes {
            return Err(Failure::too_large(
                limit,
                format!("body exceeded {limit} bytes while streaming"),
            ));
        }
        if needed > body.capacity() {
            let target = body
                .capacity()
                .saturating_mul(2)
                .max(needed)
                .min(limit_bytes);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// What one attempt produced when it did not fail.
enum Attempt {
    Fresh { body: Bytes, validators: Validators },
    NotModified,
}

/// Why one attempt failed, before it becomes a [`FetchError`] (which adds URL and cost).
#[derive(Debug)]
struct Failure {
    kind: FetchErrorKind,
    /// The upstream's `Retry-After` (429/503 only).
    retry_after: Option<Duration>,
    /// Lower-layer text, secrets scrubbed.
    detail: Option<String>,
}

impl Failure {
    fn of(kind: FetchErrorKind) -> Failure {
        Failure {
            kind,
            retry_after: None,
            detail: None,
        }
    }

    fn too_large(limit: u64, detail: String) -> Failure {
        Failure {
            kind: FetchErrorKind::TooLarge { limit },
            retry_after: None,
            detail: Some(detail),
        }
    }

    fn from_reqwest(err: reqwest::Error, secrets: &[String]) -> Failure {
        let kind = classify(&err);
        Failure {
            kind,
            retry_after: None,
            detail: Some(error_chain(&err.without_url(), secrets)),
        }
    }
}

/// Maps a reqwest error to a kind. reqwest reports every failure while reading the body as a
/// "decode" error, so a body cut off by the network (a hyper/io error underneath) is told apart
/// from a bad gzip stream by walking the source chain.
fn classify(err: &reqwest::Error) -> FetchErrorKind {
    if err.is_timeout() {
        FetchErrorKind::Timeout
    } else if err.is_connect() {
        FetchErrorKind::Connect
    } else if err.is_body() || err.is_decode() {
        if cut_off_in_transit(err) {
            FetchErrorKind::Body
        } else {
            FetchErrorKind::Decode
        }
    } else if err.is_request() {
        FetchErrorKind::Transport
    } else if err.is_builder() {
        FetchErrorKind::InvalidUrl
    } else {
        FetchErrorKind::Other
    }
}

/// True when the chain holds a transport failure: hyper's own error (incomplete message, closed
/// connection) or an I/O error of the "peer went away" family.
fn cut_off_in_transit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) {
                return true;
            }
        }
        if e.downcast_ref::<hyper::Error>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// `outer: inner: innermost`, with every secret value replaced by `***`.
fn error_chain(err: &(dyn std::error::Error + 'static), secrets: &[String]) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        // Wrappers often repeat their source's text; keep each message once.
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    redact::scrub(&parts.join(": "), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_http_client_section_of_config_default_toml() {
        let d = FetchConfig::default();
        assert_eq!(d.timeout, Duration::from_secs(30));
        assert_eq!(d.max_response_bytes, 67_108_864);
        assert_eq!(d.max_retries, 3);
        assert_eq!(d.retry_base, Duration::from_secs(1));
        assert_eq!(d.retry_max, Duration::from_secs(30));
    }

    #[test]
    fn retry_after_is_obeyed_below_the_cap_and_capped_above_it() {
        let fetcher = Fetcher::new(FetchConfig {
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_secs(5),
            ..FetchConfig::default()
        })
        .unwrap();
        let secs = Duration::from_secs;
        assert_eq!(fetcher.retry_delay(0, Some(secs(2))), secs(2));
        assert_eq!(fetcher.retry_delay(3, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(fetcher.retry_delay(0, Some(secs(3600))), secs(5));
        for k in 0..10 {
            let ceiling = backoff_ceiling(Duration::from_millis(10), secs(5), k);
            assert!(fetcher.retry_delay(k, None) <= ceiling);
        }
    }

    #[test]
    fn nonsense_configuration_is_refused() {
        let zero_cap = Fetcher::new(FetchConfig {
            max_response_bytes: 0,
            ..FetchConfig::default()
        });
        assert_eq!(zero_cap.unwrap_err().kind(), FetchErrorKind::Client);
        let bad_agent = Fetcher::new(FetchConfig {
            user_agent: "line\nbreak".to_string(),
            ..FetchConfig::default()
        });
        assert_eq!(bad_agent.unwrap_err().kind(), FetchErrorKind::Client);
    }

    #[test]
    fn validators_round_trip_through_json_for_checkpoints() {
        let v = Validators {
            etag: Some("W/\"abc\"".into()),
            last_modified: Some("Fri, 10 May 2024 12:00:00 GMT".into()),
        };
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Validators>(&json).unwrap(), v);
        assert!(Validators::default().is_empty());
    }

    #[tokio::test]
    async fn non_http_urls_are_rejected_without_a_request() {
        let fetcher = Fetcher::new(FetchConfig::default()).unwrap();
        let url = Url::parse("file:///etc/passwd?token=T0K").unwrap();
        let err = fetcher
            .get(&url, &Validators::default(), &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), FetchErrorKind::InvalidUrl);
        assert_eq!(err.attempts(), 0);
        assert!(!err.to_string().contains("T0K"));
    }
}
