//! The wire format of feature vectors on `flare.features.>`: JSON readable from any language,
//! columns in flare-plus's order, numbers as the shortest text that round-trips (so a reader
//! gets the exact f64), absent values (flare-plus left the column out, or NaN) as `null`.
//!
//! Two layouts (`features.vector_format`). `columns` (the default, version 2) carries the
//! values as arrays in the order of [`feature_columns`] and [`covariate_columns`] (listed in
//! docs/VECTORS.md, printed by `flare-plus columns`): half the bytes of `named`, and the
//! order a model's input takes anyway.
//!
//! ```json
//! {"v":2,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final","profile":"flare-plus",
//!  "features":["B",...,5.480319993055555e-9,...],"covariates":[1.8993227868852456e-7,...]}
//! ```
//!
//! `named` (version 1) repeats every column name in every vector:
//!
//! ```json
//! {"v":1,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final","profile":"flare-plus",
//!  "features":{"mcintosh_size":"B",...,"flux_short_mean":5.480319993055555e-9,...},
//!  "covariates":{"flux_long_mean_1h":1.8993227868852456e-7,...}}
//! ```

use actors::nats::OutboundMessage;
use async_nats::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};
use std::sync::OnceLock;

use super::{headers, subjects};
use crate::domain::SCHEMA_VERSION;
use crate::features::series::{SeriesId, Vector, VectorStatus};
use crate::features::{covariate_columns, feature_columns, Cell};
use crate::profile::Profile;

/// How vectors are laid out on the wire (`features.vector_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorFormat {
    /// Values as arrays in column order (version 2).
    #[default]
    Columns,
    /// Values as objects keyed by column name (version 1).
    Named,
}

impl VectorFormat {
    /// The `v` field (and the schema header's version) of this layout.
    pub fn version(self) -> u32 {
        match self {
            VectorFormat::Named => SCHEMA_VERSION,
            VectorFormat::Columns => 2,
        }
    }
}

/// `"name":` of every column, JSON-escaped once: a vector's keys are the same 148 names every
/// time, and escaping them per message was a tenth of the feature worker's CPU.
struct Keys(Vec<Vec<u8>>);

impl Keys {
    fn of(names: &[String]) -> Keys {
        Keys(
            names
                .iter()
                .map(|name| {
                    // A string always serialises.
                    let mut key = serde_json::to_vec(name).unwrap_or_default();
                    key.push(b':');
                    key
                })
                .collect(),
        )
    }

    fn features() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys::of(feature_columns()))
    }

    fn covariates() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys::of(covariate_columns()))
    }
}

/// Writes `{"name":value,...}` in column order, as serde_json writes a map of the same
/// entries: numbers through its formatter (shortest round-trip text), non-finite as `null`.
fn write_named(out: &mut Vec<u8>, keys: &Keys, cells: &[Cell]) {
    out.push(b'{');
    for (i, (key, cell)) in keys.0.iter().zip(cells).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        write_cell(out, cell);
    }
    out.push(b'}');
}

/// Writes `[value,...]`: the cells as serde_json writes a sequence of them.
fn write_columns(out: &mut Vec<u8>, cells: &[Cell]) {
    out.push(b'[');
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_cell(out, cell);
    }
    out.push(b']');
}

fn write_cell(out: &mut Vec<u8>, cell: &Cell) {
    let mut numbers = CompactFormatter;
    // Writing into a Vec cannot fail.
    let _ = match cell {
        Cell::Int(v) => numbers.write_i64(out, *v),
        Cell::Num(x) if x.is_finite() => numbers.write_f64(out, *x),
        Cell::Missing | Cell::Num(_) => numbers.write_null(out),
        Cell::Str(text) => serde_json::to_writer(&mut *out, text).map_err(std::io::Error::other),
    };
}

