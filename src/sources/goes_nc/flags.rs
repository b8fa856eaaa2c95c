//! CF flag attributes (`flag_meanings` with `flag_masks` and/or `flag_values`) -> named
//! conditions of one flag value. Bit numbers come from the file, never from this code.
//!
//! CF rule: with masks and values, meaning *i* holds when `flag & mask_i == value_i`; with
//! values only, when `flag == value_i`; with masks only, when `flag & mask_i != 0`.

use netcdf_reader::NcAttrValue;

/// One named condition of a flag variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagCondition {
    /// The word from `flag_meanings`, e.g. `eclipse`.
    pub meaning: String,
    /// Its entry in `flag_masks`, if the file has masks.
    pub mask: Option<u64>,
    /// Its entry in `flag_values`, if the file has values.
    pub value: Option<u64>,
}

impl FlagCondition {
    /// Whether this condition holds for `flag` (CF rule above).
    pub fn holds(&self, flag: u64) -> bool {
        match (self.mask, self.value) {
            (Some(mask), Some(value)) => flag & mask == value,
            (None, Some(value)) => flag == value,
            (Some(mask), None) => flag & mask != 0,
            (None, None) => false,
        }
    }
}

/// The decoded flag attributes of one flag variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSpec {
    conditions: Vec<FlagCondition>,
}

impl FlagSpec {
    /// Builds the spec from the attribute values; the error says what is inconsistent.
    pub fn from_attributes(
        meanings: &str,
        masks: Option<&NcAttrValue>,
        values: Option<&NcAttrValue>,
    ) -> Result<Self, String> {
        let words: Vec<&str> = meanings.split_whitespace().collect();
        if words.is_empty() {
            return Err("flag_meanings is empty".into());
        }
        if masks.is_none() && values.is_none() {
            return Err("neither flag_masks nor flag_values is present".into());
        }
        let masks = masks
            .map(|m| integers(m, "flag_masks", words.len()))
            .transpose()?;
        let values = values
            .map(|v| integers(v, "flag_values", words.len()))
            .transpose()?;
        let conditions = words
            .iter()
            .enumerate()
            .map(|(i, word)| FlagCondition {
                meaning: (*word).to_string(),
                mask: masks.as_ref().map(|m| m[i]),
                value: values.as_ref().map(|v| v[i]),
            })
            .collect();
        Ok(FlagSpec { conditions })
    }

    /// All conditions, in `flag_meanings` order.
    pub fn conditions(&self) -> &[FlagCondition] {
        &self.conditions
    }

    /// Whether the file defines `meaning` at all.
    pub fn defines(&self, meaning: &str) -> bool {
        self.conditions.iter().any(|c| c.meaning == meaning)
    }

    /// `Some(holds)` when the file defines `meaning`, `None` when it does not.
    pub fn holds(&self, meaning: &str, flag: u64) -> Option<bool> {
        self.conditions
            .iter()
            .find(|c| c.meaning == meaning)
            .map(|c| c.holds(flag))
    }

    /// The meanings that hold for `flag`, in `flag_meanings` order.
    pub fn meanings_of(&self, flag: u64) -> Vec<&str> {
        self.conditions
            .iter()
            .filter(|c| c.holds(flag))
            .map(|c| c.meaning.as_str())
            .collect()
    }
}

