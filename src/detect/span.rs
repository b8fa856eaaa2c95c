//! Start and end of a detected flare around its peak, spec 4.4 (batch form).

/// Samples scanned before and after the peak (Q5: samples, not minutes; flare-plus's comment
/// said "about 5 hours").
pub const SPAN_SAMPLES: usize = 60;

/// Start: from the peak back to `p - min(60, p)` inclusive, the first sample below 10 % of
/// the peak flux; if none, `p - min(60, p)`.
pub(crate) fn start_index(x: &[f64], p: usize) -> usize {
    let limit = x[p] * 0.1;
    let first = p - SPAN_SAMPLES.min(p);
    (first..=p).rev().find(|&i| x[i] < limit).unwrap_or(first)
}

/// End: from the peak forward over `min(60, n - p - 1)` samples (the peak included, the
/// last sample of the series never reached), the first sample below 10 % of the peak flux;
/// if none, the last scanned sample.
pub(crate) fn end_index(x: &[f64], p: usize) -> usize {
    let ahead = SPAN_SAMPLES.min(x.len() - p - 1);
    let last = (p + ahead).saturating_sub(1).max(p);
    let limit = x[p] * 0.1;
    (p..=last).find(|&i| x[i] < limit).unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_8_4_single_peak_start_and_end() {
        let mut x = vec![5e-7; 40];
        x[10..19].copy_from_slice(&[1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 8e-6, 4e-6, 2e-6, 1e-6]);
        assert_eq!(start_index(&x, 14), 10);
        assert_eq!(end_index(&x, 14), 18);
    }

    #[test]
    fn without_a_low_sample_the_scan_limits_apply() {
        let x = vec![1.0; 200];
        assert_eq!(start_index(&x, 100), 40);
        assert_eq!(start_index(&x, 20), 0);
        assert_eq!(end_index(&x, 100), 159);
        // Near the end: min(60, n - p - 1) = 9 samples, p..p+8; the last sample is never used.
        assert_eq!(end_index(&x, 190), 198);
        let mut y = vec![1.0; 200];
        y[199] = 0.0;
        assert_eq!(end_index(&y, 190), 198);
    }
}
