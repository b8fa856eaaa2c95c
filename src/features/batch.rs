//! Batch driver: what `flare-plus features batch` and the tests call. One engine evaluates the
//! timestamps in ascending order (flux is pushed just ahead of each tick, so pending stays
//! small); rows come back in the order the timestamps were given (the goldens list them newest
//! first). The streaming actor calls the engine directly; both give identical bits.

use chrono::{DateTime, Utc};

use crate::domain::{FlareEvent, RegionObservation, XrayObservation};
use crate::profile::Profile;

use super::engine::{EngineError, FeatureConfig, FeatureEngine};
use super::schema::{CovariateRow, FeatureRow};

/// Builds an engine loaded with every region and flare, plus the flux sorted by time with
/// duplicate timestamps reduced to the last one given (flare-plus's upsert: last wins) and
/// other feeds dropped.
fn prepare<'a>(
    cfg: FeatureConfig,
    flux: &'a [XrayObservation],
    regions: &[RegionObservation],
    flares: &[FlareEvent],
) -> Result<(FeatureEngine, Vec<&'a XrayObservation>), EngineError> {
    let mut engine = FeatureEngine::new(cfg)?;
    for r in regions {
        engine.push_region(r);
    }
    for (i, f) in flares.iter().enumerate() {
        engine.upsert_flare(format!("{}#{i}", f.natural_key()), f.clone());
    }
    let feed = engine.config().feed;
    let mut sorted: Vec<&XrayObservation> = flux.iter().filter(|o| o.feed == feed).collect();
    sorted.sort_by_key(|o| o.time); // stable: equal times keep input order
    let mut dedup: Vec<&XrayObservation> = Vec::with_capacity(sorted.len());
    for o in sorted {
        match dedup.last_mut() {
            Some(last) if last.time == o.time => *last = o,
            _ => dedup.push(o),
        }
    }
    Ok((engine, dedup))
}

/// Evaluates `eval` at every time in ascending order and calls `sink(original_index, row)`.
fn drive<R>(
    mut engine: FeatureEngine,
    flux: &[&XrayObservation],
    times: &[DateTime<Utc>],
    mut eval: impl FnMut(&mut FeatureEngine, DateTime<Utc>) -> Result<R, EngineError>,
    mut sink: impl FnMut(usize, R),
) -> Result<(), EngineError> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    // Flux older than the first tick's data window can never be read (the engine would drop
    // it on absorption); skipping it keeps the pending queue small.
    let window = chrono::Duration::hours(engine.config().data_window_h() as i64);
    let mut next = match order.first() {
        Some(&i) => flux.partition_point(|o| o.time < times[i] - window),
        None => 0,
    };
    for i in order {
        let t = times[i];
        while next < flux.len() && flux[next].time <= t {
            // Sorted and deduplicated above, so this cannot be refused.
            engine.push_flux(flux[next])?;
            next += 1;
        }
        sink(i, eval(&mut engine, t)?);
    }
    Ok(())
}

/// Feature rows for `times` (any order), in the given order, streaming each row to `sink` as it
/// is computed in ascending time (for outputs too large to collect).
pub fn for_each_feature_row(
    cfg: FeatureConfig,
    flux: &[XrayObservation],
    regions: &[RegionObservation],
    flares: &[FlareEvent],
    times: &[DateTime<Utc>],
    sink: impl FnMut(usize, FeatureRow),
) -> Result<(), EngineError> {
    let (engine, flux) = prepare(cfg, flux, regions, flares)?;
    drive(engine, &flux, times, |e, t| e.features_at(t), sink)
}

/// Covariate rows for `times`, streamed to `sink` in ascending time (see
/// [`for_each_feature_row`]).
pub fn for_each_covariate_row(
    cfg: FeatureConfig,
    flux: &[XrayObservation],
    regions: &[RegionObservation],
    flares: &[FlareEvent],
    times: &[DateTime<Utc>],
    sink: impl FnMut(usize, CovariateRow),
) -> Result<(), EngineError> {
    let (engine, flux) = prepare(cfg, flux, regions, flares)?;
    drive(engine, &flux, times, |e, t| e.covariates_at(t), sink)
}

/// `FeatureEngineer.compute_features_batch(times)` for the default configuration of `profile`.
pub fn compute_features_batch(
    flux: &[XrayObservation],
    regions: &[RegionObservation],
    flares: &[FlareEvent],
    times: &[DateTime<Utc>],
    profile: Profile,
) -> Result<Vec<FeatureRow>, EngineError> {
    let mut out: Vec<Option<FeatureRow>> = vec![None; times.len()];
    for_each_feature_row(
        FeatureConfig::with_profile(profile),
        flux,
        regions,
        flares,
        times,
        |i, r| out[i] = Some(r),
    )?;
    Ok(out.into_iter().flatten().collect())
}

/// `TimeVaryingCovariateEngineer.compute_time_varying_covariates_batch(times)`.
pub fn compute_covariates_batch(
    flux: &[XrayObservation],
    regions: &[RegionObservation],
    flares: &[FlareEvent],
    times: &[DateTime<Utc>],
    profile: Profile,
) -> Result<Vec<CovariateRow>, EngineError> {
    let mut out: Vec<Option<CovariateRow>> = vec![None; times.len()];
    for_each_covariate_row(
        FeatureConfig::with_profile(profile),
        flux,
        regions,
        flares,
        times,
        |i, r| out[i] = Some(r),
    )?;
    Ok(out.into_iter().flatten().collect())
}
