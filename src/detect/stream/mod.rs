//! [`StreamDetector`]: [`super::detect_flares`] one sample at a time, emitting each flare as
//! soon as no later sample can change or remove it.
//!
//! # Contract
//!
//! For samples pushed in strictly increasing time order, the concatenation of every
//! [`StreamDetector::push`] output followed by [`StreamDetector::flush`] equals
//! `detect_flares(all samples)`, flare for flare, in the same order, as long as the bounded
//! retention is never exceeded (see [`StreamConfig::max_tail`] and
//! [`StreamConfig::max_left_records`] for exactly when it can be).
//!
//! # When is a peak settled? (spec 4.3 stage by stage)
//!
//! - *Local maximum*: known when the plateau ends (the next different sample is lower).
//! - *Height*: immediate.
//! - *Distance*: a peak is kept iff no kept peak of higher priority (height, then index) lies
//!   within 9 samples. It is decided once every peak within 9 samples to its right has been
//!   identified and every higher-priority neighbour is decided. Chains of ever higher peaks
//!   less than 10 samples apart delay the decision (it is not always 10 samples).
//! - *Prominence*: the left side is in the past and summarised exactly by a monotonic stack
//!   of "left records" (value, minimum since the previous record, its position). The right
//!   minimum only falls while the right walk goes on, so the prominence only grows; the walk
//!   ends at the first higher sample. Once the right minimum is at or below the left one the
//!   prominence is final.
//! - *Width*: grows with the prominence (the half-height level falls, the right base moves
//!   right), so "passes" is final once reached; "fails" is final once the prominence is. A
//!   half-height crossing older than the retained tail implies width >= 1.
//! - *Start*: the 60 samples before the peak, known at identification. *End*: the first
//!   sample below 10 % within 60 samples after the peak, final once a later sample exists
//!   (flare-plus never scans the series' last sample) or 60 samples have passed.
//! - *Merge* (spec 4.6): candidates are fed in peak order; a cluster's flare is emitted when a
//!   candidate opens the next cluster, or when no undecided or future peak can fall within
//!   1 h of its anchor. Anchor and kept flare are carried across pushes.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod peak;

use self::peak::{Decision, LeftRecord, LeftSide, Peak, Run, StreamCandidate, TailSample};
use super::classify::detection_threshold;
use super::merge::{MergeRule, Merger};
use super::peaks::{MIN_WIDTH, PEAK_DISTANCE, REL_HEIGHT};
use super::span::SPAN_SAMPLES;
use super::Candidate;
use crate::domain::{FlareCategory, FlareEvent};
use crate::profile::Profile;

/// Smallest accepted [`StreamConfig::max_tail`]: the start and end scans need 60 samples on
/// each side of a peak, with margin.
pub const MIN_TAIL: usize = 256;

/// Detection parameters plus the memory bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    pub min_class: FlareCategory,
    pub merge: MergeRule,
    /// Most samples held in memory (at least [`MIN_TAIL`]). Output can differ from
    /// `detect_flares` only when (a) a peak is still undecided `max_tail` samples after it
    /// (its prominence, width or distance decision is then taken as if the stream had ended
    /// at that sample, and every other undecided distance decision with it), or (b) a flat
    /// plateau lasts more than about `2 * (max_tail - 60)` samples (the start scan of its
    /// midpoint peak then sees only retained samples). Both are counted in [`StreamStats`].
    pub max_tail: usize,
    /// Most left records kept for the prominence's left walk. Past it the oldest (highest)
    /// record is dropped, which can change the prominence only of a later peak at least as
    /// high as that dropped record (its left walk would have reached past it). Counted in
    /// [`StreamStats::truncated_left_walks`].
    pub max_left_records: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            min_class: FlareCategory::C,
            merge: MergeRule::FlarePlus,
            max_tail: 7 * 1440,
            max_left_records: 100_000,
        }
    }
}

impl StreamConfig {
    pub fn for_profile(profile: Profile) -> Self {
        StreamConfig {
            merge: MergeRule::for_profile(profile),
            ..StreamConfig::default()
        }
    }
}

/// Counters of inputs ignored and of the (rare) bounded-retention decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    /// Pushes whose time was not after the previous push (ignored).
    pub out_of_order: u64,
    /// Forced decisions (case (a) of [`StreamConfig::max_tail`]).
    pub forced_decisions: u64,
    /// Start scans cut short by the tail bound (case (b)).
    pub truncated_starts: u64,
    /// Left records dropped by [`StreamConfig::max_left_records`].
    pub dropped_left_records: u64,
    /// Peaks whose left prominence walk reached past a dropped left record (the only peaks
    /// whose result can differ because of [`StreamConfig::max_left_records`]).
    pub truncated_left_walks: u64,
}

