//! SWPC X-ray JSON -> one [`XrayObservation`] per (feed, time), spec 2.2.
//!
//! Each array element is one band record (`energy` `0.05-0.4nm` = short, `0.1-0.8nm` = long)
//! or, in the alternate format, one record with both bands as `A_FLUX` / `B_FLUX`. Band
//! records are validated one by one; a rejected band record leaves the other band of the
//! same minute intact. The two bands are then paired by time (flare-plus's outer join).

use std::io::Read;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::{XrayFeed, XrayObservation};
use crate::sources::field::{self, present, reason, Json};
use crate::sources::parse_error::{Parsed, PayloadError, RejectCode, RejectReason, Rejected};
use crate::sources::payload::{for_each_element, for_each_element_reader, MAX_PAYLOAD_BYTES};

/// Largest accepted |flux| in W/m^2. The largest flare on record (2003, ~X28+) was ~3e-3; a
/// value above 1e-2 is a unit or encoding error. The feature engine's fixed-point accumulators
/// also assume |flux| <= 2^-6 (~0.0156).
pub const MAX_ABS_FLUX: f64 = 1e-2;

const ENERGY_SHORT: &str = "0.05-0.4nm";
const ENERGY_LONG: &str = "0.1-0.8nm";

/// Parses a whole payload held in memory (borrows from it; no per-element allocation beyond
/// the output). Output is sorted by time, one observation per time.
pub fn parse_xrays(bytes: &[u8], feed: XrayFeed) -> Result<Parsed<XrayObservation>, PayloadError> {
    let mut acc = BandAccumulator::default();
    for_each_element(bytes, |_, raw| acc.add(raw))?;
    Ok(acc.finish(feed))
}

/// Like [`parse_xrays`] but reads the payload from `reader` one element at a time, so the
/// payload text is never held in full (for large backfill files; pass a decompressing reader
/// for `.gz`). Fails with [`PayloadError::TooLarge`] past [`MAX_PAYLOAD_BYTES`].
pub fn parse_xrays_reader<R: Read>(
    reader: R,
    feed: XrayFeed,
) -> Result<Parsed<XrayObservation>, PayloadError> {
    parse_xrays_reader_limited(reader, feed, MAX_PAYLOAD_BYTES)
}

/// [`parse_xrays_reader`] with another size limit: local recorded files (a year of minute
/// data is ~180 MB of JSON) are trusted with more than an upstream response.
pub fn parse_xrays_reader_limited<R: Read>(
    reader: R,
    feed: XrayFeed,
    limit: usize,
) -> Result<Parsed<XrayObservation>, PayloadError> {
    let mut acc = BandAccumulator::default();
    for_each_element_reader(reader, limit, |_, raw| acc.add(raw))?;
    Ok(acc.finish(feed))
}

/// Fields flare-plus read; every other field (`observed_flux`, `electron_correction`, ...) is
/// ignored, as flare-plus dropped them.
#[derive(Deserialize)]
struct XrayRecord<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    time_tag: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    satellite: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    flux: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    energy: Option<&'a RawValue>,
    /// Upstream spelling (sic).
    #[serde(default, borrow, deserialize_with = "present")]
    electron_contaminaton: Option<&'a RawValue>,
    #[serde(rename = "A_FLUX", default, borrow, deserialize_with = "present")]
    a_flux: Option<&'a RawValue>,
    #[serde(rename = "B_FLUX", default, borrow, deserialize_with = "present")]
    b_flux: Option<&'a RawValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Short,
    Long,
}

/// One validated band record, before pairing.
#[derive(Debug, Clone, Copy)]
struct BandSample {
    time: DateTime<Utc>,
    band: Band,
    flux: Option<f64>,
    satellite: Option<i32>,
    contamination: Option<bool>,
}

#[derive(Default)]
struct BandAccumulator {
    samples: Vec<BandSample>,
    rejected: Vec<Rejected>,
}

impl BandAccumulator {
    fn add(&mut self, raw: &RawValue) {
        match band_samples(raw) {
            Ok(samples) => self.samples.extend(samples.into_iter().flatten()),
            Err(why) => self.rejected.push(Rejected {
                raw: raw.get().to_owned(),
                reason: why,
            }),
        }
    }

