//! `[features]`: what the feature workers compute, how often, and how they share the work.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bus::vectors::VectorFormat;
use crate::config::{embedded_section, Problems, Validate};
use crate::profile::Profile;

/// The feature role's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// `flare-plus` (the original's numbers) or `improved` (the spec's fixes).
    pub profile: Profile,
    /// Data time between ticks (one vector per tick).
    #[serde(with = "humantime_serde")]
    pub cadence: Duration,
    /// A tick is final once this much later flux has arrived (flare settlement).
    #[serde(with = "humantime_serde")]
    pub final_horizon: Duration,
    /// OBS messages delivered and not yet acked.
    pub max_in_flight: usize,
    /// One final vector per active region on `flare.features.region.<number>` at ticks that
    /// are multiples of this (zero: none). Region rows change daily; the rest is the global
    /// vector's.
    #[serde(with = "humantime_serde")]
    pub region_vector_every: Duration,
    /// `columns` (values in column order) or `named` (objects keyed by column name).
    pub vector_format: VectorFormat,
    /// This worker's name among feature workers (its consumer and checkpoint); empty = the
    /// host name. Must differ between workers running at the same time.
    pub worker_id: String,
    /// Data time of final vectors a worker keeps for series it does not own, to publish them
    /// if it takes a series over (the owner stopped before publishing them).
    #[serde(with = "humantime_serde")]
    pub handover_window: Duration,
}

impl Default for FeaturesConfig {
    /// The `[features]` of `config/default.toml`.
    fn default() -> FeaturesConfig {
        embedded_section("features")
    }
}

impl Validate for FeaturesConfig {
    fn validate(&self, problems: &mut Problems) {
        problems.check(
            self.cadence.as_secs() > 0 && self.cadence.subsec_nanos() == 0,
            || "features.cadence must be a positive whole number of seconds".into(),
        );
        problems.check(self.max_in_flight > 0, || {
            "features.max_in_flight must be positive".into()
        });
    }
}