/// Writes `,"name":` then `value` as JSON.
fn write_field<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.push(b',');
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The JSON of one vector (the layouts in the module docs). Equal byte for byte to
/// serde_json serialising the fields in this order (a test keeps that oracle).
fn encode(vector: &Vector, profile: Profile, format: VectorFormat) -> Vec<u8> {
    let cells =
        vector.features.cells.len() + vector.covariates.as_ref().map_or(0, |c| c.cells.len());
    let per_cell = match format {
        VectorFormat::Named => 40,
        VectorFormat::Columns => 20,
    };
    let mut out = Vec::with_capacity(256 + per_cell * cells);
    out.extend_from_slice(b"{\"v\":");
    let _ = serde_json::to_writer(&mut out, &format.version());
    match vector.series {
        SeriesId::Global => write_field(&mut out, "series", "global"),
        SeriesId::Region(n) => {
            write_field(&mut out, "series", "region");
            write_field(&mut out, "region", &n);
        }
    }
    write_field(&mut out, "tick", &vector.features.timestamp);
    write_field(&mut out, "status", &vector.status);
    write_field(&mut out, "profile", profile.as_str());
    out.extend_from_slice(b",\"features\":");
    match format {
        VectorFormat::Named => write_named(&mut out, Keys::features(), &vector.features.cells),
        VectorFormat::Columns => write_columns(&mut out, &vector.features.cells),
    }
    if let Some(covariates) = &vector.covariates {
        out.extend_from_slice(b",\"covariates\":");
        match format {
            VectorFormat::Named => write_named(&mut out, Keys::covariates(), &covariates.cells),
            VectorFormat::Columns => write_columns(&mut out, &covariates.cells),
        }
    }
    out.push(b'}');
    out
}

/// A feature vector as a subscriber reads it back (either layout).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VectorMessage {
    pub v: u32,
    pub series: String,
    #[serde(default)]
    pub region: Option<i32>,
    pub tick: DateTime<Utc>,
    pub status: VectorStatus,
    pub profile: String,
    /// The 83 features: see [`VectorMessage::feature_cells`] and [`VectorMessage::feature`].
    pub features: Values,
    #[serde(default)]
    pub covariates: Option<Values>,
}

/// A vector's values: in column order (`columns`) or by column name (`named`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Values {
    Columns(Vec<serde_json::Value>),
    Named(serde_json::Map<String, serde_json::Value>),
}

impl Values {
    /// The value of column `name` of `columns`, if present.
    pub fn get<'a>(&'a self, name: &str, columns: &[String]) -> Option<&'a serde_json::Value> {
        match self {
            Values::Named(map) => map.get(name),
            Values::Columns(values) => values.get(columns.iter().position(|c| c == name)?),
        }
    }

    /// The cells in the order of `columns`, back in engine form.
    pub fn cells(&self, columns: &[String]) -> Vec<Cell> {
        match self {
            Values::Named(map) => cells(map, columns),
            Values::Columns(values) => (0..columns.len())
                .map(|i| values.get(i).map_or(Cell::Missing, cell))
                .collect(),
        }
    }
}

impl VectorMessage {
    pub fn decode(payload: &[u8]) -> Result<VectorMessage, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    /// The features in flare-plus's order ([`feature_columns`]).
    pub fn feature_cells(&self) -> Vec<Cell> {
        self.features.cells(feature_columns())
    }

    /// The covariates in order ([`covariate_columns`]); global vectors only.
    pub fn covariate_cells(&self) -> Option<Vec<Cell>> {
        Some(self.covariates.as_ref()?.cells(covariate_columns()))
    }

    /// One feature by name.
    pub fn feature(&self, name: &str) -> Option<&serde_json::Value> {
        self.features.get(name, feature_columns())
    }
}

/// The column names of both arrays, as JSON: what a subscriber zips a vector's values with.
/// Region vectors carry `features` only.
pub fn columns_json() -> String {
    serde_json::json!({
        "features": feature_columns(),
        "covariates": covariate_columns(),
    })
    .to_string()
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
        tick.to_rfc3339_opts(SecondsFormat::Secs, true),
        status.as_str()
    )
}

/// The message for one vector.
pub fn to_message(vector: &Vector, profile: Profile, format: VectorFormat) -> OutboundMessage {
    let schema = match (vector.series, format) {
        (SeriesId::Global, VectorFormat::Columns) => "features.global/2",
        (SeriesId::Region(_), VectorFormat::Columns) => "features.region/2",
        (SeriesId::Global, VectorFormat::Named) => "features.global/1",
        (SeriesId::Region(_), VectorFormat::Named) => "features.region/1",
    };
    let payload = encode(vector, profile, format);
    let mut h = HeaderMap::new();
    h.insert(headers::SCHEMA, schema);
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
        .map(|name| values.get(name).map_or(Cell::Missing, cell))
        .collect()
}

