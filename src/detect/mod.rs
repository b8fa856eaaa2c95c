//! Flare detection from the GOES long-band flux: flare-plus's
//! `FlareDetector.detect_flares_from_flux(df, min_class)` (spec section 4), batch and
//! streaming.
//!
//! - [`peaks`]: `scipy.signal.find_peaks` stage by stage (spec 4.3).
//! - [`mod@classify`]: class, magnitude and class string of a peak (spec 4.4).
//! - [`span`]: start and end around a peak (spec 4.4).
//! - `merge`: the within-run dedup (spec 4.6), [`MergeRule`].
//! - [`stream`]: [`StreamDetector`], the same result one sample at a time.
//!
//! Detected flares carry no active region (Q7 fix: flare-plus attached whichever region row
//! was latest within +-6 h, which is not the flaring region).

pub mod classify;
pub mod config;
mod merge;
pub mod peaks;
pub mod span;
pub mod stream;

use chrono::{DateTime, Utc};

use crate::domain::{FlareCategory, FlareEvent, FlareSource, XrayObservation};

pub use classify::{classify, detection_threshold, FlareClass};
pub use config::{DetectionConfig, MergeRuleChoice};
pub use merge::MergeRule;
pub use stream::{StreamConfig, StreamDetector};

use merge::{MergeItem, Merger};

/// One flux sample: time and long-band flux (`None` = missing).
pub type FluxSample = (DateTime<Utc>, Option<f64>);

/// Detects flares in a series of long-band flux samples (spec 4.2-4.6).
///
/// Samples are sorted by time (stable), missing and non-finite fluxes dropped, and the rest
/// addressed by position, so time gaps are ignored (Q5). Output is in peak order.
pub fn detect_flares(
    samples: &[FluxSample],
    min_class: FlareCategory,
    merge: MergeRule,
) -> Vec<FlareEvent> {
    let mut present: Vec<(DateTime<Utc>, f64)> = samples
        .iter()
        .filter_map(|&(t, f)| f.filter(|v| v.is_finite()).map(|v| (t, v)))
        .collect();
    present.sort_by_key(|&(t, _)| t);
    let (times, flux): (Vec<_>, Vec<_>) = present.into_iter().unzip();

    let height = detection_threshold(min_class);
    let mut merger = Merger::new(merge);
    let mut out = Vec::new();
    for peak in peaks::find_peaks(&flux, height, height * 0.1) {
        let p = peak.index;
        let candidate = Candidate::new(
            times[span::start_index(&flux, p)],
            times[p],
            times[span::end_index(&flux, p)],
            flux[p],
        );
        out.extend(merger.push(candidate).map(|c| c.event));
    }
    out.extend(merger.close().map(|c| c.event));
    out
}

/// [`detect_flares`] on parsed observations of one feed (the long band).
pub fn detect_flares_in_observations(
    observations: &[XrayObservation],
    min_class: FlareCategory,
    merge: MergeRule,
) -> Vec<FlareEvent> {
    let samples: Vec<FluxSample> = observations.iter().map(|o| (o.time, o.flux_long)).collect();
    detect_flares(&samples, min_class, merge)
}

/// A detected flare plus its peak flux, which [`MergeRule::PeakFlux`] compares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Candidate {
    pub(crate) event: FlareEvent,
    pub(crate) peak_flux: f64,
}

impl Candidate {
    pub(crate) fn new(
        start: DateTime<Utc>,
        peak: DateTime<Utc>,
        end: DateTime<Utc>,
        peak_flux: f64,
    ) -> Self {
        let class = classify(peak_flux);
        Candidate {
            event: FlareEvent {
                source: FlareSource::Detected,
                external_id: None,
                start_time: start,
                peak_time: peak,
                end_time: Some(end),
                flare_class: class.label,
                class_category: class.category,
                class_magnitude: class.magnitude,
                active_region: None,
                location: None,
                verified: false,
            },
            peak_flux,
        }
    }
}

impl MergeItem for Candidate {
    fn peak_time(&self) -> DateTime<Utc> {
        self.event.peak_time
    }
    fn magnitude(&self) -> f64 {
        self.event.class_magnitude
    }
    fn peak_flux(&self) -> f64 {
        self.peak_flux
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn minutes(values: &[f64]) -> Vec<FluxSample> {
        let t0: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (t0 + Duration::minutes(i as i64), Some(v)))
            .collect()
    }

    fn at(i: i64) -> DateTime<Utc> {
        "2024-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(i)
    }

