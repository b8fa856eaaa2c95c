//! The feature role: a durable pull consumer on OBS feeding the [`actor::FeatureActor`],
//! which keeps the global [`series::FeatureSeries`] and publishes provisional and final
//! vectors to `flare.features.global` (and one series per active region). A restart
//! rebuilds the state from the stream and the checkpoint (see [`rebuild`]).

pub mod actor;
pub mod core;
pub mod rebuild;
pub mod series;

use actix::{Actor, Addr, Arbiter};
use actors::nats::{DeadLetterSink, PublisherConfig, PullSource, PullSourceConfig};
use actors::{ActorMetrics, Mailbox};
use chrono::Duration;

use crate::bus::{streams, subjects, Checkpoints};
use crate::pipeline::{Runtime, StartError};

use self::actor::{FeatureActor, Settle};
use self::core::{FeatureCheckpoint, FeatureCore, CHECKPOINT_KEY};
use self::series::{FeatureSeries, SeriesSettings};

/// The actor name (metric label).
pub const ACTOR: &str = "features";

pub struct FeaturesRole {
    arbiter: Arbiter,
    addr: Addr<FeatureActor>,
    /// What the actor has published so far.
    pub status: tokio::sync::watch::Receiver<self::core::FeatureStatus>,
    /// Observations re-read from the stream at start (restart rebuild).
    pub rebuilt: u64,
}

impl FeaturesRole {
    pub async fn start(runtime: &Runtime) -> Result<FeaturesRole, StartError> {
        let config = &runtime.config;
        let f = &config.features;
        let checkpoints = Checkpoints::new(runtime.topology.checkpoints.clone());
        let saved: FeatureCheckpoint = checkpoints.get(CHECKPOINT_KEY).await?.unwrap_or_default();
        let mut consumer = streams::durable_obs_consumer(
            &runtime.topology,
            streams::FEATURES_CONSUMER,
            f.max_in_flight,
        )
        .await?;
        let stop = runtime.shutdown.clone();
        tokio::spawn(streams::watch_consumer_backlog(
            consumer.clone(),
            streams::FEATURES_CONSUMER,
            std::time::Duration::from_secs(5),
            async move { stop.cancelled().await },
        ));
        let resume_at = consumer
            .info()
            .await
            .map_err(|e| StartError::Config(format!("features consumer info: {e}")))?
            .ack_floor
            .stream_sequence;
        let settings = SeriesSettings {
            profile: f.profile,
            cadence: Duration::seconds(i64::try_from(f.cadence_secs).unwrap_or(60)),
            horizon: Duration::minutes(i64::try_from(f.final_horizon_minutes).unwrap_or(120)),
            region_cadence: (f.region_vector_every_secs > 0).then(|| {
                Duration::seconds(i64::try_from(f.region_vector_every_secs).unwrap_or(3600))
            }),
        };
        let series = FeatureSeries::new(settings, saved.progress)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let js = runtime.topology.js.clone();
        let publisher = actors::nats::Publisher::new(
            js.clone(),
            PublisherConfig::default(),
            runtime.shutdown.token(),
        );
        let mut core = FeatureCore::new(series, publisher, checkpoints, f.profile, saved);
        let rebuilt = match saved.rebuild_from {
            Some(from) => rebuild::rebuild(&runtime.topology.obs, from, resume_at, &mut core)
                .await
                .map_err(|e| StartError::Config(format!("rebuilding the feature state: {e}")))?,
            None => 0,
        };
        if rebuilt > 0 {
            tracing::info!(rebuilt, from = ?saved.rebuild_from, to = resume_at, "feature state rebuilt from the stream");
        }
        let status = core.subscribe();
        let metrics = ActorMetrics::register(ACTOR);
        let arbiter = Arbiter::new();
        let actor_metrics = metrics.clone();
        let addr = FeatureActor::start_in_arbiter(&arbiter.handle(), move |_| {
            FeatureActor::new(core, actor_metrics)
        });
        let source = PullSource::new(
            consumer,
            PullSourceConfig {
                max_in_flight: f.max_in_flight,
                batch: 256,
                ..Default::default()
            },
            metrics.clone(),
            DeadLetterSink::new(js, subjects::dlq_for),
        )
        .with_ready_flag(runtime.readiness.add_flag("features consumer bound"));
        let mailbox = Mailbox::new(addr.clone(), metrics);
        let (shutdown, limit) = (runtime.shutdown.clone(), config.shutdown.limit());
        runtime.shutdown.spawn(async move {
            let report = source.run(mailbox, shutdown, limit).await;
            tracing::info!(
                delivered = report.delivered,
                drained = report.drained,
                "features source stopped"
            );
        });
        Ok(FeaturesRole {
            arbiter,
            addr,
            status,
            rebuilt,
        })
    }

    /// Flushes and checkpoints, then stops the actor's thread. Call after the source stopped.
    pub async fn stop(self) {
        if let Ok(Err(e)) = self.addr.send(Settle { force: true }).await {
            tracing::warn!(error = %e, "final feature checkpoint failed");
        }
        self.arbiter.stop();
    }
}
