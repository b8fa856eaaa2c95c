//! Live polling: one task per upstream feed fetches on its interval (conditional GET, retries
//! and size cap in [`crate::sources::fetch`]), parses, and hands the payload to the feed's
//! ingest actor. A bad payload (HTML page, truncated JSON, wrong shape, too large) or a failed
//! fetch is counted and logged once per incident with the URL; the schedule goes on.

use std::time::Duration;

use chrono::Utc;

use super::actor::{Ingest, IngestActor};
use super::core::{IngestError, IngestPayload, SourceCheckpoint};
use crate::bus::Checkpoints;
use crate::config::Secret;
use crate::domain::XrayFeed;
use crate::pipeline::events;
use crate::pipeline::Config;
use crate::sources::fetch::{
    donki_url, FetchError, FetchErrorKind, FetchOutcome, Fetcher, RedactedUrl, Url, Validators,
};
use crate::sources::{parse_payload, ParsedPayload, PayloadError, SourceKind};
use actors::{Mailbox, Shutdown};

/// What to poll and how often.
#[derive(Debug, Clone)]
pub struct PollSpec {
    pub kind: SourceKind,
    /// The feed URL (DONKI: the FLR endpoint; the date window and key are added per poll).
    pub url: String,
    pub interval: Duration,
    /// DONKI only; a [`Secret`] so that printing a spec cannot show it.
    pub api_key: Secret,
    pub lookback_days: u64,
}

impl PollSpec {
    /// The URL of one poll on `today` (DONKI: the lookback window up to today, with the
    /// key). The error text is safe to show (the URL in it is redacted).
    pub fn request_url(&self, today: chrono::NaiveDate) -> Result<Url, String> {
        match self.kind {
            SourceKind::Donki => {
                let start = today
                    .checked_sub_days(chrono::Days::new(self.lookback_days))
                    .unwrap_or(today);
                donki_url(&self.url, start, today, self.api_key.expose()).map_err(|e| e.to_string())
            }
            _ => Url::parse(&self.url)
                .map_err(|e| format!("{}: {e}", RedactedUrl::from_unparsed(&self.url))),
        }
    }
}

/// The feeds to poll with this configuration. DONKI is left out without a NASA API key
/// (or with DEMO_KEY), as flare-plus did; that is logged, not an error.
pub fn poll_specs(config: &Config) -> Vec<PollSpec> {
    let s = &config.sources;
    let mut specs = Vec::new();
    if s.xray.enabled {
        specs.push(PollSpec {
            kind: SourceKind::Xrays(XrayFeed::Primary),
            url: s.xray.primary_url.clone(),
            interval: s.xray.interval,
            api_key: Secret::default(),
            lookback_days: 0,
        });
        if !s.xray.secondary_url.is_empty() {
            specs.push(PollSpec {
                kind: SourceKind::Xrays(XrayFeed::Secondary),
                url: s.xray.secondary_url.clone(),
                interval: s.xray.interval,
                api_key: Secret::default(),
                lookback_days: 0,
            });
        }
    }
    if s.regions.enabled {
        specs.push(PollSpec {
            kind: SourceKind::Regions,
            url: s.regions.url.clone(),
            interval: s.regions.interval,
            api_key: Secret::default(),
            lookback_days: 0,
        });
    }
    if s.donki.enabled && s.donki.has_key() {
        specs.push(PollSpec {
            kind: SourceKind::Donki,
            url: s.donki.url.clone(),
            interval: s.donki.interval,
            api_key: s.donki.api_key.clone(),
            lookback_days: s.donki.lookback_days(),
        });
    } else if s.donki.enabled {
        tracing::info!(
            "DONKI skipped: no NASA API key (set sources.donki.api_key or NASA_API_KEY)"
        );
    }
    specs
}

/// Why one poll produced nothing (for the incident log). Every variant's text names the URL
/// (redacted), so an operator can tell which feed and which request failed.
#[derive(Debug)]
enum PollFailure {
    /// The fetch failed after its retries; the error's text carries the redacted URL.
    Fetch(FetchError),
    /// The body arrived but is not a usable payload (HTML page, truncated or wrong JSON).
    Payload {
        url: RedactedUrl,
        error: PayloadError,
    },
    /// The configured URL is invalid (its text is redacted).
    Url(String),
    /// The payload parsed but could not be published (NATS refused it, or shutdown).
    Ingest {
        url: RedactedUrl,
        error: IngestError,
    },
    /// The ingest actor is gone: nothing more to poll for.
    Actor,
}

impl std::fmt::Display for PollFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollFailure::Fetch(e) => write!(f, "{e}"),
            PollFailure::Payload { url, error } => {
                write!(f, "GET {url}: unusable payload: {error}")
            }
            PollFailure::Url(text) => f.write_str(text),
            PollFailure::Ingest { url, error } => {
                write!(f, "publishing the payload of GET {url}: {error}")
            }
            PollFailure::Actor => f.write_str("the ingest actor stopped"),
        }
    }
}