/// One JSON value back in engine form.
fn cell(value: &serde_json::Value) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Missing,
        serde_json::Value::String(s) => Cell::Str(s.clone()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Cell::Int(i),
            _ => n.as_f64().map_or(Cell::Missing, Cell::Num),
        },
        other => Cell::Str(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{CovariateRow, FeatureRow};
    use proptest::prelude::*;
    use serde::ser::{SerializeMap, Serializer};

    /// The oracle: the message as serde_json writes it from plain serde types.
    mod oracle {
        use super::*;

        pub struct Named<'a> {
            pub names: &'a [String],
            pub cells: &'a [Cell],
        }

        impl Serialize for Named<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.cells.len()))?;
                for (name, cell) in self.names.iter().zip(self.cells) {
                    match cell {
                        Cell::Missing => map.serialize_entry(name, &())?,
                        Cell::Int(i) => map.serialize_entry(name, i)?,
                        Cell::Num(x) => map.serialize_entry(name, x)?,
                        Cell::Str(text) => map.serialize_entry(name, text)?,
                    }
                }
                map.end()
            }
        }

        /// Cells as a JSON array (non-finite numbers are null, as serde_json writes them).
        pub struct Columns<'a>(pub &'a [Cell]);

        impl Serialize for Columns<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for cell in self.0 {
                    match cell {
                        Cell::Missing => seq.serialize_element(&())?,
                        Cell::Int(i) => seq.serialize_element(i)?,
                        Cell::Num(x) => seq.serialize_element(x)?,
                        Cell::Str(text) => seq.serialize_element(text)?,
                    }
                }
                seq.end()
            }
        }

        #[derive(Serialize)]
        pub struct VectorOut<T> {
            pub v: u32,
            pub series: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub region: Option<i32>,
            pub tick: DateTime<Utc>,
            pub status: VectorStatus,
            pub profile: &'static str,
            pub features: T,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub covariates: Option<T>,
        }

        pub fn encode(vector: &Vector, profile: Profile, format: VectorFormat) -> Vec<u8> {
            let (series, region) = match vector.series {
                SeriesId::Global => ("global", None),
                SeriesId::Region(n) => ("region", Some(n)),
            };
            fn out<T>(
                vector: &Vector,
                head: (u32, &'static str, Option<i32>, &'static str),
                features: T,
                covariates: Option<T>,
            ) -> VectorOut<T> {
                VectorOut {
                    v: head.0,
                    series: head.1,
                    region: head.2,
                    tick: vector.features.timestamp,
                    status: vector.status,
                    profile: head.3,
                    features,
                    covariates,
                }
            }
            let head = (format.version(), series, region, profile.as_str());
            match format {
                VectorFormat::Named => serde_json::to_vec(&out(
                    vector,
                    head,
                    Named {
                        names: feature_columns(),
                        cells: &vector.features.cells,
                    },
                    vector.covariates.as_ref().map(|c| Named {
                        names: covariate_columns(),
                        cells: &c.cells,
                    }),
                )),
                VectorFormat::Columns => serde_json::to_vec(&out(
                    vector,
                    head,
                    Columns(&vector.features.cells),
                    vector.covariates.as_ref().map(|c| Columns(&c.cells)),
                )),
            }
            .unwrap()
        }
    }

    /// Equal cell by cell, NaN equal to NaN.
    fn same(a: &[Cell], b: &[Cell]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|pair| match pair {
                (Cell::Num(x), Cell::Num(y)) => x.to_bits() == y.to_bits(),
                (x, y) => x == y,
            })
    }

    fn any_cell() -> impl Strategy<Value = Cell> {
        prop_oneof![
            Just(Cell::Missing),
            any::<i64>().prop_map(Cell::Int),
            any::<f64>().prop_map(Cell::Num),
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0),
                Just(5e-324),
                Just(1e-9)
            ]
            .prop_map(Cell::Num),
            ".{0,12}".prop_map(Cell::Str),
            Just(Cell::Str("quote \" back\\ slash \u{1} ctl \u{7f} é".into())),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_encoder_writes_what_serde_json_writes(
            features in proptest::collection::vec(any_cell(), feature_columns().len()),
            covariates in proptest::option::of(
                proptest::collection::vec(any_cell(), covariate_columns().len())),
            region in proptest::option::of(any::<i32>()),
            seconds in 0i64..4_000_000_000,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            final_ in any::<bool>(),
            improved in any::<bool>(),
        ) {
            let tick = DateTime::from_timestamp(seconds, nanos).unwrap();
            let vector = Vector {
                series: region.map_or(SeriesId::Global, SeriesId::Region),
                status: if final_ { VectorStatus::Final } else { VectorStatus::Provisional },
                features: FeatureRow { timestamp: tick, cells: features },
                covariates: covariates.map(|cells| CovariateRow { timestamp: tick, cells }),
            };
            let profile = if improved { Profile::Improved } else { Profile::FlarePlus };
            for format in [VectorFormat::Named, VectorFormat::Columns] {
                let fast = encode(&vector, profile, format);
                let oracle = oracle::encode(&vector, profile, format);
                prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(oracle).unwrap());
            }
            // Both layouts read back to the same cells.
            let named = VectorMessage::decode(&encode(&vector, profile, VectorFormat::Named)).unwrap();
            let columns = VectorMessage::decode(&encode(&vector, profile, VectorFormat::Columns)).unwrap();
            prop_assert_eq!(columns.v, 2);
            prop_assert_eq!(named.v, 1);
            prop_assert!(same(&named.feature_cells(), &columns.feature_cells()));
            prop_assert_eq!(named.covariate_cells().is_some(), columns.covariate_cells().is_some());
            if let (Some(a), Some(b)) = (named.covariate_cells(), columns.covariate_cells()) {
                prop_assert!(same(&a, &b));
            }
        }

        #[test]
        fn msg_ids_keep_their_format(seconds in 0i64..253_402_300_799) {
            let tick = DateTime::from_timestamp(seconds, 0).unwrap();
            let id = msg_id(SeriesId::Region(7), tick, VectorStatus::Final);
            prop_assert_eq!(
                id,
                format!("features:region.7:{}:final", tick.format("%Y-%m-%dT%H:%M:%SZ"))
            );
        }
    }

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
        let mut expected = features;
        expected[26] = Cell::Missing; // NaN travels as null
        for (format, start) in [
            (
                VectorFormat::Named,
                r#"{"v":1,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final","profile":"flare-plus","features":{"#,
            ),
            (
                VectorFormat::Columns,
                r#"{"v":2,"series":"global","tick":"2024-05-21T00:00:00Z","status":"final","profile":"flare-plus","features":["B",null,null,2,"#,
            ),
        ] {
            let msg = to_message(&vector, Profile::FlarePlus, format);
            assert_eq!(msg.subject, "flare.features.global");
            assert_eq!(
                msg.msg_id.as_deref(),
                Some("features:global:2024-05-21T00:00:00Z:final")
            );
            let schema = format!("features.global/{}", format.version());
            assert_eq!(
                msg.headers.get(headers::SCHEMA).map(|v| v.as_str()),
                Some(schema.as_str())
            );
            let text = String::from_utf8(msg.payload.to_vec()).unwrap();
            assert!(text.starts_with(start), "{text}");
            let back = VectorMessage::decode(&msg.payload).unwrap();
            assert_eq!(back.feature_cells(), expected);
            assert_eq!(back.covariate_cells(), Some(covariates.clone()));
            assert_eq!(
                back.feature(&feature_columns()[24]),
                Some(&serde_json::json!(5.480319993055555e-09))
            );
            assert_eq!(back.feature("no_such_column"), None);
        }
        let columns = to_message(&vector, Profile::FlarePlus, VectorFormat::Columns);
        let named = to_message(&vector, Profile::FlarePlus, VectorFormat::Named);
        assert!(
            columns.payload.len() * 2 < named.payload.len(),
            "columns: {} B, named: {} B",
            columns.payload.len(),
            named.payload.len()
        );
        let region = Vector {
            series: SeriesId::Region(3743),
            covariates: None,
            ..vector
        };
        let msg = to_message(&region, Profile::Improved, VectorFormat::default());
        assert_eq!(msg.subject, "flare.features.region.3743");
        let back = VectorMessage::decode(&msg.payload).unwrap();
        assert_eq!(
            (back.series.as_str(), back.region, back.profile.as_str()),
            ("region", Some(3743), "improved")
        );
    }
}
