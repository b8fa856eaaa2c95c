//! `[detection]`: which flares the detector reports, and how it merges close peaks.

use serde::{Deserialize, Serialize};

use super::MergeRule;
use crate::config::{embedded_section, Problems, Validate};
use crate::domain::FlareCategory;
use crate::profile::Profile;

/// The detector's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// How two peaks within the merge window are resolved: `auto` follows the profile.
    pub merge_rule: MergeRuleChoice,
    /// Smallest class detected: B, C, M or X; flare-plus used C.
    pub min_class: FlareCategory,
}

/// `detection.merge_rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MergeRuleChoice {
    /// Follow `features.profile`: flare-plus's rule for `flare-plus`, peak flux for `improved`.
    #[serde(rename = "auto")]
    Auto,
    /// Parity: compare class magnitudes across categories (Q4).
    #[serde(rename = "flare-plus")]
    FlarePlus,
    /// The fix: the larger peak flux survives.
    #[serde(rename = "peak-flux")]
    PeakFlux,
}

impl Default for DetectionConfig {
    /// The `[detection]` of `config/default.toml`.
    fn default() -> DetectionConfig {
        embedded_section("detection")
    }
}

impl DetectionConfig {
    /// The merge rule for `profile` (spec 4.6, Q4).
    pub fn merge_rule(&self, profile: Profile) -> MergeRule {
        match self.merge_rule {
            MergeRuleChoice::Auto => MergeRule::for_profile(profile),
            MergeRuleChoice::FlarePlus => MergeRule::FlarePlus,
            MergeRuleChoice::PeakFlux => MergeRule::PeakFlux,
        }
    }
}

impl Validate for DetectionConfig {
    fn validate(&self, problems: &mut Problems) {
        problems.check(self.min_class != FlareCategory::A, || {
            "detection.min_class must be B, C, M or X (A flares are below every threshold)".into()
        });
    }
}
