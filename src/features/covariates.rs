//! `TimeVaryingCovariateEngineer` covariates (spec 5.5), batch/preloaded semantics (the path the
//! goldens and the training data used; Q20 fixed by construction: peaks, not starts).
//!
//! Per lookback L: flux over `[T − L, T]`, region complexity over `[T − L, T]`, flare history
//! over peaks in `[T − L, T)`.

use crate::profile::Profile;

use super::flares::FlareStore;
use super::regions::RegionStore;
use super::schema::Cell;
use super::window::{FluxWindows, HOUR_US, LONG, SHORT};

/// A covariate value; NaN (flare-plus's NaN trend, Q21, or all-null area, Q22) is written as a
/// missing cell, like the golden files' empty cells.
fn cell(v: f64) -> Cell {
    if v.is_nan() {
        Cell::Missing
    } else {
        Cell::Num(v)
    }
}

/// Flux covariates of window `wi`: `[long mean, long max, short mean, short max, long trend,
/// short trend]`.
///
/// Trend: OLS slope against hours since the window's first row (per hour, Q17), when the window
/// has more than one row. flare-plus fits with `numpy.polyfit`, which returns NaN for a band with
/// a NaN (missing) value in the window while the other band's fit is unaffected; the goldens show
/// exactly that, so the flare-plus profile reproduces it (Q21). The improved profile fits the
/// valid values only.
pub fn flux_covariates(fw: &FluxWindows, wi: usize, profile: Profile) -> [f64; 6] {
    let w = fw.window(wi);
    if w.rows == 0 {
        return [0.0; 6];
    }
    let mut out = [0.0; 6];
    for (k, b) in [LONG, SHORT].into_iter().enumerate() {
        let s = &w.bands[b];
        out[2 * k] = s.mean().unwrap_or(0.0);
        out[2 * k + 1] = fw.max(wi, b).unwrap_or(0.0);
        out[4 + k] = if w.rows <= 1 {
            0.0
        } else {
            match profile {
                Profile::FlarePlus if s.missing > 0 => f64::NAN,
                _ => s.slope_per_hour().unwrap_or(0.0),
            }
        };
    }
    out
}

/// What one covariate row reads.
pub struct CovariateInputs<'a> {
    pub flux: &'a FluxWindows,
    pub regions: &'a RegionStore,
    pub flares: &'a FlareStore,
    /// Evaluation time, µs.
    pub now: i64,
    pub profile: Profile,
}

/// Appends the 13 covariates of lookback `lookback_h` (flux window index `wi`) to `out`.
pub fn push_covariates(inp: &CovariateInputs<'_>, wi: usize, lookback_h: u32, out: &mut Vec<Cell>) {
    let l_us = lookback_h as i64 * HOUR_US;
    out.extend(flux_covariates(inp.flux, wi, inp.profile).map(cell));
    match inp.regions.covariates(inp.now, l_us, inp.profile) {
        Some(r) => {
            out.extend(
                [
                    r.max_complexity,
                    r.avg_area,
                    r.max_mcintosh,
                    r.max_mount_wilson,
                ]
                .map(cell),
            );
        }
        None => out.extend([
            Cell::Num(0.0),
            Cell::Num(0.0),
            Cell::Num(0.0),
            Cell::Num(0.0),
        ]),
    }
    let f = inp.flares.covariates(inp.now, l_us, lookback_h as f64);
    out.extend([f.count, f.max_class, f.hours_since_last].map(cell));
}
