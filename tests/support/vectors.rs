//! Feature vectors read back from the FEATURES stream, checked against the batch command.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flare_plus::bus::vectors::VectorMessage;
use flare_plus::domain::{FlareEvent, RegionObservation, XrayObservation};
use flare_plus::features::{compute_covariates_batch, compute_features_batch};
use flare_plus::profile::Profile;

/// The input the batch command is given.
pub struct BatchInput<'a> {
    pub flux: &'a [XrayObservation],
    pub regions: &'a [RegionObservation],
    pub flares: &'a [FlareEvent],
}

/// Asserts that every final global vector equals the batch command's output for its tick,
/// bit for bit, features and covariates (flare-plus profile).
pub fn assert_finals_equal_batch(
    finals: &BTreeMap<DateTime<Utc>, VectorMessage>,
    input: BatchInput<'_>,
) {
    let ticks: Vec<DateTime<Utc>> = finals.keys().copied().collect();
    let batch = compute_features_batch(
        input.flux,
        input.regions,
        input.flares,
        &ticks,
        Profile::FlarePlus,
    )
    .expect("batch features");
    let batch_cov = compute_covariates_batch(
        input.flux,
        input.regions,
        input.flares,
        &ticks,
        Profile::FlarePlus,
    )
    .expect("batch covariates");
    for ((t, live), (row, cov)) in finals.iter().zip(batch.iter().zip(&batch_cov)) {
        assert!(
            super::same_bits(&live.feature_cells(), &row.cells),
            "features at {t} differ from the batch output"
        );
        let live_cov = live
            .covariate_cells()
            .expect("global vectors carry covariates");
        assert!(
            super::same_bits(&live_cov, &cov.cells),
            "covariates at {t} differ from the batch output"
        );
    }
}
