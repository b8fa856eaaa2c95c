//! Live polling: one task per upstream feed fetches on its interval (conditional GET, retries
//! and size cap in [`crate::sources::fetch`]), parses, and hands the payload to the feed's
//! ingest actor. A bad payload (HTML page, truncated JSON, wrong shape, too large) or a failed
//! fetch is counted and logged once per incident with the URL; the schedule goes on.

use std::time::Duration;

use chrono::Utc;

use super::actor::{Ingest, IngestActor};
use super::core::{IngestPayload, Records, SourceCheckpoint};
use crate::bus::Checkpoints;
use crate::config::Config;
use crate::domain::XrayFeed;
use crate::pipeline::events;
use crate::sources::donki::parse_donki_flares;
use crate::sources::fetch::{donki_url, FetchOutcome, Fetcher, Url, Validators};
use crate::sources::swpc_regions::parse_regions;
use crate::sources::swpc_xray::parse_xrays;
use crate::sources::{PayloadError, SourceKind};
use actors::{Mailbox, Shutdown};

/// What to poll and how often.
#[derive(Debug, Clone)]
pub struct PollSpec {
    pub kind: SourceKind,
    /// The feed URL (DONKI: the FLR endpoint; the date window and key are added per poll).
    pub url: String,
    pub interval: Duration,
    /// DONKI only.
    pub api_key: String,
    pub lookback_days: u64,
}

/// The feeds to poll with this configuration. DONKI is left out without a NASA API key
/// (or with DEMO_KEY), as flare-plus did; that is logged, not an error.
pub fn poll_specs(config: &Config) -> Vec<PollSpec> {
    let s = &config.sources;
    let secs = Duration::from_secs;
    let mut specs = Vec::new();
    if s.xray.enabled {
        specs.push(PollSpec {
            kind: SourceKind::Xrays(XrayFeed::Primary),
            url: s.xray.primary_url.clone(),
            interval: secs(s.xray.interval_secs),
            api_key: String::new(),
            lookback_days: 0,
        });
        if !s.xray.secondary_url.is_empty() {
            specs.push(PollSpec {
                kind: SourceKind::Xrays(XrayFeed::Secondary),
                url: s.xray.secondary_url.clone(),
                interval: secs(s.xray.interval_secs),
                api_key: String::new(),
                lookback_days: 0,
            });
        }
    }
    if s.regions.enabled {
        specs.push(PollSpec {
            kind: SourceKind::Regions,
            url: s.regions.url.clone(),
            interval: secs(s.regions.interval_secs),
            api_key: String::new(),
            lookback_days: 0,
        });
    }
    let key = s.donki.api_key.expose();
    if s.donki.enabled && !key.is_empty() && key != "DEMO_KEY" {
        specs.push(PollSpec {
            kind: SourceKind::Donki,
            url: s.donki.url.clone(),
            interval: secs(s.donki.interval_secs),
            api_key: key.to_string(),
            lookback_days: s.donki.lookback_days,
        });
    } else if s.donki.enabled {
        tracing::info!(
            "DONKI skipped: no NASA API key (set sources.donki.api_key or NASA_API_KEY)"
        );
    }
    specs
}

/// Why one poll produced nothing (for the incident log).
#[derive(Debug)]
enum PollFailure {
    Fetch(String),
    Payload(PayloadError),
    Url(String),
    Actor,
}

/// Polls `spec` until shutdown, handing payloads to `actor`.
pub async fn run(
    spec: PollSpec,
    fetcher: Fetcher,
    actor: Mailbox<IngestActor>,
    checkpoints: Checkpoints,
    shutdown: Shutdown,
) {
    let source = spec.kind.source();
    let saved: SourceCheckpoint = checkpoints
        .get(spec.kind.checkpoint_key())
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
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
            Ok(()) => {
                if let Some(incident) = failing.take() {
                    tracing::info!(source, "polling recovered after: {incident}");
                }
            }
            Err(failure) => {
                let text = describe(&failure);
                if failing.is_none() {
                    tracing::warn!(
                        source,
                        "poll failed (logged once until it recovers): {text}"
                    );
                }
                failing = Some(text);
                if matches!(failure, PollFailure::Actor) {
                    break;
                }
            }
        }
    }
}

fn describe(failure: &PollFailure) -> String {
    match failure {
        PollFailure::Fetch(text) | PollFailure::Url(text) => text.clone(),
        PollFailure::Payload(e) => format!("unusable payload: {e}"),
        PollFailure::Actor => "the ingest actor stopped".to_string(),
    }
}

async fn poll_once(
    spec: &PollSpec,
    fetcher: &Fetcher,
    validators: &mut Validators,
    actor: &Mailbox<IngestActor>,
    shutdown: &Shutdown,
) -> Result<(), PollFailure> {
    let source = spec.kind.source();
    let url = match spec.kind {
        SourceKind::Donki => {
            let end = Utc::now().date_naive();
            let start = end - chrono::Days::new(spec.lookback_days);
            donki_url(&spec.url, start, end, &spec.api_key)
                .map_err(|e| PollFailure::Url(e.to_string()))?
        }
        _ => Url::parse(&spec.url).map_err(|e| PollFailure::Url(format!("{}: {e}", spec.url)))?,
    };
    // DONKI's window moves daily: its validators would never match, and it has none anyway.
    let sent = if spec.kind == SourceKind::Donki {
        Validators::default()
    } else {
        validators.clone()
    };
    let outcome = fetcher.get(&url, &sent, &shutdown.token()).await;
    let body = match outcome {
        Ok(FetchOutcome::Fresh {
            body,
            validators: fresh,
            elapsed,
            ..
        }) => {
            events::fetched(source, "fresh", elapsed.as_secs_f64());
            *validators = fresh;
            body
        }
        Ok(FetchOutcome::NotModified { elapsed, .. }) => {
            events::fetched(source, "not_modified", elapsed.as_secs_f64());
            return Ok(());
        }
        Err(e) => {
            events::fetched(source, e.code(), e.elapsed().as_secs_f64());
            return Err(PollFailure::Fetch(e.to_string()));
        }
    };
    let parsed = match spec.kind {
        SourceKind::Xrays(feed) => {
            parse_xrays(&body, feed).map(|p| (Records::Xrays(p.records), p.rejected))
        }
        SourceKind::Regions => {
            parse_regions(&body).map(|p| (Records::Regions(p.records), p.rejected))
        }
        SourceKind::Donki => {
            parse_donki_flares(&body).map(|p| (Records::Donki(p.records), p.rejected))
        }
    };
    let (records, rejected) = match parsed {
        Ok(r) => r,
        Err(e) => {
            events::fetched(source, "bad_payload", 0.0);
            // The body was not usable: do not keep its validators, or a 304 would hide the
            // next good version.
            *validators = Validators::default();
            return Err(PollFailure::Payload(e));
        }
    };
    let payload = IngestPayload {
        records,
        rejected,
        validators: Some((validators.etag.clone(), validators.last_modified.clone())),
    };
    match actor.send(Ingest(payload)).await {
        Ok(Ok(report)) => {
            tracing::debug!(
                source,
                published = report.published,
                skipped = report.skipped_old,
                "poll ingested"
            );
            Ok(())
        }
        Ok(Err(e)) => Err(PollFailure::Fetch(format!("ingest: {e}"))),
        Err(_) => Err(PollFailure::Actor),
    }
}