/// Incremental flare detector; serde-serializable so the ingest actor can checkpoint it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDetector {
    config: StreamConfig,
    /// Position the next present sample gets (= present samples so far), as in spec 4.2.
    next_index: u64,
    /// Time of the latest push, missing flux included.
    last_time: Option<DateTime<Utc>>,
    /// The retained present samples; `tail[0]` has position `tail_start`.
    tail: VecDeque<TailSample>,
    tail_start: u64,
    /// Monotonic stack (oldest first, values strictly decreasing) summarising everything
    /// before the newest sample for the left prominence walk.
    left_records: VecDeque<LeftRecord>,
    /// The run of equal values ending at the newest sample.
    run: Option<Run>,
    /// Peaks at or above the height threshold, in position order, from the oldest one not
    /// yet handed to the merge (or still needed as a distance neighbour).
    peaks: VecDeque<Peak>,
    merger: Merger<StreamCandidate>,
    stats: StreamStats,
}

impl StreamDetector {
    pub fn new(config: StreamConfig) -> Self {
        let config = StreamConfig {
            max_tail: config.max_tail.max(MIN_TAIL),
            max_left_records: config.max_left_records.max(1),
            ..config
        };
        StreamDetector {
            config,
            next_index: 0,
            last_time: None,
            tail: VecDeque::new(),
            tail_start: 0,
            left_records: VecDeque::new(),
            run: None,
            peaks: VecDeque::new(),
            merger: Merger::new(config.merge),
            stats: StreamStats::default(),
        }
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Bytes held by the detector's buffers (their capacities), for memory gauges.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.tail.capacity() * size_of::<TailSample>()
            + self.left_records.capacity() * size_of::<LeftRecord>()
            + self.peaks.capacity() * size_of::<Peak>()
    }

    /// Samples retained in the tail.
    pub fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Adds the next sample (`None` or a non-finite value = missing flux) and returns the
    /// flares that became settled, in peak order. A time not after the previous push is
    /// ignored and counted in [`StreamStats::out_of_order`].
    pub fn push(&mut self, time: DateTime<Utc>, flux: Option<f64>) -> Vec<FlareEvent> {
        if self.last_time.is_some_and(|last| time <= last) {
            self.stats.out_of_order += 1;
            return Vec::new();
        }
        let prev_time = self.last_time.replace(time);
        if let Some(value) = flux.filter(|v| v.is_finite()) {
            self.add_sample(time, value, prev_time);
        }
        let mut out = Vec::new();
        self.settle(false, &mut out);
        out
    }

    /// End of input: everything still open is decided as `detect_flares` would on the whole
    /// series, and returned.
    pub fn flush(mut self) -> Vec<FlareEvent> {
        let mut out = Vec::new();
        self.settle(true, &mut out);
        out
    }

    /// Every flare whose peak time is at or before the returned time has been emitted, and
    /// none emitted later can have such a peak. `None` before the first push, or when nothing
    /// is settled yet.
    pub fn settled_until(&self) -> Option<DateTime<Utc>> {
        if let Some(kept) = self.merger.kept() {
            return kept.settle_bound;
        }
        if let Some(peak) = self.peaks.iter().find(|p| !p.fed) {
            return peak.settle_bound;
        }
        let frontier = self.future_peak_frontier();
        match self.sample(frontier) {
            Some(s) if frontier < self.next_index => s.prev_time,
            _ => self.last_time,
        }
    }

    /// `max_tail` with its floor applied (a restored snapshot bypasses [`Self::new`]).
    fn max_tail(&self) -> u64 {
        self.config.max_tail.max(MIN_TAIL) as u64
    }

    fn threshold(&self) -> f64 {
        detection_threshold(self.config.min_class)
    }

    fn sample(&self, index: u64) -> Option<&TailSample> {
        let offset = index.checked_sub(self.tail_start)?;
        self.tail.get(usize::try_from(offset).ok()?)
    }

    /// Flux at a retained position; callers only ask for positions in the tail.
    fn flux(&self, index: u64) -> f64 {
        self.sample(index).map_or(f64::NAN, |s| s.flux)
    }