/// How a poll ended when it did not fail.
enum Polled {
    /// A payload was published (or the feed was unchanged).
    Done,
    /// Shutdown interrupted the fetch: neither counted nor logged, the loop ends.
    Cancelled,
}

/// Polls `spec` until shutdown, handing payloads to `actor`.
///
/// A failure is logged once per incident (the first failing poll, with the URL), not once per
/// poll: a feed that is down for a day would otherwise log every minute. Every poll is still
/// counted in `pipeline_fetches_total{source,outcome}`; the recovery is logged too.
pub async fn run(
    spec: PollSpec,
    fetcher: Fetcher,
    actor: Mailbox<IngestActor>,
    checkpoints: Checkpoints,
    shutdown: Shutdown,
) {
    let source = spec.kind.source();
    // The validators of the last payload published survive restarts in the checkpoint, so a
    // restarted poller's first request can be answered with a 304.
    let saved: SourceCheckpoint = match checkpoints.get(spec.kind.checkpoint_key()).await {
        Ok(saved) => saved.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(source, error = %e, "no saved validators; the first poll is unconditional");
            SourceCheckpoint::default()
        }
    };
    let mut validators = Validators {
        etag: saved.etag,
        last_modified: saved.last_modified,
    };
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing: Option<String> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        match poll_once(&spec, &fetcher, &mut validators, &actor, &shutdown).await {
            Ok(Polled::Done) => {
                if let Some(incident) = failing.take() {
                    tracing::info!(source, incident = %incident, "polling recovered");
                }
            }
            Ok(Polled::Cancelled) => break,
            Err(failure) => {
                if failing.is_none() {
                    tracing::warn!(
                        source,
                        error = %failure,
                        "poll failed; logged once until the feed recovers"
                    );
                }
                failing = Some(failure.to_string());
                if matches!(failure, PollFailure::Actor) {
                    break;
                }
            }
        }
    }
}

/// One poll: fetch (conditional, with retries), parse, publish. Counts exactly one
/// `pipeline_fetches_total` outcome and one `pipeline_fetch_seconds` sample per poll that
/// reached the network: `fresh`, `not_modified`, `bad_payload` or the fetch error's code.
async fn poll_once(
    spec: &PollSpec,
    fetcher: &Fetcher,
    validators: &mut Validators,
    actor: &Mailbox<IngestActor>,
    shutdown: &Shutdown,
) -> Result<Polled, PollFailure> {
    let source = spec.kind.source();
    let url = spec
        .request_url(Utc::now().date_naive())
        .map_err(PollFailure::Url)?;
    let shown = RedactedUrl::new(&url);
    // DONKI's window moves daily: its validators would never match, and it has none anyway.
    let conditional = spec.kind != SourceKind::Donki;
    let sent = if conditional {
        validators.clone()
    } else {
        Validators::default()
    };
    let (body, fresh, elapsed) = match fetcher.get(&url, &sent, &shutdown.token()).await {
        Ok(FetchOutcome::Fresh {
            body,
            validators: fresh,
            elapsed,
            ..
        }) => (body, fresh, elapsed),
        Ok(FetchOutcome::NotModified { elapsed, .. }) => {
            events::fetched(source, "not_modified", elapsed.as_secs_f64());
            return Ok(Polled::Done);
        }
        Err(e) if e.kind() == FetchErrorKind::Cancelled => return Ok(Polled::Cancelled),
        Err(e) => {
            events::fetched(source, e.code(), e.elapsed().as_secs_f64());
            return Err(PollFailure::Fetch(e));
        }
    };
    // One span per payload (never per record): the parse stage of the slow-operation log.
    let parse_span = tracing::debug_span!(
        "parse",
        source,
        bytes = body.len(),
        records = tracing::field::Empty
    );
    let parsed = parse_span.in_scope(|| parse_payload(spec.kind, &body));
    if let Ok(p) = &parsed {
        parse_span.record("records", p.records.len());
    }
    drop(parse_span);
    let ParsedPayload { records, rejected } = match parsed {
        Ok(r) => r,
        Err(error) => {
            // The fetch worked but the body is unusable: counted as such (not as `fresh`),
            // and its validators are not kept, or a 304 would hide the next good version.
            events::fetched(source, "bad_payload", elapsed.as_secs_f64());
            return Err(PollFailure::Payload { url: shown, error });
        }
    };
    events::fetched(source, "fresh", elapsed.as_secs_f64());
    let payload = IngestPayload {
        records,
        rejected,
        validators: conditional.then(|| (fresh.etag.clone(), fresh.last_modified.clone())),
    };
    match actor.send(Ingest(payload)).await {
        Ok(Ok(report)) => {
            // Only now: a payload that was not published must not be answered with a 304
            // next time.
            if conditional {
                *validators = fresh;
            }
            tracing::debug!(
                source,
                published = report.published,
                skipped = report.already_published(),
                dead_lettered = report.dead_lettered,
                "poll ingested"
            );
            Ok(Polled::Done)
        }
        Ok(Err(error)) => Err(PollFailure::Ingest { url: shown, error }),
        Err(_) => Err(PollFailure::Actor),
    }
}
