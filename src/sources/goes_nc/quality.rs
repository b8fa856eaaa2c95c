//! The flag rule: which archive values the backfill keeps, and what sets the electron
//! contamination flag. Conditions are looked up by their `flag_meanings` name, so the bits
//! come from each file (GOES-R and GOES-13/15 files put them in different places).
//!
//! * A band value is **dropped** (becomes `None`) when the flag variable's own `good_data`
//!   condition does not hold. The file decides what `good_data` excludes: in GOES-R avg1m files
//!   `eclipse` and `bad_data` (mask 3); in reprocessed GOES-13/15 avg1m files `bad_data`,
//!   `eclipsed_by_earth` and `temperature_recovery` (mask 7). Electron-correction states
//!   (`e_correction_*`, `electron_correction_*`) and `e_contam_significant` never drop a value:
//!   the GOES-R files say `good_data` is independent of them.
//! * A fill flag (no flag for that minute) keeps the value: nothing says it is bad.
//! * `e_contam_significant` holding sets the band's electron contamination to `true`, not
//!   holding to `false`; a fill flag, or a file without that meaning (GOES-13/15), gives `None`.
//! * `data_quality` is `missing` exactly when the long band ends up `None` (fill, NaN, dropped
//!   by this rule, or rejected as implausible), as for the live feed.

use super::flags::FlagSpec;

/// The meaning whose failure drops a value.
pub const GOOD_DATA: &str = "good_data";
/// The archive's form of the live feed's `electron_contaminaton`.
pub const E_CONTAM_SIGNIFICANT: &str = "e_contam_significant";

/// Whether the rule keeps a value with this flag. A file without `good_data` keeps everything
/// here; the avg1m parser refuses such files before asking.
pub fn keeps(spec: &FlagSpec, flag: Option<u64>) -> bool {
    flag.is_none_or(|f| spec.holds(GOOD_DATA, f) != Some(false))
}

/// The band's electron contamination flag, `None` when unknown.
pub fn electron_contamination(spec: &FlagSpec, flag: Option<u64>) -> Option<bool> {
    flag.and_then(|f| spec.holds(E_CONTAM_SIGNIFICANT, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcdf_reader::NcAttrValue;

    fn spec(meanings: &str, masks: Vec<u16>, values: Vec<u16>) -> FlagSpec {
        FlagSpec::from_attributes(
            meanings,
            Some(&NcAttrValue::UShorts(masks)),
            Some(&NcAttrValue::UShorts(values)),
        )
        .unwrap()
    }

    fn goes_r() -> FlagSpec {
        spec(
            "good_data eclipse bad_data e_contam_significant e_correction_valid \
             e_correction_invalid e_correction_interp e_correction_decay",
            vec![3, 1, 2, 4, 8, 8, 48, 48],
            vec![0, 1, 2, 4, 0, 8, 16, 32],
        )
    }

    fn goes_15() -> FlagSpec {
        spec(
            "good_data bad_data eclipsed_by_earth temperature_recovery electron_correction_valid \
             electron_correction_invalid electron_correction_interp electron_correction_decay",
            vec![7, 1, 2, 4, 120, 120, 120, 120],
            vec![0, 1, 2, 4, 8, 16, 32, 64],
        )
    }

    #[test]
    fn goes_r_drops_eclipse_and_bad_data_only() {
        let s = goes_r();
        for flag in [0, 4, 8, 16, 32, 4 | 8 | 48] {
            assert!(keeps(&s, Some(flag)), "{flag}");
        }
        for flag in [1, 2, 3, 1 | 4, 2 | 16] {
            assert!(!keeps(&s, Some(flag)), "{flag}");
        }
        assert!(keeps(&s, None));
        assert_eq!(electron_contamination(&s, Some(4)), Some(true));
        assert_eq!(electron_contamination(&s, Some(1 | 4)), Some(true));
        assert_eq!(electron_contamination(&s, Some(0)), Some(false));
        assert_eq!(electron_contamination(&s, None), None);
    }

    #[test]
    fn goes_15_bits_differ_and_contamination_is_unknown() {
        let s = goes_15();
        // Bit 2 is temperature recovery here (e_contam_significant in GOES-R): dropped.
        assert!(!keeps(&s, Some(4)));
        assert!(!keeps(&s, Some(1)) && !keeps(&s, Some(2)));
        // All rows of the GOES-15 sample carry 16 (electron_correction_invalid): kept.
        assert!(keeps(&s, Some(16)) && keeps(&s, Some(8)));
        assert_eq!(electron_contamination(&s, Some(16)), None);
    }
}
