//! Output schema: column names in flare-plus's order (spec 5.3 and 5.5) and typed cells.
//!
//! flare-plus's schema varied per row (Q13): blocks without data were absent, `flare_total_*`
//! was absent for empty windows and the five string columns vanished when the row had a NaN.
//! Here every row has every column; a cell that flare-plus left out is [`Cell::Missing`].

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One output value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// The column was absent in flare-plus's row (block without data, `flare_total_*` of an
    /// empty window), or the value is NaN where the profile keeps NaN explicit.
    Missing,
    /// Integer-valued feature (encodings, flags, counts, area, spots).
    Int(i64),
    /// Floating-point feature.
    Num(f64),
    /// One of the five string features.
    Str(String),
}

impl Cell {
    /// The value a model sees (`nan_to_num`): missing, NaN and strings are 0.
    pub fn model_value(&self) -> f64 {
        match self {
            Cell::Int(i) => *i as f64,
            Cell::Num(x) if x.is_finite() => *x,
            _ => 0.0,
        }
    }

    /// Numeric value, if the cell holds one (strings and missing give `None`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Num(x) => Some(*x),
            _ => None,
        }
    }
}

/// One `FeatureEngineer` row: `cells[i]` belongs to `columns[i]` of the engine's schema
/// ([`feature_columns`] for the default configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    pub timestamp: DateTime<Utc>,
    pub cells: Vec<Cell>,
}

/// One `TimeVaryingCovariateEngineer` row, cells aligned with [`covariate_columns`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CovariateRow {
    pub timestamp: DateTime<Utc>,
    pub cells: Vec<Cell>,
}

/// The region block (spec 5.3 #1–#23), in order.
pub const REGION_COLUMNS: [&str; 23] = [
    "mcintosh_size",
    "mcintosh_shape",
    "mcintosh_penumbra",
    "mcintosh_size_encoded",
    "mcintosh_shape_encoded",
    "mcintosh_penumbra_encoded",
    "mcintosh_complexity_score",
    "mount_wilson_class",
    "mount_wilson_has_alpha",
    "mount_wilson_has_beta",
    "mount_wilson_has_gamma",
    "mount_wilson_has_delta",
    "mount_wilson_complexity_score",
    "magnetic_complexity",
    "magnetic_has_alpha",
    "magnetic_has_beta",
    "magnetic_has_gamma",
    "magnetic_has_delta",
    "magnetic_complexity_score",
    "region_area",
    "region_num_sunspots",
    "region_latitude",
    "region_longitude",
];

/// `compute_flux_trends` then `compute_flux_rate_of_change` (spec 5.3 #24–#38), in order.
pub const FLUX_TREND_RATE_COLUMNS: [&str; 15] = [
    "flux_short_mean",
    "flux_short_max",
    "flux_short_min",
    "flux_short_std",
    "flux_long_mean",
    "flux_long_max",
    "flux_long_min",
    "flux_long_std",
    "flux_trend_short",
    "flux_trend_long",
    "flux_ratio_short_long",
    "flux_short_rate_of_change",
    "flux_long_rate_of_change",
    "flux_short_acceleration",
    "flux_long_acceleration",
];

/// Flare classes counted per window (spec 5.2.5).
pub const FLARE_CLASSES: [&str; 4] = ["B", "C", "M", "X"];

/// Names of the 5 string-valued feature columns.
pub const STRING_COLUMNS: [&str; 5] = [
    "mcintosh_size",
    "mcintosh_shape",
    "mcintosh_penumbra",
    "mount_wilson_class",
    "magnetic_complexity",
];

/// Feature column names for the given rolling and flare windows (hours).
pub fn feature_columns_for(rolling_h: &[u32], flare_h: &[u32]) -> Vec<String> {
    let mut c: Vec<String> = REGION_COLUMNS.iter().map(|s| s.to_string()).collect();
    c.extend(FLUX_TREND_RATE_COLUMNS.iter().map(|s| s.to_string()));
    for w in rolling_h {
        for band in ["short", "long"] {
            for stat in ["mean", "max", "std"] {
                c.push(format!("flux_{band}_{w}h_{stat}"));
            }
        }
    }
    for w in flare_h {
        for cls in FLARE_CLASSES {
            c.push(format!("flare_{cls}_{w}h_count"));
            c.push(format!("flare_{cls}_{w}h_weighted_count"));
        }
        c.push(format!("flare_total_{w}h_weighted_count"));
    }
    c
}

/// Covariate column names for the given lookbacks (hours), spec 5.5 order.
pub fn covariate_columns_for(lookback_h: &[u32]) -> Vec<String> {
    let mut c = Vec::with_capacity(lookback_h.len() * 13);
    for l in lookback_h {
        for name in [
            "flux_long_mean",
            "flux_long_max",
            "flux_short_mean",
            "flux_short_max",
            "flux_long_trend",
            "flux_short_trend",
            "max_complexity",
            "avg_area",
            "max_mcintosh",
            "max_mount_wilson",
            "flare_count",
            "max_flare_class",
            "hours_since_last_flare",
        ] {
            c.push(format!("{name}_{l}h"));
        }
    }
    c
}

/// The 83 `FeatureEngineer` columns of flare-plus's default configuration, in order.
pub fn feature_columns() -> &'static [String] {
    static COLS: OnceLock<Vec<String>> = OnceLock::new();
    COLS.get_or_init(|| feature_columns_for(&[6, 12, 24], &[6, 12, 24]))
}

/// The 65 `TimeVaryingCovariateEngineer` covariates of the default configuration, in order.
pub fn covariate_columns() -> &'static [String] {
    static COLS: OnceLock<Vec<String>> = OnceLock::new();
    COLS.get_or_init(|| covariate_columns_for(&[1, 3, 6, 12, 24]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_sizes() {
        assert_eq!(feature_columns().len(), 83);
        assert_eq!(covariate_columns().len(), 65);
        let strings = feature_columns()
            .iter()
            .filter(|c| STRING_COLUMNS.contains(&c.as_str()))
            .count();
        assert_eq!(strings, 5);
        assert_eq!(feature_columns()[82], "flare_total_24h_weighted_count");
        assert_eq!(covariate_columns()[64], "hours_since_last_flare_24h");
    }
}
