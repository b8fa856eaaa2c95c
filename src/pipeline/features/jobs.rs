//! Feature backfill as jobs: a time range is split into jobs on the work-queue stream JOBS;
//! any number of feature workers take jobs from one shared durable consumer, compute the
//! final vectors of their range from storage (each job warms up on the 48 h before it), publish
//! them like live final vectors (same subjects, same ids and content) and ack the job only
//! once the stream stored them. A job that fails is nak'ed and another worker retries it.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AtomicResponse, Context, Handler, WrapFuture};
use actors::nats::{DeadLetterReason, Delivery, OutboundMessage, Publisher};
use actors::{ActorMetrics, Envelope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bus::vectors::VectorFormat;
use crate::bus::{subjects, vectors};
use crate::domain::XrayFeed;
use crate::features::series::{
    align_down, align_up, SeriesId, SeriesSettings, Vector, VectorStatus,
};
use crate::features::{FeatureConfig, FeatureEngine};
use crate::pipeline::events;

/// The actor name (metric label).
pub const ACTOR: &str = "feature_jobs";
use crate::store::Store;

/// One job: the final vectors of every tick in `[from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureJob {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl FeatureJob {
    /// `Nats-Msg-Id` of the job: submitting the same range twice queues it once.
    pub fn id(&self) -> String {
        format!(
            "job:features:{}:{}",
            self.from.to_rfc3339(),
            self.to.to_rfc3339()
        )
    }

    pub fn to_message(&self) -> OutboundMessage {
        OutboundMessage {
            subject: subjects::JOBS_FEATURES.to_string(),
            headers: async_nats::HeaderMap::new(),
            payload: serde_json::to_vec(self).unwrap_or_default().into(),
            msg_id: Some(self.id()),
        }
    }
}

/// Splits `[from, to]` into jobs of at most `job` duration on tick boundaries; consecutive jobs
/// neither overlap nor leave a tick out.
pub fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    job: chrono::Duration,
    cadence: chrono::Duration,
) -> Vec<FeatureJob> {
    let mut jobs = Vec::new();
    let mut start = align_up(from, cadence);
    let end = align_down(to, cadence);
    while start <= end {
        let stop = align_down(start + job - cadence, cadence)
            .min(end)
            .max(start);
        jobs.push(FeatureJob {
            from: start,
            to: stop,
        });
        start = stop + cadence;
    }
    jobs
}

/// The final vectors of one job, computed from storage with one bulk query per table over the
/// job's range plus the 48 h warm-up. Equal to what the live series publishes for those ticks.
pub async fn compute(
    store: &Store,
    job: FeatureJob,
    settings: &SeriesSettings,
) -> Result<Vec<Vector>, String> {
    let cfg = FeatureConfig::with_profile(settings.profile);
    let warm_up = chrono::Duration::hours(i64::from(cfg.data_window_h()));
    let from = job.from - warm_up;
    let flux = store
        .read_flux(XrayFeed::Primary, from, job.to)
        .await
        .map_err(|e| e.to_string())?;
    let regions = store
        .read_regions(from, job.to)
        .await
        .map_err(|e| e.to_string())?;
    let flares = store
        .read_flare_events(from, job.to)
        .await
        .map_err(|e| e.to_string())?;
    let mut engine = FeatureEngine::new(cfg).map_err(|e| e.to_string())?;
    for r in &regions {
        engine.push_region(r);
    }
    for f in flares {
        engine.upsert_flare(
            format!("{}@{}", f.natural_key(), f.peak_time.timestamp_micros()),
            f,
        );
    }
    let mut out = Vec::new();
    let mut next_flux = 0;
    let mut tick = job.from;
    while tick <= job.to {
        while next_flux < flux.len() && flux[next_flux].time <= tick {
            engine
                .push_flux(&flux[next_flux])
                .map_err(|e| e.to_string())?;
            next_flux += 1;
        }
        let region_tick = settings
            .region_cadence
            .is_some_and(|c| align_down(tick, c) == tick);
        let (global, regions) = if region_tick {
            engine
                .features_with_regions_at(tick)
                .map_err(|e| e.to_string())?
        } else {
            (
                engine.features_at(tick).map_err(|e| e.to_string())?,
                Vec::new(),
            )
        };
        let covariates = engine.covariates_at(tick).map_err(|e| e.to_string())?;
        out.push(Vector {
            series: SeriesId::Global,
            status: VectorStatus::Final,
            features: global,
            covariates: Some(covariates),
        });
        for (n, row) in regions {
            out.push(Vector {
                series: SeriesId::Region(n),
                status: VectorStatus::Final,
                features: row,
                covariates: None,
            });
        }
        tick += settings.cadence;
    }
    Ok(out)
}

