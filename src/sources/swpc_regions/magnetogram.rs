//! flare-plus's derived "magnetogram" row (`flare_solar_magnetogram`), spec 2.4.
//!
//! There is no magnetogram upstream: flare-plus derived one row per region row from the
//! Mount Wilson class string with two substring parsers. With the live letter codes (`BG`)
//! those parsers find nothing, so the complexity is the raw code and the polarity `unknown`
//! (Q11, kept). No feature reads this table (Q15); it is kept for table parity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::RegionObservation;

/// The `source` column of every derived row.
pub const MAGNETOGRAM_SOURCE: &str = "noaa_swpc";

/// `data_quality` of a derived row: `good` when the region had a (non-empty) Mount Wilson
/// class, `fair` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MagnetogramQuality {
    Good,
    Fair,
}

impl MagnetogramQuality {
    pub fn as_str(self) -> &'static str {
        match self {
            MagnetogramQuality::Good => "good",
            MagnetogramQuality::Fair => "fair",
        }
    }
}

/// One `flare_solar_magnetogram` row (spec 3.1), as flare-plus derived it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MagnetogramRow {
    pub timestamp: DateTime<Utc>,
    pub region_number: i32,
    /// [`parse_polarity`] of the Mount Wilson class.
    pub magnetic_field_polarity: String,
    /// [`parse_complexity`] of the Mount Wilson class.
    pub magnetic_complexity: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Always `None`: no field strength is available upstream.
    pub magnetic_field_strength: Option<f64>,
    /// Always `None` (flare-plus never filled it).
    pub solar_radius: Option<f64>,
    /// Always [`MAGNETOGRAM_SOURCE`].
    pub source: String,
    pub data_quality: MagnetogramQuality,
}

/// The derived row for one region observation. A class that was not a string upstream is
/// already `None` here (parser, Q39 fix), so it gives `unknown` / `fair` instead of failing
/// the whole batch as flare-plus did.
pub fn magnetogram_row(region: &RegionObservation) -> MagnetogramRow {
    let magnetic_type = region.magnetic_type();
    MagnetogramRow {
        timestamp: region.timestamp,
        region_number: region.region_number,
        magnetic_field_polarity: parse_polarity(magnetic_type).to_owned(),
        magnetic_complexity: parse_complexity(magnetic_type),
        latitude: region.latitude,
        longitude: region.longitude,
        magnetic_field_strength: None,
        solar_radius: None,
        source: MAGNETOGRAM_SOURCE.to_owned(),
        data_quality: if magnetic_type.is_some_and(|s| !s.is_empty()) {
            MagnetogramQuality::Good
        } else {
            MagnetogramQuality::Fair
        },
    }
}

/// One row per region, in input order (flare-plus returned `None` for an empty input; here
/// that is simply an empty vector).
pub fn magnetogram_rows(regions: &[RegionObservation]) -> Vec<MagnetogramRow> {
    regions.iter().map(magnetogram_row).collect()
}

/// flare-plus `parse_complexity` (spec 2.4): substring checks on the lowercased text in the
/// order delta, gamma, beta, alpha; otherwise the input unchanged, original case.
pub fn parse_complexity(mount_wilson: Option<&str>) -> String {
    let s = match mount_wilson {
        None | Some("") => return "unknown".to_owned(),
        Some(s) => s,
    };
    let lower = s.to_lowercase();
    let word = if lower.contains("delta") {
        "beta-gamma-delta"
    } else if lower.contains("gamma") {
        "beta-gamma"
    } else if lower.contains("beta") {
        "beta"
    } else if lower.contains("alpha") {
        "alpha"
    } else {
        return s.to_owned();
    };
    word.to_owned()
}

/// flare-plus `parse_polarity` (spec 2.4): `mixed` for gamma, delta or beta, else `unknown`
/// (alpha included).
pub fn parse_polarity(mount_wilson: Option<&str>) -> &'static str {
    let Some(s) = mount_wilson.filter(|s| !s.is_empty()) else {
        return "unknown";
    };
    let lower = s.to_lowercase();
    if lower.contains("gamma") || lower.contains("delta") || lower.contains("beta") {
        "mixed"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec 8.1 "Magnetogram parsers" table.
    #[test]
    fn spec_8_1_parser_table() {
        let table: [(Option<&str>, &str, &str); 7] = [
            (Some("beta-gamma-delta"), "beta-gamma-delta", "mixed"),
            (Some("Beta-Gamma"), "beta-gamma", "mixed"),
            (Some("alpha"), "alpha", "unknown"),
            (Some("beta"), "beta", "mixed"),
            (Some(""), "unknown", "unknown"),
            (None, "unknown", "unknown"),
            (Some("BGD"), "BGD", "unknown"),
        ];
        for (input, complexity, polarity) in table {
            assert_eq!(parse_complexity(input), complexity, "{input:?}");
            assert_eq!(parse_polarity(input), polarity, "{input:?}");
        }
    }

    /// Spec 8.2: the mock region's derived row.
    #[test]
    fn spec_8_2_derived_row() {
        let region = RegionObservation {
            timestamp: "2025-10-30T00:00:00Z".parse().unwrap(),
            region_number: 12345,
            latitude: Some(15.0),
            longitude: Some(30.0),
            mcintosh_class: Some("Dkc".into()),
            mount_wilson_class: Some("beta-gamma".into()),
            area: Some(120),
            num_sunspots: Some(5),
            source_order: 0,
        };
        let row = magnetogram_row(&region);
        assert_eq!(row.magnetic_complexity, "beta-gamma");
        assert_eq!(row.magnetic_field_polarity, "mixed");
        assert_eq!(row.data_quality.as_str(), "good");
        assert_eq!(row.source, "noaa_swpc");
        assert_eq!(row.magnetic_field_strength, None);
        assert_eq!((row.latitude, row.longitude), (Some(15.0), Some(30.0)));

        let missing = RegionObservation {
            mount_wilson_class: None,
            ..region
        };
        let row = magnetogram_row(&missing);
        assert_eq!(
            (
                row.magnetic_complexity.as_str(),
                row.magnetic_field_polarity.as_str()
            ),
            ("unknown", "unknown")
        );
        assert_eq!(row.data_quality, MagnetogramQuality::Fair);
    }
}