/// Attribute -> exactly `len` non-negative integers (integral floats accepted).
fn integers(value: &NcAttrValue, name: &str, len: usize) -> Result<Vec<u64>, String> {
    fn from_signed(v: impl IntoIterator<Item = i64>) -> Option<Vec<u64>> {
        v.into_iter().map(|x| u64::try_from(x).ok()).collect()
    }
    fn from_float(v: impl IntoIterator<Item = f64>) -> Option<Vec<u64>> {
        v.into_iter()
            .map(|x| (x.fract() == 0.0 && (0.0..9.0e15).contains(&x)).then_some(x as u64))
            .collect()
    }
    let parsed = match value {
        NcAttrValue::Bytes(v) => from_signed(v.iter().map(|&x| i64::from(x))),
        NcAttrValue::Shorts(v) => from_signed(v.iter().map(|&x| i64::from(x))),
        NcAttrValue::Ints(v) => from_signed(v.iter().map(|&x| i64::from(x))),
        NcAttrValue::Int64s(v) => from_signed(v.iter().copied()),
        NcAttrValue::UBytes(v) => Some(v.iter().map(|&x| u64::from(x)).collect()),
        NcAttrValue::UShorts(v) => Some(v.iter().map(|&x| u64::from(x)).collect()),
        NcAttrValue::UInts(v) => Some(v.iter().map(|&x| u64::from(x)).collect()),
        NcAttrValue::UInt64s(v) => Some(v.clone()),
        NcAttrValue::Floats(v) => from_float(v.iter().map(|&x| f64::from(x))),
        NcAttrValue::Doubles(v) => from_float(v.iter().copied()),
        _ => return Err(format!("{name} is not numeric")),
    }
    .ok_or_else(|| format!("{name} has a negative or non-integer entry"))?;
    if parsed.len() != len {
        return Err(format!(
            "{name} has {} entries but flag_meanings has {len} words",
            parsed.len()
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GOES-16 avg1m `xrsa_flag` attributes, as stored in the sample file.
    fn goes_r() -> FlagSpec {
        FlagSpec::from_attributes(
            "good_data eclipse bad_data e_contam_significant e_correction_valid \
             e_correction_invalid e_correction_interp e_correction_decay",
            Some(&NcAttrValue::UBytes(vec![3, 1, 2, 4, 8, 8, 48, 48])),
            Some(&NcAttrValue::UBytes(vec![0, 1, 2, 4, 0, 8, 16, 32])),
        )
        .unwrap()
    }

    #[test]
    fn masks_and_values_follow_cf() {
        let spec = goes_r();
        assert_eq!(spec.meanings_of(0), vec!["good_data", "e_correction_valid"]);
        assert_eq!(
            spec.meanings_of(4),
            vec!["good_data", "e_contam_significant", "e_correction_valid"]
        );
        assert_eq!(
            spec.meanings_of(1 | 8 | 32),
            vec!["eclipse", "e_correction_invalid", "e_correction_decay"]
        );
        assert_eq!(spec.holds("bad_data", 2), Some(true));
        assert_eq!(spec.holds("good_data", 2), Some(false));
        assert_eq!(spec.holds("no_such_meaning", 2), None);
        assert!(spec.defines("eclipse") && !spec.defines("temperature_recovery"));
    }

    #[test]
    fn values_only_and_masks_only() {
        let values = FlagSpec::from_attributes(
            "upright neither inverted",
            None,
            Some(&NcAttrValue::UBytes(vec![0, 1, 2])),
        )
        .unwrap();
        assert_eq!(values.meanings_of(2), vec!["inverted"]);
        let masks = FlagSpec::from_attributes(
            "calibration off_pointed",
            Some(&NcAttrValue::Doubles(vec![1.0, 2.0])),
            None,
        )
        .unwrap();
        assert_eq!(masks.meanings_of(3), vec!["calibration", "off_pointed"]);
        assert!(masks.meanings_of(4).is_empty());
    }

    #[test]
    fn inconsistent_attributes_are_errors() {
        let two = NcAttrValue::UBytes(vec![1, 2]);
        let cases = [
            ("", Some(&two), None, "empty"),
            ("a b", None, None, "neither"),
            ("a b c", Some(&two), None, "3 words"),
            (
                "a b",
                Some(&NcAttrValue::Ints(vec![1, -2])),
                None,
                "negative",
            ),
            (
                "a b",
                None,
                Some(&NcAttrValue::Floats(vec![1.0, 2.5])),
                "non-integer",
            ),
            (
                "a",
                Some(&NcAttrValue::Chars("1".into())),
                None,
                "not numeric",
            ),
        ];
        for (meanings, masks, values, needle) in cases {
            let err = FlagSpec::from_attributes(meanings, masks, values).unwrap_err();
            assert!(err.contains(needle), "{meanings:?}: {err}");
        }
    }
}
