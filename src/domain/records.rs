//! Records of one kind, as an upstream payload holds them: the shape a parser returns, a
//! replay lane holds and an ingest actor publishes.

use chrono::{DateTime, Utc};

use super::{FlareEvent, Observation, RegionObservation, XrayFeed, XrayObservation};

/// Records of one kind, in payload order.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    Xrays(Vec<XrayObservation>),
    Regions(Vec<RegionObservation>),
    Flares(Vec<FlareEvent>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Xrays(v) => v.len(),
            Records::Regions(v) => v.len(),
            Records::Flares(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No records, of the same kind.
    pub fn empty_like(&self) -> Records {
        match self {
            Records::Xrays(_) => Records::Xrays(Vec::new()),
            Records::Regions(_) => Records::Regions(Vec::new()),
            Records::Flares(_) => Records::Flares(Vec::new()),
        }
    }

    /// Records `start..end`, of the same kind.
    pub fn slice(&self, start: usize, end: usize) -> Records {
        match self {
            Records::Xrays(v) => Records::Xrays(v[start..end].to_vec()),
            Records::Regions(v) => Records::Regions(v[start..end].to_vec()),
            Records::Flares(v) => Records::Flares(v[start..end].to_vec()),
        }
    }

    /// Appends `other` if it is of the same kind; otherwise gives it back.
    pub fn append(&mut self, other: Records) -> Result<(), Records> {
        match (self, other) {
            (Records::Xrays(a), Records::Xrays(b)) => a.extend(b),
            (Records::Regions(a), Records::Regions(b)) => a.extend(b),
            (Records::Flares(a), Records::Flares(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// The newest data time among the records (X-ray: of `feed` only; flares: start time).
    pub fn newest(&self, feed: XrayFeed) -> Option<DateTime<Utc>> {
        match self {
            Records::Xrays(v) => v.iter().filter(|o| o.feed == feed).map(|o| o.time).max(),
            Records::Regions(v) => v.iter().map(|r| r.timestamp).max(),
            Records::Flares(v) => v.iter().map(|f| f.start_time).max(),
        }
    }

    /// The records as observations, in order.
    pub fn into_observations(self) -> Vec<Observation> {
        match self {
            Records::Xrays(v) => v.into_iter().map(Observation::Xray).collect(),
            Records::Regions(v) => v.into_iter().map(Observation::Region).collect(),
            Records::Flares(v) => v.into_iter().map(Observation::Flare).collect(),
        }
    }
}
