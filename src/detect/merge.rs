//! flare-plus's within-run dedup of detected flares (spec 4.6), shared by batch and stream.
//!
//! Candidates arrive in peak order. The first opens a cluster and becomes its *anchor*; a
//! candidate more than 1 h after the anchor opens the next cluster; a candidate within 1 h
//! replaces the cluster's kept flare when it is "bigger". The anchor never moves on a
//! replacement (Q4, kept in both rules).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::profile::Profile;

/// How "bigger" is decided inside a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MergeRule {
    /// flare-plus: compare `class_magnitude` across categories, so C9.0 replaces M1.0 (Q4,
    /// kept for parity).
    #[default]
    #[serde(rename = "flare-plus")]
    FlarePlus,
    /// Q4 fix: compare the peak flux, so the larger flare always survives.
    #[serde(rename = "peak-flux")]
    PeakFlux,
}

impl MergeRule {
    pub fn for_profile(profile: Profile) -> Self {
        match profile {
            Profile::FlarePlus => MergeRule::FlarePlus,
            Profile::Improved => MergeRule::PeakFlux,
        }
    }

    fn replaces(self, new: &impl MergeItem, kept: &impl MergeItem) -> bool {
        match self {
            MergeRule::FlarePlus => new.magnitude() > kept.magnitude(),
            MergeRule::PeakFlux => new.peak_flux() > kept.peak_flux(),
        }
    }
}

/// What the merge needs to know about a candidate flare.
pub(crate) trait MergeItem {
    fn peak_time(&self) -> DateTime<Utc>;
    fn magnitude(&self) -> f64;
    fn peak_flux(&self) -> f64;
}

/// Width of a cluster after its anchor: "more than 1 h" opens a new one (spec 4.6).
pub(crate) fn cluster_span() -> Duration {
    Duration::hours(1)
}

/// Incremental form of the dedup: feed candidates in peak order; a flare comes out once a
/// later candidate has opened the next cluster (or the caller knows no more can join).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Merger<T> {
    rule: MergeRule,
    /// Peak time of the current cluster's first candidate.
    anchor: Option<DateTime<Utc>>,
    /// The current cluster's surviving candidate, not yet emitted.
    kept: Option<T>,
}

impl<T: MergeItem> Merger<T> {
    pub(crate) fn new(rule: MergeRule) -> Self {
        Merger {
            rule,
            anchor: None,
            kept: None,
        }
    }

    /// Adds the next candidate (peak order); returns the previous cluster's flare when this
    /// candidate opens a new cluster.
    pub(crate) fn push(&mut self, candidate: T) -> Option<T> {
        let in_cluster = self
            .anchor
            .is_some_and(|anchor| candidate.peak_time() - anchor <= cluster_span());
        if !in_cluster {
            self.anchor = Some(candidate.peak_time());
            return self.kept.replace(candidate);
        }
        match &self.kept {
            Some(kept) if !self.rule.replaces(&candidate, kept) => {}
            _ => self.kept = Some(candidate),
        }
        None
    }

    /// The latest peak time a candidate can have and still join the current cluster, while
    /// the cluster's flare is unemitted.
    pub(crate) fn open_until(&self) -> Option<DateTime<Utc>> {
        self.kept.as_ref()?;
        self.anchor
            .and_then(|a| a.checked_add_signed(cluster_span()))
    }

    pub(crate) fn kept(&self) -> Option<&T> {
        self.kept.as_ref()
    }

    /// Emits the current cluster's flare (the caller knows no later candidate can join).
    pub(crate) fn close(&mut self) -> Option<T> {
        self.kept.take()
    }
}
