//! The feature role: each feature worker consumes all of OBS (its own durable pull consumer)
//! into a [`series::FeatureSeries`] and publishes the vectors of the series it owns (see
//! [`membership`]): provisional and final vectors on `flare.features.global` and final ones per
//! active region on `flare.features.region.<number>`. A restart rebuilds the state from the
//! stream and the checkpoint (see [`rebuild`]).

pub mod actor;
pub mod core;
pub mod jobs;
pub mod membership;
pub mod rebuild;
pub mod series;

use actix::{Actor, Addr, Arbiter};
use actors::nats::{DeadLetterSink, PublisherConfig, PullSource, PullSourceConfig};
use actors::{ActorMetrics, Mailbox};
use chrono::Duration;

use crate::bus::{streams, subjects, Checkpoints};
use crate::config::FeaturesConfig;
use crate::pipeline::actor_thread::ActorThread;
use crate::pipeline::{Runtime, StartError};

use self::actor::{FeatureActor, Settle};
use self::core::{worker_key, FeatureCheckpoint, FeatureCore};
use self::membership::{sanitize_id, MembershipHandle};
use self::series::{FeatureSeries, SeriesSettings};

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

/// The series settings from config.
pub fn series_settings(f: &FeaturesConfig) -> SeriesSettings {
    SeriesSettings {
        profile: f.profile,
        cadence: Duration::seconds(i64::try_from(f.cadence_secs).unwrap_or(60)),
        horizon: Duration::minutes(i64::try_from(f.final_horizon_minutes).unwrap_or(120)),
        region_cadence: (f.region_vector_every_secs > 0)
            .then(|| Duration::seconds(i64::try_from(f.region_vector_every_secs).unwrap_or(3600))),
    }
}

pub struct FeaturesRole {
    thread: ActorThread,
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

        let series = FeatureSeries::new(series_settings(f), saved.progress)
            .map_err(|e| StartError::Config(e.to_string()))?;
        // Deliveries in, vectors out and their acks stay on the actor's thread.
        let thread = ActorThread::start(runtime, ACTOR).await?;
        let js = thread.jetstream();
        let publisher = actors::nats::Publisher::new(
            js.clone(),
            PublisherConfig::default(),
            runtime.shutdown.token(),
        );
        let handover = Duration::minutes(i64::try_from(f.handover_window_minutes).unwrap_or(60));
        let mut core = FeatureCore::new(
            series,
            publisher,
            checkpoints,
            f.profile,
            membership,
            handover,
            saved,
        )
        .with_max_in_flight(f.max_in_flight)
        .with_vector_format(f.vector_format);
        let rebuilt = match (saved.rebuild_from, saved.next_sequence) {
            (Some(from), Some(next)) if next > from => {
                rebuild::rebuild(&runtime.topology.obs, from, next - 1, &mut core)
                    .await
                    .map_err(|e| StartError::Config(format!("rebuilding the feature state: {e}")))?
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
        let consumer = streams::obs_consumer_on(&js, &consumer_name).await?;
        let stop = runtime.shutdown.clone();
        tokio::spawn(streams::watch_consumer_backlog(
            consumer.clone(),
            streams::FEATURES_CONSUMER,
            std::time::Duration::from_secs(5),
            async move { stop.cancelled().await },
        ));
        let status = core.subscribe();
        let metrics = ActorMetrics::register(ACTOR);
        let actor_metrics = metrics.clone();
        let addr = FeatureActor::start_in_arbiter(&thread.arbiter.handle(), move |_| {
            FeatureActor::new(core, actor_metrics)
        });
        let source = PullSource::new(
            consumer,
            PullSourceConfig {
                max_in_flight: f.max_in_flight,
                batch: f.max_in_flight.min(256),
                ..Default::default()
            },
            metrics.clone(),
            DeadLetterSink::new(js, subjects::dlq_for),
        )
        .with_ready_flag(runtime.readiness.add_flag("features consumer bound"));
        let mailbox = Mailbox::new(addr.clone(), metrics);
        thread.run_source(runtime, source, mailbox);
        start_jobs(runtime, series_settings(f)).await?;
        tracing::info!(worker, "feature worker started");
        Ok(FeaturesRole {
            thread,
            addr,
            worker,
            status,
            rebuilt,
        })
    }

    /// Flushes and checkpoints, then stops the actor's thread. Call after the source stopped.
    pub async fn stop(self) {
        if let Ok(Err(e)) = self.addr.send(Settle { force: true }).await {
            tracing::warn!(error = %e, "final feature checkpoint failed");
        }
        self.thread.stop().await;
    }
}

/// The backfill job taker of a feature worker: the shared JOBS consumer feeding a
/// [`jobs::JobActor`] one job at a time, on its own arbiter (a job is CPU work that must not
/// delay the live series). Runs on the System thread (arbiters are created from it).
async fn start_jobs(runtime: &Runtime, settings: SeriesSettings) -> Result<(), StartError> {
    let config = &runtime.config;
    let format = config.features.vector_format;
    let options = crate::store::StoreOptions::from(&config.database);
    // Connecting is lazy: this only checks the URL; the database is first used by a job.
    let store = crate::store::Store::connect(&config.database.url, &options)
        .await
        .map_err(|e| StartError::Config(format!("database for feature jobs: {e}")))?;
    let consumer = streams::jobs_consumer(&runtime.topology).await?;
    let js = runtime.topology.js.clone();
    let metrics = ActorMetrics::register("feature_jobs");
    let publisher = actors::nats::Publisher::new(
        js.clone(),
        PublisherConfig::default(),
        runtime.shutdown.token(),
    );
    let arbiter = Arbiter::new();
    let actor_metrics = metrics.clone();
    let addr = jobs::JobActor::start_in_arbiter(&arbiter.handle(), move |_| {
        jobs::JobActor::new(store, settings, format, publisher, actor_metrics)
    });
    let source = PullSource::new(
        consumer,
        PullSourceConfig {
            max_in_flight: 1,
            batch: 1,
            ..Default::default()
        },
        metrics.clone(),
        DeadLetterSink::new(js, subjects::dlq_for),
    );
    let (shutdown, limit) = (runtime.shutdown.clone(), config.shutdown.limit());
    runtime.shutdown.spawn(async move {
        source
            .run(Mailbox::new(addr, metrics), shutdown, limit)
            .await;
        arbiter.stop();
    });
    Ok(())
}
