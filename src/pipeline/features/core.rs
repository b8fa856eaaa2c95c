//! The feature actor's state and its async steps, independent of actix: observe a record,
//! publish what became due (for the series this worker owns), ack inputs once their vectors
//! are stored by the stream, and checkpoint.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actors::nats::{DeadLetterReason, Delivery, Publisher, SinkError};
use serde::{Deserialize, Serialize};

use super::membership::MembershipHandle;
use crate::bus::vectors::VectorFormat;
use crate::bus::{decode_message, headers, vectors, BusError, Checkpoints};
use crate::domain::Observation;
use crate::features::series::{FeatureSeries, SeriesId, SeriesProgress, Vector, VectorStatus};
use crate::features::EngineError;
use crate::pipeline::events;
use crate::profile::Profile;

/// The published progress of the global series (written by its owner; for operators and
/// the run command).
pub const GLOBAL_KEY: &str = "features.global";

/// This worker's restart state.
pub fn worker_key(worker: &str) -> String {
    format!("features.worker.{worker}")
}

/// What a restarted feature worker needs: the ticks already done, where in OBS the data still
/// inside the 48 h window starts, and the first OBS sequence not yet processed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureCheckpoint {
    pub progress: SeriesProgress,
    pub rebuild_from: Option<u64>,
    #[serde(default)]
    pub next_sequence: Option<u64>,
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

const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A delivery after a hole in the OBS sequence goes back for this long, until the missing
/// one is redelivered (the consumer's ack_wait is 30 s; see [`FeatureCore::take`]).
const HOLE_RETRY: Duration = Duration::from_secs(1);
/// A hole older than this (ack_wait plus margin) is not coming back: the messages left the
/// stream (its age or size limits).
const HOLE_PATIENCE: Duration = Duration::from_secs(45);
/// Most vectors kept for handover (whatever the window).
const HANDOVER_MAX: usize = 16_384;

/// An input waiting for its ack: once the publisher has `stored_at` messages stored, the
/// vectors it made due (and all before them) are in the stream.
struct Held {
    delivery: Delivery,
    stored_at: u64,
}

pub struct FeatureCore {
    series: FeatureSeries,
    publisher: Publisher,
    checkpoints: Checkpoints,
    profile: Profile,
    format: VectorFormat,
    worker: String,
    membership: MembershipHandle,
    /// The membership generation the handover buffer was last checked against.
    seen_generation: u64,
    /// Final vectors of series this worker does not own are kept this long (data time), so
    /// a worker taking over a series publishes the ticks its previous owner may have missed.
    handover_window: chrono::Duration,
    /// Recent final vectors of series owned by other workers.
    handover: VecDeque<Vector>,
    /// Inputs whose vectors were sent but not yet acknowledged by the stream.
    held: VecDeque<Held>,
    /// For each held input that produced vectors: its age (entered -> observed) and when it
    /// was observed, to measure entered -> vectors acked by the stream at the next settle.
    unacked_ages: Vec<(f64, Instant)>,
    /// The age (entered -> observed) and observation instant of the newest input, for the
    /// latency of the next provisional vector.
    newest_entered: Option<(f64, Instant)>,
    /// The series' conflated count already added to the metric.
    conflated_reported: u64,
    last_sequence: Option<u64>,
    /// Since when deliveries have been waiting for a missing OBS sequence.
    hole_since: Option<Instant>,
    saved: FeatureCheckpoint,
    saved_at: Instant,
    /// Inputs held before the ones whose vectors are stored are acked (without stopping for
    /// the rest: see [`FeatureCore::release_stored`]); half the source's in-flight bound, so
    /// the source never runs out of permits first.
    settle_every: usize,
    /// Vectors published by status, for reports.
    pub published: [u64; 2],
    /// Vectors published and not yet added to the metric, by series (global, region) and
    /// status (provisional, final).
    uncounted: [[u64; 2]; 2],
    status: tokio::sync::watch::Sender<FeatureStatus>,
}

