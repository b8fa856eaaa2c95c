//! The streams, consumers and key-value bucket, created or updated idempotently at start.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};

use super::config::NatsConfig;
use super::error::{BusError, BusErrorKind};
use super::subjects;

/// Observations (`flare.obs.>`). Full means full: publishers wait (DiscardNew), nothing is
/// silently evicted before the writer and the feature actors saw it.
pub const OBS: &str = "OBS";
/// Feature vectors (`flare.features.>`): subscribers read the latest; old ones age out.
pub const FEATURES: &str = "FEATURES";
/// Dead letters (`flare.dlq.>`): kept a month for inspection and replay.
pub const DLQ: &str = "DLQ";
/// Feature backfill jobs: a work queue (a job is deleted once a worker acked it).
pub const JOBS: &str = "JOBS";
/// The durable consumer every feature worker shares for jobs.
pub const JOBS_CONSUMER: &str = "feature-jobs";
/// Checkpoints: last published time per source, last tick per feature series.
pub const CHECKPOINT_BUCKET: &str = "flare_checkpoints";
/// The durable consumer every writer process shares.
pub const WRITER_CONSUMER: &str = "writer";
/// The durable consumer of the feature actors.
pub const FEATURES_CONSUMER: &str = "features";

/// Handles on the topology.
#[derive(Clone)]
pub struct Topology {
    pub js: jetstream::Context,
    pub obs: stream::Stream,
    pub features: stream::Stream,
    pub dlq: stream::Stream,
    pub jobs: stream::Stream,
    pub checkpoints: kv::Store,
}

