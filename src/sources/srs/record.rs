//! The SRS record in the live feed's shape, and its [`RegionObservation`].

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;

use crate::domain::RegionObservation;

/// Which SRS section a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrsSection {
    /// Section I, "Regions with Sunspots".
    Spots,
    /// Section IA, "H-alpha Plages without Spots".
    Plage,
}

/// One region on one day, with the fields and conventions of a `solar_regions.json` record.
///
/// Serializes (serde) to exactly the feed's field names and value shapes; the three
/// SRS-only fields (`section`, `line`, `source_order`) are not serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrsRegion {
    /// The day observed: the issue date minus one day (see the module doc).
    pub observed_date: NaiveDate,
    /// Region number as SRS and the feed write it: four digits, no 10000 added.
    pub region: i32,
    /// Heliographic latitude, degrees, north positive.
    pub latitude: i32,
    /// Degrees from the central meridian, east positive (`W71` -> -71), as the feed writes.
    pub longitude: i32,
    /// Location as written in the SRS, e.g. `N12W71`.
    pub location: String,
    /// Carrington longitude (`Lo`).
    pub carrington_longitude: i32,
    /// Area in millionths of the hemisphere; 0 for a plage, as the feed writes.
    pub area: i32,
    /// McIntosh class (`Z`) in the feed's case (`Dsi`, also for 1990s `DSI`); `None` for a
    /// plage.
    pub spot_class: Option<String>,
    /// Longitudinal extent in degrees (`LL`); 0 for a plage.
    pub extent: i32,
    /// Number of spots (`NN`); 0 for a plage.
    pub number_spots: i32,
    /// Mount Wilson class as the feed's letter code (`Beta-Gamma` -> `BG`); `None` for a
    /// plage or a Section I row without a `Mag Type`.
    pub mag_class: Option<String>,
    /// Section the row came from.
    #[serde(skip)]
    pub section: SrsSection,
    /// 1-based line number in the file, for tracing a value back to its source.
    #[serde(skip)]
    pub line: usize,
    /// Position in the feed's order (see the module doc): what the region pick tie-break reads.
    #[serde(skip)]
    pub source_order: u32,
}

impl SrsRegion {
    /// The record as `sources::swpc_regions::parse_regions` makes it from the
    /// equivalent feed record: `region` -> `region_number`, `spot_class` -> `mcintosh_class`,
    /// `mag_class` -> `mount_wilson_class`, `number_spots` -> `num_sunspots`, `area`,
    /// `latitude`, `longitude` as f64, `observed_date` -> midnight UTC. The feed's range
    /// checks were applied when the row was parsed, so this cannot fail.
    pub fn to_observation(&self) -> RegionObservation {
        RegionObservation {
            timestamp: Utc.from_utc_datetime(&self.observed_date.and_time(NaiveTime::MIN)),
            region_number: self.region,
            latitude: Some(f64::from(self.latitude)),
            longitude: Some(f64::from(self.longitude)),
            mcintosh_class: self.spot_class.clone(),
            mount_wilson_class: self.mag_class.clone(),
            area: Some(self.area),
            num_sunspots: Some(self.number_spots),
            source_order: self.source_order,
        }
    }
}

impl From<&SrsRegion> for RegionObservation {
    fn from(r: &SrsRegion) -> Self {
        r.to_observation()
    }
}
