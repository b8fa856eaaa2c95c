//! The wire format of feature vectors on `flare.features.>`: JSON readable from any language,
//! columns in flare-plus's order, numbers as the shortest text that round-trips (so a reader
//! gets the exact f64), absent values (flare-plus left the column out, or NaN) as `null`.
//!
//! ```json
//! {"v":1,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final","profile":"flare-plus",
//!  "features":{"mcintosh_size":"B",...,"flux_short_mean":5.480319993055555e-9,...},
//!  "covariates":{"flux_long_mean_1h":1.8993227868852456e-7,...}}
//! ```

use actors::nats::OutboundMessage;
use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::{headers, subjects};
use crate::domain::SCHEMA_VERSION;
use crate::features::{covariate_columns, feature_columns, Cell};
use crate::pipeline::features::series::{SeriesId, Vector, VectorStatus};
use crate::profile::Profile;

/// Named cells, serialised as a JSON object in column order.
struct Named<'a> {
    names: &'a [String],
    cells: &'a [Cell],
}

impl Serialize for Named<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.cells.len()))?;
        for (name, cell) in self.names.iter().zip(self.cells) {
            match cell {
                Cell::Missing => map.serialize_entry(name, &())?,
                Cell::Int(i) => map.serialize_entry(name, i)?,
                Cell::Num(x) if x.is_finite() => map.serialize_entry(name, x)?,
                Cell::Num(_) => map.serialize_entry(name, &())?,
                Cell::Str(text) => map.serialize_entry(name, text)?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct VectorOut<'a> {
    v: u32,
    series: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<i32>,
    tick: DateTime<Utc>,
    status: VectorStatus,
    profile: &'static str,
    features: Named<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    covariates: Option<Named<'a>>,
}

/// A feature vector as a subscriber reads it back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VectorMessage {
    pub v: u32,
    pub series: String,
    #[serde(default)]
    pub region: Option<i32>,
    pub tick: DateTime<Utc>,
    pub status: VectorStatus,
    pub profile: String,
    /// Column -> value (number, string or null). Use [`cells`] with the column list for
    /// flare-plus's order.
    pub features: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub covariates: Option<serde_json::Map<String, serde_json::Value>>,
}

impl VectorMessage {
    pub fn decode(payload: &[u8]) -> Result<VectorMessage, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// The subject of a series.
pub fn subject(series: SeriesId) -> String {
    match series {
        SeriesId::Global => subjects::FEATURES_GLOBAL.to_string(),
        SeriesId::Region(n) => subjects::features_region(n),
    }
}

/// `Nats-Msg-Id` of a vector: series + tick + status. Re-publishing a tick (after a restart)
/// is dropped by the stream; a tick's provisional and final vectors are two messages.
pub fn msg_id(series: SeriesId, tick: DateTime<Utc>, status: VectorStatus) -> String {
    let series = match series {
        SeriesId::Global => "global".to_string(),
        SeriesId::Region(n) => format!("region.{n}"),
    };
    format!(
        "features:{series}:{}:{}",
        tick.format("%Y-%m-%dT%H:%M:%SZ"),
        status.as_str()
    )
}

/// The message for one vector.
pub fn to_message(vector: &Vector, profile: Profile) -> OutboundMessage {
    let (series, region) = match vector.series {
        SeriesId::Global => ("global", None),
        SeriesId::Region(n) => ("region", Some(n)),
    };
    let out = VectorOut {
        v: SCHEMA_VERSION,
        series,
        region,
        tick: vector.features.timestamp,
        status: vector.status,
        profile: profile.as_str(),
        features: Named {
            names: feature_columns(),
            cells: &vector.features.cells,
        },
        covariates: vector.covariates.as_ref().map(|c| Named {
            names: covariate_columns(),
            cells: &c.cells,
        }),
    };
    // Plain data with string keys: serialisation cannot fail.
    let payload = serde_json::to_vec(&out).unwrap_or_default();
    let mut h = HeaderMap::new();
    h.insert(
        headers::SCHEMA,
        format!("features.{series}/{SCHEMA_VERSION}").as_str(),
    );
    h.insert(headers::VECTOR_STATUS, vector.status.as_str());
    OutboundMessage {
        subject: subject(vector.series),
        headers: h,
        payload: payload.into(),
        msg_id: Some(msg_id(
            vector.series,
            vector.features.timestamp,
            vector.status,
        )),
    }
}

/// The cells of a decoded vector in the order of `columns` (e.g.
/// [`crate::features::feature_columns`]), back in engine form: numbers written without a
/// fraction come back as `Int`, `null` (or an absent column) as `Missing`.
pub fn cells(values: &serde_json::Map<String, serde_json::Value>, columns: &[String]) -> Vec<Cell> {
    columns
        .iter()
        .map(|name| match values.get(name) {
            None | Some(serde_json::Value::Null) => Cell::Missing,
            Some(v) => match v {
                serde_json::Value::String(s) => Cell::Str(s.clone()),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) if !n.is_f64() => Cell::Int(i),
                    _ => n.as_f64().map_or(Cell::Missing, Cell::Num),
                },
                other => Cell::Str(other.to_string()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{CovariateRow, FeatureRow};

    #[test]
    fn a_vector_round_trips_exactly() {
        let tick: DateTime<Utc> = "2024-05-21T00:00:00Z".parse().unwrap();
        let mut features: Vec<Cell> = feature_columns().iter().map(|_| Cell::Missing).collect();
        features[0] = Cell::Str("B".into());
        features[3] = Cell::Int(2);
        features[24] = Cell::Num(5.480319993055555e-09);
        features[25] = Cell::Num(0.1 + 0.2);
        features[26] = Cell::Num(f64::NAN);
        let covariates: Vec<Cell> = covariate_columns()
            .iter()
            .map(|_| Cell::Num(1e-300))
            .collect();
        let vector = Vector {
            series: SeriesId::Global,
            status: VectorStatus::Final,
            features: FeatureRow {
                timestamp: tick,
                cells: features.clone(),
            },
            covariates: Some(CovariateRow {
                timestamp: tick,
                cells: covariates.clone(),
            }),
        };
        let msg = to_message(&vector, Profile::FlarePlus);
        assert_eq!(msg.subject, "flare.features.global");
        assert_eq!(
            msg.msg_id.as_deref(),
            Some("features:global:2024-05-21T00:00:00Z:final")
        );
        let text = String::from_utf8(msg.payload.to_vec()).unwrap();
        assert!(
            text.starts_with(
                r#"{"v":1,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final""#
            ),
            "{text}"
        );
        let back = VectorMessage::decode(&msg.payload).unwrap();
        let mut expected = features;
        expected[26] = Cell::Missing; // NaN travels as null
        assert_eq!(cells(&back.features, feature_columns()), expected);
        assert_eq!(
            cells(back.covariates.as_ref().unwrap(), covariate_columns()),
            covariates
        );
        let region = Vector {
            series: SeriesId::Region(3743),
            covariates: None,
            ..vector
        };
        let msg = to_message(&region, Profile::Improved);
        assert_eq!(msg.subject, "flare.features.region.3743");
        let back = VectorMessage::decode(&msg.payload).unwrap();
        assert_eq!(
            (back.series.as_str(), back.region, back.profile.as_str()),
            ("region", Some(3743), "improved")
        );
    }
}
