//! One observation of any kind, as the stages pass it on: the records of the upstream feeds
//! and ingest's progress marks. The wire form (JSON envelope, subjects, message ids) is
//! [`crate::bus`]'s business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FlareEvent, RegionObservation, XrayObservation};

/// One observation as it travels on `flare.obs.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum Observation {
    #[serde(rename = "xrs")]
    Xray(XrayObservation),
    #[serde(rename = "region")]
    Region(RegionObservation),
    #[serde(rename = "flare")]
    Flare(FlareEvent),
    /// A watermark from ingest, in stream order with the records it covers.
    #[serde(rename = "progress")]
    Progress(ProgressMark),
}

/// "Everything of `source` up to `until` has been published." The detector's mark says every
/// detected flare with a peak at or before `until` is on the stream (the feature actors use it
/// to know when a tick is final); `end_of_input` closes a replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressMark {
    pub source: String,
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_of_input: bool,
}

impl ProgressMark {
    /// The detector's watermark source name.
    pub const DETECTOR: &'static str = "detector";
}

impl Observation {
    pub fn kind(&self) -> &'static str {
        match self {
            Observation::Xray(_) => "xrs",
            Observation::Region(_) => "region",
            Observation::Flare(_) => "flare",
            Observation::Progress(_) => "progress",
        }
    }

    /// The de-duplication key: re-publishing the same record is harmless.
    pub fn natural_key(&self) -> String {
        match self {
            Observation::Xray(x) => x.natural_key(),
            Observation::Region(r) => r.natural_key(),
            Observation::Flare(f) => f.natural_key(),
            Observation::Progress(p) => format!(
                "progress:{}:{}:{}",
                p.source,
                p.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                p.end_of_input
            ),
        }
    }
}
