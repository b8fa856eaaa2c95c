use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which SWPC series an X-ray sample came from. SWPC publishes a `primary` and a `secondary`
/// GOES satellite; which satellite is primary changes over the years, so the feed (not the
/// satellite number) is part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XrayFeed {
    Primary,
    Secondary,
}

impl XrayFeed {
    pub fn as_str(self) -> &'static str {
        match self {
            XrayFeed::Primary => "primary",
            XrayFeed::Secondary => "secondary",
        }
    }
}

impl std::str::FromStr for XrayFeed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(XrayFeed::Primary),
            "secondary" => Ok(XrayFeed::Secondary),
            other => Err(format!(
                "unknown X-ray feed {other:?} (expected primary or secondary)"
            )),
        }
    }
}

/// flare-plus's `data_quality` column: `good` when the long band (the one detection and most
/// features read) is present, `missing` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataQuality {
    Good,
    Missing,
}

impl DataQuality {
    pub fn as_str(self) -> &'static str {
        match self {
            DataQuality::Good => "good",
            DataQuality::Missing => "missing",
        }
    }
}

/// One minute of GOES X-ray flux: the two SWPC band records of one (feed, time) paired into one
/// observation (spec 2.2). A band that is absent or null upstream is `None` (stored as NULL,
/// never NaN). Negative and zero flux are kept as sent (the electron correction can exceed the
/// observed flux) and flagged by [`XrayObservation::nonpositive_short`] / `_long`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XrayObservation {
    pub feed: XrayFeed,
    pub time: DateTime<Utc>,
    /// GOES satellite number as SWPC sends it (e.g. 16); stored as data, not as key.
    pub satellite: Option<i32>,
    /// 0.05-0.4 nm band, W/m^2.
    pub flux_short: Option<f64>,
    /// 0.1-0.8 nm band, W/m^2 (the band flare classes are defined on).
    pub flux_long: Option<f64>,
    /// SWPC's `electron_contaminaton` flag of the short-band record.
    pub electron_contamination_short: Option<bool>,
    /// SWPC's `electron_contaminaton` flag of the long-band record.
    pub electron_contamination_long: Option<bool>,
}

impl XrayObservation {
    pub fn data_quality(&self) -> DataQuality {
        if self.flux_long.is_some() {
            DataQuality::Good
        } else {
            DataQuality::Missing
        }
    }

    /// True when the short band is present and not positive (kept, but suspicious).
    pub fn nonpositive_short(&self) -> bool {
        self.flux_short.is_some_and(|f| f <= 0.0)
    }

    /// True when the long band is present and not positive (kept, but suspicious).
    pub fn nonpositive_long(&self) -> bool {
        self.flux_long.is_some_and(|f| f <= 0.0)
    }

    /// Natural key: one observation per (feed, time). Used as the dedup id on the bus.
    pub fn natural_key(&self) -> String {
        format!(
            "xrs:{}:{}",
            self.feed.as_str(),
            self.time.format("%Y-%m-%dT%H:%M:%S%.fZ")
        )
    }
}
