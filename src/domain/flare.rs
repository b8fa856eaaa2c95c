use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a flare record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlareSource {
    /// Found by [`crate::detect`] in the GOES long-band flux. flare-plus stored these with
    /// source `auto_detected` (see [`FlareSource::as_db_str`]).
    #[serde(rename = "detected")]
    Detected,
    /// NASA DONKI FLR catalogue.
    #[serde(rename = "nasa_donki")]
    Donki,
}

impl FlareSource {
    /// The value flare-plus wrote in `flare_events.source`; kept so the table matches
    /// flare-plus's (golden `flare_events_db.csv`).
    pub fn as_db_str(self) -> &'static str {
        match self {
            FlareSource::Detected => "auto_detected",
            FlareSource::Donki => "nasa_donki",
        }
    }

    pub fn from_db_str(s: &str) -> Option<Self> {
        match s {
            "auto_detected" | "detected" => Some(FlareSource::Detected),
            "nasa_donki" => Some(FlareSource::Donki),
            _ => None,
        }
    }
}

/// GOES flare class letter. flare-plus counts B, C, M and X; A is valid upstream and counts
/// only towards totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FlareCategory {
    A,
    B,
    C,
    M,
    X,
}

impl FlareCategory {
    pub fn from_letter(c: char) -> Option<Self> {
        match c {
            'A' => Some(FlareCategory::A),
            'B' => Some(FlareCategory::B),
            'C' => Some(FlareCategory::C),
            'M' => Some(FlareCategory::M),
            'X' => Some(FlareCategory::X),
            _ => None,
        }
    }

    pub fn letter(self) -> char {
        match self {
            FlareCategory::A => 'A',
            FlareCategory::B => 'B',
            FlareCategory::C => 'C',
            FlareCategory::M => 'M',
            FlareCategory::X => 'X',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlareCategory::A => "A",
            FlareCategory::B => "B",
            FlareCategory::C => "C",
            FlareCategory::M => "M",
            FlareCategory::X => "X",
        }
    }
}

/// One flare, in the shape of flare-plus's `flare_events` row (spec 3.1), from either source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlareEvent {
    pub source: FlareSource,
    /// DONKI's `flrID`; `None` for detected flares.
    pub external_id: Option<String>,
    pub start_time: DateTime<Utc>,
    pub peak_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// Class string: `C1.0` style for detected flares, DONKI's `classType` verbatim otherwise.
    pub flare_class: String,
    pub class_category: FlareCategory,
    pub class_magnitude: f64,
    pub active_region: Option<i32>,
    /// DONKI `sourceLocation` (flare-plus's main pipeline left it empty).
    pub location: Option<String>,
    pub verified: bool,
}

impl FlareEvent {
    /// Natural key (DESIGN.md): source + external id, or source + start time + class.
    pub fn natural_key(&self) -> String {
        match &self.external_id {
            Some(id) => format!("flare:{}:{}", self.source.as_db_str(), id),
            None => format!(
                "flare:{}:{}:{}",
                self.source.as_db_str(),
                self.start_time.format("%Y-%m-%dT%H:%M:%SZ"),
                self.flare_class
            ),
        }
    }
}
