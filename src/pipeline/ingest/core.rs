//! One source's ingest logic, independent of how its payloads arrive (poll or replay):
//! dead-letter the rejects, publish records newer than the checkpoint (minus the overlap
//! for late corrections), run the flare detector on the primary X-ray feed, then, once the
//! stream has acknowledged everything, save the checkpoint.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::publisher::ObservationPublisher;
use crate::bus::codec::content_hash;
use crate::bus::{BusError, Checkpoints, ObservationWire};
use crate::detect::{StreamConfig, StreamDetector};
use crate::domain::{Observation, ProgressMark};
use crate::domain::{Records, XrayFeed};
use crate::pipeline::events;
use crate::sources::{Rejected, SourceKind};

/// One payload's worth of work for an ingest core.
#[derive(Debug, Clone)]
pub struct IngestPayload {
    pub records: Records,
    pub rejected: Vec<Rejected>,
    /// The upstream's conditional-GET validators for this payload (polls only), saved with
    /// the checkpoint so a restart does not re-download an unchanged feed.
    pub validators: Option<(Option<String>, Option<String>)>,
}

/// What one payload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub published: usize,
    /// At or before the checkpoint minus the overlap: already published earlier.
    pub skipped_old: usize,
    /// Inside the overlap and unchanged since it was published: a re-send, not a correction.
    pub skipped_unchanged: usize,
    pub dead_lettered: usize,
    pub flares_detected: usize,
}

impl IngestReport {
    /// Records not published because an earlier payload did (old, or unchanged re-sends).
    pub fn already_published(&self) -> usize {
        self.skipped_old + self.skipped_unchanged
    }

    pub fn add(&mut self, other: &IngestReport) {
        self.published += other.published;
        self.skipped_old += other.skipped_old;
        self.skipped_unchanged += other.skipped_unchanged;
        self.dead_lettered += other.dead_lettered;
        self.flares_detected += other.flares_detected;
    }
}

/// What survives a restart: the newest record time published, the upstream's conditional-GET
/// validators, the records published inside the overlap, and (primary X-ray feed) the
/// detector.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    pub last_time: Option<DateTime<Utc>>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub detector: Option<StreamDetector>,
    /// Records published that are still inside the overlap: every poll re-reads them, and
    /// only a changed one (a correction) is published again. Records travel in batches, so
    /// the stream's per-message de-duplication cannot drop a re-sent record any more; and it
    /// only remembered ids for its duplicate window, far shorter than DONKI's 7-day overlap.
    #[serde(default)]
    pub recent: BTreeMap<String, Published>,
}

/// A record published inside the overlap: its data time and the hash of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub time: DateTime<Utc>,
    pub hash: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("publishing to NATS: {0}")]
    Publish(#[from] actors::nats::SinkError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] BusError),
    /// A handler found the core missing (cannot happen with serial handling; reported, not
    /// panicked on).
    #[error("ingest core busy")]
    Busy,
}

/// One source's publishing state.
pub struct IngestCore {
    kind: SourceKind,
    publisher: ObservationPublisher,
    checkpoints: Checkpoints,
    /// Where the state lives in the bucket: the feed's own key, or a namespaced one (a
    /// backfill keeps its progress and detector apart from live ingest's).
    checkpoint_key: String,
    state: SourceCheckpoint,
    overlap: Duration,
    /// The last detector watermark published (to publish only advances).
    last_mark: Option<DateTime<Utc>>,
    /// A payload changed the state since the last save.
    unsaved: bool,
    saved_at: Option<Instant>,
}

