//! SWPC `solar_regions.json` -> [`RegionObservation`], spec 2.3 (golden hint 8.2).
//!
//! Field mapping: `region` -> `region_number`, `spot_class` -> `mcintosh_class`,
//! `mag_class` -> `mount_wilson_class` (raw letter code such as `BG`, Q11 kept),
//! `number_spots` -> `num_sunspots`, `area`, `latitude`, `longitude`, and
//! `observed_date` -> `timestamp` (date-only = midnight UTC). Every other field is ignored,
//! as flare-plus never stored them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::RegionObservation;
use crate::sources::field::{self, present, reason};
use crate::sources::parse_error::{Parsed, PayloadError, RejectCode, RejectReason, Rejected};
use crate::sources::payload::for_each_element;

/// Longest McIntosh / Mount Wilson class string accepted. flare-plus's VARCHAR(10) aborted
/// the whole batch on a longer value (and could not hold `beta-gamma-delta`, Q11); we reject
/// only the offending record, and allow the longest word form.
pub const MAX_CLASS_CHARS: usize = 20;

/// Parses the payload; records keep payload order, and `source_order` is each record's index
/// in the payload (rejected elements count too), which is what made a row "last ingested"
/// for flare-plus's tie-break (golden README).
pub fn parse_regions(bytes: &[u8]) -> Result<Parsed<RegionObservation>, PayloadError> {
    let mut parsed = Parsed::new();
    for_each_element(bytes, |index, raw| match region(index, raw) {
        Ok(r) => parsed.records.push(r),
        Err(why) => parsed.rejected.push(Rejected {
            raw: raw.get().to_owned(),
            reason: why,
        }),
    })?;
    Ok(parsed)
}

#[derive(Deserialize)]
struct RegionRecord<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    observed_date: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    region: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    latitude: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    longitude: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    area: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    spot_class: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    mag_class: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    number_spots: Option<&'a RawValue>,
}

fn region(index: usize, raw: &RawValue) -> Result<RegionObservation, RejectReason> {
    if !raw.get().trim_start().starts_with('{') {
        return Err(reason(
            RejectCode::NotAnObject,
            "record is not a JSON object",
        ));
    }
    let rec: RegionRecord<'_> = serde_json::from_str(raw.get())
        .map_err(|e| reason(RejectCode::Malformed, e.to_string()))?;
    // Q38 fix: flare-plus stamped a record without observed_date with utcnow(), adding a new
    // row on every run; we reject it.
    let timestamp = field::required_time(rec.observed_date, "observed_date")?;
    // flare-plus dropped null regions silently (spec 2.3 step 4); we reject them visibly.
    let region_number = field::opt_i32(Some(field::required(rec.region, "region")?), "region")?
        .ok_or_else(|| reason(RejectCode::MissingField, "region is null"))?;
    let latitude = coordinate(rec.latitude, "latitude", 90.0)?;
    let longitude = coordinate(rec.longitude, "longitude", 180.0)?;
    // Q39 fix: a non-string class (NaN, a number) is treated as missing instead of failing.
    let mcintosh_class = class_string(rec.spot_class, "spot_class")?;
    let mount_wilson_class = class_string(rec.mag_class, "mag_class")?;
    Ok(RegionObservation {
        timestamp,
        region_number,
        latitude,
        longitude,
        mcintosh_class,
        mount_wilson_class,
        // flare-plus: int(float(x)), null when missing (spec 3.3 save_solar_regions).
        area: field::opt_i32(rec.area, "area")?,
        num_sunspots: field::opt_i32(rec.number_spots, "number_spots")?,
        source_order: u32::try_from(index).unwrap_or(u32::MAX),
    })
}

/// Heliographic degrees; beyond +-`limit` is an encoding error, not a position.
fn coordinate(
    value: Option<&RawValue>,
    name: &str,
    limit: f64,
) -> Result<Option<f64>, RejectReason> {
    let v = field::opt_f64(value, name)?;
    if let Some(deg) = v {
        if deg.abs() > limit {
            return Err(reason(
                RejectCode::OutOfRange,
                format!("{name} {deg} is outside +-{limit} degrees"),
            ));
        }
    }
    Ok(v)
}

