//! The detector's retained state: tail samples, the left-walk stack, plateaus and the
//! peaks under decision, each with the stage decisions of spec 4.3.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::merge::MergeItem;
use super::super::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct TailSample {
    pub(super) time: DateTime<Utc>,
    pub(super) flux: f64,
    /// Time of the push before this sample (missing flux included): flares peaking at or
    /// before it are emitted once this sample's position is the settlement frontier.
    pub(super) prev_time: Option<DateTime<Utc>>,
}

/// One entry of the left-walk stack: a sample higher than everything after it, and the
/// minimum (right-most on ties) of the samples between the previous record and it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct LeftRecord {
    pub(super) value: f64,
    pub(super) min: f64,
    pub(super) argmin: u64,
}

/// Left side of a peak: `left_min` and `left_base` of scipy's prominence walk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct LeftSide {
    pub(super) min: f64,
    pub(super) base: u64,
    /// The walk would have gone past a dropped left record (possibly inexact).
    pub(super) truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Run {
    pub(super) start: u64,
    pub(super) value: f64,
    /// `Some` when the run started with a strict rise (it can become a peak); holds the left
    /// side of its first sample, which is also the left side of its midpoint.
    pub(super) rise: Option<LeftSide>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Decision {
    Pending,
    Pass,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Peak {
    pub(super) index: u64,
    pub(super) flux: f64,
    pub(super) time: DateTime<Utc>,
    pub(super) settle_bound: Option<DateTime<Utc>>,
    pub(super) start_time: DateTime<Utc>,
    pub(super) left: LeftSide,
    pub(super) right_min: f64,
    pub(super) right_base: u64,
    /// The right prominence walk has not met a higher sample yet.
    pub(super) right_open: bool,
    /// Prominence at the last shape evaluation that did not pass (skip re-evaluating).
    pub(super) evaluated_prominence: Option<f64>,
    pub(super) distance: Decision,
    /// Prominence and width together.
    pub(super) shape: Decision,
    /// Next position the end scan looks at.
    pub(super) end_scan_next: u64,
    pub(super) end_time: Option<DateTime<Utc>>,
    /// Handed to the merge (or dropped); kept only as a distance neighbour.
    pub(super) fed: bool,
}

impl Peak {
    pub(super) fn resolved(&self) -> bool {
        match (self.distance, self.shape) {
            (Decision::Pending, _) => false,
            (Decision::Fail, _) | (_, Decision::Fail) => true,
            (Decision::Pass, Decision::Pass) => self.end_time.is_some(),
            (Decision::Pass, Decision::Pending) => false,
        }
    }

    pub(super) fn survives(&self) -> bool {
        self.distance == Decision::Pass && self.shape == Decision::Pass
    }

    /// scipy's distance-stage priority: higher value first, then the right-most.
    pub(super) fn outranks(&self, other: &Peak) -> bool {
        self.flux > other.flux || (self.flux == other.flux && self.index > other.index)
    }

    pub(super) fn prominence(&self) -> f64 {
        self.flux - self.left.min.max(self.right_min)
    }

    /// The prominence can still grow (spec 4.3 stage 4).
    pub(super) fn prominence_open(&self) -> bool {
        self.right_open && self.right_min > self.left.min
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StreamCandidate {
    pub(super) candidate: Candidate,
    pub(super) settle_bound: Option<DateTime<Utc>>,
}

impl MergeItem for StreamCandidate {
    fn peak_time(&self) -> DateTime<Utc> {
        self.candidate.event.peak_time
    }
    fn magnitude(&self) -> f64 {
        self.candidate.event.class_magnitude
    }
    fn peak_flux(&self) -> f64 {
        self.candidate.peak_flux
    }
}