impl FeatureCore {
    pub fn new(
        series: FeatureSeries,
        publisher: Publisher,
        checkpoints: Checkpoints,
        profile: Profile,
        membership: MembershipHandle,
        handover_window: chrono::Duration,
        saved: FeatureCheckpoint,
    ) -> FeatureCore {
        let worker = membership.get().me;
        FeatureCore {
            series,
            publisher,
            checkpoints,
            profile,
            format: VectorFormat::default(),
            worker,
            membership,
            seen_generation: 0,
            handover_window,
            handover: VecDeque::new(),
            held: VecDeque::new(),
            unacked_ages: Vec::new(),
            newest_entered: None,
            conflated_reported: 0,
            last_sequence: saved.next_sequence.and_then(|n| n.checked_sub(1)),
            hole_since: None,
            saved,
            saved_at: Instant::now(),
            settle_every: 128,
            published: [0, 0],
            uncounted: [[0; 2]; 2],
            status: tokio::sync::watch::Sender::new(FeatureStatus::default()),
        }
    }

    /// Lays vectors out as `format` on the wire (default: columns).
    pub fn with_vector_format(mut self, format: VectorFormat) -> FeatureCore {
        self.format = format;
        self
    }

    /// Sizes the ack rhythm for a source that hands out at most `max_in_flight` deliveries.
    pub fn with_max_in_flight(mut self, max_in_flight: usize) -> FeatureCore {
        self.settle_every = (max_in_flight / 2).max(1);
        self
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

    /// Bytes held besides the series: the handover buffer and held deliveries.
    pub fn buffer_bytes(&self) -> usize {
        self.handover
            .iter()
            .map(|v| std::mem::size_of::<Vector>() + v.features.cells.capacity() * 32)
            .sum::<usize>()
            + self.held.capacity() * std::mem::size_of::<Held>()
            + self.unacked_ages.capacity() * std::mem::size_of::<(f64, Instant)>()
    }

    /// Feeds one observation and publishes the final vectors it made due (the provisional
    /// one waits for the next settle: see [`FeatureCore::publish_provisional`]).
    pub async fn observe(
        &mut self,
        observation: &Observation,
        sequence: Option<u64>,
        entered: Option<f64>,
    ) -> Result<usize, FeatureError> {
        self.series.observe(observation, sequence);
        if let (Observation::Xray(_), Some((short, long))) =
            (observation, self.series.newest_flux())
        {
            events::latest_flux(short, long);
        }
        if sequence.is_some() {
            self.last_sequence = self.last_sequence.max(sequence);
        }
        let due = {
            let _tick = tracing::debug_span!("features", watermark = ?self.series.flux_watermark())
                .entered();
            self.series.due_finals()?
        };
        let count = due.len();
        self.take_over_if_membership_changed().await?;
        let membership = self.membership.get();
        for vector in due {
            if membership.owns(vector.series) {
                self.publish(&vector).await?;
            } else if vector.status == VectorStatus::Final {
                self.keep_for_handover(vector);
            }
        }
        if let Some(seconds) = entered {
            self.newest_entered = Some((seconds, Instant::now()));
        }
        Ok(count)
    }

    /// Publishes the provisional vector of the newest tick, if it has none yet. Called at
    /// each settle: at the live cadence (one minute at a time, caught up) that is every
    /// tick; while catching up on a backlog the older ticks' provisional vectors are stale
    /// and skipped (conflated), as their final vectors follow.
    async fn publish_provisional(&mut self) -> Result<(), FeatureError> {
        let Some(vector) = self.series.due_provisional()? else {
            return Ok(());
        };
        if !self.membership.get().owns(vector.series) {
            return Ok(());
        }
        self.publish(&vector).await?;
        if let Some((seconds, observed)) = self.newest_entered.take() {
            let age = seconds + observed.elapsed().as_secs_f64();
            events::end_to_end("feature_published", age);
            self.unacked_ages.push((seconds, observed));
        }
        Ok(())
    }

    async fn publish(&mut self, vector: &Vector) -> Result<(), FeatureError> {
        self.publisher
            .publish(vectors::to_message(vector, self.profile, self.format))
            .await?;
        let index = match vector.status {
            VectorStatus::Provisional => 0,
            VectorStatus::Final => 1,
        };
        self.published[index] += 1;
        let series = match vector.series {
            SeriesId::Global => 0,
            SeriesId::Region(_) => 1,
        };
        self.uncounted[series][index] += 1;
        Ok(())
    }

    /// Adds the vectors published since the last call to the metric (once per settle, not
    /// once per vector: the counter lookup cost as much as a vector's headers).
    fn count_published(&mut self) {
        for (series, counts) in ["global", "region"].into_iter().zip(&mut self.uncounted) {
            for (status, n) in ["provisional", "final"].into_iter().zip(counts.iter_mut()) {
                events::vectors_published(series, status, std::mem::take(n));
            }
        }
    }

    fn keep_for_handover(&mut self, vector: Vector) {
        let newest = vector.features.timestamp;
        self.handover.push_back(vector);
        let oldest = newest - self.handover_window;
        while self
            .handover
            .front()
            .is_some_and(|v| v.features.timestamp < oldest)
            || self.handover.len() > HANDOVER_MAX
        {
            self.handover.pop_front();
        }
    }

    /// When the worker set changed, publish the buffered vectors of series this worker now
    /// owns (their previous owner may have stopped before publishing them; the stream drops
    /// the ones it did publish, same id and content).
    async fn take_over_if_membership_changed(&mut self) -> Result<(), FeatureError> {
        let membership = self.membership.get();
        if membership.generation == self.seen_generation {
            return Ok(());
        }
        self.seen_generation = membership.generation;
        let mut kept = VecDeque::with_capacity(self.handover.len());
        for vector in std::mem::take(&mut self.handover) {
            if membership.owns(vector.series) {
                self.publish(&vector).await?;
            } else {
                kept.push_back(vector);
            }
        }
        self.handover = kept;
        Ok(())
    }

    /// The restart state as of now.
    fn checkpoint(&self) -> FeatureCheckpoint {
        FeatureCheckpoint {
            progress: self.series.progress(),
            rebuild_from: self.series.rebuild_from(),
            next_sequence: self.last_sequence.map(|s| s + 1),
        }
    }

    /// Inputs still held, or progress not yet checkpointed (settles save at most once a
    /// second): the actor owes a forced settle when input pauses.
    pub fn unsettled(&self) -> bool {
        !self.held.is_empty() || self.checkpoint() != self.saved
    }

    /// One delivery from OBS: decode (dead-letter if it cannot be), observe, hold for the ack.
    ///
    /// The series needs OBS in stream order without holes. A delivery lost in flight (e.g.
    /// while nats-server restarts) is redelivered only after the consumer's ack_wait, behind
    /// later ones: those go back (nak with a short delay) until the missing one arrived. One
    /// at or below the last observed sequence is a redelivery of data already in the series:
    /// held and acked with the others.
    ///
    /// `more_queued`: the actor's mailbox holds more deliveries (so settling now would only
    /// make a smaller batch).
    pub async fn take(
        &mut self,
        delivery: Delivery,
        more_queued: bool,
    ) -> Result<(), FeatureError> {
        if let (Some(last), Some(sequence)) = (self.last_sequence, delivery.stream_sequence()) {
            if sequence <= last {
                events::features_out_of_order("redelivered", last + 1, sequence);
                self.hold(delivery);
                return Ok(());
            }
            if sequence > last + 1 {
                let since = *self.hole_since.get_or_insert_with(Instant::now);
                if since.elapsed() < HOLE_PATIENCE {
                    events::features_out_of_order("waited", last + 1, sequence);
                    if let Err(e) = delivery.nak(HOLE_RETRY).await {
                        tracing::debug!(error = %e, "nak lost; the delivery comes back after ack_wait");
                    }
                    return Ok(());
                }
                events::features_out_of_order("hole_accepted", last + 1, sequence);
            }
        }
        self.hole_since = None;
        match decode_message(delivery.payload()) {
            Ok(decoded) => {
                let marks = decoded
                    .records
                    .iter()
                    .filter(|o| matches!(o, Observation::Progress(_)))
                    .count();
                events::records_received(
                    "features",
                    decoded.records.len() - marks + decoded.rejected.len(),
                );
                for bad in decoded.rejected {
                    // The writer dead-letters the same record under the same id (and retries
                    // until it is there), so a failure here loses nothing.
                    let reason = DeadLetterReason::new(bad.error.code(), bad.error.to_string());
                    match delivery
                        .dead_letter_record(bad.index, bad.raw, &reason)
                        .await
                    {
                        Ok(()) => {
                            events::record_dead_lettered("features", reason.code, &reason.detail)
                        }
                        Err(e) => tracing::debug!(error = %e, "dead-lettering a record failed"),
                    }
                }
                let entered = delivery
                    .header(headers::ENTERED_AT)
                    .and_then(headers::seconds_since);
                for observation in &decoded.records {
                    self.observe(observation, delivery.stream_sequence(), entered)
                        .await?;
                }
                // Caught up (live cadence): settle now rather than after the linger, so the
                // vectors are acked and the input released within a round trip.
                let caught_up = delivery.pending() == Some(0) && !more_queued;
                self.hold(delivery);
                if caught_up || self.held.len() >= self.settle_every && self.checkpoint_due() {
                    self.settle(false).await?;
                } else if self.held.len() >= self.settle_every {
                    self.release_stored().await?;
                }
            }
            Err(e) => {
                // Its place in the sequence is taken, or the next delivery would look like
                // it came after a hole.
                if let Some(sequence) = delivery.stream_sequence() {
                    self.last_sequence = self.last_sequence.max(Some(sequence));
                }
                let reason = DeadLetterReason::new(e.code(), e.to_string());
                if delivery.dead_letter(&reason).await.is_ok() {
                    events::record_dead_lettered("features", reason.code, &reason.detail);
                }
            }
        }
        Ok(())
    }

    fn hold(&mut self, delivery: Delivery) {
        self.held.push_back(Held {
            delivery,
            stored_at: self.publisher.sent(),
        });
    }

    fn checkpoint_due(&self) -> bool {
        self.saved_at.elapsed() >= CHECKPOINT_EVERY
    }

    /// While catching up: acks the held inputs whose vectors are stored, waiting only for
    /// the older half, so that input keeps flowing while the newer vectors' acks are on
    /// their way (a full flush would drain the pipeline every batch).
    async fn release_stored(&mut self) -> Result<(), FeatureError> {
        let older_half = self.held[self.held.len() / 2].stored_at;
        self.publisher.settle_through(older_half).await?;
        let stored = self.publisher.settle_arrived().await?;
        self.ack_stored(stored).await;
        Ok(())
    }

    /// Acks every held input whose vectors are among the first `stored` messages published.
    /// The consumer acks cumulatively (`AckPolicy::All`), so one ack of the newest of them
    /// covers the rest; all are at or below the last observed sequence.
    async fn ack_stored(&mut self, stored: u64) {
        let released = self.held.partition_point(|h| h.stored_at <= stored);
        let newest = self
            .held
            .range(..released)
            .enumerate()
            .max_by_key(|(_, h)| h.delivery.stream_sequence())
            .map(|(i, _)| i);
        let Some(newest) = newest else { return };
        let mut batch: Vec<Held> = self.held.drain(..released).collect();
        let newest = batch.swap_remove(newest).delivery;
        for held in batch {
            held.delivery.covered_by_later_ack();
        }
        if let Err(e) = newest.ack().await {
            tracing::debug!(error = %e, "ack lost; the observations will be redelivered (vectors are de-duplicated)");
        }
    }

    /// Waits for every vector sent to be stored, acks the inputs that produced them, and saves
    /// the checkpoints when the progress moved (at most once a second unless `force`).
    pub async fn settle(&mut self, force: bool) -> Result<(), FeatureError> {
        self.take_over_if_membership_changed().await?;
        self.publish_provisional().await?;
        let conflated = self.series.stats().conflated;
        events::provisional_conflated(conflated - self.conflated_reported);
        self.conflated_reported = conflated;
        self.publisher.flush().await?;
        for (age, observed) in self.unacked_ages.drain(..) {
            events::end_to_end("feature_acked", age + observed.elapsed().as_secs_f64());
        }
        self.ack_stored(self.publisher.published()).await;
        self.count_published();
        let progress = self.series.progress();
        self.status.send_replace(FeatureStatus {
            progress,
            provisional_published: self.published[0],
            final_published: self.published[1],
            finished: self.series.finished(),
            late_flares: self.series.stats().late_flares,
        });
        let now = self.checkpoint();
        if now != self.saved && (force || self.saved_at.elapsed() >= CHECKPOINT_EVERY) {
            self.checkpoints
                .put(&worker_key(&self.worker), &now)
                .await?;
            if self.membership.get().owns(SeriesId::Global) {
                self.checkpoints.put(GLOBAL_KEY, &progress).await?;
            }
            self.saved = now;
            self.saved_at = Instant::now();
        }
        Ok(())
    }
}
