//! Pure feature math, no I/O: every flare-plus `FeatureEngineer` column and every
//! `TimeVaryingCovariateEngineer` covariate (spec 5.1–5.3, 5.5), computed incrementally and
//! deterministically by [`FeatureEngine`].
//!
//! # Layout
//!
//! - [`exact`]: fixed-point quantisation and exact 256-bit sums (why: determinism).
//! - [`window`]: the shared flux buffer and its sliding windows (sums, max/min deques).
//! - [`flux`], [`rate`]: the feature flux block. [`complexity`], [`regions`]: region rows.
//! - [`flares`]: flare store, weighted counts, flare history. [`covariates`]: survival covariates.
//! - [`schema`]: column names and cells. [`engine`]: the engine. [`batch`]: the batch driver.
//! - [`series`]: the streaming series: provisional and final vectors per tick.
//! - [`csv`]: golden-style CSV output.

pub mod batch;
pub mod complexity;
pub mod covariates;
pub mod csv;
pub mod engine;
pub mod exact;
pub mod flares;
pub mod flux;
pub mod rate;
pub mod regions;
pub mod schema;
pub mod series;
pub mod window;

pub use batch::{
    compute_covariates_batch, compute_features_batch, for_each_covariate_row, for_each_feature_row,
};
pub use engine::{EngineError, EngineStats, FeatureConfig, FeatureEngine};
pub use schema::{covariate_columns, feature_columns, Cell, CovariateRow, FeatureRow};