    /// Spec 8.4 single peak: M1.6 at index 14, start 10, end 18.
    #[test]
    fn spec_8_4_single_peak_flare() {
        let mut x = vec![5e-7; 40];
        x[10..19].copy_from_slice(&[1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 8e-6, 4e-6, 2e-6, 1e-6]);
        let flares = detect_flares(&minutes(&x), FlareCategory::C, MergeRule::FlarePlus);
        assert_eq!(
            flares,
            vec![FlareEvent {
                source: FlareSource::Detected,
                external_id: None,
                start_time: at(10),
                peak_time: at(14),
                end_time: Some(at(18)),
                flare_class: "M1.6".into(),
                class_category: FlareCategory::M,
                class_magnitude: 1.6,
                active_region: None,
                location: None,
                verified: false,
            }]
        );
    }

    fn two_peaks() -> Vec<FluxSample> {
        let mut x = vec![5e-7; 80];
        x[18..23].copy_from_slice(&[1e-6, 4e-6, 1e-5, 4e-6, 1e-6]);
        x[38..43].copy_from_slice(&[1e-6, 4e-6, 9e-6, 4e-6, 1e-6]);
        minutes(&x)
    }

    /// Spec 8.4 two peaks: flare-plus keeps C9.0 (Q4: magnitudes compared across classes).
    #[test]
    fn spec_8_4_two_peaks_flare_plus_keeps_c9() {
        let flares = detect_flares(&two_peaks(), FlareCategory::C, MergeRule::FlarePlus);
        assert_eq!(flares.len(), 1);
        let f = &flares[0];
        assert_eq!((f.flare_class.as_str(), f.peak_time), ("C9.0", at(40)));
        assert_eq!((f.start_time, f.end_time), (at(37), Some(at(43))));
    }

    /// The Q4 fix keeps the larger flare, M1.0. Its start and end are 18 and 22: the 10 %
    /// limit is `1e-5 * 0.1 = 1.0000000000000002e-06`, so the 1e-6 samples already count.
    #[test]
    fn spec_8_4_two_peaks_peak_flux_keeps_m1() {
        let flares = detect_flares(&two_peaks(), FlareCategory::C, MergeRule::PeakFlux);
        assert_eq!(flares.len(), 1);
        let f = &flares[0];
        assert_eq!((f.flare_class.as_str(), f.peak_time), ("M1.0", at(20)));
        assert_eq!((f.start_time, f.end_time), (at(18), Some(at(22))));
    }

    #[test]
    fn anchor_does_not_move_on_replacement() {
        // Peaks at 0:20 (C2), 1:10 (C5, replaces: 50 min after the anchor), 1:30 (C3: 70 min
        // after the anchor, a new cluster although only 20 min after the kept C5).
        let mut x = vec![5e-7; 200];
        for (p, v) in [(20, 2e-6), (70, 5e-6), (90, 3e-6)] {
            x[p - 1] = v / 2.0;
            x[p] = v;
            x[p + 1] = v / 2.0;
        }
        let flares = detect_flares(&minutes(&x), FlareCategory::C, MergeRule::FlarePlus);
        let got: Vec<_> = flares
            .iter()
            .map(|f| (f.flare_class.clone(), f.peak_time))
            .collect();
        assert_eq!(got, vec![("C5.0".into(), at(70)), ("C3.0".into(), at(90))]);
    }

    #[test]
    fn missing_and_unsorted_samples_are_prepared_like_flare_plus() {
        let mut s = minutes(&[5e-7, 1e-6, 2e-6, 8e-6, 2e-6, 1e-6, 5e-7, 5e-7]);
        s.insert(3, (at(3) - Duration::seconds(30), None));
        s.insert(5, (at(4) + Duration::seconds(30), Some(f64::NAN)));
        s.reverse();
        let flares = detect_flares(&s, FlareCategory::C, MergeRule::FlarePlus);
        assert_eq!(flares.len(), 1);
        assert_eq!(
            (flares[0].peak_time, flares[0].flare_class.as_str()),
            (at(3), "C8.0")
        );
        assert!(detect_flares(&[], FlareCategory::C, MergeRule::FlarePlus).is_empty());
    }

    #[test]
    fn min_class_sets_the_height() {
        let x = [5e-8, 1e-7, 5e-7, 1e-7, 5e-8, 5e-8];
        assert!(detect_flares(&minutes(&x), FlareCategory::C, MergeRule::FlarePlus).is_empty());
        let b = detect_flares(&minutes(&x), FlareCategory::B, MergeRule::FlarePlus);
        assert_eq!(b[0].flare_class, "B5.0");
    }
}