/// Takes jobs from the JOBS consumer, one at a time.
pub struct JobActor {
    store: Store,
    settings: SeriesSettings,
    format: VectorFormat,
    publisher: Option<Publisher>,
    metrics: Arc<ActorMetrics>,
}

impl JobActor {
    pub fn new(
        store: Store,
        settings: SeriesSettings,
        format: VectorFormat,
        publisher: Publisher,
        metrics: Arc<ActorMetrics>,
    ) -> JobActor {
        JobActor {
            store,
            settings,
            format,
            publisher: Some(publisher),
            metrics,
        }
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;
}

impl Handler<Envelope<Delivery>> for JobActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, envelope: Envelope<Delivery>, _: &mut Context<Self>) -> Self::Result {
        let (delivery, timer) = envelope.open();
        let (store, settings, format, publisher) = (
            self.store.clone(),
            self.settings,
            self.format,
            self.publisher.take(),
        );
        AtomicResponse::new(Box::pin(
            async move {
                let Some(mut publisher) = publisher else {
                    let _ = delivery.nak(Duration::from_secs(1)).await;
                    return None;
                };
                let job: FeatureJob = match serde_json::from_slice(delivery.payload()) {
                    Ok(job) => job,
                    Err(e) => {
                        let _ = delivery.dead_letter(&DeadLetterReason::new("invalid_job", e.to_string())).await;
                        return Some(publisher);
                    }
                };
                let _ = delivery.in_progress().await;
                let vectors = match compute(&store, job, &settings).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, from = %job.from, to = %job.to, "feature job failed; it will be retried");
                        let _ = delivery.nak(Duration::from_secs(5)).await;
                        return Some(publisher);
                    }
                };
                let mut published = 0u64;
                for v in &vectors {
                    if publisher.publish(vectors::to_message(v, settings.profile, format)).await.is_err() {
                        let _ = delivery.nak(Duration::from_secs(5)).await;
                        return Some(publisher);
                    }
                    published += 1;
                    if published % 2000 == 0 {
                        let _ = delivery.in_progress().await;
                    }
                }
                if publisher.flush().await.is_err() {
                    let _ = delivery.nak(Duration::from_secs(5)).await;
                    return Some(publisher);
                }
                events::vectors_published("backfill", "final", published);
                tracing::info!(from = %job.from, to = %job.to, vectors = published, "feature job done");
                let _ = delivery.ack().await;
                Some(publisher)
            }
            .into_actor(self)
            .map(move |publisher, actor, _| {
                actor.publisher = publisher.or(actor.publisher.take());
                actor.metrics.set_memory_bytes(0);
                drop(timer);
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_cover_the_range_without_gaps_or_overlaps() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let minute = chrono::Duration::minutes(1);
        let jobs = split(
            t("2024-05-01T00:00:30Z"),
            t("2024-05-03T12:00:00Z"),
            chrono::Duration::hours(24),
            minute,
        );
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].from, t("2024-05-01T00:01:00Z"));
        for w in jobs.windows(2) {
            assert_eq!(w[1].from, w[0].to + minute, "no gap, no overlap");
        }
        assert_eq!(jobs.last().unwrap().to, t("2024-05-03T12:00:00Z"));
        let ticks: i64 = jobs.iter().map(|j| (j.to - j.from).num_minutes() + 1).sum();
        assert_eq!(
            ticks,
            (t("2024-05-03T12:00:00Z") - t("2024-05-01T00:01:00Z")).num_minutes() + 1
        );
        assert_eq!(jobs[0].id(), FeatureJob { ..jobs[0] }.id());
    }
}