/// A replay's payloads come back to back: their checkpoint is saved at most this often (and
/// by [`IngestCore::save_pending`] when the input pauses or ends). A poll's payload, minutes
/// after the last, is always saved at once.
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl IngestCore {
    /// Restores the checkpoint of `kind` (or starts fresh). The primary X-ray feed gets a
    /// flare detector configured by `detector`.
    pub async fn restore(
        kind: SourceKind,
        publisher: ObservationPublisher,
        checkpoints: Checkpoints,
        overlap: Duration,
        detector: StreamConfig,
    ) -> Result<IngestCore, IngestError> {
        let key = kind.checkpoint_key().to_string();
        IngestCore::restore_at(key, kind, publisher, checkpoints, overlap, detector).await
    }

    /// Like [`IngestCore::restore`], with the state under `checkpoint_key` instead of the
    /// feed's own key.
    pub async fn restore_at(
        checkpoint_key: String,
        kind: SourceKind,
        publisher: ObservationPublisher,
        checkpoints: Checkpoints,
        overlap: Duration,
        detector: StreamConfig,
    ) -> Result<IngestCore, IngestError> {
        let mut state: SourceCheckpoint =
            checkpoints.get(&checkpoint_key).await?.unwrap_or_default();
        if kind == SourceKind::Xrays(XrayFeed::Primary) && state.detector.is_none() {
            state.detector = Some(StreamDetector::new(detector));
        }
        if kind != SourceKind::Xrays(XrayFeed::Primary) {
            state.detector = None;
        }
        let last_mark = state
            .detector
            .as_ref()
            .and_then(StreamDetector::settled_until);
        Ok(IngestCore {
            kind,
            publisher,
            checkpoints,
            checkpoint_key,
            state,
            overlap,
            last_mark,
            unsaved: false,
            saved_at: None,
        })
    }

    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    pub fn checkpoint(&self) -> &SourceCheckpoint {
        &self.state
    }

    /// Records at or before this time were published by an earlier payload.
    fn floor(&self) -> Option<DateTime<Utc>> {
        self.state
            .last_time
            .map(|t| t.checked_sub_signed(self.overlap).unwrap_or(t))
    }

    fn is_new(&self, time: DateTime<Utc>) -> bool {
        self.floor().is_none_or(|floor| time > floor)
    }

    /// Publishes one payload and saves the checkpoint once the stream acknowledged it all.
    /// One `publish` span per payload (never per record) for the slow-operation log.
    #[tracing::instrument(
        name = "publish",
        level = "debug",
        skip_all,
        fields(
            source = self.kind.source(),
            records = payload.records.len(),
            rejected = payload.rejected.len()
        )
    )]
    pub async fn ingest(&mut self, payload: IngestPayload) -> Result<IngestReport, IngestError> {
        let mut report = IngestReport::default();
        for rejected in &payload.rejected {
            self.publisher.dead_letter(rejected).await?;
            report.dead_lettered += 1;
        }
        let mut newest = self.state.last_time;
        // Published by this payload and still inside the overlap after it; joins the
        // checkpoint's `recent` once the stream acked it.
        let mut sent = BTreeMap::new();
        let keep_after = self
            .state
            .last_time
            .max(payload.records.newest(self.kind_feed()))
            .map(|t| t.checked_sub_signed(self.overlap).unwrap_or(t));
        match payload.records {
            Records::Xrays(observations) => {
                for o in observations {
                    if o.feed != self.kind_feed() {
                        continue;
                    }
                    let (time, flux_long) = (o.time, o.flux_long);
                    let after_checkpoint = self.state.last_time.is_none_or(|last| time > last);
                    self.offer(
                        Observation::Xray(o),
                        time,
                        keep_after,
                        &mut sent,
                        &mut report,
                    )
                    .await?;
                    // The detector needs every sample once, in order: only the ones after the
                    // checkpoint (the overlap was fed last time).
                    if after_checkpoint {
                        if let Some(detector) = self.state.detector.as_mut() {
                            for flare in detector.push(time, flux_long) {
                                self.publisher.push(&Observation::Flare(flare)).await?;
                                report.flares_detected += 1;
                            }
                        }
                    }
                    newest = newest.max(Some(time));
                }
                // The mark goes out only once every record before it is stored (retries
                // included), so a consumer that sees it has seen them all, whatever order
                // a retried publish landed in.
                self.publisher.flush().await?;
                // Not waited for: the next flush (or save) waits for it.
                self.publish_detector_mark(false).await?;
            }
            Records::Regions(regions) => {
                for r in regions {
                    let time = r.timestamp;
                    if self
                        .offer(
                            Observation::Region(r),
                            time,
                            keep_after,
                            &mut sent,
                            &mut report,
                        )
                        .await?
                    {
                        newest = newest.max(Some(time));
                    }
                }
            }
            Records::Flares(flares) => {
                for f in flares {
                    let time = f.start_time;
                    if self
                        .offer(
                            Observation::Flare(f),
                            time,
                            keep_after,
                            &mut sent,
                            &mut report,
                        )
                        .await?
                    {
                        newest = newest.max(Some(time));
                    }
                }
            }
        }
        if !matches!(self.kind, SourceKind::Xrays(_)) {
            self.publisher.flush().await?;
        }
        self.state.last_time = newest;
        self.state.recent.extend(sent);
        if let Some(floor) = self.floor() {
            self.state.recent.retain(|_, p| p.time > floor);
        }
        if let Some((etag, last_modified)) = payload.validators {
            self.state.etag = etag;
            self.state.last_modified = last_modified;
        }
        self.unsaved = true;
        if self.saved_at.is_none_or(|at| at.elapsed() >= SAVE_EVERY) {
            self.save_pending().await?;
        }
        events::records_ingested(self.kind.source(), report.published as u64);
        events::records_ingested("detected", report.flares_detected as u64);
        Ok(report)
    }

    /// Publishes `observation` (data time `time`) unless it is older than the overlap or an
    /// unchanged re-send of a record published inside it; remembers it in `sent` if it will
    /// still be inside the overlap after this payload (`time > keep_after`). Returns whether
    /// it is inside the overlap now (new, corrected or re-sent), i.e. counts for the
    /// checkpoint.
    async fn offer(
        &mut self,
        observation: Observation,
        time: DateTime<Utc>,
        keep_after: Option<DateTime<Utc>>,
        sent: &mut BTreeMap<String, Published>,
        report: &mut IngestReport,
    ) -> Result<bool, IngestError> {
        if !self.is_new(time) {
            report.skipped_old += 1;
            return Ok(false);
        }
        let after_checkpoint = self.state.last_time.is_none_or(|last| time > last);
        let kept = keep_after.is_none_or(|floor| time > floor);
        if after_checkpoint && !kept {
            // A replay's bulk: `recent` holds nothing after the checkpoint, and this record
            // leaves the overlap with this payload, so neither its key nor its hash is needed.
            self.publisher.push(&observation).await?;
            report.published += 1;
            return Ok(true);
        }
        let key = observation.natural_key();
        let record = observation.encode_record();
        let hash = content_hash(&record);
        if self.state.recent.get(&key).is_some_and(|p| p.hash == hash) {
            report.skipped_unchanged += 1;
            return Ok(true);
        }
        self.publisher.push_encoded(&observation, &record).await?;
        if kept {
            sent.insert(key, Published { time, hash });
        }
        report.published += 1;
        Ok(true)
    }

    /// The input ended (a finished replay): the detector decides what is still pending as if
    /// the series ended here, publishes those flares and an end-of-input mark. The saved
    /// checkpoint keeps the unflushed detector, so a later continuation of the same series
    /// (the next backfill day) carries on from where the data stopped.
    pub async fn finish_input(&mut self) -> Result<IngestReport, IngestError> {
        let mut report = IngestReport::default();
        if let Some(detector) = self.state.detector.clone() {
            for flare in detector.flush() {
                self.publisher.push(&Observation::Flare(flare)).await?;
                report.flares_detected += 1;
            }
            self.publisher.flush().await?;
            self.publish_detector_mark(true).await?;
        }
        self.publisher.flush().await?;
        events::records_ingested("detected", report.flares_detected as u64);
        Ok(report)
    }

    fn kind_feed(&self) -> XrayFeed {
        match self.kind {
            SourceKind::Xrays(feed) => feed,
            _ => XrayFeed::Primary,
        }
    }

    /// Publishes the detector's settlement watermark when it advanced (or at end of input,
    /// where everything up to the last sample is settled).
    async fn publish_detector_mark(&mut self, end_of_input: bool) -> Result<(), IngestError> {
        let Some(detector) = self.state.detector.as_ref() else {
            return Ok(());
        };
        let until = if end_of_input {
            self.state.last_time.max(detector.settled_until())
        } else {
            detector.settled_until()
        };
        if until > self.last_mark || end_of_input {
            let mark = ProgressMark {
                source: ProgressMark::DETECTOR.to_string(),
                until,
                end_of_input,
            };
            self.publisher.publish(&Observation::Progress(mark)).await?;
            self.last_mark = until;
        }
        Ok(())
    }

    /// Saves the checkpoint if a payload changed it since the last save, once the stream has
    /// acknowledged everything published.
    pub async fn save_pending(&mut self) -> Result<(), IngestError> {
        if !self.unsaved {
            return Ok(());
        }
        self.publisher.flush().await?;
        self.checkpoints
            .put(&self.checkpoint_key, &self.state)
            .await?;
        self.unsaved = false;
        self.saved_at = Some(Instant::now());
        Ok(())
    }
}
