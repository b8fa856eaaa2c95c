//! The global feature series as a state machine: observations go in, in stream order;
//! feature vectors come out, each tick first *provisional* (as soon as its data is in) and
//! then *final* (once nothing that can still arrive can change it).
//!
//! Two engines receive the same data: one evaluates at the newest tick (provisional), the
//! other lags behind at the final watermark. Because the engine's values are a pure function
//! of (data up to T, T), a final vector equals the batch command's output for the same T,
//! bit for bit.
//!
//! # When is a tick final?
//!
//! Tick T is final when all of these hold (or the input ended):
//! - flux: data has arrived up to T + `horizon` (default 2 h);
//! - detection: the detector's watermark is at or after T + 30 min: every detected flare with
//!   a peak up to then is on the stream. 30 min because flare-plus's de-duplication inserts
//!   DONKI flares after all detected ones, so a detected flare peaking up to 30 min after T
//!   can still decide whether a DONKI flare before T counts;
//! - regions and DONKI flares are published in data-time order (at their timestamp and peak),
//!   so they arrived before the flux passed T + horizon.
//!
//! A DONKI flare published later than that (DONKI lags reality by hours) can change ticks
//! that were already final; such records are counted as `late_flares`.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{CovariateRow, EngineError, FeatureConfig, FeatureEngine, FeatureRow};
use crate::domain::{FlareEvent, Observation, ProgressMark, XrayFeed, XrayObservation};
use crate::flare_events::{dedup_window, FlareEventSet};
use crate::profile::Profile;

/// How the series ticks.
#[derive(Debug, Clone, Copy)]
pub struct SeriesSettings {
    pub profile: Profile,
    /// Data time between ticks (ticks are aligned to multiples of it since the Unix epoch).
    pub cadence: Duration,
    /// Flux must have arrived this far past a tick for the tick to be final.
    pub horizon: Duration,
    /// One vector per active region at final ticks that are multiples of this (None: no
    /// region vectors). The region block changes once a day and the rest is the global
    /// vector's, so the default is hourly.
    pub region_cadence: Option<Duration>,
}

/// Provisional or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorStatus {
    Provisional,
    Final,
}

impl VectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorStatus::Provisional => "provisional",
            VectorStatus::Final => "final",
        }
    }
}

/// Which series a vector belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesId {
    Global,
    Region(i32),
}

/// One vector ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    pub series: SeriesId,
    pub status: VectorStatus,
    pub features: FeatureRow,
    /// The time-varying covariates at the same tick (global series only).
    pub covariates: Option<CovariateRow>,
}

/// What has been emitted; checkpointed so a restart neither skips nor repeats a tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesProgress {
    pub last_provisional: Option<DateTime<Utc>>,
    pub last_final: Option<DateTime<Utc>>,
}

/// Counters of unusual input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesStats {
    /// Flux at or before the newest flux already in the final engine (a re-send, or a
    /// reordering larger than the final horizon): it cannot be used any more.
    pub late_flux: u64,
    /// Flare records whose peak was at or before the last final tick when they arrived.
    pub late_flares: u64,
    pub flux: u64,
    pub regions: u64,
    pub flares: u64,
    /// Ticks that got no provisional vector: a newer tick, or the tick's final vector, was
    /// due first. Every tick gets a provisional vector or counts here, once.
    pub conflated: u64,
}