    /// Pairs bands by time. A stable sort keeps payload order within a time, so for a
    /// duplicated (time, band) the later record wins, as flare-plus's upsert did (spec 2.2).
    fn finish(mut self, feed: XrayFeed) -> Parsed<XrayObservation> {
        self.samples.sort_by_key(|s| s.time);
        let mut records: Vec<XrayObservation> = Vec::new();
        // Satellite of the latest short / long record at the current time.
        let (mut short_satellite, mut long_satellite) = (None, None);
        for s in &self.samples {
            let same_time = records.last().is_some_and(|o| o.time == s.time);
            if !same_time {
                (short_satellite, long_satellite) = (None, None);
                records.push(XrayObservation {
                    feed,
                    time: s.time,
                    satellite: None,
                    flux_short: None,
                    flux_long: None,
                    electron_contamination_short: None,
                    electron_contamination_long: None,
                });
            }
            let Some(obs) = records.last_mut() else {
                continue;
            };
            match s.band {
                Band::Short => {
                    obs.flux_short = s.flux;
                    obs.electron_contamination_short = s.contamination;
                    short_satellite = s.satellite;
                }
                Band::Long => {
                    obs.flux_long = s.flux;
                    obs.electron_contamination_long = s.contamination;
                    long_satellite = s.satellite;
                }
            }
            // flare-plus took the satellite from the short band only (spec 2.2); we take the
            // short band's when it has one, else the long band's (PARITY-ingest.md).
            obs.satellite = short_satellite.or(long_satellite);
        }
        Parsed {
            records,
            rejected: self.rejected,
        }
    }
}

/// Validates one array element into one or two band samples.
fn band_samples(raw: &RawValue) -> Result<[Option<BandSample>; 2], RejectReason> {
    if !raw.get().trim_start().starts_with('{') {
        return Err(reason(
            RejectCode::NotAnObject,
            "record is not a JSON object",
        ));
    }
    let rec: XrayRecord<'_> = serde_json::from_str(raw.get())
        .map_err(|e| reason(RejectCode::Malformed, e.to_string()))?;
    let time = field::required_time(rec.time_tag, "time_tag")?;
    let satellite = satellite(rec.satellite)?;
    if rec.energy.is_none() && (rec.a_flux.is_some() || rec.b_flux.is_some()) {
        // Alternate format (spec 2.2): A_FLUX = short band, B_FLUX = long band.
        let sample = |band, value, name| -> Result<Option<BandSample>, RejectReason> {
            Ok(Some(BandSample {
                time,
                band,
                flux: flux(value, name)?,
                satellite,
                contamination: None,
            }))
        };
        return Ok([
            sample(Band::Short, rec.a_flux, "A_FLUX")?,
            sample(Band::Long, rec.b_flux, "B_FLUX")?,
        ]);
    }
    let energy = field::required(rec.energy, "energy")?;
    let band = match field::inspect(energy) {
        Json::String(s) if s == ENERGY_SHORT => Band::Short,
        Json::String(s) if s == ENERGY_LONG => Band::Long,
        _ => {
            return Err(reason(
                RejectCode::UnknownBand,
                format!(
                    "energy {} is neither {ENERGY_SHORT:?} nor {ENERGY_LONG:?}",
                    field::excerpt(energy.get())
                ),
            ))
        }
    };
    let flux_raw = rec.flux.ok_or_else(|| {
        reason(
            RejectCode::MissingField,
            "flux is absent (null would be accepted)",
        )
    })?;
    Ok([
        Some(BandSample {
            time,
            band,
            flux: flux(Some(flux_raw), "flux")?,
            satellite,
            contamination: field::opt_bool(rec.electron_contaminaton, "electron_contaminaton")?,
        }),
        None,
    ])
}

/// A band's flux: null is a missing value (`None`, never NaN); zero and negative values are
/// kept (the domain type flags them); non-finite or |flux| > [`MAX_ABS_FLUX`] is rejected.
fn flux(value: Option<&RawValue>, name: &str) -> Result<Option<f64>, RejectReason> {
    let flux = field::opt_f64(value, name)?;
    if let Some(f) = flux {
        if f.abs() > MAX_ABS_FLUX {
            return Err(reason(
                RejectCode::OutOfRange,
                format!("{name} {f:e} W/m^2 exceeds the plausible limit {MAX_ABS_FLUX:e}"),
            ));
        }
    }
    Ok(flux)
}

