//! The feature flux block (spec 5.1 step 3): `compute_flux_trends` (24 h statistics, 6 h trend,
//! ratio), `compute_flux_rate_of_change` (12 h) and the rolling statistics (6/12/24 h).
//!
//! Every window is `[T − w, T]`: flare-plus's trend and rate functions have no upper bound
//! (Q35) but the pipeline cuts the data at T first, and so does the engine (data newer than T is
//! held pending). The 24 h statistics equal the 24 h rolling ones (Q16, kept).

use super::rate::rates;
use super::schema::Cell;
use super::window::{FluxWindows, LONG, SHORT};

/// Window indices the flux block reads.
#[derive(Debug, Clone)]
pub struct FluxBlockIdx {
    /// `compute_flux_trends` lookback (24 h).
    pub lookback: usize,
    /// Trend window (6 h).
    pub trend: usize,
    /// Rate lookback (12 h).
    pub rate: usize,
    /// Rolling windows, in output order.
    pub rolling: Vec<usize>,
}

/// A null value: NaN until the profile decides (0 after flare-plus's imputation, or missing).
pub fn opt(v: Option<f64>) -> Cell {
    Cell::Num(v.unwrap_or(f64::NAN))
}

/// Appends the flux block's cells.
pub fn push_flux_block(fw: &FluxWindows, idx: &FluxBlockIdx, out: &mut Vec<Cell>) {
    // compute_flux_trends (spec 5.2.2): R = [T − 24 h, T].
    let r = fw.window(idx.lookback);
    if r.rows == 0 {
        out.extend(std::iter::repeat_n(opt(None), 11));
    } else {
        let mut means = [None; 2];
        for b in [SHORT, LONG] {
            let s = &r.bands[b];
            means[b] = s.mean();
            out.push(opt(means[b]));
            out.push(opt(fw.max(idx.lookback, b)));
            out.push(opt(fw.min(idx.lookback, b)));
            out.push(opt(s.std()));
        }
        // Trend per sample over W = [T − 6 h, T], needs |W| >= 2 rows and 2 valid values (Q17).
        let w = fw.window(idx.trend);
        for b in [SHORT, LONG] {
            let slope = if w.rows >= 2 {
                w.bands[b].slope_per_sample(fw.band_ord_at(w.start, b))
            } else {
                None
            };
            out.push(opt(slope));
        }
        // Ratio: Python truthiness, `short_mean and long_mean and long_mean > 0`.
        let ratio = match (means[SHORT], means[LONG]) {
            (Some(s), Some(l)) if s != 0.0 && l != 0.0 && l > 0.0 => Some(s / l),
            _ => None,
        };
        out.push(opt(ratio));
    }
    // compute_flux_rate_of_change (spec 5.2.3).
    for v in rates(fw, idx.rate) {
        out.push(opt(v));
    }
    // Rolling statistics (spec 5.2.4): a band without values has all three null.
    for &wi in &idx.rolling {
        let w = fw.window(wi);
        for b in [SHORT, LONG] {
            let s = &w.bands[b];
            if s.n == 0 {
                out.extend(std::iter::repeat_n(opt(None), 3));
            } else {
                out.push(opt(s.mean()));
                out.push(opt(fw.max(wi, b)));
                out.push(opt(s.std()));
            }
        }
    }
}