    fn time(&self, index: u64) -> Option<DateTime<Utc>> {
        self.sample(index).map(|s| s.time)
    }

    /// Earliest position an unidentified peak can have: the midpoint of the open rising run
    /// (its plateau can only get longer), else the next position.
    fn future_peak_frontier(&self) -> u64 {
        match self.run {
            Some(Run {
                start,
                rise: Some(_),
                ..
            }) => (start + self.next_index - 1) / 2,
            _ => self.next_index,
        }
    }

    fn add_sample(&mut self, time: DateTime<Utc>, value: f64, prev_time: Option<DateTime<Utc>>) {
        let index = self.next_index;
        self.tail.push_back(TailSample {
            time,
            flux: value,
            prev_time,
        });
        let left = self.push_left_record(value, index);
        for peak in self.peaks.iter_mut().filter(|p| !p.fed) {
            if peak.right_open {
                if value > peak.flux {
                    peak.right_open = false;
                } else if value < peak.right_min {
                    peak.right_min = value;
                    peak.right_base = index;
                }
            }
        }
        self.update_run(index, value, left);
        self.next_index += 1;
        self.scan_ends(false);
    }

    /// Pushes the new sample on the left-record stack and returns its left side: the
    /// minimum (right-most on ties) back to the nearest strictly higher sample, exactly what
    /// scipy's left walk finds.
    fn push_left_record(&mut self, value: f64, index: u64) -> LeftSide {
        let (mut min, mut argmin) = (value, index);
        while let Some(top) = self.left_records.back() {
            if top.value > value {
                break;
            }
            if top.min < min {
                (min, argmin) = (top.min, top.argmin);
            }
            self.left_records.pop_back();
        }
        let truncated = self.left_records.is_empty() && self.stats.dropped_left_records > 0;
        self.left_records
            .push_back(LeftRecord { value, min, argmin });
        if self.left_records.len() > self.config.max_left_records.max(1) {
            self.left_records.pop_front();
            self.stats.dropped_left_records += 1;
        }
        LeftSide {
            min,
            base: argmin,
            truncated,
        }
    }

    /// Extends or closes the run of equal values; a rising run closed by a lower sample is a
    /// local maximum at its midpoint (spec 4.3 stage 1).
    fn update_run(&mut self, index: u64, value: f64, left: LeftSide) {
        match self.run {
            Some(run) if run.value == value => {}
            Some(run) => {
                if let Some(rise_left) = run.rise.filter(|_| value < run.value) {
                    self.identify_peak((run.start + index - 1) / 2, run.value, rise_left, index);
                }
                let rise = (value > run.value).then_some(left);
                self.run = Some(Run {
                    start: index,
                    value,
                    rise,
                });
            }
            None => {
                self.run = Some(Run {
                    start: index,
                    value,
                    rise: None,
                })
            }
        }
    }

    /// A local maximum at `p`, found when the sample at `lower` (lower than the plateau)
    /// arrived. Peaks below the height threshold are dropped here (stage 2).
    fn identify_peak(&mut self, p: u64, flux: f64, left: LeftSide, lower: u64) {
        if flux < self.threshold() {
            return;
        }
        if left.truncated {
            self.stats.truncated_left_walks += 1;
        }
        let Some(peak_sample) = self.sample(p).copied() else {
            // Case (b) of `max_tail`: the plateau outgrew the tail.
            self.stats.truncated_starts += 1;
            return;
        };
        let start_time = self.start_time(p, flux);
        self.peaks.push_back(Peak {
            index: p,
            flux,
            time: peak_sample.time,
            settle_bound: peak_sample.prev_time,
            start_time,
            left,
            right_min: self.flux(lower),
            right_base: lower,
            right_open: true,
            evaluated_prominence: None,
            distance: Decision::Pending,
            shape: Decision::Pending,
            end_scan_next: p,
            end_time: None,
            fed: false,
        });
    }