pub struct FeatureSeries {
    settings: SeriesSettings,
    provisional: FeatureEngine,
    finals: FeatureEngine,
    flares: FlareEventSet,
    /// The first flux time seen: ticks start there when there is no progress yet.
    first_flux: Option<DateTime<Utc>>,
    flux_watermark: Option<DateTime<Utc>>,
    /// (short, long) band of the newest primary flux sample, for the live flux gauge.
    newest_flux: Option<(Option<f64>, Option<f64>)>,
    /// Flux not yet in the final engine, by time. The stream can carry flux out of data-time
    /// order (a publish retried after a nats-server restart lands behind later ones); the
    /// final engine takes it in time order, just before it evaluates a tick. Bounded by the
    /// final horizon and the detector lag.
    final_flux: BTreeMap<DateTime<Utc>, XrayObservation>,
    /// The newest flux time in the final engine.
    finals_fed: Option<DateTime<Utc>>,
    detector_mark: Option<DateTime<Utc>>,
    ended: bool,
    progress: SeriesProgress,
    /// (data time, stream sequence) of every observation still inside the data window of the
    /// next final tick, oldest sequence first: where a restart must re-read the stream from.
    needed: VecDeque<(DateTime<Utc>, u64)>,
    stats: SeriesStats,
}

/// Data older than the next final tick by more than this is never read again: the 48 h data
/// window plus the de-duplication window.
fn retention() -> Duration {
    Duration::hours(48) + dedup_window()
}

/// The engine key of a flare_events row.
fn flare_key(f: &FlareEvent) -> String {
    format!("{}@{}", f.natural_key(), f.peak_time.timestamp_micros())
}

impl FeatureSeries {
    pub fn new(
        settings: SeriesSettings,
        progress: SeriesProgress,
    ) -> Result<FeatureSeries, EngineError> {
        let cfg = FeatureConfig::with_profile(settings.profile);
        Ok(FeatureSeries {
            settings,
            provisional: FeatureEngine::new(cfg.clone())?,
            finals: FeatureEngine::new(cfg)?,
            flares: FlareEventSet::new(settings.profile),
            first_flux: None,
            flux_watermark: None,
            newest_flux: None,
            final_flux: BTreeMap::new(),
            finals_fed: None,
            detector_mark: None,
            ended: false,
            progress,
            needed: VecDeque::new(),
            stats: SeriesStats::default(),
        })
    }

    pub fn progress(&self) -> SeriesProgress {
        self.progress
    }

    pub fn stats(&self) -> SeriesStats {
        self.stats
    }

    pub fn flux_watermark(&self) -> Option<DateTime<Utc>> {
        self.flux_watermark
    }

    /// (short, long) flux of the newest primary sample taken, W/m^2.
    pub fn newest_flux(&self) -> Option<(Option<f64>, Option<f64>)> {
        self.newest_flux
    }

    /// True once an end-of-input mark arrived and every tick up to the last flux is final.
    pub fn finished(&self) -> bool {
        self.ended
            && self.flux_watermark.is_some_and(|w| {
                self.progress
                    .last_final
                    .is_some_and(|f| f + self.settings.cadence > w)
            })
    }

    /// The stream sequence a restart must re-read from to rebuild this state (None: nothing
    /// retained yet).
    pub fn rebuild_from(&self) -> Option<u64> {
        self.needed.iter().map(|(_, seq)| *seq).min()
    }

    /// Bytes held by both engines and the flare table.
    pub fn memory_bytes(&self) -> usize {
        self.provisional.memory_bytes()
            + self.finals.memory_bytes()
            + self.flares.memory_bytes()
            + self.needed.capacity() * std::mem::size_of::<(DateTime<Utc>, u64)>()
            + self.final_flux.len()
                * (std::mem::size_of::<XrayObservation>() + std::mem::size_of::<DateTime<Utc>>())
    }

