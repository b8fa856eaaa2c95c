//! One source's ingest logic, independent of how its payloads arrive (poll or replay):
//! dead-letter the rejects, publish records newer than the checkpoint (minus the overlap
//! for late corrections), run the flare detector on the primary X-ray feed, then, once the
//! stream has acknowledged everything, save the checkpoint.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::publisher::ObservationPublisher;
use crate::bus::{BusError, Checkpoints, Observation, ProgressMark};
use crate::detect::{StreamConfig, StreamDetector};
use crate::domain::{FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use crate::pipeline::events;
use crate::sources::{Rejected, SourceKind};

/// Parsed records of one payload.
#[derive(Debug, Clone)]
pub enum Records {
    Xrays(Vec<XrayObservation>),
    Regions(Vec<RegionObservation>),
    Donki(Vec<FlareEvent>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Xrays(v) => v.len(),
            Records::Regions(v) => v.len(),
            Records::Donki(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
    pub dead_lettered: usize,
    pub flares_detected: usize,
}

impl IngestReport {
    pub fn add(&mut self, other: &IngestReport) {
        self.published += other.published;
        self.skipped_old += other.skipped_old;
        self.dead_lettered += other.dead_lettered;
        self.flares_detected += other.flares_detected;
    }
}

/// What survives a restart: the newest record time published, the upstream's conditional-GET
/// validators, and (primary X-ray feed) the detector.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    pub last_time: Option<DateTime<Utc>>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub detector: Option<StreamDetector>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("publishing to NATS: {0}")]
    Publish(#[from] actors::nats::SinkError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] BusError),
    #[error("starting the actor: {0}")]
    Start(String),
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
}

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
        match payload.records {
            Records::Xrays(observations) => {
                for o in observations {
                    if o.feed != self.kind_feed() {
                        continue;
                    }
                    let after_checkpoint = self.state.last_time.is_none_or(|last| o.time > last);
                    if self.is_new(o.time) {
                        self.publisher
                            .publish(&Observation::Xray(o.clone()))
                            .await?;
                        report.published += 1;
                    } else {
                        report.skipped_old += 1;
                    }
                    // The detector needs every sample once, in order: only the ones after the
                    // checkpoint (the overlap was fed last time).
                    if after_checkpoint {
                        if let Some(detector) = self.state.detector.as_mut() {
                            for flare in detector.push(o.time, o.flux_long) {
                                self.publisher.publish(&Observation::Flare(flare)).await?;
                                report.flares_detected += 1;
                            }
                        }
                    }
                    newest = newest.max(Some(o.time));
                }
                // The mark goes out only once every record before it is stored (retries
                // included), so a consumer that sees it has seen them all, whatever order
                // a retried publish landed in.
                self.publisher.flush().await?;
                self.publish_detector_mark(false).await?;
            }
            Records::Regions(regions) => {
                for r in regions {
                    if self.is_new(r.timestamp) {
                        newest = newest.max(Some(r.timestamp));
                        self.publisher.publish(&Observation::Region(r)).await?;
                        report.published += 1;
                    } else {
                        report.skipped_old += 1;
                    }
                }
            }
            Records::Donki(flares) => {
                for f in flares {
                    if self.is_new(f.start_time) {
                        newest = newest.max(Some(f.start_time));
                        self.publisher.publish(&Observation::Flare(f)).await?;
                        report.published += 1;
                    } else {
                        report.skipped_old += 1;
                    }
                }
            }
        }
        self.publisher.flush().await?;
        self.state.last_time = newest;
        if let Some((etag, last_modified)) = payload.validators {
            self.state.etag = etag;
            self.state.last_modified = last_modified;
        }
        self.save().await?;
        events::records_ingested(self.kind.source(), report.published as u64);
        events::records_ingested("detected", report.flares_detected as u64);
        Ok(report)
    }

    /// The input ended (a finished replay): the detector decides what is still pending as if
    /// the series ended here, publishes those flares and an end-of-input mark. The saved
    /// checkpoint keeps the unflushed detector, so a later continuation of the same series
    /// (the next backfill day) carries on from where the data stopped.
    pub async fn finish_input(&mut self) -> Result<IngestReport, IngestError> {
        let mut report = IngestReport::default();
        if let Some(detector) = self.state.detector.clone() {
            for flare in detector.flush() {
                self.publisher.publish(&Observation::Flare(flare)).await?;
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

    async fn save(&self) -> Result<(), IngestError> {
        self.checkpoints
            .put(&self.checkpoint_key, &self.state)
            .await?;
        Ok(())
    }
}
