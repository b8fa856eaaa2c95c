//! The ingest role: one actor per upstream feed. Payloads come from pollers (live) or from a
//! replay of recorded files; each actor publishes its records to OBS with bounded in-flight
//! publishes, dead-letters malformed records, runs flare detection on the primary X-ray feed
//! and checkpoints its progress in the key-value bucket.

pub mod actor;
pub mod backfill;
pub mod config;
pub mod core;
pub mod poller;
pub mod publisher;
pub mod replay;

use actix::Actor;
use actors::nats::{BacklogGate, Publisher, PublisherConfig};
use actors::{ActorMetrics, Mailbox};

use crate::bus::streams::WRITER_CONSUMER;
use crate::bus::Checkpoints;
use crate::detect::StreamConfig;
use crate::domain::XrayFeed;
use crate::pipeline::actor_thread::ActorThread;
use crate::pipeline::Config;
use crate::pipeline::{Runtime, StartError};
use crate::sources::SourceKind;

use self::actor::IngestActor;
use self::core::IngestCore;
use self::publisher::ObservationPublisher;
use self::replay::IngestRouter;

/// Static actor names (the `actor` metric label).
pub fn actor_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Xrays(XrayFeed::Primary) => "ingest_xrs_primary",
        SourceKind::Xrays(XrayFeed::Secondary) => "ingest_xrs_secondary",
        SourceKind::Regions => "ingest_region",
        SourceKind::Donki => "ingest_donki",
    }
}

/// How far behind its checkpoint a source re-publishes (late corrections upstream).
pub fn overlap(config: &Config, kind: SourceKind) -> chrono::Duration {
    let span = match kind {
        SourceKind::Xrays(_) => config.sources.xray.overlap,
        SourceKind::Regions => config.sources.regions.overlap,
        SourceKind::Donki => config.sources.donki.lookback,
    };
    // Saturates beyond chrono's range, which no valid setting reaches.
    chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX)
}

/// The running ingest actors; each on its own thread with its own connection, so a slow
/// source never delays another.
pub struct IngestRole {
    pub router: IngestRouter,
    threads: Vec<ActorThread>,
}

impl IngestRole {
    /// Starts one actor per kind, restoring each feed's checkpoint.
    pub async fn start(runtime: &Runtime, kinds: &[SourceKind]) -> Result<IngestRole, StartError> {
        IngestRole::start_in(runtime, kinds, None).await
    }

    /// [`IngestRole::start`] with the checkpoints (and detector) kept under
    /// `<namespace>.<feed key>` instead of the feeds' own keys: a backfill of past days must
    /// neither be skipped as "older than the live checkpoint" nor move it.
    pub async fn start_in(
        runtime: &Runtime,
        kinds: &[SourceKind],
        namespace: Option<&str>,
    ) -> Result<IngestRole, StartError> {
        let config = &runtime.config;
        let detector = StreamConfig {
            min_class: config.detection.min_class,
            merge: config.merge_rule(),
            ..StreamConfig::default()
        };
        let mut router = IngestRouter::default();
        let mut threads = Vec::new();
        for &kind in kinds {
            // Publishes and their acks stay on the actor's thread.
            let thread = ActorThread::start(runtime, actor_name(kind)).await?;
            let js = async_nats::jetstream::ContextBuilder::new()
                .max_ack_inflight(4096)
                .backpressure_on_inflight(true)
                .build(thread.nats.clone());
            let mut sink = Publisher::new(js, PublisherConfig::default(), runtime.shutdown.token());
            if config.ingest.max_writer_backlog > 0 {
                sink = sink.with_gate(BacklogGate::new(
                    runtime.topology.obs.clone(),
                    WRITER_CONSUMER,
                    config.ingest.max_writer_backlog,
                    config.ingest.backlog_check,
                ));
            }
            let key = match namespace {
                Some(ns) => format!("{ns}.{}", kind.checkpoint_key()),
                None => kind.checkpoint_key().to_string(),
            };
            let core = IngestCore::restore_at(
                key,
                kind,
                ObservationPublisher::new(sink, kind.source(), config.ingest.batch_limits()),
                Checkpoints::new(runtime.topology.checkpoints.clone()),
                overlap(config, kind),
                detector,
            )
            .await?;
            let metrics = ActorMetrics::register(actor_name(kind));
            let actor_metrics = metrics.clone();
            let addr = IngestActor::start_in_arbiter(&thread.arbiter.handle(), move |_| {
                IngestActor::new(core, actor_metrics)
            });
            router.actors.insert(kind, Mailbox::new(addr, metrics));
            threads.push(thread);
        }
        Ok(IngestRole { router, threads })
    }

    /// Saves every actor's checkpoint, then stops the actors' threads (after the caller
    /// finished sending to them).
    pub async fn stop(self) {
        if let Err(e) = self.router.save_checkpoints().await {
            tracing::warn!(error = %e, "last checkpoint not saved; a restart re-publishes what came after the previous one");
        }
        for thread in self.threads {
            thread.stop().await;
        }
    }
}
