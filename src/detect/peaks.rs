//! `scipy.signal.find_peaks(x, height, prominence, width=1, distance=10)` as flare-plus called
//! it (scipy 1.13.1), stage by stage, spec 4.3. Each stage sees only the survivors of the
//! previous one. This is the batch reference; [`super::stream`] must agree with it exactly.

/// `find_peaks`'s `distance` (samples, Q5: counts samples, not minutes).
pub const PEAK_DISTANCE: usize = 10;
/// `find_peaks`'s `width` (samples).
pub const MIN_WIDTH: f64 = 1.0;
/// `peak_widths`'s `rel_height`.
pub const REL_HEIGHT: f64 = 0.5;

/// A peak that survived every stage, with the intermediates scipy reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakStats {
    pub index: usize,
    pub prominence: f64,
    pub left_base: usize,
    pub right_base: usize,
    /// The evaluation height of the width: `x[p] - prominence * 0.5`.
    pub width_height: f64,
    pub left_ip: f64,
    pub right_ip: f64,
    pub width: f64,
}

/// All stages in order: local maxima, height >= `height`, distance, prominence >=
/// `min_prominence`, width >= [`MIN_WIDTH`]. `x` must be free of NaN (spec 4.2 drops them).
pub fn find_peaks(x: &[f64], height: f64, min_prominence: f64) -> Vec<PeakStats> {
    let tall: Vec<usize> = local_maxima(x)
        .into_iter()
        .filter(|&p| x[p] >= height)
        .collect();
    select_by_distance(x, &tall, PEAK_DISTANCE)
        .into_iter()
        .filter_map(|p| {
            let (prominence, left_base, right_base) = prominence(x, p);
            if prominence < min_prominence {
                return None;
            }
            let (width_height, left_ip, right_ip) = width(x, p, prominence, left_base, right_base);
            let width = right_ip - left_ip;
            (width >= MIN_WIDTH).then_some(PeakStats {
                index: p,
                prominence,
                left_base,
                right_base,
                width_height,
                left_ip,
                right_ip,
                width,
            })
        })
        .collect()
}

/// Stage 1 (scipy `_local_maxima_1d`): strict rise, a plateau of equal values, strict fall;
/// the peak is the plateau midpoint rounded down. The first and last samples never qualify.
pub(crate) fn local_maxima(x: &[f64]) -> Vec<usize> {
    let mut peaks = Vec::new();
    if x.len() < 3 {
        return peaks;
    }
    let i_max = x.len() - 1;
    let mut i = 1;
    while i < i_max {
        if x[i - 1] < x[i] {
            let mut ahead = i + 1;
            while ahead < i_max && x[ahead] == x[i] {
                ahead += 1;
            }
            if x[ahead] < x[i] {
                peaks.push((i + ahead - 1) / 2);
                i = ahead;
            }
        }
        i += 1;
    }
    peaks
}

/// Stage 3 (scipy `_select_by_peak_distance`): visit peaks from the highest down and drop
/// every other peak closer than `distance` samples to a kept one. Ties in height: a stable
/// ascending sort visited from the end, so the right-most of equal peaks wins (spec 4.3, Q40).
pub(crate) fn select_by_distance(x: &[f64], peaks: &[usize], distance: usize) -> Vec<usize> {
    let mut keep = vec![true; peaks.len()];
    let mut by_height: Vec<usize> = (0..peaks.len()).collect();
    by_height.sort_by(|&a, &b| x[peaks[a]].total_cmp(&x[peaks[b]]));
    for &j in by_height.iter().rev() {
        if !keep[j] {
            continue;
        }
        for k in (0..j).rev() {
            if peaks[j] - peaks[k] >= distance {
                break;
            }
            keep[k] = false;
        }
        for k in j + 1..peaks.len() {
            if peaks[k] - peaks[j] >= distance {
                break;
            }
            keep[k] = false;
        }
    }
    peaks
        .iter()
        .zip(keep)
        .filter_map(|(&p, k)| k.then_some(p))
        .collect()
}

