//! Rate of change and acceleration over the 12 h lookback (spec 5.2.3, quirks kept: Q18).
//!
//! `R` = rows in `[T − 12 h, T]`. The rate of a band is `(last valid − first valid) / span`,
//! where the span runs from the first to the last **row** of `R` (valid or not). The
//! acceleration splits `R` at `mid = |R| / 2` into two halves, takes the rate of each half the
//! same way and divides their difference by the **sum of the half spans**. All of it is O(1):
//! the first/last valid value of a row range comes from the band ordinals (see
//! [`super::window`]).

use super::flares::hours_between;
use super::window::FluxWindows;

/// Rate of band `b` over rows `[a, b_end)`: needs two valid values and a positive span.
/// Returns `(rate, span_hours)`.
fn range_rate(fw: &FluxWindows, a: u64, b_end: u64, b: usize) -> Option<(f64, f64)> {
    if b_end <= a {
        return None;
    }
    let first_ord = fw.band_ord_at(a, b);
    let end_ord = fw.band_ord_at(b_end, b);
    if end_ord < first_ord + 2 {
        return None;
    }
    let span = hours_between(fw.row(b_end - 1).t, fw.row(a).t);
    if span <= 0.0 {
        return None;
    }
    let first = fw.value(fw.valid_row(b, first_ord), b);
    let last = fw.value(fw.valid_row(b, end_ord - 1), b);
    Some(((last - first) / span, span))
}

/// `[short rate, long rate, short acceleration, long acceleration]` for window `idx` (the 12 h
/// window); `None` = null.
pub fn rates(fw: &FluxWindows, idx: usize) -> [Option<f64>; 4] {
    let w = fw.window(idx);
    let (a, n) = (w.start, w.rows);
    let end = a + n;
    let mut out = [None; 4];
    if n < 2 {
        return out;
    }
    for b in 0..2 {
        out[b] = range_rate(fw, a, end, b).map(|r| r.0);
        if n >= 3 {
            let mid = a + n / 2;
            if let (Some((r1, s1)), Some((r2, s2))) =
                (range_rate(fw, a, mid, b), range_rate(fw, mid, end, b))
            {
                out[2 + b] = Some((r2 - r1) / (s1 + s2));
            }
        }
    }
    out
}