/// SWPC sends an integer (`16`); flare-plus's mock sent `"GOES-16"`. Both give 16.
fn satellite(value: Option<&RawValue>) -> Result<Option<i32>, RejectReason> {
    let Some(raw) = value else { return Ok(None) };
    if let Json::String(s) = field::inspect(raw) {
        let upper = s.trim().to_ascii_uppercase();
        if let Some(number) = upper.strip_prefix("GOES-").or(upper.strip_prefix("GOES")) {
            if let Ok(n) = number.parse::<i32>() {
                return Ok(Some(n));
            }
        }
    }
    field::opt_i32(Some(raw), "satellite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn rec(time: &str, energy: &str, flux: &str) -> String {
        format!(
            r#"{{"time_tag":"{time}","satellite":16,"flux":{flux},"observed_flux":1.0,"electron_correction":0.0,"electron_contaminaton":false,"energy":"{energy}"}}"#
        )
    }

    fn parse(records: &[String]) -> Parsed<XrayObservation> {
        let payload = format!("[{}]", records.join(",\n"));
        let slice = parse_xrays(payload.as_bytes(), XrayFeed::Primary).unwrap();
        let reader = parse_xrays_reader(payload.as_bytes(), XrayFeed::Primary).unwrap();
        assert_eq!(slice, reader, "slice and reader parsers must agree");
        slice
    }

    /// Spec 8.2: the GOES mock (string satellite) gives one paired row, data quality good.
    #[test]
    fn spec_8_2_mock_pairs_into_one_row() {
        let payload = br#"[{"time_tag":"2024-01-01T00:00:00Z","energy":"0.05-0.4nm","flux":1.5e-6,"satellite":"GOES-16"},
                           {"time_tag":"2024-01-01T00:00:00Z","energy":"0.1-0.8nm","flux":3.2e-6,"satellite":"GOES-16"}]"#;
        let parsed = parse_xrays(payload, XrayFeed::Primary).unwrap();
        assert!(parsed.rejected.is_empty());
        assert_eq!(
            parsed.records,
            vec![XrayObservation {
                feed: XrayFeed::Primary,
                time: t("2024-01-01T00:00:00Z"),
                satellite: Some(16),
                flux_short: Some(1.5e-6),
                flux_long: Some(3.2e-6),
                electron_contamination_short: None,
                electron_contamination_long: None,
            }]
        );
        assert_eq!(parsed.records[0].data_quality().as_str(), "good");
    }

    #[test]
    fn pairs_sorts_and_keeps_missing_bands_as_none() {
        let parsed = parse(&[
            rec("2024-05-01T00:01:00Z", ENERGY_LONG, "2e-7"),
            rec("2024-05-01T00:00:00Z", ENERGY_SHORT, "1e-8"),
            rec("2024-05-01T00:00:00Z", ENERGY_LONG, "3e-7"),
            rec("2024-05-01T00:02:00Z", ENERGY_SHORT, "null"),
            rec("2024-05-01T00:02:00Z", ENERGY_LONG, "-4e-9"),
        ]);
        assert!(parsed.rejected.is_empty());
        let got: Vec<_> = parsed
            .records
            .iter()
            .map(|o| (o.time, o.flux_short, o.flux_long, o.satellite))
            .collect();
        assert_eq!(
            got,
            vec![
                (t("2024-05-01T00:00:00Z"), Some(1e-8), Some(3e-7), Some(16)),
                (t("2024-05-01T00:01:00Z"), None, Some(2e-7), Some(16)),
                (t("2024-05-01T00:02:00Z"), None, Some(-4e-9), Some(16)),
            ]
        );
        assert!(parsed.records[2].nonpositive_long());
        assert_eq!(parsed.records[0].electron_contamination_long, Some(false));
    }

    #[test]
    fn duplicate_time_and_band_last_wins() {
        let parsed = parse(&[
            rec("2024-05-01T00:00:00Z", ENERGY_LONG, "1e-7"),
            rec("2024-05-01T00:00:00Z", ENERGY_LONG, "2e-7"),
        ]);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].flux_long, Some(2e-7));
    }

    #[test]
    fn bad_band_record_is_rejected_and_other_band_still_pairs() {
        let bad = rec("2024-05-01T00:00:00Z", ENERGY_SHORT, "\"NaN\"");
        let parsed = parse(&[
            bad.clone(),
            rec("2024-05-01T00:00:00Z", ENERGY_LONG, "3e-7"),
        ]);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].flux_short, None);
        assert_eq!(parsed.records[0].flux_long, Some(3e-7));
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].raw, bad);
        assert_eq!(parsed.rejected[0].reason.code, RejectCode::NotFinite);
    }

    #[test]
    fn each_validation_has_its_code() {
        let cases = [
            (rec("2024-05-01T00:00:00Z", "1-8A", "1e-7"), RejectCode::UnknownBand),
            (rec("yesterday", ENERGY_LONG, "1e-7"), RejectCode::BadTime),
            (rec("2024-05-01T00:00:00Z", ENERGY_LONG, "\"high\""), RejectCode::WrongType),
            (rec("2024-05-01T00:00:00Z", ENERGY_LONG, "0.5"), RejectCode::OutOfRange),
            (rec("2024-05-01T00:00:00Z", ENERGY_LONG, "-0.5"), RejectCode::OutOfRange),
            (rec("2024-05-01T00:00:00Z", ENERGY_LONG, "1e999"), RejectCode::NotFinite),
            (r#"{"energy":"0.1-0.8nm","flux":1e-7}"#.into(), RejectCode::MissingField),
            (r#"{"time_tag":"2024-05-01T00:00:00Z","energy":"0.1-0.8nm"}"#.into(), RejectCode::MissingField),
            (r#"{"time_tag":"2024-05-01T00:00:00Z","flux":1e-7}"#.into(), RejectCode::MissingField),
            (r#"{"time_tag":"2024-05-01T00:00:00Z","energy":"0.1-0.8nm","flux":1e-7,"flux":2e-7}"#.into(), RejectCode::Malformed),
            (r#"{"time_tag":"2024-05-01T00:00:00Z","energy":"0.1-0.8nm","flux":1e-7,"satellite":{}}"#.into(), RejectCode::WrongType),
            (r#"{"time_tag":"2024-05-01T00:00:00Z","energy":"0.1-0.8nm","flux":1e-7,"electron_contaminaton":"no"}"#.into(), RejectCode::WrongType),
            ("[1,2]".into(), RejectCode::NotAnObject),
            ("null".into(), RejectCode::NotAnObject),
        ];
        for (record, code) in cases {
            let parsed = parse(std::slice::from_ref(&record));
            assert!(parsed.records.is_empty(), "{record}");
            assert_eq!(parsed.rejected.len(), 1, "{record}");
            assert_eq!(parsed.rejected[0].reason.code, code, "{record}");
        }
    }

    #[test]
    fn alternate_a_b_flux_format() {
        let parsed = parse(&[
            r#"{"time_tag":"2024-05-01T00:00:00Z","A_FLUX":1e-8,"B_FLUX":2e-7,"satellite":15}"#
                .into(),
        ]);
        assert_eq!(parsed.records.len(), 1);
        let o = &parsed.records[0];
        assert_eq!(
            (o.flux_short, o.flux_long, o.satellite),
            (Some(1e-8), Some(2e-7), Some(15))
        );
    }

    #[test]
    fn satellite_from_short_band_else_long() {
        let mut short = rec("2024-05-01T00:00:00Z", ENERGY_SHORT, "1e-8");
        short = short.replace("\"satellite\":16", "\"satellite\":null");
        let long = rec("2024-05-01T00:00:00Z", ENERGY_LONG, "2e-7").replace("16", "18");
        let parsed = parse(&[long.clone(), short]);
        assert_eq!(parsed.records[0].satellite, Some(18));
        let short17 = rec("2024-05-01T00:00:00Z", ENERGY_SHORT, "1e-8").replace("16", "17");
        let parsed = parse(&[short17, long]);
        assert_eq!(parsed.records[0].satellite, Some(17));
    }
}