fn class_string(value: Option<&RawValue>, name: &str) -> Result<Option<String>, RejectReason> {
    match field::lenient_string(value) {
        Some(s) => {
            field::check_len(&s, name, MAX_CLASS_CHARS)?;
            Ok(Some(s.into_owned()))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Spec 8.2 region mock.
    #[test]
    fn spec_8_2_region_mock() {
        let payload = br#"[{"region":12345,"latitude":15.0,"longitude":30.0,"location":"N15E30","area":120,
            "spot_class":"Dkc","mag_class":"beta-gamma","number_spots":5,"observed_date":"2025-10-30"}]"#;
        let parsed = parse_regions(payload).unwrap();
        assert!(parsed.rejected.is_empty());
        let r = &parsed.records[0];
        assert_eq!(
            *r,
            RegionObservation {
                timestamp: t("2025-10-30T00:00:00Z"),
                region_number: 12345,
                latitude: Some(15.0),
                longitude: Some(30.0),
                mcintosh_class: Some("Dkc".into()),
                mount_wilson_class: Some("beta-gamma".into()),
                area: Some(120),
                num_sunspots: Some(5),
                source_order: 0,
            }
        );
        assert_eq!(r.magnetic_type(), Some("beta-gamma"));
    }

    #[test]
    fn source_order_counts_every_element_and_offsets_convert() {
        let payload = br#"[{"region":null,"observed_date":"2024-05-30"},
            {"region":3743,"observed_date":"2024-05-30T06:00:00+02:00","area":580.0,"mag_class":"BG","spot_class":null},
            {"region":3745,"observed_date":"2024-05-30","mag_class":7,"number_spots":null}]"#;
        let parsed = parse_regions(payload).unwrap();
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.rejected[0].reason.code, RejectCode::MissingField);
        let got: Vec<_> = parsed
            .records
            .iter()
            .map(|r| {
                (
                    r.source_order,
                    r.timestamp,
                    r.area,
                    r.mount_wilson_class.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, t("2024-05-30T04:00:00Z"), Some(580), Some("BG".into())),
                (2, t("2024-05-30T00:00:00Z"), None, None),
            ]
        );
    }

    #[test]
    fn each_validation_has_its_code() {
        let cases = [
            (r#"{"region":1}"#, RejectCode::MissingField),
            (
                r#"{"region":1,"observed_date":null}"#,
                RejectCode::MissingField,
            ),
            (
                r#"{"observed_date":"2024-05-30"}"#,
                RejectCode::MissingField,
            ),
            (
                r#"{"region":1,"observed_date":"30/05/2024"}"#,
                RejectCode::BadTime,
            ),
            (
                r#"{"region":"abc","observed_date":"2024-05-30"}"#,
                RejectCode::WrongType,
            ),
            (
                r#"{"region":1.5,"observed_date":"2024-05-30"}"#,
                RejectCode::WrongType,
            ),
            (
                r#"{"region":1e12,"observed_date":"2024-05-30"}"#,
                RejectCode::OutOfRange,
            ),
            (
                r#"{"region":1,"observed_date":"2024-05-30","area":12.7}"#,
                RejectCode::WrongType,
            ),
            (
                r#"{"region":1,"observed_date":"2024-05-30","latitude":"NaN"}"#,
                RejectCode::NotFinite,
            ),
            (
                r#"{"region":1,"observed_date":"2024-05-30","longitude":400}"#,
                RejectCode::OutOfRange,
            ),
            (
                r#"{"region":1,"observed_date":"2024-05-30","spot_class":"ABCDEFGHIJKLMNOPQRSTU"}"#,
                RejectCode::TooLong,
            ),
            (
                r#"{"region":1,"region":2,"observed_date":"2024-05-30"}"#,
                RejectCode::Malformed,
            ),
            (r#""text""#, RejectCode::NotAnObject),
        ];
        for (record, code) in cases {
            let parsed = parse_regions(format!("[{record}]").as_bytes()).unwrap();
            assert!(parsed.records.is_empty(), "{record}");
            assert_eq!(parsed.rejected[0].reason.code, code, "{record}");
            assert_eq!(parsed.rejected[0].raw, record);
        }
    }
}