/// Stream configurations from the config (pure, so tests can check them).
pub fn stream_configs(cfg: &NatsConfig) -> [stream::Config; 4] {
    let duplicate_window = cfg.duplicate_window;
    [
        stream::Config {
            name: OBS.into(),
            description: Some("flare-plus observations: X-ray flux, regions, flares".into()),
            subjects: vec![subjects::OBS_ALL.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            max_bytes: cfg.obs_max_bytes,
            max_age: cfg.obs_max_age,
            duplicate_window,
            num_replicas: cfg.replicas,
            ..Default::default()
        },
        stream::Config {
            name: FEATURES.into(),
            description: Some("flare-plus feature vectors".into()),
            subjects: vec![subjects::FEATURES_ALL.into()],
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::Old,
            max_bytes: cfg.features_max_bytes,
            max_age: cfg.features_max_age,
            duplicate_window,
            num_replicas: cfg.replicas,
            ..Default::default()
        },
        stream::Config {
            name: DLQ.into(),
            description: Some("flare-plus dead letters: raw payload + reason headers".into()),
            subjects: vec![subjects::DLQ_ALL.into()],
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::Old,
            max_age: cfg.dlq_max_age,
            duplicate_window,
            num_replicas: cfg.replicas,
            ..Default::default()
        },
        stream::Config {
            name: JOBS.into(),
            description: Some("flare-plus feature backfill jobs".into()),
            subjects: vec![subjects::JOBS_FEATURES.into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window,
            num_replicas: cfg.replicas,
            ..Default::default()
        },
    ]
}

/// Creates or updates the streams and the checkpoint bucket. Safe to run from every process
/// at every start.
pub async fn ensure_topology(
    js: &jetstream::Context,
    cfg: &NatsConfig,
) -> Result<Topology, BusError> {
    let [obs_cfg, features_cfg, dlq_cfg, jobs_cfg] = stream_configs(cfg);
    let obs = ensure_stream(js, obs_cfg).await?;
    let features = ensure_stream(js, features_cfg).await?;
    let dlq = ensure_stream(js, dlq_cfg).await?;
    let jobs = ensure_stream(js, jobs_cfg).await?;
    // The bucket's stream is created here rather than with `create_key_value`, which first
    // queries account info in a shape nats-server 2.9 (Debian's) does not send. The settings
    // are the ones the client library would use for a one-value-per-key bucket.
    ensure_stream(js, checkpoint_stream_config(cfg)).await?;
    let checkpoints = js.get_key_value(CHECKPOINT_BUCKET).await.map_err(|e| {
        BusError::new(
            BusErrorKind::Topology,
            format!("cannot open key-value bucket {CHECKPOINT_BUCKET}: {e}"),
        )
    })?;
    Ok(Topology {
        js: js.clone(),
        obs,
        features,
        dlq,
        jobs,
        checkpoints,
    })
}

/// The stream behind the checkpoint bucket (one value per key, rollups allowed).
fn checkpoint_stream_config(cfg: &NatsConfig) -> stream::Config {
    stream::Config {
        name: format!("KV_{CHECKPOINT_BUCKET}"),
        description: Some("flare-plus checkpoints".into()),
        subjects: vec![format!("$KV.{CHECKPOINT_BUCKET}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(120),
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, BusError> {
    let name = config.name.clone();
    // Roles starting at the same moment on a fresh server race to create the same stream; the
    // loser gets an error (e.g. "subjects overlap") although the stream now exists as wanted.
    // So a failed create is followed by a look-up, retried briefly.
    let mut last_error = None;
    for attempt in 0..5u32 {
        match js.create_or_update_stream(config.clone()).await {
            Ok(_) => last_error = None,
            Err(e) => last_error = Some(e.to_string()),
        }
        match js.get_stream(&name).await {
            Ok(stream)
                if last_error.is_none()
                    || stream.cached_info().config.subjects == config.subjects =>
            {
                return Ok(stream);
            }
            _ => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt + 1))).await,
        }
    }
    Err(BusError::new(
        BusErrorKind::Topology,
        format!(
            "cannot create or update stream {name}: {}",
            last_error.unwrap_or_else(|| "not found after creation".into())
        ),
    ))
}

/// A durable pull consumer on OBS shared by every instance of a role. `max_ack_pending`
/// equals the source's in-flight bound; `ack_wait` is long enough for one batch commit and
/// renewed by in-progress acks when work takes longer.
pub async fn durable_obs_consumer(
    topology: &Topology,
    name: &str,
    max_ack_pending: usize,
) -> Result<consumer::PullConsumer, BusError> {
    let config = consumer::pull::Config {
        durable_name: Some(name.into()),
        description: Some(format!("flare-plus {name}")),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: i64::try_from(max_ack_pending).unwrap_or(i64::MAX),
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    };
    topology
        .obs
        .get_or_create_consumer(name, config)
        .await
        .map_err(|e| {
            BusError::new(
                BusErrorKind::Topology,
                format!("cannot create consumer {name} on {OBS}: {e}"),
            )
        })
}

/// The durable consumer feature workers share on JOBS (one job at a time each).
pub async fn jobs_consumer(topology: &Topology) -> Result<consumer::PullConsumer, BusError> {
    let config = consumer::pull::Config {
        durable_name: Some(JOBS_CONSUMER.into()),
        description: Some("flare-plus feature backfill jobs".into()),
        ack_policy: consumer::AckPolicy::Explicit,
        // A job is kept alive with in-progress acks; a worker that dies gives it back after this.
        ack_wait: Duration::from_secs(60),
        ..Default::default()
    };
    topology
        .jobs
        .get_or_create_consumer(JOBS_CONSUMER, config)
        .await
        .map_err(|e| {
            BusError::new(
                BusErrorKind::Topology,
                format!("cannot create consumer {JOBS_CONSUMER} on {JOBS}: {e}"),
            )
        })
}

/// A feature worker's own durable consumer on OBS, recreated at start so that it begins
/// exactly at `start_sequence` (the first message the worker has not processed; `None`: the
/// stream's beginning). Only that worker uses it; a consumer unused for a day is removed by the
/// server (a worker that left for good).
pub async fn worker_obs_consumer(
    topology: &Topology,
    name: &str,
    max_ack_pending: usize,
    start_sequence: Option<u64>,
) -> Result<consumer::PullConsumer, BusError> {
    // Deleting a consumer that does not exist is fine: the creation below is what matters.
    let _ = topology.obs.delete_consumer(name).await;
    let config = consumer::pull::Config {
        durable_name: Some(name.into()),
        description: Some(format!("flare-plus feature worker {name}")),
        // A worker processes OBS in stream order and acks in batches: one ack of the newest
        // message covers the batch. (The checkpoint, not the ack floor, is where a restarted
        // worker resumes: this consumer is re-created at its next sequence.)
        ack_policy: consumer::AckPolicy::All,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: i64::try_from(max_ack_pending).unwrap_or(i64::MAX),
        deliver_policy: match start_sequence {
            Some(start_sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
            None => consumer::DeliverPolicy::All,
        },
        inactive_threshold: Duration::from_secs(24 * 3600),
        ..Default::default()
    };
    topology.obs.create_consumer(config).await.map_err(|e| {
        BusError::new(
            BusErrorKind::Topology,
            format!("cannot create consumer {name} on {OBS}: {e}"),
        )
    })
}

/// Opens durable consumer `name` of `stream` on `js` (a connection of the caller's choosing,
/// such as an actor thread's), after the topology created it.
pub async fn consumer_on(
    js: &jetstream::Context,
    stream: &str,
    name: &str,
) -> Result<consumer::PullConsumer, BusError> {
    let topology = |e: String| BusError::new(BusErrorKind::Topology, e);
    js.get_stream(stream)
        .await
        .map_err(|e| topology(format!("cannot open stream {stream}: {e}")))?
        .get_consumer(name)
        .await
        .map_err(|e| topology(format!("cannot open consumer {name} on {stream}: {e}")))
}
