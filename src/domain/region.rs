use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One row of SWPC `solar_regions.json` after flare-plus's normalisation (spec 2.3): one active
/// region on one observation date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionObservation {
    /// `observed_date` parsed; a date-only value is midnight UTC (flare-plus's `timestamp`).
    pub timestamp: DateTime<Utc>,
    /// NOAA region number (SWPC's `region`).
    pub region_number: i32,
    /// Heliographic latitude, degrees.
    pub latitude: Option<f64>,
    /// Heliographic longitude, degrees (SWPC sign convention, east positive).
    pub longitude: Option<f64>,
    /// McIntosh class, e.g. `Dkc` (SWPC's `spot_class`).
    pub mcintosh_class: Option<String>,
    /// Mount Wilson class exactly as SWPC sent it (`mag_class`): letter codes such as `BG`
    /// in the live feed (spec Q11). flare-plus also stored it as `magnetic_type`.
    pub mount_wilson_class: Option<String>,
    /// Area in millionths of the solar hemisphere.
    pub area: Option<i32>,
    /// SWPC's `number_spots`.
    pub num_sunspots: Option<i32>,
    /// Position of the record in the payload it came from. flare-plus broke ties between
    /// regions of the same date by "last ingested" (golden README); the payload order is
    /// what made a row the last one, so it travels with the row.
    pub source_order: u32,
}

impl RegionObservation {
    /// flare-plus's `magnetic_type`: the same raw value as `mount_wilson_class`.
    pub fn magnetic_type(&self) -> Option<&str> {
        self.mount_wilson_class.as_deref()
    }

    /// Natural key: one row per (region, timestamp).
    pub fn natural_key(&self) -> String {
        format!(
            "region:{}:{}",
            self.region_number,
            self.timestamp.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}
