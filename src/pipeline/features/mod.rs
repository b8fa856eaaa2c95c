//! The feature role: each feature worker consumes all of OBS (its own durable pull consumer)
//! into a [`crate::features::series::FeatureSeries`] and publishes the vectors of the series it owns (see
//! [`membership`]): provisional and final vectors on `flare.features.global` and final ones per
//! active region on `flare.features.region.<number>`. A restart rebuilds the state from the
//! stream and the checkpoint (see [`rebuild`]).

pub mod actor;
pub mod config;
pub mod core;
pub mod jobs;
pub mod membership;
pub mod rebuild;

use actix::Addr;
use actors::nats::PublisherConfig;
use chrono::Duration;

use self::config::FeaturesConfig;
use crate::bus::{streams, Checkpoints};
use crate::features::series::{FeatureSeries, SeriesSettings};
use crate::pipeline::actor_thread::{ActorThread, Feed};
use crate::pipeline::{Runtime, StartError};

use self::actor::{FeatureActor, Settle};
use self::core::{worker_key, FeatureCheckpoint, FeatureCore};
use self::membership::{sanitize_id, MembershipHandle};

/// The actor name (metric label).
pub const ACTOR: &str = "features";

/// The worker id from config, or the host name.
pub fn worker_id(config: &FeaturesConfig) -> String {
    if !config.worker_id.is_empty() {
        return sanitize_id(&config.worker_id);
    }
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    sanitize_id(&host)
}

/// A configured span as data time. Saturates beyond chrono's range (hundreds of millions of
/// years), which no valid setting reaches.
fn data_time(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// The series settings from config.
pub fn series_settings(f: &FeaturesConfig) -> SeriesSettings {
    SeriesSettings {
        profile: f.profile,
        cadence: data_time(f.cadence),
        horizon: data_time(f.final_horizon),
        region_cadence: (!f.region_vector_every.is_zero())
            .then(|| data_time(f.region_vector_every)),
    }
}

pub struct FeaturesRole {
    thread: ActorThread,
    jobs: ActorThread,
    addr: Addr<FeatureActor>,
    pub worker: String,
    /// What the actor has published so far.
    pub status: tokio::sync::watch::Receiver<self::core::FeatureStatus>,
    /// Observations re-read from the stream at start (restart rebuild).
    pub rebuilt: u64,
}

impl FeaturesRole {
    pub async fn start(runtime: &Runtime) -> Result<FeaturesRole, StartError> {
        let config = &runtime.config;
        let f = &config.features;
        let worker = worker_id(f);
        let checkpoints = Checkpoints::new(runtime.topology.checkpoints.clone());
        let saved: FeatureCheckpoint = checkpoints
            .get(&worker_key(&worker))
            .await?
            .unwrap_or_default();
        // Without a position to resume from, start over (the checkpoint is of an older form).
        let saved = if saved.next_sequence.is_some() {
            saved
        } else {
            FeatureCheckpoint::default()
        };
        let membership = MembershipHandle::new(&worker);
        let kv = runtime.topology.checkpoints.clone();
        let (stop, handle) = (runtime.shutdown.clone(), membership.clone());
        runtime
            .shutdown
            .spawn(membership::run(kv, handle, async move {
                stop.cancelled().await
            }));

        let series = FeatureSeries::new(series_settings(f), saved.progress)?;
        // Deliveries in, vectors out and their acks stay on the actor's thread.
        let thread = ActorThread::start(runtime, ACTOR).await?;
        let publisher = actors::nats::Publisher::new(
            thread.jetstream(),
            PublisherConfig::default(),
            runtime.shutdown.token(),
        );
        let mut core = FeatureCore::new(
            series,
            publisher,
            checkpoints,
            f.profile,
            membership,
            data_time(f.handover_window),
            saved,
        )
        .with_max_in_flight(f.max_in_flight)
        .with_vector_format(f.vector_format);
        let rebuilt = match (saved.rebuild_from, saved.next_sequence) {
            (Some(from), Some(next)) if next > from => {
                rebuild::rebuild(&runtime.topology.obs, from, next - 1, &mut core).await?
            }
            _ => 0,
        };
        if rebuilt > 0 {
            tracing::info!(rebuilt, from = ?saved.rebuild_from, next = ?saved.next_sequence, "feature state rebuilt from the stream");
        }
        let consumer_name = format!("{}-{worker}", streams::FEATURES_CONSUMER);
        streams::worker_obs_consumer(
            &runtime.topology,
            &consumer_name,
            f.max_in_flight,
            saved.next_sequence,
        )
        .await?;
        let status = core.subscribe();
        let feed = Feed {
            stream: streams::OBS,
            consumer: &consumer_name,
            max_in_flight: f.max_in_flight,
            batch: f.max_in_flight.min(256),
            ready_flag: Some("features consumer bound"),
            backlog: Some(streams::FEATURES_CONSUMER),
        };
        let addr = thread
            .run_fed(runtime, feed, &runtime.shutdown, move |metrics| {
                FeatureActor::new(core, metrics)
            })
            .await?;
        let jobs = start_jobs(runtime, series_settings(f)).await?;
        tracing::info!(worker, "feature worker started");
        Ok(FeaturesRole {
            thread,
            jobs,
            addr,
            worker,
            status,
            rebuilt,
        })
    }

    /// Flushes and checkpoints, then stops the actors' threads. Call after the sources
    /// stopped.
    pub async fn stop(self) {
        if let Ok(Err(e)) = self.addr.send(Settle { force: true }).await {
            tracing::warn!(error = %e, "final feature checkpoint failed");
        }
        self.thread.stop().await;
        self.jobs.stop().await;
    }
}

/// The backfill job taker of a feature worker: the shared JOBS consumer feeding a
/// [`jobs::JobActor`] one job at a time, on a thread of its own (a job is CPU work that must
/// not delay the live series).
async fn start_jobs(
    runtime: &Runtime,
    settings: SeriesSettings,
) -> Result<ActorThread, StartError> {
    let config = &runtime.config;
    let format = config.features.vector_format;
    // Connecting is lazy: this only checks the URL; the database is first used by a job.
    let store = crate::store::Store::connect(&config.database).await?;
    streams::jobs_consumer(&runtime.topology).await?;
    let thread = ActorThread::start(runtime, jobs::ACTOR).await?;
    let publisher = actors::nats::Publisher::new(
        thread.jetstream(),
        PublisherConfig::default(),
        runtime.shutdown.token(),
    );
    let feed = Feed {
        stream: streams::JOBS,
        consumer: streams::JOBS_CONSUMER,
        max_in_flight: 1,
        batch: 1,
        ready_flag: None,
        backlog: None,
    };
    thread
        .run_fed(runtime, feed, &runtime.shutdown, move |metrics| {
            jobs::JobActor::new(store, settings, format, publisher, metrics)
        })
        .await?;
    Ok(thread)
}