    /// Spec 4.4 start scan over the retained samples.
    fn start_time(&mut self, p: u64, flux: f64) -> DateTime<Utc> {
        let limit = flux * 0.1;
        let first = p - (SPAN_SAMPLES as u64).min(p);
        let available = first.max(self.tail_start);
        if available > first {
            self.stats.truncated_starts += 1;
        }
        let index = (available..=p)
            .rev()
            .find(|&i| self.flux(i) < limit)
            .unwrap_or(available);
        self.time(index).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Spec 4.4 end scan: positions `p ..= p + 59`, never the newest sample (flare-plus's
    /// scan stops before the series' last sample). At the end of input the scan is cut there.
    fn scan_ends(&mut self, at_end: bool) {
        let Some(newest) = self.next_index.checked_sub(1) else {
            return;
        };
        let span = SPAN_SAMPLES as u64;
        for k in 0..self.peaks.len() {
            let peak = &self.peaks[k];
            if peak.fed || peak.end_time.is_some() {
                continue;
            }
            let (p, limit) = (peak.index, peak.flux * 0.1);
            let last = (p + span - 1).min(newest.saturating_sub(1));
            let mut next = peak.end_scan_next;
            let mut found = None;
            while next <= last {
                if self.flux(next) < limit {
                    found = Some(next);
                    break;
                }
                next += 1;
            }
            let end = match found {
                Some(i) => Some(i),
                None if next >= p + span || at_end => Some(last),
                None => None,
            };
            let end_time = end.and_then(|i| self.time(i));
            let peak = &mut self.peaks[k];
            peak.end_scan_next = next;
            peak.end_time = end_time;
        }
    }

    /// Decides what can be decided, feeds the merge, emits settled flares, trims memory.
    fn settle(&mut self, at_end: bool, out: &mut Vec<FlareEvent>) {
        if at_end {
            self.scan_ends(true);
        }
        let frontier = if at_end {
            u64::MAX
        } else {
            self.future_peak_frontier()
        };
        self.evaluate_shapes(at_end);
        self.decide_distances(frontier, at_end);
        self.force_if_tail_full(frontier);
        self.feed_merger(out);
        self.close_cluster_if_settled(frontier, at_end, out);
        self.trim(frontier);
    }

    fn evaluate_shapes(&mut self, at_end: bool) {
        let min_prominence = self.threshold() * 0.1;
        for k in 0..self.peaks.len() {
            let peak = &self.peaks[k];
            if peak.fed || peak.shape != Decision::Pending {
                continue;
            }
            let prominence = peak.prominence();
            let final_now = at_end || !peak.prominence_open();
            if peak.evaluated_prominence == Some(prominence) && !final_now {
                continue;
            }
            let passes = prominence >= min_prominence && self.width_passes(peak, prominence);
            let peak = &mut self.peaks[k];
            peak.evaluated_prominence = Some(prominence);
            if passes {
                peak.shape = Decision::Pass;
            } else if final_now {
                peak.shape = Decision::Fail;
            }
        }
    }

    /// Spec 4.3 stage 5 on the retained samples: width at half prominence >= 1.
    fn width_passes(&self, peak: &Peak, prominence: f64) -> bool {
        let p = peak.index;
        let height = peak.flux - prominence * REL_HEIGHT;
        let mut i = p;
        while peak.left.base < i && height < self.flux(i) {
            if i == self.tail_start {
                // The crossing lies before the retained samples, so left_ip <= tail_start
                // while right_ip >= p: the width is at least p - tail_start.
                return p > self.tail_start;
            }
            i -= 1;
        }
        let mut left_ip = i as f64;
        if self.flux(i) < height {
            left_ip += (height - self.flux(i)) / (self.flux(i + 1) - self.flux(i));
        }
        let mut i = p;
        while i < peak.right_base && height < self.flux(i) {
            i += 1;
        }
        let mut right_ip = i as f64;
        if self.flux(i) < height {
            right_ip -= (height - self.flux(i)) / (self.flux(i - 1) - self.flux(i));
        }
        right_ip - left_ip >= MIN_WIDTH
    }

    /// Spec 4.3 stage 3, incrementally: undecided peaks in descending priority, so that each
    /// sees its higher-priority neighbours' decisions of this same pass. A peak is decided
    /// when every peak within 9 samples is known (`index + 9 < frontier`, or `complete`) and
    /// every higher-priority neighbour is decided.
    fn decide_distances(&mut self, frontier: u64, complete: bool) {
        let window = PEAK_DISTANCE as u64;
        let mut order: Vec<usize> = (0..self.peaks.len())
            .filter(|&k| {
                let p = &self.peaks[k];
                p.distance == Decision::Pending && (complete || p.index + window <= frontier)
            })
            .collect();
        if order.is_empty() {
            return;
        }
        order.sort_by(|&a, &b| {
            let (pa, pb) = (&self.peaks[a], &self.peaks[b]);
            pb.flux.total_cmp(&pa.flux).then(pb.index.cmp(&pa.index))
        });
        for k in order {
            let peak = &self.peaks[k];
            let neighbours = self
                .peaks
                .iter()
                .take_while(|q| q.index < peak.index + window)
                .filter(|q| q.index + window > peak.index && q.index != peak.index);
            let mut pending = false;
            let mut removed = false;
            for q in neighbours.filter(|q| q.outranks(peak)) {
                match q.distance {
                    Decision::Pass => removed = true,
                    Decision::Pending => pending = true,
                    Decision::Fail => {}
                }
            }
            let decision = if removed {
                Decision::Fail
            } else if pending {
                continue;
            } else {
                Decision::Pass
            };
            self.peaks[k].distance = decision;
        }
    }

    /// Case (a) of [`StreamConfig::max_tail`]: a peak that would fall out of the tail while
    /// undecided is decided now, as if the stream ended here.
    fn force_if_tail_full(&mut self, frontier: u64) {
        let oldest_allowed = self.next_index.saturating_sub(self.max_tail());
        let stuck = self
            .peaks
            .iter()
            .any(|p| !p.fed && !p.resolved() && p.index <= oldest_allowed);
        if !stuck {
            return;
        }
        self.stats.forced_decisions += 1;
        self.decide_distances(frontier, true);
        let min_prominence = self.threshold() * 0.1;
        for k in 0..self.peaks.len() {
            let peak = &self.peaks[k];
            if peak.fed || peak.shape != Decision::Pending || peak.index > oldest_allowed {
                continue;
            }
            let prominence = peak.prominence();
            let passes = prominence >= min_prominence && self.width_passes(peak, prominence);
            self.peaks[k].shape = if passes {
                Decision::Pass
            } else {
                Decision::Fail
            };
        }
    }

    /// Hands resolved peaks to the merge in position order; stops at the first unresolved.
    fn feed_merger(&mut self, out: &mut Vec<FlareEvent>) {
        for k in 0..self.peaks.len() {
            let peak = &self.peaks[k];
            if peak.fed {
                continue;
            }
            if !peak.resolved() {
                break;
            }
            if peak.survives() {
                if let Some(end) = peak.end_time {
                    let candidate = StreamCandidate {
                        candidate: Candidate::new(peak.start_time, peak.time, end, peak.flux),
                        settle_bound: peak.settle_bound,
                    };
                    out.extend(self.merger.push(candidate).map(|c| c.candidate.event));
                }
            }
            self.peaks[k].fed = true;
        }
    }

    /// Emits the cluster's flare once no undecided or future peak can be within 1 h of its
    /// anchor (spec 4.6: "more than 1 h" opens the next cluster).
    fn close_cluster_if_settled(&mut self, frontier: u64, at_end: bool, out: &mut Vec<FlareEvent>) {
        let Some(open_until) = self.merger.open_until() else {
            return;
        };
        let settled = at_end
            || match self.peaks.iter().find(|p| !p.fed) {
                Some(peak) => peak.time > open_until,
                None if frontier < self.next_index => {
                    self.time(frontier).is_some_and(|t| t > open_until)
                }
                // Later peaks come after the latest push, which is already past the window.
                None => self.last_time.is_some_and(|t| t >= open_until),
            };
        if settled {
            out.extend(self.merger.close().map(|c| c.candidate.event));
        }
    }

    /// Drops fed peaks no longer needed as distance neighbours and samples no longer needed
    /// by any scan (bounded by `max_tail`).
    fn trim(&mut self, frontier: u64) {
        let window = PEAK_DISTANCE as u64;
        let undecided = self
            .peaks
            .iter()
            .find(|p| p.distance == Decision::Pending)
            .map_or(frontier, |p| p.index.min(frontier));
        while self
            .peaks
            .front()
            .is_some_and(|p| p.fed && p.index + window <= undecided)
        {
            self.peaks.pop_front();
        }
        let Some(newest) = self.next_index.checked_sub(1) else {
            return;
        };
        let mut needed = frontier.min(newest).saturating_sub(SPAN_SAMPLES as u64);
        if let Some(peak) = self.peaks.iter().find(|p| !p.fed) {
            needed = needed.min(peak.index.saturating_sub(1));
        }
        let oldest_allowed = self.next_index.saturating_sub(self.max_tail());
        let keep_from = needed.max(oldest_allowed);
        while self.tail_start < keep_from && !self.tail.is_empty() {
            self.tail.pop_front();
            self.tail_start += 1;
        }
    }
}

#[cfg(test)]
mod tests;