    /// Takes one observation (in stream order); `sequence` is its OBS stream sequence.
    pub fn observe(&mut self, observation: &Observation, sequence: Option<u64>) {
        let data_time = match observation {
            Observation::Xray(x) => {
                if x.feed != XrayFeed::Primary {
                    return;
                }
                if self.finals_fed.is_some_and(|f| x.time <= f) {
                    self.stats.late_flux += 1;
                    return;
                }
                // A re-send of a sample not yet final replaces it (the last copy wins, as in
                // the stored table's upsert).
                self.final_flux.insert(x.time, x.clone());
                // Provisional vectors take flux as it comes: one that arrives behind a later
                // one is left out of them (the final vectors have it).
                if self.flux_watermark.is_none_or(|w| x.time > w) {
                    // Cannot be refused: primary feed, time strictly after the last one.
                    let _ = self.provisional.push_flux(x);
                    self.flux_watermark = Some(x.time);
                    self.newest_flux = Some((x.flux_short, x.flux_long));
                }
                self.first_flux = Some(self.first_flux.map_or(x.time, |f| f.min(x.time)));
                self.stats.flux += 1;
                Some(x.time)
            }
            Observation::Region(r) => {
                self.provisional.push_region(r);
                self.finals.push_region(r);
                self.stats.regions += 1;
                Some(r.timestamp)
            }
            Observation::Flare(f) => {
                if self
                    .progress
                    .last_final
                    .is_some_and(|last| f.peak_time <= last)
                {
                    self.stats.late_flares += 1;
                }
                let changes = self.flares.upsert(f.clone());
                for row in &changes.removed {
                    self.provisional.remove_flare(&flare_key(row));
                    self.finals.remove_flare(&flare_key(row));
                }
                for row in changes.added {
                    self.provisional.upsert_flare(flare_key(&row), row.clone());
                    self.finals.upsert_flare(flare_key(&row), row);
                }
                self.stats.flares += 1;
                Some(f.peak_time)
            }
            Observation::Progress(mark) => {
                if mark.source == ProgressMark::DETECTOR {
                    self.detector_mark = self.detector_mark.max(mark.until);
                    self.ended |= mark.end_of_input;
                }
                None
            }
        };
        if let (Some(t), Some(seq)) = (data_time, sequence) {
            self.needed.push_back((t, seq));
        }
    }

    /// The newest tick whose data is in (provisional bound).
    fn provisional_bound(&self) -> Option<DateTime<Utc>> {
        self.flux_watermark
            .map(|w| align_down(w, self.settings.cadence))
    }

    /// The newest tick nothing can change any more (final bound).
    fn final_bound(&self) -> Option<DateTime<Utc>> {
        let w = self.flux_watermark?;
        if self.ended {
            return Some(align_down(w, self.settings.cadence));
        }
        let by_flux = w - self.settings.horizon;
        let by_detector = self.detector_mark? - dedup_window();
        Some(align_down(by_flux.min(by_detector), self.settings.cadence))
    }

    /// The ticks after `last` (after a restart: the checkpointed progress), up to `bound`;
    /// without progress, from the first flux sample on.
    fn ticks(
        &self,
        last: Option<DateTime<Utc>>,
        bound: Option<DateTime<Utc>>,
        first: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let Some(bound) = bound else {
            return Vec::new();
        };
        let mut t = match last {
            Some(last) => last + self.settings.cadence,
            None => align_up(first, self.settings.cadence),
        };
        let mut out = Vec::new();
        while t <= bound {
            out.push(t);
            t += self.settings.cadence;
        }
        out
    }

    /// Every vector that became publishable: the final ones up to the final bound, then the
    /// provisional vector of the newest tick (see [`FeatureSeries::due_provisional`]).
    pub fn due(&mut self) -> Result<Vec<Vector>, EngineError> {
        let mut out = self.due_finals()?;
        out.extend(self.due_provisional()?);
        Ok(out)
    }

    /// The final vectors of every tick up to the final bound, oldest first. With
    /// [`FeatureSeries::due_provisional`] the two callers' split: finals as each observation
    /// arrives, provisional ones once per batch.
    pub fn due_finals(&mut self) -> Result<Vec<Vector>, EngineError> {
        let Some(first) = self.first_flux else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for t in self.ticks(self.progress.last_final, self.final_bound(), first) {
            self.feed_finals(t);
            self.emit(t, VectorStatus::Final, &mut out)?;
            self.progress.last_final = Some(t);
            if self.progress.last_provisional.is_none_or(|p| p < t) {
                // Final before it was ever provisional (a backlog longer than the horizon, or
                // the end of input).
                self.stats.conflated += 1;
                self.progress.last_provisional = Some(t);
            }
        }
        if let Some(last_final) = self.progress.last_final {
            let horizon = last_final - retention();
            while self.needed.front().is_some_and(|(t, _)| *t < horizon) {
                self.needed.pop_front();
            }
            self.flares.evict_before(horizon);
        }
        Ok(out)
    }

