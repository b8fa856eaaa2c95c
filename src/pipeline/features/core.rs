//! The feature actor's state and its async steps, independent of actix: observe a record,
//! publish what became due, ack inputs once their vectors are stored by the stream, and
//! checkpoint the progress.

use std::time::{Duration, Instant};

use actors::nats::{DeadLetterReason, Delivery, Publisher, SinkError};
use serde::{Deserialize, Serialize};

use super::series::{FeatureSeries, SeriesProgress, VectorStatus};
use crate::bus::{headers, vectors, BusError, Checkpoints, Observation};
use crate::features::EngineError;
use crate::pipeline::events;
use crate::profile::Profile;

/// The checkpoint key of the global series.
pub const CHECKPOINT_KEY: &str = "features.global";

/// What a restarted feature actor needs: the ticks already published, and where in OBS the
/// data still inside the 48 h window starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureCheckpoint {
    pub progress: SeriesProgress,
    pub rebuild_from: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("publishing vectors: {0}")]
    Publish(#[from] SinkError),
    #[error("feature engine: {0}")]
    Engine(#[from] EngineError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] BusError),
    #[error("feature core busy")]
    Busy,
}

/// What the feature actor has done, for progress displays and the run command's "done"
/// condition (updated at every settle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureStatus {
    pub progress: SeriesProgress,
    pub provisional_published: u64,
    pub final_published: u64,
    /// The input ended and every tick up to the last flux sample is final and stored.
    pub finished: bool,
    pub late_flares: u64,
}

/// Inputs held at most this long (or this many) before their vectors are flushed and they
/// are acked.
const SETTLE_EVERY: usize = 256;
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub struct FeatureCore {
    series: FeatureSeries,
    publisher: Publisher,
    checkpoints: Checkpoints,
    profile: Profile,
    /// Inputs whose vectors were sent but not yet acknowledged by the stream.
    held: Vec<Delivery>,
    saved: FeatureCheckpoint,
    saved_at: Instant,
    /// Vectors published by status, for reports.
    pub published: [u64; 2],
    status: tokio::sync::watch::Sender<FeatureStatus>,
}

impl FeatureCore {
    pub fn new(
        series: FeatureSeries,
        publisher: Publisher,
        checkpoints: Checkpoints,
        profile: Profile,
        saved: FeatureCheckpoint,
    ) -> FeatureCore {
        FeatureCore {
            series,
            publisher,
            checkpoints,
            profile,
            held: Vec::new(),
            saved,
            saved_at: Instant::now(),
            published: [0, 0],
            status: tokio::sync::watch::Sender::new(FeatureStatus::default()),
        }
    }

    /// Follows [`FeatureStatus`] (updated at every settle).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<FeatureStatus> {
        self.status.subscribe()
    }

    pub fn series(&self) -> &FeatureSeries {
        &self.series
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Feeds one observation and publishes the vectors it made due.
    pub async fn observe(
        &mut self,
        observation: &Observation,
        sequence: Option<u64>,
        entered: Option<f64>,
    ) -> Result<usize, FeatureError> {
        self.series.observe(observation, sequence);
        let due = self.series.due()?;
        for vector in &due {
            self.publisher
                .publish(vectors::to_message(vector, self.profile))
                .await?;
            let (status, index) = match vector.status {
                VectorStatus::Provisional => ("provisional", 0),
                VectorStatus::Final => ("final", 1),
            };
            self.published[index] += 1;
            let series = match vector.series {
                super::series::SeriesId::Global => "global",
                super::series::SeriesId::Region(_) => "region",
            };
            events::vectors_published(series, status, 1);
        }
        if !due.is_empty() {
            if let Some(seconds) = entered {
                events::end_to_end("feature_published", seconds);
            }
        }
        Ok(due.len())
    }

    /// One delivery from OBS: decode (dead-letter if it cannot be), observe, hold for the ack.
    pub async fn take(&mut self, delivery: Delivery) -> Result<(), FeatureError> {
        match Observation::decode(delivery.payload()) {
            Ok(observation) => {
                let entered = delivery
                    .header(headers::ENTERED_AT)
                    .and_then(headers::seconds_since);
                self.observe(&observation, delivery.stream_sequence(), entered)
                    .await?;
                self.held.push(delivery);
                if self.held.len() >= SETTLE_EVERY {
                    self.settle(false).await?;
                }
            }
            Err(e) => {
                let reason = DeadLetterReason::new(e.code(), e.to_string());
                if delivery.dead_letter(&reason).await.is_ok() {
                    events::record_dead_lettered("features", reason.code, &reason.detail);
                }
            }
        }
        Ok(())
    }

    /// Waits for every vector sent to be stored, acks the inputs that produced them, and saves
    /// the checkpoint when the progress moved (at most once a second unless `force`).
    pub async fn settle(&mut self, force: bool) -> Result<(), FeatureError> {
        self.publisher.flush().await?;
        for delivery in self.held.drain(..) {
            if let Err(e) = delivery.ack().await {
                tracing::debug!(error = %e, "ack lost; the observation will be redelivered (vectors are de-duplicated)");
            }
        }
        self.status.send_replace(FeatureStatus {
            progress: self.series.progress(),
            provisional_published: self.published[0],
            final_published: self.published[1],
            finished: self.series.finished(),
            late_flares: self.series.stats().late_flares,
        });
        let now = FeatureCheckpoint {
            progress: self.series.progress(),
            rebuild_from: self.series.rebuild_from(),
        };
        if now != self.saved && (force || self.saved_at.elapsed() >= CHECKPOINT_EVERY) {
            self.checkpoints.put(CHECKPOINT_KEY, &now).await?;
            self.saved = now;
            self.saved_at = Instant::now();
        }
        Ok(())
    }
}
