//! Rows as the readers select them, generic over the stored time type (`DateTime<Utc>` on
//! PostgreSQL, INTEGER microseconds on SQLite), and their conversion to domain types.

use chrono::{DateTime, Utc};

use super::{StoreError, StoreErrorKind};
use crate::domain::{
    FlareCategory, FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation,
};

fn bad(what: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Migration,
        "schema_mismatch",
        format!("unexpected stored value: {what}"),
    )
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Flux<T> {
    timestamp: T,
    satellite: Option<i32>,
    flux_short: Option<f64>,
    flux_long: Option<f64>,
    electron_contamination_short: Option<bool>,
    electron_contamination_long: Option<bool>,
}

impl<T> Flux<T> {
    pub(crate) fn into_domain(
        self,
        feed: XrayFeed,
        time: impl Fn(T) -> Result<DateTime<Utc>, StoreError>,
    ) -> Result<XrayObservation, StoreError> {
        Ok(XrayObservation {
            feed,
            time: time(self.timestamp)?,
            satellite: self.satellite,
            flux_short: self.flux_short,
            flux_long: self.flux_long,
            electron_contamination_short: self.electron_contamination_short,
            electron_contamination_long: self.electron_contamination_long,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Region<T> {
    timestamp: T,
    region_number: i32,
    latitude: Option<f64>,
    longitude: Option<f64>,
    mcintosh_class: Option<String>,
    mount_wilson_class: Option<String>,
    area: Option<i32>,
    num_sunspots: Option<i32>,
    source_order: i64,
}

impl<T> Region<T> {
    pub(crate) fn into_domain(
        self,
        time: impl Fn(T) -> Result<DateTime<Utc>, StoreError>,
    ) -> Result<RegionObservation, StoreError> {
        Ok(RegionObservation {
            timestamp: time(self.timestamp)?,
            region_number: self.region_number,
            latitude: self.latitude,
            longitude: self.longitude,
            mcintosh_class: self.mcintosh_class,
            mount_wilson_class: self.mount_wilson_class,
            area: self.area,
            num_sunspots: self.num_sunspots,
            source_order: u32::try_from(self.source_order).map_err(|_| bad("source_order"))?,
        })
    }
}

/// A `flare_events` or `flare_event_candidates` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Flare<T> {
    source: String,
    external_id: Option<String>,
    start_time: T,
    peak_time: T,
    end_time: Option<T>,
    flare_class: String,
    class_category: String,
    class_magnitude: f64,
    active_region: Option<i32>,
    location: Option<String>,
    verified: bool,
}

impl<T> Flare<T> {
    pub(crate) fn into_domain(
        self,
        time: impl Fn(T) -> Result<DateTime<Utc>, StoreError>,
    ) -> Result<FlareEvent, StoreError> {
        let mut letters = self.class_category.chars();
        let class_category = match (
            letters.next().and_then(FlareCategory::from_letter),
            letters.next(),
        ) {
            (Some(c), None) => c,
            _ => return Err(bad("class_category")),
        };
        Ok(FlareEvent {
            source: FlareSource::from_db_str(&self.source).ok_or_else(|| bad("source"))?,
            external_id: self.external_id,
            start_time: time(self.start_time)?,
            peak_time: time(self.peak_time)?,
            end_time: self.end_time.map(&time).transpose()?,
            flare_class: self.flare_class,
            class_category,
            class_magnitude: self.class_magnitude,
            active_region: self.active_region,
            location: self.location,
            verified: self.verified,
        })
    }
}