    /// The provisional vector of the newest tick whose data is in, if that tick has had no
    /// vector yet. Provisional vectors are *conflated*: older ticks that became due since the
    /// last call get none (they are superseded, and their final vectors follow). Fed one
    /// minute at a time (live) every tick gets one; a caller catching up on a backlog calls
    /// this once per batch and skips the stale ones ([`SeriesStats::conflated`]).
    pub fn due_provisional(&mut self) -> Result<Option<Vector>, EngineError> {
        let Some(first) = self.first_flux else {
            return Ok(None);
        };
        let Some(newest) = self.provisional_bound() else {
            return Ok(None);
        };
        let ticks = self
            .ticks(self.progress.last_provisional, Some(newest), first)
            .len() as u64;
        if ticks == 0 {
            return Ok(None);
        }
        self.stats.conflated += ticks - 1;
        self.progress.last_provisional = Some(newest);
        let mut out = Vec::with_capacity(1);
        self.emit(newest, VectorStatus::Provisional, &mut out)?;
        Ok(out.pop())
    }

    /// Moves the buffered flux up to `t` into the final engine, in time order.
    fn feed_finals(&mut self, t: DateTime<Utc>) {
        while let Some(entry) = self.final_flux.first_entry() {
            if *entry.key() > t {
                break;
            }
            let x = entry.remove();
            // Cannot be refused: primary feed, times strictly increasing (the buffer is
            // ordered and nothing at or before `finals_fed` enters it).
            let _ = self.finals.push_flux(&x);
            self.finals_fed = Some(x.time);
        }
    }

    fn emit(
        &mut self,
        t: DateTime<Utc>,
        status: VectorStatus,
        out: &mut Vec<Vector>,
    ) -> Result<(), EngineError> {
        let engine = match status {
            VectorStatus::Provisional => &mut self.provisional,
            VectorStatus::Final => &mut self.finals,
        };
        let region_tick = status == VectorStatus::Final
            && self
                .settings
                .region_cadence
                .is_some_and(|c| align_down(t, c) == t);
        let (global, regions) = if region_tick {
            engine.features_with_regions_at(t)?
        } else {
            (engine.features_at(t)?, Vec::new())
        };
        let covariates = engine.covariates_at(t)?;
        out.push(Vector {
            series: SeriesId::Global,
            status,
            features: global,
            covariates: Some(covariates),
        });
        for (number, row) in regions {
            out.push(Vector {
                series: SeriesId::Region(number),
                status,
                features: row,
                covariates: None,
            });
        }
        Ok(())
    }
}

/// The largest multiple of `cadence` (since the epoch) at or before `t`.
pub fn align_down(t: DateTime<Utc>, cadence: Duration) -> DateTime<Utc> {
    let step = cadence.num_microseconds().unwrap_or(60_000_000).max(1);
    let us = t.timestamp_micros();
    DateTime::from_timestamp_micros(us - us.rem_euclid(step)).unwrap_or(t)
}

/// The smallest multiple of `cadence` at or after `t`.
pub fn align_up(t: DateTime<Utc>, cadence: Duration) -> DateTime<Utc> {
    let down = align_down(t, cadence);
    if down == t {
        t
    } else {
        down + cadence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_cadence() {
        let t: DateTime<Utc> = "2024-05-01T00:00:30Z".parse().unwrap();
        let m = Duration::minutes(1);
        assert_eq!(align_down(t, m).to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(align_up(t, m).to_rfc3339(), "2024-05-01T00:01:00+00:00");
        let exact: DateTime<Utc> = "2024-05-01T00:05:00Z".parse().unwrap();
        assert_eq!(align_up(exact, m), exact);
    }
}
