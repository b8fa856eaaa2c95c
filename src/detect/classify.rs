//! GOES class of a peak flux and its flare-plus class string (spec 4.1, 4.4).

use crate::domain::FlareCategory;

/// Class thresholds in W/m^2 (spec 4.1), highest first.
const THRESHOLDS: [(FlareCategory, f64); 4] = [
    (FlareCategory::X, 1e-4),
    (FlareCategory::M, 1e-5),
    (FlareCategory::C, 1e-6),
    (FlareCategory::B, 1e-7),
];

/// `find_peaks` height for a minimum class (spec 4.1). flare-plus had no A entry and fell
/// back to C for any unknown class, `A` included; kept.
pub fn detection_threshold(min_class: FlareCategory) -> f64 {
    match min_class {
        FlareCategory::X => 1e-4,
        FlareCategory::M => 1e-5,
        FlareCategory::B => 1e-7,
        FlareCategory::C | FlareCategory::A => 1e-6,
    }
}

/// The class of a peak: category from the *unrounded* flux (so `C10.0` exists, Q6 kept),
/// magnitude = Python `round(flux / threshold, 1)`, class string = letter + Python `repr`
/// of that magnitude (spec 4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct FlareClass {
    pub category: FlareCategory,
    pub magnitude: f64,
    pub label: String,
}

pub fn classify(peak_flux: f64) -> FlareClass {
    let (category, threshold) = THRESHOLDS
        .iter()
        .copied()
        .find(|&(_, thr)| peak_flux >= thr)
        .unwrap_or((FlareCategory::B, 1e-7));
    // Divide by the f64 literal, as flare-plus did (not a multiplication by 1e5 etc.).
    let magnitude = python_round_1(peak_flux / threshold);
    FlareClass {
        category,
        magnitude,
        label: format!("{}{}", category.letter(), python_float_repr(magnitude)),
    }
}

/// Python `round(x, 1)`: the decimal with one fraction digit nearest to the *exact* binary
/// value of `x`, exact ties to even, returned as the nearest f64. Rust's `{:.1}` formatting
/// is exact on the binary value with ties to even, so it gives the same digits (checked
/// against the spec 8.4 table and an exact-integer oracle in the tests).
pub fn python_round_1(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.1}").parse().unwrap_or(x)
}

/// Python `repr(float)`: shortest round-trip digits; positional for 1e-4 <= |x| < 1e16
/// with a trailing `.0` for integral values, otherwise `1e+16` / `1.5e-05` style.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = x.abs();
    if abs == 0.0 || (1e-4..1e16).contains(&abs) {
        // Rust's Debug uses the same shortest digits and the same positional range.
        return format!("{x:?}");
    }
    let sci = format!("{x:e}");
    match sci.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Spec 8.4 rounding table: flux -> category, mag_raw, magnitude / class.
    #[test]
    fn spec_8_4_rounding_table() {
        use FlareCategory::*;
        let table = [
            (9.96e-6, C, 9.959999999999999, 10.0, "C10.0"),
            (2.25e-5, M, 2.25, 2.2, "M2.2"),
            (1.05e-5, M, 1.0499999999999998, 1.0, "M1.0"),
            (3.35e-6, C, 3.35, 3.4, "C3.4"),
            (1.15e-4, X, 1.15, 1.1, "X1.1"),
            (4.45e-5, M, 4.449999999999999, 4.4, "M4.4"),
            (2.5e-6, C, 2.5000000000000004, 2.5, "C2.5"),
            (1.6e-5, M, 1.5999999999999999, 1.6, "M1.6"),
        ];
        for (flux, category, mag_raw, magnitude, label) in table {
            let thr = match category {
                X => 1e-4,
                M => 1e-5,
                _ => 1e-6,
            };
            assert_eq!(flux / thr, mag_raw, "mag_raw of {flux:e}");
            let got = classify(flux);
            assert_eq!(got.category, category, "{flux:e}");
            assert_eq!(got.magnitude, magnitude, "{flux:e}");
            assert_eq!(got.label, label, "{flux:e}");
        }
    }

    #[test]
    fn class_labels_use_python_repr() {
        assert_eq!(classify(1.23e-3).label, "X12.3");
        assert_eq!(classify(1e-6).label, "C1.0");
        assert_eq!(classify(5e-8).label, "B0.5");
        assert_eq!(classify(9.99e-5).label, "M10.0"); // Q6: category from the unrounded flux
        assert_eq!(python_float_repr(1e16), "1e+16");
        assert_eq!(python_float_repr(1.5e17), "1.5e+17");
        assert_eq!(python_float_repr(1.5e-5), "1.5e-05");
        assert_eq!(python_float_repr(0.0), "0.0");
        assert_eq!(python_float_repr(123.4), "123.4");
        assert_eq!(python_float_repr(1e15), "1000000000000000.0");
    }

    #[test]
    fn thresholds_fall_back_to_c_for_a() {
        assert_eq!(detection_threshold(FlareCategory::A), 1e-6);
        assert_eq!(detection_threshold(FlareCategory::B), 1e-7);
        assert_eq!(detection_threshold(FlareCategory::X), 1e-4);
        // spec 4.3: the C prominence threshold is exactly 1e-07 in f64.
        assert_eq!(detection_threshold(FlareCategory::C) * 0.1, 1e-7);
    }

    /// Exact oracle for round-half-even to one decimal, valid for 2^-40 <= x < 2^20: compares
    /// x = m * 2^e with the decimal midpoints (2k+1)/20 using integers only.
    fn exact_round_1(x: f64) -> f64 {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let m = u128::from((bits & ((1u64 << 52) - 1)) | (1u64 << 52));
        let e = exp - 1075; // x = m * 2^e, e in [-92, -33] for this range
        let shift = (-e) as u32;
        // 10x = m*10 / 2^shift; floor and remainder in units of 2^-shift.
        let scaled = m * 10;
        let k = scaled >> shift;
        let rem = scaled - (k << shift);
        let half = 1u128 << (shift - 1);
        let rounded = if rem > half || (rem == half && k % 2 == 1) {
            k + 1
        } else {
            k
        };
        // The f64 nearest to rounded/10: Rust's parser is correctly rounded.
        format!("{}.{}", rounded / 10, rounded % 10)
            .parse()
            .unwrap()
    }

    #[test]
    fn oracle_agrees_on_the_ties() {
        assert_eq!(exact_round_1(2.25), 2.2);
        assert_eq!(exact_round_1(2.75), 2.8);
        assert_eq!(exact_round_1(3.35), 3.4);
        assert_eq!(exact_round_1(0.25), 0.2);
    }

    proptest! {
        #[test]
        fn round_matches_exact_oracle(x in 1e-12f64..1e6) {
            prop_assert_eq!(python_round_1(x), exact_round_1(x));
        }

        #[test]
        fn round_matches_oracle_on_quarter_ties(k in 0u32..4_000_000) {
            let x = f64::from(k) / 4.0 + 0.25;
            prop_assert_eq!(python_round_1(x), exact_round_1(x));
        }
    }
}