/// Stage 4 (scipy `_peak_prominences`, no window): walk each side while samples are <= the
/// peak, tracking the minimum (a base moves only on a strictly lower value).
/// Returns `(prominence, left_base, right_base)`.
pub(crate) fn prominence(x: &[f64], p: usize) -> (f64, usize, usize) {
    let (mut left_min, mut left_base) = (x[p], p);
    let mut i = p;
    loop {
        if x[i] > x[p] {
            break;
        }
        if x[i] < left_min {
            left_min = x[i];
            left_base = i;
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    let (mut right_min, mut right_base) = (x[p], p);
    for (i, &v) in x.iter().enumerate().skip(p) {
        if v > x[p] {
            break;
        }
        if v < right_min {
            right_min = v;
            right_base = i;
        }
    }
    (x[p] - left_min.max(right_min), left_base, right_base)
}

/// Stage 5 (scipy `_peak_widths`, rel_height 0.5): the half-prominence crossings on each
/// side, bounded by the bases, linearly interpolated. Returns `(height, left_ip, right_ip)`.
pub(crate) fn width(
    x: &[f64],
    p: usize,
    prominence: f64,
    left_base: usize,
    right_base: usize,
) -> (f64, f64, f64) {
    let height = x[p] - prominence * REL_HEIGHT;
    let mut i = p;
    while left_base < i && height < x[i] {
        i -= 1;
    }
    let mut left_ip = i as f64;
    if x[i] < height {
        left_ip += (height - x[i]) / (x[i + 1] - x[i]);
    }
    let mut i = p;
    while i < right_base && height < x[i] {
        i += 1;
    }
    let mut right_ip = i as f64;
    if x[i] < height {
        right_ip -= (height - x[i]) / (x[i - 1] - x[i]);
    }
    (height, left_ip, right_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single_peak_series() -> Vec<f64> {
        let mut x = vec![5e-7; 40];
        let bump = [1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 8e-6, 4e-6, 2e-6, 1e-6];
        x[10..19].copy_from_slice(&bump);
        x
    }

    /// Spec 8.4 "Single peak": every listed intermediate.
    #[test]
    fn spec_8_4_single_peak_intermediates() {
        let x = single_peak_series();
        assert_eq!(local_maxima(&x), vec![14]);
        let peaks = find_peaks(&x, 1e-6, 1e-7);
        assert_eq!(peaks.len(), 1);
        let p = &peaks[0];
        assert_eq!((p.index, p.left_base, p.right_base), (14, 9, 19));
        assert_eq!(p.prominence, 1.55e-5);
        // The spec prints 8.25e-06; the f64 formula x[p] - prom * 0.5 (scipy's) gives
        // 8.249999999999999e-06. Spec 8 compares golden hints at 1e-12 relative.
        assert!((p.width_height - 8.25e-6).abs() <= 8.25e-6 * 1e-12);
        assert_eq!(
            (p.left_ip, p.right_ip, p.width),
            (13.03125, 14.96875, 1.9375)
        );
    }

    /// Spec 8.4 "Two peaks": positions, prominences and widths.
    #[test]
    fn spec_8_4_two_peaks_intermediates() {
        let mut x = vec![5e-7; 80];
        x[18..23].copy_from_slice(&[1e-6, 4e-6, 1e-5, 4e-6, 1e-6]);
        x[38..43].copy_from_slice(&[1e-6, 4e-6, 9e-6, 4e-6, 1e-6]);
        let peaks = find_peaks(&x, 1e-6, 1e-7);
        let got: Vec<_> = peaks.iter().map(|p| (p.index, p.prominence)).collect();
        assert_eq!(got, vec![(20, 9.5e-6), (40, 8.5e-6)]);
        assert!((peaks[0].width - 1.5833).abs() < 1e-4, "{}", peaks[0].width);
        assert!((peaks[1].width - 1.7).abs() < 1e-12, "{}", peaks[1].width);
    }

    #[test]
    fn plateau_midpoint_rounds_down_and_edges_never_peak() {
        assert_eq!(local_maxima(&[0.0, 1.0, 1.0, 1.0, 1.0, 0.0]), vec![2]);
        assert_eq!(local_maxima(&[0.0, 1.0, 1.0, 1.0, 0.0]), vec![2]);
        assert_eq!(local_maxima(&[2.0, 1.0, 3.0]), Vec::<usize>::new());
        assert_eq!(local_maxima(&[0.0, 1.0, 1.0]), Vec::<usize>::new());
        // A plateau that ends in a rise is not a peak; the scan resumes inside it.
        assert_eq!(local_maxima(&[0.0, 1.0, 1.0, 2.0, 0.0]), vec![3]);
    }

    #[test]
    fn distance_keeps_highest_and_rightmost_of_equals() {
        let mut x = vec![0.0; 40];
        x[5] = 3.0;
        x[10] = 5.0; // removes 5 (distance 5) and 18 (distance 8)
        x[18] = 4.0;
        x[25] = 2.0; // 15 from 10: kept
        assert_eq!(select_by_distance(&x, &[5, 10, 18, 25], 10), vec![10, 25]);
        let mut y = vec![0.0; 20];
        y[3] = 1.0;
        y[8] = 1.0;
        assert_eq!(select_by_distance(&y, &[3, 8], 10), vec![8]);
        // Chains: 0 < 1 < 2 in height, 5 apart: 2 removes 1, then 0 survives.
        let mut z = vec![0.0; 30];
        z[2] = 1.0;
        z[7] = 2.0;
        z[12] = 3.0;
        assert_eq!(select_by_distance(&z, &[2, 7, 12], 10), vec![2, 12]);
    }

    #[test]
    fn prominence_bases_take_the_nearest_strict_minimum() {
        let x = [1.0, 0.5, 0.5, 2.0, 0.2, 0.2, 3.0];
        // Left walk from 3 reaches index 0; strict minima: 0.5 first met at index 2.
        // Right walk stops at 6 (3.0 > 2.0); minimum 0.2 first met at index 4.
        assert_eq!(prominence(&x, 3), (2.0 - 0.5, 2, 4));
    }
}
